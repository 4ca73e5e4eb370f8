// The conninfo keywords pgcoro knows: the ones it implements (with the PG*
// variable libpq reads for each), and libpq keywords it does not implement.
// Also the checks every parsed keyword goes through, whichever syntax it
// came from, and the setting type the parsers produce.
#pragma once

#include <algorithm>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "../error.hpp"

namespace pgcoro::detail {

// One keyword=value as written, before any validation of the value.
struct conninfo_setting {
    std::string keyword;
    std::string value;
    // A database name that is never read as a connection string (a URI's
    // path names a database, even with a '=' in it).
    bool literal = false;
};
using conninfo_settings = std::vector<conninfo_setting>;

struct conninfo_keyword {
    std::string_view name;
    std::string_view env_var;  // empty: libpq reads no environment variable for it
    bool secret = false;       // its value never appears in a message or in to_string()
};

inline constexpr conninfo_keyword supported_keywords[] = {
    {"host", "PGHOST"},
    {"hostaddr", "PGHOSTADDR"},
    {"port", "PGPORT"},
    {"dbname", "PGDATABASE"},
    {"user", "PGUSER"},
    {"password", "PGPASSWORD", true},
    {"passfile", "PGPASSFILE"},
    {"connect_timeout", "PGCONNECT_TIMEOUT"},
    {"application_name", "PGAPPNAME"},
    {"fallback_application_name", ""},
    {"options", "PGOPTIONS"},
    {"sslmode", "PGSSLMODE"},
    {"sslrootcert", "PGSSLROOTCERT"},
    {"sslcert", "PGSSLCERT"},
    {"sslkey", "PGSSLKEY"},
    {"sslpassword", "", true},
    {"sslsni", "PGSSLSNI"},
    {"sslcrl", "PGSSLCRL"},
    {"sslcrldir", "PGSSLCRLDIR"},
    {"sslcertmode", "PGSSLCERTMODE"},
    {"ssl_min_protocol_version", "PGSSLMINPROTOCOLVERSION"},
    {"ssl_max_protocol_version", "PGSSLMAXPROTOCOLVERSION"},
    // Only "postgres" (the SSLRequest pgcoro always sends) is accepted.
    {"sslnegotiation", "PGSSLNEGOTIATION"},
    {"channel_binding", "PGCHANNELBINDING"},
    {"require_auth", "PGREQUIREAUTH"},
    {"target_session_attrs", "PGTARGETSESSIONATTRS"},
    {"load_balance_hosts", "PGLOADBALANCEHOSTS"},
    {"keepalives", ""},
    {"keepalives_idle", ""},
    {"keepalives_interval", ""},
    {"keepalives_count", ""},
    {"tcp_user_timeout", ""},
    {"service", "PGSERVICE"},
    // pgcoro's own.
    {"statement_mode", ""},
};

// A libpq keyword whose feature pgcoro lacks. A conninfo written for libpq
// must never silently mean something else here, so such a keyword is
// accepted (and dropped) only with a value describing what pgcoro does
// anyway, and rejected with a clear message otherwise.
struct unsupported_keyword {
    std::string_view name;
    std::string_view harmless_values;  // space-separated; empty: no value is harmless
};

inline constexpr unsupported_keyword unsupported_keywords[] = {
    // pgcoro always sends client_encoding=UTF8.
    {"client_encoding", "UTF8 utf8 UTF-8 utf-8 unicode UNICODE"},
    // pgcoro never attempts GSSAPI encryption; "prefer" falls back to none.
    {"gssencmode", "disable prefer"},
    {"gssdelegation", "0"},
    {"gsslib", ""},
    {"krbsrvname", ""},
    {"replication", "false off no 0"},
    {"requirepeer", ""},
    {"sslcompression", "0"},
};

inline const conninfo_keyword* find_supported_keyword(std::string_view name) noexcept {
    for (const auto& k : supported_keywords)
        if (k.name == name) return &k;
    return nullptr;
}

inline bool is_secret_keyword(std::string_view name) noexcept {
    const auto* k = find_supported_keyword(name);
    return k != nullptr && k->secret;
}

inline const unsupported_keyword* find_unsupported_keyword(std::string_view name) noexcept {
    for (const auto& k : unsupported_keywords)
        if (k.name == name) return &k;
    return nullptr;
}

inline bool is_listed_word(std::string_view words, std::string_view w) {
    while (!words.empty()) {
        const auto space = words.find(' ');
        if (words.substr(0, space) == w) return true;
        if (space == std::string_view::npos) break;
        words.remove_prefix(space + 1);
    }
    return false;
}

[[noreturn]] inline void throw_invalid_config(const std::string& what) {
    throw error(errc::invalid_config, what);
}

// Checks a keyword just parsed and returns the setting to keep, or nullopt
// for a harmless unsupported one. `unknown_message` is the complete error for
// a keyword libpq does not know either (the two syntaxes word it differently).
inline std::optional<conninfo_setting> accept_setting(std::string keyword, std::string value,
                                                      const std::string& unknown_message) {
    // libpq's old spelling, translated the way libpq does.
    if (keyword == "requiressl") return conninfo_setting{"sslmode", value.starts_with('1') ? "require" : "prefer"};
    if (find_supported_keyword(keyword)) return conninfo_setting{std::move(keyword), std::move(value)};
    if (const auto* u = find_unsupported_keyword(keyword)) {
        if (is_listed_word(u->harmless_values, value)) return std::nullopt;
        std::string msg = "connection option \"" + keyword + "\" is not supported by pgcoro";
        if (!u->harmless_values.empty()) {
            msg += " (accepted only with a value that changes nothing: ";
            std::string list(u->harmless_values);
            std::replace(list.begin(), list.end(), ' ', '|');
            msg += list + "; got \"" + value + "\")";
        }
        throw_invalid_config(msg);
    }
    throw_invalid_config(unknown_message);
}

}  // namespace pgcoro::detail
