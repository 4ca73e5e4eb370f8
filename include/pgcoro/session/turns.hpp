// Waiting for a turn on a session (request_queue.hpp): a shared request
// behind those that came before it, an exclusive operation until nothing
// else runs or is owed.
#pragma once

#include <boost/asio/awaitable.hpp>

#include "../error.hpp"
#include "request_queue.hpp"
#include "session.hpp"

namespace pgcoro::detail {

// A waiting request's coroutine gave up (request_wait's hook).
inline bool leave_queue(void* request) noexcept {
    auto& r = *static_cast<queued_request*>(request);
    r.owner->requests.remove_waiting(r);
    return true;
}

// Waits until the request may go: in order, behind every request that came
// before it. Throws when cancelled meanwhile (nothing was written) or when
// the session failed.
inline asio::awaitable<void> wait_for_turn(session& s, queued_request& r) {
    s.requests.push_waiting(r);
    try {
        co_await r.wake.wait(&leave_queue, &r);
    } catch (...) {
        // Cancelled before it could wait (the coroutine was already cancelled).
        s.requests.remove_waiting(r);
        throw;
    }
    if (r.wake.outcome() == asio::error::operation_aborted)
        throw error(errc::cancelled, "operation cancelled while it waited for its turn on the connection (nothing was sent; the connection is usable)");
    if (s.broken()) throw error(errc::connection_broken, "connection is broken by an earlier failure and must be closed");
}

// An exclusive operation's wait (run_operation): the session is its own on return.
inline asio::awaitable<void> wait_for_session_alone(session& s) {
    queued_request me(s, true);
    co_await wait_for_turn(s, me);
}

}  // namespace pgcoro::detail
