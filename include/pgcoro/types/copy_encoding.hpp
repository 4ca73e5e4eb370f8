// Rows encoded for COPY FROM STDIN, in the two formats bulk_load uses.
// Binary (the "COPY" chapter, "Binary Format"): a signature header, tuples of
// length-prefixed fields in each type's binary send format, a trailer; fast,
// but it carries no types, so it is used only when every C++ type matches its
// column exactly. Text: tab-separated fields the server parses as the column
// types, for everything else. Pure encoding over byte buffers, no I/O.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>

#include "../types.hpp"
#include "text_output.hpp"
#include "type_table.hpp"

namespace pgcoro::detail {

// "PGCOPY\n\377\r\n\0", 32-bit flags (no OIDs), 32-bit header extension length.
inline constexpr std::string_view binary_copy_header{"PGCOPY\n\377\r\n\0\0\0\0\0\0\0\0\0", 19};
// A field count of -1.
inline constexpr std::string_view binary_copy_trailer{"\377\377", 2};

inline void append_be(std::string& out, std::uint32_t v, int bytes) {
    for (int shift = (bytes - 1) * 8; shift >= 0; shift -= 8) out.push_back(static_cast<char>((v >> shift) & 0xff));
}

// Appends one tuple: its field count, then per field a 32-bit length (-1 for
// NULL) and the value's binary form. On an exception `out` is left as it was.
template <class Tuple>
void encode_binary_copy_tuple(const Tuple& values, std::string& out) {
    constexpr auto n = std::tuple_size_v<Tuple>;
    static_assert(n <= 1664, "PostgreSQL tables have at most 1664 columns");
    const auto start = out.size();
    try {
        append_be(out, static_cast<std::uint32_t>(n), 2);
        std::apply([&](const auto&... field) {
            auto encode_one = [&](const auto& v) {
                using T = std::remove_cvref_t<decltype(v)>;
                const auto length_at = out.size();
                out.append(4, '\0');
                if (encode_param<T>(v, out).is_null) {
                    out.resize(length_at);
                    append_be(out, 0xffffffffu, 4);
                    return;
                }
                const auto length = out.size() - length_at - 4;
                if (length > 0x7fffffff) throw error(errc::value_out_of_range, "a COPY field is larger than 2 GiB");
                for (int i = 0; i < 4; ++i)
                    out[length_at + i] = static_cast<char>((length >> (24 - 8 * i)) & 0xff);
            };
            (encode_one(field), ...);
        }, values);
    } catch (...) {
        out.resize(start);
        throw;
    }
}

// Appends one row in COPY's text format: fields separated by tabs, \N for
// NULL, backslash escapes for the characters the format reserves; values
// pgcoro sends in binary are rendered in PostgreSQL's own text output.
// On an exception `out` is left as it was.
template <class Tuple>
void encode_text_copy_tuple(const Tuple& values, std::string& out, std::string& scratch) {
    const auto start = out.size();
    try {
        bool first = true;
        std::apply([&](const auto&... field) {
            auto encode_one = [&](const auto& v) {
                using T = std::remove_cvref_t<decltype(v)>;
                if (!first) out += '\t';
                first = false;
                scratch.clear();
                const auto info = encode_param<T>(v, scratch);
                if (info.is_null) {
                    out += "\\N";
                    return;
                }
                if (info.fmt == format::binary) scratch = format_text(scratch, field_type{info.oid, -1, format::binary});
                for (char c : scratch) {
                    switch (c) {
                    case '\\': out += "\\\\"; break;
                    case '\n': out += "\\n"; break;
                    case '\r': out += "\\r"; break;
                    case '\t': out += "\\t"; break;
                    default: out += c;
                    }
                }
            };
            (encode_one(field), ...);
        }, values);
        out += '\n';
    } catch (...) {
        out.resize(start);
        throw;
    }
}

// Whether values of C++ type T can be loaded into a column of `column_oid`
// in binary COPY. The binary format carries no type, so a value of another
// width or layout would be misread, not rejected: only exact matches qualify.
// A value sent as text (a string) fits only a built-in type whose binary form
// is its text: a user-defined type's may not be (an array or a composite
// starts with counts), and the OID does not say.
template <class T>
constexpr bool binary_copy_fits(std::uint32_t column_oid) noexcept {
    if constexpr (std::is_same_v<T, std::nullopt_t> || std::is_same_v<T, std::nullptr_t>) {
        return true;  // always NULL
    } else {
        if constexpr (pg_traits<T>::param_format == format::binary) return pg_traits<T>::oid == column_oid;
        else return binary_form_is_text(column_oid);
    }
}

}  // namespace pgcoro::detail
