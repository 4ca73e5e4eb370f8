// Small parsers for the text forms the server prints: decimal integers and
// fixed-width digit groups. Written out because <charconv> has no
// fixed-width reads and these sit on the hot path of text-format results.
#pragma once

#include <cstdint>
#include <string_view>

namespace pgcoro::detail {

constexpr bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }

constexpr char ascii_lower(char c) noexcept { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

constexpr bool iequals(std::string_view a, std::string_view b) noexcept {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
        if (ascii_lower(a[i]) != ascii_lower(b[i])) return false;
    return true;
}

// PostgreSQL's scanner whitespace (array_isspace, scanner_isspace).
constexpr bool is_pg_space(char c) noexcept {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

// A whole string of "-"? digits as int64; false on anything else or overflow.
constexpr bool parse_int64(std::string_view s, std::int64_t& out) noexcept {
    std::size_t i = 0;
    const bool negative = !s.empty() && s[0] == '-';
    if (negative || (!s.empty() && s[0] == '+')) ++i;
    if (i == s.size()) return false;
    // Accumulate as a negative number: its range holds INT64_MIN.
    std::int64_t v = 0;
    constexpr std::int64_t min = INT64_MIN;
    for (; i < s.size(); ++i) {
        if (!is_digit(s[i])) return false;
        const int d = s[i] - '0';
        if (v < min / 10 || (v == min / 10 && d > -(min % 10))) return false;
        v = v * 10 - d;
    }
    if (!negative) {
        if (v == min) return false;
        v = -v;
    }
    out = v;
    return true;
}

// Unsigned decimal digits only, up to UINT64_MAX.
constexpr bool parse_uint64(std::string_view s, std::uint64_t& out) noexcept {
    if (s.empty()) return false;
    std::uint64_t v = 0;
    for (char c : s) {
        if (!is_digit(c)) return false;
        const unsigned d = static_cast<unsigned>(c - '0');
        if (v > (UINT64_MAX - d) / 10) return false;
        v = v * 10 + d;
    }
    out = v;
    return true;
}

// A cursor over text that reads fixed and variable runs of digits.
class text_cursor {
public:
    constexpr explicit text_cursor(std::string_view s) noexcept : s_(s) {}

    constexpr bool at_end() const noexcept { return i_ == s_.size(); }
    constexpr char peek() const noexcept { return i_ < s_.size() ? s_[i_] : '\0'; }
    constexpr bool consume(char c) noexcept {
        if (at_end() || s_[i_] != c) return false;
        ++i_;
        return true;
    }
    constexpr bool consume(std::string_view word) noexcept {
        if (s_.substr(i_, word.size()) != word) return false;
        i_ += word.size();
        return true;
    }
    // Exactly n digits.
    constexpr bool digits(int n, std::int64_t& out) noexcept {
        std::int64_t v = 0;
        for (int k = 0; k < n; ++k, ++i_) {
            if (i_ >= s_.size() || !is_digit(s_[i_])) return false;
            v = v * 10 + (s_[i_] - '0');
        }
        out = v;
        return true;
    }
    // At least `min` digits, at most 18 (no overflow).
    constexpr bool digits_at_least(int min, std::int64_t& out) noexcept {
        std::int64_t v = 0;
        int n = 0;
        for (; i_ < s_.size() && is_digit(s_[i_]); ++i_, ++n) {
            if (n == 18) return false;
            v = v * 10 + (s_[i_] - '0');
        }
        out = v;
        return n >= min;
    }
    // A fraction ".ddd" of up to 6 digits as microseconds; true with 0 when absent.
    constexpr bool microsecond_fraction(std::int64_t& out) noexcept {
        out = 0;
        if (!consume('.')) return true;
        int n = 0;
        for (; i_ < s_.size() && is_digit(s_[i_]); ++i_, ++n) {
            if (n == 6) return false;
            out = out * 10 + (s_[i_] - '0');
        }
        if (n == 0) return false;
        for (; n < 6; ++n) out *= 10;
        return true;
    }
    constexpr std::string_view rest() const noexcept { return s_.substr(i_); }

private:
    std::string_view s_;
    std::size_t i_ = 0;
};

}  // namespace pgcoro::detail
