// Pipelines against the real server: many statements in one round trip, a
// failure in the middle aborting only its sync segment, and the report of
// which statement failed.
#include "support/test_server.hpp"

#include "support/catch.hpp"

namespace integration_pipeline {

using test::config_of;
using test::run;
namespace asio = boost::asio;
using status = pgcoro::pipeline_outcome::status;

namespace {

asio::awaitable<pgcoro::connection> connect(std::size_t cache_size = 256) {
    auto cfg = config_of(test::tcp_conninfo("user=pgcoro_scram password=scram_pw sslmode=disable"));
    cfg.statement_cache_size = cache_size;
    co_return co_await pgcoro::connection::connect(cfg);
}

}  // namespace

TEST_CASE("a pipeline runs many statements and returns their results in order") {
    for (const std::size_t cache : {std::size_t{256}, std::size_t{0}}) {
        INFO("statement cache size " << cache);
        run([cache]() -> asio::awaitable<void> {
            auto conn = co_await connect(cache);
            pgcoro::pipeline p;
            for (int i = 0; i < 100; ++i) p.query("SELECT $1::int4 + 1", i);
            p.query("SELECT $1::text || $2::text", std::string("a"), std::string("b"));
            auto outcomes = co_await conn.run(p);
            REQUIRE(outcomes.size() == 101);
            int right = 0;
            for (int i = 0; i < 100; ++i) right += outcomes[static_cast<std::size_t>(i)].ok() && outcomes[static_cast<std::size_t>(i)].rows[0].get<int>(0) == i + 1;
            CHECK(right == 100);
            CHECK(outcomes[100].rows[0].get<std::string>(0) == "ab");
            auto again = co_await conn.run(p);  // now from the statement cache (or prepared again)
            CHECK(again[42].rows[0].get<int>(0) == 43);
            auto leftover = co_await conn.simple_query("SELECT count(*) FROM pg_prepared_statements");
            CHECK(leftover.at(0)[0].text(0) == (cache == 0 ? "0" : "2"));
            co_await conn.close();
        }());
    }
}

TEST_CASE("a failing statement aborts the rest of its sync segment only") {
    run([]() -> asio::awaitable<void> {
        auto conn = co_await connect();
        co_await conn.simple_query("CREATE TEMP TABLE log(n int PRIMARY KEY)");
        pgcoro::pipeline p;
        p.query("INSERT INTO log VALUES ($1)", 1)
            .query("INSERT INTO log VALUES ($1)", 1)  // duplicate key: fails
            .query("INSERT INTO log VALUES ($1)", 2)  // aborted
            .sync()
            .query("INSERT INTO log VALUES ($1)", 3)  // next segment: runs
            .query("SELEC nonsense")                  // fails to prepare
            .query("INSERT INTO log VALUES ($1)", 4)  // aborted
            .sync()
            .query("SELECT array_agg(n ORDER BY n) FROM log");
        auto o = co_await conn.run(p);
        REQUIRE(o.size() == 7);
        CHECK(o[0].state == status::ok);
        CHECK(o[0].rows.rows_affected() == 1u);
        CHECK(o[1].state == status::failed);
        REQUIRE(o[1].error);
        CHECK(o[1].error->sqlstate == "23505");
        CHECK(o[2].state == status::aborted);
        CHECK(o[3].state == status::ok);
        CHECK(o[4].state == status::failed);
        CHECK(o[4].error->sqlstate == "42601");
        CHECK(o[5].state == status::aborted);
        CHECK(o[6].state == status::ok);
        // Each sync segment is its own implicit transaction. Segment 1 failed,
        // so its insert of 1 was rolled back. In segment 2 only the insert of
        // 3 was sent (the statement that failed to prepare stopped the rest
        // on the client side), and it committed.
        const auto kept = o[6].rows[0].get<std::vector<int>>(0);
        CHECK(kept == std::vector<int>{3});
        CHECK(conn.is_usable());
        CHECK(conn.transaction_state() == pgcoro::transaction_status::idle);
        co_await conn.close();
    }());
}

TEST_CASE("a deferred constraint failing at a sync point fails the segment's last statement") {
    run([]() -> asio::awaitable<void> {
        auto conn = co_await connect();
        co_await conn.simple_query(
            "CREATE TEMP TABLE deferred_log(n int UNIQUE DEFERRABLE INITIALLY DEFERRED)");
        pgcoro::pipeline p;
        p.query("INSERT INTO deferred_log VALUES ($1)", 1)
            .query("INSERT INTO deferred_log VALUES ($1)", 1)  // fine until COMMIT
            .sync()
            .query("SELECT count(*) FROM deferred_log");
        auto o = co_await conn.run(p);
        REQUIRE(o.size() == 3);
        CHECK(o[0].state == status::ok);
        CHECK(o[1].state == status::failed);
        REQUIRE(o[1].error);
        CHECK(o[1].error->sqlstate == "23505");
        CHECK(o[2].state == status::ok);
        CHECK(o[2].rows[0].get<std::int64_t>(0) == 0);  // the implicit COMMIT failed: nothing kept
        CHECK(conn.is_usable());
        co_await conn.close();
    }());
}

TEST_CASE("run_into refills the outcomes of earlier runs in place") {
    run([]() -> asio::awaitable<void> {
        auto conn = co_await connect();
        pgcoro::pipeline p;
        std::vector<pgcoro::pipeline_outcome> outcomes;

        p.query("SELECT 1 / $1::int4", 0).query("SELECT $1::int4", 7);  // division by zero, then aborted
        co_await conn.run_into(p, outcomes);
        REQUIRE(outcomes.size() == 2);
        CHECK(outcomes[0].state == status::failed);
        CHECK(outcomes[0].error->sqlstate == "22012");
        CHECK(outcomes[1].state == status::aborted);

        // The same slots, now succeeding: nothing of the failure is left.
        p.clear();
        CHECK(p.empty());
        p.query("SELECT 1 / $1::int4", 1).query("SELECT $1::int4", 8).query("SELECT $1::text", std::string("x"));
        co_await conn.run_into(p, outcomes);
        REQUIRE(outcomes.size() == 3);
        CHECK(outcomes[0].ok());
        CHECK_FALSE(outcomes[0].error);
        CHECK(outcomes[0].rows[0].get<int>(0) == 1);
        CHECK(outcomes[1].rows[0].get<int>(0) == 8);
        CHECK(outcomes[1].rows.size() == 1);
        CHECK(outcomes[2].rows[0].get<std::string>(0) == "x");

        // Fewer statements than slots: the pipeline and the outcomes shrink.
        p.clear();
        p.query("SELECT $1::int4", 9);
        co_await conn.run_into(p, outcomes);
        REQUIRE(outcomes.size() == 1);
        CHECK(outcomes[0].rows[0].get<int>(0) == 9);

        p.clear();
        co_await conn.run_into(p, outcomes);
        CHECK(outcomes.empty());

        // Moved from, a pipeline and its outcomes are empty and can be refilled.
        p.query("SELECT $1::int4", 10).query("SELECT $1::int4", 11);
        co_await conn.run_into(p, outcomes);
        auto taken = std::move(p);
        auto kept = std::move(outcomes);
        CHECK(p.empty());
        p.query("SELECT $1::int4", 12);
        co_await conn.run_into(p, outcomes);
        REQUIRE(outcomes.size() == 1);
        CHECK(outcomes[0].rows[0].get<int>(0) == 12);
        REQUIRE(kept.size() == 2);
        CHECK(kept[1].rows[0].get<int>(0) == 11);
        co_await conn.run_into(taken, kept);
        CHECK(kept[0].rows[0].get<int>(0) == 10);
        CHECK(conn.is_usable());
        CHECK((co_await conn.simple_query("SELECT 'still in sync'")).at(0)[0].text(0) == "still in sync");
        co_await conn.close();
    }());
}

TEST_CASE("a pipeline statement the server dropped fails once and is prepared again on the next run") {
    run([]() -> asio::awaitable<void> {
        auto conn = co_await connect();
        pgcoro::pipeline p;
        p.query("SELECT $1::int4 * 2", 21).sync().query("SELECT $1::int4 * 3", 2);
        auto first = co_await conn.run(p);
        CHECK(first[0].rows[0].get<int>(0) == 42);
        co_await conn.simple_query("DEALLOCATE ALL");  // behind the statement cache's back
        auto lost = co_await conn.run(p);
        REQUIRE(lost.size() == 2);
        CHECK(lost[0].state == status::failed);
        REQUIRE(lost[0].error);
        CHECK(lost[0].error->sqlstate == "26000");
        CHECK(lost[1].state == status::failed);  // its own segment, its own lost statement
        auto again = co_await conn.run(p);
        CHECK(again[0].ok());
        CHECK(again[0].rows[0].get<int>(0) == 42);
        CHECK(again[1].rows[0].get<int>(0) == 6);
        co_await conn.close();
    }());
}

}  // namespace integration_pipeline
