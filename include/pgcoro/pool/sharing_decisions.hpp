// What the pool decides for connections shared by pool.query()/execute(),
// over plain values (sharing.hpp carries it out; tests/unit_pool.cpp tests
// it without a server): which shared member takes a request, when a lease
// takes a connection of its own instead, which member drains for those
// waiting.
#pragma once

#include <cstddef>

#include "state.hpp"

namespace pgcoro::detail {

// A member's part in sharing.
struct sharing_state {
    bool shared = false;    // lent to pool.query()/execute()
    bool draining = false;  // takes no new requests: others wait for a connection
    std::size_t load = 0;   // requests under way
    // With no request under way (load 0): its session's handlers are all
    // done (session::at_rest), so the pool may act on it from any thread.
    // Until then its home executor has it, and tells the pool when it is.
    bool at_rest = true;
};

// Whether a shared member takes one more request: of the current
// generation, not draining, below its depth (max_pipelined_requests).
constexpr bool takes_requests(const member_state& m, const sharing_state& s, const pool_state& p,
                              std::size_t depth) noexcept {
    return m.generation == p.generation && !s.draining && s.load < depth;
}

// The least loaded of `members` (pointers to members) that takes requests
// and that `reaches` (the caller's executor is its home, it is open), or
// null. `reaches` is the dear test (any_io_executor's ==), so only a member
// that would be the best so far is asked; a quiet one ends the search.
template <class Members, class Reaches>
auto least_loaded(const Members& members, const pool_state& p, std::size_t depth, Reaches&& reaches) {
    decltype(&*members.front()) best = nullptr;
    for (const auto& m : members) {
        if (best && m->load >= best->load) continue;
        if (!takes_requests(*m, *m, p, depth) || !reaches(*m)) continue;
        best = &*m;
        if (best->load == 0) break;
    }
    return best;
}

// A lease passes a busy shared member by when a connection of its own is
// at hand: an idle one, or room to open one that no acquire waits for.
// Pipelining is for when connections run out, not instead of them.
constexpr bool lease_takes_own_connection(std::size_t least_load, bool idle_available, bool room_to_open,
                                          bool acquires_waiting) noexcept {
    return least_load > 0 && (idle_available || (room_to_open && !acquires_waiting));
}

// Connections are waited for while all are shared (an acquire(), queries
// from another executor): one shared member at a time drains, taking no
// new requests and going to the waiters once quiet. The least loaded, or
// null while one already drains.
template <class Members>
auto member_to_drain(const Members& members) {
    decltype(&*members.front()) least = nullptr;
    for (const auto& m : members) {
        if (m->draining) return decltype(least){};
        if (!least || m->load < least->load) least = &*m;
    }
    return least;
}

}  // namespace pgcoro::detail
