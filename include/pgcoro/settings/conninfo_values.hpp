// Turning the text of one setting into its typed value, with libpq's rules
// and error wording. Every error names the keyword and, for values from the
// environment, the variable; none of these settings is secret, so the
// offending value is quoted too.
#pragma once

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <climits>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config.hpp"
#include "conninfo_keywords.hpp"
#include "conninfo_string.hpp"

namespace pgcoro::detail {

inline constexpr std::uint16_t default_port = 5432;

// A setting after the environment was consulted.
struct setting_value {
    std::string_view keyword;
    std::string text;
    // Where it came from when not from the connection string: "environment
    // variable PGHOST", "service file "F", line N".
    std::string source;

    std::string origin() const { return source.empty() ? std::string() : " (from " + source + ")"; }
    [[noreturn]] void reject(const std::string& what) const { throw_invalid_config(what + origin()); }
    [[noreturn]] void reject_value() const {
        reject("invalid " + std::string(keyword) + " value: \"" + text + "\"");
    }
};

template <class Enum>
using enum_names = std::pair<std::string_view, Enum>;

inline constexpr std::array<enum_names<ssl_mode>, 6> ssl_mode_names{{
    {"disable", ssl_mode::disable},
    {"allow", ssl_mode::allow},
    {"prefer", ssl_mode::prefer},
    {"require", ssl_mode::require},
    {"verify-ca", ssl_mode::verify_ca},
    {"verify-full", ssl_mode::verify_full},
}};

inline constexpr std::array<enum_names<channel_binding_mode>, 3> channel_binding_names{{
    {"disable", channel_binding_mode::disable},
    {"prefer", channel_binding_mode::prefer},
    {"require", channel_binding_mode::require},
}};

inline constexpr std::array<enum_names<ssl_cert_mode>, 3> ssl_cert_mode_names{{
    {"disable", ssl_cert_mode::disable},
    {"allow", ssl_cert_mode::allow},
    {"require", ssl_cert_mode::require},
}};

inline constexpr std::array<enum_names<tls_protocol>, 4> tls_protocol_names{{
    {"TLSv1", tls_protocol::tls1_0},
    {"TLSv1.1", tls_protocol::tls1_1},
    {"TLSv1.2", tls_protocol::tls1_2},
    {"TLSv1.3", tls_protocol::tls1_3},
}};

inline constexpr std::array<enum_names<session_target>, 6> session_target_names{{
    {"any", session_target::any},
    {"read-write", session_target::read_write},
    {"read-only", session_target::read_only},
    {"primary", session_target::primary},
    {"standby", session_target::standby},
    {"prefer-standby", session_target::prefer_standby},
}};

inline constexpr std::array<enum_names<load_balance>, 2> load_balance_names{{
    {"disable", load_balance::disable},
    {"random", load_balance::random},
}};

inline constexpr std::array<enum_names<statement_mode>, 4> statement_mode_names{{
    {"auto", statement_mode::automatic},
    {"prepare", statement_mode::prepare},
    {"describe", statement_mode::describe},
    {"unnamed", statement_mode::unnamed},
}};

// In the order libpq's documentation lists them; to_string() writes them so.
inline constexpr std::array<enum_names<auth_method>, 6> auth_method_names{{
    {"password", auth_method::password},
    {"md5", auth_method::md5},
    {"gss", auth_method::gss},
    {"sspi", auth_method::sspi},
    {"scram-sha-256", auth_method::scram_sha_256},
    {"none", auth_method::none},
}};

template <class Enum, std::size_t N>
constexpr std::string_view name_of(Enum value, const std::array<enum_names<Enum>, N>& names) noexcept {
    for (const auto& [name, v] : names)
        if (v == value) return name;
    return {};
}

template <class Enum, std::size_t N>
constexpr std::optional<Enum> lookup_name(std::string_view name, const std::array<enum_names<Enum>, N>& names) noexcept {
    for (const auto& [n, v] : names)
        if (n == name) return v;
    return std::nullopt;
}

template <class Enum, std::size_t N>
Enum to_enum(const setting_value& s, const std::array<enum_names<Enum>, N>& names) {
    if (auto v = lookup_name(s.text, names)) return *v;
    s.reject_value();
}

// libpq's pqParseIntParam: an int, optionally surrounded by whitespace.
inline std::optional<int> parse_int_text(std::string_view text) {
    std::size_t i = 0;
    while (i < text.size() && is_conninfo_space(text[i])) ++i;
    const bool negative = i < text.size() && text[i] == '-';
    if (i < text.size() && (text[i] == '-' || text[i] == '+')) ++i;
    const auto digits_start = i;
    long long magnitude = 0;
    for (; i < text.size() && text[i] >= '0' && text[i] <= '9'; ++i) {
        magnitude = magnitude * 10 + (text[i] - '0');
        if (magnitude > static_cast<long long>(INT_MAX) + 1) return std::nullopt;
    }
    if (i == digits_start) return std::nullopt;
    while (i < text.size() && is_conninfo_space(text[i])) ++i;
    if (i != text.size()) return std::nullopt;
    const long long value = negative ? -magnitude : magnitude;
    if (value > INT_MAX || value < INT_MIN) return std::nullopt;
    return static_cast<int>(value);
}

inline int to_int(const setting_value& s, std::string_view text) {
    if (auto v = parse_int_text(text)) return *v;
    s.reject("invalid integer value \"" + std::string(text) + "\" for connection option \"" + std::string(s.keyword) + "\"");
}
inline int to_int(const setting_value& s) { return to_int(s, s.text); }

// Stricter than libpq (which looks only at the first character) so that
// "sslsni=yes" is not silently read as "off".
inline bool to_zero_or_one(const setting_value& s) {
    if (s.text == "0") return false;
    if (s.text == "1") return true;
    s.reject("invalid " + std::string(s.keyword) + " value: \"" + s.text + "\" (expected 0 or 1)");
}

// libpq's parse_comma_separated_list: no trimming; "a,,b" has an empty middle.
inline std::vector<std::string> split_list(std::string_view text) {
    std::vector<std::string> items;
    for (;;) {
        const auto comma = text.find(',');
        items.emplace_back(text.substr(0, comma));
        if (comma == std::string_view::npos) return items;
        text.remove_prefix(comma + 1);
    }
}

// A port list; an empty item means the default port, as in libpq.
inline std::vector<std::uint16_t> to_ports(const setting_value& s) {
    std::vector<std::uint16_t> ports;
    for (const auto& item : split_list(s.text)) {
        if (item.empty()) {
            ports.push_back(default_port);
            continue;
        }
        const int port = to_int(s, item);
        if (port < 1 || port > 65535) s.reject("invalid port number: \"" + item + "\"");
        ports.push_back(static_cast<std::uint16_t>(port));
    }
    return ports;
}

// An IPv4 or IPv6 address; IPv6 may carry a zone ("fe80::1%eth0").
inline bool is_numeric_ip_address(const std::string& text) {
    unsigned char buffer[16];
    if (inet_pton(AF_INET, text.c_str(), buffer) == 1) return true;
    const auto percent = text.find('%');
    if (percent != std::string::npos && percent + 1 == text.size()) return false;
    const std::string address = text.substr(0, percent);
    return inet_pton(AF_INET6, address.c_str(), buffer) == 1;
}

// hostaddr items are numeric addresses (an empty item means "resolve host").
// libpq finds a bad one only when it gets to that host; failing early is kinder.
inline std::vector<std::string> to_host_addresses(const setting_value& s) {
    auto items = split_list(s.text);
    for (const auto& item : items)
        if (!item.empty() && !is_numeric_ip_address(item))
            s.reject("could not parse network address \"" + item + "\" in hostaddr (expected a numeric IPv4 or IPv6 address)");
    return items;
}

// libpq 16's require_auth: a list of methods that are all allowed, or all
// (prefixed with '!') forbidden.
inline auth_methods to_require_auth(const setting_value& s) {
    std::uint8_t mask = 0;
    bool negated = false;
    bool first = true;
    for (const auto& item : split_list(s.text)) {
        std::string_view method = item;
        if (method.starts_with('!')) {
            if (first) {
                negated = true;
                mask = auth_methods::all().mask;
            } else if (!negated) {
                s.reject("negative require_auth method \"" + item + "\" cannot be mixed with non-negative methods");
            }
            method.remove_prefix(1);
        } else if (negated) {
            s.reject("require_auth method \"" + item + "\" cannot be mixed with negative methods");
        }
        first = false;

        const auto m = lookup_name(method, auth_method_names);
        if (!m) s.reject("invalid require_auth value: \"" + std::string(method) + "\"");
        const auto bit = static_cast<std::uint8_t>(*m);
        const bool already = negated ? (mask & bit) == 0 : (mask & bit) != 0;
        if (already) s.reject("require_auth method \"" + item + "\" is specified more than once");
        mask = negated ? static_cast<std::uint8_t>(mask & ~bit) : static_cast<std::uint8_t>(mask | bit);
    }
    return auth_methods{mask};
}

inline bool equal_ignoring_ascii_case(std::string_view a, std::string_view b) noexcept {
    const auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; };
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [&](char x, char y) { return lower(x) == lower(y); });
}

// libpq compares TLS version names without regard to case ("tlsv1.3" works).
inline tls_protocol to_tls_protocol(const setting_value& s) {
    for (const auto& [name, v] : tls_protocol_names)
        if (equal_ignoring_ascii_case(name, s.text)) return v;
    s.reject_value();
}

// libpq 17's sslnegotiation=direct starts TLS at once, without SSLRequest,
// which only PostgreSQL 17 and later accept; pgcoro always negotiates.
inline void check_ssl_negotiation(const setting_value& s) {
    if (s.text == "postgres") return;
    if (s.text == "direct")
        s.reject("sslnegotiation=direct (the direct TLS handshake of libpq 17, which needs a PostgreSQL 17 or later "
                 "server) is not supported by pgcoro; use sslnegotiation=postgres");
    s.reject_value();
}

// libpq's connect_timeout: at most 0 means no timeout, and 1 is raised to 2
// because whole-second rounding could otherwise give up almost at once.
inline std::chrono::seconds to_connect_timeout(const setting_value& s) {
    const int t = to_int(s);
    if (t <= 0) return std::chrono::seconds{0};
    return std::chrono::seconds{t < 2 ? 2 : t};
}

// libpq reads tcp_user_timeout as milliseconds, a negative value as 0 (the
// system's default).
inline std::chrono::milliseconds to_tcp_user_timeout(const setting_value& s) {
    return std::chrono::milliseconds{std::max(0, to_int(s))};
}

}  // namespace pgcoro::detail
