// A coroutine suspended until another one wakes it: a request waiting for
// its turn on a connection or for its answer. One per waiting coroutine, in
// memory it already has (its frame), so waiting allocates nothing: the
// coroutine's completion handler is kept here by value, and the wake-up is
// posted with memory of its own.
//
// wait() returns an async operation (a callable taking a completion token),
// not the awaitable that async_initiate(use_awaitable) makes: an awaitable
// coroutine co_awaits such an operation with no frame of its own, where
// use_awaitable's initiation is a coroutine whose frame is allocated per
// wait and would be the one allocation left on a pipelined query's path.
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
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include "../net/concrete_executor.hpp"
#include "../net/handler_memory.hpp"

namespace pgcoro::detail {

namespace asio = boost::asio;

class request_wait {
public:
    // What an asio::awaitable<T> gives an async operation it co_awaits
    // (impl/awaitable.hpp); named so the handler can be kept by value.
    using handler_type = asio::detail::awaitable_async_op_handler<void(), asio::any_io_executor>;
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
        return operation{this};
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
        auto bound = asio::bind_allocator(handler_allocator<void, handler_memory<1, 192>>(memory_), std::move(handler));
        with_concrete_executor(asio::get_associated_executor(bound.get()), [&](const auto& ex) {
            if (here) asio::dispatch(asio::bind_executor(ex, std::move(bound)));
            else asio::post(asio::bind_executor(ex, std::move(bound)));
        });
    }

    // Keeps the coroutine's handler, hooked to its cancellation slot.
    struct initiation {
        request_wait* wait;
        void operator()(handler_type handler) const {
            auto slot = asio::get_associated_cancellation_slot(handler);
            if (wait->on_cancel_ && slot.is_connected()) slot.template emplace<canceller>(wait);
            wait->handler_.emplace(std::move(handler));
        }
    };

    // The operation co_awaited: only a handler_type completes it (the
    // return type keeps it out of overloads probing other callables).
    struct operation {
        request_wait* wait;
        template <class Token>
        auto operator()(Token&& token) && -> decltype(asio::async_initiate<Token, void()>(initiation{wait}, token)) {
            return asio::async_initiate<Token, void()>(initiation{wait}, token);
        }
    };

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
    handler_memory<1, 192> memory_;  // for the posted wake-up
};

}  // namespace pgcoro::detail
