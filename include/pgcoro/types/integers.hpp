// bool, int2, int4, int8. Any of the three integer types reads into any signed
// C++ integer of 2, 4 or 8 bytes; narrowing is checked value by value, so an
// int8 column holding 7 reads into std::int16_t and one holding 70000 does not.
#pragma once

#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <type_traits>

#include "codec_errors.hpp"
#include "oids.hpp"
#include "text_scan.hpp"
#include "type_traits.hpp"
#include "wire.hpp"

namespace pgcoro {

template <>
struct pg_traits<bool> {
    static constexpr std::uint32_t oid = oids::bool_;
    static constexpr format param_format = format::binary;
    static constexpr std::string_view name = "bool";

    static constexpr std::size_t binary_size = 1;
    static void encode_to(bool v, char* p) noexcept { *p = v ? '\1' : '\0'; }
    static void encode(bool v, std::string& out) { out.push_back(v ? '\1' : '\0'); }
    static constexpr bool accepts(std::uint32_t type) noexcept { return type == oids::bool_; }
    static bool decode(std::string_view bytes, const field_type& t) {
        if (t.fmt == format::binary) {
            // boolrecv takes any nonzero byte as true.
            return *detail::expect_size(bytes, 1, "binary bool") != 0;
        }
        if (bytes == "t") return true;
        if (bytes == "f") return false;
        detail::throw_bad_text("bool", bytes);
    }
};

namespace detail {

template <std::size_t Size> struct integer_oid;
template <> struct integer_oid<2> { static constexpr std::uint32_t value = oids::int2; static constexpr std::string_view name = "std::int16_t"; };
template <> struct integer_oid<4> { static constexpr std::uint32_t value = oids::int4; static constexpr std::string_view name = "std::int32_t"; };
template <> struct integer_oid<8> { static constexpr std::uint32_t value = oids::int8; static constexpr std::string_view name = "std::int64_t"; };

constexpr std::size_t integer_width(std::uint32_t type) noexcept {
    switch (type) {
    case oids::int2: return 2;
    case oids::int4: return 4;
    case oids::int8: return 8;
    default: return 0;
    }
}

template <class Int>
struct integer_traits {
    static constexpr std::uint32_t oid = integer_oid<sizeof(Int)>::value;
    static constexpr format param_format = format::binary;
    static constexpr std::string_view name = integer_oid<sizeof(Int)>::name;

    static constexpr std::size_t binary_size = sizeof(Int);
    static void encode_to(Int v, char* p) noexcept { store_be(p, static_cast<std::make_unsigned_t<Int>>(v)); }
    static void encode(Int v, std::string& out) { append_be(out, static_cast<std::make_unsigned_t<Int>>(v)); }

    static constexpr bool accepts(std::uint32_t type) noexcept { return integer_width(type) != 0; }

    static Int decode(std::string_view bytes, const field_type& t) {
        std::int64_t v;
        if (t.fmt == format::binary) {
            // The column's type fixes the width; without one (a direct
            // call), any of the three widths is taken as it comes.
            const std::size_t width = integer_width(t.oid);
            if (width != 0 && bytes.size() != width) throw_bad_size(binary_what(width), width, bytes.size());
            switch (bytes.size()) {
            case 2: v = static_cast<std::int16_t>(load_be<std::uint16_t>(bytes.data())); break;
            case 4: v = static_cast<std::int32_t>(load_be<std::uint32_t>(bytes.data())); break;
            case 8: v = static_cast<std::int64_t>(load_be<std::uint64_t>(bytes.data())); break;
            default: throw_invalid("binary integer", "expected 2, 4 or 8 bytes, got " + std::to_string(bytes.size()));
            }
        } else if (!parse_int64(bytes, v)) {
            // Digits that overflow int64 are still an integer: report range, not syntax.
            if (looks_like_integer(bytes)) throw_out_of_range(bytes, name);
            throw_bad_text("integer", bytes);
        }
        if constexpr (sizeof(Int) < 8) {
            if (v < std::numeric_limits<Int>::min() || v > std::numeric_limits<Int>::max())
                throw_out_of_range(std::to_string(v), name);
        }
        return static_cast<Int>(v);
    }

private:
    static constexpr std::string_view binary_what(std::size_t width) noexcept {
        return width == 2 ? "binary int2" : width == 4 ? "binary int4" : "binary int8";
    }
    static constexpr bool looks_like_integer(std::string_view s) noexcept {
        if (!s.empty() && (s[0] == '-' || s[0] == '+')) s.remove_prefix(1);
        if (s.empty()) return false;
        for (char c : s)
            if (!is_digit(c)) return false;
        return true;
    }
};

}  // namespace detail

// Every signed integer type of PostgreSQL's widths: std::int16_t, std::int32_t,
// std::int64_t and, where it is a distinct type, long long.
template <> struct pg_traits<short> : detail::integer_traits<short> {};
template <> struct pg_traits<int> : detail::integer_traits<int> {};
template <> struct pg_traits<long> : detail::integer_traits<long> {};
template <> struct pg_traits<long long> : detail::integer_traits<long long> {};

}  // namespace pgcoro
