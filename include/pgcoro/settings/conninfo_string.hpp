// The keyword=value form of a connection string, read with libpq's rules:
// whitespace may surround '=', a value is either bare (up to the next
// whitespace) or single-quoted, and a backslash takes the next character
// literally in both forms.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "conninfo_keywords.hpp"

namespace pgcoro::detail {

constexpr bool is_conninfo_space(char c) noexcept {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

inline std::string at_offset(std::size_t offset) { return " at offset " + std::to_string(offset); }

// The text after an unquoted password may be the rest of a password that
// contained a space; errors about it must not echo it.
inline std::string describe_token_after_secret(std::string_view secret_keyword) {
    return "(text not shown: it follows an unquoted \"" + std::string(secret_keyword) +
           "\" value; quote values that contain spaces)";
}

inline conninfo_settings parse_keyword_value_string(std::string_view s) {
    conninfo_settings settings;
    std::string_view previous_secret;  // keyword of the previous value, if secret and unquoted
    std::size_t i = 0;
    const auto n = s.size();
    while (i < n) {
        if (is_conninfo_space(s[i])) {
            ++i;
            continue;
        }

        const auto name_start = i;
        while (i < n && s[i] != '=' && !is_conninfo_space(s[i])) ++i;
        const std::string keyword(s.substr(name_start, i - name_start));
        while (i < n && is_conninfo_space(s[i])) ++i;
        if (i == n || s[i] != '=') {
            if (!previous_secret.empty())
                throw_invalid_config("missing \"=\" in connection info string" + at_offset(name_start) + " " +
                                     describe_token_after_secret(previous_secret));
            throw_invalid_config("missing \"=\" after \"" + keyword + "\" in connection info string" +
                                 at_offset(name_start));
        }
        ++i;
        while (i < n && is_conninfo_space(s[i])) ++i;

        std::string value;
        const bool quoted = i < n && s[i] == '\'';
        if (!quoted) {
            while (i < n && !is_conninfo_space(s[i])) {
                if (s[i] == '\\') {
                    ++i;
                    if (i < n) value += s[i++];
                } else {
                    value += s[i++];
                }
            }
        } else {
            const auto quote_offset = i++;
            for (;;) {
                if (i == n)
                    throw_invalid_config("unterminated quoted string in connection info string (the value of \"" +
                                         keyword + "\", opened at offset " + std::to_string(quote_offset) + ")");
                if (s[i] == '\\') {
                    ++i;
                    if (i < n) value += s[i++];
                    continue;
                }
                if (s[i] == '\'') {
                    ++i;
                    break;
                }
                value += s[i++];
            }
        }

        const auto* kw = find_supported_keyword(keyword);
        if (!previous_secret.empty() && !kw && keyword != "requiressl")
            throw_invalid_config("invalid connection option" + at_offset(name_start) + " " +
                                 describe_token_after_secret(previous_secret));
        const std::string unknown = "invalid connection option \"" + keyword + "\"" + at_offset(name_start);
        previous_secret = (!quoted && kw && kw->secret) ? kw->name : std::string_view{};
        if (auto setting = accept_setting(keyword, std::move(value), unknown)) settings.push_back(std::move(*setting));
    }
    return settings;
}

}  // namespace pgcoro::detail
