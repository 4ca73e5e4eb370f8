// Appends frontend messages to a caller-owned buffer. Reusing one buffer (its
// capacity survives clear()) keeps steady-state encoding free of allocation.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace pgcoro::protocol {

using buffer = std::string;

// Raw appends for the per-query messages. std::string's members are compiled
// out of line (libstdc++ instantiates them once), so a message written byte by
// byte costs a call per field; these grow the buffer once and fill it in place.
inline char* extend(buffer& out, std::size_t n) {
    const auto at = out.size();
    out.resize(at + n);
    return out.data() + at;
}
inline char* put_be16(char* p, std::uint16_t v) noexcept {
    p[0] = static_cast<char>(v >> 8);
    p[1] = static_cast<char>(v);
    return p + 2;
}
inline char* put_be32(char* p, std::uint32_t v) noexcept {
    p[0] = static_cast<char>(v >> 24);
    p[1] = static_cast<char>(v >> 16);
    p[2] = static_cast<char>(v >> 8);
    p[3] = static_cast<char>(v);
    return p + 4;
}
inline char* put_cstring(char* p, std::string_view s) noexcept {
    if (!s.empty()) std::memcpy(p, s.data(), s.size());
    p[s.size()] = '\0';
    return p + s.size() + 1;
}

class message_writer {
public:
    explicit message_writer(buffer& out) noexcept : out_(out) {}

    // Starts a message with a type byte; length is patched by finish().
    message_writer& begin(char type) {
        out_.push_back(type);
        return begin_untyped();
    }
    // Startup-phase packets (StartupMessage, SSLRequest, CancelRequest) have no type byte.
    message_writer& begin_untyped() {
        start_ = out_.size();
        out_.append(4, '\0');
        return *this;
    }
    void finish() noexcept {
        put_be32_at(start_, static_cast<std::uint32_t>(out_.size() - start_));
    }

    message_writer& int8(std::uint8_t v) { out_.push_back(static_cast<char>(v)); return *this; }
    message_writer& int16(std::int16_t v) {
        put_be16(extend(out_, 2), static_cast<std::uint16_t>(v));
        return *this;
    }
    message_writer& int32(std::int32_t v) {
        put_be32(extend(out_, 4), static_cast<std::uint32_t>(v));
        return *this;
    }
    message_writer& bytes(std::string_view s) { out_.append(s); return *this; }
    // A NUL-terminated string; the protocol cannot carry embedded NULs in these.
    message_writer& cstring(std::string_view s) { out_.append(s); out_.push_back('\0'); return *this; }

    std::size_t size() const noexcept { return out_.size(); }
    buffer& out() noexcept { return out_; }

private:
    void put_be32_at(std::size_t at, std::uint32_t v) noexcept { put_be32(out_.data() + at, v); }

    buffer& out_;
    std::size_t start_ = 0;
};

}  // namespace pgcoro::protocol
