// Proleptic Gregorian calendar arithmetic over a 64-bit day count, which
// PostgreSQL's range (4714 BC to 5874897 AD) needs and std::chrono's
// year_month_day (years -32767..32767) lacks; and the ISO text forms of dates
// and times that PostgreSQL prints with DateStyle=ISO.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "text_scan.hpp"

namespace pgcoro::detail {

// PostgreSQL counts dates and timestamps from 2000-01-01; std::chrono from 1970-01-01.
inline constexpr std::int64_t pg_epoch_days = 10957;
inline constexpr std::int64_t microseconds_per_day = 86'400'000'000;
inline constexpr std::int64_t pg_epoch_microseconds = pg_epoch_days * microseconds_per_day;

// The server's limits, relative to its epoch: 4714-11-24 BC (Julian day 0)
// up to, not including, 5874898-01-01 for dates and 294277-01-01 for timestamps.
inline constexpr std::int64_t pg_date_min = -2'451'545;
inline constexpr std::int64_t pg_date_end = 2'145'031'949;
inline constexpr std::int64_t pg_timestamp_min = -211'813'488'000'000'000;
inline constexpr std::int64_t pg_timestamp_end = 9'223'371'331'200'000'000;

struct civil_date {
    std::int64_t year;  // astronomical: 0 is 1 BC, -1 is 2 BC
    int month;          // 1..12
    int day;            // 1..31
};

constexpr std::int64_t floor_div(std::int64_t a, std::int64_t b) noexcept {
    return a / b - ((a % b != 0) && ((a < 0) != (b < 0)) ? 1 : 0);
}

// Microseconds split into whole days (rounded down) and the time of day.
// Not days * microseconds_per_day subtracted: near INT64_MIN that product
// overflows.
struct days_and_time {
    std::int64_t days;
    std::int64_t time_of_day;  // 0 .. microseconds_per_day - 1
};
constexpr days_and_time split_days(std::int64_t microseconds) noexcept {
    days_and_time r{microseconds / microseconds_per_day, microseconds % microseconds_per_day};
    if (r.time_of_day < 0) {
        r.time_of_day += microseconds_per_day;
        --r.days;
    }
    return r;
}

// Days since 1970-01-01 of a civil date, counting from March so that the
// leap day ends each 4-year cycle.
constexpr std::int64_t days_from_civil(civil_date d) noexcept {
    const std::int64_t y = d.month <= 2 ? d.year - 1 : d.year;
    const std::int64_t era = floor_div(y, 400);
    const std::int64_t year_of_era = y - era * 400;                                   // 0..399
    const std::int64_t day_of_year = (153 * (d.month + (d.month > 2 ? -3 : 9)) + 2) / 5 + d.day - 1;  // 0..365
    const std::int64_t day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    return era * 146097 + day_of_era - 719468;
}

constexpr civil_date civil_from_days(std::int64_t days) noexcept {
    const std::int64_t z = days + 719468;
    const std::int64_t era = floor_div(z, 146097);
    const std::int64_t day_of_era = z - era * 146097;                                               // 0..146096
    const std::int64_t year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36524 - day_of_era / 146096) / 365;
    const std::int64_t day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    const std::int64_t mp = (5 * day_of_year + 2) / 153;                                            // March = 0
    const int day = static_cast<int>(day_of_year - (153 * mp + 2) / 5 + 1);
    const int month = static_cast<int>(mp < 10 ? mp + 3 : mp - 9);
    return {year_of_era + era * 400 + (month <= 2 ? 1 : 0), month, day};
}

constexpr bool is_leap_year(std::int64_t y) noexcept { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

constexpr int days_in_month(std::int64_t y, int m) noexcept {
    constexpr int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap_year(y) ? 29 : days[m - 1];
}

// "YYYY-MM-DD" (four or more year digits), the year as printed (BC not applied).
constexpr bool scan_iso_date(text_cursor& c, civil_date& d) noexcept {
    std::int64_t y, m, day;
    if (!c.digits_at_least(4, y) || !c.consume('-') || !c.digits(2, m) || !c.consume('-') || !c.digits(2, day))
        return false;
    // The server prints at most 7 year digits; more could overflow the day count.
    if (y > 9'999'999 || m < 1 || m > 12 || day < 1 || day > 31) return false;
    d = {y, static_cast<int>(m), static_cast<int>(day)};
    return true;
}

// "HH:MM:SS[.ffffff]" as microseconds since midnight; 24:00:00 is allowed
// (the time type has it), anything past it is not.
constexpr bool scan_iso_time(text_cursor& c, std::int64_t& us) noexcept {
    std::int64_t h, m, s, frac;
    if (!c.digits(2, h) || !c.consume(':') || !c.digits(2, m) || !c.consume(':') || !c.digits(2, s) ||
        !c.microsecond_fraction(frac))
        return false;
    if (m > 59 || s > 59) return false;
    us = ((h * 60 + m) * 60 + s) * 1'000'000 + frac;
    return us <= microseconds_per_day;
}

// "+HH", "+HH:MM" or "+HH:MM:SS" (LMT offsets have seconds) as seconds east of UTC.
constexpr bool scan_utc_offset(text_cursor& c, std::int64_t& seconds) noexcept {
    const bool negative = c.peek() == '-';
    if (!c.consume('+') && !c.consume('-')) return false;
    std::int64_t h, m = 0, s = 0;
    if (!c.digits(2, h)) return false;
    if (c.consume(':')) {
        if (!c.digits(2, m)) return false;
        if (c.consume(':') && !c.digits(2, s)) return false;
    }
    if (m > 59 || s > 59) return false;
    seconds = (h * 3600 + m * 60 + s) * (negative ? -1 : 1);
    return true;
}

// Days since 1970-01-01 of a printed date, "BC" applied; false for a day
// that does not exist (Feb 30) or year 0.
constexpr bool days_of_printed_date(civil_date printed, bool bc, std::int64_t& days) noexcept {
    if (printed.year == 0) return false;
    const std::int64_t year = bc ? 1 - printed.year : printed.year;
    if (printed.day > days_in_month(year, printed.month)) return false;
    days = days_from_civil({year, printed.month, printed.day});
    return true;
}

inline void append_padded(std::string& out, std::int64_t v, int width) {
    const std::string digits = std::to_string(v);
    for (int i = static_cast<int>(digits.size()); i < width; ++i) out += '0';
    out += digits;
}

// ISO text of a point counted in microseconds from 1970 ("2024-02-29
// 13:45:00.5", "0044-03-15 12:00:00 BC"), for messages.
inline std::string iso_text_of(std::int64_t days, std::int64_t us_of_day, bool with_time) {
    const civil_date d = civil_from_days(days);
    std::string s;
    append_padded(s, d.year > 0 ? d.year : 1 - d.year, 4);
    s += '-';
    append_padded(s, d.month, 2);
    s += '-';
    append_padded(s, d.day, 2);
    if (with_time) {
        s += ' ';
        append_padded(s, us_of_day / 3'600'000'000, 2);
        s += ':';
        append_padded(s, us_of_day / 60'000'000 % 60, 2);
        s += ':';
        append_padded(s, us_of_day / 1'000'000 % 60, 2);
        if (std::int64_t frac = us_of_day % 1'000'000; frac != 0) {
            std::string f;
            append_padded(f, frac, 6);
            while (f.back() == '0') f.pop_back();
            s += '.';
            s += f;
        }
    }
    if (d.year <= 0) s += " BC";
    return s;
}

}  // namespace pgcoro::detail
