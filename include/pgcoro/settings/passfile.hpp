// The libpq password file (~/.pgpass): one "host:port:database:user:password"
// per line, '*' matching any value, '\' escaping ':' and '\', '#' starting a
// comment line, first matching line wins. A file that is not a regular file
// or that the group or others may access is ignored, as libpq does.
#pragma once

#include <sys/stat.h>

#include <algorithm>
#include <cstdint>
#include <fstream>
#include <optional>
#include <string>
#include <string_view>

#include "config.hpp"
#include "os_defaults.hpp"

namespace pgcoro::detail {

inline constexpr std::string_view passfile_name = ".pgpass";
inline constexpr std::string_view passfile_local_host = "localhost";

// libpq's pwdfMatchesString: when the field starting at `pos` matches `token`,
// the position just after its ':' separator.
inline std::optional<std::size_t> passfile_field_matches(std::string_view line, std::size_t pos, std::string_view token) {
    if (line.substr(pos, 2) == "*:") return pos + 2;
    std::size_t t = 0;
    while (pos < line.size()) {
        bool escaped = false;
        if (line[pos] == '\\') {
            ++pos;
            escaped = true;
        }
        if (pos < line.size() && line[pos] == ':' && !escaped && t == token.size()) return pos + 1;
        if (t == token.size() || pos == line.size() || line[pos] != token[t]) return std::nullopt;
        ++pos;
        ++t;
    }
    return std::nullopt;
}

// The password field: up to an unescaped ':' or the end, with escapes removed.
inline std::string passfile_password(std::string_view line, std::size_t pos) {
    std::string password;
    for (; pos < line.size() && line[pos] != ':'; ++pos) {
        if (line[pos] == '\\' && pos + 1 < line.size()) ++pos;
        password += line[pos];
    }
    return password;
}

inline bool is_private_regular_file(const std::string& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) return false;
    return S_ISREG(st.st_mode) && (st.st_mode & (S_IRWXG | S_IRWXO)) == 0;
}

// Overwrites a line that may hold a password before its memory is reused.
inline void wipe(std::string& s) {
    std::fill(s.begin(), s.end(), '\0');
    s.clear();
}

inline std::string passfile_path(const environment& env) {
    if (auto file = env("PGPASSFILE"); file && !file->empty()) return *file;
    if (auto home = home_directory(env)) return *home + "/" + std::string(passfile_name);
    return {};
}

}  // namespace pgcoro::detail

namespace pgcoro {

inline std::optional<std::string> lookup_passfile(const std::string& path, std::string_view host, std::uint16_t port,
                                                  std::string_view dbname, std::string_view user) {
    if (path.empty() || dbname.empty() || user.empty()) return std::nullopt;
    if (!detail::is_private_regular_file(path)) return std::nullopt;
    std::ifstream file(path);
    if (!file) return std::nullopt;

    // libpq looks up "localhost" for a missing host and for its default
    // socket directory; pgcoro also lets any other socket directory match
    // "localhost" (after its own path), since which directory is "default"
    // depends on how libpq was built.
    const bool local = host.empty() || host.starts_with('/');
    const std::string_view literal_host = host.empty() ? detail::passfile_local_host : host;
    const auto port_text = std::to_string(port);

    std::string line;
    while (std::getline(file, line)) {
        while (!line.empty() && (line.back() == '\r' || line.back() == '\n')) line.pop_back();
        if (line.empty() || line.front() == '#') {
            detail::wipe(line);
            continue;
        }
        auto pos = detail::passfile_field_matches(line, 0, literal_host);
        if (!pos && local) pos = detail::passfile_field_matches(line, 0, detail::passfile_local_host);
        if (pos) pos = detail::passfile_field_matches(line, *pos, port_text);
        if (pos) pos = detail::passfile_field_matches(line, *pos, dbname);
        if (pos) pos = detail::passfile_field_matches(line, *pos, user);
        if (pos) {
            auto password = detail::passfile_password(line, *pos);
            detail::wipe(line);
            return password;
        }
        detail::wipe(line);
    }
    return std::nullopt;
}

inline std::string default_passfile_path() { return detail::passfile_path(config::process_environment()); }

}  // namespace pgcoro
