// Read routing over a primary and its standbys: one pool of read-write
// sessions and one of standby sessions over the same hosts, so that
//
//   pgcoro::cluster db(ex, "host=db1,db2,db3 dbname=app user=app");
//   auto writer = co_await db.acquire();                          // the primary
//   auto reader = co_await db.acquire(pgcoro::route::standby);    // any standby
//
// Which host is the primary is found by connecting (target_session_attrs
// read-write; standby for the other pool, with load_balance_hosts=random so
// reads spread over the standbys). A promotion moves the writes by itself:
// the old primary's connections break or stop fitting (close_reason::
// role_changed), and new ones find the promoted server. A standby that stops
// takes its connections with it; new ones go to the others.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include "util/compilation_mode.hpp"
#include "pool.hpp"
#if PGCORO_DEFINITIONS
#include <boost/asio/experimental/awaitable_operators.hpp>

#include "net/deadline.hpp"
#include "pool/core.hpp"
#endif

namespace pgcoro {

enum class route {
    primary,         // a read-write session
    standby,         // a hot standby's session; waits (acquire_timeout) while there is none
    // A standby's session when the cluster has one open and it comes within
    // cluster_options::prefer_standby_wait, else the primary's.
    prefer_standby,
};

struct cluster_options {
    pool_options primary{};  // the pool of read-write sessions
    // The pool of standby sessions. One is kept open when a standby exists,
    // which is how prefer_standby knows there is one.
    pool_options standby{.min_idle = 1};
    // How long a prefer_standby read waits for a standby session (the one
    // open may turn out to be gone or promoted) before it takes the primary.
    std::chrono::milliseconds prefer_standby_wait{1'000};
    // Standbys that lag further behind their primary than this are passed
    // over (0: never). Checked at each standby acquire, one round trip: the
    // time since the last replayed commit while WAL received waits to be
    // replayed (an idle primary makes no lag; WAL waiting on a standby that
    // never replayed a commit is an unknown lag, too much).
    std::chrono::milliseconds max_replay_lag{0};
};

class cluster {
public:
    cluster(asio::any_io_executor executor, config cfg, cluster_options options = {})
        : primary_(executor, for_route(cfg, route::primary), std::move(options.primary)),
          standby_(executor, for_route(cfg, route::standby), std::move(options.standby)),
          prefer_standby_wait_(options.prefer_standby_wait), max_replay_lag_(options.max_replay_lag) {}
    cluster(asio::any_io_executor executor, std::string_view conninfo, cluster_options options = {})
        : cluster(std::move(executor), config::parse(conninfo), std::move(options)) {}

    asio::awaitable<pooled_connection> acquire(route r = route::primary);

    // New settings for every host: proven by the primary pool's update
    // (one connection opened with them), then taken by the standby pool too.
    // Returns the primary pool's new generation.
    asio::awaitable<std::uint64_t> update(config cfg);
    void set_password(const std::string& password) {
        primary_.set_password(password);
        standby_.set_password(password);
    }
    // Fresh sessions on every host.
    void bump() {
        primary_.bump();
        standby_.bump();
    }

    asio::awaitable<void> close(std::chrono::milliseconds limit = std::chrono::seconds(30));

    pool& primary() noexcept { return primary_; }
    pool& standbys() noexcept { return standby_; }

    // The settings each pool connects with: the hosts as given, the target
    // of the route (standbys shuffled).
    static config for_route(config cfg, route r) {
        if (r == route::primary) {
            cfg.target_session_attrs = session_target::read_write;
        } else {
            cfg.target_session_attrs = session_target::standby;
            cfg.load_balance_hosts = load_balance::random;
        }
        return cfg;
    }

private:
    static constexpr std::string_view replay_lag_sql =
        "SELECT CASE WHEN pg_catalog.pg_last_wal_receive_lsn() = pg_catalog.pg_last_wal_replay_lsn() THEN 0 "
        "ELSE COALESCE(EXTRACT(EPOCH FROM now() - pg_catalog.pg_last_xact_replay_timestamp()) * 1000, 'Infinity') "
        "END::float8";

    // A standby session within max_replay_lag. One that lags is closed (the
    // pool replaces it on return) and another tried, as many times as the
    // pool may hold sessions; then the lag is the error.
    asio::awaitable<pooled_connection> acquire_standby();

    asio::awaitable<pooled_connection> acquire_preferring_standby();

    // A standby session open or lent out now (min_idle keeps one warm while
    // a standby answers).
    bool has_standby() const {
        const auto s = standby_.stats();
        return s.size > s.connecting;
    }

    pool primary_;
    pool standby_;
    std::chrono::milliseconds prefer_standby_wait_;
    std::chrono::milliseconds max_replay_lag_;
};

// The bodies: inline (header-only) or in the src.hpp TU (util/compilation_mode.hpp).
#if PGCORO_DEFINITIONS
PGCORO_DECL asio::awaitable<pooled_connection> cluster::acquire(route r) {
    if (r == route::primary) return primary_.acquire();
    if (r == route::standby) return acquire_standby();
    return acquire_preferring_standby();
}

PGCORO_DECL asio::awaitable<std::uint64_t> cluster::update(config cfg) {
    const auto g = co_await primary_.update(for_route(cfg, route::primary));
    standby_.core_->adopt(for_route(cfg, route::standby));
    co_return g;
}

PGCORO_DECL asio::awaitable<void> cluster::close(std::chrono::milliseconds limit) {
    using namespace asio::experimental::awaitable_operators;
    co_await (primary_.close(limit) && standby_.close(limit));
}

PGCORO_DECL asio::awaitable<pooled_connection> cluster::acquire_standby() {
    if (max_replay_lag_.count() <= 0) co_return co_await standby_.acquire();
    double lag_ms = 0;
    const auto tries = std::max<std::size_t>(1, standby_.core_->options().max_size);
    for (std::size_t i = 0; i < tries; ++i) {
        auto c = co_await standby_.acquire();
        auto r = co_await c->query(replay_lag_sql);
        lag_ms = r[0].is_null(0) ? 0.0 : r[0].get<double>(0);
        if (lag_ms <= static_cast<double>(max_replay_lag_.count())) co_return c;
        co_await c->close();
    }
    throw error(errc::session_attrs_mismatch, "every standby tried lags further behind than max_replay_lag (" +
                                                  std::to_string(max_replay_lag_.count()) + " ms; the last " +
                                                  std::to_string(static_cast<long long>(lag_ms)) + " ms)");
}

PGCORO_DECL asio::awaitable<pooled_connection> cluster::acquire_preferring_standby() {
    if (has_standby()) {
        std::optional<pooled_connection> got;
        try {
            got.emplace(co_await detail::with_deadline(acquire_standby(), prefer_standby_wait_, "prefer_standby"));
        } catch (const error& e) {
            if (e.code() == errc::cancelled) throw;
        }
        if (got) co_return std::move(*got);
    }
    co_return co_await primary_.acquire();
}
#endif  // PGCORO_DEFINITIONS

}  // namespace pgcoro
