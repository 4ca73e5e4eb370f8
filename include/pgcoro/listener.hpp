// A LISTEN session that outlives server restarts and credential rotation.
//
//   pgcoro::listener listener(pool);
//   co_await listener.listen("jobs");
//   for (;;) {
//       auto event = co_await listener.next();
//       if (event.what == pgcoro::listener_event::kind::reconnected) resync();  // may have missed some
//       else handle(event.notification.payload);
//   }
//
// It keeps one connection of its own, opened with the pool's settings and
// before_connect hook but outside the pool's size and lifetime limits. When
// the session is lost it reconnects with the pool's back-off, issues its
// LISTENs again and says so: notifications sent in the gap are gone, as
// PostgreSQL does not keep them for absent listeners. When the pool's
// generation changes it moves to a session with the new settings without a
// gap (LISTEN on the new one first; a notification sent during the switch
// may come twice).
//
// One coroutine at a time uses a listener: listen(), unlisten() and next()
// are not to be run concurrently. Cancel next() like any operation (race it
// with a timer); the listener stays usable.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <deque>
#include <exception>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "util/compilation_mode.hpp"
#include "connection.hpp"
#include "pool.hpp"
#if PGCORO_DEFINITIONS
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "pool/backoff.hpp"
#include "pool/core.hpp"
#endif

namespace pgcoro {

struct listener_event {
    enum class kind {
        notification,  // one arrived: see `notification`
        reconnected,   // the session was lost and is back; notifications in the gap may be missed
        dropped,       // notifications arrived faster than next() took them, and some were dropped
    } what = kind::notification;
    pgcoro::notification notification;  // for kind::notification
    std::string cause;                  // reconnected: why the old session ended; dropped: how many
};

struct listener_options {
    // A LISTEN lasts as long as the server session that ran it, so the
    // listener refuses a connection whose server session is not the one
    // its BackendKeyData named: a proxy in between, which with transaction
    // pooling (PgBouncer's default advice) hands the session to other clients
    // after the LISTEN and the notifications to no one. Set this when the
    // proxy gives each client a session of its own (PgBouncer's
    // pool_mode=session).
    bool proxy_keeps_session = false;
};

class listener {
public:
    explicit listener(pool& p, listener_options options = {})
        : core_(p.core_), options_(options), random_(std::random_device{}()) {}
    listener(const listener&) = delete;
    listener& operator=(const listener&) = delete;

    // LISTENs now (connecting first if needed; a failure to connect is
    // thrown here) and again after every reconnect. The channel name is
    // taken as is (case kept), like a quoted identifier.
    asio::awaitable<void> listen(std::string channel);

    asio::awaitable<void> unlisten(const std::string& channel);

    // The next notification, or the news that the session was lost and
    // re-established. Waits as long as it takes, reconnecting with back-off.
    asio::awaitable<listener_event> next();

    // Sends Terminate; a later listen() or next() connects again.
    asio::awaitable<void> close();

    // The backend serving the LISTENs now; 0 while not connected.
    std::int32_t backend_pid() const { return conn_ && conn_->is_open() ? conn_->backend_pid() : 0; }
    // The pool generation whose settings the current session was opened with.
    std::uint64_t generation() const noexcept { return generation_; }
    const std::vector<std::string>& channels() const noexcept { return channels_; }
    // Why the last connect attempt failed, while reconnecting.
    const std::string& last_error() const noexcept { return last_error_; }

private:
    static std::string quoted(std::string_view name) {
        std::string q = "\"";
        for (char c : name) {
            if (c == '"') q += '"';
            q += c;
        }
        q += '"';
        return q;
    }

    // The message of errc::notifications_dropped: the session is fine.
    static std::optional<std::string> dropped_notifications(const std::exception_ptr& failure) {
        if (!failure) return std::nullopt;
        try {
            std::rethrow_exception(failure);
        } catch (const error& e) {
            if (e.code() == errc::notifications_dropped) return std::string(e.what());
        } catch (...) {
        }
        return std::nullopt;
    }

    // A wait for one notification that reports a failure instead of
    // throwing it: `||` would otherwise keep waiting for the other branch.
    asio::awaitable<void> receive(std::optional<pgcoro::notification>& got, std::exception_ptr& failure);

    // One attempt: the pool's current settings, before_connect, the LISTENs.
    asio::awaitable<connection> open_with_current_settings();

    asio::awaitable<void> open_session();

    static asio::awaitable<void> refuse_proxy(connection& c);

    static bool is_refusal(const std::exception_ptr& e) {
        try {
            std::rethrow_exception(e);
        } catch (const error& x) {
            return x.code() == errc::shared_server_session;
        } catch (...) {
            return false;
        }
    }

    // Until it works, waiting the pool's back-off between attempts. A proxy
    // the listener refuses is not retried.
    asio::awaitable<void> reconnect();

    // New settings: the new session LISTENs before the old one is let go,
    // and what the old one received up to then is kept.
    asio::awaitable<void> switch_session();

    std::chrono::milliseconds next_delay();

    std::shared_ptr<detail::pool_core> core_;
    listener_options options_;
    std::optional<connection> conn_;
    std::uint64_t generation_ = 0;
    std::uint64_t opened_generation_ = 0;
    std::vector<std::string> channels_;
    std::deque<pgcoro::notification> pending_;
    std::string lost_cause_;  // set while the session is lost; reported once it is back
    std::string last_error_;
    std::uint64_t failures_ = 0;
    std::chrono::steady_clock::time_point next_switch_{};
    std::mt19937_64 random_;
};

// The bodies: inline (header-only) or in the src.hpp TU (util/compilation_mode.hpp).
#if PGCORO_DEFINITIONS
PGCORO_DECL asio::awaitable<void> listener::listen(std::string channel) {
    if (!conn_) co_await open_session();
    if (std::find(channels_.begin(), channels_.end(), channel) != channels_.end()) co_return;
    const auto sql = "LISTEN " + quoted(channel);
    co_await conn_->simple_query(sql);
    channels_.push_back(std::move(channel));
}

PGCORO_DECL asio::awaitable<void> listener::unlisten(const std::string& channel) {
    auto it = std::find(channels_.begin(), channels_.end(), channel);
    if (it == channels_.end()) co_return;
    channels_.erase(it);
    if (!conn_) co_return;
    const auto sql = "UNLISTEN " + quoted(channel);
    co_await conn_->simple_query(sql);
}

PGCORO_DECL asio::awaitable<listener_event> listener::next() {
    using namespace asio::experimental::awaitable_operators;
    for (;;) {
        if (!pending_.empty()) {
            listener_event e;
            e.notification = std::move(pending_.front());
            pending_.pop_front();
            co_return e;
        }
        if (!conn_) {
            co_await reconnect();
            if (!lost_cause_.empty()) {
                listener_event e;
                e.what = listener_event::kind::reconnected;
                e.cause = std::exchange(lost_cause_, {});
                co_return e;
            }
            continue;
        }
        if (core_->generation() != generation_ && std::chrono::steady_clock::now() >= next_switch_) {
            co_await switch_session();
            continue;
        }
        std::optional<pgcoro::notification> got;
        std::exception_ptr failure;
        std::size_t woke = 0;
        if (core_->generation() != generation_) {
            // A switch failed: retry it after the back-off, listening meanwhile.
            asio::steady_timer retry(co_await asio::this_coro::executor, next_switch_);
            auto outcome = co_await (receive(got, failure) || retry.async_wait(asio::use_awaitable));
            woke = outcome.index();
        } else {
            auto outcome = co_await (receive(got, failure) || core_->generation_changed(generation_));
            woke = outcome.index();
        }
        if (woke == 1) continue;  // the generation changed, or time to retry the switch
        if (got) {
            listener_event e;
            e.notification = std::move(*got);
            co_return e;
        }
        if (auto dropped = dropped_notifications(failure)) {
            listener_event e;
            e.what = listener_event::kind::dropped;
            e.cause = std::move(*dropped);
            co_return e;
        }
        // The session ended (a restart, pg_terminate_backend, a network failure).
        lost_cause_ = detail::describe_exception(failure);
        conn_.reset();
    }
}

PGCORO_DECL asio::awaitable<void> listener::close() {
    if (conn_) co_await conn_->close();
    conn_.reset();
}

PGCORO_DECL asio::awaitable<void> listener::receive(std::optional<pgcoro::notification>& got, std::exception_ptr& failure) {
    try {
        got = co_await conn_->wait_for_notification();
    } catch (...) {
        failure = std::current_exception();
    }
}

PGCORO_DECL asio::awaitable<connection> listener::open_with_current_settings() {
    auto [cfg, generation] = core_->settings();
    const auto& options = core_->options();
    if (options.before_connect) co_await options.before_connect(cfg);
    auto c = co_await connection::connect(cfg);
    if (!options_.proxy_keeps_session) co_await refuse_proxy(c);
    for (const auto& channel : channels_) {
        const auto sql = "LISTEN " + quoted(channel);
        co_await c.simple_query(sql);
    }
    opened_generation_ = generation;
    co_return c;
}

PGCORO_DECL asio::awaitable<void> listener::open_session() {
    auto c = co_await open_with_current_settings();
    conn_.emplace(std::move(c));
    generation_ = opened_generation_;
    last_error_.clear();
    failures_ = 0;
}

PGCORO_DECL asio::awaitable<void> listener::refuse_proxy(connection& c) {
    auto r = co_await c.simple_query("SELECT pg_catalog.pg_backend_pid()");
    const auto backend = r.at(0).at(0).get<std::int32_t>(0);
    if (backend == c.backend_pid()) co_return;
    co_await c.close();
    throw error(errc::shared_server_session,
                "the listener's connection goes through a proxy (its server backend " + std::to_string(backend) +
                    " is not the one BackendKeyData named), and a transaction-pooling proxy gives its server "
                    "session to other clients after LISTEN: connect the listener to the server itself, or set "
                    "listener_options::proxy_keeps_session for a proxy with session pooling");
}

PGCORO_DECL asio::awaitable<void> listener::reconnect() {
    for (;;) {
        std::exception_ptr failure;
        try {
            co_await open_session();
            co_return;
        } catch (...) {
            failure = std::current_exception();
        }
        if (is_refusal(failure)) std::rethrow_exception(failure);
        auto state = co_await asio::this_coro::cancellation_state;
        if (state.cancelled() != asio::cancellation_type::none) std::rethrow_exception(failure);
        last_error_ = detail::describe_exception(failure);
        asio::steady_timer pause(co_await asio::this_coro::executor, next_delay());
        co_await pause.async_wait(asio::use_awaitable);
    }
}

PGCORO_DECL asio::awaitable<void> listener::switch_session() {
    std::optional<connection> fresh;
    std::exception_ptr failure;
    try {
        fresh.emplace(co_await open_with_current_settings());
    } catch (...) {
        failure = std::current_exception();
    }
    if (failure) {
        auto state = co_await asio::this_coro::cancellation_state;
        if (state.cancelled() != asio::cancellation_type::none || is_refusal(failure)) std::rethrow_exception(failure);
        last_error_ = detail::describe_exception(failure);
        next_switch_ = std::chrono::steady_clock::now() + next_delay();
        co_return;
    }
    auto old = std::move(*conn_);
    conn_.emplace(std::move(*fresh));
    generation_ = opened_generation_;
    failures_ = 0;
    last_error_.clear();
    next_switch_ = {};
    try {
        co_await old.simple_query("");  // reads what was sent to it before the new LISTENs took over
        for (auto& n : old.notifications()) pending_.push_back(std::move(n));
        co_await old.close();
    } catch (...) {
        // The old session failing now loses nothing the new one does not receive.
    }
}

PGCORO_DECL std::chrono::milliseconds listener::next_delay() {
    const auto& options = core_->options();
    return detail::backoff_delay(options.backoff_initial, options.backoff_max, ++failures_, random_);
}
#endif  // PGCORO_DEFINITIONS

}  // namespace pgcoro
