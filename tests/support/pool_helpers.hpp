// What the pool tests share: a role to pool, an admin connection, running
// many coroutines at once, and taking the server away for a while.
#pragma once

#include "test_server.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <cstdlib>
#include <exception>
#include <stdexcept>
#include <string>

#include <time.h>

namespace test {

// SCRAM over plain TCP, tagged so tests can find the pool's backends.
inline pgcoro::config pool_test_config(const std::string& application_name = "pgcoro_pool_test") {
    return config_of(tcp_conninfo("user=pgcoro_scram password=scram_pw sslmode=disable application_name=" +
                                  application_name));
}

// A superuser connection (trust), for pg_terminate_backend and NOTIFY.
inline asio::awaitable<pgcoro::connection> admin() {
    co_return co_await pgcoro::connection::connect(config_of(tcp_conninfo("user=pgcoro_admin sslmode=disable")));
}

// Spawns `n` coroutines on the current executor and waits for all of them.
template <class Body>
asio::awaitable<void> run_concurrently(int n, Body body) {
    auto ex = co_await asio::this_coro::executor;
    int remaining = n;
    std::exception_ptr first_failure;
    asio::steady_timer all_done(ex, std::chrono::steady_clock::time_point::max());
    for (int i = 0; i < n; ++i) {
        asio::co_spawn(ex, body(i), [&](std::exception_ptr e) {
            if (e && !first_failure) first_failure = e;
            if (--remaining == 0) all_done.cancel();
        });
    }
    boost::system::error_code ec;
    co_await all_done.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    if (first_failure) std::rethrow_exception(first_failure);
}

// CPU time this process has used, in seconds: a hot loop shows here.
inline double process_cpu_seconds() {
    timespec ts{};
    ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

// Polls `done` every 20 ms for up to `limit`; returns whether it came true.
template <class Predicate>
asio::awaitable<bool> eventually(Predicate done, std::chrono::milliseconds limit) {
    const auto until = std::chrono::steady_clock::now() + limit;
    while (!done()) {
        if (std::chrono::steady_clock::now() >= until) co_return false;
        co_await sleep_for(std::chrono::milliseconds(20));
    }
    co_return true;
}

inline asio::awaitable<std::int32_t> backend_pid(pgcoro::pooled_connection& conn) {
    auto r = co_await conn->query("SELECT pg_backend_pid()");
    co_return r[0].get<std::int32_t>(0);
}

// Stops the test server (fast shutdown: sessions end with 57P01) and starts
// it again, through scripts/test-server. Blocks the calling thread. Whatever
// happens in the test, the server runs again when the guard goes.
class server_outage {
public:
    server_outage() { control("stop"); }
    server_outage(const server_outage&) = delete;
    server_outage& operator=(const server_outage&) = delete;
    ~server_outage() {
        try {
            end();
        } catch (...) {
        }
    }
    bool stopped() const noexcept { return stopped_; }
    void end() {
        if (!stopped_) return;
        control("start");
        stopped_ = false;
    }

private:
    static void control(const char* verb) {
        const auto command = "\"" + env("PGCORO_TEST_SERVER_CTL") + "\" " + verb;
        if (std::system(command.c_str()) != 0) throw std::runtime_error("test server " + std::string(verb) + " failed");
    }
    bool stopped_ = true;
};

}  // namespace test
