// Heap allocations per query in steady state, counted in the client's thread
// only (the stand-in server of loopback_server.hpp runs on another) by
// tests/support/heap_counter.hpp: every malloc-level allocation, Asio's
// coroutine frames included. Cases: a prepared statement, the statement
// cache (same SQL text each time), and a pool cycle around a cached query.
//
//   query_allocations [QUERIES]      default 100,000
#include "../tests/support/heap_counter.hpp"

#include <pgcoro.hpp>

#include "loopback_server.hpp"

#include <boost/asio/io_context.hpp>

#include <cstdio>
#include <cstdlib>
#include <thread>

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
asio::awaitable<double> per_query(long n, Queries queries) {
    co_await queries(1000);
    const long before = test::heap_allocations;
    co_await queries(n);
    co_return static_cast<double>(test::heap_allocations - before) / static_cast<double>(n);
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

    std::printf("| query | heap allocations per query (%s) |\n|---|---:|\n", test::heap_counter_scope);
    std::printf("| prepared statement, result reused (query_into) | %.3f |\n", prepared);
    std::printf("| same SQL text, statement cache, result reused | %.3f |\n", cached);
    std::printf("| pool acquire + cached query + release | %.3f |\n", pooled);
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
