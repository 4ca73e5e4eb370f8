// interval: PostgreSQL keeps months, days and microseconds apart (a month is
// not a fixed number of days, nor a day of hours across DST), and so does
// pgcoro::interval. Binary: int64 microseconds, int32 days, int32 months.
// Text fields are read in the IntervalStyle=postgres form (the default):
// "1 year 2 mons 3 days 04:05:06.789", "-1 days +02:03:00", "00:00:00".
#pragma once

#include <cstdint>
#include <limits>
#include <string>
#include <string_view>

#include "codec_errors.hpp"
#include "oids.hpp"
#include "text_scan.hpp"
#include "type_traits.hpp"
#include "wire.hpp"

namespace pgcoro {

struct interval {
    std::int32_t months = 0;
    std::int32_t days = 0;
    std::int64_t microseconds = 0;

    friend bool operator==(const interval&, const interval&) = default;
};

namespace detail {

// "[+-]HH:MM:SS[.ffffff]" with any number of hour digits, as signed microseconds.
constexpr bool scan_interval_time(std::string_view token, std::int64_t& us) noexcept {
    text_cursor c(token);
    const bool negative = c.peek() == '-';
    if (!c.consume('-')) c.consume('+');
    std::int64_t h, m, s, frac;
    if (!c.digits_at_least(1, h) || !c.consume(':') || !c.digits(2, m) || !c.consume(':') || !c.digits(2, s) ||
        !c.microsecond_fraction(frac) || !c.at_end() || m > 59 || s > 59)
        return false;
    // The magnitude reaches 2^63 for the most negative interval: count it unsigned.
    constexpr std::uint64_t limit = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()) + 1;
    if (static_cast<std::uint64_t>(h) > limit / 3'600'000'000) return false;
    const std::uint64_t magnitude = static_cast<std::uint64_t>(h) * 3'600'000'000 +
                                    static_cast<std::uint64_t>((m * 60 + s) * 1'000'000 + frac);
    if (magnitude > limit || (!negative && magnitude == limit)) return false;
    us = negative ? static_cast<std::int64_t>(0 - magnitude) : static_cast<std::int64_t>(magnitude);
    return true;
}

inline interval parse_interval_text(std::string_view text) {
    interval v;
    std::int64_t months = 0, days = 0;
    bool any = false, seen_time = false;
    std::string_view rest = text;
    auto next_token = [&]() -> std::string_view {
        const std::size_t end = rest.find(' ');
        const std::string_view token = rest.substr(0, end);
        rest = end == std::string_view::npos ? std::string_view{} : rest.substr(end + 1);
        return token;
    };
    while (!rest.empty()) {
        const std::string_view token = next_token();
        if (token.find(':') != std::string_view::npos) {
            if (seen_time || !scan_interval_time(token, v.microseconds)) throw_bad_text("interval", text);
            seen_time = any = true;
            continue;
        }
        std::int64_t n;
        const std::string_view unit = next_token();
        if (seen_time || token.size() > 11 || !parse_int64(token, n)) throw_bad_text("interval", text);
        if (unit == "year" || unit == "years") months += n * 12;
        else if (unit == "mon" || unit == "mons") months += n;
        else if (unit == "day" || unit == "days") days += n;
        else throw_bad_text("interval", text);
        any = true;
    }
    if (!any || months < std::numeric_limits<std::int32_t>::min() || months > std::numeric_limits<std::int32_t>::max() ||
        days < std::numeric_limits<std::int32_t>::min() || days > std::numeric_limits<std::int32_t>::max())
        throw_bad_text("interval", text);
    v.months = static_cast<std::int32_t>(months);
    v.days = static_cast<std::int32_t>(days);
    return v;
}

}  // namespace detail

template <>
struct pg_traits<interval> {
    static constexpr std::uint32_t oid = oids::interval;
    static constexpr format param_format = format::binary;
    static constexpr std::string_view name = "pgcoro::interval";

    static void encode(const interval& v, std::string& out) {
        detail::append_i64(out, v.microseconds);
        detail::append_i32(out, v.days);
        detail::append_i32(out, v.months);
    }
    static constexpr bool accepts(std::uint32_t type) noexcept { return type == oids::interval; }
    static interval decode(std::string_view bytes, const field_type& t) {
        if (t.fmt == format::text) return detail::parse_interval_text(bytes);
        const char* p = detail::expect_size(bytes, 16, "binary interval");
        interval v;
        v.microseconds = static_cast<std::int64_t>(detail::load_be<std::uint64_t>(p));
        v.days = static_cast<std::int32_t>(detail::load_be<std::uint32_t>(p + 8));
        v.months = static_cast<std::int32_t>(detail::load_be<std::uint32_t>(p + 12));
        return v;
    }
};

}  // namespace pgcoro
