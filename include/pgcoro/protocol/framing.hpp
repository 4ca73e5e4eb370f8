// Splits a byte stream into backend messages: a type byte and a 32-bit length
// that counts itself. The caller keeps reading until a whole message is there.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "message_reader.hpp"
#include "message_type.hpp"

namespace pgcoro::protocol {

inline constexpr std::size_t header_size = 5;

struct backend_message {
    message_type type{};
    std::string_view body;  // without type and length
};

struct frame {
    // Bytes the caller must have before a message is complete; when `complete`
    // is false this is at least header_size and more than what is buffered.
    std::size_t needed = header_size;
    bool complete = false;
    backend_message message;
};

// Most messages are short whatever the query: libpq refuses more than
// 30,000 bytes for any type but those that carry user data (its
// VALID_LONG_MESSAGE_TYPE), and 2,000 for an authentication request. Before
// the session starts nothing carries user data, so every message gets the
// short limit (see session::started).
inline constexpr std::size_t short_message_limit = 30'000;
inline constexpr std::size_t authentication_message_limit = 2'000;

// The types whose size follows the data: rows, their description, COPY
// data, and the server's own texts. ParameterDescription counts too (65,535
// parameters take 262 KB), where libpq does not let it. A notification's
// payload is at most 8,000 bytes, so NotificationResponse stays short.
constexpr bool may_be_long(message_type t) noexcept {
    using enum message_type;
    switch (t) {
    case data_row:
    case row_description:
    case copy_data:
    case function_call_response:
    case error_response:
    case notice_response:
    case parameter_description: return true;
    default: return false;
    }
}

// The largest length (counting itself) a message of type `t` may announce
// when long ones may reach `long_limit`; before the session starts
// (`starting`), none is long.
constexpr std::size_t message_size_limit(message_type t, std::size_t long_limit, bool starting = false) noexcept {
    if (t == message_type::data_row && !starting) [[likely]]
        return long_limit;
    if (t == message_type::authentication) return std::min(authentication_message_limit, long_limit);
    return may_be_long(t) && !starting ? long_limit : std::min(short_message_limit, long_limit);
}

[[noreturn, gnu::cold, gnu::noinline]] inline void throw_message_too_large(message_type t, std::size_t length,
                                                                          std::size_t long_limit, bool starting) {
    const auto limit = message_size_limit(t, long_limit, starting);
    const char* which = limit == long_limit            ? " (config::max_message_size)"
                        : may_be_long(t) && starting ? " (no message before the session starts may be longer)"
                                                     : " (the fixed limit for this message type)";
    throw error(errc::message_too_large, "server sent a " + describe_message_type(t) + " of " + std::to_string(length) +
                                             " bytes, more than the limit of " + std::to_string(limit) + which);
}

[[noreturn, gnu::cold, gnu::noinline]] inline void throw_invalid_length(message_type t, std::uint32_t length) {
    throw_protocol_violation("invalid message length " + std::to_string(length) + " for " + describe_message_type(t));
}

// Looks at the front of `input`. Throws protocol_violation for a length below
// 4 and message_too_large for one above message_size_limit(). Inlined: it
// runs for every message a session reads, where the call cost a fifth of it.
[[gnu::always_inline]] inline frame next_frame(std::string_view input, std::size_t long_limit, bool starting = false) {
    frame f;
    if (input.size() < header_size) return f;
    const auto* p = reinterpret_cast<const unsigned char*>(input.data());
    const std::uint32_t length = (std::uint32_t{p[1]} << 24) | (std::uint32_t{p[2]} << 16) |
                                 (std::uint32_t{p[3]} << 8) | std::uint32_t{p[4]};
    const auto type = static_cast<message_type>(input[0]);
    if (length < 4) [[unlikely]]
        throw_invalid_length(type, length);
    if (length > message_size_limit(type, long_limit, starting)) [[unlikely]]
        throw_message_too_large(type, length, long_limit, starting);
    f.needed = std::size_t{length} + 1;
    if (input.size() < f.needed) return f;
    f.complete = true;
    f.message.type = type;
    f.message.body = input.substr(header_size, length - 4);
    return f;
}

}  // namespace pgcoro::protocol
