// Percent-decoding of connection URI parts, as libpq does it: every %xy
// becomes the byte 0xxy, '+' stays '+', and %00 is refused because the
// result travels as a NUL-terminated string in the startup packet.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "conninfo_keywords.hpp"

namespace pgcoro::detail {

constexpr std::optional<int> hex_digit_value(char c) noexcept {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return std::nullopt;
}

enum class percent_decode_failure { bad_token, nul_byte };

// Decodes s, or says why it cannot be decoded. Never throws.
inline std::optional<std::string> try_percent_decode(std::string_view s, percent_decode_failure* why = nullptr) {
    std::string out;
    out.reserve(s.size());
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] != '%') {
            out += s[i];
            continue;
        }
        const auto hi = i + 1 < s.size() ? hex_digit_value(s[i + 1]) : std::nullopt;
        const auto lo = i + 2 < s.size() ? hex_digit_value(s[i + 2]) : std::nullopt;
        if (!hi || !lo) {
            if (why) *why = percent_decode_failure::bad_token;
            return std::nullopt;
        }
        const int byte = *hi * 16 + *lo;
        if (byte == 0) {
            if (why) *why = percent_decode_failure::nul_byte;
            return std::nullopt;
        }
        out += static_cast<char>(byte);
        i += 2;
    }
    return out;
}

// Decodes one URI part. A non-empty `hidden_part` names the part in the
// error instead of quoting it, for text that must not be shown (a password);
// otherwise the error quotes the part as libpq does.
inline std::string percent_decode(std::string_view s, std::string_view hidden_part = {}) {
    percent_decode_failure why{};
    if (auto decoded = try_percent_decode(s, &why)) return std::move(*decoded);
    const std::string shown = hidden_part.empty() ? "\"" + std::string(s) + "\"" : "in the " + std::string(hidden_part);
    if (why == percent_decode_failure::nul_byte)
        throw_invalid_config(hidden_part.empty() ? "forbidden value %00 in percent-encoded value: " + shown
                                                 : "forbidden value %00 in percent-encoded value " + shown);
    throw_invalid_config(hidden_part.empty() ? "invalid percent-encoded token: " + shown
                                             : "invalid percent-encoded token " + shown);
}

}  // namespace pgcoro::detail
