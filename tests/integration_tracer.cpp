// The tracer against the real server: each kind of event (query, pipeline,
// COPY in and out, connect, pool acquire) arrives as a start and a matching
// end, with what ran, how long it took and how it ended, the server's
// SQLSTATE included.
#include "support/pool_helpers.hpp"
#include "support/recording_tracer.hpp"
#include "support/test_server.hpp"

#include "support/catch.hpp"

namespace integration_tracer {

using test::config_of;
using test::run;
namespace asio = boost::asio;
using namespace std::chrono_literals;

namespace {

pgcoro::config traced_config(const std::shared_ptr<test::recording_tracer>& tracer) {
    auto cfg = config_of(test::tcp_conninfo("user=pgcoro_scram password=scram_pw sslmode=disable"));
    cfg.tracer = tracer;
    return cfg;
}

bool ended_ok(const std::optional<test::recorded_outcome>& o) { return o && !o->error; }

}  // namespace

TEST_CASE("tracer: a query reports its SQL, parameters, rows, duration and session", "[tracer]") {
    auto tracer = std::make_shared<test::recording_tracer>();
    std::int32_t pid = 0;
    run([&]() -> asio::awaitable<void> {
        auto conn = co_await pgcoro::connection::connect(traced_config(tracer));
        pid = conn.backend_pid();
        pgcoro::result r;
        const std::string x = "x";
        co_await conn.query_into(r, "SELECT generate_series(1, $1::int4), $2::text", 3, x);
        co_await conn.execute("SELECT pg_sleep(0.05)");
        const auto prepared = co_await conn.prepare("SELECT $1::int8 * 2");
        const std::int64_t half = 21;
        co_await conn.query(prepared, half);
        co_await conn.simple_query("SELECT 1; SELECT generate_series(1, 4)");
        co_await conn.close();
    }());

    REQUIRE(tracer->queries.size() == 4);
    CHECK(tracer->mismatched_tokens == 0);
    const auto& first = tracer->queries[0];
    CHECK(first.sql == "SELECT generate_series(1, $1::int4), $2::text");
    CHECK(first.parameters == 2);
    CHECK(first.protocol == pgcoro::query_protocol::extended);
    CHECK(ended_ok(first.outcome));
    CHECK(first.rows == 3);
    CHECK(first.session.backend_pid == pid);
    CHECK(first.session.database == "pgcoro");
    CHECK(first.session.user == "pgcoro_scram");
    CHECK(first.session.host == test::host());
    CHECK(std::to_string(first.session.port) == test::port());

    const auto& slept = tracer->queries[1];
    CHECK(ended_ok(slept.outcome));
    CHECK(slept.rows == 1);
    CHECK(slept.outcome->duration >= 50ms);
    CHECK(slept.outcome->duration < 10s);

    const auto& by_name = tracer->queries[2];
    CHECK(by_name.sql.empty());
    CHECK(by_name.prepared_name.rfind("pgcoro_p", 0) == 0);
    CHECK(by_name.parameters == 1);
    CHECK(by_name.rows == 1);

    const auto& simple = tracer->queries[3];
    CHECK(simple.protocol == pgcoro::query_protocol::simple);
    CHECK(simple.sql == "SELECT 1; SELECT generate_series(1, 4)");
    CHECK(simple.rows == 4);  // the last statement's
    CHECK(ended_ok(simple.outcome));
}

TEST_CASE("tracer: a failed query reports the error and its SQLSTATE", "[tracer]") {
    auto tracer = std::make_shared<test::recording_tracer>();
    run([&]() -> asio::awaitable<void> {
        auto conn = co_await pgcoro::connection::connect(traced_config(tracer));
        std::string thrown;
        try {
            co_await conn.query("SELECT 1 / $1::int4", 0);
        } catch (const pgcoro::server_error& e) {
            thrown = e.sqlstate();
        }
        CHECK(thrown == "22012");
        // A query_timeout: cancelled on the server and drained; the caller sees 57014.
        conn.set_query_timeout(100ms);
        thrown.clear();
        try {
            co_await conn.execute("SELECT pg_sleep(5)");
        } catch (const pgcoro::server_error& e) {
            thrown = e.sqlstate();
        }
        CHECK(thrown == "57014");
        conn.set_query_timeout(0ms);
        co_await conn.execute("SELECT 1");  // still usable
        co_await conn.close();
    }());

    REQUIRE(tracer->queries.size() == 3);
    CHECK(tracer->mismatched_tokens == 0);
    const auto& division = tracer->queries[0];
    REQUIRE(division.outcome);
    CHECK(division.outcome->error == pgcoro::errc::server_error);
    CHECK(division.outcome->sqlstate == "22012");
    CHECK(division.outcome->message.find("division by zero") != std::string::npos);
    CHECK(division.rows == 0);

    const auto& timed_out = tracer->queries[1];
    REQUIRE(timed_out.outcome);
    CHECK(timed_out.outcome->sqlstate == "57014");
    CHECK(timed_out.outcome->duration >= 100ms);
    CHECK(timed_out.outcome->duration < 5s);
    CHECK(ended_ok(tracer->queries[2].outcome));
}

TEST_CASE("tracer: a pipeline reports its statements and which failed", "[tracer]") {
    auto tracer = std::make_shared<test::recording_tracer>();
    run([&]() -> asio::awaitable<void> {
        auto conn = co_await pgcoro::connection::connect(traced_config(tracer));
        pgcoro::pipeline p;
        p.query("SELECT $1::int4", 1).sync();
        p.query("SELECT 1 / $1::int4", 0).query("SELECT $1::int4", 3).sync();
        p.query("SELECT $1::int4", 4);
        auto outcomes = co_await conn.run(p);
        CHECK(outcomes.size() == 4);
        co_await conn.close();
    }());

    CHECK(tracer->queries.empty());  // a pipeline is one event, not one per statement
    REQUIRE(tracer->pipelines.size() == 1);
    const auto& p = tracer->pipelines[0];
    CHECK(p.statements == 4);
    CHECK(ended_ok(p.outcome));  // the call itself succeeded
    CHECK(p.failed == 1);
    CHECK(p.aborted == 1);
    CHECK(p.first_statement_sqlstate == "22012");
    CHECK(tracer->mismatched_tokens == 0);
}

TEST_CASE("tracer: pipelined queries of several coroutines each report their own end", "[tracer]") {
    // 8 coroutines × 12 queries on one connection: each asks for `caller % 3
    // + 1` rows, and every fourth divides by zero. Each traced query must
    // carry its own rows or its own error, whatever its neighbours did.
    auto tracer = std::make_shared<test::recording_tracer>();
    constexpr int coroutines = 8, each = 12;
    pgcoro::pipelining_stats stats;
    std::int32_t pid = 0;
    run([&]() -> asio::awaitable<void> {
        auto conn = co_await pgcoro::connection::connect(traced_config(tracer));
        pid = conn.backend_pid();
        co_await conn.query("SELECT generate_series(1, $1::int4)", 1);  // prepared, alone
        co_await conn.query("SELECT 1 / $1::int4", 1);
        co_await test::run_concurrently(coroutines, [&](int caller) -> asio::awaitable<void> {
            for (int i = 0; i < each; ++i) {
                if (i % 4 == 3) {
                    try {
                        co_await conn.query("SELECT 1 / $1::int4", 0);
                    } catch (const pgcoro::server_error&) {
                    }
                } else {
                    auto r = co_await conn.query("SELECT generate_series(1, $1::int4)", caller % 3 + 1);
                    CHECK(r.size() == static_cast<std::size_t>(caller % 3 + 1));
                }
            }
        });
        stats = conn.pipelining();
        co_await conn.close();
    }());

    CHECK(stats.requests > 0);  // they were pipelined
    CHECK(tracer->mismatched_tokens == 0);
    REQUIRE(tracer->queries.size() == 2 + coroutines * each);
    std::array<int, 4> by_rows{};  // successful series by row count
    int divisions = 0;
    for (std::size_t i = 2; i < tracer->queries.size(); ++i) {
        const auto& q = tracer->queries[i];
        REQUIRE(q.outcome);
        CHECK(q.session.backend_pid == pid);
        CHECK(q.parameters == 1);
        if (q.sql == "SELECT 1 / $1::int4") {
            ++divisions;
            CHECK(q.outcome->sqlstate == "22012");
            CHECK(q.rows == 0);
        } else {
            CHECK(q.sql == "SELECT generate_series(1, $1::int4)");
            CHECK(ended_ok(q.outcome));
            if (q.rows >= 1 && q.rows <= 3) ++by_rows[q.rows];
        }
    }
    CHECK(divisions == coroutines * each / 4);
    // Callers 0, 3, 6 ask for 1 row, 1, 4, 7 for 2, and 2, 5 for 3; nine queries each.
    CHECK(by_rows[1] == 3 * 9);
    CHECK(by_rows[2] == 3 * 9);
    CHECK(by_rows[3] == 2 * 9);
}

TEST_CASE("tracer: COPY in and out report their rows, failures and early ends", "[tracer]") {
    auto tracer = std::make_shared<test::recording_tracer>();
    run([&]() -> asio::awaitable<void> {
        auto conn = co_await pgcoro::connection::connect(traced_config(tracer));
        co_await conn.simple_query("CREATE TEMP TABLE copied (n int)");
        tracer->queries.clear();

        {
            auto in = co_await conn.copy_in("COPY copied FROM STDIN");
            co_await in.write("1\n2\n3\n");
            co_await in.finish();
        }
        {
            auto out = co_await conn.copy_out("COPY copied TO STDOUT");
            while (co_await out.read()) {
            }
        }
        std::string thrown;
        try {
            auto in = co_await conn.copy_in("COPY copied FROM STDIN");
            co_await in.write("not a number\n");
            co_await in.finish();
        } catch (const pgcoro::server_error& e) {
            thrown = e.sqlstate();
        }
        CHECK(thrown == "22P02");
        {
            auto in = co_await conn.copy_in("COPY copied FROM STDIN");
            co_await in.abort("changed my mind");
        }
        {
            auto out = co_await conn.copy_out("COPY copied TO STDOUT");
            co_await out.read();
            co_await out.close();
        }
        {
            auto dropped = co_await conn.copy_in("COPY copied FROM STDIN");
        }
        const std::vector<std::tuple<std::int32_t>> rows{{7}, {8}};
        co_await conn.bulk_load("copied (n)", rows);
        co_await conn.close();
    }());

    CHECK(tracer->mismatched_tokens == 0);
    REQUIRE(tracer->copies.size() == 7);
    const auto& in = tracer->copies[0];
    CHECK(in.sql == "COPY copied FROM STDIN");
    CHECK(in.direction == pgcoro::copy_direction::in);
    CHECK(ended_ok(in.outcome));
    CHECK(in.rows == 3);

    const auto& out = tracer->copies[1];
    CHECK(out.direction == pgcoro::copy_direction::out);
    CHECK(ended_ok(out.outcome));
    CHECK(out.rows == 3);

    const auto& refused = tracer->copies[2];
    REQUIRE(refused.outcome);
    CHECK(refused.outcome->sqlstate == "22P02");

    for (std::size_t stopped = 3; stopped <= 5; ++stopped) {
        INFO("copy " << stopped);
        REQUIRE(tracer->copies[stopped].outcome);
        CHECK(tracer->copies[stopped].outcome->error == pgcoro::errc::cancelled);
    }
    CHECK(tracer->copies[4].direction == pgcoro::copy_direction::out);

    const auto& bulk = tracer->copies[6];
    CHECK(bulk.direction == pgcoro::copy_direction::in);
    CHECK(ended_ok(bulk.outcome));
    CHECK(bulk.rows == 2);
}

TEST_CASE("tracer: connects report the session, or the failure and its SQLSTATE", "[tracer]") {
    auto tracer = std::make_shared<test::recording_tracer>();
    std::int32_t pid = 0;
    run([&]() -> asio::awaitable<void> {
        auto conn = co_await pgcoro::connection::connect(traced_config(tracer));
        pid = conn.backend_pid();
        co_await conn.close();

        auto wrong_password = traced_config(tracer);
        wrong_password.password = "wrong";
        const auto refused = co_await test::connect_failure(wrong_password);
        CHECK(refused);

        // A port nobody listens on: a network failure, no SQLSTATE.
        auto nowhere = config_of("host=127.0.0.1 port=1 dbname=pgcoro user=pgcoro_scram sslmode=disable");
        nowhere.tracer = tracer;
        const auto unreachable = co_await test::connect_failure(nowhere);
        CHECK(unreachable);
    }());

    CHECK(tracer->mismatched_tokens == 0);
    REQUIRE(tracer->connects.size() == 3);
    CHECK(ended_ok(tracer->connects[0].outcome));
    CHECK(tracer->connects[0].backend_pid == pid);
    CHECK(tracer->connects[0].outcome->duration > 0ns);

    const auto& refused = tracer->connects[1];
    REQUIRE(refused.outcome);
    CHECK(refused.outcome->error == pgcoro::errc::server_error);
    CHECK(refused.outcome->sqlstate == "28P01");
    CHECK(refused.backend_pid == 0);

    const auto& unreachable = tracer->connects[2];
    REQUIRE(unreachable.outcome);
    CHECK(unreachable.outcome->error);
    CHECK(unreachable.outcome->sqlstate.empty());
    CHECK(unreachable.outcome->message.find("127.0.0.1") != std::string::npos);
}

TEST_CASE("tracer: a pool reports acquires with their wait, and its own checks are not queries", "[tracer]") {
    auto tracer = std::make_shared<test::recording_tracer>();
    run([&]() -> asio::awaitable<void> {
        auto cfg = test::pool_test_config("pgcoro_tracer_test");
        cfg.tracer = tracer;
        pgcoro::pool pool(co_await asio::this_coro::executor, cfg,
                          {.max_size = 1, .acquire_timeout = 2s, .health_check_after = 0ms});
        {
            auto first = co_await pool.acquire();
            co_await first->execute("SELECT 1");
        }
        // One connection held for 200 ms: the second acquire waits for it.
        auto hold = [&](int i) -> asio::awaitable<void> {
            if (i == 0) {
                auto held = co_await pool.acquire();
                co_await test::sleep_for(200ms);
            } else {
                co_await test::sleep_for(20ms);
                auto waited = co_await pool.acquire();
                co_await waited->execute("SELECT 2");
            }
        };
        co_await test::run_concurrently(2, hold);

        // Held past acquire_timeout: the waiting acquire fails with errc::timeout.
        auto held = co_await pool.acquire();
        pgcoro::pool_options quick{.max_size = 1, .acquire_timeout = 100ms};
        std::error_code timed_out;
        pgcoro::pool small(co_await asio::this_coro::executor, cfg, quick);
        auto only = co_await small.acquire();
        try {
            auto second = co_await small.acquire();
        } catch (const pgcoro::error& e) {
            timed_out = e.code();
        }
        CHECK(timed_out == pgcoro::errc::timeout);
        only.release();
        held.release();
        co_await small.close();
        co_await pool.close();
    }());

    CHECK(tracer->mismatched_tokens == 0);
    // The user's two queries only: the pool's health checks (health_check_after
    // = 0: one before every checkout) and resets run untraced.
    REQUIRE(tracer->queries.size() == 2);
    CHECK(tracer->queries[0].sql == "SELECT 1");
    CHECK(tracer->queries[1].sql == "SELECT 2");
    CHECK(tracer->connects.size() == 2);  // one per pool

    REQUIRE(tracer->acquires.size() == 6);
    for (const auto& a : tracer->acquires) REQUIRE(a.outcome);
    CHECK(ended_ok(tracer->acquires[0].outcome));
    CHECK(tracer->acquires[0].generation == 1);
    CHECK(tracer->acquires[0].backend_pid != 0);
    // The acquire that waited for the holder (started 20 ms in, released at 200 ms).
    const auto& waited = tracer->acquires[2];
    CHECK(ended_ok(waited.outcome));
    CHECK(waited.outcome->duration >= 150ms);
    CHECK(waited.outcome->duration < 2s);
    CHECK(tracer->acquires[1].outcome->duration < 150ms);

    const auto& timed_out = tracer->acquires[5];
    CHECK(timed_out.outcome->error == pgcoro::errc::timeout);
    // The pool times its deadline on a coarse clock, a few ms behind.
    CHECK(timed_out.outcome->duration >= 90ms);
    CHECK(timed_out.backend_pid == 0);
}

TEST_CASE("tracer: an exception from a tracer never fails the operation", "[tracer]") {
    struct throwing_tracer : pgcoro::tracer {
        int ended = 0;
        pgcoro::trace_token query_started(const pgcoro::query_start&) override { throw std::runtime_error("start"); }
        void query_ended(const pgcoro::query_end&) override {
            ++ended;
            throw std::runtime_error("end");
        }
    };
    auto tracer = std::make_shared<throwing_tracer>();
    run([&]() -> asio::awaitable<void> {
        auto cfg = config_of(test::tcp_conninfo("user=pgcoro_scram password=scram_pw sslmode=disable"));
        cfg.tracer = tracer;
        auto conn = co_await pgcoro::connection::connect(cfg);
        const auto r = co_await conn.query("SELECT $1::int4 + 1", 1);
        CHECK(r[0].get<int>(0) == 2);
        co_await conn.close();
    }());
    CHECK(tracer->ended == 1);
}

}  // namespace integration_tracer
