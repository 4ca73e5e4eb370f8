// inet and cidr as PostgreSQL's text: "192.168.0.1/24", "::1", "10.0.0.0/8".
// Binary fields (family, bits, is_cidr, address length, address) are turned
// into exactly what the server's output function prints: inet leaves out a
// full-length mask (/32, /128), cidr always shows it; IPv6 is compressed as
// PostgreSQL's inet_net_ntop does, with IPv4-mapped and IPv4-compatible
// addresses written "::ffff:1.2.3.4" and "::1.2.3.4". Sent in text format
// as inet; the server validates it (and casts to cidr on assignment).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "codec_errors.hpp"
#include "oids.hpp"
#include "type_traits.hpp"
#include "wire.hpp"

namespace pgcoro {

struct inet {
    std::string text;

    friend bool operator==(const inet&, const inet&) = default;
};

namespace detail {

inline constexpr std::uint8_t pg_af_inet = 2;   // PGSQL_AF_INET (AF_INET)
inline constexpr std::uint8_t pg_af_inet6 = 3;  // PGSQL_AF_INET6 (AF_INET + 1, not the OS's AF_INET6)

inline void append_ipv4(std::string& out, const unsigned char* a) {
    for (int i = 0; i < 4; ++i) {
        if (i) out += '.';
        out += std::to_string(a[i]);
    }
}

inline void append_ipv6(std::string& out, const unsigned char* a) {
    unsigned words[8];
    for (int i = 0; i < 8; ++i) words[i] = static_cast<unsigned>(a[2 * i]) << 8 | a[2 * i + 1];
    // The longest run of zero words (the first of equal ones), if 2 or more, becomes "::".
    int best = -1, best_len = 0;
    for (int i = 0; i < 8;) {
        if (words[i] != 0) { ++i; continue; }
        int j = i;
        while (j < 8 && words[j] == 0) ++j;
        if (j - i > best_len) { best = i; best_len = j - i; }
        i = j;
    }
    if (best_len < 2) best = -1;
    constexpr char hex[] = "0123456789abcdef";
    for (int i = 0; i < 8; ++i) {
        if (best >= 0 && i >= best && i < best + best_len) {
            if (i == best) out += ':';
            continue;
        }
        if (i != 0) out += ':';
        // ::a.b.c.d (compatible) and ::ffff:a.b.c.d (mapped) keep the IPv4 tail.
        if (i == 6 && best == 0 && (best_len == 6 || (best_len == 5 && words[5] == 0xffff))) {
            append_ipv4(out, a + 12);
            break;
        }
        char digits[4];
        int n = 0;
        unsigned w = words[i];
        do { digits[n++] = hex[w & 0xF]; w >>= 4; } while (w != 0);
        while (n > 0) out += digits[--n];
    }
    if (best >= 0 && best + best_len == 8) out += ':';
}

inline std::string network_text_from_binary(std::string_view bytes) {
    wire_reader r(bytes, "binary inet");
    const std::uint8_t family = r.u8();
    const unsigned bits = r.u8();
    const bool is_cidr = r.u8() != 0;
    const std::size_t length = r.u8();
    const std::size_t expected = family == pg_af_inet ? 4 : family == pg_af_inet6 ? 16 : 0;
    if (expected == 0) throw_invalid("binary inet", "unknown address family " + std::to_string(family));
    if (length != expected || bits > expected * 8) throw_invalid("binary inet", "bad address length or mask");
    const auto* address = reinterpret_cast<const unsigned char*>(r.bytes(length).data());
    r.expect_end();
    std::string s;
    if (family == pg_af_inet) append_ipv4(s, address);
    else append_ipv6(s, address);
    if (is_cidr || bits != expected * 8) {
        s += '/';
        s += std::to_string(bits);
    }
    return s;
}

}  // namespace detail

template <>
struct pg_traits<inet> {
    static constexpr std::uint32_t oid = oids::inet;
    static constexpr format param_format = format::text;
    static constexpr std::string_view name = "pgcoro::inet";

    static void encode(const inet& v, std::string& out) { out += v.text; }
    static constexpr bool accepts(std::uint32_t type) noexcept { return type == oids::inet || type == oids::cidr; }
    static inet decode(std::string_view bytes, const field_type& t) {
        if (t.fmt == format::text) return {std::string(bytes)};
        return {detail::network_text_from_binary(bytes)};
    }
};

}  // namespace pgcoro
