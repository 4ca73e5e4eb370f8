// What the pool keeps per connection and per waiting acquire, and the one
// window it has into a connection's session.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <exception>
#include <memory>
#include <optional>
#include <string_view>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include "../connection.hpp"
#include "../pool_options.hpp"
#include "../net/deadline.hpp"
#include "../net/handler_memory.hpp"
#include "../session/request_wait.hpp"
#include "clock.hpp"
#include "member_decisions.hpp"
#include "member_ptr.hpp"
#include "mutex.hpp"
#include "sharing_decisions.hpp"
#include "state.hpp"

namespace pgcoro::detail {

// The state the pool's decisions read (member_decisions.hpp), and the connection.
// Lent to pool.query()/execute() (pool_core::lease), it is shared by the
// requests of coroutines on `home` (sharing_state).
struct pool_member : member_state, sharing_state {
    connection conn;
    asio::any_io_executor home;
};

[[gnu::noinline]] inline void pool_member_delete::operator()(pool_member* m) const noexcept { delete m; }

// A coroutine waiting on the pool for a connection: its handler is kept
// in the waiter and posted to its own executor when the pool hands it
// something (wake(), under the pool's lock), or when acquire_timeout passes
// (pool_core::time_out_waiters); a user's return resumes it at once on the
// returning thread when it may (deferred_wake, pool_core::resume_served).
// No timer of its own: scheduling and cancelling one per wait cost more
// than the rest of a checkout. Kept for reuse (spare_waiters), so waiting
// allocates nothing.
struct pool_waiter {
    asio::any_io_executor executor;   // a lease's (wants_share), for a shared member of the same
    basic_request_wait<pool_mutex> wake_up;
    member_ptr member;                // handed over by the pool
    pool_clock::time_point queued;    // for the acquire wait statistics
    pool_clock::time_point deadline;  // when acquire_timeout passes
    std::exception_ptr failure;       // e.g. the pool closed
    bool finished = false;            // served, failed, timed out, or cancelled
    bool cancelled = false;
    bool in_queue = false;            // in waiter_queue, served or not
    // A pool.query() waiting (pool_core::lease): served by a shared member
    // of its executor too, lent with its load raised, not owned.
    bool wants_share = false;
    pool_member* shared = nullptr;
    pool_waiter* next_spare = nullptr;  // spare_waiters' list

    // Under the pool's lock, before the waiter is queued.
    void arm(pool_mutex& lock, pool_clock::time_point until) noexcept {
        deadline = until;
        wake_up.arm(&give_up, this, lock);
    }

    // Under the pool's lock, `finished` set: resumes the waiter on its own
    // executor, now or as soon as it waits.
    static void wake(pool_waiter* w) { w->wake_up.wake(); }

    using deferred_wake = basic_request_wait<pool_mutex>::deferred_wake;

private:
    // The caller cancelled: unless it was served meanwhile, it leaves (the
    // acquire takes it off the queue once resumed).
    static bool give_up(void* waiter) noexcept {
        auto& w = *static_cast<pool_waiter*>(waiter);
        if (w.finished) return false;
        w.finished = w.cancelled = true;
        return true;
    }
};

// The waiting acquires, first come first served: a vector used as a queue,
// where a deque would free and allocate a block every few dozen waits.
// Under the pool's lock; a waiter knows whether it is in it (in_queue).
class waiter_queue {
public:
    bool empty() const noexcept { return head_ == items_.size(); }
    auto begin() noexcept { return items_.begin() + static_cast<std::ptrdiff_t>(head_); }
    auto end() noexcept { return items_.end(); }
    auto begin() const noexcept { return items_.begin() + static_cast<std::ptrdiff_t>(head_); }
    auto end() const noexcept { return items_.end(); }

    [[gnu::always_inline]] void push_back(pool_waiter* w) {
        if (head_ > 0 && head_ >= items_.size() / 2) {
            items_.erase(items_.begin(), begin());
            head_ = 0;
        }
        items_.push_back(w);
        w->in_queue = true;
    }
    [[gnu::always_inline]] pool_waiter* pop_front() noexcept {
        auto* w = items_[head_++];
        w->in_queue = false;
        if (empty()) clear();
        return w;
    }
    void erase(pool_waiter* w) noexcept {
        w->in_queue = false;
        items_.erase(std::remove(begin(), end(), w), end());
        if (empty()) clear();
    }
    void clear() noexcept {
        for (auto* w : *this) w->in_queue = false;
        items_.clear();  // keeps the capacity
        head_ = 0;
    }

private:
    std::vector<pool_waiter*> items_;
    std::size_t head_ = 0;
};

// Waiters done with, for the next acquire that has to wait. The pool owns
// every waiter it made (as many as ever waited at once) until it is gone,
// so a waiter is a plain pointer wherever it goes. One served by a user's
// return comes back here without the pool's lock (pool_core::
// collect_handed_over): a list that any thread pushes onto with one
// compare-exchange, and only a holder of the lock takes from. With one
// taker at a time, what the taker read as the head's successor is still
// its successor when its exchange succeeds (only pushes ran meanwhile, and
// they change the head), so the list needs no tag against reuse.
class spare_waiters {
public:
    // Under the pool's lock.
    [[gnu::always_inline]] pool_waiter* take() {
        auto* w = free_.load(std::memory_order_acquire);
        while (w && !free_.compare_exchange_weak(w, w->next_spare, std::memory_order_acquire))
            ;
        if (!w) {
            all_.push_back(std::make_unique<pool_waiter>());
            return all_.back().get();
        }
        w->member.reset();
        w->failure = nullptr;
        w->finished = w->cancelled = false;
        w->wants_share = false;
        w->shared = nullptr;
        return w;
    }
    // With or without the lock, once nothing else refers to w: out of the
    // queue, its wake-up run.
    [[gnu::always_inline]] void give_back(pool_waiter* w) noexcept {
        w->next_spare = free_.load(std::memory_order_relaxed);
        while (!free_.compare_exchange_weak(w->next_spare, w, std::memory_order_release, std::memory_order_relaxed))
            ;
    }

private:
    std::vector<std::unique_ptr<pool_waiter>> all_;
    std::atomic<pool_waiter*> free_{nullptr};
};

// What the pool needs of a connection beyond its public interface.
struct pool_access {
    // A stream or COPY left open, queued ROLLBACKs, or a transaction block:
    // the last user left work for reset_session(). Only for an open connection.
    static bool left_unfinished(const connection& c) {
        const auto& s = *c.session_;
        return s.exchange() != open_exchange::none || s.has_deferred() || s.transaction() != transaction_status::idle;
    }
    static void forget_statements(connection& c) { c.session_->statements.clear(); }
    // The pool's own statements (checks, resets): not the user's queries, so untraced.
    static asio::awaitable<void> run_untraced(connection& c, std::string_view sql) {
        std::vector<result> ignored;
        auto run = [&](session& s) { return run_simple_query(s, sql, ignored); };
        co_await c.run_exclusive(run);
    }
    static traced_session traced(const connection& c) noexcept {
        return c.session_ ? traced_session_of(*c.session_) : traced_session{};
    }
    static bool fits_target(const connection& c) noexcept { return !c.session_ || c.session_->fits_target(); }
    static idle_input peek(const connection& c) {
        if (!c.session_) return idle_input::closed;
        switch (c.session_->pending_input()) {
            case transport::pending_input::none: return idle_input::none;
            case transport::pending_input::data: return idle_input::data;
            case transport::pending_input::closed: break;
        }
        return idle_input::closed;
    }
    // A shared connection (pool.query) with nothing under way, in flight
    // or posted: it may serve another executor, or an acquire(). Asked
    // only on its home executor, where its reader and writer run.
    static bool at_rest(const connection& c) noexcept { return c.session_ && c.session_->at_rest(); }
    // It does: its next requests run alone until it is shared again, from
    // whichever executor then uses it.
    static void end_shared_use(connection& c) noexcept {
        auto& q = c.session_->requests;
        q.pipelining = false;
        q.home = {};
        q.on_rest.reset();
    }
    // It does not yet: `listener` hears when it does, on home.
    static void tell_when_at_rest(connection& c, std::weak_ptr<rest_listener> listener) noexcept {
        c.session_->requests.on_rest = std::move(listener);
    }
    static bool runs(const connection& c, const session& s) noexcept { return c.session_.get() == &s; }
    // Closes our file descriptor and nothing more: no Terminate, no TLS
    // close_notify. For sockets inherited across fork(), which the parent
    // still uses.
    static void drop_silently(connection& c) noexcept {
        if (!c.session_) return;
        c.session_->mark_abandoned();
        c.session_->mark_broken();
        c.session_.reset();
    }
};

// A connection's answers to the pool's decisions (session_answers).
struct connection_answers {
    const connection& conn;

    bool usable() const noexcept { return conn.is_usable(); }
    bool left_unfinished() const { return pool_access::left_unfinished(conn); }
    idle_input peek() const { return pool_access::peek(conn); }
    bool fits_target() const noexcept { return pool_access::fits_target(conn); }
};

// A shared member (pool.query) between requests: usable while open, even
// with the answers of abandoned requests still to read.
struct shared_connection_answers : connection_answers {
    bool usable() const noexcept { return conn.is_open(); }
};

// An empty query, bounded by `limit`, proves an idle connection (and reads
// what arrived while it sat idle). Returns the failure instead of throwing it.
inline asio::awaitable<std::exception_ptr> check_alive(pool_member& m, std::chrono::milliseconds limit) {
    try {
        co_await with_deadline(pool_access::run_untraced(m.conn, ""), limit, "pool health check");
        m.last_checked = pool_clock::now();
        m.input_waiting = false;
        // What arrived while it sat idle may be a promotion (in_hot_standby).
        if (!pool_access::fits_target(m.conn))
            throw error(errc::session_attrs_mismatch, "the server no longer fits target_session_attrs");
        co_return nullptr;
    } catch (...) {
        co_return std::current_exception();
    }
}

// What a connection goes through before the pool trusts it again: the empty
// query first finishes a stream or COPY left open, runs queued ROLLBACKs and
// reads whatever arrived; then, for a returned one (`policy` set), an open
// transaction is rolled back and DISCARD ALL runs if asked for.
inline asio::awaitable<void> reset_session(connection& conn, std::optional<reset_policy> policy) {
    co_await pool_access::run_untraced(conn, "");
    if (!policy) co_return;
    if (conn.transaction_state() != transaction_status::idle) co_await pool_access::run_untraced(conn, "ROLLBACK");
    if (*policy == reset_policy::discard_all) {
        co_await pool_access::run_untraced(conn, "DISCARD ALL");
        pool_access::forget_statements(conn);
    }
}

}  // namespace pgcoro::detail
