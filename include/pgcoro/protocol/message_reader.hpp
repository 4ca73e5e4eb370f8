// A bounds-checked cursor over one backend message body. Every read checks the
// remaining length, so a malformed or hostile message raises a protocol error
// instead of reading past the buffer.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "../error.hpp"

namespace pgcoro::protocol {

[[noreturn]] inline void throw_protocol_violation(std::string_view what) {
    throw error(errc::protocol_violation, "protocol violation: " + std::string(what));
}

class message_reader {
public:
    // `message` names the message type in error texts, e.g. "DataRow".
    message_reader(std::string_view body, const char* message) noexcept : data_(body), message_(message) {}

    std::uint8_t int8() { need(1); return static_cast<std::uint8_t>(data_[pos_++]); }
    std::int16_t int16() {
        need(2);
        const auto v = static_cast<std::uint16_t>((byte(0) << 8) | byte(1));
        pos_ += 2;
        return static_cast<std::int16_t>(v);
    }
    std::int32_t int32() { return static_cast<std::int32_t>(uint32()); }
    std::uint32_t uint32() {
        need(4);
        const std::uint32_t v = (std::uint32_t{byte(0)} << 24) | (std::uint32_t{byte(1)} << 16) |
                                (std::uint32_t{byte(2)} << 8) | std::uint32_t{byte(3)};
        pos_ += 4;
        return v;
    }
    std::string_view bytes(std::size_t n) {
        need(n);
        auto s = data_.substr(pos_, n);
        pos_ += n;
        return s;
    }
    std::string_view cstring() {
        const auto end = data_.find('\0', pos_);
        if (end == std::string_view::npos) fail("unterminated string");
        auto s = data_.substr(pos_, end - pos_);
        pos_ = end + 1;
        return s;
    }
    std::string_view rest() noexcept {
        auto s = data_.substr(pos_);
        pos_ = data_.size();
        return s;
    }

    std::size_t remaining() const noexcept { return data_.size() - pos_; }
    bool at_end() const noexcept { return pos_ == data_.size(); }
    // Messages with a fixed layout must be consumed exactly.
    void expect_end() const {
        if (!at_end()) fail("unexpected trailing bytes");
    }

    [[noreturn]] void fail(std::string_view why) const {
        std::string s = "malformed ";
        s += message_;
        s += " message: ";
        s += why;
        throw_protocol_violation(s);
    }

private:
    unsigned byte(std::size_t i) const noexcept { return static_cast<unsigned char>(data_[pos_ + i]); }
    void need(std::size_t n) const {
        if (data_.size() - pos_ < n) fail("truncated");
    }

    std::string_view data_;
    std::size_t pos_ = 0;
    const char* message_;
};

}  // namespace pgcoro::protocol
