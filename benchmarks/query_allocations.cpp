// operator new calls per query in steady state, counted in the client's
// thread only (the stand-in server of loopback_server.hpp runs on another): a
// prepared statement, the statement cache (same SQL text each time), and a
// pool cycle around a cached query. Not counted: Asio's coroutine frames,
// which come from aligned_alloc when its per-thread cache misses (valgrind's
// "total heap usage" over two run lengths sees those).
//
//   query_allocations [QUERIES]      default 100,000
#include <pgcoro.hpp>

#include "loopback_server.hpp"

#include <boost/asio/io_context.hpp>

#include <cstdio>
#include <cstdlib>
#include <new>
#include <thread>

namespace {
thread_local long allocations = 0;
}

void* operator new(std::size_t n) {
    ++allocations;
    if (void* p = std::malloc(n ? n : 1)) return p;
    throw std::bad_alloc();
}
void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
    ++allocations;
    return std::malloc(n ? n : 1);
}
void* operator new[](std::size_t n) { return operator new(n); }
void* operator new[](std::size_t n, const std::nothrow_t& tag) noexcept { return operator new(n, tag); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }

namespace asio = boost::asio;

namespace {

constexpr std::string_view add_sql = "SELECT $1::int4 + 1";

void check(bool ok, const char* what) {
    if (!ok) throw std::runtime_error(what);
}

// Allocations per call of `one(i)`, after a warm-up of the same calls.
template <class Query>
asio::awaitable<double> per_query(long n, Query one) {
    for (std::int32_t i = 0; i < 1000; ++i) co_await one(i);
    const long before = allocations;
    for (std::int32_t i = 0; i < n; ++i) co_await one(i);
    co_return static_cast<double>(allocations - before) / static_cast<double>(n);
}

asio::awaitable<void> report(std::string conninfo, long n) {
    auto conn = co_await pgcoro::connection::connect(conninfo);
    const std::vector<std::uint32_t> types{pgcoro::oids::int4};
    const auto add = co_await conn.prepare(add_sql, types);
    pgcoro::result r;
    const double prepared = co_await per_query(n, [&](std::int32_t i) -> asio::awaitable<void> {
        co_await conn.query_into(r, add, i);
        check(r[0].get<std::int32_t>(0) == i + 1, "wrong result");
    });
    const double cached = co_await per_query(n, [&](std::int32_t i) -> asio::awaitable<void> {
        co_await conn.query_into(r, add_sql, i);
        check(r[0].get<std::int32_t>(0) == i + 1, "wrong result");
    });
    co_await conn.close();

    pgcoro::pool pool(co_await asio::this_coro::executor, conninfo, {.max_size = 1});
    const double pooled = co_await per_query(n, [&](std::int32_t i) -> asio::awaitable<void> {
        auto c = co_await pool.acquire();
        co_await c->query_into(r, add_sql, i);
        check(r[0].get<std::int32_t>(0) == i + 1, "wrong result");
    });
    co_await pool.close();

    std::printf("| query | operator new calls per query |\n|---|---:|\n");
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
