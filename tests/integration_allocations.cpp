// Steady-state queries allocate nothing: a cached prepared statement with
// fixed-width parameters and results, run in a loop over one connection,
// and the same through a pool, also with most acquires waiting, and a
// pipeline refilled in a loop. Counted by
// support/heap_counter.hpp: every malloc-level allocation of this thread,
// Asio's coroutine frames included.
#include "support/heap_counter.hpp"
#include "support/pool_helpers.hpp"
#include "support/test_server.hpp"

#include "support/catch.hpp"

namespace asio = boost::asio;

TEST_CASE("a cached prepared query allocates nothing in steady state") {
    test::run([]() -> asio::awaitable<void> {
        auto conn = co_await pgcoro::connection::connect(
            test::config_of(test::tcp_conninfo("user=pgcoro_scram password=scram_pw sslmode=disable")));
        pgcoro::result r;
        for (int i = 0; i < 50; ++i) co_await conn.query_into(r, "SELECT $1::int4 + 1, $2::int8 * 2", i, std::int64_t{i});

        const long before = test::heap_allocations;
        long checked = 0;
        for (int i = 0; i < 1000; ++i) {
            co_await conn.query_into(r, "SELECT $1::int4 + 1, $2::int8 * 2", i, std::int64_t{i});
            const auto [next, twice] = r[0].as<int, std::int64_t>();
            checked += next == i + 1 && twice == 2 * i;
        }
        const long per_query_into = test::heap_allocations - before;

        // Prepared and cached here; then Asio's frame cache settles on execute's frame sizes.
        for (int i = 0; i < 50; ++i) co_await conn.execute("SELECT $1::int4", i);
        const long before_execute = test::heap_allocations;
        std::uint64_t rows = 0;
        for (int i = 0; i < 1000; ++i) rows += co_await conn.execute("SELECT $1::int4", i);
        const long per_execute = test::heap_allocations - before_execute;

        CHECK(checked == 1000);
        CHECK(rows == 1000u);
        CHECK(per_query_into == 0);
        CHECK(per_execute == 0);

        // The counter does count: a fresh result allocates its buffers.
        const long before_fresh = test::heap_allocations;
        auto fresh = co_await conn.query("SELECT $1::int4 + 1, $2::int8 * 2", 1, std::int64_t{1});
        CHECK(test::heap_allocations > before_fresh);
        co_await conn.close();
    }());
}

TEST_CASE("a pool cycle around a cached query allocates nothing in steady state") {
    test::run([]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor,
                          test::config_of(test::tcp_conninfo("user=pgcoro_scram password=scram_pw sslmode=disable")),
                          {.max_size = 1});
        pgcoro::result r;
        for (int i = 0; i < 50; ++i) {
            auto conn = co_await pool.acquire();
            co_await conn->query_into(r, "SELECT $1::int4 + 1", i);
        }
        const long before = test::heap_allocations;
        long checked = 0;
        for (int i = 0; i < 1000; ++i) {
            auto conn = co_await pool.acquire();
            co_await conn->query_into(r, "SELECT $1::int4 + 1", i);
            checked += r[0].get<int>(0) == i + 1;
        }
        const long cycles = test::heap_allocations - before;
        co_await pool.close();
        CHECK(checked == 1000);
        // One-off growth (the idle list, once a tick first drains the
        // parking slot into it) is allowed, never once per cycle.
        INFO("counted: " << test::heap_counter_scope);
        CHECK(cycles < 10);
    }());
}

TEST_CASE("a pool's maintenance ticks allocate nothing") {
    // Two idle connections for each tick to sweep (a peek at each socket;
    // no health check before health_check_after) and min_idle met. Ticks
    // on the pool's strand allocated five times each (Asio's work tracking
    // of a type-erased strand).
    test::run([]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, test::pool_test_config(),
                          {.max_size = 2, .min_idle = 2});
        {
            auto a = co_await pool.acquire();
            auto b = co_await pool.acquire();
            co_await a->execute("SELECT 1");
            co_await b->execute("SELECT 1");
        }
        // Warm-up: the first ticks take the returned connections from
        // their parking slots to the idle list, which grows once.
        co_await test::sleep_for(std::chrono::milliseconds(600));
        const auto idle_before = pool.stats().idle;
        const long before = test::heap_allocations;
        const auto started = std::chrono::steady_clock::now();
        co_await test::sleep_for(std::chrono::milliseconds(1300));
        const long allocations = test::heap_allocations - before;
        const auto ticks = (std::chrono::steady_clock::now() - started) / std::chrono::milliseconds(250);
        const auto stats = pool.stats();
        co_await pool.close();
        CHECK(idle_before == 2);
        CHECK(stats.idle == 2);  // swept and kept, none closed or reconnected
        CHECK(stats.connects == 2);
        INFO("counted: " << test::heap_counter_scope << "; " << ticks << " maintenance ticks");
        CHECK(ticks >= 4);
        CHECK(allocations == 0);
    }());
}

TEST_CASE("coroutines waiting on a busy pool allocate nothing in steady state") {
    // 32 coroutines over 4 connections: most acquires wait, and dozens of
    // reads and timers are in flight at once, more than Asio's per-thread
    // cache of operation memory holds. Counted while all of them run: one
    // that ends frees its frames without taking new ones, and Asio's cache of
    // two frames then gives the next query's frame back to the heap.
    test::run([]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, test::pool_test_config(), {.max_size = 4});
        constexpr int coroutines = 32, warm_up = 20, measured = 100;
        int warmed = 0, done = 0;
        bool measuring = false;
        long before = 0, after = 0, checked = 0, queries = 0;
        std::chrono::steady_clock::time_point started, finished;
        co_await test::run_concurrently(coroutines, [&](int) -> asio::awaitable<void> {
            pgcoro::result r;
            for (int i = 0; i < warm_up + measured; ++i) {
                if (i == warm_up && ++warmed == coroutines) {
                    before = test::heap_allocations;
                    started = std::chrono::steady_clock::now();
                    measuring = true;
                }
                auto conn = co_await pool.acquire();
                co_await conn->query_into(r, "SELECT $1::int4 + 1", i);
                checked += r[0].get<int>(0) == i + 1;
                queries += measuring;
            }
            if (++done == 1) {
                after = test::heap_allocations;
                finished = std::chrono::steady_clock::now();
                measuring = false;
            }
        });
        const auto stats = pool.stats();
        co_await pool.close();
        CHECK(checked == coroutines * (warm_up + measured));
        CHECK(stats.acquire_wait_max > std::chrono::nanoseconds::zero());  // they did wait
        // Maintenance ticks allocate nothing (tested below); one-off growth
        // is allowed, far below one per query.
        const auto ticks = (finished - started) / std::chrono::milliseconds(250);
        INFO("counted: " << test::heap_counter_scope << "; " << queries << " queries measured for " << ticks
                         << " maintenance ticks");
        CHECK(queries > coroutines * measured / 2);
        CHECK(after - before < 10);
    }());
}

// 64 coroutines run `start(r, i)`'s query in a loop, each into its own
// result (a query() would allocate a result of its own); `start` returns
// the query's awaitable, so it adds no coroutine frame. Returns the
// allocations after every coroutine's first 30 queries, over 200 more each.
template <class Start>
asio::awaitable<long> shared_steady_state(Start start, long& checked) {
    constexpr int coroutines = 64, warm_up = 30, measured = 200;
    int warmed = 0, done = 0;
    long before = 0, after = 0;
    std::vector<pgcoro::result> results(coroutines);
    co_await test::run_concurrently(coroutines, [&](int caller) -> asio::awaitable<void> {
        auto& r = results[static_cast<std::size_t>(caller)];
        for (int i = 0; i < warm_up + measured; ++i) {
            if (i == warm_up && ++warmed == coroutines) before = test::heap_allocations;
            co_await start(r, i);
            checked += r[0].get<int>(0) == i + 1;
        }
        if (++done == coroutines) after = test::heap_allocations;
    });
    co_return after - before;
}

TEST_CASE("concurrent queries pipelined on one connection allocate nothing in steady state") {
    test::run([]() -> asio::awaitable<void> {
        auto conn = co_await pgcoro::connection::connect(
            test::config_of(test::tcp_conninfo("user=pgcoro_scram password=scram_pw sslmode=disable")));
        long checked = 0;
        const auto allocations = co_await shared_steady_state(
            [&](pgcoro::result& r, int i) { return conn.query_into(r, "SELECT $1::int4 + 1", i); }, checked);
        const auto stats = conn.pipelining();
        co_await conn.close();
        CHECK(checked == 64 * 230);
        CHECK(stats.requests > 64 * 200);  // pipelined, not run alone
        INFO("counted: " << test::heap_counter_scope);
        CHECK(allocations < 10);  // 12,800 queries
    }());
}

TEST_CASE("pool.query_into pipelined over a pool's shared connections allocates nothing in steady state") {
    test::run([]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, test::pool_test_config(), {.max_size = 4});
        long checked = 0;
        const auto started = std::chrono::steady_clock::now();
        const auto allocations = co_await shared_steady_state(
            [&](pgcoro::result& r, int i) { return pool.query_into(r, "SELECT $1::int4 + 1", i); }, checked);
        const auto ticks = (std::chrono::steady_clock::now() - started) / std::chrono::milliseconds(250);
        co_await pool.close();
        CHECK(checked == 64 * 230);
        // As for waiting acquires: one-off growth, never once per query.
        INFO("counted: " << test::heap_counter_scope << "; " << ticks << " maintenance ticks");
        CHECK(allocations < 10);  // 12,800 queries
    }());
}

TEST_CASE("a pipeline of cached statements refilled in a loop allocates nothing in steady state") {
    test::run([]() -> asio::awaitable<void> {
        auto conn = co_await pgcoro::connection::connect(
            test::config_of(test::tcp_conninfo("user=pgcoro_scram password=scram_pw sslmode=disable")));
        pgcoro::pipeline batch;
        std::vector<pgcoro::pipeline_outcome> outcomes;
        constexpr int batch_size = 64, warm_up = 10, measured = 50;
        long checked = 0, before = 0;
        for (int b = 0; b < warm_up + measured; ++b) {
            if (b == warm_up) before = test::heap_allocations;
            batch.clear();
            for (int k = 0; k < batch_size; ++k) batch.query("SELECT $1::int4 + 1", b * batch_size + k);
            batch.sync();
            co_await conn.run_into(batch, outcomes);
            for (int k = 0; k < batch_size; ++k)
                checked += outcomes[static_cast<std::size_t>(k)].ok() &&
                           outcomes[static_cast<std::size_t>(k)].rows[0].get<int>(0) == b * batch_size + k + 1;
        }
        const long allocations = test::heap_allocations - before;
        CHECK(checked == batch_size * (warm_up + measured));
        INFO("counted: " << test::heap_counter_scope);
        CHECK(allocations == 0);

        // The counter does count: conn.run() returns a fresh vector of outcomes.
        const long before_fresh = test::heap_allocations;
        const auto fresh = co_await conn.run(batch);
        CHECK(test::heap_allocations > before_fresh);
        CHECK(fresh.size() == std::size_t{batch_size});
        co_await conn.close();
    }());
}

TEST_CASE("a TLS query allocates only what OpenSSL's record layer does") {
    // OpenSSL 3.0 makes 4 small allocations per round trip in its record
    // layer (EVP_CIPHER_CTX_get_iv_length, EVP_CIPHER_CTX_ctrl); pgcoro
    // adds none. Asio's default of releasing the record buffers whenever
    // they empty added 3 more of 17 KB each, and an extra write frame 2.
    test::run([]() -> asio::awaitable<void> {
        auto conn = co_await pgcoro::connection::connect(test::config_of(test::tcp_conninfo(
            "user=pgcoro_scram password=scram_pw sslmode=verify-full sslrootcert=" + test::env("PGCORO_TEST_CA"))));
        REQUIRE(conn.uses_tls());
        pgcoro::result r;
        for (int i = 0; i < 50; ++i) co_await conn.query_into(r, "SELECT $1::int4 + 1", i);
        constexpr int queries = 500;
        const long before = test::heap_allocations;
        long checked = 0;
        for (int i = 0; i < queries; ++i) {
            co_await conn.query_into(r, "SELECT $1::int4 + 1", i);
            checked += r[0].get<int>(0) == i + 1;
        }
        const double per_query = static_cast<double>(test::heap_allocations - before) / queries;
        co_await conn.close();
        CHECK(checked == queries);
        INFO("counted: " << test::heap_counter_scope);
        CHECK(per_query < 6);
    }());
}

TEST_CASE("coroutines waiting on a busy TLS pool allocate only what OpenSSL's record layer does") {
    // Every TLS query writes through Asio (no send() of its own), so each
    // round trip suspends in a write and a read, beside the acquires that
    // wait: none of them may take a coroutine frame past Asio's cache.
    test::run([]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor,
                          test::config_of(test::tcp_conninfo("user=pgcoro_scram password=scram_pw sslmode=verify-full sslrootcert=" +
                                                             test::env("PGCORO_TEST_CA"))),
                          {.max_size = 4});
        constexpr int coroutines = 16, warm_up = 20, measured = 100;
        int warmed = 0, done = 0;
        long before = 0, after = 0, checked = 0;
        co_await test::run_concurrently(coroutines, [&](int) -> asio::awaitable<void> {
            pgcoro::result r;
            for (int i = 0; i < warm_up + measured; ++i) {
                if (i == warm_up && ++warmed == coroutines) before = test::heap_allocations;
                auto conn = co_await pool.acquire();
                REQUIRE(conn->uses_tls());
                co_await conn->query_into(r, "SELECT $1::int4 + 1", i);
                checked += r[0].get<int>(0) == i + 1;
            }
            if (++done == coroutines) after = test::heap_allocations;
        });
        const auto stats = pool.stats();
        co_await pool.close();
        CHECK(checked == coroutines * (warm_up + measured));
        CHECK(stats.acquire_wait_max > std::chrono::nanoseconds::zero());  // they did wait
        const double per_query = static_cast<double>(after - before) / (coroutines * measured);
        INFO("counted: " << test::heap_counter_scope);
        CHECK(per_query < 6);
    }());
}

namespace {

// What a metrics exporter keeps: counts and summed durations, no allocation.
struct counting_tracer final : pgcoro::tracer {
    long queries_started = 0, queries_ended = 0, pipelines = 0, acquires = 0;
    std::chrono::nanoseconds query_time{0}, acquire_time{0};
    pgcoro::trace_token query_started(const pgcoro::query_start&) override { return ++queries_started; }
    void query_ended(const pgcoro::query_end& e) override {
        ++queries_ended;
        query_time += e.outcome.duration;
    }
    void pipeline_ended(const pgcoro::pipeline_end&) override { ++pipelines; }
    void acquire_ended(const pgcoro::acquire_end& e) override {
        ++acquires;
        acquire_time += e.outcome.duration;
    }
};

}  // namespace

TEST_CASE("with a tracer that allocates nothing, queries, pipelines and pool cycles allocate nothing", "[tracer]") {
    auto tracer = std::make_shared<counting_tracer>();
    test::run([&]() -> asio::awaitable<void> {
        auto cfg = test::config_of(test::tcp_conninfo("user=pgcoro_scram password=scram_pw sslmode=disable"));
        cfg.tracer = tracer;
        auto conn = co_await pgcoro::connection::connect(cfg);
        pgcoro::result r;
        for (int i = 0; i < 50; ++i) co_await conn.query_into(r, "SELECT $1::int4 + 1, $2::int8 * 2", i, std::int64_t{i});
        const auto prepared = co_await conn.prepare("SELECT $1::int4");
        for (int i = 0; i < 50; ++i) co_await conn.execute(prepared, i);

        const long before = test::heap_allocations;
        long checked = 0;
        for (int i = 0; i < 1000; ++i) {
            co_await conn.query_into(r, "SELECT $1::int4 + 1, $2::int8 * 2", i, std::int64_t{i});
            checked += r[0].get<int>(0) == i + 1;
        }
        const long per_query_into = test::heap_allocations - before;
        const long before_execute = test::heap_allocations;
        for (int i = 0; i < 1000; ++i) checked += co_await conn.execute(prepared, i) == 1;
        const long per_execute = test::heap_allocations - before_execute;

        pgcoro::pipeline batch;
        std::vector<pgcoro::pipeline_outcome> outcomes;
        long before_pipeline = 0;
        for (int b = 0; b < 60; ++b) {
            if (b == 10) before_pipeline = test::heap_allocations;
            batch.clear();
            for (int k = 0; k < 64; ++k) batch.query("SELECT $1::int4 + 1", k);
            batch.sync();
            co_await conn.run_into(batch, outcomes);
        }
        const long pipelined = test::heap_allocations - before_pipeline;
        co_await conn.close();

        pgcoro::pool pool(co_await asio::this_coro::executor, cfg, {.max_size = 1});
        for (int i = 0; i < 50; ++i) {
            auto c = co_await pool.acquire();
            co_await c->query_into(r, "SELECT $1::int4 + 1", i);
        }
        const long before_cycles = test::heap_allocations;
        for (int i = 0; i < 1000; ++i) {
            auto c = co_await pool.acquire();
            co_await c->query_into(r, "SELECT $1::int4 + 1", i);
            checked += r[0].get<int>(0) == i + 1;
        }
        const long cycles = test::heap_allocations - before_cycles;
        co_await pool.close();

        CHECK(checked == 3000);
        INFO("counted: " << test::heap_counter_scope);
        CHECK(per_query_into == 0);
        CHECK(per_execute == 0);
        CHECK(pipelined == 0);
        CHECK(cycles < 10);  // the pool's own timers, now and then (as above)
    }());
    CHECK(tracer->queries_started == tracer->queries_ended);
    CHECK(tracer->queries_ended == 3 * 50 + 3 * 1000);  // prepare() is not a query
    CHECK(tracer->pipelines == 60);
    CHECK(tracer->acquires == 1050);
    CHECK(tracer->query_time > std::chrono::nanoseconds::zero());
}
