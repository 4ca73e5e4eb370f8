// The pool's state as its decisions see it (member_decisions.hpp,
// connect_decisions.hpp): plain values that pool_core keeps or counts, and
// that a test writes down directly.
#pragma once

#include <cstddef>
#include <cstdint>

#include "clock.hpp"

namespace pgcoro::detail {

// What the pool keeps of a connection, beside the connection itself
// (pool_member derives from it, so a decision reads it in place).
struct member_state {
    std::uint64_t generation = 0;
    std::uint64_t fork_epoch = 0;  // of the process that opened it (fork_epoch.hpp)
    pool_clock::time_point opened, expires, last_used;
    pool_clock::time_point last_checked;  // last proven alive: used, or passed a check
    bool input_waiting = false;           // something arrived while it sat idle
};

// What every member is measured against.
struct pool_state {
    std::uint64_t generation = 1;
    std::uint64_t fork_epoch = 0;  // of this process, as last noticed
    bool closed = false;
};

// The pool's connections by where they are, and the acquires waiting.
struct pool_counts {
    std::size_t idle = 0;
    std::size_t in_use = 0;
    std::size_t connecting = 0;
    std::size_t resetting = 0;  // being reset after a return, or checked while idle
    std::size_t waiting = 0;    // acquires not yet served
};

// Everything max_size bounds: open or opening (closing ones no longer count).
constexpr std::size_t open_or_opening(const pool_counts& c) noexcept {
    return c.idle + c.in_use + c.connecting + c.resetting;
}

// What min_idle counts: the idle ones and those that will be idle once
// their reset or check is done. Connects top it up (connect_demand) and the
// idle timeout never takes it below (sweep_idle): counted alike, so that
// neither undoes the other.
constexpr std::size_t kept_warm(const pool_counts& c) noexcept { return c.idle + c.resetting; }

}  // namespace pgcoro::detail
