// The URI form of a connection string, read with libpq's rules:
//   postgresql://[user[:password]@][host][:port][,host[:port]...][/dbname][?keyword=value&...]
// (or postgres://). Every part is percent-decoded; a host may be an IPv6
// address in brackets or a percent-encoded socket directory; the query
// takes the same keywords as the keyword=value form, plus ssl=true.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "conninfo_keywords.hpp"
#include "percent_decode.hpp"

namespace pgcoro::detail {

inline constexpr std::string_view uri_designator = "postgresql://";
inline constexpr std::string_view short_uri_designator = "postgres://";
inline constexpr std::string_view redacted_secret = "********";

inline std::size_t uri_prefix_length(std::string_view s) noexcept {
    if (s.starts_with(uri_designator)) return uri_designator.size();
    if (s.starts_with(short_uri_designator)) return short_uri_designator.size();
    return 0;
}

// libpq's recognized_connection_string: what a dbname must look like to be
// read as a connection string itself.
inline bool looks_like_connection_string(std::string_view s) noexcept {
    return uri_prefix_length(s) != 0 || s.find('=') != std::string_view::npos;
}

// The position of the '@' ending the user info, or npos. As in libpq, it is
// the first '@' before any '/'.
inline std::size_t uri_userinfo_end(std::string_view uri, std::size_t prefix) noexcept {
    const auto p = uri.find_first_of("@/", prefix);
    return p != std::string_view::npos && uri[p] == '@' ? p : std::string_view::npos;
}

// The URI with the password of its user info and the values of secret query
// parameters replaced by "********", for quoting in error messages.
inline std::string redact_uri(std::string_view uri) {
    const auto prefix = uri_prefix_length(uri);
    std::string out(uri.substr(0, prefix));
    auto rest_start = prefix;
    if (const auto at = uri_userinfo_end(uri, prefix); at != std::string_view::npos) {
        const auto userinfo = uri.substr(prefix, at - prefix);
        const auto colon = userinfo.find(':');
        if (colon == std::string_view::npos) {
            out += userinfo;
        } else {
            out += userinfo.substr(0, colon + 1);
            out += redacted_secret;
        }
        out += '@';
        rest_start = at + 1;
    }
    const auto question = uri.find('?', rest_start);
    out += uri.substr(rest_start, question == std::string_view::npos ? std::string_view::npos : question + 1 - rest_start);
    if (question == std::string_view::npos) return out;

    auto query = uri.substr(question + 1);
    for (bool first = true; ; first = false) {
        const auto amp = query.find('&');
        const auto piece = query.substr(0, amp);
        if (!first) out += '&';
        const auto eq = piece.find('=');
        const auto raw_key = piece.substr(0, eq);
        const auto key = try_percent_decode(raw_key).value_or(std::string(raw_key));
        if (eq != std::string_view::npos && is_secret_keyword(key)) {
            out += piece.substr(0, eq + 1);
            out += redacted_secret;
        } else {
            out += piece;
        }
        if (amp == std::string_view::npos) break;
        query.remove_prefix(amp + 1);
    }
    return out;
}

inline std::string quoted_uri(std::string_view uri) { return "\"" + redact_uri(uri) + "\""; }

// The query part: keyword=value pairs separated by '&'.
inline void parse_uri_query(std::string_view query, conninfo_settings& settings) {
    while (!query.empty()) {
        const auto amp = query.find('&');
        const auto piece = query.substr(0, amp);
        query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);

        const auto eq = piece.find('=');
        if (eq == std::string_view::npos)
            throw_invalid_config("missing key/value separator \"=\" in URI query parameter: \"" + std::string(piece) + "\"");
        const auto raw_key = piece.substr(0, eq);
        const auto raw_value = piece.substr(eq + 1);
        if (raw_value.find('=') != std::string_view::npos)
            throw_invalid_config("extra key/value separator \"=\" in URI query parameter: \"" + std::string(raw_key) + "\"");

        auto keyword = percent_decode(raw_key);
        auto value = percent_decode(raw_value, is_secret_keyword(keyword) ? "value of the URI query parameter \"" + keyword + "\"" : "");
        // JDBC's spelling, which libpq accepts in URIs.
        if (keyword == "ssl" && value == "true") {
            keyword = "sslmode";
            value = "require";
        }
        const auto unknown = "invalid URI query parameter: \"" + keyword + "\"";
        if (auto setting = accept_setting(std::move(keyword), std::move(value), unknown))
            settings.push_back(std::move(*setting));
    }
}

inline conninfo_settings parse_connection_uri(std::string_view uri) {
    conninfo_settings settings;
    const auto n = uri.size();
    std::size_t pos = uri_prefix_length(uri);

    if (const auto at = uri_userinfo_end(uri, pos); at != std::string_view::npos) {
        const auto userinfo = uri.substr(pos, at - pos);
        const auto colon = userinfo.find(':');
        const auto user = userinfo.substr(0, colon);
        if (!user.empty()) settings.push_back({"user", percent_decode(user)});
        if (colon != std::string_view::npos) {
            const auto password = userinfo.substr(colon + 1);
            if (!password.empty()) settings.push_back({"password", percent_decode(password, "password of the URI")});
        }
        pos = at + 1;
    }

    // One or more host[:port], separated by commas. As in libpq, the lists
    // are joined with commas and decoded as a whole, so an empty port in the
    // list means "the default port" for its host.
    constexpr std::string_view host_end_chars = ":/?,";
    std::string hosts, ports;
    char terminator = '\0';
    for (;;) {
        std::string_view host;
        if (pos < n && uri[pos] == '[') {
            const auto close = uri.find(']', pos + 1);
            if (close == std::string_view::npos)
                throw_invalid_config("end of string reached when looking for matching \"]\" in IPv6 host address in URI: " +
                                     quoted_uri(uri));
            if (close == pos + 1)
                throw_invalid_config("IPv6 host address may not be empty in URI: " + quoted_uri(uri));
            host = uri.substr(pos + 1, close - pos - 1);
            pos = close + 1;
            if (pos < n && host_end_chars.find(uri[pos]) == std::string_view::npos)
                throw_invalid_config(std::string("unexpected character \"") + uri[pos] + "\" at position " +
                                     std::to_string(pos + 1) + " in URI (expected \":\" or \"/\"): " + quoted_uri(uri));
        } else {
            const auto start = pos;
            while (pos < n && host_end_chars.find(uri[pos]) == std::string_view::npos) ++pos;
            host = uri.substr(start, pos - start);
        }
        hosts += host;
        terminator = pos < n ? uri[pos] : '\0';
        if (terminator == ':') {
            const auto start = ++pos;
            while (pos < n && uri[pos] != '/' && uri[pos] != '?' && uri[pos] != ',') ++pos;
            ports += uri.substr(start, pos - start);
            terminator = pos < n ? uri[pos] : '\0';
        }
        if (terminator != ',') break;
        ++pos;
        hosts += ',';
        ports += ',';
    }
    if (!hosts.empty()) settings.push_back({"host", percent_decode(hosts)});
    if (!ports.empty()) settings.push_back({"port", percent_decode(ports)});

    if (terminator == '/') {
        const auto start = ++pos;
        while (pos < n && uri[pos] != '?') ++pos;
        // An empty dbname is left unset, so that PGDATABASE still applies.
        if (pos > start) settings.push_back({"dbname", percent_decode(uri.substr(start, pos - start)), true});
        terminator = pos < n ? '?' : '\0';
    }
    if (terminator == '?') parse_uri_query(uri.substr(pos + 1), settings);
    return settings;
}

}  // namespace pgcoro::detail
