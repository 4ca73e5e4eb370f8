// Character types: text, varchar, bpchar, name and unknown read as
// std::string or std::string_view (binary and text forms are the same bytes,
// in the client encoding, UTF-8). Strings are sent in text format with OID 0,
// as libpq does, so the server gives the parameter whatever type its context
// needs: a string binds to an int4, a date or an enum column alike.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "oids.hpp"
#include "type_traits.hpp"

namespace pgcoro {

namespace detail {

constexpr bool is_character_type(std::uint32_t type) noexcept {
    return type == oids::text || type == oids::varchar || type == oids::bpchar || type == oids::name ||
           type == oids::unknown;
}

struct text_parameter {
    static constexpr std::uint32_t oid = oids::unspecified;
    static constexpr format param_format = format::text;
};

}  // namespace detail

template <>
struct pg_traits<std::string> : detail::text_parameter {
    static constexpr std::string_view name = "std::string";

    static void encode(const std::string& v, std::string& out) { out += v; }
    static constexpr bool accepts(std::uint32_t type) noexcept { return detail::is_character_type(type); }
    static std::string decode(std::string_view bytes, const field_type&) { return std::string(bytes); }
};

// A view of the field's bytes: valid only while the result that holds them
// lives (and, for an array element, only from binary-format arrays or text
// elements without backslash escapes).
template <>
struct pg_traits<std::string_view> : detail::text_parameter {
    static constexpr std::string_view name = "std::string_view";
    static constexpr bool views_field_bytes = true;

    static void encode(std::string_view v, std::string& out) { out += v; }
    static constexpr bool accepts(std::uint32_t type) noexcept { return detail::is_character_type(type); }
    static std::string_view decode(std::string_view bytes, const field_type&) noexcept { return bytes; }
};

// A C string parameter; a null pointer is sent as SQL NULL. Send-only: a
// result cannot hand out pointers it does not own.
template <>
struct pg_traits<const char*> : detail::text_parameter {
    static constexpr std::string_view name = "const char*";

    static bool is_null(const char* v) noexcept { return v == nullptr; }
    static void encode(const char* v, std::string& out) { out += v; }
};
template <>
struct pg_traits<char*> : pg_traits<const char*> {};

// A string literal, up to its first NUL as a C string would be.
template <std::size_t N>
struct pg_traits<char[N]> : detail::text_parameter {
    static constexpr std::string_view name = "const char*";

    static void encode(const char (&v)[N], std::string& out) {
        std::size_t n = 0;
        while (n < N && v[n] != '\0') ++n;
        out.append(v, n);
    }
};

}  // namespace pgcoro
