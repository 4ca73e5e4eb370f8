// Splits a byte stream into backend messages: a type byte and a 32-bit length
// that counts itself. The caller keeps reading until a whole message is there.
#pragma once

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

// Looks at the front of `input`. Throws protocol_violation for a length below 4
// and message_too_large for one above `max_message_size`.
inline frame next_frame(std::string_view input, std::size_t max_message_size) {
    frame f;
    if (input.size() < header_size) return f;
    const auto* p = reinterpret_cast<const unsigned char*>(input.data());
    const std::uint32_t length = (std::uint32_t{p[1]} << 24) | (std::uint32_t{p[2]} << 16) |
                                 (std::uint32_t{p[3]} << 8) | std::uint32_t{p[4]};
    if (length < 4) {
        throw_protocol_violation("invalid message length " + std::to_string(length) + " for " +
                                 describe_message_type(static_cast<message_type>(input[0])));
    }
    if (length > max_message_size) {
        throw error(errc::message_too_large, "server sent a message of " + std::to_string(length) +
                                                 " bytes, more than the limit of " +
                                                 std::to_string(max_message_size) + " (config::max_message_size)");
    }
    f.needed = std::size_t{length} + 1;
    if (input.size() < f.needed) return f;
    f.complete = true;
    f.message.type = static_cast<message_type>(input[0]);
    f.message.body = input.substr(header_size, length - 4);
    return f;
}

}  // namespace pgcoro::protocol
