// How many times this process is a fork() child of the one that first asked.
// The pool compares it to tell connections its parent opened (sockets it
// shares with the parent and must never speak on) from its own.
#pragma once

#include <atomic>
#include <cstdint>

#include <pthread.h>

namespace pgcoro::detail {

inline std::atomic<std::uint64_t>& forks_seen() noexcept {
    static std::atomic<std::uint64_t> count{0};
    return count;
}

// One atomic load after the first call; counting starts at that call, so a
// fork before any pool existed changes nothing, as it should.
inline std::uint64_t fork_epoch() noexcept {
    static const bool counting = [] {
        ::pthread_atfork(nullptr, nullptr, [] { forks_seen().fetch_add(1, std::memory_order_relaxed); });
        return true;
    }();
    (void)counting;
    return forks_seen().load(std::memory_order_relaxed);
}

}  // namespace pgcoro::detail
