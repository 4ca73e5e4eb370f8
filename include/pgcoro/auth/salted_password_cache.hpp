// Remembers SCRAM salted passwords so that a reconnect with the same password,
// salt and iteration count skips the PBKDF2 rounds, the dominant client cost of
// a SCRAM login. Entries are keyed by a hash of the inputs, so the cache holds
// no plaintext password.
#pragma once

#include <array>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "crypto.hpp"

namespace pgcoro::auth {

class salted_password_cache {
public:
    static constexpr std::size_t capacity = 16;

    static sha256_digest key_for(std::string_view password, std::string_view salt, std::uint32_t iterations) {
        std::string input;
        input.reserve(password.size() + salt.size() + 16);
        input += password;
        input += '\0';
        input += salt;
        input += '\0';
        input += std::to_string(iterations);
        return sha256(input);
    }

    std::optional<sha256_digest> find(const sha256_digest& key) {
        std::lock_guard lock(mutex_);
        for (auto& e : entries_) {
            if (e.used && e.key == key) {
                e.last_use = ++clock_;
                ++hits_;
                return e.salted_password;
            }
        }
        return std::nullopt;
    }

    void insert(const sha256_digest& key, const sha256_digest& salted_password) {
        std::lock_guard lock(mutex_);
        entry* victim = &entries_[0];
        for (auto& e : entries_) {
            if (e.used && e.key == key) { victim = &e; break; }
            if (!e.used) { victim = &e; break; }
            if (e.last_use < victim->last_use) victim = &e;
        }
        *victim = entry{key, salted_password, ++clock_, true};
    }

    void clear() {
        std::lock_guard lock(mutex_);
        entries_ = {};
        hits_ = 0;
    }

    std::size_t size() {
        std::lock_guard lock(mutex_);
        std::size_t n = 0;
        for (const auto& e : entries_) n += e.used;
        return n;
    }
    std::uint64_t hits() {
        std::lock_guard lock(mutex_);
        return hits_;
    }

    // The process-wide cache every connection uses.
    static salted_password_cache& global() {
        static salted_password_cache instance;
        return instance;
    }

private:
    struct entry {
        sha256_digest key{};
        sha256_digest salted_password{};
        std::uint64_t last_use = 0;
        bool used = false;
    };
    std::mutex mutex_;
    std::array<entry, capacity> entries_{};
    std::uint64_t clock_ = 0;
    std::uint64_t hits_ = 0;
};

// Hi(password, salt, i) through the cache.
inline sha256_digest salted_password(std::string_view password, std::string_view salt, std::uint32_t iterations,
                                     salted_password_cache& cache = salted_password_cache::global()) {
    const auto key = salted_password_cache::key_for(password, salt, iterations);
    if (auto hit = cache.find(key)) return *hit;
    auto value = pbkdf2_sha256(password, salt, iterations);
    cache.insert(key, value);
    return value;
}

}  // namespace pgcoro::auth
