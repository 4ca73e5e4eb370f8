// interval: PostgreSQL keeps months, days and microseconds apart (a month is
// not a fixed number of days, nor a day of hours across DST), and so does
// pgcoro::interval. Binary: int64 microseconds, int32 days, int32 months.
// Text is read in every IntervalStyle, each told apart by the text itself:
// the style is whatever the server, the database, the role or a SET chose
// (pgcoro cannot pin it in the startup packet, which PgBouncer before 1.20
// refuses), and a server connection PgBouncer shares may change it under us.
#pragma once

#include <algorithm>
#include <cstdint>
#include <limits>
#include <span>
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

// The fields of a text as it is read: wider than interval's, so that no step
// overflows unnoticed; months and days are range-checked once at the end.
struct interval_sum {
    std::int64_t months = 0;
    std::int64_t days = 0;
    std::int64_t microseconds = 0;
};

// sum += value * scale; false on overflow.
constexpr bool add_scaled(std::int64_t& sum, std::int64_t value, std::int64_t scale) noexcept {
    std::int64_t product;
    return !__builtin_mul_overflow(value, scale, &product) && !__builtin_add_overflow(sum, product, &sum);
}

// A unit of the postgres, postgres_verbose and iso_8601 styles: the field a
// count of it adds to, and how much one adds.
struct interval_unit {
    std::string_view name;
    std::int64_t interval_sum::*field;
    std::int64_t scale;
    bool fraction = false;  // seconds, the only count printed with a fraction: read in microseconds
};

inline constexpr std::int64_t microseconds_per_minute = 60'000'000;
inline constexpr std::int64_t microseconds_per_hour = 3'600'000'000;

// Each list in the order the server prints its units.
inline constexpr interval_unit interval_word_units[] = {
    {"year", &interval_sum::months, 12},
    {"mon", &interval_sum::months, 1},
    {"day", &interval_sum::days, 1},
    {"hour", &interval_sum::microseconds, microseconds_per_hour},
    {"min", &interval_sum::microseconds, microseconds_per_minute},
    {"sec", &interval_sum::microseconds, 1, true},
};
inline constexpr interval_unit iso_date_units[] = {
    {"Y", &interval_sum::months, 12},
    {"M", &interval_sum::months, 1},
    {"D", &interval_sum::days, 1},
};
inline constexpr interval_unit iso_time_units[] = {
    {"H", &interval_sum::microseconds, microseconds_per_hour},
    {"M", &interval_sum::microseconds, microseconds_per_minute},
    {"S", &interval_sum::microseconds, 1, true},
};

// "day" or "days". The server adds the "s" unless the count is 1, by rules
// that differ between styles and units ("-1 days", "-1 sec"): either is read.
constexpr bool names_unit(std::string_view word, std::string_view unit) noexcept {
    return word == unit || (word.size() == unit.size() + 1 && word.starts_with(unit) && word.back() == 's');
}

// "[+-]digits" of the unit, or for seconds "[+-]digits[.ffffff]" in microseconds.
constexpr bool read_interval_count(std::string_view text, const interval_unit& unit, std::int64_t& count) noexcept {
    text_cursor c(text);
    const bool negative = c.consume('-');
    if (!negative) c.consume('+');
    std::int64_t n;
    if (!c.digits_at_least(1, n)) return false;
    if (unit.fraction) {
        std::int64_t us;
        if (!c.microsecond_fraction(us) || !add_scaled(us, n, 1'000'000)) return false;
        n = us;
    }
    if (!c.at_end()) return false;
    count = negative ? -n : n;
    return true;
}

// Adds `count` of the unit `name`, which must be units[next] or one after
// it: each unit comes at most once, in order. `sign` -1 negates the count.
constexpr bool add_interval_field(std::string_view count, std::string_view name, std::span<const interval_unit> units,
                         std::size_t& next, std::int64_t sign, interval_sum& sum) noexcept {
    for (; next < units.size(); ++next) {
        const interval_unit& unit = units[next];
        if (!names_unit(name, unit.name)) continue;
        ++next;
        std::int64_t n;
        return read_interval_count(count, unit, n) && add_scaled(sum.*unit.field, n, sign * unit.scale);
    }
    return false;
}

// The words of a text between single spaces. A leading, trailing or double
// space makes an empty word, which no reader accepts.
class interval_words {
public:
    constexpr explicit interval_words(std::string_view text) noexcept : rest_(text) {}

    constexpr bool done() const noexcept { return done_; }
    constexpr std::string_view next() noexcept {
        const std::size_t end = rest_.find(' ');
        const std::string_view word = rest_.substr(0, end);
        done_ = end == std::string_view::npos;
        rest_ = done_ ? std::string_view{} : rest_.substr(end + 1);
        return word;
    }

private:
    std::string_view rest_;
    bool done_ = false;
};

// "H:MM:SS[.ffffff]" with any number of hour digits, in microseconds, negated
// when `negative`. False beyond int64, whose most negative value (which
// arithmetic reaches, though no input does) has no positive twin.
constexpr bool scan_interval_time(std::string_view token, bool negative, std::int64_t& us) noexcept {
    text_cursor c(token);
    std::int64_t h, m, s, frac;
    if (!c.digits_at_least(1, h) || !c.consume(':') || !c.digits(2, m) || !c.consume(':') || !c.digits(2, s) ||
        !c.microsecond_fraction(frac) || !c.at_end() || m > 59 || s > 59)
        return false;
    // Counted unsigned: the magnitude reaches 2^63.
    constexpr std::uint64_t limit = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()) + 1;
    if (static_cast<std::uint64_t>(h) > limit / microseconds_per_hour) return false;
    const std::uint64_t magnitude = static_cast<std::uint64_t>(h) * microseconds_per_hour +
                                    static_cast<std::uint64_t>((m * 60 + s) * 1'000'000 + frac);
    if (magnitude > limit || (!negative && magnitude == limit)) return false;
    us = negative ? static_cast<std::int64_t>(0 - magnitude) : static_cast<std::int64_t>(magnitude);
    return true;
}

// The same with its own sign, if any: "-04:05:06", "+00:00:01", "00:00:00".
constexpr bool scan_signed_interval_time(std::string_view token, std::int64_t& us) noexcept {
    const bool negative = token.starts_with('-');
    if (negative || token.starts_with('+')) token.remove_prefix(1);
    return scan_interval_time(token, negative, us);
}

// IntervalStyle=postgres: "1 year 2 mons -3 days +04:05:06.5", "00:00:00".
// Years, months and days each with its unit where it is not zero, then the
// time where it is not zero or is all there is; each field with its sign.
constexpr bool parse_postgres_interval(std::string_view text, interval_sum& sum) noexcept {
    constexpr auto units = std::span(interval_word_units).first(3);  // the time is HH:MM:SS
    std::size_t next = 0;
    for (interval_words words(text); !words.done();) {
        const std::string_view word = words.next();
        if (word.find(':') != std::string_view::npos)
            return words.done() && scan_signed_interval_time(word, sum.microseconds);
        if (words.done() || !add_interval_field(word, words.next(), units, next, 1, sum)) return false;
    }
    return true;
}

// IntervalStyle=postgres_verbose: "@ 1 year 2 mons -3 days 4 hours 5 mins
// 6.5 secs ago", "@ 0". The counts that are not zero, in this order; the
// first is printed without its sign, which a trailing "ago" gives to all.
constexpr bool parse_verbose_interval(std::string_view text, interval_sum& sum) noexcept {
    const bool ago = text.ends_with(" ago");
    if (ago) text.remove_suffix(4);
    if (text == "@ 0") return !ago;
    if (!text.starts_with("@ ")) return false;
    std::size_t next = 0;
    for (interval_words words(text.substr(2)); !words.done();) {
        const std::string_view count = words.next();
        if (words.done() || !add_interval_field(count, words.next(), interval_word_units, next, ago ? -1 : 1, sum))
            return false;
    }
    return true;
}

// "1Y-2M": counts, each with its own sign and followed by its unit's letter.
constexpr bool add_iso_interval_fields(std::string_view text, std::span<const interval_unit> units,
                                       interval_sum& sum) noexcept {
    std::size_t next = 0;
    while (!text.empty()) {
        const std::size_t letter = text.find_first_not_of("+-.0123456789");
        if (letter == std::string_view::npos ||
            !add_interval_field(text.substr(0, letter), text.substr(letter, 1), units, next, 1, sum))
            return false;
        text.remove_prefix(letter + 1);
    }
    return true;
}

// IntervalStyle=iso_8601: "P1Y2M3DT4H5M6.5S", "P-1Y-2M3DT-4H", "PT0S". "P",
// the date's fields that are not zero, then "T" and the time's if any is not.
constexpr bool parse_iso_interval(std::string_view text, interval_sum& sum) noexcept {
    if (!text.starts_with('P')) return false;
    text.remove_prefix(1);
    const std::size_t t = text.find('T');
    const std::string_view date = text.substr(0, t);
    const std::string_view time = t == std::string_view::npos ? std::string_view{} : text.substr(t + 1);
    if (time.empty() && (t != std::string_view::npos || date.empty())) return false;  // "P", "PT", "P1YT"
    return add_iso_interval_fields(date, iso_date_units, sum) && add_iso_interval_fields(time, iso_time_units, sum);
}

// "Y-M" in months, negated when `negative`; M is 0 to 11.
constexpr bool scan_year_month(std::string_view word, bool negative, std::int64_t& months) noexcept {
    text_cursor c(word);
    std::int64_t y, m;
    if (!c.digits_at_least(1, y) || !c.consume('-') || !c.digits_at_least(1, m) || !c.at_end() || m > 11) return false;
    return add_scaled(m, y, 12) && add_scaled(months, m, negative ? -1 : 1);
}

// Days, negated when `negative`.
constexpr bool scan_interval_days(std::string_view word, bool negative, std::int64_t& days) noexcept {
    text_cursor c(word);
    std::int64_t d;
    if (!c.digits_at_least(1, d) || !c.at_end()) return false;
    days = negative ? -d : d;
    return true;
}

// IntervalStyle=sql_standard. A value whose fields share one sign, with
// years-months or days-time but not both, is "1-2", "3 4:05:06" or "4:05:06",
// and one "-" in front negates every field ("-1 0:00:01" is minus one day
// and one second). Any other value has all three parts, each with its sign:
// "+1-2 -3 +4:05:06.5". Zero is "0".
constexpr bool parse_sql_interval(std::string_view text, interval_sum& sum) noexcept {
    if (text == "0") return true;
    std::string_view word[3];
    std::size_t n = 0;
    for (interval_words words(text); !words.done(); ++n) {
        if (n == 3) return false;
        word[n] = words.next();
    }
    if (n == 3) {
        bool negative[3];
        for (std::size_t i = 0; i < 3; ++i) {
            negative[i] = word[i].starts_with('-');
            if (!negative[i] && !word[i].starts_with('+')) return false;
            word[i].remove_prefix(1);
        }
        return scan_year_month(word[0], negative[0], sum.months) &&
               scan_interval_days(word[1], negative[1], sum.days) &&
               scan_interval_time(word[2], negative[2], sum.microseconds);
    }
    const bool negative = word[0].starts_with('-');
    if (negative) word[0].remove_prefix(1);
    if (n == 2)
        return scan_interval_days(word[0], negative, sum.days) && scan_interval_time(word[1], negative, sum.microseconds);
    return word[0].find(':') == std::string_view::npos ? scan_year_month(word[0], negative, sum.months)
                                                       : scan_interval_time(word[0], negative, sum.microseconds);
}

// Any IntervalStyle's output, told apart by its first character and whether
// it has units. A lone time, "-04:05:06", is the same value in postgres and
// sql_standard and is read as the latter.
inline interval parse_interval_text(std::string_view text) {
    interval_sum sum;
    const bool has_units = std::any_of(text.begin(), text.end(), [](char c) { return c >= 'a' && c <= 'z'; });
    const bool read = text.starts_with('@') ? parse_verbose_interval(text, sum)
                      : text.starts_with('P') ? parse_iso_interval(text, sum)
                      : has_units             ? parse_postgres_interval(text, sum)
                                              : parse_sql_interval(text, sum);
    constexpr std::int64_t int32_min = std::numeric_limits<std::int32_t>::min();
    constexpr std::int64_t int32_max = std::numeric_limits<std::int32_t>::max();
    if (!read || sum.months < int32_min || sum.months > int32_max || sum.days < int32_min || sum.days > int32_max)
        throw_bad_text("interval", text);
    return {static_cast<std::int32_t>(sum.months), static_cast<std::int32_t>(sum.days), sum.microseconds};
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
