// Storage for the few Asio operations one object (a socket, a waiting
// acquire) has in flight at a time, handed to Asio as the completion
// handler's associated allocator.
//
// Without it Asio takes operation memory from a per-thread cache of two
// blocks. A pool whose connections and waiting coroutines have dozens of
// reads and timers in flight overflows that cache, and then most reads and
// waits reach malloc. Here each object reuses its own blocks whatever else is
// in flight. A larger request, or one more than the blocks, goes to the heap.
//
// The owner must outlive its operations. It does: the coroutine awaiting an
// operation keeps the session (or waiter) that owns the memory alive, and
// Asio frees an operation's memory before it destroys the handler.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <new>

namespace pgcoro::detail {

// `Blocks` blocks of `BlockSize` bytes: two of 512 for a socket (a read
// and a write at once), one small one for a posted wake-up.
template <std::size_t Blocks = 2, std::size_t BlockSize = 512>
class handler_memory {
public:
    handler_memory() = default;
    handler_memory(const handler_memory&) = delete;
    handler_memory& operator=(const handler_memory&) = delete;

    void* allocate(std::size_t size, std::size_t alignment) {
        if (size <= block_size && alignment <= alignof(std::max_align_t)) {
            for (auto& b : blocks_)
                if (!b.in_use.exchange(true, std::memory_order_acquire)) return b.storage;
        }
        return ::operator new(size, std::align_val_t{alignment});
    }

    void deallocate(void* p, std::size_t alignment) noexcept {
        for (auto& b : blocks_) {
            if (p == b.storage) {
                b.in_use.store(false, std::memory_order_release);
                return;
            }
        }
        ::operator delete(p, std::align_val_t{alignment});
    }

private:
    // A socket read through TLS (Asio's SSL io_op around the read) is the
    // largest operation in the hot paths, at about 300 bytes.
    static constexpr std::size_t block_size = BlockSize;
    struct block {
        alignas(std::max_align_t) unsigned char storage[block_size];
        std::atomic<bool> in_use{false};
    };
    std::array<block, Blocks> blocks_;
};

template <class T, class Memory = handler_memory<>>
class handler_allocator {
public:
    using value_type = T;

    explicit handler_allocator(Memory& memory) noexcept : memory_(&memory) {}
    template <class U>
    handler_allocator(const handler_allocator<U, Memory>& other) noexcept : memory_(other.memory_) {}
    template <class U>
    struct rebind {
        using other = handler_allocator<U, Memory>;
    };

    T* allocate(std::size_t n) { return static_cast<T*>(memory_->allocate(sizeof(T) * n, alignof(T))); }
    void deallocate(T* p, std::size_t) noexcept { memory_->deallocate(p, alignof(T)); }

    template <class U>
    bool operator==(const handler_allocator<U, Memory>& other) const noexcept {
        return memory_ == other.memory_;
    }

private:
    template <class, class>
    friend class handler_allocator;
    Memory* memory_;
};

}  // namespace pgcoro::detail
