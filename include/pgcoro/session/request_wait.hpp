// A coroutine suspended until another one wakes it: a request waiting for
// its turn on a connection or for its answer, the connection's reader and
// writer waiting for work. One per waiting coroutine, in memory it already
// has (its frame, or the session), so waiting allocates nothing: the
// coroutine's completion handler is kept here by value, and the wake-up is
// posted with Asio's recycled operation memory.
//
// The wait honours the awaiting coroutine's cancellation: the owner's hook
// runs (to take the request out of its queue) and the wait completes with
// operation_aborted. Whichever comes first, wake-up or cancellation, wakes
// the coroutine; the other then finds no handler and does nothing. (The
// coroutine clears its cancellation slot itself when it resumes.)
#pragma once

#include <optional>
#include <utility>

#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/bind_allocator.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "../net/handler_memory.hpp"

namespace pgcoro::detail {

namespace asio = boost::asio;

class request_wait {
public:
    using handler_type = asio::async_result<asio::use_awaitable_t<>, void()>::handler_type;
    // Told of a cancellation before the wait completes with operation_aborted.
    using cancel_hook = void (*)(void* owner) noexcept;

    request_wait() = default;
    request_wait(const request_wait&) = delete;
    request_wait& operator=(const request_wait&) = delete;

    // Completes when woken; outcome() then tells how: what wake() gave, or
    // operation_aborted when cancelled.
    auto wait(cancel_hook on_cancel = nullptr, void* owner = nullptr) {
        on_cancel_ = on_cancel;
        owner_ = owner;
        outcome_ = {};
        return asio::async_initiate<const asio::use_awaitable_t<>&, void()>(
            [this](handler_type handler) {
                auto slot = asio::get_associated_cancellation_slot(handler);
                if (on_cancel_ && slot.is_connected()) slot.template emplace<canceller>(this);
                handler_.emplace(std::move(handler));
            },
            asio::use_awaitable);
    }

    bool waiting() const noexcept { return handler_.has_value(); }

    // Resumes the waiting coroutine on its own executor, after the caller is done.
    void wake(boost::system::error_code ec = {}) { resume(ec, false); }

    // Resumes it at once when the caller runs on its executor, else as
    // wake(). For the reader of answers: handing each answer over in place
    // costs no posted operation, where dozens of posts at once would
    // overflow Asio's per-thread cache of operation memory.
    void wake_here() { resume({}, true); }

    const boost::system::error_code& outcome() const noexcept { return outcome_; }

private:
    void resume(boost::system::error_code ec, bool here) {
        if (!handler_) return;
        auto handler = std::move(*handler_);
        handler_.reset();
        outcome_ = ec;
        auto bound = asio::bind_allocator(handler_allocator<void, handler_memory<1, 128>>(memory_), std::move(handler));
        if (here) asio::dispatch(std::move(bound));
        else asio::post(std::move(bound));
    }

    struct canceller {
        explicit canceller(request_wait* w) noexcept : wait(w) {}
        request_wait* wait;
        void operator()(asio::cancellation_type) noexcept {
            if (!wait->handler_) return;  // woken already
            if (wait->on_cancel_) wait->on_cancel_(wait->owner_);
            wait->wake(asio::error::operation_aborted);
        }
    };

    std::optional<handler_type> handler_;
    cancel_hook on_cancel_ = nullptr;
    void* owner_ = nullptr;
    boost::system::error_code outcome_;
    handler_memory<1, 128> memory_;  // for the posted wake-up
};

}  // namespace pgcoro::detail
