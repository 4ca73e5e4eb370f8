// LISTEN/NOTIFY against the real server: notifications reach the user whether
// the connection is idle (wait_for_notification) or busy with a query.
#include "support/test_server.hpp"

#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>

#include "support/catch.hpp"

namespace integration_notify {

using test::config_of;
using test::run;
using test::sleep_for;
namespace asio = boost::asio;
using namespace std::chrono_literals;
using namespace asio::experimental::awaitable_operators;

namespace {

asio::awaitable<pgcoro::connection> connect() {
    co_return co_await pgcoro::connection::connect(
        config_of(test::tcp_conninfo("user=pgcoro_scram password=scram_pw sslmode=disable")));
}

}  // namespace

TEST_CASE("a notification wakes a connection waiting for one") {
    run([]() -> asio::awaitable<void> {
        auto listener = co_await connect();
        auto sender = co_await connect();
        co_await listener.simple_query("LISTEN jobs");
        auto ex = co_await asio::this_coro::executor;
        asio::co_spawn(ex, [&]() -> asio::awaitable<void> {
            co_await sleep_for(100ms);
            co_await sender.execute("SELECT pg_notify($1, $2)", "jobs", "job 1");
        }, asio::detached);
        const auto n = co_await listener.wait_for_notification();
        CHECK(n.channel == "jobs");
        CHECK(n.payload == "job 1");
        CHECK(n.process_id == sender.backend_pid());
        CHECK(listener.is_usable());
        co_await listener.close();
        co_await sender.close();
    }());
}

TEST_CASE("a notification sent while the listener runs a query is delivered") {
    run([]() -> asio::awaitable<void> {
        auto listener = co_await connect();
        auto sender = co_await connect();
        co_await listener.simple_query("LISTEN events");
        auto ex = co_await asio::this_coro::executor;
        asio::co_spawn(ex, [&]() -> asio::awaitable<void> {
            co_await sleep_for(100ms);
            co_await sender.simple_query("NOTIFY events, 'during the query'");
        }, asio::detached);
        auto r = co_await listener.query("SELECT 1 FROM pg_sleep(0.5)");
        CHECK(r[0].get<int>(0) == 1);
        REQUIRE(listener.notifications().size() == 1);
        const auto n = co_await listener.wait_for_notification();  // already received: returns at once
        CHECK(n.payload == "during the query");
        CHECK(listener.notifications().empty());
        co_await listener.close();
        co_await sender.close();
    }());
}

TEST_CASE("waiting for a notification can be cancelled and leaves the connection usable") {
    run([]() -> asio::awaitable<void> {
        auto listener = co_await connect();
        co_await listener.simple_query("LISTEN quiet");
        const auto start = std::chrono::steady_clock::now();
        auto outcome = co_await (listener.wait_for_notification() || sleep_for(150ms));
        CHECK(outcome.index() == 1);
        CHECK(std::chrono::steady_clock::now() - start < 1s);
        REQUIRE(listener.is_usable());
        CHECK((co_await listener.query("SELECT 6"))[0].get<int>(0) == 6);
        co_await listener.close();
    }());
}

TEST_CASE("notifications beyond max_pending_notifications are dropped, reported once, and the connection goes on") {
    run([]() -> asio::awaitable<void> {
        auto cfg = config_of(test::tcp_conninfo("user=pgcoro_scram password=scram_pw sslmode=disable"));
        cfg.max_pending_notifications = 10;
        auto listener = co_await pgcoro::connection::connect(cfg);
        auto sender = co_await connect();
        co_await listener.simple_query("LISTEN burst");
        co_await sender.simple_query("SELECT pg_notify('burst', g::text) FROM generate_series(1, 50) g");
        // The 50 arrive while this query runs.
        co_await listener.simple_query("SELECT pg_sleep(0.3)");
        CHECK(listener.notifications().size() == 10);
        for (int i = 1; i <= 10; ++i) {
            const auto n = co_await listener.wait_for_notification();
            CHECK(n.payload == std::to_string(i));
        }
        try {
            co_await listener.wait_for_notification();
            FAIL("the dropped notifications were not reported");
        } catch (const pgcoro::error& e) {
            CHECK(e.code() == pgcoro::errc::notifications_dropped);
            CHECK_THAT(e.what(), Catch::Contains("40 notifications were dropped"));
        }
        // Reported once; later ones arrive as before.
        co_await sender.simple_query("NOTIFY burst, 'after'");
        const auto after = co_await listener.wait_for_notification();
        CHECK(after.payload == "after");
        co_await listener.close();
        co_await sender.close();
    }());
}

TEST_CASE("a listener whose session dropped notifications says so and keeps listening") {
    run([]() -> asio::awaitable<void> {
        auto cfg = config_of(test::tcp_conninfo("user=pgcoro_scram password=scram_pw sslmode=disable"));
        cfg.max_pending_notifications = 5;
        pgcoro::pool pool(co_await asio::this_coro::executor, cfg, {.max_size = 1});
        pgcoro::listener listener(pool);
        co_await listener.listen("many");
        const auto pid = listener.backend_pid();
        auto sender = co_await connect();
        co_await sender.simple_query("SELECT pg_notify('many', g::text) FROM generate_series(1, 20) g");
        // Between next() calls the session reads one notification at a time;
        // a LISTEN of its own reads all that wait, and keeps five.
        co_await sleep_for(200ms);
        co_await listener.listen("more");
        std::vector<std::string> got;
        bool dropped = false;
        for (int i = 0; i < 6; ++i) {
            auto e = co_await listener.next();
            if (e.what == pgcoro::listener_event::kind::notification) got.push_back(e.notification.payload);
            if (e.what == pgcoro::listener_event::kind::dropped) {
                dropped = true;
                CHECK_THAT(e.cause, Catch::Contains("15 notifications were dropped"));
            }
            CHECK(e.what != pgcoro::listener_event::kind::reconnected);
        }
        CHECK(got == std::vector<std::string>{"1", "2", "3", "4", "5"});
        CHECK(dropped);
        CHECK(listener.backend_pid() == pid);  // the same session, not a reconnect
        co_await sender.simple_query("NOTIFY many, 'later'");
        auto e = co_await listener.next();
        CHECK(e.notification.payload == "later");
        co_await sender.close();
        co_await listener.close();
        co_await pool.close();
    }());
}

}  // namespace integration_notify
