// Writing settings back as a keyword=value connection string that
// config::parse reads to the same values (secrets aside, which are masked).
#pragma once

#include <algorithm>
#include <bit>
#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "config.hpp"
#include "conninfo_uri.hpp"
#include "conninfo_values.hpp"

namespace pgcoro::detail {

// Bare when that reads back unchanged, else single-quoted with '\' before
// every quote and backslash.
inline std::string quote_conninfo_value(std::string_view v) {
    const bool bare = !v.empty() && std::none_of(v.begin(), v.end(), [](char c) {
        return is_conninfo_space(c) || c == '\'' || c == '\\';
    });
    if (bare) return std::string(v);
    std::string out = "'";
    for (char c : v) {
        if (c == '\'' || c == '\\') out += '\\';
        out += c;
    }
    return out + "'";
}

template <class T>
std::string join_with_commas(const std::vector<T>& items) {
    std::string out;
    for (std::size_t i = 0; i < items.size(); ++i) {
        if (i) out += ',';
        if constexpr (std::is_same_v<T, std::string>)
            out += items[i];
        else
            out += std::to_string(items[i]);
    }
    return out;
}

// The shorter of the two require_auth spellings: the allowed methods, or the
// forbidden ones each with '!'. Nothing allowed can only be said the second way.
inline std::string format_require_auth(auth_methods methods) {
    const auto allowed_count = std::popcount(methods.mask);
    const bool negative = allowed_count == 0 || allowed_count > static_cast<int>(auth_method_names.size()) / 2;
    std::string out;
    for (const auto& [name, method] : auth_method_names) {
        if (methods.allows(method) == negative) continue;
        if (!out.empty()) out += ',';
        if (negative) out += '!';
        out += name;
    }
    return out;
}

// A dbname that looks like a connection string would be expanded when read
// back; wrapped in one ("dbname='...'"), it is taken literally, since only
// the first level is expanded.
inline std::string dbname_for_conninfo(const std::string& dbname) {
    if (!looks_like_connection_string(dbname)) return dbname;
    return "dbname=" + quote_conninfo_value(dbname);
}

}  // namespace pgcoro::detail
