// Concurrent query()/execute() calls on one connection (session/shared_requests.hpp):
// pipelined, answered in order to their own callers, each its own Sync
// segment; exclusive operations wait their turn; cancelled and timed-out
// requests leave the connection in step.
#include "support/pool_helpers.hpp"
#include "support/test_server.hpp"

#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>

#include "support/catch.hpp"

#include <chrono>
#include <cstdint>
#include <optional>
#include <random>
#include <string>

namespace integration_shared {

using test::config_of;
using test::run;
using test::sleep_for;
namespace asio = boost::asio;
using namespace std::chrono_literals;
using namespace asio::experimental::awaitable_operators;

namespace {

const std::string scram = "user=pgcoro_scram password=scram_pw ";

asio::awaitable<pgcoro::connection> connect(std::string extra = "sslmode=disable") {
    co_return co_await pgcoro::connection::connect(config_of(test::tcp_conninfo(scram + extra)));
}

// Many coroutines, many queries each, one connection: every answer checked.
asio::awaitable<void> many_callers_get_their_own_answers(std::string sslmode) {
    auto conn = co_await connect("sslmode=" + sslmode);
    int right = 0, wrong = 0, errors_seen = 0;
    co_await test::run_concurrently(48, [&](int caller) -> asio::awaitable<void> {
        for (int i = 0; i < 60; ++i) {
            const std::int64_t want = caller * 1000 + i;
            auto r = co_await conn.query("SELECT $1::int8, repeat('x', $2)", want, static_cast<std::int32_t>(i % 7));
            if (r.size() == 1 && r[0].get<std::int64_t>(0) == want && r[0].get<std::string>(1).size() == std::size_t(i % 7)) ++right;
            else ++wrong;
            if (i % 20 == caller % 20) {
                // An error in one segment touches no other request.
                try {
                    co_await conn.execute("SELECT 1 / ($1::int4 - $1::int4)", caller);
                } catch (const pgcoro::server_error& e) {
                    if (e.diag().sqlstate == "22012") ++errors_seen;
                }
            }
        }
    });
    CHECK(right == 48 * 60);
    CHECK(wrong == 0);
    CHECK(errors_seen == 48 * 3);
    const auto stats = conn.pipelining();
    CHECK(stats.requests > 48 * 60);
    // Some written together: fewer writes than requests. (How many go
    // together depends on how fast the server answers: each answer it
    // sends alone wakes one caller, whose next request may go alone.)
    CHECK(stats.writes < stats.requests);
    CHECK(stats.peak_owed > 1);
    CHECK(conn.is_usable());
    CHECK((co_await conn.query("SELECT 7"))[0].get<int>(0) == 7);
    co_await conn.close();
}

}  // namespace

TEST_CASE("shared connection: concurrent queries are pipelined and each caller gets its own answer") {
    run(many_callers_get_their_own_answers("disable"));
}

TEST_CASE("shared connection: pipelined over TLS") {
    run(many_callers_get_their_own_answers("require"));
}

TEST_CASE("shared connection: pipelined over a Unix socket") {
    run([]() -> asio::awaitable<void> {
        auto conn = co_await pgcoro::connection::connect(config_of(test::unix_conninfo(scram)));
        int right = 0;
        co_await test::run_concurrently(16, [&](int caller) -> asio::awaitable<void> {
            for (int i = 0; i < 50; ++i)
                right += (co_await conn.query("SELECT $1::int4 + $2::int4", caller, i))[0].get<int>(0) == caller + i;
        });
        CHECK(right == 16 * 50);
        CHECK(conn.pipelining().writes < conn.pipelining().requests);
        co_await conn.close();
    }());
}

// Thousands of requests, each raced against a random timer: those that
// win must carry their own answer, and the connection must stay in step
// whatever was cut short, before or after its request went out.
TEST_CASE("shared connection: random cancellations never desynchronize it") {
    run([]() -> asio::awaitable<void> {
        auto conn = co_await connect();
        auto ex = co_await asio::this_coro::executor;
        int answered = 0, wrong = 0, cancelled = 0, other = 0, unraced = 0;
        co_await test::run_concurrently(32, [&](int caller) -> asio::awaitable<void> {
            std::mt19937 random(static_cast<unsigned>(caller));
            for (int i = 0; i < 200; ++i) {
                const std::int64_t want = caller * 100000 + i;
                pgcoro::result r;
                // Every other request races a timer of up to 5 ms (how many
                // win depends on the machine: a sanitizer build is slower).
                const bool raced = random() % 2 == 0;
                unraced += !raced;
                asio::steady_timer limit(ex, raced ? std::chrono::microseconds(random() % 5000) : std::chrono::hours(1));
                auto query = conn.query_into(r, "SELECT $1::int8, pg_sleep($2::float8 / 1e6)", want,
                                             static_cast<double>(random() % 300));
                auto timer = limit.async_wait(asio::use_awaitable);
                try {
                    auto outcome = co_await (std::move(query) || std::move(timer));
                    if (outcome.index() == 1) {
                        ++cancelled;
                    } else if (r.size() == 1 && r[0].get<std::int64_t>(0) == want) {
                        ++answered;
                    } else {
                        ++wrong;
                    }
                } catch (const pgcoro::error& e) {
                    if (e.code() == pgcoro::errc::cancelled) ++cancelled;
                    else ++other;
                }
            }
        });
        INFO("answered " << answered << ", cancelled " << cancelled);
        CHECK(wrong == 0);
        CHECK(other == 0);
        CHECK(answered + cancelled == 32 * 200);
        CHECK(answered >= unraced);  // nothing cuts those short
        CHECK(cancelled > 0);
        // Some were cut short after they were written: their answers were dropped.
        CHECK(conn.pipelining().dropped_answers > 0);
        CHECK(cancelled > static_cast<int>(conn.pipelining().dropped_answers) - 1);
        REQUIRE(conn.is_open());
        CHECK((co_await conn.query("SELECT $1::int8", std::int64_t{42}))[0].get<std::int64_t>(0) == 42);
        CHECK(conn.is_usable());
        co_await conn.close();
    }());
}

TEST_CASE("shared connection: an exclusive operation waits for the answers owed, and later requests wait for it") {
    run([]() -> asio::awaitable<void> {
        auto conn = co_await connect();
        co_await conn.simple_query("CREATE TEMP TABLE shared_order (n int)");
        int counted = -1;
        co_await test::run_concurrently(2, [&](int who) -> asio::awaitable<void> {
            if (who == 0) {
                for (int i = 0; i < 40; ++i) co_await conn.execute("INSERT INTO shared_order VALUES ($1)", i);
            } else {
                co_await sleep_for(5ms);  // some inserts are pipelined by now
                // simple_query takes the connection alone: after the inserts
                // written before it, before those after it.
                auto before = co_await conn.simple_query("SELECT count(*) FROM shared_order");
                counted = std::stoi(std::string(before.at(0)[0].text(0)));
            }
        });
        CHECK(counted >= 0);
        CHECK(counted <= 40);
        auto all = co_await conn.query("SELECT count(*)::int4 FROM shared_order");
        CHECK(all[0].get<int>(0) == 40);
        co_await conn.close();
    }());
}

TEST_CASE("shared connection: a second operation waits instead of failing") {
    run([]() -> asio::awaitable<void> {
        auto conn = co_await connect();
        int done = 0;
        co_await test::run_concurrently(3, [&](int who) -> asio::awaitable<void> {
            if (who == 0) co_await conn.query("SELECT pg_sleep(0.2)");
            else if (who == 1) co_await conn.prepare("SELECT $1::int4 + 1");  // exclusive: waits its turn
            else co_await conn.simple_query("SELECT 1");
            ++done;
        });
        CHECK(done == 3);
        co_await conn.close();
    }());
}

TEST_CASE("shared connection: a query_timeout gives up on a pipelined request and leaves the others alone") {
    run([]() -> asio::awaitable<void> {
        auto cfg = config_of(test::tcp_conninfo(scram + "sslmode=disable"));
        cfg.query_timeout = 150ms;
        auto conn = co_await pgcoro::connection::connect(cfg);
        // Concurrent queries first, so that the connection is shared (alone,
        // a timed-out query is cancelled on the server: integration_cancel.cpp).
        co_await test::run_concurrently(4, [&](int) -> asio::awaitable<void> {
            for (int i = 0; i < 5; ++i) co_await conn.query("SELECT pg_sleep($1::float8)", 0.0);
        });
        REQUIRE(conn.pipelining().requests > 0);
        int fast = 0;
        std::optional<pgcoro::errc> slow_failure;
        co_await test::run_concurrently(9, [&](int who) -> asio::awaitable<void> {
            if (who == 0) {
                try {
                    co_await conn.query("SELECT pg_sleep($1::float8)", 0.4);  // prepared: pipelined
                } catch (const pgcoro::error& e) {
                    slow_failure = static_cast<pgcoro::errc>(e.code().value());
                }
            } else {
                // Behind the slow one in the pipeline: they wait for it, and may time out too.
                for (int i = 0; i < 5; ++i) {
                    try {
                        fast += (co_await conn.query("SELECT $1::int4", who))[0].get<int>(0) == who;
                    } catch (const pgcoro::error& e) {
                        CHECK(e.code() == pgcoro::errc::timeout);
                    }
                }
            }
        });
        REQUIRE(slow_failure);
        CHECK(*slow_failure == pgcoro::errc::timeout);
        CHECK(fast > 0);
        // The connection stays in step: its next answers are right.
        CHECK((co_await conn.query("SELECT $1::int4", 99))[0].get<int>(0) == 99);
        CHECK(conn.pipelining().dropped_answers >= 1);
        co_await conn.close();
    }());
}

TEST_CASE("shared connection: max_pipelined_requests bounds the answers owed") {
    run([]() -> asio::awaitable<void> {
        auto cfg = config_of(test::tcp_conninfo(scram + "sslmode=disable"));
        cfg.max_pipelined_requests = 3;
        auto conn = co_await pgcoro::connection::connect(cfg);
        int right = 0;
        co_await test::run_concurrently(20, [&](int who) -> asio::awaitable<void> {
            for (int i = 0; i < 10; ++i) right += (co_await conn.query("SELECT $1::int4", who))[0].get<int>(0) == who;
        });
        CHECK(right == 200);
        CHECK(conn.pipelining().peak_owed == 3);
        co_await conn.close();
    }());
}

TEST_CASE("shared connection: requests in flight when the server ends the session all fail, none hangs") {
    run([]() -> asio::awaitable<void> {
        auto conn = co_await connect();
        auto admin = co_await connect();
        const auto pid = conn.backend_pid();
        int failed = 0, answered = 0;
        co_await test::run_concurrently(17, [&](int who) -> asio::awaitable<void> {
            if (who == 0) {
                co_await sleep_for(50ms);
                co_await admin.query("SELECT pg_terminate_backend($1)", pid);
                co_return;
            }
            try {
                co_await conn.query("SELECT pg_sleep(0.5)");
                ++answered;
            } catch (const pgcoro::error&) {
                ++failed;
            }
        });
        CHECK(failed == 16);
        CHECK(answered == 0);
        CHECK_FALSE(conn.is_open());
        co_await conn.close();
        co_await admin.close();
    }());
}

TEST_CASE("pool.query: many coroutines share few connections, every answer checked") {
    run([]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        pgcoro::pool pool(ex, config_of(test::tcp_conninfo(scram + "sslmode=disable application_name=pool_query_test")),
                          {.max_size = 4});
        int right = 0, errors = 0;
        co_await test::run_concurrently(64, [&](int caller) -> asio::awaitable<void> {
            for (int i = 0; i < 40; ++i) {
                const std::int64_t want = caller * 1000 + i;
                right += (co_await pool.query("SELECT $1::int8", want))[0].get<std::int64_t>(0) == want;
                if (i == caller % 40) {
                    try {
                        co_await pool.execute("SELECT 1 / 0");
                    } catch (const pgcoro::server_error& e) {
                        errors += e.diag().sqlstate == "22012";
                    }
                }
            }
        });
        CHECK(right == 64 * 40);
        CHECK(errors == 64);
        auto backends = co_await pool.query("SELECT count(*)::int4 FROM pg_stat_activity WHERE application_name = 'pool_query_test'");
        CHECK(backends[0].get<int>(0) <= 4);
        CHECK(pool.stats().size <= 4);
        co_await pool.close();
        CHECK(pool.stats().size == 0);
    }());
}

TEST_CASE("pool.query: a generation bump under load fails no query and retires the old connections") {
    run([]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        pgcoro::pool pool(ex, config_of(test::tcp_conninfo(scram + "sslmode=disable")), {.max_size = 3});
        int right = 0;
        std::uint64_t bumped = 0;
        co_await test::run_concurrently(24, [&](int caller) -> asio::awaitable<void> {
            for (int i = 0; i < 60; ++i) {
                if (caller == 0 && i == 20) bumped = pool.bump();
                right += (co_await pool.query("SELECT $1::int4", i))[0].get<int>(0) == i;
            }
        });
        CHECK(right == 24 * 60);
        REQUIRE(bumped == 2);
        co_await pool.retired(bumped);
        for (auto [generation, open] : pool.stats().per_generation) CHECK(generation == bumped);
        co_await pool.close();
    }());
}

}  // namespace integration_shared
