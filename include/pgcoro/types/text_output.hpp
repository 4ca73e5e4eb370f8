// PostgreSQL's own text output for a result field, whichever format it came
// in: what psql shows for it with the server's defaults (DateStyle=ISO,
// IntervalStyle=postgres, extra_float_digits=1, bytea_output=hex) and
// TimeZone=UTC.
//
//   format_text(bytes, field_type{oids::float8, -1, format::binary})  // "0.1", "1e+100", "-Infinity"
//
// A text-format field is the server's output already and is returned as it
// is. A binary field of any type pgcoro receives in binary (type_table.hpp
// says which, and which routine below prints each) is decoded and printed
// exactly as the type's output function would:
// floats with the very digits the server picks (round-trip digits, but not
// always the shortest: see append_pg_float), numeric digit for digit,
// timestamptz in UTC with "+00", bytea as "\x..." hex, arrays with array_out's
// quoting ({"a b",NULL,"x\"y"}) and "[0:1]=" when a lower bound is not 1.
//
// The one setting a binary value does not carry is the session's TimeZone:
// timestamptz is always printed in UTC (set TimeZone=UTC on the session to
// have text-format fields agree). Binary fields of other types throw
// errc::type_mismatch; malformed bytes throw errc::invalid_value.
#pragma once

#include <bit>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <string>
#include <string_view>
#include <system_error>

#include "../error.hpp"
#include "arrays.hpp"
#include "bytea.hpp"
#include "calendar.hpp"
#include "codec_errors.hpp"
#include "datetime.hpp"
#include "floats.hpp"
#include "integers.hpp"
#include "interval.hpp"
#include "json.hpp"
#include "network.hpp"
#include "numeric.hpp"
#include "object_id.hpp"
#include "type_table.hpp"
#include "type_traits.hpp"
#include "uuid.hpp"
#include "wire.hpp"

namespace pgcoro {

namespace detail {

template <class Integer>
void append_decimal(std::string& out, Integer v) {
    char buf[24];
    const auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
    out.append(buf, end);
}

// float4out / float8out with extra_float_digits > 0 (PostgreSQL 12+) print
// the digits of PostgreSQL's copy of Ryu (src/common/d2s.c, f2s.c), which is
// built with STRICTLY_SHORTEST off: the interval of decimals that read back
// as the value excludes both of its ends. So the server does not always print
// the shortest round-trip digits that std::to_chars gives: 7.849999999999999e+21
// where to_chars has 7.85e+21, which lies exactly half way to the next double.
//
// pgcoro computes the same digits exactly, on the decimal expansions of the
// value and of the interval's ends (they are finite: binary fractions):
//   P      the largest power of ten with a multiple strictly inside the
//          interval (the upper end counts as inside where Ryu's 64-bit
//          arithmetic cannot tell it is exact: q > 21 for doubles, > 9 for floats);
//   digits the value rounded to a multiple of 10^P, half to even, or one
//          more when rounding down would not leave the interval's lower end.
// Those are Ryu's rules; the integer fast paths give the same digits.

// x · 2^e2 as the decimal digits of the integer x · 2^e2 · 10^f, f = max(0, -e2).
inline std::string scaled_decimal(std::uint64_t x, int e2) {
    constexpr std::uint32_t base = 1'000'000'000;
    std::uint32_t limbs[96];  // base 10^9, least significant first: 5^1077 * 2^57 < 10^770
    int n = 0;
    for (; x != 0; x /= base) limbs[n++] = static_cast<std::uint32_t>(x % base);
    auto multiply = [&](std::uint32_t m) {  // m <= 5^13 < 2^31: limb * m + carry < 2^64
        std::uint64_t carry = 0;
        for (int i = 0; i < n; ++i) {
            const std::uint64_t p = std::uint64_t{limbs[i]} * m + carry;
            limbs[i] = static_cast<std::uint32_t>(p % base);
            carry = p / base;
        }
        for (; carry != 0; carry /= base) limbs[n++] = static_cast<std::uint32_t>(carry % base);
    };
    if (e2 >= 0) {
        for (int k = e2; k > 0; k -= 29) multiply(std::uint32_t{1} << (k < 29 ? k : 29));
    } else {
        constexpr std::uint32_t powers_of_5[] = {1, 5, 25, 125, 625, 3125, 15625, 78125, 390625, 1953125,
                                                 9765625, 48828125, 244140625, 1220703125};
        for (int k = -e2; k > 0; k -= 13) multiply(powers_of_5[k < 13 ? k : 13]);
    }
    std::string s;
    if (n == 0) return "0";
    append_decimal(s, limbs[n - 1]);
    for (int i = n - 2; i >= 0; --i) {
        char nine[9];
        std::uint32_t v = limbs[i];
        for (int k = 8; k >= 0; --k, v /= 10) nine[k] = static_cast<char>('0' + v % 10);
        s.append(nine, 9);
    }
    return s;
}

// Adds one to a string of decimal digits (which may grow by a digit).
inline void increment_decimal(std::string& digits) {
    for (std::size_t i = digits.size(); i-- > 0;) {
        if (digits[i] != '9') {
            ++digits[i];
            return;
        }
        digits[i] = '0';
    }
    digits.insert(digits.begin(), '1');
}

struct float_decimal {
    std::string digits;  // no leading zeros
    int exponent = 0;    // the value is digits * 10^exponent
};

// PostgreSQL's digits for a finite nonzero float (MantissaBits 23, Bias 127)
// or double (52, 1023), given its biased exponent and stored mantissa.
template <int MantissaBits, int Bias>
float_decimal pg_float_digits(std::uint64_t ieee_mantissa, int ieee_exponent) {
    std::uint64_t m2;
    int e2;  // with 2 more bits for the interval's ends, as in Ryu
    if (ieee_exponent == 0) {
        m2 = ieee_mantissa;
        e2 = 1 - Bias - MantissaBits - 2;
    } else {
        m2 = (std::uint64_t{1} << MantissaBits) | ieee_mantissa;
        e2 = ieee_exponent - Bias - MantissaBits - 2;
    }
    // The lower end is closer when the value is a power of two (not the smallest normal).
    const unsigned mm_shift = ieee_mantissa != 0 || ieee_exponent <= 1;
    std::string value = scaled_decimal(4 * m2, e2);
    std::string upper = scaled_decimal(4 * m2 + 2, e2);
    std::string lower = scaled_decimal(4 * m2 - 1 - mm_shift, e2);
    const int q = e2 >= 0 ? (MantissaBits == 52 ? static_cast<int>((e2 * 78913u) >> 18) - (e2 > 3)
                                                : static_cast<int>((e2 * 78913u) >> 18))
                          : 0;
    const bool upper_included = e2 >= 0 && q > (MantissaBits == 52 ? 21 : 9);
    const std::size_t width = upper.size();
    if (!upper_included) {  // the largest integer below it, same width
        std::size_t i = width;
        while (upper[--i] == '0') upper[i] = '9';
        --upper[i];
    }
    value.insert(0, width - value.size(), '0');
    lower.insert(0, width - lower.size(), '0');
    // Prefixes of `upper` and `lower` longer than their common part differ:
    // that is where a multiple of the power of ten fits between them.
    std::size_t keep = 0;
    while (upper[keep] == lower[keep]) ++keep;
    ++keep;
    float_decimal d;
    d.digits = value.substr(0, keep);
    bool round_up = false;
    if (keep < width) {
        const char next = value[keep];
        round_up = next > '5' || (next == '5' && (value.find_first_not_of('0', keep + 1) != std::string::npos ||
                                                  (d.digits.back() - '0') % 2 == 1));
    }
    if (round_up || lower.compare(0, keep, d.digits) == 0) increment_decimal(d.digits);
    const std::size_t leading_zeros = d.digits.find_first_not_of('0');
    d.digits.erase(0, leading_zeros);
    d.exponent = static_cast<int>(width - keep) + (e2 < 0 ? e2 : 0);
    return d;
}

// float4out / float8out: PostgreSQL's digits (above), laid out like %g:
// fixed notation when the decimal exponent is in [-4, 15) for float8, [-4, 6)
// for float4, otherwise d.ddde+XX with two exponent digits or more. NaN,
// Infinity, -Infinity and -0 as the server spells them.
template <class Float>
void append_pg_float(std::string& out, Float v) {
    if (std::isnan(v)) {
        out += "NaN";
        return;
    }
    if (std::isinf(v)) {
        out += v < 0 ? "-Infinity" : "Infinity";
        return;
    }
    if (v == 0) {
        out += std::signbit(v) ? "-0" : "0";
        return;
    }
    float_decimal d;
    if constexpr (sizeof(Float) == 4) {
        const auto bits = std::bit_cast<std::uint32_t>(v);
        d = pg_float_digits<23, 127>(bits & 0x7FFFFF, static_cast<int>((bits >> 23) & 0xFF));
    } else {
        const auto bits = std::bit_cast<std::uint64_t>(v);
        d = pg_float_digits<52, 1023>(bits & 0xFFFFFFFFFFFFF, static_cast<int>((bits >> 52) & 0x7FF));
    }
    const std::string& digits = d.digits;
    const std::size_t ndigits = digits.size();
    const int exponent = d.exponent + static_cast<int>(ndigits) - 1;  // of the first digit

    if (std::signbit(v)) out += '-';
    const int fixed_limit = sizeof(Float) == 4 ? 6 : 15;
    if (exponent >= -4 && exponent < fixed_limit) {
        if (exponent < 0) {
            out += "0.";
            out.append(static_cast<std::size_t>(-exponent - 1), '0');
            out += digits;
        } else if (ndigits <= static_cast<std::size_t>(exponent) + 1) {
            out += digits;
            out.append(static_cast<std::size_t>(exponent) + 1 - ndigits, '0');
        } else {
            out.append(digits, 0, static_cast<std::size_t>(exponent) + 1);
            out += '.';
            out.append(digits, static_cast<std::size_t>(exponent) + 1);
        }
        return;
    }
    out += digits[0];
    if (ndigits > 1) {
        out += '.';
        out.append(digits, 1);
    }
    out += 'e';
    out += exponent < 0 ? '-' : '+';
    const int magnitude = std::abs(exponent);
    if (magnitude < 10) out += '0';
    append_decimal(out, magnitude);
}

// AppendSeconds: ".ffffff" without trailing zeros, nothing for zero.
inline void append_fraction(std::string& out, std::int64_t microseconds) {
    if (microseconds == 0) return;
    char f[7] = {'.'};
    for (int i = 6; i >= 1; --i, microseconds /= 10) f[i] = static_cast<char>('0' + microseconds % 10);
    int n = 7;
    while (f[n - 1] == '0') --n;
    out.append(f, static_cast<std::size_t>(n));
}

// "HH:MM:SS[.ffffff]" of microseconds since midnight (24:00:00 included).
inline void append_time_of_day(std::string& out, std::int64_t us) {
    append_padded(out, us / 3'600'000'000, 2);
    out += ':';
    append_padded(out, us / 60'000'000 % 60, 2);
    out += ':';
    append_padded(out, us / 1'000'000 % 60, 2);
    append_fraction(out, us % 1'000'000);
}

// "YYYY-MM-DD" of days since 1970, the year of a BC date as printed (without " BC").
inline bool append_iso_date(std::string& out, std::int64_t days) {
    const civil_date d = civil_from_days(days);
    append_padded(out, d.year > 0 ? d.year : 1 - d.year, 4);
    out += '-';
    append_padded(out, d.month, 2);
    out += '-';
    append_padded(out, d.day, 2);
    return d.year <= 0;  // BC
}

inline void append_date_output(std::string& out, std::int32_t pg_days) {
    if (pg_days == pg_date_infinity) {
        out += "infinity";
        return;
    }
    if (pg_days == pg_date_minus_infinity) {
        out += "-infinity";
        return;
    }
    if (append_iso_date(out, std::int64_t{pg_days} + pg_epoch_days)) out += " BC";
}

// timestamp_out / timestamptz_out with DateStyle=ISO and TimeZone=UTC.
inline void append_timestamp_output(std::string& out, std::int64_t pg_us, bool with_zone) {
    if (pg_us == pg_timestamp_infinity) {
        out += "infinity";
        return;
    }
    if (pg_us == pg_timestamp_minus_infinity) {
        out += "-infinity";
        return;
    }
    const auto [pg_days, time_of_day] = split_days(pg_us);
    const bool bc = append_iso_date(out, pg_days + pg_epoch_days);
    out += ' ';
    append_time_of_day(out, time_of_day);
    if (with_zone) out += "+00";
    if (bc) out += " BC";
}

// interval_out with IntervalStyle=postgres: "1 year 2 mons -3 days +04:05:06.5".
// Each nonzero part after a negative one gets an explicit sign, as
// AddPostgresIntPart does.
inline void append_interval_output(std::string& out, const interval& v) {
    bool is_zero = true, is_before = false;
    auto part = [&](std::int64_t value, std::string_view unit) {
        if (value == 0) return;
        if (!is_zero) out += ' ';
        if (is_before && value > 0) out += '+';
        append_decimal(out, value);
        out += ' ';
        out.append(unit);
        if (value != 1) out += 's';
        is_before = value < 0;
        is_zero = false;
    };
    part(v.months / 12, "year");
    part(v.months % 12, "mon");
    part(v.days, "day");
    // Truncating division: every part has the sign of the whole.
    const std::int64_t hours = v.microseconds / 3'600'000'000;
    const std::int64_t rest = v.microseconds % 3'600'000'000;
    if (is_zero || v.microseconds != 0) {
        if (!is_zero) out += ' ';
        if (v.microseconds < 0) out += '-';
        else if (is_before) out += '+';
        append_padded(out, hours < 0 ? -hours : hours, 2);
        const std::int64_t r = rest < 0 ? -rest : rest;
        out += ':';
        append_padded(out, r / 60'000'000, 2);
        out += ':';
        append_padded(out, r / 1'000'000 % 60, 2);
        append_fraction(out, r % 1'000'000);
    }
}

// array_out's rule: quote an element that is empty, spells NULL in any case,
// or holds a quote, backslash, brace, the delimiter or whitespace.
inline void append_array_element(std::string& out, std::string_view element) {
    bool quote = element.empty() || iequals(element, "NULL");
    for (char c : element) {
        if (c == '"' || c == '\\' || c == '{' || c == '}' || c == ',' || is_pg_space(c)) {
            quote = true;
            break;
        }
    }
    if (!quote) {
        out.append(element);
        return;
    }
    out += '"';
    for (char c : element) {
        if (c == '"' || c == '\\') out += '\\';
        out += c;
    }
    out += '"';
}

// `enclosing_dimensions`: those of the arrays this one is an element of. A
// server never sends an array whose elements are arrays, but a hostile one
// could nest them without end and recurse through the stack; counted
// together, the dimensions stay within PostgreSQL's limit of 6.
inline void append_binary_field_text(std::string& out, std::string_view bytes, const field_type& t,
                                     int enclosing_dimensions = 0);

inline void append_binary_array_text(std::string& out, std::string_view bytes, const field_type& t,
                                     int enclosing_dimensions) {
    wire_reader r(bytes, "binary array");
    const std::int32_t ndim = r.i32();
    const std::int32_t flags = r.i32();
    const std::uint32_t element = r.u32();
    if (ndim < 0 || ndim > max_array_dimensions) throw_invalid("binary array", "bad dimension count");
    if (ndim > max_array_dimensions - enclosing_dimensions)
        throw_invalid("binary array", "arrays nested in arrays have more than " +
                                          std::to_string(max_array_dimensions) + " dimensions in all");
    if (flags != 0 && flags != 1) throw_invalid("binary array", "bad flags");
    if (ndim == 0) {
        r.expect_end();
        out += "{}";
        return;
    }
    std::int32_t lengths[max_array_dimensions], lower[max_array_dimensions];
    std::uint64_t count = 1;
    bool decorate = false;
    for (int d = 0; d < ndim; ++d) {
        lengths[d] = r.i32();
        lower[d] = r.i32();
        if (lengths[d] < 0) throw_invalid("binary array", "negative dimension");
        if (std::int64_t{lower[d]} + lengths[d] - 1 > std::numeric_limits<std::int32_t>::max())
            throw_invalid("binary array", "upper bound out of range");
        count *= static_cast<std::uint64_t>(lengths[d]);
        if (count > r.remaining() / 4) throw_invalid("binary array", "more elements than bytes");
        decorate = decorate || lower[d] != 1;
    }
    if (count == 0) {  // a zero-length dimension: the server sends none, but it prints as empty
        r.expect_end();
        out += "{}";
        return;
    }
    if (decorate) {
        for (int d = 0; d < ndim; ++d) {
            out += '[';
            append_decimal(out, lower[d]);
            out += ':';
            append_decimal(out, std::int64_t{lower[d]} + lengths[d] - 1);
            out += ']';
        }
        out += '=';
    }
    const field_type element_type{element, t.modifier, format::binary};
    std::string scratch;
    // Walk the elements in storage order, opening and closing braces as
    // the indexes roll over, as array_out does.
    std::int32_t index[max_array_dimensions] = {};
    for (int d = 0; d < ndim; ++d) out += '{';
    for (std::uint64_t n = 0; n < count; ++n) {
        const std::int32_t length = r.i32();
        if (length == -1) {
            out += "NULL";
        } else {
            if (length < 0) throw_invalid("binary array", "negative element length");
            scratch.clear();
            append_binary_field_text(scratch, r.bytes(static_cast<std::size_t>(length)), element_type,
                                     enclosing_dimensions + ndim);
            append_array_element(out, scratch);
        }
        int d = ndim - 1;
        for (; d >= 0; --d) {
            if (++index[d] < lengths[d]) break;
            index[d] = 0;
            out += '}';
        }
        if (d >= 0) {
            out += ',';
            for (int k = d + 1; k < ndim; ++k) out += '{';
        }
    }
    r.expect_end();
}

inline void append_binary_field_text(std::string& out, std::string_view bytes, const field_type& t,
                                     int enclosing_dimensions) {
    switch (text_output_of(t.oid)) {
    case text_output_routine::boolean:
        out += pg_traits<bool>::decode(bytes, t) ? 't' : 'f';
        return;
    case text_output_routine::integer:
        append_decimal(out, pg_traits<std::int64_t>::decode(bytes, t));
        return;
    case text_output_routine::object_id:
        append_decimal(out, pg_traits<pgcoro::oid>::decode(bytes, t).value);
        return;
    case text_output_routine::verbatim:
        out.append(bytes);
        return;
    case text_output_routine::jsonb:
        out += pg_traits<jsonb>::decode(bytes, t).text;
        return;
    case text_output_routine::float4:
        append_pg_float(out, decode_float4(bytes, format::binary));
        return;
    case text_output_routine::float8:
        append_pg_float(out, pg_traits<double>::decode(bytes, t));
        return;
    case text_output_routine::numeric:
        numeric_binary_to_text(bytes, out);
        return;
    case text_output_routine::bytea_hex: {
        constexpr char hex[] = "0123456789abcdef";
        out.reserve(out.size() + 2 + 2 * bytes.size());
        out += "\\x";
        for (const unsigned char c : bytes) {
            out += hex[c >> 4];
            out += hex[c & 0xF];
        }
        return;
    }
    case text_output_routine::uuid:
        out += pg_traits<uuid>::decode(bytes, t).to_string();
        return;
    case text_output_routine::date:
        append_date_output(out, static_cast<std::int32_t>(load_be<std::uint32_t>(expect_size(bytes, 4, "binary date"))));
        return;
    case text_output_routine::time:
        append_time_of_day(out, pg_traits<time_of_day>::decode(bytes, t).since_midnight.count());
        return;
    case text_output_routine::timestamp:
        append_timestamp_output(out, static_cast<std::int64_t>(load_be<std::uint64_t>(expect_size(bytes, 8, "binary timestamp"))),
                                false);
        return;
    case text_output_routine::timestamptz:
        append_timestamp_output(out, static_cast<std::int64_t>(load_be<std::uint64_t>(expect_size(bytes, 8, "binary timestamptz"))),
                                true);
        return;
    case text_output_routine::interval:
        append_interval_output(out, pg_traits<interval>::decode(bytes, t));
        return;
    case text_output_routine::network:
        out += network_text_from_binary(bytes);
        return;
    case text_output_routine::array:
        return append_binary_array_text(out, bytes, t, enclosing_dimensions);
    case text_output_routine::none:
        break;
    }
    throw error(errc::type_mismatch, "pgcoro has no text output for binary values of " + describe_pg_type(t.oid));
}

}  // namespace detail

// Appends the field's PostgreSQL text output to `out` (see the top of this
// file). SQL NULL has no text: handle it before calling.
inline void append_text_output(std::string& out, std::string_view bytes, const field_type& t) {
    if (t.fmt == format::text) {
        out.append(bytes);
        return;
    }
    const std::size_t size_before = out.size();
    try {
        detail::append_binary_field_text(out, bytes, t);
    } catch (...) {
        out.resize(size_before);
        throw;
    }
}

// The field's PostgreSQL text output: "t", "-12.50", "2024-02-29
// 13:45:00.5+00", "{1,NULL,3}", "\x00ff", "1 year 2 mons".
inline std::string format_text(std::string_view bytes, const field_type& t) {
    std::string out;
    append_text_output(out, bytes, t);
    return out;
}

}  // namespace pgcoro
