// Steady-state queries allocate nothing: a cached prepared statement with
// fixed-width parameters and results, run in a loop over one connection.
// Counted with a replaced global operator new (it only counts, then forwards
// to malloc, so the other tests in this program are unaffected).
#include "support/test_server.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <cstdlib>
#include <new>

namespace {
std::atomic<long> heap_allocations{0};
}

void* operator new(std::size_t n) {
    heap_allocations.fetch_add(1, std::memory_order_relaxed);
    if (void* p = std::malloc(n ? n : 1)) return p;
    throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
// Every other form goes to malloc/free too, so no block allocated by the
// runtime's own operator new is ever freed here (AddressSanitizer checks that).
void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
    heap_allocations.fetch_add(1, std::memory_order_relaxed);
    return std::malloc(n ? n : 1);
}
void* operator new[](std::size_t n) { return operator new(n); }
void* operator new[](std::size_t n, const std::nothrow_t& tag) noexcept { return operator new(n, tag); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }

namespace asio = boost::asio;

TEST_CASE("a cached prepared query allocates nothing in steady state") {
    test::run([]() -> asio::awaitable<void> {
        auto conn = co_await pgcoro::connection::connect(
            test::config_of(test::tcp_conninfo("user=pgcoro_scram password=scram_pw sslmode=disable")));
        pgcoro::result r;
        for (int i = 0; i < 50; ++i) co_await conn.query_into(r, "SELECT $1::int4 + 1, $2::int8 * 2", i, std::int64_t{i});

        const long before = heap_allocations.load();
        long checked = 0;
        for (int i = 0; i < 1000; ++i) {
            co_await conn.query_into(r, "SELECT $1::int4 + 1, $2::int8 * 2", i, std::int64_t{i});
            const auto [next, twice] = r[0].as<int, std::int64_t>();
            checked += next == i + 1 && twice == 2 * i;
        }
        const long per_query_into = heap_allocations.load() - before;

        co_await conn.execute("SELECT $1::int4", 0);  // prepared and cached here
        const long before_execute = heap_allocations.load();
        std::uint64_t rows = 0;
        for (int i = 0; i < 1000; ++i) rows += co_await conn.execute("SELECT $1::int4", i);
        const long per_execute = heap_allocations.load() - before_execute;

        CHECK(checked == 1000);
        CHECK(rows == 1000u);
        CHECK(per_query_into == 0);
        CHECK(per_execute == 0);

        // The counter does count: a fresh result allocates its buffers.
        const long before_fresh = heap_allocations.load();
        auto fresh = co_await conn.query("SELECT $1::int4 + 1, $2::int8 * 2", 1, std::int64_t{1});
        CHECK(heap_allocations.load() > before_fresh);
        co_await conn.close();
    }());
}
