// What the pool keeps per connection and per waiting acquire, and the one
// window it has into a connection's session.
#pragma once

#include <chrono>
#include <cstdint>
#include <exception>
#include <memory>

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include "../connection.hpp"

namespace pgcoro::detail {

using pool_clock = std::chrono::steady_clock;

struct pool_member {
    connection conn;
    std::uint64_t generation = 0;
    pool_clock::time_point opened, expires, last_used;
};
using member_ptr = std::unique_ptr<pool_member>;

// A coroutine waiting on the pool: woken by cancelling its timer, which
// lives on the waiter's own executor.
struct pool_waiter {
    explicit pool_waiter(asio::any_io_executor ex) : timer(std::move(ex)) {}
    asio::steady_timer timer;
    member_ptr member;           // handed over by the pool
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
};

}  // namespace pgcoro::detail
