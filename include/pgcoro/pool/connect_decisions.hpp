// When the pool opens connections: how many connects to start now, when to
// try again after failures (back-off), and which failures to report. Plain
// functions over plain values, tested without a server; pool_core asks
// under its lock and spawns the connects.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <random>

#include "../pool_options.hpp"
#include "backoff.hpp"
#include "clock.hpp"
#include "state.hpp"

namespace pgcoro::detail {

// How far `used` is below `limit`; 0 at or above it.
constexpr std::size_t room_below(std::size_t limit, std::size_t used) noexcept { return limit > used ? limit - used : 0; }

// Connects the limits leave room for, whatever the demand: max_connecting in
// flight, max_size open or opening. Needs no waiter count, so the pool asks
// this first and skips counting its waiters when it is 0.
constexpr std::size_t connect_room(const pool_counts& c, const pool_options& o) noexcept {
    return std::min(room_below(o.max_connecting, c.connecting), room_below(o.max_size, open_or_opening(c)));
}

// Connections wanted: one per waiting acquire, plus enough to keep min_idle warm.
constexpr std::size_t connect_demand(const pool_counts& c, const pool_options& o) noexcept {
    return c.waiting + room_below(o.min_idle, kept_warm(c));
}

// Failed connects in a row, and when the next may start.
struct connect_backoff {
    std::uint64_t failures = 0;
    pool_clock::time_point next_attempt{};
};

struct connect_plan {
    std::size_t start = 0;     // connects to start now
    bool retry_later = false;  // some are wanted but back-off holds them until next_attempt
};

// The connects already in flight count against the demand: each will
// serve a waiter or stay idle.
constexpr connect_plan plan_connects(const pool_counts& c, const pool_state& p, const pool_options& o,
                                     const connect_backoff& backoff, pool_clock::time_point now) noexcept {
    if (p.closed) return {};
    const auto wanted = std::min(connect_room(c, o), room_below(connect_demand(c, o), c.connecting));
    if (wanted == 0) return {};
    if (now < backoff.next_attempt) return {0, true};
    return {wanted, false};
}

// How a connect failed, as far as back-off cares.
enum class connect_failure : std::uint8_t {
    unreachable,  // no server answered, or one refused us
    wrong_role,   // servers answered, none fit target_session_attrs: a standby awaiting promotion, say
};

// A failover's wait: while only a standby answers a read-write pool, it is
// asked again at least this often, because a promotion takes effect at once
// and asking a live server costs a round trip or two.
inline constexpr std::chrono::milliseconds awaiting_promotion_backoff_max{1'000};

// One more failure at `now`: the next attempt waits backoff_delay(), which
// doubles with each failure up to backoff_max (awaiting_promotion_backoff_max
// for a wrong_role failure, when that is less).
inline connect_backoff after_connect_failure(connect_backoff b, const pool_options& o, pool_clock::time_point now,
                                             std::mt19937_64& random, connect_failure how = connect_failure::unreachable) {
    ++b.failures;
    const auto cap = how == connect_failure::wrong_role
                         ? std::min<std::chrono::milliseconds>(o.backoff_max, awaiting_promotion_backoff_max)
                         : o.backoff_max;
    b.next_attempt = now + backoff_delay(o.backoff_initial, cap, b.failures, random);
    return b;
}

// A connect worked, or this is a fork() child (whose parent's failures are
// not its own): the next attempt may start at once, and a failure after it
// waits about backoff_initial again.
constexpr connect_backoff fresh_backoff() noexcept { return {}; }

// Connect failures reported as events: at most one a second during an
// outage, each saying how many it follows that were not reported.
struct failure_reports {
    pool_clock::time_point last_event{};
    std::uint64_t held_back = 0;  // since last_event
};

// For a failure at `now`: the number of failures held back before it when
// it is to be reported (and the count starts over), nothing when it is held back too.
constexpr std::optional<std::uint64_t> report_failure(failure_reports& r, pool_clock::time_point now) noexcept {
    if (now - r.last_event < std::chrono::seconds(1)) {
        ++r.held_back;
        return std::nullopt;
    }
    const auto held_back = r.held_back;
    r = {now, 0};
    return held_back;
}

}  // namespace pgcoro::detail
