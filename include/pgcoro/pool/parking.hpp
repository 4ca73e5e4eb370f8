// Where a returned connection waits for its thread's next acquire(): one
// slot per thread (threads past slot_count share), which that thread's
// checkout and return touch without the pool's lock. Threads checking out
// and returning at once then no longer pass the pool's lock and lists
// between their cores for every checkout (HikariCP's ConcurrentBag keeps
// a per-thread list for the same reason).
//
// The pool's locked steps see a parked connection as still checked out:
// it stays counted in use until its thread takes it again or a step that
// needs it takes it back (drain): an acquire that finds nothing idle, a
// waiter queuing, a generation bump, close, a fork, the maintenance tick.
//
// A return parks only while nobody waits and the pool's generation is the
// connection's. Both can change while it parks; the race is settled the
// way two flags settle it (each side writes its own, then reads the
// other's, all sequentially consistent): a return writes the slot, then
// reads the waiters and the generation, and takes its connection back if
// either changed; a queuing waiter or a bump writes its count or the
// generation, then empties the slots. One of the two always sees the
// other, so no connection stays parked while someone waits for it.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>

#include "member_ptr.hpp"

namespace pgcoro::detail {

class parking {
public:
    static constexpr std::size_t slot_count = 8;

    parking() = default;
    parking(const parking&) = delete;
    parking& operator=(const parking&) = delete;
    ~parking() {
        for (auto& s : slots_) member_ptr(s.member.exchange(nullptr));
    }

    // The generation a connection must have to park or leave its slot;
    // 0 once the pool is closed (generations start at 1).
    std::uint64_t generation() const noexcept { return generation_.load(); }
    // Under the pool's lock, before the slots are drained.
    void set_generation(std::uint64_t g) noexcept { generation_.store(g); }

    bool others_waiting() const noexcept { return waiting_.load() != 0; }
    // Under the pool's lock, before the slots are drained. Whether they
    // must be: not while others waited already, since the first of them
    // drained them and every return since has seen it waiting.
    bool waiter_queued() noexcept { return waiting_.fetch_add(1) == 0; }
    void waiter_left() noexcept { waiting_.fetch_sub(1); }

    // What this thread's slot holds, taken out; nullptr when it is empty.
    pool_member* take() noexcept {
        auto& s = slot_of_this_thread();
        if (!s.member.load(std::memory_order_relaxed)) return nullptr;  // no write to a line others may read
        return s.member.exchange(nullptr);
    }

    // Puts m in this thread's slot. Returns what must go back through the
    // lock instead: what the slot held before, and m itself when a waiter
    // queued or the generation changed meanwhile (nullptr for none).
    struct displaced {
        pool_member* previous = nullptr;
        pool_member* taken_back = nullptr;
    };
    displaced park(pool_member* m, std::uint64_t generation) noexcept {
        auto& s = slot_of_this_thread();
        displaced d{s.member.exchange(m), nullptr};
        if (others_waiting() || generation_.load() != generation) d.taken_back = s.member.exchange(nullptr);
        return d;
    }

    // Calls f(member) for every parked member, each taken out of its slot.
    template <class F>
    void drain(F&& f) {
        // A load first: the slots of other threads stay theirs (no write)
        // while they are empty, as they mostly are when acquires wait.
        for (auto& s : slots_)
            if (s.member.load() != nullptr)
                if (auto* m = s.member.exchange(nullptr)) f(member_ptr(m));
    }

    std::size_t parked() const noexcept {
        std::size_t n = 0;
        for (auto& s : slots_) n += s.member.load() != nullptr;
        return n;
    }

    void count_checkout() noexcept { slot_of_this_thread().checkouts.fetch_add(1, std::memory_order_relaxed); }
    std::uint64_t checkouts() const noexcept {
        std::uint64_t n = 0;
        for (auto& s : slots_) n += s.checkouts.load(std::memory_order_relaxed);
        return n;
    }

private:
    // A line of its own: a slot is written by its thread alone, mostly.
    struct alignas(64) slot {
        std::atomic<pool_member*> member{nullptr};
        std::atomic<std::uint64_t> checkouts{0};  // acquires served from this slot
    };

    static std::size_t this_thread_index() noexcept {
        static std::atomic<std::size_t> next{0};
        thread_local const std::size_t index = next.fetch_add(1, std::memory_order_relaxed);
        return index;
    }
    slot& slot_of_this_thread() noexcept { return slots_[this_thread_index() % slot_count]; }

    std::array<slot, slot_count> slots_;
    alignas(64) std::atomic<std::uint64_t> generation_{0};
    std::atomic<std::size_t> waiting_{0};
};

}  // namespace pgcoro::detail
