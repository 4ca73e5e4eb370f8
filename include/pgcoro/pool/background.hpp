// The pool's background work: connects with back-off, closes and resets
// of returned and idle connections, run on its strand; and the ticks of
// maintenance and of acquire deadlines, timer callbacks under its lock.
// Members of pool_core (core.hpp), defined here to keep each file to
// one job.
#pragma once

#include "core.hpp"

namespace pgcoro::detail {

inline asio::awaitable<void> pool_core::connect_one(std::shared_ptr<pool_core> self, config cfg, std::uint64_t generation,
                                                    std::uint64_t epoch) {
    std::optional<connection> conn;
    std::exception_ptr failure;
    try {
        if (self->options_.before_connect) co_await self->options_.before_connect(cfg);
        auto c = co_await connection::connect(cfg);
        if (self->options_.after_connect) co_await self->options_.after_connect(c);
        conn.emplace(std::move(c));
    } catch (...) {
        failure = std::current_exception();
    }
    self->with_lock([&](batch& b) {
        --self->connecting_;
        if (failure) {
            self->connect_failed(failure, b);
            return;
        }
        self->backoff_ = fresh_backoff();
        auto m = self->new_member(std::move(*conn), generation, epoch);
        b.events.push_back({pool_event::kind::connected, generation, close_reason::broken, {}, {}});
        // Unfit when a bump, a close or a fork raced the connect.
        if (auto reason = unfit_reason(*m, connection_answers{m->conn}, self->state_, b.now))
            self->retire(std::move(m), *reason, b);
        else
            self->return_member(std::move(m), b);
        self->start_connects(b);
    });
}

inline void pool_core::connect_failed(const std::exception_ptr& failure, batch& b) {
    ++stats_.connect_failures;
    last_error_ = describe_exception(failure);
    const auto how = error_code_of(failure) == make_error_code(errc::session_attrs_mismatch) ? connect_failure::wrong_role
                                                                                           : connect_failure::unreachable;
    backoff_ = after_connect_failure(backoff_, options_, pool_clock::now(), random_, how);
    if (const auto held_back = report_failure(failure_reports_, pool_clock::now())) {
        std::string message = last_error_;
        if (*held_back > 0) message += " (" + std::to_string(*held_back) + " similar failures not reported)";
        b.events.push_back({pool_event::kind::connect_failed, state_.generation, close_reason::broken, std::move(message),
                            detail::sqlstate_of(failure)});
    }
    start_connects(b);
}

inline void pool_core::schedule_retry() {
    // A bump resets the back-off: a failure after it may want a retry sooner
    // than the one the old settings' failures scheduled. The later timer
    // still fires, and finds nothing or little to do.
    if (retry_scheduled_ && retry_at_ <= backoff_.next_attempt) return;
    retry_scheduled_ = true;
    retry_at_ = backoff_.next_attempt;
    spawn(retry_after(shared_from_this(), retry_at_));
}

inline asio::awaitable<void> pool_core::retry_after(std::shared_ptr<pool_core> self, pool_clock::time_point at) {
    asio::steady_timer t(self->strand_, at);
    boost::system::error_code ec;
    co_await t.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    self->with_lock([&](batch& b) {
        if (at == self->retry_at_) self->retry_scheduled_ = false;
        // The timer went off at `at` by steady_clock; the coarse clock can be
        // a tick behind it, and by it the back-off would not be over yet: the
        // retry would be put off again at once, over and over until the next
        // tick (some 200 times a failure).
        b.now = std::max(b.now, pool_clock::now());
        self->start_connects(b);
    });
}

inline asio::awaitable<void> pool_core::close_member(std::shared_ptr<pool_core> self, member_ptr m) {
    try {
        co_await m->conn.close();  // bounded by its own deadline; a failure only frees the slot
    } catch (...) {
    }
    const auto generation = m->generation;
    m.reset();
    self->with_lock([&](batch& b) {
        --self->closing_;
        --self->per_generation_[generation];  // counted until closed: retired() means gone
        self->watchers_.wake_all();
        self->start_connects(b);
    });
}

inline asio::awaitable<void> pool_core::reset(std::shared_ptr<pool_core> self, member_ptr m, reset_kind kind) {
    bool ok = false;
    std::optional<reset_policy> policy;
    if (kind == reset_kind::returned) policy = self->options_.reset;
    try {
        co_await with_deadline(reset_session(m->conn, policy), self->options_.health_check_timeout, "pool reset");
        ok = m->conn.is_usable();
        m->input_waiting = false;
    } catch (...) {
    }
    self->with_lock([&](batch& b) {
        --self->resetting_;
        if (auto reason = after_reset(kind, ok, *m, connection_answers{m->conn}, self->state_, b.now))
            self->retire(std::move(m), *reason, b);
        else
            self->return_member(std::move(m), b, counts_as_use(kind));
        self->start_connects(b);
    });
}

inline void pool_core::maintain(std::weak_ptr<pool_core> weak) {
    auto self = weak.lock();
    if (!self) return;
    self->with_lock([&](batch& b) {
        if (self->maintenance_stopped_) return;
        self->notice_fork(b);
        self->expire_idle(b);
        self->start_connects(b);
        // The wait keeps only a weak_ptr: the core may go meanwhile (its
        // timer's destruction cancels the wait).
        self->maintenance_timer_.expires_after(std::chrono::milliseconds(250));
        self->maintenance_timer_.async_wait([weak = std::move(weak)](boost::system::error_code ec) mutable {
            if (!ec) maintain(std::move(weak));  // else stop_maintenance(), or the core went
        });
    });
}

inline void pool_core::expire_waiters(std::weak_ptr<pool_core> weak) {
    if (auto self = weak.lock()) {
        self->with_lock([&](batch&) {
            if (self->maintenance_stopped_) self->watching_deadlines_ = false;
            else if (self->time_out_waiters()) self->wait_for_next_deadline();
        });
    }
}

inline void pool_core::expire_idle(batch& b) {
    drain_parked(b);  // a parked member sits idle too, and is swept as one
    const auto now = pool_clock::now();
    std::size_t kept = 0;  // compacted in place: the list keeps its capacity, and a tick allocates nothing
    auto left = counts();  // as the sweep leaves them, for the next member's verdict
    // Oldest-used first, so the least recently used go first on idle timeout.
    for (auto& m : idle_) {
        const auto verdict = sweep_idle(*m, connection_answers{m->conn}, left, options_, now);
        switch (verdict.action) {
            case sweep_action::keep: idle_[kept++] = std::move(m); break;
            case sweep_action::check:
                ++resetting_;
                --left.idle;
                ++left.resetting;
                spawn(reset(shared_from_this(), std::move(m), reset_kind::idle_check));
                break;
            case sweep_action::retire:
                retire(std::move(m), verdict.reason, b);
                --left.idle;
                break;
        }
    }
    idle_.resize(kept);
    retire_unfit_shared(b);
}

}  // namespace pgcoro::detail
