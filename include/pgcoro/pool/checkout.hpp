// How a connection is checked out and comes back: acquire() takes an idle
// one or queues for the next to come back (or to connect), with
// acquire_timeout watched by one timer for all waiters. Members of
// pool_core (core.hpp), defined here to keep each file to one job.
#pragma once

#include "core.hpp"

namespace pgcoro::detail {

// Returns Handle(this, member): pool::acquire() returns this coroutine,
// one frame a checkout. The connection this thread returned last, still
// parked in its slot (parking.hpp), goes out without the lock. An idle
// connection that needs no check is the whole of a busy pool's checkout
// otherwise: one lock and no reference count touched (the pool is alive
// while it is called; a lent connection keeps the core, see shut_down).
// One that waits takes the lock twice: to queue (in the same step that
// found nothing idle) and to keep its handler (basic_request_wait); what a
// user's return hands it, it collects without (collect_handed_over).
template <class Handle>
asio::awaitable<Handle> pool_core::acquire(bool for_sharing) {
    // Each tracer_ test is the whole cost of tracing when none is set.
    acquire_trace trace;
    if (tracer_) [[unlikely]] trace.start(*tracer_);
    if (!for_sharing) {
        if (auto* parked = parking_.take()) {
            member_ptr m(parked);
            if (leaves_parking(*m, connection_answers{m->conn}, parking_.generation(), fork_epoch(), coarse_now(),
                               options_.health_check_after) &&
                !parking_.others_waiting()) [[likely]] {
                parking_.count_checkout();
                if (tracer_) [[unlikely]] trace.handed_out(*tracer_, m->conn, m->generation);
                co_return Handle(this, std::move(m));
            }
            // Back under the lock as it is; the locked path below may take it and peek or check it.
            try {
                with_lock([&](batch& b) {
                    notice_fork(b);
                    unpark(std::move(m), b);
                });
            } catch (...) {
                if (tracer_) [[unlikely]] trace.failed(*tracer_, std::current_exception());
                throw;
            }
        }
    }
    // A lease waits for a shared connection of its own executor too.
    std::optional<asio::any_io_executor> ex;
    if (for_sharing) ex.emplace(co_await asio::this_coro::executor);
    member_ptr m;
    pool_waiter* w = nullptr;
    pool_clock::time_point started;
    try {
        // Inlined: a call's entry and exit are a tenth of this step (GCC
        // makes a lambda with many inlined steps a function of its own).
        with_lock(
            [&](batch& b) __attribute__((always_inline)) {
                started = b.now;
                if (!(m = take_ready(b))) w = enqueue(ex, started, b);
            },
            parking_.others_waiting() ? batch_clock::precise : batch_clock::coarse);
    } catch (...) {
        if (tracer_) [[unlikely]] trace.failed(*tracer_, std::current_exception());
        throw;
    }
    if (m && !needs_check(*m, started, options_.health_check_after)) [[likely]] {
        if (tracer_) [[unlikely]] trace.handed_out(*tracer_, m->conn, m->generation);
        co_return Handle(this, std::move(m));
    }
    // The pool may go while this waits: shut_down() keeps the core while
    // acquires still run, and this one holds it from the step after which
    // it may be the last (hold_core) until it ends.
    std::shared_ptr<pool_core> held;
    const unresumed_wait leaves_if_destroyed{this, w, held};
    try {
        for (;;) {
            auto taken = started;
            if (!m && !w) {
                // Again, after a failed check or a member unfit by the time it came.
                with_lock([&](batch& b) {
                    taken = b.now;
                    if (!(m = take_ready(b))) w = enqueue(ex, started, b);
                });
            }
            if (w) {
                try {
                    co_await w->wake_up.wait();
                } catch (...) {
                    // Cancelled before it could wait: it leaves, and
                    // gives back what it was handed meanwhile.
                    give_up_waiting(w, held);
                    throw error(errc::cancelled, "acquire() cancelled while waiting for a connection");
                }
                if (collect_handed_over(w, m)) {
                    taken = coarse_now();
                } else {
                    pool_member* shared = nullptr;
                    with_lock([&](batch& b) {
                        taken = b.now;
                        collect(w, m, shared, held, b);
                    });
                    if constexpr (std::is_constructible_v<Handle, pool_core*, pool_member*>) {
                        if (shared) co_return Handle(this, shared);
                    }
                    if (!m) continue;  // unfit by the time it came: closed, and this waits again
                }
            }
            if (!needs_check(*m, taken, options_.health_check_after)) {
                if (tracer_) [[unlikely]] trace.handed_out(*tracer_, m->conn, m->generation);
                co_return Handle(this, std::move(m));
            }
            // Idle for a while, or the server sent something meanwhile: an
            // empty query proves it (and reads what came) before the caller sees it.
            const auto failure = co_await check_alive(*m, options_.health_check_timeout);
            if (!failure) {
                if (still_fit_after_wait(m, held)) {
                    if (tracer_) [[unlikely]] trace.handed_out(*tracer_, m->conn, m->generation);
                    co_return Handle(this, std::move(m));
                }
                continue;
            }
            // The caller's cancellation is theirs to see; a failed check only replaces the connection.
            std::exception_ptr cancelled;
            auto state = co_await asio::this_coro::cancellation_state;
            if (state.cancelled() != asio::cancellation_type::none) cancelled = failure;
            with_lock([&](batch& b) {
                --in_use_;
                hold_core(held);
                if (auto reason = after_failed_check(bool(cancelled), *m, connection_answers{m->conn}, state_, b.now))
                    retire(std::move(m), *reason, b);
                else
                    return_member(std::move(m), b);
                start_connects(b);
            });
            if (cancelled) std::rethrow_exception(cancelled);
        }
    } catch (...) {
        // Inside held's scope: the pool is still alive here.
        if (tracer_) [[unlikely]] trace.failed(*tracer_, std::current_exception());
        throw;
    }
}

// Nothing idle for this acquire: it queues, first come first served, and
// a connect starts if there is room for one. A lease's executor: it takes
// a shared connection of that executor too.
inline pool_waiter* pool_core::enqueue(const std::optional<asio::any_io_executor>& lease_executor,
                                       pool_clock::time_point started, batch& b) {
    auto* w = spare_waiters_.take();
    w->wants_share = lease_executor.has_value();
    if (lease_executor) w->executor = *lease_executor;
    w->queued = b.precise_now();
    w->arm(mutex_, started + options_.acquire_timeout);
    waiters_.push_back(w);
    // Counted before the slots are emptied: a return that parks meanwhile
    // sees the count and takes its connection back to the lock (parking.hpp).
    if (parking_.waiter_queued()) drain_parked(b);
    watch_deadlines();
    start_connects(b);
    return w;
}

// A waiter a user's return served (hand_over_or_keep_idle: off the queue,
// counted, the member counted in use) takes its member without the lock:
// the wake-up ordered the waker's writes before this. Unless a bump, a
// close or a fork came since, which the lock must see (collect). Whether
// it did; the waiter goes back to the spares then.
inline bool pool_core::collect_handed_over(pool_waiter*& w, member_ptr& m) noexcept {
    if (!w->member || !current_for_lockless_use(*w->member, parking_.generation(), fork_epoch())) return false;
    m = std::move(w->member);
    parking_.waiter_left();
    spare_waiters_.give_back(std::exchange(w, nullptr));
    return true;
}

// A waiter woke: it takes what it was handed (the member counted in use,
// a shared one with its load raised), or throws why it has nothing. A
// member unfit by now closes here (retire_if_late), and m stays empty. The
// waiter goes back to the spares. `held`: as in acquire().
inline void pool_core::collect(pool_waiter*& w, member_ptr& m, pool_member*& shared, std::shared_ptr<pool_core>& held,
                               batch& b) {
    parking_.waiter_left();
    hold_core(held);
    m = std::move(w->member);
    shared = std::exchange(w->shared, nullptr);
    const auto failure = w->failure;
    const bool cancelled = w->cancelled;
    if (w->in_queue) waiters_.erase(w);  // timed out or cancelled, or a lease served behind the front
    spare_waiters_.give_back(std::exchange(w, nullptr));
    if (failure) std::rethrow_exception(failure);
    if (!m && !shared) {
        if (cancelled) throw error(errc::cancelled, "acquire() cancelled while waiting for a connection");
        ++stats_.acquire_timeouts;
        throw error(errc::timeout, timeout_message());
    }
    if (m) retire_if_late(m, held, b);
}

// Whether the member an acquire holds after its health check may still
// go out; if not it is closed, and m left empty. `held`: as in acquire().
inline bool pool_core::still_fit_after_wait(member_ptr& m, std::shared_ptr<pool_core>& held) {
    with_lock([&](batch& b) { retire_if_late(m, held, b); });
    return m != nullptr;
}

// A member that a bump or a fork made unfit since an acquire took it
// (at_late_checkout) closes, and m is left empty. `held`: as in acquire().
inline void pool_core::retire_if_late(member_ptr& m, std::shared_ptr<pool_core>& held, batch& b) {
    notice_fork(b);
    const auto reason = at_late_checkout(*m, state_);
    if (!reason) return;
    --in_use_;
    hold_core(held);
    retire(std::move(m), *reason, b);
    start_connects(b);
}

// A checked-out connection comes back (pooled_connection's destructor):
// parked in this thread's slot when it may (may_park), without the lock;
// otherwise through the lock, to the first waiter or idle.
inline void pool_core::release(member_ptr m) noexcept {
    std::shared_ptr<pool_core> last;  // set when the pool is gone and this was the last one out
    const bool others_waiting = parking_.others_waiting();
    if (!others_waiting) {
        const auto now = coarse_now();
        const auto generation = parking_.generation();
        if (may_park(*m, connection_answers{m->conn}, generation, fork_epoch(), now, options_.reset)) [[likely]] {
            m->last_used = m->last_checked = now;  // as return_member stamps a returned one
            const auto displaced = parking_.park(m.release(), generation);
            if (!displaced.previous && !displaced.taken_back) [[likely]] return;
            try {
                with_lock([&](batch& b) {
                    notice_fork(b);
                    if (displaced.previous) unpark(member_ptr(displaced.previous), b, &last);
                    if (displaced.taken_back) unpark(member_ptr(displaced.taken_back), b, &last);
                    start_connects(b);  // for one that closed
                });
            } catch (...) {
            }
            return;
        }
    }
    pool_waiter::deferred_wake wake;  // the waiter this return serves
    try {
        // Inlined, as the checkout's step is (GCC makes a lambda with many
        // inlined steps a function of its own).
        with_lock([&](batch& b) __attribute__((always_inline)) { take_back(std::move(m), b, wake, last); },
                  others_waiting ? batch_clock::precise : batch_clock::coarse);
    } catch (...) {
        // Only allocation can fail here; the connection is dropped with its member.
    }
    // Last: the waiter may run here, to its next wait, and close the pool meanwhile.
    resume_served(wake);
}

// release()'s locked step: the member goes to the first waiter (resumed
// by `wake` once the lock is let go), idle, to a reset, or closed.
inline void pool_core::take_back(member_ptr m, batch& b, pool_waiter::deferred_wake& wake,
                                 std::shared_ptr<pool_core>& last) {
    b.wake_later = &wake;
    --in_use_;
    let_go_if_last(last);
    notice_fork(b);
    const auto verdict = after_return(*m, connection_answers{m->conn}, state_, b.now, options_.reset);
    switch (verdict.action) {
        case return_action::keep: return_member(std::move(m), b); break;
        case return_action::reset:
            ++resetting_;
            spawn(reset(shared_from_this(), std::move(m), reset_kind::returned));
            break;
        case return_action::retire:
            retire(std::move(m), verdict.reason, b);
            start_connects(b);  // the one branch that frees a slot
            break;
    }
}

// A waiter served by a user's return resumes at once on the returning
// thread when that thread runs the io_context the waiter runs on, instead
// of through the scheduler's queue and its lock (some 260 instructions a
// hand-over). It runs until it waits again, usually for its query's
// answer; one that returns its connection at once serves the next waiter
// in turn, so past a few nested returns the rest are posted. What the
// waiter throws is kept by its io_context for run() to rethrow, as when
// posted. (Asio's per-thread cache of two coroutine frames allows it: the
// returning coroutine has freed its query's frame, the waiter frees its
// acquire's and takes one for its query, and the returning one takes it
// back for its next acquire.)
inline void pool_core::resume_served(pool_waiter::deferred_wake& wake) noexcept {
    constexpr int max_nested = 4;
    static thread_local int nested = 0;
    if (!wake.pending()) return;
    const bool here = nested < max_nested;
    ++nested;
    try {
        wake.run(here);
    } catch (...) {
        // Only posting can fail, for want of memory.
    }
    --nested;
}

// Acquires that wait past acquire_timeout fail. One timer, under the lock,
// serves all of them, set for the earliest deadline: waiters queue in
// the order of their deadlines, except one queued again after a failed
// health check, whose timeout may come as late as that check took.
inline void pool_core::watch_deadlines() {
    if (watching_deadlines_) return;
    watching_deadlines_ = true;
    if (time_out_waiters()) wait_for_next_deadline();
}

// Wakes the waiters whose deadline passed; sets the timer for the next
// one and returns true, or false when none is left to watch.
inline bool pool_core::time_out_waiters() {
    const auto now = pool_clock::now();
    std::optional<pool_clock::time_point> next;
    for (auto& w : waiters_) {
        if (w->finished) continue;
        if (w->deadline <= now) {
            w->finished = true;  // nothing handed over: the acquire times out
            pool_waiter::wake(w);
        } else if (!next || w->deadline < *next) {
            next = w->deadline;
        }
    }
    if (!next) {
        watching_deadlines_ = false;
        return false;
    }
    deadline_timer_.expires_at(*next);
    return true;
}

// Under the lock: a waiter that leaves before it is collected is done
// with, off the queue and no longer counted. `held`: as in acquire().
inline void pool_core::stop_waiting(pool_waiter& w, std::shared_ptr<pool_core>& held) noexcept {
    parking_.waiter_left();
    hold_core(held);
    w.finished = true;
    if (w.in_queue) waiters_.erase(&w);
}

// An acquire cancelled before its wait began leaves the queue, and what
// the pool handed it meanwhile goes back. `held`: as in acquire().
inline void pool_core::give_up_waiting(pool_waiter*& w, std::shared_ptr<pool_core>& held) noexcept {
    member_ptr handed;
    pool_member* lent = nullptr;
    try {
        with_lock([&](batch&) {
            stop_waiting(*w, held);
            handed = std::move(w->member);
            lent = std::exchange(w->shared, nullptr);
            if (handed || lent) --stats_.acquires;  // counted when served (count_served)
            spare_waiters_.give_back(std::exchange(w, nullptr));
        });
    } catch (...) {
    }
    if (handed) release(std::move(handed));
    if (lent) end_lease(lent);
}

// unresumed_wait: the waiter leaves the queue and the count. A connection
// it was handed stays in it, counted in use: like a connection never
// returned, it keeps a destroyed pool's core.
inline void pool_core::leave_unresumed(pool_waiter*& w, std::shared_ptr<pool_core>& held) noexcept {
    try {
        with_lock([&](batch&) {
            stop_waiting(*w, held);
            spare_waiters_.give_back(std::exchange(w, nullptr));
        });
    } catch (...) {
    }
}

// An idle connection, counted in use, unless acquires are already waiting (first come, first served).
inline member_ptr pool_core::take_ready(batch& b) {
    notice_fork(b);
    switch (checkout(state_, !waiters_.empty())) {
        case checkout_path::refused: throw error(errc::pool_closed, "acquire() on a pool that is closed");
        case checkout_path::queue: return nullptr;
        case checkout_path::idle: break;
    }
    auto m = take_idle(b);
    if (!m && drain_parked(b)) m = take_idle(b);  // parked in other threads' slots: idle too
    if (m) {
        ++in_use_;
        ++stats_.acquires;
    }
    return m;
}

// The most recently used idle connection that may go out (checkout_idle);
// retires the rest it meets.
inline member_ptr pool_core::take_idle(batch& b) {
    while (!idle_.empty()) {
        auto m = std::move(idle_.back());
        idle_.pop_back();
        if (auto reason = checkout_idle(*m, connection_answers{m->conn}, state_, b.now)) {
            retire(std::move(m), *reason, b);
            continue;
        }
        return m;
    }
    return nullptr;
}

// A parked member back under the lock, no longer counted in use: to the
// first waiter or idle with the times its return stamped, or closed when
// it became unfit meanwhile (the caller starts the connects that may
// replace it: a bump for update() must not, before its probe is counted).
// `last`: as in release(); null where the pool cannot be gone (shut_down
// lends nothing out until close_locked has drained the slots, and nothing
// parks after it).
inline void pool_core::unpark(member_ptr m, batch& b, std::shared_ptr<pool_core>* last) {
    --in_use_;
    if (last) let_go_if_last(*last);
    if (auto reason = unfit_reason(*m, connection_answers{m->conn}, state_, b.now)) {
        retire(std::move(m), *reason, b);
        return;
    }
    hand_over_or_keep_idle(std::move(m), b);
}

// Every parked member back under the lock; whether there was any. Once
// the pool is closed, close_locked() alone drains.
inline bool pool_core::drain_parked(batch& b, std::shared_ptr<pool_core>* last) {
    if (state_.closed) return false;
    bool any = false;
    parking_.drain([&](member_ptr m) {
        any = true;
        unpark(std::move(m), b, last);
    });
    return any;
}

}  // namespace pgcoro::detail
