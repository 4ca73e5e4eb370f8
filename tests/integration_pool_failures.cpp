// The pool when things go wrong, against the real server: every backend
// killed mid-load, the server stopped and started again, a client
// certificate rotated on disk, fork(), sessions the server ended while they
// sat idle; the stats and events that report it; the listener.
#include "support/client_certificates.hpp"
#include "support/pool_helpers.hpp"
#include "support/test_server.hpp"

#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include "support/catch.hpp"

#include <pgcoro/listener.hpp>
#include <pgcoro/pool.hpp>

#include <cstdio>
#include <filesystem>
#include <functional>
#include <mutex>
#include <optional>
#include <set>
#include <vector>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

namespace integration_pool_failures {

using test::admin;
using test::backend_pid;
using test::config_of;
using test::run;
using test::eventually;
using test::process_cpu_seconds;
using test::run_concurrently;
using test::sleep_for;
namespace asio = boost::asio;
using namespace asio::experimental::awaitable_operators;
using namespace std::chrono_literals;

namespace {

// The backends whose application_name is `name`.
asio::awaitable<std::set<std::int32_t>> backends_named(pgcoro::connection& admin, std::string name) {
    auto r = co_await admin.query("SELECT pid FROM pg_stat_activity WHERE application_name = $1", name);
    std::set<std::int32_t> pids;
    for (std::size_t i = 0; i < r.size(); ++i) pids.insert(r[i].get<std::int32_t>(0));
    co_return pids;
}

bool disjoint(const std::set<std::int32_t>& a, const std::set<std::int32_t>& b) {
    for (auto x : a)
        if (b.count(x)) return false;
    return true;
}

// Everything on_event reported, in order.
struct event_log {
    std::mutex mutex;
    std::vector<pgcoro::pool_event> events;

    std::function<void(const pgcoro::pool_event&)> recorder() {
        return [this](const pgcoro::pool_event& e) {
            std::lock_guard lock(mutex);
            events.push_back(e);
        };
    }
    std::vector<pgcoro::pool_event> of(pgcoro::pool_event::kind k) {
        std::lock_guard lock(mutex);
        std::vector<pgcoro::pool_event> out;
        for (auto& e : events)
            if (e.what == k) out.push_back(e);
        return out;
    }
};

asio::awaitable<void> end_outage_after(test::server_outage& outage, std::chrono::milliseconds delay) {
    co_await sleep_for(delay);
    outage.end();
}

asio::awaitable<pgcoro::listener_event> next_within(pgcoro::listener& listener, std::chrono::milliseconds limit) {
    auto outcome = co_await (listener.next() || sleep_for(limit));
    if (outcome.index() == 1) throw std::runtime_error("no listener event within the limit");
    co_return std::get<0>(std::move(outcome));
}

}  // namespace

TEST_CASE("pool: pg_terminate_backend of every pool backend mid-load: each query fails at most once, the pool refills") {
    run([]() -> asio::awaitable<void> {
        const std::string app = "pgcoro_pool_terminate";
        pgcoro::pool pool(co_await asio::this_coro::executor, test::pool_test_config(app), {.max_size = 8});
        auto killer = co_await admin();
        bool killed_all = false;
        std::set<std::int32_t> killed, served_after;
        int completed = 0, failed_once = 0, failed_twice = 0;
        std::vector<std::string> errors;
        std::string killer_error;
        co_await run_concurrently(25, [&](int worker) -> asio::awaitable<void> {
            if (worker == 24) {
                // Once the pool is full and busy, every one of its backends at once.
                co_await eventually([&] { return pool.stats().size == 8 && pool.stats().waiting > 0; }, 10s);
                co_await sleep_for(50ms);
                try {
                    auto r = co_await killer.query(
                        "SELECT pid, pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1", app);
                    for (std::size_t i = 0; i < r.size(); ++i) killed.insert(r[i].get<std::int32_t>(0));
                    // Signalled is not gone: a backend finishes the query it is running first.
                    const std::vector<std::int32_t> pids(killed.begin(), killed.end());
                    for (int i = 0; i < 500; ++i) {
                        auto left = co_await killer.query("SELECT count(*) FROM pg_stat_activity WHERE pid = ANY($1)", pids);
                        if (left[0].get<std::int64_t>(0) == 0) break;
                        co_await sleep_for(10ms);
                    }
                } catch (const std::exception& e) {
                    killer_error = e.what();
                }
                killed_all = true;
                co_return;
            }
            int after = 0;
            for (int i = 0; (!killed_all || after < 40) && i < 5000; ++i) {
                for (int attempt = 0;; ++attempt) {
                    bool ok = false;
                    const bool started_after_kill = killed_all;
                    try {
                        auto conn = co_await pool.acquire();
                        auto r = co_await conn->query("SELECT $1::int4, pg_backend_pid()", i);
                        if (r[0].get<int>(0) != i) throw std::logic_error("wrong result");
                        if (started_after_kill) served_after.insert(r[0].get<std::int32_t>(1));
                        ok = true;
                    } catch (const pgcoro::error& e) {
                        errors.push_back(e.what());
                        ++(attempt == 0 ? failed_once : failed_twice);
                    }
                    if (ok) {
                        ++completed;
                        break;
                    }
                    if (attempt == 1) break;
                    co_await sleep_for(20ms);  // an application's pause before its one retry
                }
                if (killed_all) ++after;
            }
        });
        INFO("failed once: " << failed_once << ", killed: " << killed.size());
        CHECK(killer_error == "");
        CHECK(killed.size() == 8);
        CHECK(failed_twice == 0);
        CHECK(failed_once <= static_cast<int>(killed.size()));
        for (const auto& e : errors) {
            INFO(e);
            CHECK((e.find("terminating connection") != std::string::npos ||
                   e.find("server closed the connection") != std::string::npos));
        }
        // Every query started once the killed backends were gone ran on a new one.
        CHECK(disjoint(killed, served_after));
        CHECK_FALSE(served_after.empty());
        const auto s = pool.stats();
        CHECK(s.size <= 8);
        CHECK(s.in_use == 0);
        CHECK(s.closed(pgcoro::close_reason::broken) + s.closed(pgcoro::close_reason::health_check) >= 8);
        co_await pool.close();
        co_await killer.close();
    }());
}

TEST_CASE("pool: the server stopped for 5 s and started again: back-off, little CPU, timely errors, recovery") {
    run([]() -> asio::awaitable<void> {
        event_log log;
        pgcoro::pool pool(co_await asio::this_coro::executor, test::pool_test_config("pgcoro_pool_outage"),
                          {.max_size = 4, .acquire_timeout = 1s, .backoff_initial = 100ms, .backoff_max = 2s,
                           .on_event = log.recorder()});
        bool stop = false, restarted = false;
        int ok_after_restart = 0, errors_during = 0;
        std::string an_error;
        double cpu_seconds = 0;
        std::uint64_t failures_during = 0;
        std::size_t failure_events_during = 0;
        std::chrono::steady_clock::duration recovery{};
        co_await run_concurrently(9, [&](int worker) -> asio::awaitable<void> {
            if (worker == 8) {
                co_await sleep_for(300ms);  // under load
                {
                    test::server_outage outage;
                    const auto cpu0 = process_cpu_seconds();
                    const auto failures0 = pool.stats().connect_failures;
                    const auto events0 = log.of(pgcoro::pool_event::kind::connect_failed).size();
                    co_await sleep_for(5s);
                    cpu_seconds = process_cpu_seconds() - cpu0;
                    failures_during = pool.stats().connect_failures - failures0;
                    failure_events_during = log.of(pgcoro::pool_event::kind::connect_failed).size() - events0;
                    outage.end();
                }
                restarted = true;
                const auto back = std::chrono::steady_clock::now();
                co_await eventually([&] { return ok_after_restart > 0; }, 20s);
                recovery = std::chrono::steady_clock::now() - back;
                stop = true;
                co_return;
            }
            while (!stop) {
                bool failed = false;
                try {
                    auto conn = co_await pool.acquire();
                    co_await conn->query("SELECT 1");
                    if (restarted) ++ok_after_restart;
                } catch (const pgcoro::error& e) {
                    failed = true;
                    ++errors_during;
                    if (std::string(e.what()).find("last connect error") != std::string::npos) an_error = e.what();
                }
                if (failed) co_await sleep_for(50ms);  // an application's pause before retrying
            }
        });
        INFO("CPU during the 5 s outage: " << cpu_seconds << " s; connect attempts: " << failures_during
                                           << "; recovered after " << std::chrono::duration<double>(recovery).count() << " s");
        CHECK(cpu_seconds < 0.5);
        // 100 ms doubling to 2 s, two connects at a time: a few dozen at most, not a loop.
        CHECK(failures_during >= 2);
        CHECK(failures_during <= 30);
        CHECK(failure_events_during <= 7);  // about one a second
        CHECK(errors_during > 0);
        INFO(an_error);
        CHECK(an_error.find("acquire() timed out") != std::string::npos);
        CHECK(ok_after_restart > 0);
        for (const auto& e : log.of(pgcoro::pool_event::kind::connect_failed)) CHECK_FALSE(e.authentication_failed());
        co_await pool.close();
    }());
}

TEST_CASE("pool: a client certificate rotated on disk plus bump(): new connections present the new serial") {
    const auto dir = std::filesystem::temp_directory_path() / ("pgcoro-pool-cert-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    const auto cert = (dir / "client.crt").string();
    const auto key = (dir / "client.key").string();
    test::mint_client_cert(cert, key, 5001);
    const auto cfg = config_of(test::tcp_conninfo("user=pgcoro_cert sslmode=verify-full sslrootcert=" +
                                                  test::env("PGCORO_TEST_CA") + " sslcert=" + cert + " sslkey=" + key));
    run([&]() -> asio::awaitable<void> {
        const std::string serial_sql = "SELECT client_serial::text FROM pg_stat_ssl WHERE pid = pg_backend_pid()";
        pgcoro::pool pool(co_await asio::this_coro::executor, cfg, {.max_size = 3});
        auto held = co_await pool.acquire();
        CHECK((co_await held->query(serial_sql))[0].get<std::string>(0) == "5001");
        {
            auto second = co_await pool.acquire();  // goes back idle
        }
        test::mint_client_cert(cert, key, 5002);
        const auto before = held.generation();
        const auto after = pool.bump();
        CHECK(after == before + 1);
        auto fresh = co_await pool.acquire();
        CHECK(fresh.generation() == after);
        CHECK((co_await fresh->query(serial_sql))[0].get<std::string>(0) == "5002");
        // The one checked out before the bump still works, and retires when returned.
        CHECK((co_await held->query(serial_sql))[0].get<std::string>(0) == "5001");
        held.release();
        auto gone = co_await (pool.retired(after) || sleep_for(5s));
        CHECK(gone.index() == 0);
        CHECK(pool.stats().closed(pgcoro::close_reason::generation) == 2);
        fresh.release();
        co_await pool.close();
    }());
    std::filesystem::remove_all(dir);
}

TEST_CASE("pool: a fork() child drops the parent's connections without a word and opens its own") {
    run([]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        // TLS: a close_notify from the child would end the parent's sessions as surely as a Terminate.
        const auto cfg = config_of(test::tcp_conninfo(
            "user=pgcoro_scram password=scram_pw sslmode=require application_name=pgcoro_pool_fork"));
        pgcoro::pool pool(ex, cfg, {.max_size = 3});
        std::set<std::int32_t> parent_pids;
        {
            auto a = co_await pool.acquire();
            auto b = co_await pool.acquire();
            auto c = co_await pool.acquire();
            parent_pids.insert(co_await backend_pid(a));
            parent_pids.insert(co_await backend_pid(b));
            parent_pids.insert(co_await backend_pid(c));
        }
        REQUIRE(pool.stats().idle == 3);

        auto& context = asio::query(ex, asio::execution::context);
        context.notify_fork(asio::execution_context::fork_prepare);
        const pid_t child = ::fork();
        if (child == 0) {
            context.notify_fork(asio::execution_context::fork_child);
            int status = 0;
            try {
                auto conn = co_await pool.acquire();
                if (parent_pids.count(co_await backend_pid(conn))) status |= 1;
                if (!conn->uses_tls()) status |= 2;
                conn.release();
                if (pool.stats().closed(pgcoro::close_reason::forked) != 3) status |= 4;
                co_await pool.close(5s);
            } catch (const std::exception& e) {
                std::fprintf(stderr, "fork child: %s\n", e.what());
                status |= 8;
            }
            std::fflush(stderr);
            ::_exit(status);
        }
        context.notify_fork(asio::execution_context::fork_parent);
        REQUIRE(child > 0);
        int status = -1;
        for (int i = 0; i < 1500 && ::waitpid(child, &status, WNOHANG) != child; ++i) co_await sleep_for(20ms);
        REQUIRE(WIFEXITED(status));
        CHECK(WEXITSTATUS(status) == 0);  // bits: 1 parent's backend, 2 no TLS, 4 not dropped as forked, 8 error

        // The parent's three sessions were never touched: the same backends, still usable.
        auto a = co_await pool.acquire();
        auto b = co_await pool.acquire();
        auto c = co_await pool.acquire();
        std::set<std::int32_t> after;
        after.insert(co_await backend_pid(a));
        after.insert(co_await backend_pid(b));
        after.insert(co_await backend_pid(c));
        CHECK(after == parent_pids);
        const auto s = pool.stats();
        CHECK(s.connects == 3);
        CHECK(s.closed(pgcoro::close_reason::forked) == 0);
        CHECK(s.closed(pgcoro::close_reason::health_check) == 0);
        a.release();
        b.release();
        c.release();
        co_await pool.close();
    }());
}

// The child's first step retires every idle connection itself: before it
// noticed the fork, it closed them with Terminate, ending the parent's sessions.
TEST_CASE("pool: a fork() child whose first step is bump() or close() leaves the parent's sessions alone") {
    for (const bool bump_first : {false, true}) {
        run([bump_first]() -> asio::awaitable<void> {
            auto ex = co_await asio::this_coro::executor;
            pgcoro::pool pool(ex, config_of(test::tcp_conninfo("user=pgcoro_trust sslmode=disable")), {.max_size = 1});
            std::int32_t parent_pid = 0;
            {
                auto conn = co_await pool.acquire();
                parent_pid = co_await backend_pid(conn);
            }
            REQUIRE(pool.stats().idle == 1);

            auto& context = asio::query(ex, asio::execution::context);
            context.notify_fork(asio::execution_context::fork_prepare);
            const pid_t child = ::fork();
            if (child == 0) {
                context.notify_fork(asio::execution_context::fork_child);
                if (bump_first) pool.bump();
                co_await pool.close(5s);
                ::_exit(pool.stats().closed(pgcoro::close_reason::forked) == 1 ? 0 : 1);
            }
            context.notify_fork(asio::execution_context::fork_parent);
            REQUIRE(child > 0);
            int status = -1;
            for (int i = 0; i < 1500 && ::waitpid(child, &status, WNOHANG) != child; ++i) co_await sleep_for(20ms);
            REQUIRE(WIFEXITED(status));
            INFO("bump first: " << bump_first);
            CHECK(WEXITSTATUS(status) == 0);  // 1: the parent's connection not dropped as forked

            co_await sleep_for(100ms);  // a Terminate from the child would have ended the session by now
            auto conn = co_await pool.acquire();
            CHECK(co_await backend_pid(conn) == parent_pid);
            const auto s = pool.stats();
            CHECK(s.connects == 1);
            CHECK(s.closed(pgcoro::close_reason::health_check) == 0);
            conn.release();
            co_await pool.close();
        }());
    }
}

// A connection lent out keeps the core after the pool is gone, until it is
// back; one taken by an acquire whose check then failed never came back.
TEST_CASE("pool: destroyed while an acquire's check hangs, its insides are freed once the check fails") {
    const auto token = std::make_shared<int>(0);  // held by the pool's options, so by its insides
    std::int32_t pid = 0;
    run([&]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        std::optional<pgcoro::pool> pool;
        pool.emplace(ex, config_of(test::tcp_conninfo("user=pgcoro_trust sslmode=disable")),
                     pgcoro::pool_options{.max_size = 1, .acquire_timeout = 5s, .health_check_after = 0ms,
                                          .health_check_timeout = 300ms,
                                          .on_event = [token](const pgcoro::pool_event&) {}});
        {
            auto conn = co_await pool->acquire();
            pid = co_await backend_pid(conn);
        }
        REQUIRE(::kill(pid, SIGSTOP) == 0);  // the next check gets no answer
        asio::co_spawn(ex, [&]() -> asio::awaitable<void> {
            co_await sleep_for(100ms);
            pool.reset();  // while the acquire below waits for its check
        }, asio::detached);
        CHECK_THROWS_AS(co_await pool->acquire(), pgcoro::error);  // the check fails, then the pool is closed
        ::kill(pid, SIGCONT);
    }());
    CHECK(token.use_count() == 1);
}

// Acquires still waiting when the pool is destroyed, with no connection
// out, hold its insides: they fail, and the last of them lets the insides
// go, whether it resumes or its io_context is destroyed with its wake-up
// still queued.
TEST_CASE("pool: destroyed while acquires wait, its insides go with the last of them, resumed or not") {
    auto never_connects = test::pool_test_config();
    never_connects.password = "not_the_password";
    const auto token = std::make_shared<int>(0);  // held by the pool's options, so by its insides
    auto options = [&token] {
        return pgcoro::pool_options{.max_size = 1, .acquire_timeout = 30s, .backoff_initial = 10ms,
                                    .backoff_max = 20ms, .on_event = [token](const pgcoro::pool_event&) {}};
    };

    SECTION("resumed: they fail with pool_closed") {
        std::vector<std::error_code> failures;
        run([&]() -> asio::awaitable<void> {
            auto ex = co_await asio::this_coro::executor;
            std::optional<pgcoro::pool> pool;
            pool.emplace(ex, never_connects, options());
            auto waiter = [&]() -> asio::awaitable<void> {
                try {
                    (void)co_await pool->acquire();
                } catch (const pgcoro::error& e) {
                    failures.push_back(e.code());
                }
            };
            asio::co_spawn(ex, waiter(), asio::detached);
            asio::co_spawn(ex, waiter(), asio::detached);
            REQUIRE(co_await eventually([&] { return pool->stats().waiting == 2; }, 5s));
            pool.reset();
            CHECK(token.use_count() > 1);  // the waiters keep the insides
            REQUIRE(co_await eventually([&] { return failures.size() == 2; }, 5s));
        }());
        CHECK(failures == std::vector<std::error_code>(2, pgcoro::errc::pool_closed));
        CHECK(token.use_count() == 1);
    }
    SECTION("never resumed: their frames are destroyed with the io_context") {
        bool failed = false;
        {
            asio::io_context ctx;
            std::optional<pgcoro::pool> pool;
            pool.emplace(ctx.get_executor(), never_connects, options());
            asio::co_spawn(ctx, [&]() -> asio::awaitable<void> {
                try {
                    (void)co_await pool->acquire();
                } catch (const pgcoro::error&) {
                    failed = true;
                }
            }, asio::detached);
            for (int i = 0; i < 500 && pool->stats().waiting != 1; ++i) ctx.run_for(10ms);
            REQUIRE(pool->stats().waiting == 1);
            pool.reset();  // the acquire's failure is posted to ctx, which never runs again
            CHECK(token.use_count() > 1);
        }
        CHECK_FALSE(failed);
        CHECK(token.use_count() == 1);
    }
}

TEST_CASE("pool: idle connections are checked in the background; ones the server ended are replaced unseen") {
    run([]() -> asio::awaitable<void> {
        const std::string app = "pgcoro_pool_idle_check";
        pgcoro::pool pool(co_await asio::this_coro::executor, test::pool_test_config(app),
                          {.max_size = 4, .min_idle = 2, .health_check_after = 300ms});
        auto admin_conn = co_await admin();
        REQUIRE(co_await eventually([&] { return pool.stats().idle == 2; }, 5s));
        const auto first = co_await backends_named(admin_conn, app);
        REQUIRE(first.size() == 2);

        // A round trip on each idle connection every health_check_after, with no acquire at all.
        auto state_changes = [&]() -> asio::awaitable<double> {
            auto r = co_await admin_conn.query(
                "SELECT coalesce(min(extract(epoch FROM state_change)), 0)::float8 FROM pg_stat_activity "
                "WHERE application_name = $1",
                app);
            co_return r[0].get<double>(0);
        };
        const double before = co_await state_changes();
        co_await sleep_for(1s);
        CHECK(co_await state_changes() > before);

        // Ended by the server while idle: found and replaced in the background.
        co_await admin_conn.query("SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity WHERE application_name = $1", app);
        CHECK(co_await eventually([&] {
            const auto s = pool.stats();
            return s.closed(pgcoro::close_reason::health_check) >= 2 && s.idle == 2;
        }, 5s));
        const auto second = co_await backends_named(admin_conn, app);
        CHECK(second.size() == 2);
        CHECK(disjoint(first, second));
        CHECK(pool.stats().acquires == 0);
        co_await pool.close();
        co_await admin_conn.close();
    }());
}

TEST_CASE("pool: stats and events report connects, closes by reason, waits, and rate-limited connect failures") {
    run([]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        event_log log;
        pgcoro::pool pool(ex, test::pool_test_config(), {.max_size = 2, .on_event = log.recorder()});
        auto a = co_await pool.acquire();
        auto b = co_await pool.acquire();
        CHECK(log.of(pgcoro::pool_event::kind::connected).size() == 2);

        // A third acquire waits for a return.
        std::optional<pgcoro::pooled_connection> third;
        auto take_third = [&]() -> asio::awaitable<void> { third.emplace(co_await pool.acquire()); };
        asio::co_spawn(ex, take_third(), asio::detached);
        co_await sleep_for(100ms);
        auto s = pool.stats();
        CHECK(s.waiting == 1);
        CHECK(s.in_use == 2);
        CHECK(s.size == 2);
        a.release();
        REQUIRE(co_await eventually([&] { return third.has_value(); }, 2s));
        s = pool.stats();
        CHECK(s.waiting == 0);
        CHECK(s.acquires == 3);
        CHECK(s.acquire_wait_max >= 90ms);
        CHECK(s.acquire_wait_total >= s.acquire_wait_max);
        CHECK(s.connects == 2);
        CHECK(s.per_generation.at(1) == 2);

        // A bump retires both as they come back.
        const auto g = pool.bump();
        b.release();
        third.reset();
        auto gone = co_await (pool.retired(g) || sleep_for(5s));
        CHECK(gone.index() == 0);
        s = pool.stats();
        CHECK(s.closed(pgcoro::close_reason::generation) == 2);
        CHECK(s.per_generation.empty());
        const auto closes = log.of(pgcoro::pool_event::kind::closed);
        REQUIRE(closes.size() == 2);
        for (const auto& e : closes) {
            CHECK(e.reason == pgcoro::close_reason::generation);
            CHECK(e.generation == 1);
        }
        co_await pool.close();

        // A wrong password: many quick attempts, few events, told apart from a network failure.
        event_log refused;
        auto wrong = test::pool_test_config();
        wrong.password = "not_the_password";
        pgcoro::pool failing(ex, wrong, {.max_size = 2, .backoff_initial = 10ms, .backoff_max = 20ms,
                                         .on_event = refused.recorder()});
        auto waited = co_await (failing.acquire() || sleep_for(2500ms));
        CHECK(waited.index() == 1);
        const auto failures = refused.of(pgcoro::pool_event::kind::connect_failed);
        INFO("connect failures: " << failing.stats().connect_failures << ", events: " << failures.size());
        CHECK(failing.stats().connect_failures >= 20);
        REQUIRE(failures.size() >= 2);
        CHECK(failures.size() <= 4);
        CHECK(failures[0].sqlstate == "28P01");
        CHECK(failures[0].authentication_failed());
        CHECK(failures[0].message.find("password authentication failed") != std::string::npos);
        CHECK(failures[1].message.find("similar failures not reported") != std::string::npos);
        co_await failing.close();
    }());
}

TEST_CASE("listener: notifications, a generation bump without a gap, a server restart with the gap reported") {
    run([]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        pgcoro::pool pool(ex, test::pool_test_config("pgcoro_listener"),
                          {.max_size = 2, .backoff_initial = 100ms, .backoff_max = 1s});
        pgcoro::listener listener(pool);
        co_await listener.listen("pool_chan");
        auto notifier = co_await admin();
        co_await notifier.simple_query("NOTIFY pool_chan, 'one'");
        auto e = co_await next_within(listener, 5s);
        CHECK(e.what == pgcoro::listener_event::kind::notification);
        CHECK(e.notification.channel == "pool_chan");
        CHECK(e.notification.payload == "one");

        // New settings: a new session LISTENs before the old one goes; nothing lost, nothing twice.
        const auto old_pid = listener.backend_pid();
        const auto g = pool.bump();
        co_await notifier.simple_query("NOTIFY pool_chan, 'two'");
        e = co_await next_within(listener, 5s);
        CHECK(e.notification.payload == "two");
        CHECK(listener.generation() == g);
        CHECK(listener.backend_pid() != old_pid);
        co_await notifier.simple_query("NOTIFY pool_chan, 'three'");
        e = co_await next_within(listener, 5s);
        CHECK(e.notification.payload == "three");
        co_await notifier.close();

        // The server goes away for 1.5 s: the listener reconnects and says a gap was possible.
        {
            test::server_outage outage;
            asio::co_spawn(ex, end_outage_after(outage, 1500ms), asio::detached);
            e = co_await next_within(listener, 30s);
            CHECK(e.what == pgcoro::listener_event::kind::reconnected);
            INFO(e.cause);
            CHECK_FALSE(e.cause.empty());
            co_await eventually([&] { return !outage.stopped(); }, 30s);
        }
        CHECK(listener.backend_pid() != 0);
        auto notifier2 = co_await admin();
        co_await notifier2.simple_query("NOTIFY pool_chan, 'four'");
        e = co_await next_within(listener, 5s);
        CHECK(e.what == pgcoro::listener_event::kind::notification);
        CHECK(e.notification.payload == "four");
        co_await notifier2.close();
        co_await listener.close();
        co_await pool.close();
    }());
}

}  // namespace integration_pool_failures
