// float4 and float8, bit for bit: NaN, ±Infinity and -0 survive both ways.
// double reads float4 too (exactly: every float is a double); float does not
// read float8, which would round.
#pragma once

#include <bit>
#include <charconv>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <system_error>

#include "codec_errors.hpp"
#include "oids.hpp"
#include "type_traits.hpp"
#include "wire.hpp"

namespace pgcoro {

namespace detail {

// PostgreSQL prints "NaN", "Infinity", "-Infinity", and otherwise the shortest
// digits that read back exactly (extra_float_digits >= 1, the default since 12),
// which from_chars reads back exactly.
template <class Float>
Float parse_float_text(std::string_view s, std::string_view what) {
    if (s == "NaN") return std::numeric_limits<Float>::quiet_NaN();
    if (s == "Infinity") return std::numeric_limits<Float>::infinity();
    if (s == "-Infinity") return -std::numeric_limits<Float>::infinity();
    Float v{};
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc{} || end != s.data() + s.size()) throw_bad_text(what, s);
    return v;
}

inline float decode_float4(std::string_view bytes, format fmt) {
    if (fmt == format::binary)
        return std::bit_cast<float>(load_be<std::uint32_t>(expect_size(bytes, 4, "binary float4")));
    return parse_float_text<float>(bytes, "float4");
}

}  // namespace detail

template <>
struct pg_traits<float> {
    static constexpr std::uint32_t oid = oids::float4;
    static constexpr format param_format = format::binary;
    static constexpr std::string_view name = "float";

    static constexpr std::size_t binary_size = 4;
    static void encode_to(float v, char* p) noexcept { detail::store_be(p, std::bit_cast<std::uint32_t>(v)); }
    static void encode(float v, std::string& out) { detail::append_u32(out, std::bit_cast<std::uint32_t>(v)); }
    static constexpr bool accepts(std::uint32_t type) noexcept { return type == oids::float4; }
    static float decode(std::string_view bytes, const field_type& t) { return detail::decode_float4(bytes, t.fmt); }
};

template <>
struct pg_traits<double> {
    static constexpr std::uint32_t oid = oids::float8;
    static constexpr format param_format = format::binary;
    static constexpr std::string_view name = "double";

    static constexpr std::size_t binary_size = 8;
    static void encode_to(double v, char* p) noexcept { detail::store_be(p, std::bit_cast<std::uint64_t>(v)); }
    static void encode(double v, std::string& out) { detail::append_u64(out, std::bit_cast<std::uint64_t>(v)); }
    static constexpr bool accepts(std::uint32_t type) noexcept { return type == oids::float8 || type == oids::float4; }
    static double decode(std::string_view bytes, const field_type& t) {
        // A float4 is read as a float and widened, so that text and binary
        // agree: "0.1" as float4 is 0.100000001490116..., not 0.1.
        if (t.oid == oids::float4) return detail::decode_float4(bytes, t.fmt);
        if (t.fmt == format::binary)
            return std::bit_cast<double>(detail::load_be<std::uint64_t>(detail::expect_size(bytes, 8, "binary float8")));
        return detail::parse_float_text<double>(bytes, "float8");
    }
};

}  // namespace pgcoro
