// Connection strings, as libpq reads them, and the definitions of the
// members config declares (config.hpp): config::parse, config::to_string,
// the environments they may consult, and the password file.
//
// Parsing goes in libpq's order: read the string (keyword=value or URI),
// expand the first dbname that is itself a connection string, let the last
// non-empty value of each keyword win, fill what is still unset from the PG*
// environment variables, then validate every value and apply the built-in
// defaults.
#pragma once

#include <algorithm>
#include <cstdlib>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "../util/compilation_mode.hpp"
#include "config.hpp"
#include "conninfo_format.hpp"
#include "conninfo_keywords.hpp"
#include "conninfo_string.hpp"
#include "conninfo_uri.hpp"
#include "conninfo_values.hpp"
#include "os_defaults.hpp"
#include "passfile.hpp"
#include "service_file.hpp"

namespace pgcoro::detail {

// Either syntax, chosen as libpq does: by the URI prefix.
inline conninfo_settings read_connection_string(std::string_view s) {
    // The values end up in NUL-terminated startup packet fields.
    if (const auto nul = s.find('\0'); nul != std::string_view::npos)
        throw_invalid_config("connection info string contains a NUL byte" + at_offset(nul));
    return uri_prefix_length(s) != 0 ? parse_connection_uri(s) : parse_keyword_value_string(s);
}

// libpq's expand_dbname: the first dbname, when it is itself a connection
// string, is replaced by that string's settings, so that they override
// earlier settings and later ones override them. Only one level is expanded:
// a dbname inside it is a plain database name, and so is a URI's path.
inline void expand_first_dbname(conninfo_settings& settings) {
    const auto dbname = std::find_if(settings.begin(), settings.end(),
                                     [](const conninfo_setting& s) { return s.keyword == "dbname"; });
    if (dbname == settings.end() || dbname->literal || !looks_like_connection_string(dbname->value)) return;
    conninfo_settings inner;
    try {
        inner = read_connection_string(dbname->value);
    } catch (const error& e) {
        throw_invalid_config(std::string(e.what()) + " (in the connection string given as dbname)");
    }
    const auto at = settings.erase(dbname);
    settings.insert(at, inner.begin(), inner.end());
}

using resolved_settings = std::map<std::string_view, setting_value>;

// The settings of the service that service= or PGSERVICE names, for the
// keywords still unset; the first line of a keyword wins, as in libpq. The
// keywords go through the same checks as a connection string's.
inline void add_service_settings(resolved_settings& resolved, const environment& env) {
    std::string service;
    if (const auto it = resolved.find("service"); it != resolved.end()) service = it->second.text;
    else if (auto v = env("PGSERVICE")) service = std::move(*v);
    if (service.empty()) return;

    auto found = find_service(service, env);
    for (auto& line : found.settings) {
        std::optional<conninfo_setting> kept;
        const auto unknown = "syntax error in " + line.where + ": unknown keyword \"" + line.keyword + "\"";
        try {
            kept = accept_setting(std::move(line.keyword), std::move(line.value), unknown);
        } catch (const error& e) {
            if (std::string_view(e.what()).find(line.where) != std::string_view::npos) throw;
            throw_invalid_config(std::string(e.what()) + " (in " + line.where + ")");
        }
        if (!kept || kept->value.empty()) continue;
        const auto name = find_supported_keyword(kept->keyword)->name;
        resolved.try_emplace(name, setting_value{name, std::move(kept->value), std::move(line.where)});
    }
}

// The last non-empty value of each keyword, then the service file, then the
// environment for the rest. An empty value counts as not given, as in
// libpq's keyword arrays.
inline resolved_settings resolve_settings(const conninfo_settings& given, const environment& env) {
    resolved_settings resolved;
    for (const auto& s : given) {
        if (s.value.empty()) continue;
        const auto name = find_supported_keyword(s.keyword)->name;
        resolved.insert_or_assign(name, setting_value{name, s.value, {}});
    }
    add_service_settings(resolved, env);
    for (const auto& k : supported_keywords) {
        if (k.env_var.empty() || resolved.contains(k.name)) continue;
        if (auto v = env(k.env_var); v && !v->empty())
            resolved.emplace(k.name, setting_value{k.name, std::move(*v), "environment variable " + std::string(k.env_var)});
    }
    return resolved;
}

inline const setting_value* find_setting(const resolved_settings& s, std::string_view keyword) {
    const auto it = s.find(keyword);
    return it == s.end() ? nullptr : &it->second;
}

inline std::string setting_text(const resolved_settings& s, std::string_view keyword) {
    const auto* v = find_setting(s, keyword);
    return v ? v->text : std::string();
}

// libpq's host, hostaddr and port lists: one slot per hostaddr item if
// given, else per host item, else one. An empty slot is the default socket
// directory, unless it has a hostaddr, which then also names the host (as
// PQhost reports it, and for the password file).
inline void resolve_hosts(const resolved_settings& s, config& cfg) {
    const auto* host = find_setting(s, "host");
    const auto* hostaddr = find_setting(s, "hostaddr");
    const auto* port = find_setting(s, "port");

    if (hostaddr) cfg.hostaddrs = to_host_addresses(*hostaddr);
    std::vector<std::string> hosts;
    if (host) hosts = split_list(host->text);
    const std::size_t count = !cfg.hostaddrs.empty() ? cfg.hostaddrs.size() : !hosts.empty() ? hosts.size() : 1;
    if (host && hosts.size() != count)
        host->reject("could not match " + std::to_string(hosts.size()) + " host names to " + std::to_string(count) +
                     " hostaddr values");
    hosts.resize(count);
    for (std::size_t i = 0; i < count; ++i) {
        if (!hosts[i].empty()) continue;
        const bool has_address = !cfg.hostaddrs.empty() && !cfg.hostaddrs[i].empty();
        hosts[i] = has_address ? cfg.hostaddrs[i] : default_socket_directory();
    }
    cfg.hosts = std::move(hosts);

    cfg.ports = {default_port};
    if (port) {
        auto ports = to_ports(*port);
        if (ports.size() != 1 && ports.size() != count)
            port->reject("could not match " + std::to_string(ports.size()) + " port numbers to " + std::to_string(count) +
                         " hosts");
        cfg.ports = std::move(ports);
    }
}

// libpq's sslVerifyProtocolRange: the minimum may not exceed the maximum.
inline void resolve_tls_protocol_range(const resolved_settings& s, config& cfg) {
    if (const auto* v = find_setting(s, "ssl_min_protocol_version")) cfg.ssl_min_protocol_version = to_tls_protocol(*v);
    if (const auto* v = find_setting(s, "ssl_max_protocol_version")) cfg.ssl_max_protocol_version = to_tls_protocol(*v);
    if (cfg.ssl_max_protocol_version && cfg.ssl_min_protocol_version > *cfg.ssl_max_protocol_version)
        throw_invalid_config("invalid SSL protocol version range (ssl_min_protocol_version=" +
                             std::string(name_of(cfg.ssl_min_protocol_version, tls_protocol_names)) +
                             " is above ssl_max_protocol_version=" +
                             std::string(name_of(*cfg.ssl_max_protocol_version, tls_protocol_names)) + ")");
}

// libpq accepts sslcertmode=require with sslmode=disable and then fails every
// connection after authenticating ("server did not request an SSL
// certificate"); refusing it here says so before a password goes out.
inline void check_cert_mode_needs_tls(const resolved_settings& s, const config& cfg) {
    if (cfg.sslcertmode != ssl_cert_mode::require || cfg.sslmode != ssl_mode::disable) return;
    find_setting(s, "sslcertmode")
        ->reject("sslcertmode=require needs TLS, but sslmode is \"disable\" (the server could never request a certificate)");
}

inline void resolve_tls(const resolved_settings& s, config& cfg) {
    cfg.sslrootcert = setting_text(s, "sslrootcert");
    cfg.sslcert = setting_text(s, "sslcert");
    cfg.sslkey = setting_text(s, "sslkey");
    cfg.sslpassword = setting_text(s, "sslpassword");
    if (const auto* v = find_setting(s, "sslsni")) cfg.sslsni = to_zero_or_one(*v);
    cfg.sslcrl = setting_text(s, "sslcrl");
    cfg.sslcrldir = setting_text(s, "sslcrldir");
    if (const auto* v = find_setting(s, "sslcertmode")) cfg.sslcertmode = to_enum(*v, ssl_cert_mode_names);
    resolve_tls_protocol_range(s, cfg);
    if (const auto* v = find_setting(s, "sslnegotiation")) check_ssl_negotiation(*v);

    const auto* mode = find_setting(s, "sslmode");
    if (mode) cfg.sslmode = to_enum(*mode, ssl_mode_names);
    check_cert_mode_needs_tls(s, cfg);
    // libpq 16: the system's CA store only makes sense with host name
    // checks, so it raises the default and refuses anything weaker.
    if (cfg.sslrootcert == "system") {
        if (!mode)
            cfg.sslmode = ssl_mode::verify_full;
        else if (cfg.sslmode != ssl_mode::verify_full)
            mode->reject("weak sslmode \"" + mode->text + "\" may not be used with sslrootcert=system (use \"verify-full\")");
    }
}

inline void resolve_keepalives(const resolved_settings& s, config& cfg) {
    // libpq reads keepalives as an integer, any non-zero value meaning on.
    if (const auto* v = find_setting(s, "keepalives")) cfg.keepalives = to_int(*v) != 0;
    // libpq treats a negative value as 0, the system default.
    const auto non_negative = [&](std::string_view keyword, int& field) {
        if (const auto* v = find_setting(s, keyword)) field = std::max(0, to_int(*v));
    };
    non_negative("keepalives_idle", cfg.keepalives_idle);
    non_negative("keepalives_interval", cfg.keepalives_interval);
    non_negative("keepalives_count", cfg.keepalives_count);
}

inline config build_config(const resolved_settings& s) {
    config cfg;
    resolve_hosts(s, cfg);

    cfg.user = find_setting(s, "user") ? setting_text(s, "user") : os_user_name();
    cfg.dbname = find_setting(s, "dbname") ? setting_text(s, "dbname") : cfg.user;
    cfg.password = setting_text(s, "password");
    cfg.passfile = setting_text(s, "passfile");
    cfg.application_name = setting_text(s, "application_name");
    cfg.fallback_application_name = setting_text(s, "fallback_application_name");
    cfg.options = setting_text(s, "options");
    if (const auto* v = find_setting(s, "connect_timeout")) cfg.connect_timeout = to_connect_timeout(*v);

    if (const auto* v = find_setting(s, "require_auth")) cfg.require_auth = to_require_auth(*v);
    if (const auto* v = find_setting(s, "channel_binding")) cfg.channel_binding = to_enum(*v, channel_binding_names);
    resolve_tls(s, cfg);
    if (const auto* v = find_setting(s, "target_session_attrs")) cfg.target_session_attrs = to_enum(*v, session_target_names);
    if (const auto* v = find_setting(s, "load_balance_hosts")) cfg.load_balance_hosts = to_enum(*v, load_balance_names);
    resolve_keepalives(s, cfg);
    if (const auto* v = find_setting(s, "tcp_user_timeout")) cfg.tcp_user_timeout = to_tcp_user_timeout(*v);
    if (const auto* v = find_setting(s, "statement_mode")) cfg.statements = to_enum(*v, statement_mode_names);
    return cfg;
}

}  // namespace pgcoro::detail

// config's members: inline (header-only) or in the src.hpp TU
// (util/compilation_mode.hpp).
#if PGCORO_DEFINITIONS
namespace pgcoro {

PGCORO_DECL config config::parse(std::string_view conninfo) { return parse(conninfo, process_environment()); }

PGCORO_DECL config config::parse(std::string_view conninfo, const environment& env) {
    auto settings = detail::read_connection_string(conninfo);
    detail::expand_first_dbname(settings);
    return detail::build_config(detail::resolve_settings(settings, env));
}

PGCORO_DECL environment config::process_environment() {
    return [](std::string_view name) -> std::optional<std::string> {
        if (const char* v = std::getenv(std::string(name).c_str())) return std::string(v);
        return std::nullopt;
    };
}

PGCORO_DECL environment config::no_environment() {
    return [](std::string_view) -> std::optional<std::string> { return std::nullopt; };
}

PGCORO_DECL std::string config::to_string() const {
    using namespace detail;
    std::string out;
    const auto add = [&out](std::string_view keyword, std::string_view value) {
        if (!out.empty()) out += ' ';
        out += keyword;
        out += '=';
        out += quote_conninfo_value(value);
    };
    const auto add_if_set = [&add](std::string_view keyword, const std::string& value) {
        if (!value.empty()) add(keyword, value);
    };
    const auto add_if_nonzero = [&add](std::string_view keyword, long long value) {
        if (value != 0) add(keyword, std::to_string(value));
    };
    const config defaults;

    if (!hosts.empty()) add("host", join_with_commas(hosts));
    if (!hostaddrs.empty()) add("hostaddr", join_with_commas(hostaddrs));
    if (!ports.empty()) add("port", join_with_commas(ports));
    if (!dbname.empty()) add("dbname", dbname_for_conninfo(dbname));
    add_if_set("user", user);
    if (!password.empty()) add("password", redacted_secret);
    add_if_set("passfile", passfile);
    add_if_nonzero("connect_timeout", connect_timeout.count());
    add_if_set("application_name", application_name);
    add_if_set("fallback_application_name", fallback_application_name);
    add_if_set("options", options);
    if (sslmode != defaults.sslmode) add("sslmode", name_of(sslmode, ssl_mode_names));
    add_if_set("sslrootcert", sslrootcert);
    add_if_set("sslcert", sslcert);
    // A key given as PEM text is the secret itself.
    if (sslkey.find("-----BEGIN") != std::string::npos) add("sslkey", redacted_secret);
    else add_if_set("sslkey", sslkey);
    if (!sslpassword.empty()) add("sslpassword", redacted_secret);
    if (sslsni != defaults.sslsni) add("sslsni", sslsni ? "1" : "0");
    add_if_set("sslcrl", sslcrl);
    add_if_set("sslcrldir", sslcrldir);
    if (sslcertmode != defaults.sslcertmode) add("sslcertmode", name_of(sslcertmode, ssl_cert_mode_names));
    if (ssl_min_protocol_version != defaults.ssl_min_protocol_version)
        add("ssl_min_protocol_version", name_of(ssl_min_protocol_version, tls_protocol_names));
    if (ssl_max_protocol_version) add("ssl_max_protocol_version", name_of(*ssl_max_protocol_version, tls_protocol_names));
    if (channel_binding != defaults.channel_binding) add("channel_binding", name_of(channel_binding, channel_binding_names));
    if (require_auth != defaults.require_auth) add("require_auth", format_require_auth(require_auth));
    if (target_session_attrs != defaults.target_session_attrs)
        add("target_session_attrs", name_of(target_session_attrs, session_target_names));
    if (load_balance_hosts != defaults.load_balance_hosts)
        add("load_balance_hosts", name_of(load_balance_hosts, load_balance_names));
    if (keepalives != defaults.keepalives) add("keepalives", keepalives ? "1" : "0");
    add_if_nonzero("keepalives_idle", keepalives_idle);
    add_if_nonzero("keepalives_interval", keepalives_interval);
    add_if_nonzero("keepalives_count", keepalives_count);
    add_if_nonzero("tcp_user_timeout", tcp_user_timeout.count());
    if (statements != defaults.statements) add("statement_mode", name_of(statements, statement_mode_names));
    return out;
}

}  // namespace pgcoro
#endif  // PGCORO_DEFINITIONS
