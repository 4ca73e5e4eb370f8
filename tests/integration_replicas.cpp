// pgcoro against a real primary and hot standbys (scripts/test-server set):
// target_session_attrs with libpq's order and fallbacks, the in_hot_standby
// report, and a pool through a failover under load.
#include "support/catch.hpp"

#include "support/pool_helpers.hpp"
#include "support/test_server.hpp"

#include <chrono>
#include <cstdio>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace integration_replicas {

using namespace std::chrono_literals;
using test::run;
using test::run_concurrently;
namespace asio = boost::asio;

namespace {

std::string set_command(const std::string& args) {
    return test::env("PGCORO_TEST_SERVER_CTL") + " set " + args;
}

// A primary and `standbys` hot standbys of its own, removed at the end.
class replica_set {
public:
    explicit replica_set(std::string name, int standbys = 1, bool synchronous = false) : name_(std::move(name)) {
        const auto cmd = set_command("create " + name_ + " " + std::to_string(standbys) + (synchronous ? " sync" : ""));
        FILE* out = ::popen(cmd.c_str(), "r");
        if (!out) throw std::runtime_error("cannot run " + cmd);
        char line[64];
        while (std::fgets(line, sizeof line, out)) ports_.push_back(std::stoi(line));
        if (::pclose(out) != 0 || ports_.size() != std::size_t(standbys) + 1)
            throw std::runtime_error(cmd + " failed");
    }
    replica_set(const replica_set&) = delete;
    replica_set& operator=(const replica_set&) = delete;
    ~replica_set() { std::system(set_command("destroy " + name_ + " >/dev/null 2>&1").c_str()); }

    std::string port(int node) const { return std::to_string(ports_.at(std::size_t(node))); }
    // A conninfo for nodes in this order, e.g. {1, 0}: the standby first.
    std::string conninfo(std::vector<int> nodes, const std::string& extra = "") const {
        std::string hosts, ports;
        for (auto n : nodes) {
            hosts += (hosts.empty() ? "" : ",") + std::string("127.0.0.1");
            ports += (ports.empty() ? "" : ",") + port(n);
        }
        return "host=" + hosts + " port=" + ports + " dbname=pgcoro user=pgcoro_scram password=scram_pw sslmode=disable " + extra;
    }
    void control(const std::string& action, int node) const {
        if (std::system(set_command(action + " " + name_ + " " + std::to_string(node)).c_str()) != 0)
            throw std::runtime_error("set " + action + " of node " + std::to_string(node) + " failed");
    }

private:
    std::string name_;
    std::vector<int> ports_;
};

// Which node of the set a connection reached, by port, and whether it is in recovery.
asio::awaitable<std::string> where(pgcoro::connection& conn, const replica_set& set) {
    auto r = co_await conn.query("SELECT current_setting('port'), pg_is_in_recovery()");
    const auto port = r[0].get<std::string>(0);
    const auto recovery = r[0].get<bool>(1);
    for (int node = 0; node < 3; ++node) {
        try {
            if (set.port(node) == port) co_return "node" + std::to_string(node) + (recovery ? " standby" : " primary");
        } catch (const std::out_of_range&) {
        }
    }
    co_return "port " + port;
}

// Where a connect with these settings lands, or how it fails. (The settings
// are made outside the co_await: GCC 12 cannot pass a braced list or a string
// literal to a coroutine inside one.)
asio::awaitable<std::string> reached(const replica_set& set, pgcoro::config cfg) {
    try {
        auto conn = co_await pgcoro::connection::connect(std::move(cfg));
        auto at = co_await where(conn, set);
        if (conn.in_hot_standby() != at.ends_with("standby")) at += " (in_hot_standby disagrees)";
        co_await conn.close();
        co_return at;
    } catch (const pgcoro::error& e) {
        co_return std::string(e.code() == pgcoro::errc::session_attrs_mismatch ? "mismatch: " : "error: ") + e.what();
    }
}

}  // namespace

TEST_CASE("target_session_attrs against a real primary and standby, in libpq's order", "[replicas]") {
    replica_set set("attrs");
    run([&]() -> asio::awaitable<void> {
        struct attempt {
            std::vector<int> nodes;
            std::string target;
            std::string lands;  // where, or the start of the failure
        };
        const std::vector<attempt> attempts = {
            {{0, 1}, "any", "node0 primary"},
            {{1, 0}, "any", "node1 standby"},
            {{1, 0}, "read-write", "node0 primary"},
            {{0, 1}, "read-only", "node1 standby"},
            {{1, 0}, "primary", "node0 primary"},
            {{0, 1}, "standby", "node1 standby"},
            {{0, 1}, "prefer-standby", "node1 standby"},
            // prefer-standby falls back to any server; standby does not.
            {{0}, "prefer-standby", "node0 primary"},
            {{0}, "standby", "mismatch: "},
            {{1}, "read-write", "mismatch: "},
        };
        for (const auto& a : attempts) {
            auto cfg = test::config_of(set.conninfo(a.nodes, "target_session_attrs=" + a.target));
            const auto at = co_await reached(set, std::move(cfg));
            INFO("target_session_attrs=" << a.target << " over " << a.nodes.size() << " hosts: " << at);
            CHECK(at.starts_with(a.lands));
            if (a.nodes == std::vector<int>{0} && a.target == "standby")
                CHECK(at.find("server is not in hot standby mode") != std::string::npos);
            if (a.nodes == std::vector<int>{1} && a.target == "read-write")
                CHECK(at.find("session is read-only") != std::string::npos);
        }
    }());
}

TEST_CASE("load_balance_hosts=random spreads connects over the hosts; disable keeps their order", "[replicas]") {
    replica_set set("balance", 2);
    run([&]() -> asio::awaitable<void> {
        std::map<std::string, int> random_hits, ordered_hits;
        const auto shuffled = test::config_of(set.conninfo({0, 1, 2}, "load_balance_hosts=random"));
        const auto in_order = test::config_of(set.conninfo({2, 0, 1}));
        const auto writer = test::config_of(set.conninfo({0, 1, 2}, "load_balance_hosts=random target_session_attrs=read-write"));
        for (int i = 0; i < 30; ++i) {
            auto r = co_await pgcoro::connection::connect(shuffled);
            ++random_hits[co_await where(r, set)];
            co_await r.close();
            auto o = co_await pgcoro::connection::connect(in_order);
            ++ordered_hits[co_await where(o, set)];
            co_await o.close();
        }
        INFO("random: " << random_hits.size() << " nodes reached");
        CHECK(random_hits.size() == 3);  // each node has a chance of 1 - (2/3)^30 to be missed: about 5e-6
        CHECK(ordered_hits == std::map<std::string, int>{{"node2 standby", 30}});
        // Randomly ordered, the target still rules: read-write finds the primary.
        for (int i = 0; i < 10; ++i) {
            auto w = co_await pgcoro::connection::connect(writer);
            CHECK(co_await where(w, set) == "node0 primary");
            co_await w.close();
        }
    }());
}

TEST_CASE("in_hot_standby follows a promotion, and a pool for standbys retires the promoted server's connections", "[replicas]") {
    replica_set set("promote");
    run([&]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        const auto standby_only = test::config_of(set.conninfo({1}, "target_session_attrs=standby"));
        auto conn = co_await pgcoro::connection::connect(standby_only);
        CHECK(conn.in_hot_standby());
        CHECK(conn.fits_target_session_attrs());

        pgcoro::pool pool(ex, standby_only,
                          {.max_size = 2, .acquire_timeout = 2s, .health_check_after = 1ms, .backoff_initial = 50ms,
                           .backoff_max = 200ms});
        { auto c = co_await pool.acquire(); co_await c->query("SELECT 1"); }

        set.control("promote", 1);
        co_await test::sleep_for(300ms);
        // A backend reports the change before its next ReadyForQuery.
        co_await conn.simple_query("");
        CHECK_FALSE(conn.in_hot_standby());
        CHECK_FALSE(conn.fits_target_session_attrs());
        co_await conn.close();

        // The idle member's check before checkout (health_check_after) reads
        // the same news: it is closed, and no new connection fits either.
        // (Without the check, its first user's query brings the news and the
        // member is closed on return.)
        bool handed_out = false;
        try {
            auto c = co_await pool.acquire();
            handed_out = true;
        } catch (const pgcoro::error& e) {
            CHECK(e.code() == pgcoro::errc::timeout);
            CHECK(std::string(e.what()).find("not in hot standby mode") != std::string::npos);
        }
        CHECK_FALSE(handed_out);
        CHECK(pool.stats().closed(pgcoro::close_reason::role_changed) == 1);
        co_await pool.close();
    }());
}

TEST_CASE("failover under load: the pool reaches the promoted standby, never hands out a read-only server, loses no acknowledged write", "[replicas]") {
    replica_set set("failover", 1, true);
    run([&]() -> asio::awaitable<void> {
        {
            auto admin = co_await pgcoro::connection::connect(
                test::config_of("host=127.0.0.1 port=" + set.port(0) + " dbname=pgcoro user=pgcoro_admin sslmode=disable"));
            co_await admin.simple_query("CREATE TABLE writes (client int, k int, PRIMARY KEY (client, k)); "
                                        "GRANT ALL ON writes TO pgcoro_scram");
            co_await admin.close();
        }
        auto ex = co_await asio::this_coro::executor;
        pgcoro::pool pool(ex, test::config_of(set.conninfo({0, 1}, "target_session_attrs=read-write connect_timeout=2")),
                          {.max_size = 8, .acquire_timeout = 20s, .backoff_initial = 100ms, .backoff_max = 1s});

        using clock = std::chrono::steady_clock;
        std::map<std::pair<int, int>, bool> acknowledged;  // (client, k) -> the INSERT returned
        std::vector<std::string> failures;
        int read_only_errors = 0;
        clock::time_point promoted{}, first_write_after{};
        bool stop = false;

        auto writer = [&](int client) -> asio::awaitable<void> {
            for (int k = 0; !stop; ++k) {
                try {
                    auto conn = co_await pool.acquire();
                    co_await conn->execute("INSERT INTO writes VALUES ($1, $2)", client, k);
                    acknowledged[{client, k}] = true;
                    if (promoted != clock::time_point{} && first_write_after == clock::time_point{})
                        first_write_after = clock::now();
                } catch (const pgcoro::server_error& e) {
                    if (e.sqlstate() == "25006") ++read_only_errors;
                    failures.push_back(e.what());
                } catch (const std::exception& e) {
                    failures.push_back(e.what());
                }
            }
        };
        auto conductor = [&]() -> asio::awaitable<void> {
            co_await test::sleep_for(1s);
            set.control("stop", 0);  // immediate: a crash
            co_await test::sleep_for(1s);
            set.control("promote", 1);
            promoted = clock::now();
            const auto failures_at_promotion = pool.stats().connect_failures;
            while (first_write_after == clock::time_point{} && clock::now() - promoted < 15s) co_await test::sleep_for(20ms);
            co_await test::sleep_for(500ms);
            stop = true;
            INFO("connect failures after the promotion: " << pool.stats().connect_failures - failures_at_promotion);
        };
        co_await run_concurrently(51, [&](int i) -> asio::awaitable<void> {
            if (i == 50) return conductor();
            return writer(i);
        });

        REQUIRE(first_write_after != clock::time_point{});
        const auto gap = std::chrono::duration_cast<std::chrono::milliseconds>(first_write_after - promoted);
        INFO("first write " << gap.count() << " ms after the promotion; " << failures.size() << " writes failed; "
                            << pool.stats().connect_failures << " connect attempts failed");
        // The back-off is at most 1 s: the pool tries again within that of the promotion.
        CHECK(gap < 3s);
        // A hot loop would fail thousands of times in the 1 s outage and 1 s promotion.
        CHECK(pool.stats().connect_failures < 100);
        CHECK(read_only_errors == 0);
        CHECK_FALSE(failures.empty());  // the crash failed the writes in flight, and said so

        // Every acknowledged write is on the new primary (the old one
        // committed only what the standby had), each once.
        const auto new_primary = test::config_of(set.conninfo({1}));
        auto check = co_await pgcoro::connection::connect(new_primary);
        auto rows = co_await check.query("SELECT client, k FROM writes");
        std::set<std::pair<int, int>> stored;
        for (auto row : rows) stored.insert({row.get<std::int32_t>(0), row.get<std::int32_t>(1)});
        std::size_t missing = 0;
        for (const auto& [key, ok] : acknowledged) missing += stored.count(key) == 0;
        CHECK(missing == 0);
        CHECK(stored.size() >= acknowledged.size());
        co_await check.close();
        co_await pool.close();
    }());
}

TEST_CASE("cluster: writes on the primary, reads spread over standbys, one update for all, a stopped standby and a promotion followed", "[replicas][cluster]") {
    replica_set set("cluster", 2);
    run([&]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        const auto cfg = test::config_of(set.conninfo({0, 1, 2}, "application_name=before"));
        pgcoro::cluster db(ex, cfg,
                           {.primary = {.max_size = 4, .acquire_timeout = 10s, .backoff_initial = 50ms, .backoff_max = 500ms},
                            .standby = {.max_size = 12, .min_idle = 1, .acquire_timeout = 3s, .health_check_after = 1ms,
                                        .backoff_initial = 50ms, .backoff_max = 500ms}});
        {
            auto w = co_await db.acquire();
            CHECK(co_await where(*w, set) == "node0 primary");
        }
        // Twelve readers at once: each new session drew its own host order.
        auto read_together = [&](int n) -> asio::awaitable<std::map<std::string, int>> {
            std::vector<pgcoro::pooled_connection> held;
            std::map<std::string, int> seen;
            for (int i = 0; i < n; ++i) held.push_back(co_await db.acquire(pgcoro::route::standby));
            for (auto& c : held) ++seen[co_await where(*c, set)];
            co_return seen;
        };
        auto spread = co_await read_together(12);
        CHECK(spread.size() == 2);  // both standbys: all twelve on one has a chance of 2 in 4096
        CHECK(spread.count("node0 primary") == 0);

        // One update rotates the sessions of both pools, on every host.
        const auto rotated = test::config_of(set.conninfo({0, 1, 2}, "application_name=after"));
        co_await db.update(rotated);
        {
            auto w = co_await db.acquire();
            CHECK((co_await w->query("SHOW application_name"))[0].get<std::string>(0) == "after");
            auto r = co_await db.acquire(pgcoro::route::standby);
            CHECK((co_await r->query("SHOW application_name"))[0].get<std::string>(0) == "after");
            CHECK((co_await where(*r, set)).ends_with("standby"));
        }

        // A standby stops: its sessions go, reads move to the other.
        set.control("stop", 2);
        co_await test::sleep_for(200ms);
        auto after_stop = co_await read_together(6);
        CHECK(after_stop == std::map<std::string, int>{{"node1 standby", 6}});

        // The primary fails and node1 is promoted: writes follow, and with no
        // standby left a prefer_standby read takes the new primary.
        set.control("stop", 0);
        set.control("promote", 1);
        std::string writer_at;
        for (int attempt = 0; attempt < 50 && writer_at.empty(); ++attempt) {
            try {
                auto w = co_await db.acquire();
                writer_at = co_await where(*w, set);
            } catch (const std::exception&) {
            }
            if (writer_at.empty()) co_await test::sleep_for(100ms);
        }
        CHECK(writer_at == "node1 primary");
        {
            auto prefer = co_await db.acquire(pgcoro::route::prefer_standby);
            CHECK(co_await where(*prefer, set) == "node1 primary");
        }
        co_await db.close();
    }());
}

namespace {

// Until the standby has replayed all the WAL it received (at most 10 s):
// the cluster measures a standby's lag as 0 then.
asio::awaitable<void> replayed_all(pgcoro::connection& standby) {
    for (int attempt = 0; attempt < 100; ++attempt) {
        auto r = co_await standby.query("SELECT pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn()");
        if (r[0].get<bool>(0)) co_return;
        co_await test::sleep_for(100ms);
    }
    FAIL("the standby did not replay what it received within 10 s");
}

}  // namespace

TEST_CASE("cluster: a standby that lags more than max_replay_lag is passed over", "[replicas][cluster]") {
    replica_set set("lag", 2);
    run([&]() -> asio::awaitable<void> {
        auto admin_of = [&](int node) {
            return test::config_of("host=127.0.0.1 port=" + set.port(node) + " dbname=pgcoro user=pgcoro_admin sslmode=disable");
        };
        const auto primary_admin = admin_of(0), lagging_admin = admin_of(1);
        auto lagging = co_await pgcoro::connection::connect(lagging_admin);
        co_await lagging.simple_query("SELECT pg_wal_replay_pause()");
        auto primary = co_await pgcoro::connection::connect(primary_admin);
        co_await primary.simple_query("CREATE TABLE lag_marks (at timestamptz DEFAULT now()); INSERT INTO lag_marks DEFAULT VALUES");
        co_await test::sleep_for(1500ms);  // node1 has the WAL but replays none of it
        // node2 replays all it received (else its lag is unknown: Infinity).
        auto other = co_await pgcoro::connection::connect(admin_of(2));
        co_await replayed_all(other);

        auto ex = co_await asio::this_coro::executor;
        const auto cfg = test::config_of(set.conninfo({0, 1, 2}));
        pgcoro::cluster db(ex, cfg,
                           {.standby = {.max_size = 6, .min_idle = 1, .acquire_timeout = 5s},
                            .max_replay_lag = 500ms});
        std::map<std::string, int> seen;
        for (int i = 0; i < 12; ++i) {
            auto r = co_await db.acquire(pgcoro::route::standby);
            ++seen[co_await where(*r, set)];
        }
        CHECK(seen == std::map<std::string, int>{{"node2 standby", 12}});

        // Caught up again, it takes reads again.
        co_await lagging.simple_query("SELECT pg_wal_replay_resume()");
        co_await replayed_all(lagging);
        pgcoro::cluster caught_up(ex, cfg, {.standby = {.max_size = 12, .min_idle = 1}, .max_replay_lag = 500ms});
        std::vector<pgcoro::pooled_connection> held;
        std::set<std::string> nodes;
        for (int i = 0; i < 12; ++i) held.push_back(co_await caught_up.acquire(pgcoro::route::standby));
        for (auto& c : held) nodes.insert(co_await where(*c, set));
        held.clear();
        CHECK(nodes == std::set<std::string>{"node1 standby", "node2 standby"});
        co_await lagging.close();
        co_await other.close();
        co_await primary.close();
        co_await caught_up.close();
        co_await db.close();
    }());
}

}  // namespace integration_replicas
