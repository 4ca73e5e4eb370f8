// The pool's lock. It is held for a few dozen instructions a step and so is
// nearly always free: taking and giving it back is one atomic exchange each,
// against some 55 instructions for a pthread mutex's pair (a checkout takes
// the lock twice). Contended, it first spins a little, as glibc's adaptive
// mutex does: the holder is done within a few hundred nanoseconds, where a
// sleep and a wake-up are two system calls of microseconds each (threads
// taking turns on it spent 425 ns a checkout, 4.8 times one thread's).
// Only then does it sleep in the kernel through std::atomic::wait (a futex
// on Linux).
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
        wait_for_it(seen);
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
    static constexpr int spin_limit = 100;

    // Out of line, so that lock() stays one inlined compare-exchange.
    [[gnu::noinline]] void wait_for_it(int seen) noexcept {
        // Until it is free, or others already sleep (then this joins them).
        for (int spins = 0; spins < spin_limit && seen != 2; ++spins) {
            cpu_relax();
            seen = state_.load(std::memory_order_relaxed);
            if (seen == 0 && state_.compare_exchange_weak(seen, 1, std::memory_order_acquire, std::memory_order_relaxed))
                return;
        }
        // Announce a sleeper before sleeping, so the holder's unlock wakes us.
        if (seen != 2) seen = state_.exchange(2, std::memory_order_acquire);
        while (seen != 0) {
            state_.wait(2, std::memory_order_relaxed);
            seen = state_.exchange(2, std::memory_order_acquire);
        }
    }

    // Tells the core a spin is under way (x86 PAUSE, Arm YIELD): the other
    // hyper-thread runs meanwhile, and leaving the loop costs no mispredicted
    // memory-order speculation.
    static void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#elif defined(__aarch64__)
        asm volatile("yield");
#endif
    }

    alignas(64) std::atomic<int> state_{0};
};

}  // namespace pgcoro::detail
