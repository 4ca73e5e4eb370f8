// Connections shared by pool.query()/execute(): which one a request goes
// to, when a shared one retires, drains for those waiting, or goes back
// to exclusive use. Members of pool_core (core.hpp), defined here to keep
// each file to one job.
#pragma once

#include "core.hpp"

namespace pgcoro::detail {

// A connection for pool.query()/execute(): the least loaded one already
// shared by coroutines on the caller's executor; a connection of its
// own (as acquire() gets one) when none is, or when one is free and the
// least loaded is not. A shared connection stays shared until it
// retires; its requests are pipelined (session/shared_requests.hpp).
// Returns Lease(this, member), which hands the load back on destruction.
template <class Lease>
asio::awaitable<Lease> pool_core::lease() {
    auto ex = co_await asio::this_coro::executor;
    pool_member* chosen = nullptr;
    with_lock([&](batch& b) {
        notice_fork(b);
        if (state_.closed) throw error(errc::pool_closed, "query() on a pool that is closed");
        if (!waiters_.empty()) drain_one_shared();
        chosen = least_loaded_shared(ex);
        if (chosen && lease_takes_own_connection(chosen->load, !idle_.empty(), connect_room(counts(), options_) > 0,
                                                 !waiters_.empty()))
            chosen = nullptr;
        if (chosen) ++chosen->load;
    });
    if (chosen) co_return Lease(this, chosen);
    auto taken = co_await acquire<taken_member>(true);
    if (taken.shared) co_return Lease(this, taken.shared);  // another lease's, lent while this one waited
    with_lock([&](batch&) {
        auto& m = *taken.member;
        m.shared = true;
        m.home = ex;
        m.load = 1;
        chosen = &m;
        shared_.push_back(std::move(taken.member));
        serve_waiting_leases(m);
    });
    co_return Lease(this, chosen);
}

// A pool.query()/execute() is over. With no request left on it, the
// member is settled now if its session is at rest; otherwise (the answer
// of an abandoned request still to be read) its home says when it is
// (came_to_rest): until then only home may look at the session.
inline void pool_core::end_lease(pool_member* m) noexcept {
    std::shared_ptr<pool_core> last;  // as in release()
    try {
        with_lock([&](batch& b) {
            if (--m->load > 0) {
                if (!waiters_.empty() && !m->draining) serve_waiting_leases(*m);
                return;
            }
            m->at_rest = pool_access::at_rest(m->conn);
            if (m->at_rest) {
                settle_unleased(*m, b, last);
                return;
            }
            // Queries of its own executor may still take it meanwhile (here is home).
            if (!waiters_.empty() && !m->draining) serve_waiting_leases(*m);
            if (m->load == 0) pool_access::tell_when_at_rest(m->conn, weak_from_this());
        });
    } catch (...) {
    }
}

inline void pool_core::came_to_rest(session& s) noexcept {
    std::shared_ptr<pool_core> last;
    try {
        with_lock([&](batch& b) {
            auto it = std::find_if(shared_.begin(), shared_.end(), [&](const member_ptr& p) { return pool_access::runs(p->conn, s); });
            if (it == shared_.end() || (*it)->load > 0) return;  // end_lease settles it
            (*it)->at_rest = true;
            settle_unleased(**it, b, last);
        });
    } catch (...) {
    }
}

// A shared member at rest with no request on it: one that may no longer
// serve retires; one that may goes to those waiting for a connection.
inline void pool_core::settle_unleased(pool_member& m, batch& b, std::shared_ptr<pool_core>& last) {
    notice_fork(b);
    const auto reason = unfit_reason(m, shared_connection_answers{{m.conn}}, state_, b.now);
    if (!reason) {
        if (waiters_.empty()) {
            m.draining = false;  // nobody waits any more
            return;
        }
        if (!m.draining) serve_waiting_leases(m);
        // Others wait for a connection (an acquire(), or queries from
        // another executor): this one goes to them once it is quiet.
        if (m.load == 0) give_up_shared(m, b);
        return;
    }
    auto it = std::find_if(shared_.begin(), shared_.end(), [&](const member_ptr& p) { return p.get() == &m; });
    if (it == shared_.end()) return;
    auto member = std::move(*it);
    shared_.erase(it);
    --in_use_;
    let_go_if_last(last);
    retire(std::move(member), *reason, b);
    start_connects(b);
}

// Leases waiting for a connection take turns on a shared one of their
// executor, up to its depth, rather than wait for one each.
inline void pool_core::serve_waiting_leases(pool_member& m) {
    if (m.generation != state_.generation || m.draining) return;
    for (auto& w : waiters_) {
        if (m.load >= config_.max_pipelined_requests) break;
        if (w->finished || !w->wants_share || w->executor != m.home) continue;
        w->finished = true;
        w->shared = &m;
        ++m.load;
        count_served(*w, pool_clock::now());
        pool_waiter::wake(w);
    }
    // Served ones leave the front of the queue, so that an empty queue
    // means nobody waits (lease() drains a shared connection otherwise).
    while (!waiters_.empty() && (*waiters_.begin())->finished) waiters_.pop_front();
}

// The least loaded shared member that takes requests from `ex`.
inline pool_member* pool_core::least_loaded_shared(const asio::any_io_executor& ex) {
    return least_loaded(shared_, state_, config_.max_pipelined_requests,
                        [&](const pool_member& m) { return m.home == ex && m.conn.is_open(); });
}

// Shared members at rest with no request under way that may no longer
// serve (an old generation, the pool closed, a lifetime over) retire now;
// those with requests, or still reading an abandoned one's answer, when
// they come to rest (end_lease, came_to_rest). From any thread: what
// home did to an at-rest session came before, through the lock.
inline void pool_core::retire_unfit_shared(batch& b) {
    for (std::size_t i = 0; i < shared_.size();) {
        auto& m = shared_[i];
        const bool settled = m->load == 0 && m->at_rest;
        const auto reason = settled ? unfit_reason(*m, shared_connection_answers{{m->conn}}, state_, b.now) : std::nullopt;
        if (!reason) {
            ++i;
            continue;
        }
        auto member = std::move(m);
        shared_.erase(shared_.begin() + static_cast<std::ptrdiff_t>(i));
        --in_use_;
        retire(std::move(member), *reason, b);
    }
    // Quiet ones go to connections' waiters (a connection's waiter came
    // after its last request ended).
    for (std::size_t i = shared_.size(); i-- > 0 && !waiters_.empty();)
        if (shared_[i]->load == 0 && shared_[i]->at_rest) give_up_shared(*shared_[i], b);
}

inline void pool_core::drain_one_shared() {
    if (auto m = member_to_drain(shared_)) m->draining = true;
}

// A quiet shared member leaves shared use, to the first waiter or idle.
inline void pool_core::give_up_shared(pool_member& m, batch& b) {
    if (m.load > 0 || !m.at_rest) return;
    auto it = std::find_if(shared_.begin(), shared_.end(), [&](const member_ptr& p) { return p.get() == &m; });
    if (it == shared_.end()) return;
    auto member = std::move(*it);
    shared_.erase(it);
    member->shared = false;
    member->draining = false;
    member->home = {};
    pool_access::end_shared_use(member->conn);
    --in_use_;
    return_member(std::move(member), b);
}

}  // namespace pgcoro::detail
