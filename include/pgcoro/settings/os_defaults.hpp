// Facts about the local system that libpq's built-in defaults come from:
// the Unix socket directory, the OS user name and the home directory.
#pragma once

#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "../error.hpp"
#include "config.hpp"

namespace pgcoro::detail {

// libpq's DEFAULT_PGSOCKET_DIR is fixed at build time: /tmp upstream,
// /var/run/postgresql in Debian, Ubuntu, Fedora and others. Choosing at run
// time finds the server whichever packaging it came from.
inline constexpr std::string_view distribution_socket_directory = "/var/run/postgresql";
inline constexpr std::string_view upstream_socket_directory = "/tmp";

inline bool is_directory(const std::string& path) {
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

inline std::string default_socket_directory() {
    const std::string dist(distribution_socket_directory);
    return is_directory(dist) ? dist : std::string(upstream_socket_directory);
}

// The directories some libpq build uses by default (/run is where
// /var/run points on current systems).
inline bool is_default_socket_directory(std::string_view dir) {
    return dir == distribution_socket_directory || dir == upstream_socket_directory || dir == "/run/postgresql";
}

struct os_user {
    std::string name;
    std::string home;
};

// getpwuid_r for the effective user, as libpq's pg_fe_getauthname does.
inline std::optional<os_user> effective_os_user(int* error_number = nullptr) {
    long size_hint = ::sysconf(_SC_GETPW_R_SIZE_MAX);
    std::vector<char> buffer(size_hint > 0 ? static_cast<std::size_t>(size_hint) : 16384);
    struct passwd pw {};
    struct passwd* result = nullptr;
    for (;;) {
        const int rc = ::getpwuid_r(::geteuid(), &pw, buffer.data(), buffer.size(), &result);
        if (rc == ERANGE && buffer.size() < (1u << 20)) {
            buffer.resize(buffer.size() * 2);
            continue;
        }
        if (rc != 0 || result == nullptr) {
            if (error_number) *error_number = rc;
            return std::nullopt;
        }
        return os_user{pw.pw_name ? pw.pw_name : "", pw.pw_dir ? pw.pw_dir : ""};
    }
}

inline std::string os_user_name() {
    int err = 0;
    auto user = effective_os_user(&err);
    if (!user || user->name.empty())
        throw error(errc::invalid_config, "could not look up local user ID " + std::to_string(::geteuid()) + ": " +
                                              (err != 0 ? std::strerror(err) : "user does not exist") +
                                              " (set user or PGUSER)");
    return user->name;
}

// libpq 15's pqGetHomeDirectory: $HOME, else the user database's entry.
inline std::optional<std::string> home_directory(const environment& env) {
    if (auto home = env("HOME"); home && !home->empty()) return home;
    if (auto user = effective_os_user(); user && !user->home.empty()) return user->home;
    return std::nullopt;
}

}  // namespace pgcoro::detail
