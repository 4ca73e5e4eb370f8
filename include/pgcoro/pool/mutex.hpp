// The pool's lock. It is held for a few dozen instructions a step and so is
// nearly always free: taking and giving it back is one atomic exchange each,
// against some 55 instructions for a pthread mutex's pair (a checkout takes
// the lock twice). Contended, it sleeps in the kernel through
// std::atomic::wait (a futex on Linux), never spinning for long.
//
// The states are those of Drepper's "Futexes Are Tricky" (mutex 2): 0 free,
// 1 held, 2 held with possible sleepers; only a holder that saw 2 pays for a
// wake-up.
#pragma once

#include <atomic>

namespace pgcoro::detail {

class pool_mutex {
public:
    void lock() noexcept {
        int seen = 0;
        if (state_.compare_exchange_strong(seen, 1, std::memory_order_acquire, std::memory_order_relaxed)) [[likely]]
            return;
        // Announce a sleeper before sleeping, so the holder's unlock wakes us.
        if (seen != 2) seen = state_.exchange(2, std::memory_order_acquire);
        while (seen != 0) {
            state_.wait(2, std::memory_order_relaxed);
            seen = state_.exchange(2, std::memory_order_acquire);
        }
    }

    bool try_lock() noexcept {
        int seen = 0;
        return state_.compare_exchange_strong(seen, 1, std::memory_order_acquire, std::memory_order_relaxed);
    }

    void unlock() noexcept {
        if (state_.exchange(0, std::memory_order_release) == 2) [[unlikely]]
            state_.notify_one();
    }

private:
    std::atomic<int> state_{0};
};

}  // namespace pgcoro::detail
