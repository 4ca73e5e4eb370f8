// The pool's clock. Its bookkeeping (lifetimes, idle times, back-off) needs
// milliseconds, and a checkout reads the time twice, so it reads the time of
// the kernel's last tick (a few ms old) for a memory load instead of a timer
// read (~50 ns on a VM).
#pragma once

#include <chrono>

#include <time.h>

namespace pgcoro::detail {

using pool_clock = std::chrono::steady_clock;

// Same epoch as steady_clock (CLOCK_MONOTONIC), and never ahead of it.
inline pool_clock::time_point coarse_now() noexcept {
    timespec ts{};
    ::clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return pool_clock::time_point(std::chrono::duration_cast<pool_clock::duration>(
        std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec)));
}

}  // namespace pgcoro::detail
