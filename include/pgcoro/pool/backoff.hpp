// Randomized durations for the pool.
//
// How long to wait before the next connect attempt after `failures` failed
// ones in a row: exponential, capped, with random jitter, so a dead server
// costs a few attempts a minute rather than a hot loop, and many clients
// restarting together do not retry in lockstep.
#pragma once

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <random>

namespace pgcoro::detail {

inline std::chrono::milliseconds backoff_delay(std::chrono::milliseconds initial, std::chrono::milliseconds cap,
                                               std::uint64_t failures, std::mt19937_64& random) {
    if (failures == 0) return std::chrono::milliseconds(0);
    const double base = static_cast<double>(initial.count()) * std::pow(2.0, static_cast<double>(std::min<std::uint64_t>(failures - 1, 30)));
    const double capped = std::min(base, static_cast<double>(cap.count()));
    std::uniform_real_distribution<double> jitter(0.5, 1.0);
    return std::chrono::milliseconds(static_cast<std::int64_t>(capped * jitter(random)));
}

// A connection's max_lifetime, cut by a random share of `jitter` so that a
// pool opened at once does not expire at once; "forever" when 0.
inline std::chrono::steady_clock::duration jittered_lifetime(std::chrono::milliseconds max_lifetime, double jitter,
                                                             std::mt19937_64& random) {
    if (max_lifetime.count() <= 0) return std::chrono::hours(24 * 365 * 100);
    std::uniform_real_distribution<double> share(0.0, std::clamp(jitter, 0.0, 1.0));
    return max_lifetime - std::chrono::duration_cast<std::chrono::milliseconds>(max_lifetime * share(random));
}

}  // namespace pgcoro::detail
