// Cancellation and timeouts: a cancelled query is cancelled on the server and
// the connection drained back to ReadyForQuery; a cancelled connect leaves no
// socket behind.
#include "support/fake_server.hpp"
#include "support/test_server.hpp"

#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/steady_timer.hpp>

#include "support/catch.hpp"

#include <chrono>

namespace integration_cancel {

using test::config_of;
using test::run;
using test::sleep_for;
namespace asio = boost::asio;
using namespace std::chrono_literals;
using namespace asio::experimental::awaitable_operators;

namespace {

// Races a long query against a short timer over the given sslmode. The
// timer wins; `||` discards the loser's outcome, so what matters is how fast
// it returns and the state the connection is left in.
asio::awaitable<void> cancelled_sleep_leaves_connection_usable(std::string sslmode) {
    auto conn = co_await pgcoro::connection::connect(
        config_of(test::tcp_conninfo("user=pgcoro_scram password=scram_pw sslmode=" + sslmode)));
    const auto start = std::chrono::steady_clock::now();
    auto outcome = co_await (conn.query("SELECT pg_sleep(10)") || sleep_for(200ms));
    const auto elapsed = std::chrono::steady_clock::now() - start;
    CHECK(outcome.index() == 1);
    CHECK(elapsed < 1s);
    REQUIRE(conn.is_usable());
    CHECK((co_await conn.query("SELECT 7"))[0].get<int>(0) == 7);
    CHECK(conn.transaction_state() == pgcoro::transaction_status::idle);
    co_await conn.close();
}

}  // namespace

TEST_CASE("a pg_sleep(10) cancelled by a timer returns within a second and the connection stays usable") {
    SECTION("plaintext") { run(cancelled_sleep_leaves_connection_usable("disable")); }
    SECTION("TLS") { run(cancelled_sleep_leaves_connection_usable("require")); }
}

TEST_CASE("per-operation cancellation through a cancellation slot reports errc::cancelled") {
    run([&]() -> asio::awaitable<void> {
        auto conn = co_await pgcoro::connection::connect(config_of(test::tcp_conninfo("user=pgcoro_scram password=scram_pw sslmode=disable")));
        auto ex = co_await asio::this_coro::executor;
        asio::cancellation_signal signal;
        std::optional<std::exception_ptr> done;
        asio::co_spawn(ex, conn.query("SELECT pg_sleep(10)"),
                       asio::bind_cancellation_slot(signal.slot(), [&](std::exception_ptr e, pgcoro::result) { done = e; }));
        co_await sleep_for(200ms);
        const auto start = std::chrono::steady_clock::now();
        signal.emit(asio::cancellation_type::terminal);
        while (!done) co_await sleep_for(5ms);
        CHECK(std::chrono::steady_clock::now() - start < 1s);
        REQUIRE(*done);
        try {
            std::rethrow_exception(*done);
        } catch (const pgcoro::error& e) {
            CHECK(e.code() == pgcoro::errc::cancelled);
            CHECK_THAT(e.what(), Catch::Contains("usable"));
        }
        CHECK(conn.is_usable());
        CHECK((co_await conn.query("SELECT 8"))[0].get<int>(0) == 8);
        co_await conn.close();
    }());
}

TEST_CASE("cancel() from another coroutine ends the query with SQLSTATE 57014") {
    run([&]() -> asio::awaitable<void> {
        auto conn = co_await pgcoro::connection::connect(config_of(test::tcp_conninfo("user=pgcoro_scram password=scram_pw sslmode=require")));
        auto ex = co_await asio::this_coro::executor;
        asio::co_spawn(ex, [&]() -> asio::awaitable<void> {
            co_await sleep_for(200ms);
            co_await conn.cancel();
        }, asio::detached);
        const auto start = std::chrono::steady_clock::now();
        std::string state;
        try {
            co_await conn.query("SELECT pg_sleep(10)");
        } catch (const pgcoro::server_error& e) {
            state = e.sqlstate();
        }
        CHECK(state == "57014");
        CHECK(std::chrono::steady_clock::now() - start < 2s);
        CHECK((co_await conn.query("SELECT 1"))[0].get<int>(0) == 1);
        co_await conn.close();
    }());
}

TEST_CASE("a cancelled transaction block is left failed, not silently committed") {
    run([&]() -> asio::awaitable<void> {
        auto conn = co_await pgcoro::connection::connect(config_of(test::tcp_conninfo("user=pgcoro_scram password=scram_pw sslmode=disable")));
        co_await conn.query("BEGIN");
        co_await (conn.query("SELECT pg_sleep(10)") || sleep_for(100ms));
        REQUIRE(conn.is_usable());
        CHECK(conn.transaction_state() == pgcoro::transaction_status::failed);
        co_await conn.query("ROLLBACK");
        co_await conn.close();
    }());
}

TEST_CASE("a cancelled connect leaves no socket behind") {
    run([&]() -> asio::awaitable<void> {
        bool peer_saw_close = false;
        const auto port = co_await test::start_fake_server([&](test::tcp::socket& s) -> asio::awaitable<void> {
            try {
                co_await test::wait_for_hangup(s);
            } catch (const boost::system::system_error& e) {
                peer_saw_close = e.code() == asio::error::eof || e.code() == asio::error::connection_reset;
            }
        });
        auto cfg = config_of("host=127.0.0.1 port=" + std::to_string(port) + " dbname=x user=x sslmode=disable");
        auto outcome = co_await (pgcoro::connection::connect(cfg) || sleep_for(200ms));
        CHECK(outcome.index() == 1);
        co_await sleep_for(100ms);
        CHECK(peer_saw_close);
    }());
}

TEST_CASE("query_timeout cancels a slow query on the server and reports its 57014") {
    run([&]() -> asio::awaitable<void> {
        auto cfg = config_of(test::tcp_conninfo("user=pgcoro_scram password=scram_pw sslmode=disable"));
        cfg.query_timeout = 300ms;
        auto conn = co_await pgcoro::connection::connect(cfg);
        const auto start = std::chrono::steady_clock::now();
        std::string state;
        try {
            co_await conn.query("SELECT pg_sleep(10)");
        } catch (const pgcoro::server_error& e) {
            state = e.sqlstate();
        }
        const auto elapsed = std::chrono::steady_clock::now() - start;
        CHECK(state == "57014");
        CHECK(elapsed >= 300ms);
        CHECK(elapsed < 2s);
        REQUIRE(conn.is_usable());
        CHECK((co_await conn.query("SELECT 3"))[0].get<int>(0) == 3);  // fast queries are unaffected
        conn.set_query_timeout(0ms);
        CHECK((co_await conn.query("SELECT 4 FROM pg_sleep(0.4)"))[0].get<int>(0) == 4);
        co_await conn.close();
    }());
}

}  // namespace integration_cancel
