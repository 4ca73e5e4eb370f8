// uuid: 16 bytes in both directions; text "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11".
#pragma once

#include <array>
#include <compare>
#include <cstdint>
#include <string>
#include <string_view>

#include "bytea.hpp"  // detail::hex_value
#include "codec_errors.hpp"
#include "oids.hpp"
#include "type_traits.hpp"

namespace pgcoro {

struct uuid {
    std::array<std::uint8_t, 16> bytes{};

    // Lower-case 8-4-4-4-12, as uuid_out prints.
    std::string to_string() const {
        constexpr char hex[] = "0123456789abcdef";
        std::string s;
        s.reserve(36);
        for (std::size_t i = 0; i < 16; ++i) {
            if (i == 4 || i == 6 || i == 8 || i == 10) s += '-';
            s += hex[bytes[i] >> 4];
            s += hex[bytes[i] & 0xF];
        }
        return s;
    }

    // What uuid_in accepts: 32 hex digits in either case, a hyphen allowed
    // after any group of four, the whole optionally in braces. Throws
    // errc::invalid_value otherwise.
    static uuid parse(std::string_view text) {
        std::string_view s = text;
        if (!s.empty() && s.front() == '{') {
            if (s.size() < 2 || s.back() != '}') detail::throw_bad_text("uuid", text);
            s = s.substr(1, s.size() - 2);
        }
        uuid u;
        std::size_t at = 0;
        for (std::size_t digit = 0; digit < 32; digit += 2) {
            if (digit != 0 && digit % 4 == 0 && at < s.size() && s[at] == '-') ++at;
            const int hi = at < s.size() ? detail::hex_value(s[at]) : -1;
            const int lo = at + 1 < s.size() ? detail::hex_value(s[at + 1]) : -1;
            if (hi < 0 || lo < 0) detail::throw_bad_text("uuid", text);
            u.bytes[digit / 2] = static_cast<std::uint8_t>(hi * 16 + lo);
            at += 2;
        }
        if (at != s.size()) detail::throw_bad_text("uuid", text);
        return u;
    }

    friend auto operator<=>(const uuid&, const uuid&) = default;
};

template <>
struct pg_traits<uuid> {
    static constexpr std::uint32_t oid = oids::uuid;
    static constexpr format param_format = format::binary;
    static constexpr std::string_view name = "pgcoro::uuid";

    static void encode(const uuid& v, std::string& out) {
        out.append(reinterpret_cast<const char*>(v.bytes.data()), v.bytes.size());
    }
    static constexpr bool accepts(std::uint32_t type) noexcept { return type == oids::uuid; }
    static uuid decode(std::string_view bytes, const field_type& t) {
        if (t.fmt == format::text) return uuid::parse(bytes);
        if (bytes.size() != 16) detail::throw_bad_size("binary uuid", 16, bytes.size());
        uuid u;
        for (std::size_t i = 0; i < 16; ++i) u.bytes[i] = static_cast<std::uint8_t>(bytes[i]);
        return u;
    }
};

}  // namespace pgcoro
