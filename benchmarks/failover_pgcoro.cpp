// benchmarks/failover_pgcoro CONNINFO CONTROL: a pgcoro pool of 8 writers
// through a failover. CONTROL is a command run with "stop 0" and then
// "promote 1" (benchmarks/failover passes scripts/test-server set ... NAME).
// The pool keeps its default back-off (100 ms doubling to 10 s). Prints one
// JSON line: milliseconds from the promotion to the first write that
// succeeded, connect attempts (succeeded and failed) and the io thread's CPU
// time from the crash to that write.
#include <pgcoro.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <sys/resource.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

namespace asio = boost::asio;
using clock_type = std::chrono::steady_clock;

namespace {

double thread_cpu_ms() {
    rusage u{};
    getrusage(RUSAGE_THREAD, &u);
    return (u.ru_utime.tv_sec + u.ru_stime.tv_sec) * 1e3 + (u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e3;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 3) {
        std::fprintf(stderr, "usage: failover_pgcoro CONNINFO CONTROL\n");
        return 2;
    }
    const std::string conninfo = argv[1], control = argv[2];
    asio::io_context io(1);
    pgcoro::pool pool(io.get_executor(), pgcoro::config::parse(conninfo + " target_session_attrs=read-write"),
                      {.max_size = 8, .acquire_timeout = std::chrono::seconds(60)});

    std::atomic<bool> crashed{false}, promoted_flag{false};
    clock_type::time_point promoted{}, first_write{};
    double cpu_at_crash = 0, cpu_at_write = 0;
    std::uint64_t attempts_at_crash = 0, attempts_at_write = 0;
    bool done = false;
    auto attempts = [&] {
        const auto s = pool.stats();
        return s.connects + s.connect_failures;
    };

    std::thread conductor([&] {
        std::this_thread::sleep_for(std::chrono::seconds(1));
        asio::post(io, [&] {
            cpu_at_crash = thread_cpu_ms();
            attempts_at_crash = attempts();
        });
        crashed = true;
        if (std::system((control + " stop 0").c_str()) != 0) std::abort();
        std::this_thread::sleep_for(std::chrono::seconds(1));
        if (std::system((control + " promote 1").c_str()) != 0) std::abort();
        asio::post(io, [&] { promoted = clock_type::now(); });
        promoted_flag = true;
    });

    int k = 0;
    for (int w = 0; w < 8; ++w) {
        asio::co_spawn(io, [&]() -> asio::awaitable<void> {
            while (!done) {
                try {
                    auto conn = co_await pool.acquire();
                    co_await conn->execute("INSERT INTO writes VALUES ($1)", ++k);
                    if (promoted != clock_type::time_point{} && !done) {
                        first_write = clock_type::now();
                        cpu_at_write = thread_cpu_ms();
                        attempts_at_write = attempts();
                        done = true;
                    }
                } catch (const std::exception&) {
                }
            }
        }, asio::detached);
    }
    asio::co_spawn(io, [&]() -> asio::awaitable<void> {
        asio::steady_timer t(io);
        while (!done) {
            t.expires_after(std::chrono::milliseconds(10));
            co_await t.async_wait(asio::use_awaitable);
        }
        co_await pool.close(std::chrono::seconds(5));
    }, asio::detached);
    io.run();
    conductor.join();
    std::printf("{\"client\":\"pgcoro pool (default back-off)\",\"promotion_to_first_write_ms\":%.0f,"
                "\"connect_attempts\":%llu,\"client_cpu_ms\":%.1f}\n",
                std::chrono::duration<double, std::milli>(first_write - promoted).count(),
                static_cast<unsigned long long>(attempts_at_write - attempts_at_crash), cpu_at_write - cpu_at_crash);
}
