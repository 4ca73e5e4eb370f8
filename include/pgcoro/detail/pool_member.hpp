// What the pool keeps per connection and per waiting acquire, and the one
// window it has into a connection's session.
#pragma once

#include <chrono>
#include <cstdint>
#include <exception>
#include <memory>
#include <optional>

#include <time.h>

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include "../connection.hpp"
#include "../pool_options.hpp"
#include "deadline.hpp"

namespace pgcoro::detail {

using pool_clock = std::chrono::steady_clock;

// The time from the kernel's last tick (a few ms old) for a memory load
// instead of a timer read (~50 ns on a VM): the pool's bookkeeping
// (lifetimes, idle times, back-off) needs milliseconds, and a checkout reads
// the time twice. Same epoch as steady_clock (CLOCK_MONOTONIC).
inline pool_clock::time_point coarse_now() noexcept {
    timespec ts{};
    ::clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return pool_clock::time_point(std::chrono::duration_cast<pool_clock::duration>(
        std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec)));
}

struct pool_member {
    connection conn;
    std::uint64_t generation = 0;
    std::uint64_t fork_epoch = 0;  // of the process that opened it (fork_epoch.hpp)
    pool_clock::time_point opened, expires, last_used;
    pool_clock::time_point last_checked;  // last proven alive: used, or passed a check
    bool input_waiting = false;           // something arrived while it sat idle
};
using member_ptr = std::unique_ptr<pool_member>;

// A coroutine waiting on the pool: woken by cancelling its timer, which
// lives on the waiter's own executor.
struct pool_waiter {
    explicit pool_waiter(asio::any_io_executor ex) : timer(std::move(ex)) {}
    asio::steady_timer timer;
    member_ptr member;           // handed over by the pool
    pool_clock::time_point queued;  // for the acquire wait statistics
    std::exception_ptr failure;  // e.g. the pool closed
    bool finished = false;       // served, failed, or gave up

    // Must run under the pool's lock.
    static void wake(const std::shared_ptr<pool_waiter>& w) {
        asio::post(w->timer.get_executor(), [w] { w->timer.cancel(); });
    }
};

// What the pool needs of a connection beyond its public interface.
struct pool_access {
    static bool has_leftovers(const connection& c) {
        const auto& s = *c.session_;
        return s.exchange != open_exchange::none || !s.deferred_sql.empty();
    }
    static void forget_statements(connection& c) { c.session_->statements.clear(); }
    static transport::pending_input pending_input(const connection& c) {
        return c.session_ ? c.session_->pending_input() : transport::pending_input::closed;
    }
    // Closes our file descriptor and nothing more: no Terminate, no TLS
    // close_notify. For sockets inherited across fork(), which the parent
    // still uses.
    static void drop_silently(connection& c) noexcept {
        if (!c.session_) return;
        c.session_->abandoned = true;
        c.session_->mark_broken();
        c.session_.reset();
    }
};

// An empty query, bounded by `limit`, proves an idle connection (and reads
// what arrived while it sat idle). Returns the failure instead of throwing it.
inline asio::awaitable<std::exception_ptr> check_alive(pool_member& m, std::chrono::milliseconds limit) {
    try {
        co_await with_deadline(m.conn.simple_query(""), limit, "pool health check");
        m.last_checked = pool_clock::now();
        m.input_waiting = false;
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
    co_await conn.simple_query("");
    if (!policy) co_return;
    if (conn.transaction_state() != transaction_status::idle) co_await conn.simple_query("ROLLBACK");
    if (*policy == reset_policy::discard_all) {
        co_await conn.simple_query("DISCARD ALL");
        pool_access::forget_statements(conn);
    }
}

}  // namespace pgcoro::detail
