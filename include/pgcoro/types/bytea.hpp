// bytea as std::vector<std::byte>. Its text form is the hex output
// ("\x00ff", bytea_output = hex, the default) or the older escape output
// ("\\000\377A", bytea_output = escape); both are read.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "codec_errors.hpp"
#include "oids.hpp"
#include "type_traits.hpp"

namespace pgcoro {

using bytea = std::vector<std::byte>;

namespace detail {

constexpr int hex_value(char c) noexcept {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

inline bytea bytea_from_hex_text(std::string_view text) {
    bytea out;
    out.reserve((text.size() - 2) / 2);
    for (std::size_t i = 2; i < text.size();) {
        if (text[i] == ' ' || text[i] == '\t' || text[i] == '\n' || text[i] == '\r') {  // byteain skips these
            ++i;
            continue;
        }
        const int hi = hex_value(text[i]);
        const int lo = i + 1 < text.size() ? hex_value(text[i + 1]) : -1;
        if (hi < 0 || lo < 0) throw_bad_text("bytea", text);
        out.push_back(static_cast<std::byte>(hi * 16 + lo));
        i += 2;
    }
    return out;
}

inline bytea bytea_from_escape_text(std::string_view text) {
    bytea out;
    out.reserve(text.size());
    for (std::size_t i = 0; i < text.size();) {
        if (text[i] != '\\') {
            out.push_back(static_cast<std::byte>(text[i++]));
        } else if (i + 1 < text.size() && text[i + 1] == '\\') {
            out.push_back(std::byte{'\\'});
            i += 2;
        } else if (i + 3 < text.size() && text[i + 1] >= '0' && text[i + 1] <= '3' && text[i + 2] >= '0' &&
                   text[i + 2] <= '7' && text[i + 3] >= '0' && text[i + 3] <= '7') {
            out.push_back(static_cast<std::byte>((text[i + 1] - '0') * 64 + (text[i + 2] - '0') * 8 + (text[i + 3] - '0')));
            i += 4;
        } else {
            throw_bad_text("bytea", text);
        }
    }
    return out;
}

}  // namespace detail

template <>
struct pg_traits<bytea> {
    static constexpr std::uint32_t oid = oids::bytea;
    static constexpr format param_format = format::binary;
    static constexpr std::string_view name = "pgcoro::bytea";

    static void encode(const bytea& v, std::string& out) {
        out.append(reinterpret_cast<const char*>(v.data()), v.size());
    }
    static constexpr bool accepts(std::uint32_t type) noexcept { return type == oids::bytea; }
    static bytea decode(std::string_view bytes, const field_type& t) {
        if (t.fmt == format::binary) {
            const auto* p = reinterpret_cast<const std::byte*>(bytes.data());
            return bytea(p, p + bytes.size());
        }
        if (bytes.size() >= 2 && bytes[0] == '\\' && bytes[1] == 'x') return detail::bytea_from_hex_text(bytes);
        return detail::bytea_from_escape_text(bytes);
    }
};

}  // namespace pgcoro
