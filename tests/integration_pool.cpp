// The pool against the real server: load, generations and credential
// rotation, connects racing bumps, timeouts and cancellation without leaks,
// lifetimes, resets on return, broken connections, close.
#include "support/pool_helpers.hpp"
#include "support/test_server.hpp"

#include <boost/asio/experimental/awaitable_operators.hpp>
#include "support/catch.hpp"

#include <pgcoro/pool.hpp>

#include <set>

namespace integration_pool {

using test::config_of;
using test::run;
using test::sleep_for;
namespace asio = boost::asio;
using namespace asio::experimental::awaitable_operators;
using namespace std::chrono_literals;

namespace {

pgcoro::config scram_config() { return test::pool_test_config(); }
using test::admin;
using test::backend_pid;
using test::run_concurrently;

}  // namespace

TEST_CASE("pool: 200 coroutines over max_size 8 run 10,000 queries without an error") {
    run([]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, scram_config(), {.max_size = 8});
        std::atomic<int> done{0};
        std::size_t most_open = 0;
        co_await run_concurrently(200, [&](int worker) -> asio::awaitable<void> {
            for (int i = 0; i < 50; ++i) {
                auto conn = co_await pool.acquire();
                auto r = co_await conn->query("SELECT $1::int4 + $2::int4", worker, i);
                if (r[0].get<int>(0) != worker + i) throw std::logic_error("wrong result");
                ++done;
                most_open = std::max(most_open, pool.stats().size);
            }
        });
        CHECK(done == 10'000);
        CHECK(most_open <= 8);
        const auto s = pool.stats();
        CHECK(s.in_use == 0);
        CHECK(s.waiting == 0);
        CHECK(s.acquires == 10'000u);
        CHECK(s.size <= 8);
        co_await pool.close();
        CHECK(pool.stats().size == 0);
    }());
}

TEST_CASE("pool: credentials rotated under load; after update() no query runs on an old session") {
    run([]() -> asio::awaitable<void> {
        auto root = co_await admin();
        co_await root.simple_query("ALTER ROLE pgcoro_rotating PASSWORD 'rotate_pw'");
        auto cfg = config_of(test::tcp_conninfo("user=pgcoro_rotating password=rotate_pw sslmode=disable"));
        pgcoro::pool pool(co_await asio::this_coro::executor, cfg, {.max_size = 8});

        std::set<std::int32_t> old_pids;
        std::set<std::int32_t> new_pids;
        bool updated = false;
        std::uint64_t new_generation = 0;
        int stale_after_update = 0;
        int queries = 0;
        co_await run_concurrently(101, [&](int worker) -> asio::awaitable<void> {
            if (worker == 100) {  // the rotation, in the middle of the load
                co_await sleep_for(200ms);
                co_await root.simple_query("ALTER ROLE pgcoro_rotating PASSWORD 'rotate_pw_2'");
                auto rotated = cfg;
                rotated.password = "rotate_pw_2";
                new_generation = co_await pool.update(rotated);
                updated = true;
                co_return;
            }
            for (int i = 0; i < 40; ++i) {
                const bool after = updated;  // decided before the checkout
                auto conn = co_await pool.acquire();
                const auto pid = co_await backend_pid(conn);
                ++queries;
                if (conn.generation() == 1) old_pids.insert(pid);
                else new_pids.insert(pid);
                if (after && (conn.generation() != new_generation || old_pids.count(pid))) ++stale_after_update;
                co_await sleep_for(5ms);
            }
        });
        CHECK(queries == 4000);
        CHECK(new_generation == 2);
        CHECK_FALSE(old_pids.empty());
        CHECK_FALSE(new_pids.empty());
        CHECK(stale_after_update == 0);
        for (auto pid : new_pids) CHECK(old_pids.count(pid) == 0);
        // Old sessions retire as they come back; all are back now.
        co_await pool.retired(new_generation);
        CHECK(pool.stats().per_generation.count(1) == 0);
        co_await sleep_for(200ms);  // Terminate was sent; the server takes a moment to reap the backends
        auto still_open = co_await root.query(
            "SELECT count(*) FROM pg_stat_activity WHERE usename = 'pgcoro_rotating' AND pid = ANY($1)",
            std::vector<std::int32_t>(old_pids.begin(), old_pids.end()));
        CHECK(still_open[0].get<std::int64_t>(0) == 0);
        co_await pool.close();
        co_await root.simple_query("ALTER ROLE pgcoro_rotating PASSWORD 'rotate_pw'");
        co_await root.close();
    }());
}

TEST_CASE("pool: a failed update() probe keeps the old generation working") {
    run([]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, scram_config(), {.max_size = 2});
        {
            auto conn = co_await pool.acquire();
            CHECK(conn.generation() == 1);
        }
        auto wrong = scram_config();
        wrong.password = "not the password";
        std::string sqlstate;
        try {
            co_await pool.update(wrong);
        } catch (const pgcoro::server_error& e) {
            sqlstate = e.sqlstate();
        }
        CHECK(sqlstate == "28P01");
        CHECK(pool.generation() == 1);
        auto conn = co_await pool.acquire();
        CHECK(conn.generation() == 1);
        CHECK((co_await conn->query("SELECT 1"))[0].get<int>(0) == 1);
        conn.release();
        co_await pool.close();
    }());
}

TEST_CASE("pool: a bump racing an in-flight connect never yields an old-generation connection") {
    run([]() -> asio::awaitable<void> {
        int connects_started = 0;
        pgcoro::pool_options options{.max_size = 2};
        options.before_connect = [&](pgcoro::config&) -> asio::awaitable<void> {
            if (++connects_started == 1) co_await sleep_for(300ms);  // the first connect is slow
        };
        pgcoro::pool pool(co_await asio::this_coro::executor, scram_config(), options);
        std::uint64_t bumped = 0;
        co_await run_concurrently(2, [&](int i) -> asio::awaitable<void> {
            if (i == 1) {
                co_await sleep_for(100ms);  // while the first connect is in flight
                bumped = pool.bump();
                co_return;
            }
            auto conn = co_await pool.acquire();
            CHECK(conn.generation() == 2);
        });
        CHECK(bumped == 2);
        CHECK(connects_started >= 2);
        CHECK(pool.stats().closed(pgcoro::close_reason::generation) >= 1);  // the stale one, discarded
        co_await pool.close();
    }());
}

TEST_CASE("pool: a connection handed to a waiting acquire just before a bump is not what it returns") {
    // max_size 1: the waiter is served by the return, and the bump commits
    // before the waiter resumes. It must not get the old session. The
    // waiter runs on a strand, so its wake-up is posted there; one on the
    // io_context itself resumes inside the return, before the bump: its
    // checkout came first, and the old session retires when it comes back.
    run([]() -> asio::awaitable<void> {
        const auto ex = co_await asio::this_coro::executor;
        pgcoro::pool pool(ex, scram_config(), {.max_size = 1});
        int stale = 0, served_before_bump = 0;
        for (int round = 0; round < 40; ++round) {
            const bool on_strand = round % 2 == 0;
            auto first = co_await pool.acquire();
            const auto first_pid = co_await backend_pid(first);
            const auto first_generation = first.generation();
            std::uint64_t bumped = 0;
            bool done = false;
            std::exception_ptr failure;
            asio::co_spawn(on_strand ? asio::any_io_executor(asio::make_strand(ex)) : ex,
                           [&]() -> asio::awaitable<void> {
                               auto second = co_await pool.acquire();
                               const bool before_bump = bumped == 0;
                               const auto pid = co_await backend_pid(second);
                               if (on_strand && (before_bump || second.generation() != bumped || pid == first_pid)) ++stale;
                               if (!on_strand && before_bump && second.generation() == first_generation && pid == first_pid)
                                   ++served_before_bump;
                           },
                           [&](std::exception_ptr e) {
                               failure = e;
                               done = true;
                           });
            for (int i = 0; i < 2000 && pool.stats().waiting == 0; ++i) co_await sleep_for(1ms);
            first.release();        // handed to it ...
            bumped = pool.bump();   // ... and bumped before it runs, unless it ran inside release()
            for (int i = 0; i < 5000 && !done; ++i) co_await sleep_for(1ms);
            REQUIRE(done);
            if (failure) std::rethrow_exception(failure);
        }
        CHECK(stale == 0);
        CHECK(served_before_bump == 20);
        CHECK(pool.stats().closed(pgcoro::close_reason::generation) >= 40);
        co_await pool.close();
    }());
}

TEST_CASE("pool: update() to working settings after failed connects refills min_idle at once") {
    run([]() -> asio::awaitable<void> {
        auto wrong = scram_config();
        wrong.password = "not the password";
        // Failures back off for seconds: 2 s, then 4 s (each cut by jitter to no less than half).
        pgcoro::pool pool(co_await asio::this_coro::executor, wrong,
                          {.max_size = 4, .min_idle = 2, .backoff_initial = 2000ms, .backoff_max = 20'000ms});
        while (pool.stats().connect_failures < 2) co_await sleep_for(10ms);
        co_await pool.update(scram_config());  // its probe is the first idle connection
        const auto updated = std::chrono::steady_clock::now();
        while (pool.stats().idle < 2 && std::chrono::steady_clock::now() - updated < 5s) co_await sleep_for(10ms);
        const auto refilled = std::chrono::steady_clock::now() - updated;
        CHECK(pool.stats().idle == 2);
        // The back-off of the old settings would hold the second connect for 1 to 4 s.
        CHECK(refilled < 900ms);
        co_await pool.close();
    }());
}

TEST_CASE("pool: an unreachable server gives a timely acquire error with the cause, and backs off") {
    run([]() -> asio::awaitable<void> {
        // No server socket in a directory that does not exist: refused at once.
        auto cfg = config_of("host=/nonexistent-pgcoro-dir port=5432 user=nobody connect_timeout=2");
        pgcoro::pool pool(co_await asio::this_coro::executor, cfg,
                          {.max_size = 4, .acquire_timeout = 1500ms, .backoff_initial = 100ms, .backoff_max = 1000ms});
        std::string message;
        std::optional<pgcoro::errc> code;
        const auto started = std::chrono::steady_clock::now();
        try {
            auto conn = co_await pool.acquire();
        } catch (const pgcoro::error& e) {
            code = static_cast<pgcoro::errc>(e.code().value());
            message = e.what();
        }
        const auto waited = std::chrono::steady_clock::now() - started;
        CHECK(code == pgcoro::errc::timeout);
        CHECK(waited >= 1400ms);
        CHECK(waited < 2500ms);
        CHECK(message.find("last connect error") != std::string::npos);
        CHECK(message.find("/nonexistent-pgcoro-dir/.s.PGSQL.5432") != std::string::npos);
        // 100, 200, 400, 800 ms (each shortened by jitter): a handful of attempts, not a loop.
        const auto failures = pool.stats().connect_failures;
        CHECK(failures >= 3);
        CHECK(failures <= 12);
        co_await pool.close(1s);
    }());
}

TEST_CASE("pool: timed-out and cancelled acquires never leak or strand a connection") {
    run([]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, scram_config(), {.max_size = 1, .acquire_timeout = 200ms});
        auto held = co_await pool.acquire();
        int timeouts = 0, cancels = 0;
        co_await run_concurrently(20, [&](int i) -> asio::awaitable<void> {
            try {
                if (i % 2 == 0) {
                    auto conn = co_await pool.acquire();  // times out
                } else {
                    auto outcome = co_await (pool.acquire() || sleep_for(50ms));  // cancelled by the timer
                    if (outcome.index() == 1) ++cancels;
                }
            } catch (const pgcoro::error& e) {
                if (e.code() == pgcoro::errc::timeout) ++timeouts;
            }
        });
        CHECK(timeouts == 10);
        CHECK(cancels == 10);
        auto s = pool.stats();
        CHECK(s.waiting == 0);
        CHECK(s.in_use == 1);
        held.release();
        s = pool.stats();
        CHECK(s.in_use == 0);
        CHECK(s.idle == 1);
        // The one connection is handed out again, to a waiter racing a release.
        auto again = co_await pool.acquire();
        CHECK((co_await again->query("SELECT 2"))[0].get<int>(0) == 2);
        again.release();
        co_await pool.close();
    }());
}

TEST_CASE("pool: waiters reused across hand-overs, timeouts and cancellations; every answer right, each acquire counted once") {
    run([]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, scram_config(), {.max_size = 2, .acquire_timeout = 50ms});
        int served = 0, used = 0, timeouts = 0, cancelled = 0, wrong = 0;
        // Counted as soon as acquire() returns, even when the timer has won
        // the race meanwhile and the connection goes straight back.
        auto acquire_counted = [&]() -> asio::awaitable<pgcoro::pooled_connection> {
            auto conn = co_await pool.acquire();
            ++served;
            co_return conn;
        };
        co_await run_concurrently(24, [&](int i) -> asio::awaitable<void> {
            for (int round = 0; round < 25; ++round) {
                try {
                    std::optional<pgcoro::pooled_connection> conn;
                    if (i % 3 == 0) {
                        // Mostly shorter than the wait behind the others, sometimes not.
                        auto outcome = co_await (acquire_counted() || sleep_for(std::chrono::milliseconds(1 + round % 12)));
                        if (outcome.index() == 1) {
                            ++cancelled;
                            continue;
                        }
                        conn.emplace(std::move(std::get<0>(outcome)));
                    } else {
                        conn.emplace(co_await acquire_counted());
                    }
                    const int v = i * 100 + round;
                    if ((co_await (*conn)->query("SELECT $1::int", v))[0].get<int>(0) != v) ++wrong;
                    ++used;
                    // Two holders at once outlast acquire_timeout: whoever waits then times out.
                    if (i % 8 == 0 && round % 5 == 0) co_await sleep_for(60ms);
                } catch (const pgcoro::error& e) {
                    if (e.code() != pgcoro::errc::timeout) throw;
                    ++timeouts;
                }
            }
        });
        CHECK(wrong == 0);
        CHECK(timeouts > 0);
        CHECK(cancelled > 0);
        CHECK(used + timeouts + cancelled == 24 * 25);
        CHECK(served >= used);  // and the rest were served as the timer won
        const auto s = pool.stats();
        CHECK(s.acquires == static_cast<std::uint64_t>(served));
        CHECK(s.acquire_timeouts == static_cast<std::uint64_t>(timeouts));
        CHECK(s.waiting == 0);
        CHECK(s.in_use == 0);
        CHECK(s.acquire_wait_max > 0ns);
        CHECK(s.acquire_wait_total >= s.acquire_wait_max);
        co_await pool.close();
    }());
}

TEST_CASE("pool: a waiter served by a return resumes inside the return, a few levels deep at most") {
    run([]() -> asio::awaitable<void> {
        const auto ex = co_await asio::this_coro::executor;
        pgcoro::pool pool(ex, scram_config(), {.max_size = 1});
        const auto until_waiting = [&](std::size_t n) -> asio::awaitable<void> {
            for (int i = 0; i < 2000 && pool.stats().waiting != n; ++i) co_await sleep_for(1ms);
            REQUIRE(pool.stats().waiting == n);
        };

        // One waiter on this io_context: it has the connection, and has run
        // its first query's request out, by the time release() returns.
        auto held = co_await pool.acquire();
        bool served = false;
        int answer = 0;
        asio::co_spawn(ex, [&]() -> asio::awaitable<void> {
            auto conn = co_await pool.acquire();
            served = true;
            answer = (co_await conn->query("SELECT 7"))[0].get<int>(0);
        }, asio::detached);
        co_await until_waiting(1);
        held.release();
        CHECK(served);
        CHECK(answer == 0);  // its query's answer has not come yet
        for (int i = 0; i < 2000 && answer == 0; ++i) co_await sleep_for(1ms);
        CHECK(answer == 7);

        // 50 waiters that each give the connection back at once: each return
        // serves the next inside it, four deep, then the next is posted.
        held = co_await pool.acquire();
        int done = 0;
        for (int i = 0; i < 50; ++i)
            asio::co_spawn(ex, [&]() -> asio::awaitable<void> {
                auto conn = co_await pool.acquire();
                ++done;
            }, asio::detached);
        co_await until_waiting(50);
        held.release();
        CHECK(done == 4);
        for (int i = 0; i < 2000 && done < 50; ++i) co_await sleep_for(1ms);
        CHECK(done == 50);

        // A waiter on a strand is posted to it, as before.
        held = co_await pool.acquire();
        served = false;
        asio::co_spawn(asio::make_strand(ex), [&]() -> asio::awaitable<void> {
            auto conn = co_await pool.acquire();
            served = true;
        }, asio::detached);
        co_await until_waiting(1);
        held.release();
        CHECK_FALSE(served);
        for (int i = 0; i < 2000 && !served; ++i) co_await sleep_for(1ms);
        CHECK(served);

        const auto s = pool.stats();
        CHECK(s.in_use == 0);
        CHECK(s.waiting == 0);
        CHECK(s.acquires == 55u);
        co_await pool.close();
    }());
}

TEST_CASE("pool: a connection returned mid-transaction is rolled back; a broken one is replaced") {
    run([]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, scram_config(), {.max_size = 1, .health_check_after = 0ms});
        std::int32_t first_pid = 0;
        {
            auto conn = co_await pool.acquire();
            first_pid = co_await backend_pid(conn);
            co_await conn->simple_query("BEGIN; CREATE TEMP TABLE IF NOT EXISTS left_open(n int)");
            CHECK(conn->transaction_state() == pgcoro::transaction_status::in_transaction);
        }
        {
            auto conn = co_await pool.acquire();
            CHECK(co_await backend_pid(conn) == first_pid);  // same session, reused...
            CHECK(conn->transaction_state() == pgcoro::transaction_status::idle);  // ...rolled back
            auto exists = co_await conn->query("SELECT to_regclass('left_open') IS NULL");
            CHECK(exists[0].get<bool>(0));
        }
        // Killed while idle in the pool: the checkout check replaces it unseen.
        auto root = co_await admin();
        co_await root.query("SELECT pg_terminate_backend($1)", first_pid);
        co_await sleep_for(100ms);
        {
            auto conn = co_await pool.acquire();
            const auto pid = co_await backend_pid(conn);
            CHECK(pid != first_pid);
        }
        CHECK(pool.stats().closed(pgcoro::close_reason::health_check) == 1);
        co_await root.close();
        co_await pool.close();
    }());
}

TEST_CASE("pool: lifetime jitter spreads expirations") {
    run([]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, scram_config(),
                          {.max_size = 32, .max_lifetime = 2000ms, .lifetime_jitter = 0.5});
        {
            std::vector<pgcoro::pooled_connection> all;
            for (int i = 0; i < 32; ++i) all.push_back(co_await pool.acquire());
        }
        CHECK(pool.stats().idle == 32);
        // Lifetimes are spread over [1000, 2000] ms: some have ended, not all.
        co_await sleep_for(1600ms);
        const auto expired = pool.stats().closed(pgcoro::close_reason::lifetime);
        CHECK(expired > 0);
        CHECK(expired < 32);
        co_await sleep_for(700ms);
        CHECK(pool.stats().closed(pgcoro::close_reason::lifetime) == 32);
        co_await pool.close();
    }());
}

TEST_CASE("pool: close() refuses new acquires and ends every session with Terminate") {
    run([]() -> asio::awaitable<void> {
        auto root = co_await admin();
        pgcoro::pool pool(co_await asio::this_coro::executor, scram_config(), {.max_size = 4, .min_idle = 3});
        while (pool.stats().idle < 3) co_await sleep_for(20ms);  // min_idle warms up in the background
        auto count = [&]() -> asio::awaitable<std::int64_t> {
            auto r = co_await root.query("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'pgcoro_pool_test'");
            co_return r[0].get<std::int64_t>(0);
        };
        CHECK(co_await count() == 3);
        auto held = co_await pool.acquire();
        bool closed = false;
        co_await run_concurrently(2, [&](int i) -> asio::awaitable<void> {
            if (i == 0) {
                co_await pool.close(5s);
                closed = true;
                co_return;
            }
            co_await sleep_for(100ms);
            bool refused = false;
            try {
                co_await pool.acquire();
            } catch (const pgcoro::error& e) {
                refused = e.code() == pgcoro::errc::pool_closed;
            }
            CHECK(refused);
            CHECK_FALSE(closed);  // still waiting for the checked-out one
            held.release();
        });
        CHECK(closed);
        co_await sleep_for(100ms);
        CHECK(co_await count() == 0);
        co_await root.close();
    }());
}

TEST_CASE("pool: a connection still out when the pool is destroyed keeps working, and closes when returned") {
    run([]() -> asio::awaitable<void> {
        auto root = co_await admin();
        auto pool = std::make_unique<pgcoro::pool>(co_await asio::this_coro::executor, scram_config(),
                                                   pgcoro::pool_options{.max_size = 2});
        auto conn = co_await pool->acquire();
        const auto pid = co_await backend_pid(conn);
        pool.reset();  // the pool object goes; what it lent keeps the pool's core
        auto r = co_await conn->query("SELECT 40 + 2");
        CHECK(r[0].get<std::int32_t>(0) == 42);
        conn.release();  // back to a closed pool: closed with Terminate, then the core goes
        bool gone = false;
        for (int i = 0; i < 100 && !gone; ++i) {
            auto n = co_await root.query("SELECT count(*) FROM pg_stat_activity WHERE pid = $1", pid);
            gone = n[0].get<std::int64_t>(0) == 0;
            if (!gone) co_await sleep_for(50ms);
        }
        CHECK(gone);
        co_await root.close();
    }());
}

TEST_CASE("pool: a returned connection parks for its thread's next acquire; a waiter, a bump and close still get it") {
    run([]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, scram_config(), {.max_size = 1});
        std::int32_t pid = 0;
        {
            auto first = co_await pool.acquire();
            pid = co_await backend_pid(first);
        }
        // Parked in this thread's slot: idle to the user, and the next acquire here takes it.
        CHECK(pool.stats().idle == 1);
        CHECK(pool.stats().in_use == 0);
        {
            auto again = co_await pool.acquire();
            CHECK(co_await backend_pid(again) == pid);
            CHECK(pool.stats().in_use == 1);
            CHECK(pool.stats().idle == 0);
        }
        CHECK(pool.stats().acquires == 2u);

        // Returned while another acquire waits: it goes to that one, not to the slot.
        bool served = false;
        {
            auto held = co_await pool.acquire();
            co_await run_concurrently(2, [&](int i) -> asio::awaitable<void> {
                if (i == 0) {
                    auto conn = co_await pool.acquire();
                    served = co_await backend_pid(conn) == pid;
                    co_return;
                }
                co_await sleep_for(50ms);
                CHECK(pool.stats().waiting == 1);
                held.release();
            });
        }
        CHECK(served);
        CHECK(pool.stats().waiting == 0);

        // A bump closes a parked connection at once, as it closes idle ones.
        REQUIRE(pool.stats().idle == 1);
        const auto old_generation = pool.generation();
        pool.bump();
        CHECK(pool.stats().closed(pgcoro::close_reason::generation) == 1u);
        co_await pool.retired(old_generation + 1);
        {
            auto fresh = co_await pool.acquire();
            CHECK(fresh.generation() == old_generation + 1);
            CHECK(co_await backend_pid(fresh) != pid);
        }
        // close() takes the parked one back too, and ends it.
        REQUIRE(pool.stats().idle == 1);
        co_await pool.close(5s);
        CHECK(pool.stats().size == 0);
        CHECK(pool.stats().closed(pgcoro::close_reason::pool_closed) == 1u);
    }());
}

}  // namespace integration_pool
