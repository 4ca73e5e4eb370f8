// How a pool behaves, what it reports, and the events it emits.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <string>

#include <boost/asio/awaitable.hpp>

#include "config.hpp"

namespace pgcoro {

class connection;
struct pool_event;

// What happens to a connection handed back to the pool, beyond the checks
// every return gets (an open transaction is rolled back; a broken or busy
// connection is closed).
enum class reset_policy {
    rollback,     // roll back an open transaction; keep session state (SET, prepared statements)
    discard_all,  // also DISCARD ALL: every return starts a fresh-looking session
};

struct pool_options {
    std::size_t max_size = 10;  // connections open or opening at once
    std::size_t min_idle = 0;   // idle connections kept warm in the background
    std::size_t max_connecting = 2;  // connects in flight at once
    std::chrono::milliseconds acquire_timeout{30'000};
    // A connection is closed once this old (0: never); each connection's own
    // limit is shortened by a random part of lifetime_jitter so that a pool
    // opened at once does not expire at once.
    std::chrono::milliseconds max_lifetime{30 * 60'000};
    double lifetime_jitter = 0.2;
    // An idle connection beyond min_idle is closed after this long (0: never).
    std::chrono::milliseconds idle_timeout{5 * 60'000};
    // A connection idle longer than this is checked (an empty query) before
    // it is handed out; a failed check replaces it without the caller seeing it.
    // The same check runs in the background on connections idle this long,
    // and a checkout of one idle for a millisecond or more first looks
    // (without a round trip) whether the server closed the connection or
    // sent something while it was idle.
    std::chrono::milliseconds health_check_after{30'000};
    // A check, or the reset of a returned connection, that takes longer
    // than this fails and the connection is replaced.
    std::chrono::milliseconds health_check_timeout{5'000};
    // Connect attempts after failures wait backoff_initial, doubling up to
    // backoff_max, each with random jitter.
    std::chrono::milliseconds backoff_initial{100};
    std::chrono::milliseconds backoff_max{10'000};
    reset_policy reset = reset_policy::rollback;

    // Run before every new connection, with the settings it will use: may
    // change them (a password or token from a secrets store, PEM certificates).
    std::function<boost::asio::awaitable<void>(config&)> before_connect{};
    // Run on every new connection before it is first handed out (SET, prepare).
    std::function<boost::asio::awaitable<void>(connection&)> after_connect{};
    // Told of every connect, close and connect failure (failures at most
    // about once a second during an outage; see pool_event). Called with the
    // pool's lock released, on whichever thread made the event.
    std::function<void(const pool_event&)> on_event{};
};

// Why the pool closed a connection.
enum class close_reason : std::uint8_t {
    lifetime,      // max_lifetime reached
    idle,          // idle_timeout reached
    generation,    // opened with settings older than the pool's current ones
    broken,        // returned broken, mid-operation, or failed a query
    reset_failed,  // the rollback/reset on return failed
    health_check,  // failed the check before checkout
    pool_closed,   // the pool is closing
    forked,        // opened by the parent of this fork() child: dropped without a word
    role_changed,  // its server no longer fits target_session_attrs (promoted, or refused a write)
};
inline constexpr std::size_t close_reason_count = 9;

inline const char* to_string(close_reason r) noexcept {
    constexpr const char* names[close_reason_count] = {"lifetime",     "idle",         "generation",  "broken",
                                                       "reset_failed", "health_check", "pool_closed", "forked",
                                                       "role_changed"};
    return names[static_cast<std::size_t>(r)];
}

struct pool_stats {
    std::size_t size = 0;        // open (idle + in use) and opening
    std::size_t idle = 0;
    std::size_t in_use = 0;
    std::size_t connecting = 0;
    std::size_t waiting = 0;     // acquires waiting for a connection
    std::uint64_t generation = 0;
    std::map<std::uint64_t, std::size_t> per_generation;  // open connections by the generation they were opened with
    std::uint64_t connects = 0;          // successful
    std::uint64_t connect_failures = 0;
    std::array<std::uint64_t, close_reason_count> closes{};  // by close_reason
    std::uint64_t acquires = 0;
    std::uint64_t acquire_timeouts = 0;
    // Over acquires that waited: from queuing until a connection was handed over.
    std::chrono::nanoseconds acquire_wait_total{0};
    std::chrono::nanoseconds acquire_wait_max{0};

    std::uint64_t closed(close_reason r) const noexcept { return closes[static_cast<std::size_t>(r)]; }
};

struct pool_event {
    enum class kind { connected, closed, connect_failed } what;
    std::uint64_t generation = 0;
    close_reason reason = close_reason::broken;  // for closed
    std::string message;                          // for connect_failed: the error
    // For connect_failed: the server's SQLSTATE when it refused us; empty
    // when it was not reached (network, TLS, a timeout).
    std::string sqlstate;

    // The server refused the login (28P01 wrong password, 28000 not allowed):
    // retrying will not help until the settings change.
    bool authentication_failed() const noexcept { return sqlstate == "28P01" || sqlstate == "28000"; }
};

}  // namespace pgcoro
