// What the pool itself costs: acquire + release with no query, in ns per
// cycle, from 1 and 2 threads with 1, 16 and 256 coroutines over 16
// connections. "held across a yield": each coroutine keeps its connection
// over one trip through the executor (a post), so with 256 coroutines most
// acquires wait and are handed a returned connection; the cost of that post
// alone is shown for comparison. The connections are to
// benchmarks/loopback_server.hpp, so no server work is timed.
//
//   pool_overhead [CYCLES]       default 2,000,000 per configuration
//   pool_overhead cycle CYCLES   only 1 thread, 1 coroutine, printing nothing:
//                                for instruction counts under callgrind
#include <pgcoro.hpp>

#include "loopback_server.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string_view>
#include <thread>
#include <vector>

namespace asio = boost::asio;

namespace {

asio::awaitable<void> cycle(pgcoro::pool& pool, long cycles, bool hold, std::atomic<int>& running) {
    for (long k = 0; k < cycles; ++k) {
        auto conn = co_await pool.acquire();
        if (hold) co_await asio::post(co_await asio::this_coro::executor, asio::use_awaitable);
        conn.release();
    }
    --running;
}

asio::awaitable<void> yield_only(long cycles, std::atomic<int>& running) {
    for (long k = 0; k < cycles; ++k) co_await asio::post(co_await asio::this_coro::executor, asio::use_awaitable);
    --running;
}

asio::awaitable<void> conclude(pgcoro::pool& pool, std::atomic<int>& running) {
    asio::steady_timer t(co_await asio::this_coro::executor);
    while (running > 0) {
        t.expires_after(std::chrono::milliseconds(1));
        co_await t.async_wait(asio::use_awaitable);
    }
    co_await pool.close();
}

// ns per acquire + release.
double measure(const std::string& conninfo, int threads, int coroutines, long cycles, bool hold, bool pool_used = true) {
    asio::io_context io(threads);
    pgcoro::pool pool(io.get_executor(), conninfo,
                      {.max_size = 16, .min_idle = 16, .max_connecting = 16, .health_check_after = std::chrono::hours(1)});
    // Open all sixteen before timing.
    while (pool.stats().idle < 16) io.run_for(std::chrono::milliseconds(5));
    std::atomic<int> running{coroutines};
    const long each = cycles / coroutines;
    for (int c = 0; c < coroutines; ++c) {
        auto work = pool_used ? cycle(pool, each, hold, running) : yield_only(each, running);
        if (threads == 1) asio::co_spawn(io, std::move(work), asio::detached);
        else asio::co_spawn(asio::make_strand(io), std::move(work), asio::detached);
    }
    asio::co_spawn(io, conclude(pool, running), asio::detached);
    const auto t0 = std::chrono::steady_clock::now();
    std::vector<std::thread> extra;
    for (int t = 1; t < threads; ++t) extra.emplace_back([&io] { io.run(); });
    io.run();
    for (auto& t : extra) t.join();
    const double ns = std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t0).count();
    if (pool_used && pool.stats().acquires != static_cast<std::uint64_t>(each * coroutines)) {
        std::fprintf(stderr, "pool_overhead: lost acquires\n");
        std::exit(1);
    }
    return ns / static_cast<double>(each * coroutines);
}

}  // namespace

int main(int argc, char** argv) {
    bench::background_loopback_server server;
    const auto ci = server.conninfo();
    if (argc > 2 && std::string_view(argv[1]) == "cycle") {
        measure(ci, 1, 1, std::atol(argv[2]), false);
        return 0;
    }
    const long cycles = argc > 1 ? std::atol(argv[1]) : 2'000'000;
    std::printf("| threads | coroutines | acquire + release, ns | held across a yield, ns | the yield alone, ns |\n"
                "|---:|---:|---:|---:|---:|\n");
    for (int threads : {1, 2})
        for (int coroutines : {1, 16, 256})
            std::printf("| %d | %d | %.0f | %.0f | %.0f |\n", threads, coroutines,
                        measure(ci, threads, coroutines, cycles, false), measure(ci, threads, coroutines, cycles, true),
                        measure(ci, threads, coroutines, cycles, true, false));
}
