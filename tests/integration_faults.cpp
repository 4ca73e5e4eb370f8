// The pool under load through a proxy that breaks the network
// (support/fault_proxy.hpp): cuts, resets, corruption and stalls at random
// points and at chosen ones (a COPY IN streaming, a pipeline in flight, a
// TLS handshake, SCRAM, the pool's reset on return, close()). Each query
// asks for a value of its own and checks it, so a shifted or desynced reply
// cannot pass; each fails at most once, with a pgcoro::error; nothing hangs;
// a connection that saw a fault is never handed out again; the pool refills.
#include "support/fault_proxy.hpp"
#include "support/pool_helpers.hpp"
#include "support/test_server.hpp"

#include <boost/asio/experimental/awaitable_operators.hpp>
#include "support/catch.hpp"

#include <pgcoro/pool.hpp>

#include <array>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <time.h>

namespace integration_faults {

using test::flow;
using test::run;
using test::eventually;
using test::process_cpu_seconds;
using test::run_concurrently;
using test::sleep_for;
namespace asio = boost::asio;
using namespace asio::experimental::awaitable_operators;
using namespace std::chrono_literals;

namespace {

const std::string role = "user=pgcoro_scram password=scram_pw application_name=pgcoro_faults ";

pgcoro::config through(const test::fault_proxy& proxy, const std::string& extra = "sslmode=disable",
                       std::chrono::milliseconds query_timeout = 0ms) {
    auto cfg = test::config_of(proxy.conninfo(role + extra));
    cfg.query_timeout = query_timeout;
    return cfg;
}

// Each query's answer is its own id and a ~1 KB text made from it.
const std::string answer_sql = "SELECT $1::int8, repeat($1::text || ',', 120)";
std::string expected_text(std::int64_t id) {
    std::string one = std::to_string(id) + ",", all;
    for (int i = 0; i < 120; ++i) all += one;
    return all;
}
bool is_answer(const pgcoro::result& r, std::int64_t id) {
    return r.size() == 1 && r[0].get<std::int64_t>(0) == id && r[0].get<std::string>(1) == expected_text(id);
}

// What queries under faults came to, and where they ran.
struct tally {
    int ok = 0, wrong = 0, hung = 0, failed = 0;
    std::map<std::string, int> errors;                               // by error code
    std::vector<std::pair<std::size_t, std::uint64_t>> acquired;     // link, proxy tick
    std::map<std::size_t, int> failures_on;                          // by link
    std::string unexpected;                                          // an error code no network fault explains

    asio::awaitable<pgcoro::pooled_connection> acquire(pgcoro::pool& pool, test::fault_proxy& proxy) {
        auto conn = co_await pool.acquire();
        acquired.emplace_back(proxy.link_of(*conn).value_or(SIZE_MAX), proxy.tick());
        co_return conn;
    }
    void fail(std::optional<std::size_t> link, const pgcoro::error& e) {
        ++failed;
        ++errors[e.code().message()];
        if (link) ++failures_on[*link];
        using pgcoro::errc;
        static const std::set<std::error_code> network = {
            errc::connection_closed, errc::connection_broken, errc::protocol_violation, errc::tls_error,
            errc::server_error,      errc::timeout,           errc::message_too_large};
        // A transport failure other than a hang-up (a TLS record that fails
        // its MAC) keeps the system's or OpenSSL's code, with this message.
        const bool transport = e.code().category() != pgcoro::error_category() &&
                               std::string_view(e.what()).starts_with("lost connection to ");
        if (!network.count(e.code()) && !transport) unexpected = e.what();
    }
};

// One checked query on a pooled connection, bounded in time.
asio::awaitable<void> one_query(pgcoro::pool& pool, test::fault_proxy& proxy, std::int64_t id, tally& t) {
    auto body = [&]() -> asio::awaitable<void> {
        std::optional<std::size_t> link;
        try {
            auto conn = co_await t.acquire(pool, proxy);
            link = proxy.link_of(*conn);
            auto r = co_await conn->query(answer_sql, id);
            if (is_answer(r, id)) ++t.ok;
            else ++t.wrong;
        } catch (const pgcoro::error& e) {
            t.fail(link, e);
        }
    };
    auto outcome = co_await (body() || sleep_for(20s));
    if (outcome.index() == 1) ++t.hung;
}

// `workers` coroutines querying in a loop while `body` runs.
template <class Body>
asio::awaitable<void> under_load(pgcoro::pool& pool, test::fault_proxy& proxy, tally& t, int workers, Body body) {
    bool stop = false;
    co_await run_concurrently(workers + 1, [&](int w) -> asio::awaitable<void> {
        if (w == workers) {
            try {
                auto outcome = co_await (body() || sleep_for(40s));
                if (outcome.index() == 1) throw std::runtime_error("the test's own steps hung for 40 s");
            } catch (...) {
                stop = true;
                throw;
            }
            stop = true;
            co_return;
        }
        for (std::int64_t i = 0; !stop; ++i) co_await one_query(pool, proxy, (w + 1) * 10'000'000 + i, t);
    });
}

// What every run must show: right answers or clear errors, nothing hung,
// at most one failure per connection and only on one that saw a fault, and
// no connection handed out after its fault.
void check(const tally& t, const test::fault_proxy& proxy) {
    std::ostringstream errors;
    for (const auto& [what, n] : t.errors) errors << what << ": " << n << "; ";
    INFO("ok " << t.ok << ", failed " << t.failed << " (" << errors.str() << "), faults fired " << proxy.faults().size());
    CHECK(t.wrong == 0);
    CHECK(t.hung == 0);
    CHECK(t.unexpected == "");
    for (const auto& [link, n] : t.failures_on) {
        INFO("link " << link);
        CHECK(n == 1);
        CHECK(proxy.broken_at(link).has_value());
    }
    for (const auto& [link, tick] : t.acquired) {
        INFO("link " << link << " acquired at tick " << tick);
        CHECK(link != SIZE_MAX);
        const auto broken = proxy.broken_at(link);
        CHECK((!broken || *broken > tick));
    }
}

// After the faults: a burst of concurrent queries all succeed.
asio::awaitable<void> burst_succeeds(pgcoro::pool& pool, test::fault_proxy& proxy, int n) {
    tally after;
    co_await run_concurrently(n, [&](int w) -> asio::awaitable<void> {
        co_await one_query(pool, proxy, 900'000'000 + w, after);
    });
    check(after, proxy);
    CHECK(after.ok == n);
}

}  // namespace

TEST_CASE("faults: cuts, resets and corruption at random points under load", "[faults]") {
    const bool tls = GENERATE(false, true);
    run([tls]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        test::fault_proxy proxy(ex);
        const std::string mode = tls ? "sslmode=require" : "sslmode=disable";
        auto cfg = through(proxy, mode, 4000ms);
        pgcoro::pool pool(ex, cfg, {.max_size = 6, .acquire_timeout = 15s});
        tally t;
        std::mt19937 rng(tls ? 17 : 71);
        co_await under_load(pool, proxy, t, 12, [&]() -> asio::awaitable<void> {
            for (int round = 0; round < 40; ++round) {
                co_await sleep_for(60ms);
                const auto open = proxy.open_link_ids();
                if (open.empty()) continue;
                const auto link = open[rng() % open.size()];
                const auto d = rng() % 2 ? flow::to_server : flow::to_client;
                const std::size_t after = rng() % 3000;
                // Plain TCP has no checksum a client could check: a flipped
                // byte in a value is a different value. Under TLS it is a
                // failed record.
                const int kinds = tls ? 3 : 2;
                const auto k = rng() % kinds;
                const auto f = k == 0 ? test::cut(after) : k == 1 ? test::reset(after) : test::corrupt(after, 0x20);
                proxy.inject(link, d, f);
            }
            proxy.heal();
        });
        INFO("TLS " << tls);
        check(t, proxy);
        CHECK(t.ok > 100);
        CHECK(t.failed > 0);
        CHECK(proxy.faults().size() >= 10);
        co_await burst_succeeds(pool, proxy, 12);
        CHECK(pool.stats().closed(pgcoro::close_reason::broken) + pool.stats().closed(pgcoro::close_reason::reset_failed) +
                  pool.stats().closed(pgcoro::close_reason::health_check) >= 1);
        co_await pool.close();
    }());
}

TEST_CASE("faults: transactions cut at random points: committed rows exactly once, failed ones never", "[faults]") {
    run([]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        auto direct = co_await pgcoro::connection::connect(test::pool_test_config("pgcoro_faults_direct"));
        const std::string setup = "DROP TABLE IF EXISTS fault_tx; CREATE TABLE fault_tx (tx int8, k int4, pad text)";
        co_await direct.simple_query(setup);

        test::fault_proxy proxy(ex);
        pgcoro::pool pool(ex, through(proxy, "sslmode=disable", 10s), {.max_size = 5, .acquire_timeout = 15s});
        enum class outcome { committed, failed_before_commit, commit_failed_clean, commit_ambiguous };
        std::map<std::int64_t, outcome> outcomes;
        tally t;
        bool stop = false;
        std::mt19937 rng(5);
        const std::string insert = "INSERT INTO fault_tx VALUES ($1, $2, repeat('x', 400))";
        co_await run_concurrently(11, [&](int w) -> asio::awaitable<void> {
            if (w == 10) {
                for (int round = 0; round < 40; ++round) {
                    co_await sleep_for(60ms);
                    const auto open = proxy.open_link_ids();
                    if (open.empty()) continue;
                    const auto d = rng() % 2 ? flow::to_server : flow::to_client;
                    const std::size_t after = rng() % 2500;
                    proxy.inject(open[rng() % open.size()], d, rng() % 2 ? test::cut(after) : test::reset(after));
                }
                proxy.heal();
                stop = true;
                co_return;
            }
            for (std::int64_t i = 0; !stop; ++i) {
                const std::int64_t tx = (w + 1) * 100'000 + i;
                bool committing = false;
                std::optional<std::size_t> link;
                auto body = [&]() -> asio::awaitable<void> {
                    try {
                        auto conn = co_await t.acquire(pool, proxy);
                        link = proxy.link_of(*conn);
                        auto transaction = co_await conn->begin();
                        for (std::int32_t k = 0; k < 3; ++k) co_await conn->execute(insert, tx, k);
                        committing = true;
                        co_await transaction.commit();
                        outcomes[tx] = outcome::committed;
                        ++t.ok;
                    } catch (const pgcoro::server_error& e) {
                        outcomes[tx] = committing ? outcome::commit_failed_clean : outcome::failed_before_commit;
                        if (e.sqlstate().rfind("08", 0) == 0 || e.sqlstate().rfind("57", 0) == 0)
                            outcomes[tx] = committing ? outcome::commit_ambiguous : outcome::failed_before_commit;
                        t.fail(link, e);
                    } catch (const pgcoro::error& e) {
                        outcomes[tx] = committing ? outcome::commit_ambiguous : outcome::failed_before_commit;
                        t.fail(link, e);
                    }
                };
                auto o = co_await (body() || sleep_for(20s));
                if (o.index() == 1) ++t.hung;
            }
        });
        check(t, proxy);
        CHECK(t.ok > 20);
        CHECK(t.failed > 0);

        const std::string count_sql = "SELECT tx, count(*), count(DISTINCT k) FROM fault_tx GROUP BY tx";
        auto rows = co_await direct.query(count_sql);
        std::map<std::int64_t, std::pair<std::int64_t, std::int64_t>> found;
        for (auto row : rows) found[row.get<std::int64_t>(0)] = {row.get<std::int64_t>(1), row.get<std::int64_t>(2)};
        int ambiguous = 0, ambiguous_applied = 0;
        for (const auto& [tx, o] : outcomes) {
            INFO("transaction " << tx << " outcome " << static_cast<int>(o));
            const auto it = found.find(tx);
            switch (o) {
            case outcome::committed:
                CHECK(it != found.end());
                if (it != found.end()) CHECK(it->second == std::make_pair<std::int64_t, std::int64_t>(3, 3));
                break;
            case outcome::failed_before_commit:
            case outcome::commit_failed_clean: CHECK(it == found.end()); break;
            case outcome::commit_ambiguous:
                ++ambiguous;
                if (it != found.end()) {
                    ++ambiguous_applied;
                    CHECK(it->second == std::make_pair<std::int64_t, std::int64_t>(3, 3));
                }
                break;
            }
        }
        for (const auto& [tx, counts] : found) {
            INFO("transaction " << tx << " in the table");
            CHECK(outcomes.count(tx) == 1);
        }
        INFO("ambiguous commits: " << ambiguous << ", of which applied: " << ambiguous_applied);
        CHECK(outcomes.size() > 20);

        // COMMIT cut on its way out: not applied. Its CommandComplete cut on
        // the way back: applied. Both fail with connection_closed.
        const std::string commit = "COMMIT";
        const std::array<flow, 2> directions = {flow::to_server, flow::to_client};
        for (auto d : directions) {
            const std::int64_t tx = d == flow::to_server ? 1 : 2;
            std::error_code code;
            try {
                auto conn = co_await pool.acquire();
                auto transaction = co_await conn->begin();
                for (std::int32_t k = 0; k < 3; ++k) co_await conn->execute(insert, tx, k);
                proxy.inject(*proxy.link_of(*conn), d, test::cut(2).when(commit));
                co_await transaction.commit();
            } catch (const pgcoro::error& e) {
                code = e.code();
            }
            CHECK(code == pgcoro::errc::connection_closed);
            const std::string applied_sql = "SELECT count(*) FROM fault_tx WHERE tx = $1";
            auto applied = co_await direct.query(applied_sql, tx);
            CHECK(applied[0].get<std::int64_t>(0) == (d == flow::to_server ? 0 : 3));
        }
        co_await burst_succeeds(pool, proxy, 10);
        co_await pool.close();
        co_await direct.close();
    }());
}

TEST_CASE("faults: a stall (blackhole) costs little CPU; query, connect and acquire timeouts fire; then it heals", "[faults]") {
    run([]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        test::fault_proxy proxy(ex);
        pgcoro::pool pool(ex, through(proxy, "sslmode=disable connect_timeout=2", 1000ms),
                          {.max_size = 4, .acquire_timeout = 1500ms, .backoff_initial = 100ms, .backoff_max = 1s});
        tally t;
        double cpu = 0, wall = 0;
        std::uint64_t connect_failures = 0;
        std::chrono::steady_clock::duration connect_took{};
        std::error_code connect_error;
        co_await under_load(pool, proxy, t, 8, [&]() -> asio::awaitable<void> {
            co_await sleep_for(500ms);
            // Every connection, open or new, stops hearing from the server.
            proxy.inject_all(flow::to_client, test::stall());
            const auto failures0 = pool.stats().connect_failures;
            const auto t0 = std::chrono::steady_clock::now();
            const auto cpu0 = process_cpu_seconds();
            // A connect of its own meets connect_timeout (2 s).
            const auto c0 = std::chrono::steady_clock::now();
            auto failure = co_await test::connect_failure(through(proxy, "sslmode=disable connect_timeout=2"));
            connect_took = std::chrono::steady_clock::now() - c0;
            if (failure) connect_error = failure->code;
            co_await sleep_for(std::chrono::duration_cast<std::chrono::milliseconds>(7s - connect_took));
            cpu = process_cpu_seconds() - cpu0;
            wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
            proxy.heal();
            co_await sleep_for(3s);  // connects stalled before the heal run into connect_timeout
            connect_failures = pool.stats().connect_failures - failures0;
        });
        INFO("CPU " << cpu << " s over a " << wall << " s stall; connect failures " << connect_failures << "; a connect failed after "
                    << std::chrono::duration<double>(connect_took).count() << " s: " << connect_error.message());
        check(t, proxy);
        CHECK(cpu < 0.2 * wall);
        CHECK(t.errors["timeout expired"] >= 8);
        CHECK(connect_error == pgcoro::errc::timeout);
        CHECK(connect_took >= 1900ms);
        CHECK(connect_took < 4s);
        CHECK(connect_failures >= 1);  // the pool's own connects, in the background
        CHECK(pool.stats().acquire_timeouts >= 1);
        co_await burst_succeeds(pool, proxy, 8);
        co_await pool.close();
    }());
}

TEST_CASE("faults: a TCP cut while a COPY IN streams, and while a pipeline is in flight", "[faults]") {
    run([]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        auto direct = co_await pgcoro::connection::connect(test::pool_test_config("pgcoro_faults_direct"));
        const std::string setup = "DROP TABLE IF EXISTS fault_copy; CREATE TABLE fault_copy (id int8, payload text)";
        co_await direct.simple_query(setup);
        test::fault_proxy proxy(ex);
        pgcoro::pool pool(ex, through(proxy), {.max_size = 4, .acquire_timeout = 15s});
        tally t;
        co_await under_load(pool, proxy, t, 4, [&]() -> asio::awaitable<void> {
            // COPY IN: cut 20 KB into the data, mid-CopyData.
            {
                auto conn = co_await t.acquire(pool, proxy);
                const std::string marker = "copy-row-";
                proxy.inject(*proxy.link_of(*conn), flow::to_server, test::cut(20'000).when(marker));
                std::error_code code;
                try {
                    const std::string copy_sql = "COPY fault_copy FROM STDIN";
                    auto in = co_await conn->copy_in(copy_sql);
                    for (int i = 0; i < 20'000; ++i) {
                        const std::string row = std::to_string(i) + "\t" + marker + std::string(100, 'c') + "\n";
                        co_await in.write(row);
                    }
                    co_await in.finish();
                } catch (const pgcoro::error& e) {
                    INFO(e.what());
                    code = e.code();
                }
                CHECK((code == pgcoro::errc::connection_closed || code == pgcoro::errc::connection_broken));
                CHECK_FALSE(conn->is_open());
            }
            // A pipeline of 60 checked queries: cut 20 KB into the replies,
            // then 1.5 KB into the requests.
            const std::array<flow, 2> directions = {flow::to_client, flow::to_server};
            for (auto d : directions) {
                auto conn = co_await t.acquire(pool, proxy);
                proxy.inject(*proxy.link_of(*conn), d, test::cut(d == flow::to_client ? 20'000 : 1'500));
                pgcoro::pipeline p;
                for (std::int64_t i = 0; i < 60; ++i) p.query(answer_sql, 700'000'000 + i);
                std::error_code code;
                try {
                    auto outcomes = co_await conn->run(p);
                } catch (const pgcoro::error& e) {
                    INFO(e.what());
                    code = e.code();
                }
                CHECK((code == pgcoro::errc::connection_closed || code == pgcoro::errc::connection_broken));
                CHECK_FALSE(conn->is_open());
            }
            // A stream read in chunks of 100 rows: cut 60 KB into the rows.
            {
                auto conn = co_await t.acquire(pool, proxy);
                proxy.inject(*proxy.link_of(*conn), flow::to_client, test::cut(60'000));
                const std::string stream_sql = "SELECT g, repeat(g::text || ',', 50) FROM generate_series(1, 5000) g";
                const pgcoro::stream_options chunks{.chunk_rows = 100};
                std::int64_t seen = 0;
                std::error_code code;
                try {
                    auto rows = co_await conn->stream(chunks, stream_sql);
                    while (auto row = co_await rows.next()) {
                        ++seen;
                        std::string text;
                        for (int i = 0; i < 50; ++i) text += std::to_string(seen) + ",";
                        if (row->get<std::int64_t>(0) != seen || row->get<std::string>(1) != text) {
                            FAIL_CHECK("row " << seen << " is not its own");
                            break;
                        }
                    }
                } catch (const pgcoro::error& e) {
                    INFO(e.what());
                    code = e.code();
                }
                INFO("rows read before the cut: " << seen);
                CHECK(code == pgcoro::errc::connection_closed);
                CHECK(seen > 0);
                CHECK(seen < 5000);
                CHECK_FALSE(conn->is_open());
            }
            // The next pipeline, on another connection, answers every query.
            auto conn = co_await t.acquire(pool, proxy);
            pgcoro::pipeline p;
            for (std::int64_t i = 0; i < 60; ++i) p.query(answer_sql, 800'000'000 + i);
            auto outcomes = co_await conn->run(p);
            REQUIRE(outcomes.size() == 60);
            for (std::int64_t i = 0; i < 60; ++i) CHECK(is_answer(outcomes[i].rows, 800'000'000 + i));
        });
        check(t, proxy);
        CHECK(t.failed == 0);  // the load never met a fault: each one hit its own connection
        CHECK(proxy.faults().size() == 4);
        const std::string count_sql = "SELECT count(*) FROM fault_copy";
        auto rows = co_await direct.query(count_sql);
        CHECK(rows[0].get<std::int64_t>(0) == 0);  // the cut COPY never committed
        co_await burst_succeeds(pool, proxy, 8);
        co_await pool.close();
        co_await direct.close();
    }());
}

TEST_CASE("faults: cuts during the TLS handshake and during SCRAM fail connects, never queries", "[faults]") {
    run([]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        test::fault_proxy proxy(ex);
        std::vector<pgcoro::pool_event> events;
        auto record = [&](const pgcoro::pool_event& e) { events.push_back(e); };
        // sslmode=require: the server answers SSLRequest with 'S' (1 byte),
        // the client's SSLRequest is 8 bytes. Two connects cut mid-ClientHello,
        // two mid-ServerHello (the to_server rule fires first on a link), the
        // rest go through. Then one connection each cut mid-SASLInitialResponse,
        // mid-server-first, mid-client-final, mid-server-final.
        proxy.inject_new(flow::to_server, test::cut(8 + 100).times(2));
        proxy.inject_new(flow::to_client, test::cut(1 + 40).times(2));
        const std::string sasl_initial = "SCRAM-SHA-256";
        const std::string server_first("\0\0\0\x0br=", 6), client_final = "c=biws", server_final("\0\0\0\x0cv=", 6);
        pgcoro::pool pool(ex, through(proxy, "sslmode=require"),
                          {.max_size = 4, .acquire_timeout = 15s, .backoff_initial = 50ms, .backoff_max = 400ms,
                           .on_event = record});
        tally t;
        co_await under_load(pool, proxy, t, 4, [&]() -> asio::awaitable<void> {
            co_await eventually([&] { return proxy.faults().size() == 4; }, 10s);
            co_await eventually([&] { return pool.stats().size == 4; }, 10s);
        });
        INFO("connect failures " << pool.stats().connect_failures);
        check(t, proxy);
        CHECK(t.failed == 0);
        CHECK(proxy.faults().size() == 4);
        CHECK(pool.stats().connect_failures == 4);
        {
            auto conn = co_await pool.acquire();
            CHECK(conn->uses_tls());
        }
        co_await pool.close();

        // SCRAM over plain TCP, through a fresh pool.
        proxy.heal();
        proxy.inject_new(flow::to_server, test::cut(4).when(sasl_initial).times(1));
        pgcoro::pool scram_pool(ex, through(proxy), {.max_size = 4, .acquire_timeout = 15s, .backoff_initial = 50ms,
                                                     .backoff_max = 400ms, .on_event = record});
        tally s;
        co_await under_load(scram_pool, proxy, s, 4, [&]() -> asio::awaitable<void> {
            const std::array<int, 3> steps = {1, 2, 3};
            for (auto step : steps) {
                co_await sleep_for(100ms);
                // Each step's fault on the next connect: idle ones are closed so the pool opens more.
                scram_pool.bump();
                if (step == 1) proxy.inject_new(flow::to_client, test::cut(8).when(server_first).times(1));
                if (step == 2) proxy.inject_new(flow::to_server, test::cut(4).when(client_final).times(1));
                if (step == 3) proxy.inject_new(flow::to_client, test::cut(4).when(server_final).times(1));
                co_await eventually([&] { return proxy.faults().size() == 4u + step + 1; }, 10s);
            }
            co_await sleep_for(200ms);
        });
        check(s, proxy);
        CHECK(s.failed == 0);
        CHECK(proxy.faults().size() == 8);
        CHECK(scram_pool.stats().connect_failures == 4);
        // None of those was taken for a refused login.
        for (const auto& e : events) {
            if (e.what != pgcoro::pool_event::kind::connect_failed) continue;
            INFO(e.message);
            CHECK(e.sqlstate == "");
            CHECK_FALSE(e.authentication_failed());
        }
        // A cut mid-server-final, directly: a network error, not an authentication failure.
        proxy.heal();
        proxy.inject_next(flow::to_client, test::cut(4).when(server_final));
        auto failure = co_await test::connect_failure(through(proxy));
        REQUIRE(failure);
        INFO(failure->what);
        CHECK(failure->code == pgcoro::errc::connection_closed);
        co_await scram_pool.close();
    }());
}

TEST_CASE("faults: cuts during the pool's reset on return and during close()", "[faults]") {
    run([]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        test::fault_proxy proxy(ex);
        pgcoro::pool pool(ex, through(proxy), {.max_size = 4, .acquire_timeout = 15s, .reset = pgcoro::reset_policy::discard_all});
        tally t;
        std::set<std::size_t> cut_links;
        co_await under_load(pool, proxy, t, 3, [&]() -> asio::awaitable<void> {
            // DISCARD ALL cut mid-request, then its reply mid-message.
            const std::string discard = "DISCARD ALL";
            const std::array<flow, 2> directions = {flow::to_server, flow::to_client};
            for (auto d : directions) {
                const auto failed0 = pool.stats().closed(pgcoro::close_reason::reset_failed);
                auto conn = co_await t.acquire(pool, proxy);
                const auto link = *proxy.link_of(*conn);
                cut_links.insert(link);
                proxy.inject(link, d, test::cut(4).when(discard));
                conn.release();
                const bool closed = co_await eventually(
                    [&] { return pool.stats().closed(pgcoro::close_reason::reset_failed) == failed0 + 1; }, 5s);
                CHECK(closed);
            }
            // A transaction left open: its ROLLBACK on return is cut.
            auto conn = co_await t.acquire(pool, proxy);
            const auto link = *proxy.link_of(*conn);
            cut_links.insert(link);
            {
                auto tx = co_await conn->begin();
                const std::string create = "CREATE TEMP TABLE left_open (x int)";
                co_await conn->execute(create);
            }
            const std::string rollback = "ROLLBACK";
            proxy.inject(link, flow::to_server, test::cut(3).when(rollback));
            const auto failed0 = pool.stats().closed(pgcoro::close_reason::reset_failed);
            conn.release();
            const bool closed = co_await eventually(
                [&] { return pool.stats().closed(pgcoro::close_reason::reset_failed) == failed0 + 1; }, 5s);
            CHECK(closed);
            co_await sleep_for(300ms);
        });
        check(t, proxy);
        CHECK(t.failed == 0);
        for (auto link : cut_links) CHECK(proxy.broken_at(link).has_value());
        co_await burst_succeeds(pool, proxy, 8);

        // close(): Terminate cut mid-message; a TLS close_notify never answered.
        {
            auto conn = co_await pgcoro::connection::connect(through(proxy));
            const std::string terminate("X\0\0\0\x04", 5);
            proxy.inject(*proxy.link_of(conn), flow::to_server, test::cut(2).when(terminate));
            const auto t0 = std::chrono::steady_clock::now();
            co_await conn.close();
            CHECK(std::chrono::steady_clock::now() - t0 < 1s);
            CHECK_FALSE(conn.is_open());
        }
        {
            auto conn = co_await pgcoro::connection::connect(through(proxy, "sslmode=require"));
            proxy.inject(*proxy.link_of(conn), flow::to_client, test::stall());
            const auto t0 = std::chrono::steady_clock::now();
            co_await conn.close();
            CHECK(std::chrono::steady_clock::now() - t0 < 4s);
            CHECK_FALSE(conn.is_open());
        }
        // The pool closing while every idle connection's Terminate is cut.
        proxy.inject_all(flow::to_server, test::reset(2));
        const auto t0 = std::chrono::steady_clock::now();
        co_await pool.close(5s);
        CHECK(std::chrono::steady_clock::now() - t0 < 4s);
        CHECK(pool.stats().size == 0);
    }());
}

TEST_CASE("faults: latency slows a query but keeps its answer; a byte dropped under TLS fails it at once", "[faults]") {
    run([]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        test::fault_proxy proxy(ex);
        pgcoro::pool pool(ex, through(proxy, "sslmode=require"), {.max_size = 3, .acquire_timeout = 15s});
        tally t;
        co_await under_load(pool, proxy, t, 2, [&]() -> asio::awaitable<void> {
            {
                auto conn = co_await t.acquire(pool, proxy);
                proxy.inject(*proxy.link_of(*conn), flow::to_client, test::delay(300ms));
                const std::int64_t id = 600'000'001;
                const auto t0 = std::chrono::steady_clock::now();
                auto r = co_await conn->query(answer_sql, id);
                CHECK(std::chrono::steady_clock::now() - t0 >= 300ms);
                CHECK(is_answer(r, id));
                proxy.heal();
            }
            {
                // The first byte of the reply's TLS record header.
                auto conn = co_await t.acquire(pool, proxy);
                proxy.inject(*proxy.link_of(*conn), flow::to_client, test::drop(1));
                const std::int64_t id = 600'000'002;
                const auto t0 = std::chrono::steady_clock::now();
                std::string what;
                try {
                    auto r = co_await conn->query(answer_sql, id);
                } catch (const pgcoro::error& e) {
                    what = e.what();
                }
                INFO(what);
                CHECK(what.starts_with("lost connection to "));
                CHECK(std::chrono::steady_clock::now() - t0 < 2s);
                CHECK_FALSE(conn->is_usable());
            }
        });
        check(t, proxy);
        CHECK(t.failed == 0);
        CHECK(proxy.fired_count(test::fault::kind::delay) == 1);
        CHECK(proxy.fired_count(test::fault::kind::drop) == 1);
        co_await pool.close();
    }());
}

TEST_CASE("faults: idle connections cut or reset while they sit in the pool are replaced unseen", "[faults]") {
    run([]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        test::fault_proxy proxy(ex);
        pgcoro::pool pool(ex, through(proxy), {.max_size = 4, .min_idle = 4, .acquire_timeout = 15s});
        const bool filled = co_await eventually([&] { return pool.stats().idle == 4; }, 10s);
        REQUIRE(filled);
        co_await sleep_for(50ms);
        const auto links = proxy.open_link_ids();
        REQUIRE(links.size() == 4);
        for (std::size_t i = 0; i < links.size(); ++i) proxy.cut_now(links[i], i % 2 == 1);
        co_await sleep_for(20ms);
        tally t;
        co_await run_concurrently(8, [&](int w) -> asio::awaitable<void> {
            co_await one_query(pool, proxy, 500'000'000 + w, t);
        });
        check(t, proxy);
        CHECK(t.ok == 8);
        const auto s = pool.stats();
        CHECK(s.closed(pgcoro::close_reason::health_check) + s.closed(pgcoro::close_reason::broken) == 4);
        co_await pool.close();
    }());
}

TEST_CASE("faults: replies later than query_timeout are drained, never taken for the next query's", "[faults]") {
    run([]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        test::fault_proxy proxy(ex);
        pgcoro::pool pool(ex, through(proxy, "sslmode=disable", 300ms), {.max_size = 3, .acquire_timeout = 15s});
        tally t;
        std::mt19937 rng(3);
        co_await under_load(pool, proxy, t, 6, [&]() -> asio::awaitable<void> {
            // Now and then one connection's replies come 500 ms late for a while.
            for (int round = 0; round < 6; ++round) {
                co_await sleep_for(150ms);
                const auto open = proxy.open_link_ids();
                if (open.empty()) continue;
                const auto link = open[rng() % open.size()];
                proxy.inject(link, flow::to_client, test::delay(500ms));
                co_await sleep_for(400ms);
                proxy.inject(link, flow::to_client, test::delay(0ms));
            }
        });
        std::ostringstream errors;
        for (const auto& [what, n] : t.errors) errors << what << ": " << n << "; ";
        INFO("ok " << t.ok << ", failed " << t.failed << " (" << errors.str() << ")");
        CHECK(t.wrong == 0);
        CHECK(t.hung == 0);
        CHECK(t.unexpected == "");
        CHECK(t.ok > 50);
        CHECK(t.failed > 0);
        CHECK(t.failed == t.errors["timeout expired"] + t.errors["server error"]);  // 57014, a cancel that arrived late
        co_await burst_succeeds(pool, proxy, 6);
        co_await pool.close();
    }());
}

}  // namespace integration_faults
