// Connection service files (pg_service.conf), as libpq reads them: a
// "[name]" line opens a service's section, and each "keyword=value" line in
// it is a conninfo setting (no spaces around '=', no quoting), '#' starts a
// comment line. service=NAME or PGSERVICE picks the section; its settings
// fill only what the connection string left unset, and the environment comes
// after them. The user's file is PGSERVICEFILE, else ~/.pg_service.conf; the
// system's file, read only when the user's has no such section, is
// pg_service.conf in PGSYSCONFDIR, else in the directory Debian's libpq was
// built with.
#pragma once

#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "config.hpp"
#include "conninfo_keywords.hpp"
#include "conninfo_string.hpp"
#include "os_defaults.hpp"

namespace pgcoro::detail {

inline constexpr std::string_view user_service_file_name = ".pg_service.conf";
inline constexpr std::string_view system_service_file_name = "pg_service.conf";
// pg_config --sysconfdir of Debian's and Ubuntu's libpq; upstream's default
// (/usr/local/pgsql/etc) is reached through PGSYSCONFDIR.
inline constexpr std::string_view default_sysconfdir = "/etc/postgresql-common";

// One keyword=value of the chosen section, with where it was written so that
// a bad value can be traced to its line.
struct service_setting {
    std::string keyword;
    std::string value;
    std::string where;  // service file "PATH", line N
};

struct service_section {
    bool found = false;
    std::vector<service_setting> settings;
};

inline std::string service_file_location(const std::string& path, int line) {
    return "service file \"" + path + "\", line " + std::to_string(line);
}

inline std::string_view trim_conninfo_space(std::string_view s) {
    while (!s.empty() && is_conninfo_space(s.front())) s.remove_prefix(1);
    while (!s.empty() && is_conninfo_space(s.back())) s.remove_suffix(1);
    return s;
}

// libpq's parseServiceFile over the text of one file: the settings of the
// first section named `service`, in file order. The keywords are checked by
// the caller, against the same tables as a connection string's.
inline service_section read_service_section(std::string_view text, std::string_view service, const std::string& path) {
    service_section section;
    int line_number = 0;
    while (!text.empty()) {
        const auto newline = text.find('\n');
        const auto line = trim_conninfo_space(text.substr(0, newline));
        text.remove_prefix(newline == std::string_view::npos ? text.size() : newline + 1);
        ++line_number;
        if (line.empty() || line.front() == '#') continue;
        if (line.front() == '[') {
            // The section after the one wanted ends it. As libpq, text after
            // the closing bracket is not looked at.
            if (section.found) break;
            section.found = line.substr(1).starts_with(service) && line.size() > service.size() + 1 &&
                            line[service.size() + 1] == ']';
            continue;
        }
        if (!section.found) continue;
        const auto where = service_file_location(path, line_number);
        if (line.starts_with("ldap"))
            throw_invalid_config("LDAP lookups in service files are not supported by pgcoro (" + where + ")");
        const auto equals = line.find('=');
        if (equals == std::string_view::npos)
            throw_invalid_config("syntax error in " + where + " (expected keyword=value)");
        const auto keyword = line.substr(0, equals);
        if (keyword == "service")
            throw_invalid_config("nested service specifications not supported in " + where);
        section.settings.push_back({std::string(keyword), std::string(line.substr(equals + 1)), where});
    }
    return section;
}

inline std::optional<std::string> read_whole_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return std::nullopt;
    std::ostringstream text;
    text << in.rdbuf();
    return std::move(text).str();
}

// The chosen section of whichever file defines it, and that file's path.
struct found_service {
    std::string path;
    std::vector<service_setting> settings;
};

// libpq's parseServiceInfo: the user's file, then the system's. A file that
// PGSERVICEFILE names must exist; ~/.pg_service.conf and the system's file
// are optional.
inline found_service find_service(const std::string& service, const environment& env) {
    const auto search = [&](const std::string& path, const std::string& text) -> std::optional<found_service> {
        auto section = read_service_section(text, service, path);
        if (!section.found) return std::nullopt;
        return found_service{path, std::move(section.settings)};
    };
    const auto search_if_present = [&](const std::string& path) -> std::optional<found_service> {
        const auto text = read_whole_file(path);
        return text ? search(path, *text) : std::nullopt;
    };

    if (auto named = env("PGSERVICEFILE"); named && !named->empty()) {
        const auto text = read_whole_file(*named);
        if (!text) throw_invalid_config("service file \"" + *named + "\" not found (from environment variable PGSERVICEFILE)");
        if (auto found = search(*named, *text)) return std::move(*found);
    } else if (auto home = home_directory(env)) {
        if (auto found = search_if_present(*home + "/" + std::string(user_service_file_name))) return std::move(*found);
    }
    const auto sysconfdir = env("PGSYSCONFDIR");
    const std::string dir = sysconfdir && !sysconfdir->empty() ? *sysconfdir : std::string(default_sysconfdir);
    if (auto found = search_if_present(dir + "/" + std::string(system_service_file_name))) return std::move(*found);
    throw_invalid_config("definition of service \"" + service + "\" not found");
}

}  // namespace pgcoro::detail
