// A coroutine suspended until another one wakes it: a request waiting for
// its turn on a connection or for its answer, an acquire waiting for a pool
// connection. One per waiting coroutine, in memory it already has (its
// frame, the pool's reused waiter), so waiting allocates nothing: the
// coroutine's completion handler is kept here by value, and the wake-up is
// posted with memory of its own, or run at once on the waker's thread
// (wake_here(), deferred_wake).
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

#include <mutex>
#include <optional>
#include <type_traits>
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
#include <boost/asio/use_awaitable.hpp>

#include "../net/concrete_executor.hpp"
#include "../net/handler_memory.hpp"

namespace pgcoro::detail {

namespace asio = boost::asio;

// For a waiter only its own executor touches (a session's requests): no lock.
struct single_executor {
    void lock() noexcept {}
    void unlock() noexcept {}
};

// `Lock` guards the wait where other threads wake it (the pool's waiting
// acquires): wake() runs with it held, and the wait takes it to keep the
// handler, so a wake-up that comes before the handler is kept is not lost.
template <class Lock>
class basic_request_wait {
public:
    // What an asio::awaitable<T> gives an async operation it co_awaits
    // directly (impl/awaitable.hpp); named so the handler can be kept by value.
    using handler_type = asio::detail::awaitable_async_op_handler<void(), asio::any_io_executor>;
    // Told of a cancellation, with the lock held: whether it ends the wait
    // (with operation_aborted), or the waiter was served meanwhile.
    using cancel_hook = bool (*)(void* owner) noexcept;

    basic_request_wait() = default;
    basic_request_wait(const basic_request_wait&) = delete;
    basic_request_wait& operator=(const basic_request_wait&) = delete;

    // Before anything may wake the waiter (with the lock held): forgets the
    // last wait's outcome.
    void arm(cancel_hook on_cancel, void* owner, Lock& lock) noexcept {
        on_cancel_ = on_cancel;
        owner_ = owner;
        lock_ = &lock;
        outcome_ = {};
        woken_ = false;
    }

    // Completes when woken, at once if it was woken since arm(); outcome()
    // then tells how: what wake() gave, or operation_aborted when cancelled.
    auto wait() { return operation{this}; }

    // arm() and wait(), for a waiter only its own executor wakes.
    auto wait(cancel_hook on_cancel, void* owner) requires std::is_same_v<Lock, single_executor> {
        static single_executor none;
        arm(on_cancel, owner, none);
        return wait();
    }

    bool waiting() const noexcept { return handler_.has_value(); }

    // Resumes the waiting coroutine on its own executor, after the caller is done.
    void wake(boost::system::error_code ec = {}) { resume(ec, resumption::post); }

    // Resumes it at once when the caller runs on its executor, else as
    // wake(). For the reader of answers: handing each answer over in place
    // costs no posted operation, where dozens of posts at once would
    // overflow Asio's per-thread cache of operation memory.
    void wake_here() { resume({}, resumption::here); }

    const boost::system::error_code& outcome() const noexcept { return outcome_; }

    // A wake-up decided under the lock and carried out once the waker has
    // let the lock go (run()): the woken coroutine may then resume at once
    // on the waker's thread, where resuming it under the lock would meet the
    // lock it takes itself.
    class deferred_wake {
    public:
        deferred_wake() = default;
        deferred_wake(const deferred_wake&) = delete;
        deferred_wake& operator=(const deferred_wake&) = delete;
        ~deferred_wake() { run(false); }

        bool pending() const noexcept { return wait_ != nullptr; }

        // `here`: at once when this thread runs the io_context the coroutine
        // runs on (whose executor keeps what the coroutine throws for run()
        // to rethrow), else posted. The wait is not touched afterwards.
        void run(bool here) {
            if (!wait_) return;
            // Run where it is kept, not moved out: this object outlives
            // the run, where the wait may serve another coroutine by then.
            std::exchange(wait_, nullptr)->post_or_dispatch(std::move(*handler_), here ? resumption::here_on_io_context : resumption::post);
            handler_.reset();
        }

    private:
        friend basic_request_wait;
        basic_request_wait* wait_ = nullptr;
        std::optional<handler_type> handler_;
    };

    // As wake(), with the resumption left to `later` (empty until now). The
    // wait lives until the coroutine resumes, so `later` may run after the
    // waker is done with everything else.
    void wake_later(deferred_wake& later) {
        outcome_ = {};
        if (!handler_) {
            woken_ = true;  // before the wait began: it completes at once
            return;
        }
        later.handler_.emplace(std::move(*handler_));
        handler_.reset();
        later.wait_ = this;
    }

private:
    enum class resumption { post, here, here_on_io_context };

    void resume(boost::system::error_code ec, resumption how) {
        outcome_ = ec;
        if (!handler_) {
            woken_ = true;  // before the wait began: it completes at once
            return;
        }
        auto handler = std::move(*handler_);
        handler_.reset();
        post_or_dispatch(std::move(handler), how);
    }

    // `handler` is used up, not moved from, when it runs here.
    void post_or_dispatch(handler_type&& handler, resumption how) {
        if (how != resumption::post) {
            // On its io_context's thread the coroutine resumes here, what it
            // throws going to run(), as dispatch() would run it, without the
            // allocator and executor bound around it for a post (some 70
            // instructions a wake-up) or the handler moved once more.
            const auto ex = handler.get_executor();
            if (const auto* io = ex.target<asio::io_context::executor_type>(); io && io->running_in_this_thread()) {
                handler();
                return;
            }
        }
        auto bound = asio::bind_allocator(handler_allocator<void, handler_memory<1, 192>>(memory_), std::move(handler));
        with_concrete_executor(asio::get_associated_executor(bound.get()), [&](const auto& ex) {
            constexpr bool on_io_context = std::is_same_v<std::decay_t<decltype(ex)>, asio::io_context::executor_type>;
            if (how == resumption::here || (on_io_context && how == resumption::here_on_io_context))
                asio::dispatch(asio::bind_executor(ex, std::move(bound)));
            // Not defer(): on a multi-threaded io_context it would hold the
            // waiter in the waker's thread-private queue until the waker's
            // handler ends, though another thread could run it now. (On an
            // io_context that promises one thread, post() queues privately too.)
            else asio::post(asio::bind_executor(ex, std::move(bound)));
        });
    }

    // Keeps the coroutine's handler, hooked to its cancellation slot.
    struct initiation {
        basic_request_wait* wait;
        void operator()(handler_type handler) const {
            std::lock_guard guard(*wait->lock_);
            if (wait->woken_) {
                wait->woken_ = false;
                wait->post_or_dispatch(std::move(handler), resumption::post);
                return;
            }
            auto slot = asio::get_associated_cancellation_slot(handler);
            if (wait->on_cancel_ && slot.is_connected()) slot.template emplace<canceller>(wait);
            wait->handler_.emplace(std::move(handler));
        }
    };

    // The operation co_awaited: only a handler_type completes it (the
    // return type keeps it out of overloads probing other callables).
    struct operation {
        basic_request_wait* wait;
        template <class Token>
        auto operator()(Token&& token) && -> decltype(asio::async_initiate<Token, void()>(initiation{wait}, token)) {
            return asio::async_initiate<Token, void()>(initiation{wait}, token);
        }
    };

    struct canceller {
        explicit canceller(basic_request_wait* w) noexcept : wait(w) {}
        basic_request_wait* wait;
        void operator()(asio::cancellation_type) noexcept {
            std::lock_guard guard(*wait->lock_);
            if (!wait->handler_) return;  // woken already
            if (!wait->on_cancel_(wait->owner_)) return;
            wait->wake(asio::error::operation_aborted);
        }
    };

    std::optional<handler_type> handler_;
    cancel_hook on_cancel_ = nullptr;
    void* owner_ = nullptr;
    Lock* lock_ = nullptr;
    bool woken_ = false;
    boost::system::error_code outcome_;
    handler_memory<1, 192> memory_;  // for the posted wake-up
};

using request_wait = basic_request_wait<single_executor>;

}  // namespace pgcoro::detail
