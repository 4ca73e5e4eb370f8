// Counts the heap allocations made by the calling thread, for the claim
// "a cached prepared query allocates nothing". Include it in exactly one
// translation unit of a program: it replaces allocation functions.
//
// Counted: malloc, calloc, realloc, aligned_alloc, memalign, posix_memalign
// and valloc, replaced by wrappers around glibc's own entry points. That is
// where operator new gets its memory and where Asio allocates coroutine
// frames (aligned_alloc, when its per-thread cache of two frames misses),
// so nothing that reaches the heap is missed. Under AddressSanitizer, whose
// runtime owns malloc, only operator new can be counted: the count says so.
#pragma once

#include <cerrno>
#include <cstddef>
#include <cstdlib>
#include <new>

namespace test {

inline thread_local long heap_allocations = 0;

#if defined(__SANITIZE_ADDRESS__)
inline constexpr const char* heap_counter_scope = "operator new only (AddressSanitizer owns malloc)";
#else
inline constexpr const char* heap_counter_scope = "malloc, aligned_alloc and operator new";
#endif

}  // namespace test

#if defined(__SANITIZE_ADDRESS__)

void* operator new(std::size_t n) {
    ++test::heap_allocations;
    if (void* p = std::malloc(n ? n : 1)) return p;
    throw std::bad_alloc();
}
void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
    ++test::heap_allocations;
    return std::malloc(n ? n : 1);
}
void* operator new[](std::size_t n) { return operator new(n); }
void* operator new[](std::size_t n, const std::nothrow_t& tag) noexcept { return operator new(n, tag); }
// Every other form goes to free too, so no block allocated by the runtime's
// own operator new is ever freed here (AddressSanitizer checks that).
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }

#else

extern "C" {
void* __libc_malloc(std::size_t);
void* __libc_calloc(std::size_t, std::size_t);
void* __libc_realloc(void*, std::size_t);
void* __libc_memalign(std::size_t, std::size_t);
void __libc_free(void*);

void* malloc(std::size_t n) {
    ++test::heap_allocations;
    return __libc_malloc(n);
}
void* calloc(std::size_t count, std::size_t n) {
    ++test::heap_allocations;
    return __libc_calloc(count, n);
}
void* realloc(void* p, std::size_t n) {
    ++test::heap_allocations;
    return __libc_realloc(p, n);
}
void free(void* p) { __libc_free(p); }
void* memalign(std::size_t alignment, std::size_t n) {
    ++test::heap_allocations;
    return __libc_memalign(alignment, n);
}
void* aligned_alloc(std::size_t alignment, std::size_t n) { return memalign(alignment, n); }
void* valloc(std::size_t n) { return memalign(4096, n); }
int posix_memalign(void** out, std::size_t alignment, std::size_t n) {
    if (alignment % sizeof(void*) != 0 || (alignment & (alignment - 1)) != 0) return EINVAL;
    void* p = memalign(alignment, n);
    if (!p) return ENOMEM;
    *out = p;
    return 0;
}
}

#endif
