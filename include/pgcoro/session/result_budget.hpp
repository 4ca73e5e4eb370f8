// What one operation may keep of its rows (config::max_result_size). Past
// the limit, rows are still read, but dropped, so the session reaches
// ReadyForQuery in sync; the operation then fails with result_too_large
// instead of growing without bound on a result nobody meant to buffer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>

#include "../error.hpp"

namespace pgcoro::detail {

// What a kept row costs: its DataRow bytes and, per row and per value, the
// 8 bytes of the row store's index.
constexpr std::size_t stored_row_size(std::size_t body_size, std::size_t width) noexcept {
    return body_size + 8 * (1 + width);
}

class result_budget {
public:
    // Unlimited until reset() with the session's limit.
    explicit result_budget(std::size_t limit = std::numeric_limits<std::size_t>::max()) noexcept
        : limit_(limit), left_(limit) {}

    // A new operation: the whole limit again.
    void reset(std::size_t limit) noexcept {
        limit_ = left_ = limit;
        rows_ = 0;
        exceeded_ = false;
    }
    // Whether to keep a row of `body_size` bytes and `width` values. Once
    // one is refused, every later one is too.
    bool take(std::size_t body_size, std::size_t width) noexcept {
        ++rows_;
        const auto cost = stored_row_size(body_size, width);
        if (exceeded_ || cost > left_) [[unlikely]] {
            exceeded_ = true;
            return false;
        }
        left_ -= cost;
        return true;
    }
    bool exceeded() const noexcept { return exceeded_; }
    // Rows seen, kept or not.
    std::uint64_t rows() const noexcept { return rows_; }

    // At ReadyForQuery, once the server's own error (which comes first) is
    // not there to report.
    void throw_if_exceeded() const {
        if (!exceeded_) return;
        throw error(errc::result_too_large,
                    "query returned more than config::max_result_size (" + std::to_string(limit_) + " bytes) in " +
                        std::to_string(rows_) + " rows; read large results with stream(), or raise max_result_size");
    }

private:
    std::size_t limit_;
    std::size_t left_;
    std::uint64_t rows_ = 0;
    bool exceeded_ = false;
};

}  // namespace pgcoro::detail
