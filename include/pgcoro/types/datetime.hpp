// date, timestamp, timestamptz and time.
//
//   date         std::chrono::sys_days
//   timestamp    std::chrono::local_time<std::chrono::microseconds>  (a wall-clock reading, no zone)
//   timestamptz  std::chrono::sys_time<std::chrono::microseconds>    (an instant, UTC)
//   time         pgcoro::time_of_day
//
// PostgreSQL's 'infinity' and '-infinity' read as the C++ type's max() and
// min(), and max()/min() are sent as infinity/-infinity: the mapping is exact
// both ways. Any other value outside PostgreSQL's range (4714-11-24 BC to
// 5874897-12-31 for dates, to 294276-12-31 for timestamps) is
// errc::value_out_of_range when sent, and timestamps after year 292277
// (beyond int64 microseconds from 1970) are out of range when read.
//
// Text-format fields are read in the forms DateStyle=ISO prints: "2024-02-29",
// "2024-02-29 13:45:00.123456", "…+05:30" for timestamptz (any TimeZone: the
// offset is applied), "… BC", "infinity", "-infinity".
#pragma once

#include <chrono>
#include <compare>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>

#include "calendar.hpp"
#include "codec_errors.hpp"
#include "oids.hpp"
#include "text_scan.hpp"
#include "type_traits.hpp"
#include "wire.hpp"

namespace pgcoro {

// A time of day: the time type, microseconds since midnight, 00:00:00 to
// 24:00:00 inclusive (PostgreSQL allows 24:00:00).
struct time_of_day {
    std::chrono::microseconds since_midnight{};

    friend auto operator<=>(const time_of_day&, const time_of_day&) = default;
};

namespace detail {

inline constexpr std::int32_t pg_date_infinity = std::numeric_limits<std::int32_t>::max();
inline constexpr std::int32_t pg_date_minus_infinity = std::numeric_limits<std::int32_t>::min();
inline constexpr std::int64_t pg_timestamp_infinity = std::numeric_limits<std::int64_t>::max();
inline constexpr std::int64_t pg_timestamp_minus_infinity = std::numeric_limits<std::int64_t>::min();

// A date or timestamp read from text: days or microseconds since
// 1970-01-01, or one of the infinities.
enum class time_point_kind { finite, infinity, minus_infinity };

struct scanned_time_point {
    time_point_kind kind = time_point_kind::finite;
    std::int64_t value = 0;  // days or microseconds since 1970
};

inline bool scan_infinity(std::string_view text, scanned_time_point& p) noexcept {
    if (text == "infinity") p.kind = time_point_kind::infinity;
    else if (text == "-infinity") p.kind = time_point_kind::minus_infinity;
    else return false;
    return true;
}

// " BC" at the end of the cursor's text.
inline bool scan_era(text_cursor& c) noexcept { return c.consume(" BC"); }

inline scanned_time_point parse_date_text(std::string_view text) {
    scanned_time_point p;
    if (scan_infinity(text, p)) return p;
    text_cursor c(text);
    civil_date d;
    if (!scan_iso_date(c, d)) throw_bad_text("date", text);
    const bool bc = scan_era(c);
    if (!c.at_end() || !days_of_printed_date(d, bc, p.value)) throw_bad_text("date", text);
    return p;
}

// A timestamp's text; with_zone requires the UTC offset timestamptz prints
// and returns the instant, without it the wall-clock reading.
inline scanned_time_point parse_timestamp_text(std::string_view text, bool with_zone, std::string_view cpp_name) {
    const std::string_view what = with_zone ? "timestamptz" : "timestamp";
    scanned_time_point p;
    if (scan_infinity(text, p)) return p;
    text_cursor c(text);
    civil_date d;
    std::int64_t us_of_day = 0, offset_seconds = 0;
    if (!scan_iso_date(c, d) || !c.consume(' ') || !scan_iso_time(c, us_of_day) || us_of_day == microseconds_per_day)
        throw_bad_text(what, text);
    if (with_zone && !scan_utc_offset(c, offset_seconds)) throw_bad_text(what, text);
    const bool bc = scan_era(c);
    std::int64_t days;
    if (!c.at_end() || !days_of_printed_date(d, bc, days)) throw_bad_text(what, text);
    // Past year 292277 the microseconds since 1970 overflow int64.
    if (__builtin_mul_overflow(days, microseconds_per_day, &p.value) ||
        __builtin_add_overflow(p.value, us_of_day - offset_seconds * 1'000'000, &p.value))
        throw_out_of_range(text, cpp_name);
    return p;
}

template <class TimePoint>
TimePoint time_point_of(scanned_time_point p) noexcept {
    if (p.kind == time_point_kind::infinity) return TimePoint::max();
    if (p.kind == time_point_kind::minus_infinity) return TimePoint::min();
    return TimePoint(typename TimePoint::duration(p.value));
}

// A binary timestamp: microseconds since 2000, or INT64_MAX/MIN for the infinities.
template <class TimePoint>
TimePoint time_point_from_pg(std::int64_t pg, std::string_view cpp_name) {
    if (pg == pg_timestamp_infinity) return TimePoint::max();
    if (pg == pg_timestamp_minus_infinity) return TimePoint::min();
    std::int64_t us;
    if (__builtin_add_overflow(pg, pg_epoch_microseconds, &us)) {  // past year 292277
        const auto [pg_days, time_of_day] = split_days(pg);
        throw_out_of_range(iso_text_of(pg_days + pg_epoch_days, time_of_day, true), cpp_name);
    }
    return TimePoint(typename TimePoint::duration(us));
}

template <class TimePoint>
std::int64_t timestamp_to_pg(TimePoint v, std::string_view pg_type) {
    if (v == TimePoint::max()) return pg_timestamp_infinity;
    if (v == TimePoint::min()) return pg_timestamp_minus_infinity;
    const std::int64_t us = v.time_since_epoch().count();
    std::int64_t pg;
    if (__builtin_sub_overflow(us, pg_epoch_microseconds, &pg) || pg < pg_timestamp_min || pg >= pg_timestamp_end) {
        const auto [days, time_of_day] = split_days(us);
        throw_out_of_range(iso_text_of(days, time_of_day, true), pg_type);
    }
    return pg;
}

template <class TimePoint, bool WithZone>
struct timestamp_traits {
    static constexpr std::uint32_t oid = WithZone ? oids::timestamptz : oids::timestamp;
    static constexpr format param_format = format::binary;

    static void encode(TimePoint v, std::string& out) {
        append_i64(out, timestamp_to_pg(v, WithZone ? "PostgreSQL timestamptz" : "PostgreSQL timestamp"));
    }
    static constexpr bool accepts(std::uint32_t type) noexcept { return type == oid; }
    static TimePoint decode(std::string_view bytes, const field_type& t) {
        if (t.fmt == format::binary) {
            const char* p = expect_size(bytes, 8, WithZone ? "binary timestamptz" : "binary timestamp");
            return time_point_from_pg<TimePoint>(static_cast<std::int64_t>(load_be<std::uint64_t>(p)),
                                                 pg_traits<TimePoint>::name);
        }
        return time_point_of<TimePoint>(parse_timestamp_text(bytes, WithZone, pg_traits<TimePoint>::name));
    }
};

}  // namespace detail

template <>
struct pg_traits<std::chrono::sys_days> {
    static constexpr std::uint32_t oid = oids::date;
    static constexpr format param_format = format::binary;
    static constexpr std::string_view name = "std::chrono::sys_days";

    static void encode(std::chrono::sys_days v, std::string& out) {
        if (v == std::chrono::sys_days::max()) return detail::append_i32(out, detail::pg_date_infinity);
        if (v == std::chrono::sys_days::min()) return detail::append_i32(out, detail::pg_date_minus_infinity);
        const std::int64_t days = v.time_since_epoch().count();
        // Compared before subtracting: days may be near the rep's limits.
        if (days < detail::pg_date_min + detail::pg_epoch_days || days >= detail::pg_date_end + detail::pg_epoch_days)
            detail::throw_out_of_range(detail::iso_text_of(days, 0, false), "PostgreSQL date");
        detail::append_i32(out, static_cast<std::int32_t>(days - detail::pg_epoch_days));
    }
    static constexpr bool accepts(std::uint32_t type) noexcept { return type == oids::date; }
    static std::chrono::sys_days decode(std::string_view bytes, const field_type& t) {
        using std::chrono::sys_days;
        if (t.fmt == format::binary) {
            const auto pg = static_cast<std::int32_t>(detail::load_be<std::uint32_t>(detail::expect_size(bytes, 4, "binary date")));
            if (pg == detail::pg_date_infinity) return sys_days::max();
            if (pg == detail::pg_date_minus_infinity) return sys_days::min();
            return sys_days(std::chrono::days(std::int64_t{pg} + detail::pg_epoch_days));
        }
        return detail::time_point_of<sys_days>(detail::parse_date_text(bytes));
    }
};

template <>
struct pg_traits<std::chrono::local_time<std::chrono::microseconds>>
    : detail::timestamp_traits<std::chrono::local_time<std::chrono::microseconds>, false> {
    static constexpr std::string_view name = "std::chrono::local_time<std::chrono::microseconds>";
};

template <>
struct pg_traits<std::chrono::sys_time<std::chrono::microseconds>>
    : detail::timestamp_traits<std::chrono::sys_time<std::chrono::microseconds>, true> {
    static constexpr std::string_view name = "std::chrono::sys_time<std::chrono::microseconds>";
};

template <>
struct pg_traits<time_of_day> {
    static constexpr std::uint32_t oid = oids::time;
    static constexpr format param_format = format::binary;
    static constexpr std::string_view name = "pgcoro::time_of_day";

    static void encode(time_of_day v, std::string& out) {
        const std::int64_t us = v.since_midnight.count();
        if (us < 0 || us > detail::microseconds_per_day)
            detail::throw_out_of_range(std::to_string(us) + " microseconds since midnight", "PostgreSQL time");
        detail::append_i64(out, us);
    }
    static constexpr bool accepts(std::uint32_t type) noexcept { return type == oids::time; }
    static time_of_day decode(std::string_view bytes, const field_type& t) {
        std::int64_t us;
        if (t.fmt == format::binary) {
            us = static_cast<std::int64_t>(detail::load_be<std::uint64_t>(detail::expect_size(bytes, 8, "binary time")));
            if (us < 0 || us > detail::microseconds_per_day)
                detail::throw_invalid("binary time", std::to_string(us) + " microseconds since midnight");
        } else {
            detail::text_cursor c(bytes);
            if (!detail::scan_iso_time(c, us) || !c.at_end()) detail::throw_bad_text("time", bytes);
        }
        return time_of_day{std::chrono::microseconds(us)};
    }
};

}  // namespace pgcoro
