// Coroutines waiting for the pool to reach a state (retired(), close(), a
// listener waiting for a new generation): each sleeps on a timer of its own
// executor, woken early when the pool changes and at least every `poll`.
#pragma once

#include <algorithm>
#include <memory>
#include <mutex>
#include <vector>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/this_coro.hpp>

#include "../error.hpp"
#include "member.hpp"
#include "mutex.hpp"

namespace pgcoro::detail {

// One waiting coroutine; woken by cancelling its timer, on its own executor.
struct pool_watcher {
    explicit pool_watcher(asio::any_io_executor ex) : timer(std::move(ex)) {}
    asio::steady_timer timer;
    bool finished = false;
};

class pool_watchers {
public:
    // Until `done()` holds (checked with `pool_lock` held) or `deadline`.
    template <class Predicate>
    asio::awaitable<void> wait_until(pool_mutex& pool_lock, Predicate done, pool_clock::time_point deadline,
                                     pool_clock::duration poll) {
        auto ex = co_await asio::this_coro::executor;
        for (;;) {
            std::shared_ptr<pool_watcher> w;
            {
                std::lock_guard lock(pool_lock);
                if (done() || pool_clock::now() >= deadline) co_return;
                w = std::make_shared<pool_watcher>(ex);
                w->timer.expires_at(std::min(deadline, pool_clock::now() + poll));
                watchers_.push_back(w);
            }
            boost::system::error_code ec;
            co_await w->timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
            {
                std::lock_guard lock(pool_lock);
                w->finished = true;
                std::erase(watchers_, w);
            }
            // A wake-up from the pool aborts the timer too; only the caller's cancellation ends the wait.
            auto state = co_await asio::this_coro::cancellation_state;
            if (state.cancelled() != asio::cancellation_type::none)
                throw error(errc::cancelled, "cancelled while waiting on the pool");
        }
    }

    // With the pool's mutex held.
    // On a watcher's own executor the cancel runs at once: it is then
    // suspended in its wait, since it does not yield between queueing
    // itself and waiting. Anywhere else it is posted there, to run after it
    // has started waiting, so no wake-up is lost.
    void wake_all() {
        for (auto& w : watchers_)
            if (!w->finished) asio::dispatch(w->timer.get_executor(), [w] { w->timer.cancel(); });
    }

private:
    std::vector<std::shared_ptr<pool_watcher>> watchers_;
};

}  // namespace pgcoro::detail
