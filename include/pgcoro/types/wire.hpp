// Network-byte-order integers appended to and read from byte strings: the
// building blocks of every binary codec.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "codec_errors.hpp"

namespace pgcoro::detail {

// Writes sizeof(Unsigned) bytes at p.
template <class Unsigned>
inline void store_be(char* p, Unsigned v) noexcept {
    for (std::size_t i = 0; i < sizeof(Unsigned); ++i)
        p[i] = static_cast<char>(v >> (8 * (sizeof(Unsigned) - 1 - i)));
}

template <class Unsigned>
inline void append_be(std::string& out, Unsigned v) {
    char bytes[sizeof(Unsigned)];
    store_be(bytes, v);
    out.append(bytes, sizeof(Unsigned));
}

inline void append_u8(std::string& out, std::uint8_t v) { out.push_back(static_cast<char>(v)); }
inline void append_u16(std::string& out, std::uint16_t v) { append_be(out, v); }
inline void append_u32(std::string& out, std::uint32_t v) { append_be(out, v); }
inline void append_u64(std::string& out, std::uint64_t v) { append_be(out, v); }
inline void append_i16(std::string& out, std::int16_t v) { append_be(out, static_cast<std::uint16_t>(v)); }
inline void append_i32(std::string& out, std::int32_t v) { append_be(out, static_cast<std::uint32_t>(v)); }
inline void append_i64(std::string& out, std::int64_t v) { append_be(out, static_cast<std::uint64_t>(v)); }

// Reads sizeof(Unsigned) bytes at p; the caller has checked they are there.
template <class Unsigned>
inline Unsigned load_be(const char* p) noexcept {
    Unsigned v = 0;
    for (std::size_t i = 0; i < sizeof(Unsigned); ++i)
        v = static_cast<Unsigned>((v << 8) | static_cast<unsigned char>(p[i]));
    return v;
}

// Sequential bounds-checked reads of a binary value; `what` names the value
// ("binary numeric") in the error a short read throws.
class wire_reader {
public:
    wire_reader(std::string_view bytes, std::string_view what) noexcept : bytes_(bytes), what_(what) {}

    std::uint8_t u8() { return static_cast<std::uint8_t>(*take(1)); }
    std::uint16_t u16() { return load_be<std::uint16_t>(take(2)); }
    std::int16_t i16() { return static_cast<std::int16_t>(u16()); }
    std::uint32_t u32() { return load_be<std::uint32_t>(take(4)); }
    std::int32_t i32() { return static_cast<std::int32_t>(u32()); }
    std::uint64_t u64() { return load_be<std::uint64_t>(take(8)); }
    std::int64_t i64() { return static_cast<std::int64_t>(u64()); }
    std::string_view bytes(std::size_t n) { return {take(n), n}; }

    std::size_t remaining() const noexcept { return bytes_.size() - at_; }
    void expect_end() const {
        if (at_ != bytes_.size()) throw_invalid(what_, std::to_string(remaining()) + " unexpected trailing bytes");
    }
    std::string_view what() const noexcept { return what_; }

private:
    const char* take(std::size_t n) {
        if (bytes_.size() - at_ < n) throw_invalid(what_, "truncated");
        const char* p = bytes_.data() + at_;
        at_ += n;
        return p;
    }
    std::string_view bytes_;
    std::string_view what_;
    std::size_t at_ = 0;
};

// Checks a fixed-width binary value's size; returns its first byte.
inline const char* expect_size(std::string_view bytes, std::size_t size, std::string_view what) {
    if (bytes.size() != size) throw_bad_size(what, size, bytes.size());
    return bytes.data();
}

}  // namespace pgcoro::detail
