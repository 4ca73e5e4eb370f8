// Heap allocations per query in steady state, counted in the client's thread
// only (the stand-in server of loopback_server.hpp runs on another) by
// tests/support/heap_counter.hpp: every malloc-level allocation, Asio's
// coroutine frames included. Cases: a prepared statement, the statement
// cache (same SQL text each time), and a pool cycle around a cached query,
// alone and with 64 coroutines taking turns on 16 connections.
//
//   query_allocations [QUERIES]      default 100,000
#include "../tests/support/heap_counter.hpp"

#include <pgcoro.hpp>

#include "loopback_server.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <thread>
#include <vector>

namespace asio = boost::asio;

namespace {

constexpr std::string_view add_sql = "SELECT $1::int4 + 1";

void check(bool ok, const char* what) {
    if (!ok) throw std::runtime_error(what);
}

// Allocations per query of `queries(count)`, a coroutine running `count`
// queries in a loop, after a warm-up of the same. One call for all of them:
// a coroutine per query would count its own frame.
template <class Queries>
asio::awaitable<double> per_query(long n, Queries queries, long warm_up = 1000) {
    co_await queries(warm_up);
    const long before = test::heap_allocations;
    co_await queries(n);
    co_return static_cast<double>(test::heap_allocations - before) / static_cast<double>(n);
}

// Runs `coroutines` copies of body(share) at once, `count` iterations in all.
template <class Body>
asio::awaitable<void> all_of(int coroutines, Body body, long count) {
    auto ex = co_await asio::this_coro::executor;
    int running = coroutines;
    std::exception_ptr failure;
    asio::steady_timer all_done(ex, std::chrono::steady_clock::time_point::max());
    for (int k = 0; k < coroutines; ++k) {
        asio::co_spawn(ex, body(count / coroutines + (k < count % coroutines)), [&](std::exception_ptr e) {
            if (e && !failure) failure = e;
            if (--running == 0) all_done.cancel();
        });
    }
    boost::system::error_code ec;
    co_await all_done.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    if (failure) std::rethrow_exception(failure);
}

asio::awaitable<void> report(std::string conninfo, long n) {
    auto conn = co_await pgcoro::connection::connect(conninfo);
    const std::vector<std::uint32_t> types{pgcoro::oids::int4};
    const auto add = co_await conn.prepare(add_sql, types);
    pgcoro::result r;
    const double prepared = co_await per_query(n, [&](long count) -> asio::awaitable<void> {
        for (std::int32_t i = 0; i < count; ++i) {
            co_await conn.query_into(r, add, i);
            check(r[0].get<std::int32_t>(0) == i + 1, "wrong result");
        }
    });
    const double cached = co_await per_query(n, [&](long count) -> asio::awaitable<void> {
        for (std::int32_t i = 0; i < count; ++i) {
            co_await conn.query_into(r, add_sql, i);
            check(r[0].get<std::int32_t>(0) == i + 1, "wrong result");
        }
    });
    // Batches of 64 with one Sync, the pipeline and the outcomes refilled.
    // Whole batches only: a shorter batch shrinks the outcomes, and the
    // next full one allocates the results it then adds.
    pgcoro::pipeline batch;
    std::vector<pgcoro::pipeline_outcome> outcomes;
    const double pipelined = co_await per_query((n + 63) / 64 * 64, [&](long count) -> asio::awaitable<void> {
        for (long done = 0; done < count; done += 64) {
            const long size = std::min<long>(64, count - done);
            batch.clear();
            for (long k = 0; k < size; ++k) batch.query(add_sql, static_cast<std::int32_t>(done + k));
            batch.sync();
            co_await conn.run_into(batch, outcomes);
            for (long k = 0; k < size; ++k)
                check(outcomes[static_cast<std::size_t>(k)].rows[0].get<std::int32_t>(0) == done + k + 1, "wrong result");
        }
    }, 1024);
    co_await conn.close();

    pgcoro::pool pool(co_await asio::this_coro::executor, conninfo, {.max_size = 1});
    const double pooled = co_await per_query(n, [&](long count) -> asio::awaitable<void> {
        for (std::int32_t i = 0; i < count; ++i) {
            auto c = co_await pool.acquire();
            co_await c->query_into(r, add_sql, i);
            check(r[0].get<std::int32_t>(0) == i + 1, "wrong result");
        }
    });
    co_await pool.close();

    // Most acquires wait: dozens of reads and timers in flight at once. Each
    // run spawns its 64 coroutines afresh, each with a new result, so the
    // count is that of 2n queries less that of n.
    pgcoro::pool busy(co_await asio::this_coro::executor, conninfo, {.max_size = 16});
    const auto turns = [&](long count) -> asio::awaitable<void> {
        co_await all_of(64, [&](long share) -> asio::awaitable<void> {
            pgcoro::result rows;
            for (std::int32_t i = 0; i < share; ++i) {
                auto c = co_await busy.acquire();
                co_await c->query_into(rows, add_sql, i);
                check(rows[0].get<std::int32_t>(0) == i + 1, "wrong result");
            }
        }, count);
    };
    const double waiting = 2 * co_await per_query(2 * n, turns) - co_await per_query(n, turns);
    // The same 64 coroutines with pool.query_into: pipelined on shared connections.
    const auto shared = [&](long count) -> asio::awaitable<void> {
        co_await all_of(64, [&](long share) -> asio::awaitable<void> {
            pgcoro::result rows;
            for (std::int32_t i = 0; i < share; ++i) {
                co_await busy.query_into(rows, add_sql, i);
                check(rows[0].get<std::int32_t>(0) == i + 1, "wrong result");
            }
        }, count);
    };
    const double sharing = 2 * co_await per_query(2 * n, shared) - co_await per_query(n, shared);
    co_await busy.close();

    std::printf("| query | heap allocations per query (%s) |\n|---|---:|\n", test::heap_counter_scope);
    std::printf("| prepared statement, result reused (query_into) | %.3f |\n", prepared);
    std::printf("| same SQL text, statement cache, result reused | %.3f |\n", cached);
    std::printf("| pipelined, batches of 64 (run_into, pipeline and outcomes reused) | %.3f |\n", pipelined);
    std::printf("| pool acquire + cached query + release | %.3f |\n", pooled);
    std::printf("| the same, 64 coroutines taking turns on 16 connections | %.3f |\n", waiting);
    std::printf("| 64 coroutines with pool.query_into (pipelined on shared connections) | %.3f |\n", sharing);
}

}  // namespace

int main(int argc, char** argv) {
    const long n = argc > 1 ? std::atol(argv[1]) : 100'000;
    bench::background_loopback_server server;
    asio::io_context io(1);
    std::exception_ptr failure;
    asio::co_spawn(io, report(server.conninfo(), n), [&](std::exception_ptr e) { failure = e; });
    io.run();
    if (failure) {
        std::fprintf(stderr, "query_allocations: %s\n", pgcoro::detail::describe_exception(failure).c_str());
        return 1;
    }
}
