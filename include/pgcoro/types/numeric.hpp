// numeric: arbitrary precision, kept exact as PostgreSQL's own text form.
//
// The binary form (numeric_send) is base-10000 digits: int16 ndigits, int16
// weight (of the first digit, in base-10000 places before the point), uint16
// sign, uint16 dscale (decimal digits shown after the point), then the digits.
// Converting between it and text is digit shuffling, never arithmetic, so no
// value ever passes through a double.
#pragma once

#include <concepts>
#include <cstdint>
#include <string>
#include <string_view>

#include "codec_errors.hpp"
#include "integers.hpp"
#include "oids.hpp"
#include "text_scan.hpp"
#include "type_traits.hpp"
#include "wire.hpp"

namespace pgcoro {

namespace detail {

inline constexpr std::uint16_t numeric_positive = 0x0000;
inline constexpr std::uint16_t numeric_negative = 0x4000;
inline constexpr std::uint16_t numeric_nan = 0xC000;
inline constexpr std::uint16_t numeric_pinf = 0xD000;
inline constexpr std::uint16_t numeric_ninf = 0xF000;
inline constexpr int numeric_max_dscale = 0x3FFF;   // 14 bits in the on-disk header
inline constexpr int numeric_max_weight = 32767;    // int16

// Appends the text numeric_out prints for a binary numeric.
inline void numeric_binary_to_text(std::string_view bytes, std::string& out) {
    wire_reader r(bytes, "binary numeric");
    int ndigits = r.u16();
    int weight = r.i16();
    std::uint16_t sign = r.u16();
    const int dscale = r.u16();
    const char* digits = r.bytes(2 * static_cast<std::size_t>(ndigits)).data();
    r.expect_end();
    // The server strips zero digits at the ends; a sender that did not would
    // otherwise print leading zeros.
    while (ndigits > 0 && load_be<std::uint16_t>(digits) == 0) {
        digits += 2;
        --ndigits;
        --weight;
    }
    // Zero, however its weight and sign were sent, prints as the server's
    // zero does: "0" and the scale's zeros, no sign.
    if (ndigits == 0 && (sign == numeric_positive || sign == numeric_negative)) {
        weight = 0;
        sign = numeric_positive;
    }

    switch (sign) {
    case numeric_nan: out += "NaN"; return;
    case numeric_pinf: out += "Infinity"; return;
    case numeric_ninf: out += "-Infinity"; return;
    case numeric_positive: case numeric_negative: break;
    default: throw_invalid("binary numeric", "unknown sign " + std::to_string(sign));
    }
    if (dscale > numeric_max_dscale) throw_invalid("binary numeric", "display scale " + std::to_string(dscale));
    for (int i = 0; i < ndigits; ++i)
        if (load_be<std::uint16_t>(digits + 2 * i) > 9999) throw_invalid("binary numeric", "digit above 9999");
    auto digit = [&](int i) -> unsigned {
        return (i >= 0 && i < ndigits) ? load_be<std::uint16_t>(digits + 2 * i) : 0u;
    };

    out.reserve(out.size() + static_cast<std::size_t>(weight > 0 ? weight + 1 : 1) * 4 + dscale + 2);
    const std::size_t sign_at = out.size();
    if (sign == numeric_negative) out += '-';
    int d = 0;  // index of the base-10000 digit being printed
    if (weight < 0) {
        out += '0';
        d = weight + 1;  // the first fractional place, before the stored digits
    } else {
        for (; d <= weight; ++d) {
            const unsigned group = digit(d);
            char four[4] = {static_cast<char>('0' + group / 1000), static_cast<char>('0' + group / 100 % 10),
                            static_cast<char>('0' + group / 10 % 10), static_cast<char>('0' + group % 10)};
            int skip = 0;
            if (d == 0)  // no leading zeros, but "0" itself stays
                while (skip < 3 && four[skip] == '0') ++skip;
            out.append(four + skip, 4 - skip);
        }
    }
    if (dscale > 0) {
        out += '.';
        for (int shown = 0; shown < dscale; ++d, shown += 4) {
            const unsigned group = digit(d);
            const char four[4] = {static_cast<char>('0' + group / 1000), static_cast<char>('0' + group / 100 % 10),
                                  static_cast<char>('0' + group / 10 % 10), static_cast<char>('0' + group % 10)};
            out.append(four, dscale - shown < 4 ? dscale - shown : 4);
        }
    }
    // Digits past the display scale are cut off, as numeric_recv does; a
    // negative value left with none but zeros is the server's zero, unsigned.
    if (sign == numeric_negative && out.find_first_of("123456789", sign_at) == std::string::npos) out.erase(sign_at, 1);
}

// Reads text as numeric_in does (surrounding whitespace, optional sign,
// digits with an optional point, optional exponent; NaN, Infinity, inf in any
// case) and appends its binary numeric, stripped of leading and trailing zero
// digits as the server stores it.
inline void numeric_text_to_binary(std::string_view text, std::string& out) {
    std::string_view s = text;
    while (!s.empty() && is_pg_space(s.front())) s.remove_prefix(1);
    while (!s.empty() && is_pg_space(s.back())) s.remove_suffix(1);

    auto special = [&](std::uint16_t sign) {
        append_u16(out, 0);
        append_i16(out, 0);
        append_u16(out, sign);
        append_u16(out, 0);
    };
    if (iequals(s, "NaN")) return special(numeric_nan);
    if (iequals(s, "Infinity") || iequals(s, "+Infinity") || iequals(s, "inf") || iequals(s, "+inf"))
        return special(numeric_pinf);
    if (iequals(s, "-Infinity") || iequals(s, "-inf")) return special(numeric_ninf);

    std::size_t i = 0;
    bool negative = false;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) negative = s[i++] == '-';
    const std::size_t int_begin = i;
    while (i < s.size() && is_digit(s[i])) ++i;
    const std::string_view int_digits = s.substr(int_begin, i - int_begin);
    std::string_view frac_digits;
    if (i < s.size() && s[i] == '.') {
        const std::size_t frac_begin = ++i;
        while (i < s.size() && is_digit(s[i])) ++i;
        frac_digits = s.substr(frac_begin, i - frac_begin);
    }
    if (int_digits.empty() && frac_digits.empty()) throw_bad_text("numeric", text);
    std::int64_t exponent = 0;
    if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
        const std::string_view exp_text = s.substr(i + 1);
        if (exp_text.empty() || exp_text.size() > 12 || exp_text[0] == ' ' || !parse_int64(exp_text, exponent))
            throw_bad_text("numeric", text);
        i = s.size();
    }
    if (i != s.size()) throw_bad_text("numeric", text);

    // One run of decimal digits; digit k has decimal exponent first_exponent - k.
    std::int64_t dscale = static_cast<std::int64_t>(frac_digits.size()) - exponent;
    if (dscale < 0) dscale = 0;
    auto decimal_digit = [&](std::size_t k) -> int {
        return k < int_digits.size() ? int_digits[k] - '0' : frac_digits[k - int_digits.size()] - '0';
    };
    std::size_t first = 0, last = int_digits.size() + frac_digits.size();  // [first, last) without zeros at the ends
    while (first < last && decimal_digit(first) == 0) ++first;
    while (last > first && decimal_digit(last - 1) == 0) --last;

    if (dscale > numeric_max_dscale) throw_out_of_range(quote_for_message(text), "numeric (display scale above 16383)");
    if (first == last) {  // zero; its sign is dropped, as the server does
        append_u16(out, 0);
        append_i16(out, 0);
        append_u16(out, numeric_positive);
        append_u16(out, static_cast<std::uint16_t>(dscale));
        return;
    }
    const std::int64_t first_exponent = static_cast<std::int64_t>(int_digits.size()) - 1 + exponent - static_cast<std::int64_t>(first);
    const std::int64_t last_exponent = first_exponent - static_cast<std::int64_t>(last - 1 - first);
    auto floor_div4 = [](std::int64_t e) { return e >= 0 ? e / 4 : -((-e + 3) / 4); };
    const std::int64_t weight = floor_div4(first_exponent);
    const std::int64_t last_weight = floor_div4(last_exponent);
    if (weight > numeric_max_weight) throw_out_of_range(quote_for_message(text), "numeric (more than 131072 digits before the point)");
    // Digits past the display scale cannot happen: dscale counts them all.

    const std::int64_t ndigits = weight - last_weight + 1;
    append_u16(out, static_cast<std::uint16_t>(ndigits));
    append_i16(out, static_cast<std::int16_t>(weight));
    append_u16(out, negative ? numeric_negative : numeric_positive);
    append_u16(out, static_cast<std::uint16_t>(dscale));
    // Base-10000 digit g covers decimal exponents 4(weight-g)+3 down to 4(weight-g).
    auto decimal_at = [&](std::int64_t e) -> unsigned {
        if (e > first_exponent || e < last_exponent) return 0;
        return static_cast<unsigned>(decimal_digit(first + static_cast<std::size_t>(first_exponent - e)));
    };
    for (std::int64_t w = weight; w >= last_weight; --w) {
        const std::int64_t e = 4 * w;
        append_u16(out, static_cast<std::uint16_t>(decimal_at(e + 3) * 1000 + decimal_at(e + 2) * 100 +
                                                   decimal_at(e + 1) * 10 + decimal_at(e)));
    }
}

// The shape of numeric_out's output: "NaN", "Infinity", "-Infinity" or
// -?digits[.digits], the integer digits without leading zeros and no sign on
// zero. Checked on text-format fields, which are then kept as sent: text in
// any other shape ("007", "-0") would compare unequal to the same value
// received in binary.
constexpr bool is_numeric_output(std::string_view s) noexcept {
    if (s == "NaN" || s == "Infinity" || s == "-Infinity") return true;
    std::size_t i = 0;
    const bool negative = i < s.size() && s[i] == '-';
    if (negative) ++i;
    const std::size_t int_begin = i;
    while (i < s.size() && is_digit(s[i])) ++i;
    if (i == int_begin) return false;
    if (s[int_begin] == '0' && i - int_begin > 1) return false;
    bool nonzero = s[int_begin] != '0';
    if (i < s.size() && s[i] == '.') {
        const std::size_t frac_begin = ++i;
        for (; i < s.size() && is_digit(s[i]); ++i) nonzero = nonzero || s[i] != '0';
        if (i == frac_begin) return false;
    }
    return i == s.size() && (nonzero || !negative);
}

}  // namespace detail

// An exact numeric value held as PostgreSQL prints it: "-12.3400", "0.000",
// "NaN", "Infinity". Built from any text numeric_in accepts, it keeps the
// canonical form the server would print ("1.5e3" becomes "1500", " +7 " "7"),
// so == compares values as the server would show them: 1.0 and 1.00 differ,
// as their text does.
class numeric {
public:
    numeric() = default;  // 0

    // Throws errc::invalid_value for text numeric_in rejects and
    // errc::value_out_of_range beyond numeric's limits.
    explicit numeric(std::string_view text) {
        std::string binary;
        detail::numeric_text_to_binary(text, binary);
        text_.clear();
        detail::numeric_binary_to_text(binary, text_);
    }

    template <std::integral Int>
        requires(!std::same_as<Int, bool>)
    explicit numeric(Int v) : text_(std::to_string(v)) {}

    const std::string& str() const noexcept { return text_; }
    bool is_nan() const noexcept { return text_ == "NaN"; }
    bool is_infinite() const noexcept { return text_ == "Infinity" || text_ == "-Infinity"; }

    friend bool operator==(const numeric&, const numeric&) = default;

    // Wraps text already in numeric_out's form, as a text-format field is.
    static numeric from_output_text(std::string text) {
        if (!detail::is_numeric_output(text)) detail::throw_bad_text("numeric", text);
        numeric n;
        n.text_ = std::move(text);
        return n;
    }

private:
    friend struct pg_traits<numeric>;
    std::string text_ = "0";
};

template <>
struct pg_traits<numeric> {
    static constexpr std::uint32_t oid = oids::numeric;
    static constexpr format param_format = format::binary;
    static constexpr std::string_view name = "pgcoro::numeric";

    static void encode(const numeric& v, std::string& out) { detail::numeric_text_to_binary(v.str(), out); }
    // Integers read exactly too: sum(int4) is int8, sum(int8) numeric.
    static constexpr bool accepts(std::uint32_t type) noexcept {
        return type == oids::numeric || detail::integer_width(type) != 0;
    }
    static numeric decode(std::string_view bytes, const field_type& t) {
        if (detail::integer_width(t.oid) != 0) return numeric(pg_traits<std::int64_t>::decode(bytes, t));
        if (t.fmt == format::text) return numeric::from_output_text(std::string(bytes));
        numeric n;
        n.text_.clear();
        detail::numeric_binary_to_text(bytes, n.text_);
        return n;
    }
};

}  // namespace pgcoro
