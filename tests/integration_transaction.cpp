// Transactions against the real server: commit, rollback, rollback when the
// scope is left any other way (exception, cancellation), savepoints, options.
#include "support/test_server.hpp"

#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>

#include "support/catch.hpp"

namespace integration_transaction {

using test::config_of;
using test::run;
using test::sleep_for;
namespace asio = boost::asio;
using namespace std::chrono_literals;
using namespace asio::experimental::awaitable_operators;

namespace {

asio::awaitable<pgcoro::connection> connect_with_table() {
    auto conn = co_await pgcoro::connection::connect(
        config_of(test::tcp_conninfo("user=pgcoro_scram password=scram_pw sslmode=disable")));
    co_await conn.simple_query("CREATE TEMP TABLE item(name text)");
    co_return conn;
}

asio::awaitable<std::int64_t> count_items(pgcoro::connection& conn) {
    auto r = co_await conn.query("SELECT count(*) FROM item");
    co_return r[0].get<std::int64_t>(0);
}

}  // namespace

TEST_CASE("commit keeps the work, rollback discards it") {
    run([]() -> asio::awaitable<void> {
        auto conn = co_await connect_with_table();
        {
            auto tx = co_await conn.begin();
            CHECK(conn.transaction_state() == pgcoro::transaction_status::in_transaction);
            co_await conn.execute("INSERT INTO item VALUES ($1)", "kept");
            co_await tx.commit();
            CHECK_FALSE(tx.active());
        }
        CHECK(conn.transaction_state() == pgcoro::transaction_status::idle);
        {
            auto tx = co_await conn.begin();
            co_await conn.execute("INSERT INTO item VALUES ($1)", "discarded");
            co_await tx.rollback();
        }
        const auto n = co_await count_items(conn);
        CHECK(n == 1);
        co_await conn.close();
    }());
}

TEST_CASE("a transaction left without commit is rolled back: early exit, exception, cancellation") {
    run([]() -> asio::awaitable<void> {
        auto conn = co_await connect_with_table();
        {
            auto tx = co_await conn.begin();
            co_await conn.execute("INSERT INTO item VALUES ($1)", "forgotten");
        }  // no commit
        CHECK(co_await count_items(conn) == 0);
        CHECK(conn.transaction_state() == pgcoro::transaction_status::idle);

        bool caught = false;
        try {
            auto tx = co_await conn.begin();
            co_await conn.execute("INSERT INTO item VALUES ($1)", "thrown");
            throw std::runtime_error("application failure");
        } catch (const std::runtime_error&) {
            caught = true;
        }
        CHECK(caught);
        CHECK(co_await count_items(conn) == 0);

        auto work = [&]() -> asio::awaitable<void> {
            auto tx = co_await conn.begin();
            co_await conn.execute("INSERT INTO item VALUES ($1)", "cancelled");
            co_await conn.query("SELECT pg_sleep(10)");
            co_await tx.commit();
        };
        auto outcome = co_await (work() || sleep_for(200ms));
        CHECK(outcome.index() == 1);
        REQUIRE(conn.is_usable());
        CHECK(co_await count_items(conn) == 0);
        CHECK(conn.transaction_state() == pgcoro::transaction_status::idle);
        co_await conn.close();
    }());
}

TEST_CASE("savepoints nest inside a transaction") {
    run([]() -> asio::awaitable<void> {
        auto conn = co_await connect_with_table();
        auto tx = co_await conn.begin();
        co_await conn.execute("INSERT INTO item VALUES ($1)", "outer");
        {
            auto inner = co_await tx.savepoint();
            CHECK(inner.is_savepoint());
            co_await conn.execute("INSERT INTO item VALUES ($1)", "inner rolled back");
            co_await inner.rollback();
        }
        {
            auto inner = co_await tx.savepoint();
            // An error inside a savepoint fails only the savepoint.
            std::string state;
            try { co_await conn.query("SELECT 1/0"); } catch (const pgcoro::server_error& e) { state = e.sqlstate(); }
            CHECK(state == "22012");
            CHECK(conn.transaction_state() == pgcoro::transaction_status::failed);
        }  // dropped: rolled back to the savepoint before the next operation
        {
            auto inner = co_await tx.savepoint();
            co_await conn.execute("INSERT INTO item VALUES ($1)", "inner released");
            co_await inner.commit();
        }
        co_await tx.commit();
        auto r = co_await conn.query("SELECT name FROM item ORDER BY name");
        REQUIRE(r.size() == 2);
        CHECK(r[0].get<std::string>(0) == "inner released");
        CHECK(r[1].get<std::string>(0) == "outer");
        co_await conn.close();
    }());
}

TEST_CASE("transaction options reach the server") {
    run([]() -> asio::awaitable<void> {
        auto conn = co_await connect_with_table();
        auto tx = co_await conn.begin({.isolation = pgcoro::isolation_level::serializable, .read_only = true, .deferrable = true});
        auto r = co_await conn.simple_query("SHOW transaction_isolation; SHOW transaction_read_only; SHOW transaction_deferrable");
        CHECK(r.at(0)[0].text(0) == "serializable");
        CHECK(r.at(1)[0].text(0) == "on");
        CHECK(r.at(2)[0].text(0) == "on");
        std::string state;
        // (Temporary tables stay writable in a read-only transaction; a new table is not.)
        try { co_await conn.execute("CREATE TABLE not_allowed(x int)"); } catch (const pgcoro::server_error& e) { state = e.sqlstate(); }
        CHECK(state == "25006");  // read_only_sql_transaction
        co_await tx.rollback();
        CHECK(pgcoro::transaction_options{.isolation = pgcoro::isolation_level::repeatable_read}.begin_statement() ==
              "BEGIN ISOLATION LEVEL REPEATABLE READ");
        co_await conn.close();
    }());
}

TEST_CASE("misuse and failed transactions are reported, never silent") {
    run([]() -> asio::awaitable<void> {
        auto conn = co_await connect_with_table();
        {
            auto tx = co_await conn.begin();
            try { co_await conn.query("SELECT 1/0"); } catch (const pgcoro::server_error&) {}
            std::optional<std::error_code> code;
            try { co_await tx.commit(); } catch (const pgcoro::error& e) { code = e.code(); }
            CHECK(code == std::error_code(pgcoro::errc::transaction_rolled_back));
            CHECK(conn.transaction_state() == pgcoro::transaction_status::idle);
            code.reset();
            try { co_await tx.commit(); } catch (const pgcoro::error& e) { code = e.code(); }
            CHECK(code == std::error_code(pgcoro::errc::invalid_state));
        }
        {
            auto tx = co_await conn.begin();
            std::optional<std::error_code> code;
            try { auto nested = co_await conn.begin(); } catch (const pgcoro::error& e) { code = e.code(); }
            CHECK(code == std::error_code(pgcoro::errc::invalid_state));
            co_await tx.rollback();
        }
        CHECK(conn.is_usable());
        co_await conn.close();
    }());
}

}  // namespace integration_transaction
