// How a session ends: politely (Terminate, TLS close_notify, then the socket)
// when the caller can wait for it, or at once when it cannot (a destructor).
#pragma once

#include <chrono>
#include <exception>
#include <memory>

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "../net/deadline.hpp"
#include "session.hpp"

namespace pgcoro::detail {

inline asio::awaitable<void> send_terminate_and_shut_tls(session& s) {
    protocol::encode_terminate(s.out());
    co_await s.flush();
    if (s.stream().is_tls()) {
        boost::system::error_code ec;
        co_await s.stream().tls().async_shutdown(asio::redirect_error(asio::use_awaitable, ec));
    }
}

// Never throws for a session that is already broken or closed.
inline asio::awaitable<void> close_session(std::shared_ptr<session> s) {
    if (!s->may_start_alone()) {
        // Another coroutine is mid-operation: a Terminate now would
        // interleave with its messages. Drop the socket; it fails cleanly.
        s->mark_abandoned();
        s->mark_broken();
        co_return;
    }
    if (s->broken() || !s->stream().is_open()) co_return;
    std::exception_ptr ignored;
    try {
        co_await with_deadline(send_terminate_and_shut_tls(*s), std::chrono::seconds(2), "close");
    } catch (...) {
        ignored = std::current_exception();  // closing anyway
    }
    s->stream().close();
}

// Drops the socket without awaiting; a plain socket still gets Terminate so
// the server logs a clean disconnect. An operation still running in another
// coroutine keeps the session alive and fails with connection_broken instead
// of touching freed memory.
inline void abandon_session(session& s) noexcept {
    if (!s.broken() && s.may_start_alone()) {
        static constexpr char terminate[] = {'X', 0, 0, 0, 4};
        s.stream().try_write_now(asio::buffer(terminate, sizeof terminate));
    }
    s.mark_abandoned();
    s.mark_broken();
}

}  // namespace pgcoro::detail
