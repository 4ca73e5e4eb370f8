// The pool's decisions without a server: what happens to a returned, idle,
// expired, old-generation, forked or broken connection, when connects start,
// the back-off and the lifetime jitter (pool/member_decisions.hpp,
// pool/connect_decisions.hpp, pool/backoff.hpp), which shared connection a
// pool.query() goes to (pool/sharing_decisions.hpp), and when a returned
// connection parks in its thread's slot (pool/parking.hpp).
#include <pgcoro/pool/backoff.hpp>
#include <pgcoro/pool/connect_decisions.hpp>
#include <pgcoro/pool/member.hpp>
#include <pgcoro/pool/member_decisions.hpp>
#include <pgcoro/pool/parking.hpp>
#include <pgcoro/pool/sharing_decisions.hpp>

#include "support/catch.hpp"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

using namespace std::chrono_literals;
using pgcoro::close_reason;
using pgcoro::pool_options;
using pgcoro::reset_policy;
namespace d = pgcoro::detail;
using time_point = d::pool_clock::time_point;

namespace Catch {
template <>
struct StringMaker<close_reason> {
    static std::string convert(close_reason r) { return pgcoro::to_string(r); }
};
template <>
struct StringMaker<std::optional<close_reason>> {
    static std::string convert(const std::optional<close_reason>& r) { return r ? pgcoro::to_string(*r) : "keep"; }
};
}  // namespace Catch

namespace {

// An hour after the clock's epoch, so that "a while ago" stays after it.
const time_point t0 = time_point{} + 1h;

// A member of generation 1 in the pool's process, last used and checked at
// t0, expiring in 30 minutes.
d::member_state member(std::uint64_t generation = 1) {
    return d::fresh_member(generation, 0, t0, 30min);
}

const d::pool_state pool{.generation = 1, .fork_epoch = 0, .closed = false};
const d::session_facts healthy{};
const d::session_facts broken{.is_usable = false};

// Session answers that count the questions asked: a question costs loads or
// a system call, and some are only valid of a usable session.
struct counting_session {
    d::session_facts facts;
    mutable int usable_asked = 0;
    mutable int unfinished_asked = 0;
    mutable int peeks = 0;

    bool usable() const {
        ++usable_asked;
        return facts.usable();
    }
    bool left_unfinished() const {
        ++unfinished_asked;
        return facts.left_unfinished();
    }
    d::idle_input peek() const {
        ++peeks;
        return facts.peek();
    }
    bool fits_target() const { return facts.fits_target(); }
};

// The connect loop of pool_core::start_connects before the decisions moved
// out: the plan must start what it started and retry when it retried.
d::connect_plan old_start_connects(d::pool_counts c, bool closed, const pool_options& o, time_point now,
                                   time_point next_attempt) {
    d::connect_plan plan;
    if (closed) return plan;
    auto total = [&] { return c.idle + c.in_use + c.connecting + c.resetting; };
    auto demand = [&] {
        const std::size_t warm = o.min_idle > c.idle + c.resetting ? o.min_idle - c.idle - c.resetting : 0;
        return c.waiting + warm;
    };
    while (c.connecting < o.max_connecting && total() < o.max_size && demand() > c.connecting) {
        if (now < next_attempt) {
            plan.retry_later = true;
            return plan;
        }
        ++c.connecting;
        ++plan.start;
    }
    return plan;
}

}  // namespace

TEST_CASE("a fit member is kept; an unfit one closes for the first reason that applies", "[pool][unit]") {
    const auto m = member();
    CHECK(d::unfit_reason(m, healthy, pool, t0) == std::nullopt);

    auto forked = m;
    forked.fork_epoch = 1;
    auto old = m;
    old.generation = 0;
    const d::pool_state closed{.generation = 1, .fork_epoch = 0, .closed = true};
    const auto expired_at = m.expires;

    // Each reason alone.
    CHECK(d::unfit_reason(forked, healthy, pool, t0) == close_reason::forked);
    CHECK(d::unfit_reason(m, healthy, closed, t0) == close_reason::pool_closed);
    CHECK(d::unfit_reason(old, healthy, pool, t0) == close_reason::generation);
    CHECK(d::unfit_reason(m, broken, pool, t0) == close_reason::broken);
    CHECK(d::unfit_reason(m, healthy, pool, expired_at) == close_reason::lifetime);
    CHECK(d::unfit_reason(m, healthy, pool, expired_at - 1ns) == std::nullopt);

    // Precedence: forked over everything (the parent's socket must never be
    // spoken on), then the pool closing, the generation, broken, lifetime.
    auto everything = forked;
    everything.generation = 0;
    CHECK(d::unfit_reason(everything, broken, closed, expired_at) == close_reason::forked);
    CHECK(d::unfit_reason(old, broken, closed, expired_at) == close_reason::pool_closed);
    CHECK(d::unfit_reason(old, broken, pool, expired_at) == close_reason::generation);
    CHECK(d::unfit_reason(m, broken, pool, expired_at) == close_reason::broken);
}

TEST_CASE("every close_reason is what some decision answers", "[pool][unit]") {
    std::set<close_reason> seen;
    auto note = [&](std::optional<close_reason> r) {
        REQUIRE(r);
        seen.insert(*r);
    };
    const pool_options options{.min_idle = 0, .idle_timeout = 5min, .health_check_after = 30s};
    auto m = member();
    auto forked = m;
    forked.fork_epoch = 7;
    auto old = m;
    old.generation = 0;
    const d::pool_state closed{.generation = 1, .fork_epoch = 0, .closed = true};

    note(d::unfit_reason(m, healthy, pool, m.expires));  // lifetime
    const auto idle = d::sweep_idle(m, healthy, {.idle = 1}, options, t0 + options.idle_timeout);
    CHECK(idle.action == d::sweep_action::retire);
    seen.insert(idle.reason);                         // idle
    note(d::idle_after_bump(old, pool));              // generation
    note(d::unfit_reason(m, broken, pool, t0));       // broken
    note(d::after_reset(d::reset_kind::returned, false, m, healthy, pool, t0));  // reset_failed
    note(d::after_reset(d::reset_kind::idle_check, false, m, healthy, pool, t0));  // health_check
    note(d::unfit_reason(m, healthy, closed, t0));    // pool_closed
    note(d::unfit_reason(forked, healthy, pool, t0)); // forked
    note(d::unfit_reason(m, d::session_facts{.server_fits = false}, pool, t0));  // role_changed

    CHECK(seen == std::set<close_reason>{close_reason::lifetime, close_reason::idle, close_reason::generation,
                                         close_reason::broken, close_reason::reset_failed, close_reason::health_check,
                                         close_reason::pool_closed, close_reason::forked, close_reason::role_changed});
    CHECK(seen.size() == pgcoro::close_reason_count);
}

TEST_CASE("a returned member goes back, is reset first, or closes", "[pool][unit]") {
    const auto m = member();
    SECTION("fit and clean, rollback policy: straight back") {
        const auto v = d::after_return(m, healthy, pool, t0, reset_policy::rollback);
        CHECK(v.action == d::return_action::keep);
    }
    SECTION("work left open (a transaction, stream or COPY): reset first") {
        const auto v = d::after_return(m, d::session_facts{.work_left = true}, pool, t0, reset_policy::rollback);
        CHECK(v.action == d::return_action::reset);
    }
    SECTION("discard_all: every return is reset, without asking what was left") {
        counting_session s;
        const auto v = d::after_return(m, s, pool, t0, reset_policy::discard_all);
        CHECK(v.action == d::return_action::reset);
        CHECK(s.unfinished_asked == 0);
    }
    SECTION("unfit: closed for its reason; what it left is not asked of a broken session") {
        counting_session s{.facts = broken};
        const auto v = d::after_return(m, s, pool, t0, reset_policy::rollback);
        CHECK(v.action == d::return_action::retire);
        CHECK(v.reason == close_reason::broken);
        CHECK(s.unfinished_asked == 0);
        const auto expired = d::after_return(m, healthy, pool, m.expires + 1s, reset_policy::discard_all);
        CHECK(expired.action == d::return_action::retire);
        CHECK(expired.reason == close_reason::lifetime);
    }
    SECTION("a session is never peeked at on return") {
        counting_session s;
        (void)d::after_return(m, s, pool, t0, reset_policy::rollback);
        CHECK(s.peeks == 0);
        CHECK(s.usable_asked == 1);
    }
}

TEST_CASE("after a reset or an idle check: back, or closed for the kind's reason", "[pool][unit]") {
    const auto m = member();
    CHECK(d::after_reset(d::reset_kind::returned, true, m, healthy, pool, t0) == std::nullopt);
    CHECK(d::after_reset(d::reset_kind::idle_check, true, m, healthy, pool, t0) == std::nullopt);
    CHECK(d::after_reset(d::reset_kind::returned, false, m, healthy, pool, t0) == close_reason::reset_failed);
    CHECK(d::after_reset(d::reset_kind::idle_check, false, m, healthy, pool, t0) == close_reason::health_check);
    // A bump or a close while it was being reset.
    auto bumped = pool;
    ++bumped.generation;
    CHECK(d::after_reset(d::reset_kind::returned, true, m, healthy, bumped, t0) == close_reason::generation);
    const d::pool_state closed{.generation = 1, .fork_epoch = 0, .closed = true};
    CHECK(d::after_reset(d::reset_kind::idle_check, true, m, healthy, closed, t0) == close_reason::pool_closed);
    // Only a user's return restarts the idle timeout.
    CHECK(d::counts_as_use(d::reset_kind::returned));
    CHECK_FALSE(d::counts_as_use(d::reset_kind::idle_check));
}

TEST_CASE("a failed check before checkout replaces the member unless only the caller's cancellation failed",
          "[pool][unit]") {
    const auto m = member();
    counting_session s;
    CHECK(d::after_failed_check(false, m, s, pool, t0) == close_reason::health_check);
    CHECK(s.usable_asked == 0);  // not cancelled: the check itself failed, nothing more to know
    CHECK(d::after_failed_check(true, m, healthy, pool, t0) == std::nullopt);
    CHECK(d::after_failed_check(true, m, broken, pool, t0) == close_reason::health_check);
    auto old = m;
    old.generation = 0;
    CHECK(d::after_failed_check(true, old, healthy, pool, t0) == close_reason::health_check);
}

TEST_CASE("a generation bump: idle old members close, current ones stay, checked-out old ones close on return",
          "[pool][unit]") {
    auto bumped = pool;
    ++bumped.generation;
    const auto old_idle = member(1);
    const auto current = member(2);  // e.g. update()'s probe, added after the bump
    CHECK(d::idle_after_bump(old_idle, bumped) == close_reason::generation);
    CHECK(d::idle_after_bump(current, bumped) == std::nullopt);
    CHECK(d::idle_after_bump(current, pool) == close_reason::generation);  // any other generation, not only older

    const auto out = member(1);  // checked out across the bump
    const auto v = d::after_return(out, healthy, bumped, t0, reset_policy::rollback);
    CHECK(v.action == d::return_action::retire);
    CHECK(v.reason == close_reason::generation);
    CHECK(d::after_return(current, healthy, bumped, t0, reset_policy::rollback).action == d::return_action::keep);
    // A connect that started before the bump finishes after it.
    CHECK(d::unfit_reason(d::fresh_member(1, 0, t0, 1h), healthy, bumped, t0) == close_reason::generation);
    // And an acquire never takes an old one from idle.
    auto idle = old_idle;
    CHECK(d::checkout_idle(idle, healthy, bumped, t0) == close_reason::generation);
}

TEST_CASE("an acquire that waited gives up a member that a bump or a fork made stale meanwhile", "[pool][unit]") {
    // Handed over by a return, connected for it, or checked: then a bump or
    // a fork ran before the acquire resumed.
    CHECK(d::at_late_checkout(member(1), pool) == std::nullopt);
    auto bumped = pool;
    ++bumped.generation;
    CHECK(d::at_late_checkout(member(1), bumped) == close_reason::generation);
    CHECK(d::at_late_checkout(member(2), bumped) == std::nullopt);  // connected after the bump
    auto forked = pool;
    ++forked.fork_epoch;
    CHECK(d::at_late_checkout(member(1), forked) == close_reason::forked);
    ++forked.generation;  // a fork child's first bump: silently dropped all the same
    CHECK(d::at_late_checkout(member(1), forked) == close_reason::forked);
}

TEST_CASE("a fork() child drops the parent's members silently and starts connecting afresh", "[pool][unit]") {
    const d::pool_state parent{.generation = 1, .fork_epoch = 3, .closed = false};
    CHECK_FALSE(d::fork_noticed(3, parent));
    CHECK(d::fork_noticed(4, parent));

    auto child = parent;
    child.fork_epoch = 4;
    const auto parents = d::fresh_member(1, 3, t0, 1h);
    const auto own = d::fresh_member(1, 4, t0, 1h);
    // Asked with the process's count (4), not the pool's (still 3 in a step
    // that has not noticed the fork): the parent's member is dropped silently.
    CHECK(d::closes_silently(parents, 4));
    CHECK_FALSE(d::closes_silently(own, 4));
    CHECK_FALSE(d::closes_silently(parents, 3));
    // Returned or idle, the parent's member is forked, whatever else holds.
    CHECK(d::after_return(parents, broken, child, t0, reset_policy::rollback).reason == close_reason::forked);
    auto idle = parents;
    CHECK(d::checkout_idle(idle, healthy, child, t0) == close_reason::forked);
    CHECK(d::unfit_reason(own, healthy, child, t0) == std::nullopt);
    // The parent's failures were its own: the child's first connect does not wait.
    const d::connect_backoff after_outage{.failures = 5, .next_attempt = t0 + 10s};
    const pool_options options{.min_idle = 1};
    CHECK(d::plan_connects({}, child, options, after_outage, t0).retry_later);
    CHECK(d::plan_connects({}, child, options, d::fresh_backoff(), t0).start == 1);
}

TEST_CASE("a closed pool refuses acquires, starts no connect and keeps nothing", "[pool][unit]") {
    const d::pool_state closed{.generation = 1, .fork_epoch = 0, .closed = true};
    CHECK(d::checkout(closed, false) == d::checkout_path::refused);
    CHECK(d::checkout(closed, true) == d::checkout_path::refused);
    CHECK(d::checkout(pool, true) == d::checkout_path::queue);  // first come, first served
    CHECK(d::checkout(pool, false) == d::checkout_path::idle);

    const pool_options options{.max_size = 10, .min_idle = 5};
    const d::pool_counts wanting{.waiting = 3};
    const auto plan = d::plan_connects(wanting, closed, options, {.failures = 2, .next_attempt = t0 + 1s}, t0);
    CHECK(plan.start == 0);
    CHECK_FALSE(plan.retry_later);
    CHECK(d::plan_connects(wanting, pool, options, {}, t0).start == 2);  // open, the same counts connect

    const auto v = d::after_return(member(), healthy, closed, t0, reset_policy::rollback);
    CHECK(v.action == d::return_action::retire);
    CHECK(v.reason == close_reason::pool_closed);
}

TEST_CASE("an idle member taken by an acquire: peeked at only after a millisecond, checked when input waits",
          "[pool][unit]") {
    const auto health_check_after = std::chrono::milliseconds(30'000);
    SECTION("back under a millisecond ago: no system call") {
        auto m = member();
        counting_session s{.facts = {.found = d::idle_input::closed}};
        CHECK(d::checkout_idle(m, s, pool, t0 + 999us) == std::nullopt);
        CHECK(s.peeks == 0);
        CHECK_FALSE(d::needs_check(m, t0 + 999us, health_check_after));
    }
    SECTION("the server closed it meanwhile: replaced, the caller never sees it") {
        auto m = member();
        counting_session s{.facts = {.found = d::idle_input::closed}};
        CHECK(d::checkout_idle(m, s, pool, t0 + 1ms) == close_reason::health_check);
        CHECK(s.peeks == 1);
    }
    SECTION("something arrived: handed out only after a check") {
        auto m = member();
        CHECK(d::checkout_idle(m, d::session_facts{.found = d::idle_input::data}, pool, t0 + 5ms) == std::nullopt);
        CHECK(m.input_waiting);
        CHECK(d::needs_check(m, t0 + 5ms, health_check_after));
    }
    SECTION("nothing arrived: no check, and an earlier mark is cleared") {
        auto m = member();
        m.input_waiting = true;
        CHECK(d::checkout_idle(m, healthy, pool, t0 + 5ms) == std::nullopt);
        CHECK_FALSE(m.input_waiting);
        CHECK_FALSE(d::needs_check(m, t0 + 5ms, health_check_after));
    }
    SECTION("an unfit one is not peeked at") {
        auto m = member(0);
        counting_session s;
        CHECK(d::checkout_idle(m, s, pool, t0 + 1s) == close_reason::generation);
        CHECK(s.peeks == 0);
    }
    SECTION("idle health_check_after or longer: checked") {
        auto m = member();
        CHECK_FALSE(d::needs_check(m, t0 + health_check_after - 1ns, health_check_after));
        CHECK(d::needs_check(m, t0 + health_check_after, health_check_after));
        CHECK(d::worth_peeking(m, t0 + 1ms));
        CHECK_FALSE(d::worth_peeking(m, t0 + 1ms - 1ns));
    }
}

TEST_CASE("the idle sweep: lifetime, idle timeout above min_idle, a peek, a check", "[pool][unit]") {
    const pool_options options{.min_idle = 2, .idle_timeout = 5min, .health_check_after = 30s};
    const auto m = member();
    auto sweep = [&](const auto& session, std::size_t idle, time_point now) {
        return d::sweep_idle(m, session, {.idle = idle}, options, now);
    };
    SECTION("expired: closed, without a peek") {
        counting_session s{.facts = {.found = d::idle_input::data}};
        const auto v = sweep(s, 10, m.expires);
        CHECK(v.action == d::sweep_action::retire);
        CHECK(v.reason == close_reason::lifetime);
        CHECK(s.peeks == 0);
    }
    SECTION("idle too long: closed while more than min_idle stay warm") {
        const auto v = sweep(healthy, 3, t0 + 5min);
        CHECK(v.action == d::sweep_action::retire);
        CHECK(v.reason == close_reason::idle);
        CHECK(sweep(healthy, 2, t0 + 5min).action == d::sweep_action::check);  // kept for min_idle, and checked
        CHECK(sweep(healthy, 3, t0 + 5min - 1ns).action == d::sweep_action::check);
        // Those being reset or checked come back idle and count; those in use do not.
        CHECK(d::sweep_idle(m, healthy, {.idle = 2, .resetting = 1}, options, t0 + 5min).action ==
              d::sweep_action::retire);
        CHECK(d::sweep_idle(m, healthy, {.idle = 2, .in_use = 6}, options, t0 + 5min).action ==
              d::sweep_action::check);
    }
    SECTION("idle_timeout 0: never closed for idleness") {
        const pool_options forever{.min_idle = 0, .idle_timeout = 0ms, .health_check_after = 1h};
        CHECK(d::sweep_idle(m, healthy, {.idle = 10}, forever, t0 + 20min).action == d::sweep_action::keep);
    }
    SECTION("the server closed it: replaced") {
        const auto v = sweep(d::session_facts{.found = d::idle_input::closed}, 2, t0 + 1s);
        CHECK(v.action == d::sweep_action::retire);
        CHECK(v.reason == close_reason::health_check);
    }
    SECTION("input arrived, or not proven alive for health_check_after: checked") {
        CHECK(sweep(d::session_facts{.found = d::idle_input::data}, 2, t0 + 1s).action == d::sweep_action::check);
        CHECK(sweep(healthy, 2, t0 + 30s).action == d::sweep_action::check);
    }
    SECTION("otherwise kept") {
        CHECK(sweep(healthy, 2, t0 + 30s - 1ns).action == d::sweep_action::keep);
    }
}

// As pool_core::expire_idle runs it, over every idle member, then the
// maintenance step's connects: with connections in use, the sweep used to
// count them against min_idle and close the idle ones that the connects then
// opened again, every idle_timeout.
TEST_CASE("the idle sweep closes no connection that min_idle would open again", "[pool][unit]") {
    const pool_options options{.max_size = 10, .min_idle = 2, .idle_timeout = 5min, .health_check_after = 1h};
    for (std::size_t idle = 0; idle <= 5; ++idle)
        for (std::size_t in_use = 0; in_use <= 4; ++in_use) {
            d::pool_counts left{.idle = idle, .in_use = in_use};
            std::size_t closed = 0;
            for (std::size_t i = 0; i < idle; ++i) {
                const auto v = d::sweep_idle(member(), healthy, left, options, t0 + 10min);
                if (v.action == d::sweep_action::retire) {
                    CHECK(v.reason == close_reason::idle);
                    --left.idle;
                    ++closed;
                }
            }
            INFO("idle " << idle << ", in use " << in_use);
            CHECK(closed == (idle > options.min_idle ? idle - options.min_idle : 0));
            if (idle >= options.min_idle) CHECK(d::plan_connects(left, pool, options, {}, t0 + 10min).start == 0);
        }
}

TEST_CASE("connects start up to max_connecting and max_size, for waiters and min_idle", "[pool][unit]") {
    const pool_options options{.max_size = 10, .min_idle = 0, .max_connecting = 2};
    auto start = [&](d::pool_counts c, const pool_options& o) { return d::plan_connects(c, pool, o, {}, t0).start; };
    CHECK(start({}, options) == 0);                                  // nobody wants one
    CHECK(start({.waiting = 1}, options) == 1);
    CHECK(start({.waiting = 5}, options) == 2);                      // max_connecting
    CHECK(start({.connecting = 2, .waiting = 5}, options) == 0);
    CHECK(start({.connecting = 1, .waiting = 1}, options) == 0);     // the one in flight will serve it
    CHECK(start({.connecting = 1, .waiting = 2}, options) == 1);
    CHECK(start({.in_use = 9, .waiting = 5}, options) == 1);         // max_size
    CHECK(start({.idle = 1, .in_use = 7, .resetting = 2, .waiting = 5}, options) == 0);

    const pool_options warm{.max_size = 10, .min_idle = 3, .max_connecting = 5};
    CHECK(start({}, warm) == 3);
    CHECK(start({.idle = 1, .resetting = 1}, warm) == 1);            // a reset one comes back idle
    CHECK(start({.in_use = 4}, warm) == 3);                          // in use does not count as idle
    CHECK(start({.idle = 3, .waiting = 2}, warm) == 2);
    CHECK(start({.in_use = 8}, warm) == 2);                          // max_size still bounds
    CHECK(d::connect_demand({.idle = 1, .resetting = 1, .waiting = 4}, warm) == 5);
    CHECK(d::connect_room({.idle = 1, .in_use = 2, .connecting = 1, .resetting = 1}, warm) == 4);
    CHECK(d::open_or_opening({.idle = 1, .in_use = 2, .connecting = 3, .resetting = 4, .waiting = 9}) == 10);
}

TEST_CASE("the connect plan starts and retries what the old connect loop did", "[pool][unit]") {
    const time_point later = t0 + 1s;
    int compared = 0;
    for (std::size_t max_size : {1, 3, 5})
        for (std::size_t max_connecting : {1, 2, 4})
            for (std::size_t min_idle : {0, 1, 3}) {
                const pool_options o{.max_size = max_size, .min_idle = min_idle, .max_connecting = max_connecting};
                for (std::size_t idle = 0; idle <= 3; ++idle)
                    for (std::size_t in_use = 0; in_use <= 3; ++in_use)
                        for (std::size_t connecting = 0; connecting <= 3; ++connecting)
                            for (std::size_t resetting = 0; resetting <= 2; ++resetting)
                                for (std::size_t waiting = 0; waiting <= 4; ++waiting)
                                    for (auto next_attempt : {time_point{}, t0, later})
                                        for (bool closed : {false, true}) {
                                            const d::pool_counts c{idle, in_use, connecting, resetting, waiting};
                                            const d::pool_state p{.generation = 1, .fork_epoch = 0, .closed = closed};
                                            const auto plan = d::plan_connects(c, p, o, {1, next_attempt}, t0);
                                            const auto old = old_start_connects(c, closed, o, t0, next_attempt);
                                            INFO("size " << max_size << " connecting " << max_connecting << " min_idle "
                                                         << min_idle << " counts " << idle << "/" << in_use << "/"
                                                         << connecting << "/" << resetting << "/" << waiting);
                                            REQUIRE(plan.start == old.start);
                                            REQUIRE(plan.retry_later == old.retry_later);
                                            ++compared;
                                        }
            }
    CHECK(compared > 100'000);
}

TEST_CASE("back-off: none before a failure, doubling with jitter, capped, reset on success", "[pool][unit]") {
    std::mt19937_64 random(42);
    const std::chrono::milliseconds initial = 100ms, cap = 10s;
    CHECK(d::backoff_delay(initial, cap, 0, random) == 0ms);
    SECTION("each step doubles, jittered within [half, whole)") {
        for (std::uint64_t failures = 1; failures <= 7; ++failures) {
            const auto whole = initial * (1 << (failures - 1));
            std::chrono::milliseconds lo = whole, hi{0};
            for (int i = 0; i < 500; ++i) {
                const auto delay = d::backoff_delay(initial, cap, failures, random);
                lo = std::min(lo, delay);
                hi = std::max(hi, delay);
            }
            INFO("failures " << failures);
            CHECK(lo >= whole / 2);
            CHECK(hi < whole);
            // The jitter spreads: 500 draws come near both ends.
            CHECK(lo < whole * 55 / 100);
            CHECK(hi > whole * 95 / 100);
        }
    }
    SECTION("capped at backoff_max, however many failures (no overflow)") {
        for (std::uint64_t failures : {8ull, 31ull, 64ull, 1'000'000ull}) {
            for (int i = 0; i < 100; ++i) {
                const auto delay = d::backoff_delay(initial, cap, failures, random);
                INFO("failures " << failures);
                CHECK(delay >= cap / 2);
                CHECK(delay < cap);
            }
        }
    }
    SECTION("the pool's back-off state: failures count up, success starts over") {
        const pool_options o{.backoff_initial = initial, .backoff_max = cap};
        d::connect_backoff b = d::fresh_backoff();
        time_point now = t0;
        for (std::uint64_t n = 1; n <= 10; ++n) {
            b = d::after_connect_failure(b, o, now, random);
            CHECK(b.failures == n);
            const auto whole = std::min<std::chrono::milliseconds>(initial * (1 << (n - 1)), cap);
            CHECK(b.next_attempt >= now + whole / 2);
            CHECK(b.next_attempt < now + whole);
            // Wanted connects wait until next_attempt, not a moment less.
            const d::pool_counts wanting{.waiting = 1};
            const auto held = d::plan_connects(wanting, pool, o, b, b.next_attempt - 1ns);
            CHECK(held.start == 0);
            CHECK(held.retry_later);
            CHECK(d::plan_connects(wanting, pool, o, b, b.next_attempt).start == 1);
            // Nothing wanted: nothing to retry.
            CHECK_FALSE(d::plan_connects({}, pool, o, b, b.next_attempt - 1ns).retry_later);
            now = b.next_attempt;
        }
        b = d::fresh_backoff();
        CHECK(b.failures == 0);
        CHECK(d::plan_connects({.waiting = 1}, pool, o, b, t0).start == 1);
        b = d::after_connect_failure(b, o, now, random);
        CHECK(b.next_attempt < now + initial);  // back to the first step
    }
    SECTION("servers that answer but fit no target (a standby awaiting promotion) are asked at least once a second") {
        const pool_options o{.backoff_initial = initial, .backoff_max = 10s};
        d::connect_backoff unreachable = d::fresh_backoff(), wrong_role = d::fresh_backoff();
        for (int n = 0; n < 12; ++n) {
            unreachable = d::after_connect_failure(unreachable, o, t0, random, d::connect_failure::unreachable);
            wrong_role = d::after_connect_failure(wrong_role, o, t0, random, d::connect_failure::wrong_role);
        }
        CHECK(wrong_role.next_attempt < t0 + d::awaiting_promotion_backoff_max);
        CHECK(wrong_role.next_attempt >= t0 + d::awaiting_promotion_backoff_max / 2);
        CHECK(unreachable.next_attempt >= t0 + 5s);
        // A cap below it stays.
        const pool_options tight{.backoff_initial = initial, .backoff_max = 300ms};
        auto b = d::fresh_backoff();
        for (int n = 0; n < 12; ++n) b = d::after_connect_failure(b, tight, t0, random, d::connect_failure::wrong_role);
        CHECK(b.next_attempt < t0 + 300ms);
    }
}

TEST_CASE("connect failures are reported at most once a second, with the count held back", "[pool][unit]") {
    d::failure_reports r;
    CHECK(d::report_failure(r, t0) == std::optional<std::uint64_t>(0));
    CHECK(d::report_failure(r, t0 + 100ms) == std::nullopt);
    CHECK(d::report_failure(r, t0 + 999ms) == std::nullopt);
    CHECK(r.held_back == 2);
    CHECK(d::report_failure(r, t0 + 1s) == std::optional<std::uint64_t>(2));
    CHECK(r.held_back == 0);
    CHECK(r.last_event == t0 + 1s);
    CHECK(d::report_failure(r, t0 + 1500ms) == std::nullopt);
    CHECK(d::report_failure(r, t0 + 5s) == std::optional<std::uint64_t>(1));
}

TEST_CASE("lifetime jitter: none, full, clamped, and max_lifetime 0 for never", "[pool][unit]") {
    std::mt19937_64 random(2024);
    const auto max = std::chrono::milliseconds(30 * 60'000);
    SECTION("no jitter, or a negative one: exactly max_lifetime") {
        for (int i = 0; i < 20; ++i) {
            CHECK(d::jittered_lifetime(max, 0.0, random) == max);
            CHECK(d::jittered_lifetime(max, -0.5, random) == max);
        }
    }
    SECTION("jitter 0.2: within the last fifth, spread over it") {
        auto lo = max, hi = std::chrono::milliseconds(0);
        for (int i = 0; i < 2000; ++i) {
            const auto l = std::chrono::duration_cast<std::chrono::milliseconds>(d::jittered_lifetime(max, 0.2, random));
            lo = std::min(lo, l);
            hi = std::max(hi, l);
        }
        CHECK(lo >= max * 8 / 10);
        CHECK(hi <= max);
        CHECK(lo < max * 81 / 100);
        CHECK(hi > max * 99 / 100);
    }
    SECTION("full jitter: anywhere in (0, max_lifetime]") {
        auto lo = max, hi = std::chrono::milliseconds(0);
        for (int i = 0; i < 2000; ++i) {
            const auto l = std::chrono::duration_cast<std::chrono::milliseconds>(d::jittered_lifetime(max, 1.0, random));
            lo = std::min(lo, l);
            hi = std::max(hi, l);
        }
        CHECK(lo >= 0ms);
        CHECK(hi <= max);
        CHECK(lo < max / 100);
        CHECK(hi > max * 99 / 100);
    }
    SECTION("jitter above 1 is clamped to 1: the same draws give the same lifetimes") {
        std::mt19937_64 a(7), b(7);
        for (int i = 0; i < 100; ++i) CHECK(d::jittered_lifetime(max, 3.5, a) == d::jittered_lifetime(max, 1.0, b));
    }
    SECTION("max_lifetime 0 (or less): a member never expires") {
        const auto forever = d::jittered_lifetime(0ms, 0.2, random);
        CHECK(forever >= std::chrono::hours(24 * 365 * 99));
        CHECK(d::jittered_lifetime(-5ms, 0.2, random) == forever);
        const auto m = d::fresh_member(1, 0, t0, forever);
        CHECK(d::unfit_reason(m, healthy, pool, t0 + std::chrono::hours(24 * 365 * 50)) == std::nullopt);
    }
    SECTION("a fresh member expires after its own lifetime") {
        const auto lifetime = d::jittered_lifetime(max, 0.2, random);
        const auto m = d::fresh_member(3, 1, t0, lifetime);
        CHECK(m.generation == 3);
        CHECK(m.fork_epoch == 1);
        CHECK(m.opened == t0);
        CHECK(m.last_used == t0);
        CHECK(m.last_checked == t0);
        CHECK_FALSE(m.input_waiting);
        const d::pool_state p{.generation = 3, .fork_epoch = 1, .closed = false};
        CHECK(d::unfit_reason(m, healthy, p, t0 + lifetime - 1ns) == std::nullopt);
        CHECK(d::unfit_reason(m, healthy, p, t0 + lifetime) == close_reason::lifetime);
    }
}

namespace {

// A shared member as the sharing decisions see it; `reached`: whether the
// caller's executor is its home (and it is open).
struct shared_member : d::member_state, d::sharing_state {
    bool reached = true;
};

std::vector<std::unique_ptr<shared_member>> shared_members(std::initializer_list<std::size_t> loads) {
    std::vector<std::unique_ptr<shared_member>> members;
    for (auto load : loads) {
        auto m = std::make_unique<shared_member>();
        m->generation = 1;
        m->shared = true;
        m->load = load;
        members.push_back(std::move(m));
    }
    return members;
}

std::ptrdiff_t index_of(const std::vector<std::unique_ptr<shared_member>>& members, const shared_member* m) {
    for (std::size_t i = 0; i < members.size(); ++i)
        if (members[i].get() == m) return static_cast<std::ptrdiff_t>(i);
    return -1;
}

}  // namespace

TEST_CASE("a shared member takes requests while current, not draining and below its depth", "[pool][unit]") {
    const d::pool_state p{.generation = 3, .fork_epoch = 0, .closed = false};
    d::member_state m;
    m.generation = 3;
    d::sharing_state s{.shared = true, .draining = false, .load = 7};
    CHECK(d::takes_requests(m, s, p, 8));
    s.load = 8;
    CHECK_FALSE(d::takes_requests(m, s, p, 8));  // at its depth
    s.load = 0;
    s.draining = true;
    CHECK_FALSE(d::takes_requests(m, s, p, 8));  // handed to those waiting once quiet
    s.draining = false;
    m.generation = 2;
    CHECK_FALSE(d::takes_requests(m, s, p, 8));  // a bump since: retires when its last request ends
}

TEST_CASE("a pool.query() goes to the least loaded shared member it may use", "[pool][unit]") {
    const d::pool_state p{.generation = 1, .fork_epoch = 0, .closed = false};
    const auto reached = [](const shared_member& m) { return m.reached; };

    auto members = shared_members({5, 2, 4});
    CHECK(index_of(members, d::least_loaded(members, p, 8, reached)) == 1);

    members[1]->reached = false;  // another executor's, or closed
    CHECK(index_of(members, d::least_loaded(members, p, 8, reached)) == 2);
    members[2]->generation = 0;  // an old generation's
    CHECK(index_of(members, d::least_loaded(members, p, 8, reached)) == 0);
    CHECK(d::least_loaded(members, p, 5, reached) == nullptr);  // the last one is at its depth

    // The dear test is asked only of a member that would be the best so far,
    // and a quiet one ends the search.
    members = shared_members({3, 0, 1, 0});
    int asked = 0;
    const auto counted = [&](const shared_member&) { return ++asked, true; };
    CHECK(index_of(members, d::least_loaded(members, p, 8, counted)) == 1);
    CHECK(asked == 2);
    members.clear();
    CHECK(d::least_loaded(members, p, 8, reached) == nullptr);
}

TEST_CASE("a lease takes a connection of its own while one is at hand, else shares", "[pool][unit]") {
    // A quiet shared member is always taken: it costs nobody a turn.
    CHECK_FALSE(d::lease_takes_own_connection(0, true, true, false));
    // A busy one is passed by for an idle connection...
    CHECK(d::lease_takes_own_connection(3, true, false, false));
    CHECK(d::lease_takes_own_connection(3, true, false, true));
    // ... or for room to open one, unless acquires already wait for that room.
    CHECK(d::lease_takes_own_connection(3, false, true, false));
    CHECK_FALSE(d::lease_takes_own_connection(3, false, true, true));
    // At max_size with nothing idle, requests pipeline.
    CHECK_FALSE(d::lease_takes_own_connection(3, false, false, false));
}

TEST_CASE("one shared member at a time drains for those waiting: the least loaded", "[pool][unit]") {
    auto members = shared_members({4, 1, 2});
    auto chosen = d::member_to_drain(members);
    CHECK(index_of(members, chosen) == 1);
    chosen->draining = true;
    CHECK(d::member_to_drain(members) == nullptr);  // until it is quiet and handed over
    members.erase(members.begin() + 1);
    CHECK(index_of(members, d::member_to_drain(members)) == 1);
    members.clear();
    CHECK(d::member_to_drain(members) == nullptr);
}

TEST_CASE("a returned member parks in its thread's slot exactly when the lock would keep it as it is", "[pool][unit]") {
    const auto m = member();
    CHECK(d::may_park(m, healthy, 1, 0, t0, reset_policy::rollback));
    CHECK_FALSE(d::may_park(m, healthy, 2, 0, t0, reset_policy::rollback));  // a bump since it went out
    CHECK_FALSE(d::may_park(m, healthy, 0, 0, t0, reset_policy::rollback));  // the pool closed
    CHECK_FALSE(d::may_park(m, healthy, 1, 1, t0, reset_policy::rollback));  // returned in a fork child
    const d::session_facts unfinished{.work_left = true}, moved{.server_fits = false};
    for (const auto& facts : {healthy, broken, unfinished, moved})
        for (auto policy : {reset_policy::rollback, reset_policy::discard_all})
            for (auto now : {t0, m.expires - 1ns, m.expires}) {
                const bool kept = d::after_return(m, facts, pool, now, policy).action == d::return_action::keep;
                CHECK(d::may_park(m, facts, 1, 0, now, policy) == kept);
            }
}

TEST_CASE("an acquire served by a return takes its member without the lock exactly when the lock would not close it late",
          "[pool][unit]") {
    // The slots' generation is the pool's while it is open, 0 once closed;
    // the process's fork count is the pool's until the lock notices a fork.
    for (std::uint64_t generation : {1, 2})
        for (std::uint64_t epoch : {0, 1}) {
            const d::pool_state p{.generation = generation, .fork_epoch = epoch, .closed = false};
            for (const auto& m : {member(1), member(2)}) {
                CHECK(d::current_for_lockless_use(m, generation, epoch) == !d::at_late_checkout(m, p).has_value());
                CHECK_FALSE(d::current_for_lockless_use(m, 0, epoch));  // closed: the lock decides
            }
        }
}

TEST_CASE("a parked member leaves its slot without the lock only when the locked path would hand it out unseen",
          "[pool][unit]") {
    const auto after = std::chrono::milliseconds(30'000);
    auto m = member();  // returned (checked) at t0
    CHECK(d::leaves_parking(m, healthy, 1, 0, t0 + 999us, after));
    CHECK_FALSE(d::leaves_parking(m, healthy, 1, 0, t0 + 1ms, after));  // the locked path would peek first
    CHECK_FALSE(d::leaves_parking(m, healthy, 2, 0, t0, after));
    CHECK_FALSE(d::leaves_parking(m, healthy, 0, 0, t0, after));
    CHECK_FALSE(d::leaves_parking(m, healthy, 1, 1, t0, after));
    CHECK_FALSE(d::leaves_parking(m, broken, 1, 0, t0, after));
    CHECK_FALSE(d::leaves_parking(m, d::session_facts{.server_fits = false}, 1, 0, t0, after));
    CHECK_FALSE(d::leaves_parking(d::fresh_member(1, 0, t0, 500us), healthy, 1, 0, t0 + 600us, after));
    CHECK_FALSE(d::leaves_parking(m, healthy, 1, 0, t0, 0ms));  // health_check_after 0: a check every time
    m.input_waiting = true;
    CHECK_FALSE(d::leaves_parking(m, healthy, 1, 0, t0, after));
    // Whenever it may leave, the locked path would hand it out with no peek and no check.
    for (auto now : {t0, t0 + 500us, t0 + 999us}) {
        auto idle = member();
        counting_session s;
        REQUIRE(d::leaves_parking(idle, s, 1, 0, now, after));
        CHECK(d::checkout_idle(idle, s, pool, now) == std::nullopt);
        CHECK(s.peeks == 0);
        CHECK_FALSE(d::needs_check(idle, now, after));
    }
}

TEST_CASE("parking: the thread's slot, what it displaces, and what a waiter or a bump takes back", "[pool][unit]") {
    d::parking slots;
    slots.set_generation(1);
    d::member_ptr a(new d::pool_member()), b(new d::pool_member());
    CHECK(slots.take() == nullptr);

    auto parked = slots.park(a.release(), 1);
    CHECK(parked.previous == nullptr);
    CHECK(parked.taken_back == nullptr);
    CHECK(slots.parked() == 1);
    parked = slots.park(b.release(), 1);  // one slot a thread: the one there before goes back through the lock
    a.reset(parked.previous);
    CHECK(a != nullptr);
    CHECK(parked.taken_back == nullptr);
    b.reset(slots.take());
    CHECK(b != nullptr);
    CHECK(slots.take() == nullptr);
    CHECK(slots.parked() == 0);

    // What the lock drains, it gets once.
    slots.park(b.release(), 1);
    std::vector<d::member_ptr> drained;
    slots.drain([&](d::member_ptr m) { drained.push_back(std::move(m)); });
    REQUIRE(drained.size() == 1);
    b = std::move(drained.front());
    CHECK(slots.parked() == 0);

    // A waiter queued: a return that parks takes its member back to the lock.
    slots.waiter_queued();
    CHECK(slots.others_waiting());
    parked = slots.park(b.release(), 1);
    b.reset(parked.taken_back);
    CHECK(b != nullptr);
    CHECK(slots.parked() == 0);
    slots.waiter_left();
    CHECK_FALSE(slots.others_waiting());

    // A bump (or close: generation 0) since the member's check.
    slots.set_generation(2);
    parked = slots.park(b.release(), 1);
    b.reset(parked.taken_back);
    CHECK(b != nullptr);
    slots.set_generation(0);
    parked = slots.park(a.release(), 2);
    a.reset(parked.taken_back);
    CHECK(a != nullptr);
    CHECK(slots.parked() == 0);

    slots.count_checkout();
    slots.count_checkout();
    CHECK(slots.checkouts() == 2);
}
