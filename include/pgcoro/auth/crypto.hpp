// The few cryptographic primitives authentication needs, on OpenSSL's EVP
// one-shot functions. Fixed-size outputs live in std::array to avoid allocation.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "../error.hpp"

namespace pgcoro::auth {

using sha256_digest = std::array<unsigned char, 32>;

[[noreturn]] inline void throw_crypto_failure(const char* what) {
    throw error(errc::auth_failed, std::string("OpenSSL failure in ") + what);
}

inline const unsigned char* bytes_of(std::string_view s) noexcept {
    return reinterpret_cast<const unsigned char*>(s.data());
}
inline std::string_view view_of(const sha256_digest& d) noexcept {
    return {reinterpret_cast<const char*>(d.data()), d.size()};
}

inline sha256_digest sha256(std::string_view data) {
    sha256_digest out{};
    unsigned int len = 0;
    if (EVP_Digest(data.data(), data.size(), out.data(), &len, EVP_sha256(), nullptr) != 1) throw_crypto_failure("SHA-256");
    return out;
}

inline sha256_digest hmac_sha256(std::string_view key, std::string_view data) {
    sha256_digest out{};
    unsigned int len = 0;
    if (!HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), bytes_of(data), data.size(), out.data(), &len))
        throw_crypto_failure("HMAC-SHA-256");
    return out;
}

// PBKDF2-HMAC-SHA-256 with a 32-byte output: SCRAM's Hi() function.
inline sha256_digest pbkdf2_sha256(std::string_view password, std::string_view salt, std::uint32_t iterations) {
    sha256_digest out{};
    if (PKCS5_PBKDF2_HMAC(password.data(), static_cast<int>(password.size()), bytes_of(salt),
                          static_cast<int>(salt.size()), static_cast<int>(iterations), EVP_sha256(),
                          static_cast<int>(out.size()), out.data()) != 1)
        throw_crypto_failure("PBKDF2");
    return out;
}

// Lower-case hex MD5, as PostgreSQL's md5 authentication uses it.
inline std::string md5_hex(std::string_view data) {
    std::array<unsigned char, 16> digest{};
    unsigned int len = 0;
    if (EVP_Digest(data.data(), data.size(), digest.data(), &len, EVP_md5(), nullptr) != 1) throw_crypto_failure("MD5");
    static constexpr char hex[] = "0123456789abcdef";
    std::string out(32, '\0');
    for (std::size_t i = 0; i < digest.size(); ++i) {
        out[2 * i] = hex[digest[i] >> 4];
        out[2 * i + 1] = hex[digest[i] & 0xf];
    }
    return out;
}

inline void random_bytes(unsigned char* out, std::size_t n) {
    if (RAND_bytes(out, static_cast<int>(n)) != 1) throw_crypto_failure("RAND_bytes");
}

// Compares secrets without a timing side channel.
inline bool constant_time_equal(std::string_view a, std::string_view b) noexcept {
    return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

inline std::string base64_encode(std::string_view in) {
    static constexpr char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    out.reserve((in.size() + 2) / 3 * 4);
    std::size_t i = 0;
    for (; i + 3 <= in.size(); i += 3) {
        const std::uint32_t v = (std::uint32_t{static_cast<unsigned char>(in[i])} << 16) |
                                (std::uint32_t{static_cast<unsigned char>(in[i + 1])} << 8) |
                                std::uint32_t{static_cast<unsigned char>(in[i + 2])};
        out += alphabet[(v >> 18) & 63];
        out += alphabet[(v >> 12) & 63];
        out += alphabet[(v >> 6) & 63];
        out += alphabet[v & 63];
    }
    if (const auto rest = in.size() - i; rest > 0) {
        std::uint32_t v = std::uint32_t{static_cast<unsigned char>(in[i])} << 16;
        if (rest == 2) v |= std::uint32_t{static_cast<unsigned char>(in[i + 1])} << 8;
        out += alphabet[(v >> 18) & 63];
        out += alphabet[(v >> 12) & 63];
        out += rest == 2 ? alphabet[(v >> 6) & 63] : '=';
        out += '=';
    }
    return out;
}

// Strict: canonical padding required, no whitespace; std::nullopt otherwise.
inline std::optional<std::string> base64_decode(std::string_view in) {
    if (in.size() % 4 != 0) return std::nullopt;
    auto value = [](char c) -> int {
        if (c >= 'A' && c <= 'Z') return c - 'A';
        if (c >= 'a' && c <= 'z') return c - 'a' + 26;
        if (c >= '0' && c <= '9') return c - '0' + 52;
        if (c == '+') return 62;
        if (c == '/') return 63;
        return -1;
    };
    std::string out;
    out.reserve(in.size() / 4 * 3);
    for (std::size_t i = 0; i < in.size(); i += 4) {
        const bool last = i + 4 == in.size();
        const int pad = (in[i + 3] == '=') + (in[i + 2] == '=' && in[i + 3] == '=');
        if (pad && !last) return std::nullopt;
        int v[4];
        for (int k = 0; k < 4 - pad; ++k) {
            v[k] = value(in[i + static_cast<std::size_t>(k)]);
            if (v[k] < 0) return std::nullopt;
        }
        const std::uint32_t n = (static_cast<std::uint32_t>(v[0]) << 18) | (static_cast<std::uint32_t>(v[1]) << 12) |
                                (pad < 2 ? static_cast<std::uint32_t>(v[2]) << 6 : 0) |
                                (pad < 1 ? static_cast<std::uint32_t>(v[3]) : 0);
        // Reject non-canonical encodings whose unused bits are set.
        if ((pad == 1 && (n & 0xff)) || (pad == 2 && (n & 0xffff))) return std::nullopt;
        out += static_cast<char>(n >> 16);
        if (pad < 2) out += static_cast<char>((n >> 8) & 0xff);
        if (pad < 1) out += static_cast<char>(n & 0xff);
    }
    return out;
}

}  // namespace pgcoro::auth
