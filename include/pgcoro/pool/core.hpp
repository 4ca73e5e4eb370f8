// The pool's shared state: connections by generation, FIFO waiters, the
// statistics. Its steps are defined by job in checkout.hpp, sharing.hpp and
// background.hpp. What to do at each step is decided in
// member_decisions.hpp, connect_decisions.hpp and sharing_decisions.hpp;
// pool_core gathers the state they read under its lock and carries out the
// answer (spawns, closes, hand-overs). Its handles, pool and
// pooled_connection, are in pool.hpp with the model and thread rules.
#pragma once

#include <algorithm>
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <type_traits>
#include <utility>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>

#include "../connection.hpp"
#include "../pool_options.hpp"
#include "../net/deadline.hpp"
#include "acquire_trace.hpp"
#include "backoff.hpp"
#include "clock.hpp"
#include "connect_decisions.hpp"
#include "fork_epoch.hpp"
#include "member.hpp"
#include "member_decisions.hpp"
#include "mutex.hpp"
#include "parking.hpp"
#include "state.hpp"
#include "watchers.hpp"

namespace pgcoro::detail {

class pool_core final : public std::enable_shared_from_this<pool_core>, public rest_listener {
public:
    pool_core(asio::any_io_executor ex, config cfg, pool_options options)
        : strand_(asio::make_strand(ex)), config_(std::move(cfg)), options_(std::move(options)),
          state_{.generation = 1, .fork_epoch = fork_epoch(), .closed = false},
          maintenance_timer_(strand_.get_inner_executor()), deadline_timer_(strand_.get_inner_executor()),
          random_(std::random_device{}()) {
        if (options_.max_size == 0) throw error(errc::invalid_config, "pool_options::max_size must be at least 1");
        if (options_.min_idle > options_.max_size) options_.min_idle = options_.max_size;
        if (options_.max_connecting == 0) options_.max_connecting = 1;
        parking_.set_generation(state_.generation);
    }

    void start() { maintain(weak_from_this()); }  // its first tick starts the connects min_idle asks for

    // Checkouts (checkout.hpp): acquire() returns Handle(this, member);
    // release() takes a connection back from pooled_connection.
    template <class Handle>
    asio::awaitable<Handle> acquire(bool for_sharing = false);
    void release(member_ptr m) noexcept;

    // Shared connections for pool.query()/execute() (sharing.hpp): lease()
    // returns Lease(this, member), whose end hands the load back (end_lease).
    template <class Lease>
    asio::awaitable<Lease> lease();
    void end_lease(pool_member* m) noexcept;
    // A shared member's session, its last request over, came to rest (on its home).
    void came_to_rest(session& s) noexcept override;

    std::uint64_t bump() {
        std::uint64_t g = 0;
        with_lock([&](batch& b) { g = bump_locked(b); });
        return g;
    }

    // Opens one connection with the new settings; only when that works are
    // they committed (and the probe becomes the first connection of the new
    // generation). On failure the old settings and generation stay.
    asio::awaitable<std::uint64_t> update(config cfg) {
        const auto epoch = fork_epoch();
        auto probe_cfg = cfg;
        if (options_.before_connect) co_await options_.before_connect(probe_cfg);
        auto probe = co_await connection::connect(probe_cfg);
        if (options_.after_connect) co_await options_.after_connect(probe);
        std::uint64_t g = 0;
        with_lock([&](batch& b) {
            config_ = std::move(cfg);
            g = bump_locked(b, false);
            if (state_.closed) return;
            auto m = new_member(std::move(probe), g, epoch);
            if (auto reason = unfit_reason(*m, connection_answers{m->conn}, state_, b.now))
                retire(std::move(m), *reason, b);
            else
                return_member(std::move(m), b);
            start_connects(b);  // with the probe counted: min_idle wants one fewer
        });
        co_return g;
    }

    // Settings proven elsewhere (a cluster's primary pool proved them for
    // the same hosts): taken as the next generation without a probe.
    void adopt(config cfg) {
        with_lock([&](batch& b) {
            config_ = std::move(cfg);
            bump_locked(b);
        });
    }

    void set_password(std::string password) {
        with_lock([&](batch& b) {
            config_.password = std::move(password);
            bump_locked(b);
        });
    }

    std::uint64_t generation() const {
        std::lock_guard lock(mutex_);
        return state_.generation;
    }

    // The current settings with their generation, taken together.
    std::pair<config, std::uint64_t> settings() const {
        std::lock_guard lock(mutex_);
        return {config_, state_.generation};
    }
    const pool_options& options() const noexcept { return options_; }  // fixed at construction

    // Completes once the generation is no longer `since`.
    asio::awaitable<void> generation_changed(std::uint64_t since) {
        co_await watchers_.wait_until(mutex_, [this, since] { return state_.generation != since; }, pool_clock::time_point::max(),
                            std::chrono::seconds(1));
    }

    pool_stats stats() const {
        std::lock_guard lock(mutex_);
        auto s = stats_;
        // Parked members are counted in use under the lock; to the user they are idle.
        const auto parked = std::min(parking_.parked(), in_use_);
        s.acquires += parking_.checkouts();
        s.idle = idle_.size() + parked;
        s.in_use = in_use_ - parked;
        s.connecting = connecting_;
        s.waiting = waiting();
        s.size = open_or_opening(counts());
        s.generation = state_.generation;
        s.per_generation.clear();
        for (auto [g, n] : per_generation_)
            if (n) s.per_generation[g] = n;
        return s;
    }

    // Completes once no open connection has a generation below `generation`.
    asio::awaitable<void> retired(std::uint64_t generation) {
        co_await watchers_.wait_until(mutex_, [this, generation] {
            return std::none_of(per_generation_.begin(), per_generation_.end(),
                                [&](auto& p) { return p.first < generation && p.second > 0; });
        }, pool_clock::time_point::max(), std::chrono::milliseconds(50));
    }

    // New acquires fail; idle connections close; checked-out ones close on
    // return. Completes when all are gone, or at `limit`.
    asio::awaitable<void> close(std::chrono::milliseconds limit) {
        with_lock([&](batch& b) { close_locked("the pool was closed while acquire() waited", b); });
        co_await watchers_.wait_until(mutex_, [this] { return open_or_opening(counts()) == 0 && closing_ == 0; },
                                      pool_clock::now() + limit, std::chrono::milliseconds(50));
        stop_maintenance();
    }

    // The pool object is gone: close what is idle, fail waiters, stop.
    void shut_down() noexcept {
        try {
            with_lock([&](batch& b) {
                close_locked("the pool was destroyed while acquire() waited", b);
                // Lent connections and acquires still waiting hold a plain
                // pointer to the core: it stays until the last is done (let_go_if_last).
                if (in_use_ > 0 || parking_.others_waiting()) lent_out_ = shared_from_this();
            });
            stop_maintenance();
        } catch (...) {
        }
    }

private:
    // Events collected under the lock and delivered after it is released.
    struct batch {
        pool_clock::time_point now;  // one clock read per locked step
        std::vector<pool_event>& events;
        // Set by a user's return (release()): the waiter it serves resumes
        // after the lock is let go, on this thread when it may.
        pool_waiter::deferred_wake* wake_later = nullptr;
        bool precise = false;  // `now` read from steady_clock, not the coarse clock

        // For the acquire wait statistics, which need more than the coarse clock's ticks.
        pool_clock::time_point precise_now() const noexcept { return precise ? now : pool_clock::now(); }
    };

    // A step that will likely queue or serve a waiter reads the precise
    // clock at once, which the wait statistics need anyway.
    enum class batch_clock : bool { coarse, precise };

    template <class F>
    [[gnu::always_inline]] void with_lock(F&& f, batch_clock clock = batch_clock::coarse) {
        std::unique_lock lock(mutex_);
        const bool precise = clock == batch_clock::precise;
        batch b{precise ? pool_clock::now() : coarse_now(), events_};
        b.precise = precise;
        f(b);
        if (events_.empty()) [[likely]]
            return;
        watchers_.wake_all();
        auto events = std::move(events_);
        events_.clear();
        lock.unlock();
        if (options_.on_event)
            for (const auto& e : events) options_.on_event(e);
    }

    // Background work, started on the strand and never inline: spawns
    // happen under the pool's lock, which the work itself takes.
    template <class Work>
    void spawn(Work work) {
        asio::co_spawn(asio::any_io_executor(asio::require(strand_, asio::execution::blocking.never)), std::move(work),
                       asio::detached);
    }

    // What acquire() hands lease(): a member of its own, or one shared
    // with other leases' requests (its load already raised).
    struct taken_member {
        taken_member(pool_core*, member_ptr m) noexcept : member(std::move(m)) {}
        taken_member(pool_core*, pool_member* m) noexcept : shared(m) {}
        member_ptr member;
        pool_member* shared = nullptr;
    };

    // The steps of a checkout and of a return (checkout.hpp; the hand-over,
    // which connects and leases use too, below). Those inlined are on every
    // pooled query's path, once each, where a call's entry and exit cost a
    // tenth of the step.
    [[gnu::always_inline]] inline member_ptr take_ready(batch& b);
    member_ptr take_idle(batch& b);
    [[gnu::always_inline]] inline pool_waiter* enqueue(const std::optional<asio::any_io_executor>& lease_executor,
                                                       pool_clock::time_point started, batch& b);
    [[gnu::always_inline]] inline bool collect_handed_over(pool_waiter*& w, member_ptr& m) noexcept;
    void collect(pool_waiter*& w, member_ptr& m, pool_member*& shared, std::shared_ptr<pool_core>& held, batch& b);
    bool still_fit_after_wait(member_ptr& m, std::shared_ptr<pool_core>& held);
    void retire_if_late(member_ptr& m, std::shared_ptr<pool_core>& held, batch& b);
    void watch_deadlines();
    bool time_out_waiters();
    void give_up_waiting(pool_waiter*& w, std::shared_ptr<pool_core>& held) noexcept;
    void leave_unresumed(pool_waiter*& w, std::shared_ptr<pool_core>& held) noexcept;
    void stop_waiting(pool_waiter& w, std::shared_ptr<pool_core>& held) noexcept;
    [[gnu::always_inline]] inline void take_back(member_ptr m, batch& b, pool_waiter::deferred_wake& wake,
                                                 std::shared_ptr<pool_core>& last);
    static void resume_served(pool_waiter::deferred_wake& wake) noexcept;

    // To the first waiter, else idle; known alive now (back from a user, a
    // connect or a check). `used`: from a user, so the idle timeout restarts.
    [[gnu::always_inline]] void return_member(member_ptr m, batch& b, bool used = true) {
        m->last_checked = b.now;
        if (used) m->last_used = m->last_checked;
        hand_over_or_keep_idle(std::move(m), b);
    }

    // To the first waiter, else idle, as it is.
    [[gnu::always_inline]] void hand_over_or_keep_idle(member_ptr m, batch& b) {
        while (!waiters_.empty()) {
            auto* w = waiters_.pop_front();
            if (w->finished) continue;
            w->finished = true;
            w->member = std::move(m);
            ++in_use_;
            count_served(*w, b.precise_now());
            if (b.wake_later && !b.wake_later->pending())
                w->wake_up.wake_later(*b.wake_later);
            else
                pool_waiter::wake(w);
            return;
        }
        idle_.push_back(std::move(m));
    }

    // Under the lock, as a waiter is served: an acquire, and its wait.
    void count_served(const pool_waiter& w, pool_clock::time_point now) noexcept {
        const auto wait = now - w.queued;
        ++stats_.acquires;
        stats_.acquire_wait_total += wait;
        stats_.acquire_wait_max = std::max<std::chrono::nanoseconds>(stats_.acquire_wait_max, wait);
    }

    // An acquire's frame destroyed while it waits, never resumed (its
    // io_context was destroyed with the wake-up queued), leaves the waiters
    // all the same, so that a destroyed pool's core is let go.
    struct unresumed_wait {
        pool_core* core;
        pool_waiter*& w;
        std::shared_ptr<pool_core>& held;
        ~unresumed_wait() {
            if (w) [[unlikely]] core->leave_unresumed(w, held);
        }
    };

    // After shut_down() the core stays (lent_out_) while connections are out
    // or acquires wait; the last of them takes it into `last`, to let go once
    // it no longer touches the core. Under the lock.
    void let_go_if_last(std::shared_ptr<pool_core>& last) noexcept {
        if (in_use_ == 0 && !parking_.others_waiting()) last = std::move(lent_out_);
    }
    // An acquire that goes on after this step: it holds the core until it ends.
    void hold_core(std::shared_ptr<pool_core>& held) noexcept {
        let_go_if_last(held);
        if (!held && lent_out_) [[unlikely]] held = lent_out_;
    }

    // Parked members (parking.hpp) back under the lock.
    bool drain_parked(batch& b, std::shared_ptr<pool_core>* last = nullptr);
    void unpark(member_ptr m, batch& b, std::shared_ptr<pool_core>* last = nullptr);

    // Shared members' upkeep (sharing.hpp).
    void serve_waiting_leases(pool_member& m);
    pool_member* least_loaded_shared(const asio::any_io_executor& ex);
    void retire_unfit_shared(batch& b);
    void drain_one_shared();
    void give_up_shared(pool_member& m, batch& b);
    void settle_unleased(pool_member& m, batch& b, std::shared_ptr<pool_core>& last);

    // Acquires not yet served; a walk of the queue.
    std::size_t waiting() const noexcept {
        std::size_t n = 0;
        for (auto& w : waiters_) n += !w->finished;
        return n;
    }

    // With the waiters counted only when asked: that walks their queue (see start_connects).
    pool_counts counts(std::size_t waiting_acquires = 0) const noexcept {
        return {idle_.size(), in_use_, connecting_, resetting_, waiting_acquires};
    }

    void retire(member_ptr m, close_reason reason, batch& b) {
        ++stats_.closes[static_cast<std::size_t>(reason)];
        b.events.push_back({pool_event::kind::closed, m->generation, reason, {}, {}});
        // By the process's own count, not the one last noticed: a step that
        // has not noticed a fork must not close the parent's session either.
        if (closes_silently(*m, fork_epoch())) {
            pool_access::drop_silently(m->conn);
            --per_generation_[m->generation];
            return;
        }
        ++closing_;
        spawn(close_member(shared_from_this(), std::move(m)));
    }

    // In every locked step of a checkout or a return: inlined, the rare
    // part out of line.
    [[gnu::always_inline]] void notice_fork(batch& b) {
        if (fork_noticed(fork_epoch(), state_)) [[unlikely]]
            forked(b);
    }

    // In a fork() child, the idle connections are the parent's: let go of
    // them at once; checked-out ones go when returned. Noticed by checkout,
    // return, maintenance, and by the steps that retire every idle
    // connection (close, bump), which would otherwise count the parent's as
    // theirs.
    [[gnu::noinline]] void forked(batch& b) {
        state_.fork_epoch = fork_epoch();
        backoff_ = fresh_backoff();
        auto foreign = std::move(idle_);
        idle_.clear();
        for (auto& m : foreign) retire(std::move(m), close_reason::forked, b);
        drain_parked(b);  // the parent's too: unfit_reason now says forked
        start_connects(b);
    }

    void close_locked(const char* waiter_message, batch& b) {
        if (state_.closed) return;
        state_.closed = true;
        parking_.set_generation(0);  // no return parks from now on
        notice_fork(b);  // closed first: a fork child closing its pool opens nothing
        for (auto& w : waiters_) {
            if (w->finished) continue;
            w->finished = true;
            w->failure = std::make_exception_ptr(error(errc::pool_closed, waiter_message));
            pool_waiter::wake(w);
        }
        waiters_.clear();
        while (!idle_.empty()) {
            auto m = std::move(idle_.back());
            idle_.pop_back();
            retire(std::move(m), close_reason::pool_closed, b);
        }
        // drain_parked() does nothing once closed: only this drain may
        // count the last lent connection back (shut_down sets lent_out_ after it).
        parking_.drain([&](member_ptr m) {
            --in_use_;
            // pool_closed, or forked first: a fork child's parked members are the parent's.
            const auto reason = unfit_reason(*m, connection_answers{m->conn}, state_, b.now);
            retire(std::move(m), reason.value_or(close_reason::pool_closed), b);
        });
        retire_unfit_shared(b);
    }

    // `connect`: start the connects the new generation wants now; update()
    // does so itself once its probe is counted.
    std::uint64_t bump_locked(batch& b, bool connect = true) {
        ++state_.generation;
        if (!state_.closed) parking_.set_generation(state_.generation);
        notice_fork(b);  // bumped first: what a fork child connects is of the new generation
        // The failures were the old settings'; the new ones (an update's
        // probe already proved them) are tried at once, min_idle too.
        backoff_ = fresh_backoff();
        watchers_.wake_all();
        std::vector<member_ptr> keep;
        for (auto& m : idle_) {
            if (auto reason = idle_after_bump(*m, state_)) retire(std::move(m), *reason, b);
            else keep.push_back(std::move(m));
        }
        idle_ = std::move(keep);
        drain_parked(b);  // parked ones are idle ones: older generations close at once
        retire_unfit_shared(b);
        if (connect) start_connects(b);
        return state_.generation;
    }

    member_ptr new_member(connection conn, std::uint64_t generation, std::uint64_t epoch) {
        member_ptr m(new pool_member());
        m->conn = std::move(conn);
        const auto lifetime = jittered_lifetime(options_.max_lifetime, options_.lifetime_jitter, random_);
        static_cast<member_state&>(*m) = fresh_member(generation, epoch, pool_clock::now(), lifetime);
        ++per_generation_[generation];
        ++stats_.connects;
        return m;
    }

    void start_connects(batch& b) {
        // Most calls find no room (a busy pool at max_size): they end here,
        // inline, before counting the waiters.
        if (state_.closed || connect_room(counts(), options_) == 0) [[likely]]
            return;
        plan_and_start_connects(b);
    }
    [[gnu::noinline]] void plan_and_start_connects(batch& b) {
        const auto plan = plan_connects(counts(waiting()), state_, options_, backoff_, b.now);
        if (plan.retry_later) schedule_retry();
        for (std::size_t i = 0; i < plan.start; ++i) {
            ++connecting_;
            spawn(connect_one(shared_from_this(), config_, state_.generation, state_.fork_epoch));
        }
    }

    // Settings and generation are one snapshot, taken when the connect starts.
    static asio::awaitable<void> connect_one(std::shared_ptr<pool_core> self, config cfg, std::uint64_t generation,
                                             std::uint64_t epoch);

    void connect_failed(const std::exception_ptr& failure, batch& b);

    void schedule_retry();

    static asio::awaitable<void> retry_after(std::shared_ptr<pool_core> self, pool_clock::time_point at);

    static asio::awaitable<void> close_member(std::shared_ptr<pool_core> self, member_ptr m);

    // A returned connection: rolls back what the last user left open, or
    // resets the session. An idle one: proves it with an empty query. Then
    // back to the pool, or closed when that fails.
    static asio::awaitable<void> reset(std::shared_ptr<pool_core> self, member_ptr m, reset_kind kind);

    // Lifetimes, idle timeouts and checks of idle connections, and min_idle:
    // a tick every 250 ms. expire_waiters runs while acquires wait. Both
    // are callbacks of timers on the pool's executor, not of the strand,
    // and only touch their timers under the lock. A tick so allocates
    // nothing: through the strand, Asio would heap-allocate an executor to
    // track the work of each wait, and the allocator it queries of the
    // strand's type-erased inner executor, at every tick.
    static void maintain(std::weak_ptr<pool_core> weak);
    static void expire_waiters(std::weak_ptr<pool_core> weak);
    void wait_for_next_deadline() {
        deadline_timer_.async_wait([weak = weak_from_this()](boost::system::error_code ec) mutable {
            if (!ec) expire_waiters(std::move(weak));  // else stop_maintenance(), or the core went
        });
    }

    void expire_idle(batch& b);

    void stop_maintenance() {
        std::lock_guard lock(mutex_);
        maintenance_stopped_ = true;
        maintenance_timer_.cancel();
        deadline_timer_.cancel();
    }

    std::string timeout_message() const {
        std::string m = "acquire() timed out after " + std::to_string(options_.acquire_timeout.count()) +
                        " ms: " + std::to_string(in_use_) + " of max_size " + std::to_string(options_.max_size) +
                        " connections in use, " + std::to_string(connecting_) + " connecting";
        if (!last_error_.empty() && backoff_.failures > 0) m += "; last connect error: " + last_error_;
        return m;
    }

    mutable pool_mutex mutex_;
    asio::strand<asio::any_io_executor> strand_;
    config config_;
    // config_'s when the pool was made: acquires report there, whatever update() brings.
    const std::shared_ptr<pgcoro::tracer> tracer_ = config_.tracer;
    pool_options options_;
    pool_state state_;
    parking parking_;               // returned members waiting for their thread's next acquire, counted in use
    std::vector<member_ptr> idle_;  // most recently used last
    std::vector<member_ptr> shared_;  // lent to pool.query()/execute(), counted in use
    std::vector<pool_event> events_;  // of the step under way (batch)
    waiter_queue waiters_;
    spare_waiters spare_waiters_;
    pool_watchers watchers_;
    std::map<std::uint64_t, std::size_t> per_generation_;
    std::size_t in_use_ = 0, connecting_ = 0, resetting_ = 0, closing_ = 0;
    bool retry_scheduled_ = false;
    pool_clock::time_point retry_at_{};  // of the earliest retry scheduled
    bool maintenance_stopped_ = false;
    connect_backoff backoff_;
    failure_reports failure_reports_;
    std::string last_error_;
    pool_stats stats_;
    asio::steady_timer maintenance_timer_;  // under the lock, as deadline_timer_
    asio::steady_timer deadline_timer_;  // of the earliest waiting acquire (time_out_waiters)
    bool watching_deadlines_ = false;
    std::mt19937_64 random_;
    std::shared_ptr<pool_core> lent_out_;  // this core, after shut_down() while connections were out or acquires waited
};

}  // namespace pgcoro::detail
