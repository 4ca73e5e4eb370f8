// LISTEN/NOTIFY against the real server: notifications reach the user whether
// the connection is idle (wait_for_notification) or busy with a query.
#include "support/test_server.hpp"

#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>

#include <catch2/catch.hpp>

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
