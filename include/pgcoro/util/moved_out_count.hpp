// A count kept beside a container that a move empties. The default move of
// the owner would copy the count and leave it stale beside the empty
// container; this one goes with the move and leaves zero behind, so a
// moved-from owner is empty and can be refilled.
#pragma once

#include <cstddef>
#include <utility>

namespace pgcoro::detail {

class moved_out_count {
public:
    moved_out_count() = default;
    // Implicit both ways: the owner reads and assigns it as the number it is.
    moved_out_count(std::size_t n) noexcept : n_(n) {}
    moved_out_count(const moved_out_count&) = default;
    moved_out_count& operator=(const moved_out_count&) = default;
    moved_out_count(moved_out_count&& other) noexcept : n_(std::exchange(other.n_, 0)) {}
    moved_out_count& operator=(moved_out_count&& other) noexcept {
        n_ = std::exchange(other.n_, 0);
        return *this;
    }

    operator std::size_t() const noexcept { return n_; }
    moved_out_count& operator++() noexcept {
        ++n_;
        return *this;
    }

private:
    std::size_t n_ = 0;
};

}  // namespace pgcoro::detail
