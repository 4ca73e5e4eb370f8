// What the pool does with one connection: hand it out, check it, reset it,
// keep it idle or close it, and why. Plain functions over plain values, so
// that every rule can be tested without a server; pool_core gathers the
// values under its lock, asks, and does the I/O the answer calls for.
#pragma once

#include <chrono>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <optional>

#include "../pool_options.hpp"
#include "clock.hpp"
#include "state.hpp"

namespace pgcoro::detail {

// What a look at an idle session without reading or blocking found: it
// should have nothing; end of stream means the server closed it.
enum class idle_input : std::uint8_t { none, data, closed };

// What a decision asks of a member's connection, which only the connection
// knows. Each answer costs a few loads, a peek a system call, so they are
// questions rather than values: a decision asks only those whose answer it
// needs, when it needs it, and a checkout pays for nothing more. pool_core
// answers from the connection (connection_answers, member.hpp).
template <class S>
concept session_answers = requires(const S& s) {
    { s.usable() } -> std::same_as<bool>;           // open, not broken, not in the middle of an operation
    { s.left_unfinished() } -> std::same_as<bool>;  // asked only of a usable one
    { s.peek() } -> std::same_as<idle_input>;       // asked only of an idle one
    { s.fits_target() } -> std::same_as<bool>;      // its server as target_session_attrs asks, as last reported
};

// The answers as plain values, for the tests.
struct session_facts {
    bool is_usable = true;
    bool work_left = false;  // a transaction, stream or COPY left open, or ROLLBACKs queued
    idle_input found = idle_input::none;
    bool server_fits = true;

    constexpr bool usable() const noexcept { return is_usable; }
    constexpr bool left_unfinished() const noexcept { return work_left; }
    constexpr idle_input peek() const noexcept { return found; }
    constexpr bool fits_target() const noexcept { return server_fits; }
};

// Why a member may no longer be handed out or kept, or nothing when it may.
// The order matters: a forked member must be dropped silently whatever else
// is wrong with it, and a closing pool's reason beats a generation's. Every
// checkout and return asks, and a member is nearly always fit: forced inline
// and with the unfit branches marked cold, it costs what the checks alone do
// (GCC otherwise calls it out of line, some 20 instructions more per
// acquire + release).
template <session_answers S>
[[gnu::always_inline]] constexpr std::optional<close_reason> unfit_reason(const member_state& m, const S& s,
                                                                          const pool_state& p,
                                                                          pool_clock::time_point now) {
    if (m.fork_epoch != p.fork_epoch) [[unlikely]] return close_reason::forked;
    if (p.closed) [[unlikely]] return close_reason::pool_closed;
    if (m.generation != p.generation) [[unlikely]] return close_reason::generation;
    if (!s.usable()) [[unlikely]] return close_reason::broken;
    if (!s.fits_target()) [[unlikely]] return close_reason::role_changed;
    if (now >= m.expires) [[unlikely]] return close_reason::lifetime;
    return std::nullopt;
}

// An empty query before the caller sees it: the server sent something
// while it sat idle, or it has not been proven alive for a while.
constexpr bool needs_check(const member_state& m, pool_clock::time_point now,
                           std::chrono::milliseconds health_check_after) noexcept {
    return m.input_waiting || now - m.last_checked >= health_check_after;
}

// One back from its last use under a millisecond ago goes out unseen, so
// that a busy pool makes no system call per checkout.
constexpr bool worth_peeking(const member_state& m, pool_clock::time_point now) noexcept {
    return now - m.last_checked >= std::chrono::milliseconds(1);
}

// Why an idle member an acquire took may not go out, or nothing when it may.
// A peek finds a session the server ended while it sat idle
// (pg_terminate_backend, a restart) before a query is spent on it; input
// that arrived marks it for a check first (needs_check).
template <session_answers S>
constexpr std::optional<close_reason> checkout_idle(member_state& m, const S& s, const pool_state& p,
                                                    pool_clock::time_point now) {
    if (auto reason = unfit_reason(m, s, p, now)) return reason;
    if (!worth_peeking(m, now)) return std::nullopt;
    const auto found = s.peek();
    if (found == idle_input::closed) return close_reason::health_check;
    m.input_waiting = found == idle_input::data;
    return std::nullopt;
}

// Where an acquire looks first.
enum class checkout_path : std::uint8_t {
    refused,  // the pool is closed
    queue,    // acquires are already waiting: first come, first served
    idle,     // take an idle member
};

constexpr checkout_path checkout(const pool_state& p, bool others_waiting) noexcept {
    if (p.closed) return checkout_path::refused;
    if (others_waiting) return checkout_path::queue;
    return checkout_path::idle;
}

// What a connection handed back by its user goes through.
enum class return_action : std::uint8_t {
    keep,    // straight back: to the first waiter, else idle
    reset,   // roll back or DISCARD ALL first (reset_session), on the strand
    retire,  // close it, for `reason`
};

struct return_verdict {
    return_action action;
    close_reason reason = close_reason::broken;  // for retire
};

template <session_answers S>
constexpr return_verdict after_return(const member_state& m, const S& s, const pool_state& p,
                                      pool_clock::time_point now, reset_policy policy) {
    if (const auto reason = unfit_reason(m, s, p, now)) return {return_action::retire, *reason};
    if (policy == reset_policy::discard_all || s.left_unfinished()) return {return_action::reset};
    return {return_action::keep};
}

// Whether a member may go between a user and a parking slot, or to an
// acquire a return served, without the lock: of the generation the slots
// take (0 once the pool is closed) and of this process (`process_epoch`,
// the process's own fork count). Otherwise the lock decides, and notices
// the bump, the close or the fork.
constexpr bool current_for_lockless_use(const member_state& m, std::uint64_t parking_generation,
                                        std::uint64_t process_epoch) noexcept {
    return m.generation == parking_generation && m.fork_epoch == process_epoch;
}

// Whether a member its user handed back may wait in the returning
// thread's slot (parking.hpp) instead of going back under the lock: what
// after_return would keep, while current_for_lockless_use.
template <session_answers S>
constexpr bool may_park(const member_state& m, const S& s, std::uint64_t parking_generation, std::uint64_t process_epoch,
                        pool_clock::time_point now, reset_policy policy) {
    return current_for_lockless_use(m, parking_generation, process_epoch) && now < m.expires &&
           policy != reset_policy::discard_all && s.usable() && s.fits_target() && !s.left_unfinished();
}

// Whether a parked member its thread's acquire took may go out without the
// lock: fit as an idle one would be, and back from its last use so recently
// (worth_peeking) that the locked path would not look at it either.
// Otherwise it goes back under the lock, unchanged, and the acquire takes
// the locked path, which peeks or checks it.
template <session_answers S>
constexpr bool leaves_parking(const member_state& m, const S& s, std::uint64_t parking_generation,
                              std::uint64_t process_epoch, pool_clock::time_point now,
                              std::chrono::milliseconds health_check_after) {
    return current_for_lockless_use(m, parking_generation, process_epoch) && now < m.expires &&
           !worth_peeking(m, now) && !needs_check(m, now, health_check_after) && s.usable() && s.fits_target();
}

// Why the pool runs reset_session() on a member: a user handed it back
// (roll back, maybe DISCARD ALL), or it sat idle and is proven with an empty query.
enum class reset_kind : std::uint8_t { returned, idle_check };

// After the reset: closed when it failed (for the reason its kind names) or
// when the member became unfit meanwhile; nothing when it goes back.
template <session_answers S>
constexpr std::optional<close_reason> after_reset(reset_kind kind, bool succeeded, const member_state& m, const S& s,
                                                  const pool_state& p, pool_clock::time_point now) {
    if (!succeeded) return kind == reset_kind::returned ? close_reason::reset_failed : close_reason::health_check;
    return unfit_reason(m, s, p, now);
}

// Only a user's return restarts the idle timeout; a check proves the
// connection alive but does not make it used.
constexpr bool counts_as_use(reset_kind kind) noexcept { return kind == reset_kind::returned; }

// The check before a checkout failed. If the caller was cancelled, the
// failure may be the cancellation alone: a member still fit goes back
// (nothing); otherwise it is replaced without the caller seeing it.
template <session_answers S>
constexpr std::optional<close_reason> after_failed_check(bool cancelled, const member_state& m, const S& s,
                                                         const pool_state& p, pool_clock::time_point now) {
    if (cancelled && !unfit_reason(m, s, p, now)) return std::nullopt;
    if (!s.fits_target()) return close_reason::role_changed;  // what the check read: a promotion
    return close_reason::health_check;
}

// A generation bump closes idle members of older generations at once;
// checked-out ones close when returned (unfit_reason).
constexpr std::optional<close_reason> idle_after_bump(const member_state& m, const pool_state& bumped) noexcept {
    if (m.generation != bumped.generation) return close_reason::generation;
    return std::nullopt;
}

// An acquire that waited (for a handover, a connect or a check) resumes
// after other steps ran: a bump or a fork meanwhile makes the member it holds
// one that no acquire may return any more. Closed then, and the acquire
// waits again.
constexpr std::optional<close_reason> at_late_checkout(const member_state& m, const pool_state& p) noexcept {
    if (m.fork_epoch != p.fork_epoch) return close_reason::forked;
    if (m.generation != p.generation) return close_reason::generation;
    return std::nullopt;
}

// The process is a fork() child the pool has not yet seen: every idle member
// is the parent's and is dropped, and connects start over (connect_decisions.hpp).
constexpr bool fork_noticed(std::uint64_t process_epoch, const pool_state& p) noexcept {
    return process_epoch != p.fork_epoch;
}

// The parent's session: a Terminate or TLS close_notify from here would end
// it for the parent, so only our file descriptor is closed. `process_epoch`:
// this process's own count (fork_epoch.hpp), which a step that has not yet
// noticed a fork is ahead of the pool's.
constexpr bool closes_silently(const member_state& m, std::uint64_t process_epoch) noexcept {
    return m.fork_epoch != process_epoch;
}

// A member just connected: alive and used now, expiring after `lifetime`
// (jittered_lifetime, backoff.hpp).
constexpr member_state fresh_member(std::uint64_t generation, std::uint64_t fork_epoch, pool_clock::time_point now,
                                    pool_clock::duration lifetime) noexcept {
    return {generation, fork_epoch, now, now + lifetime, now, now, false};
}

// What the background sweep does with an idle member.
enum class sweep_action : std::uint8_t {
    keep,
    check,   // prove it with an empty query (reset_kind::idle_check)
    retire,  // close it, for `reason`
};

struct sweep_verdict {
    sweep_action action;
    close_reason reason = close_reason::broken;  // for retire
};

// `counts`: the pool's, as this sweep has left them so far; idle_timeout
// closes none that would leave fewer than min_idle warm (kept_warm), which
// connects would only open again. Generations and forks are not its
// business: a bump or a fork retires idle members at once.
template <session_answers S>
constexpr sweep_verdict sweep_idle(const member_state& m, const S& s, const pool_counts& counts,
                                   const pool_options& o, pool_clock::time_point now) {
    if (now >= m.expires) return {sweep_action::retire, close_reason::lifetime};
    if (o.idle_timeout.count() > 0 && now - m.last_used >= o.idle_timeout && kept_warm(counts) > o.min_idle)
        return {sweep_action::retire, close_reason::idle};
    const auto found = s.peek();
    if (found == idle_input::closed) return {sweep_action::retire, close_reason::health_check};
    if (found == idle_input::data || now - m.last_checked >= o.health_check_after) return {sweep_action::check};
    return {sweep_action::keep};
}

}  // namespace pgcoro::detail
