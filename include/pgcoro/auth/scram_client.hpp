// The client side of SCRAM-SHA-256 and SCRAM-SHA-256-PLUS (RFC 5802, RFC 7677)
// as PostgreSQL uses it: an empty user name in the messages (the server takes
// the startup packet's), and tls-server-end-point channel binding. Sans-I/O:
// the caller moves the three messages between this object and the socket.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "../error.hpp"
#include "crypto.hpp"
#include "salted_password_cache.hpp"

namespace pgcoro::auth {

inline constexpr std::string_view scram_sha_256 = "SCRAM-SHA-256";
inline constexpr std::string_view scram_sha_256_plus = "SCRAM-SHA-256-PLUS";

// The GS2 channel-binding flag the client sends.
enum class channel_binding_use {
    unsupported,     // "n": no TLS, or channel binding disabled
    server_lacks_it, // "y": the client could bind but the server did not offer PLUS
    bound,           // "p=tls-server-end-point": SCRAM-SHA-256-PLUS
};

[[noreturn]] inline void throw_scram_failure(const std::string& why) {
    throw error(errc::auth_failed, "SCRAM authentication failed: " + why);
}

inline std::string make_scram_nonce() {
    unsigned char raw[18];
    random_bytes(raw, sizeof raw);
    return base64_encode({reinterpret_cast<const char*>(raw), sizeof raw});
}

class scram_client {
public:
    // `password` must already be SASLprep'd. `binding_data` is the hash of the
    // server certificate when `use` is bound. `nonce` is injectable for tests.
    // `user` stays empty for PostgreSQL, which takes the startup packet's user;
    // RFC test vectors set it.
    scram_client(std::string password, channel_binding_use use, std::string binding_data,
                 std::uint32_t max_iterations, std::string nonce = make_scram_nonce(), std::string_view user = {})
        : password_(std::move(password)), use_(use), binding_data_(std::move(binding_data)),
          max_iterations_(max_iterations), client_nonce_(std::move(nonce)), user_(escape_name(user)) {}

    std::string_view mechanism() const noexcept { return use_ == channel_binding_use::bound ? scram_sha_256_plus : scram_sha_256; }

    std::string client_first_message() {
        client_first_bare_ = "n=" + user_ + ",r=" + client_nonce_;
        return gs2_header() + client_first_bare_;
    }

    // Takes server-first-message, returns client-final-message.
    std::string client_final_message(std::string_view server_first) {
        parse_server_first(server_first);
        std::string channel_binding_input = gs2_header();
        if (use_ == channel_binding_use::bound) channel_binding_input += binding_data_;
        std::string final_without_proof = "c=" + base64_encode(channel_binding_input) + ",r=" + combined_nonce_;

        auth_message_ = client_first_bare_;
        auth_message_ += ',';
        auth_message_ += server_first;
        auth_message_ += ',';
        auth_message_ += final_without_proof;

        const auto salted = salted_password(password_, salt_, iterations_);
        const auto client_key = hmac_sha256(view_of(salted), "Client Key");
        const auto stored_key = sha256(view_of(client_key));
        const auto client_signature = hmac_sha256(view_of(stored_key), auth_message_);
        sha256_digest proof{};
        for (std::size_t i = 0; i < proof.size(); ++i) proof[i] = client_key[i] ^ client_signature[i];
        server_key_ = hmac_sha256(view_of(salted), "Server Key");

        return final_without_proof + ",p=" + base64_encode(view_of(proof));
    }

    // Checks server-final-message; throws unless it carries the signature only
    // a server that knows the verifier can compute.
    void verify_server_final(std::string_view server_final) {
        if (auth_message_.empty()) throw_scram_failure("server-final-message arrived before client-final-message");
        if (server_final.starts_with("e=")) {
            throw_scram_failure("server reported error \"" + printable(server_final.substr(2)) + "\"");
        }
        if (!server_final.starts_with("v=")) throw_scram_failure("malformed server-final-message");
        auto sig_b64 = server_final.substr(2);
        sig_b64 = sig_b64.substr(0, sig_b64.find(','));  // extensions may follow
        const auto signature = base64_decode(sig_b64);
        if (!signature) throw_scram_failure("malformed server signature");
        const auto expected = hmac_sha256(view_of(server_key_), auth_message_);
        if (!constant_time_equal(*signature, view_of(expected))) throw_scram_failure("invalid server signature");
        verified_ = true;
    }

    bool server_verified() const noexcept { return verified_; }
    std::uint32_t iterations() const noexcept { return iterations_; }

private:
    std::string gs2_header() const {
        switch (use_) {
        case channel_binding_use::bound: return "p=tls-server-end-point,,";
        case channel_binding_use::server_lacks_it: return "y,,";
        case channel_binding_use::unsupported: break;
        }
        return "n,,";
    }

    // saslname: ',' and '=' are written =2C and =3D (RFC 5802 section 5.1).
    static std::string escape_name(std::string_view name) {
        std::string out;
        for (char c : name) {
            if (c == ',') out += "=2C";
            else if (c == '=') out += "=3D";
            else out += c;
        }
        return out;
    }

    static std::string printable(std::string_view s) {
        std::string out;
        for (char c : s.substr(0, 200)) out += (c >= 0x20 && c < 0x7f) ? c : '?';
        return out;
    }

    // server-first-message = [reserved-mext ","] nonce "," salt "," iteration-count ["," extensions]
    void parse_server_first(std::string_view msg) {
        if (msg.starts_with("m=")) throw_scram_failure("server requires an unsupported SCRAM extension");
        auto take = [&](char attr) -> std::string_view {
            if (msg.size() < 2 || msg[0] != attr || msg[1] != '=')
                throw_scram_failure(std::string("malformed server-first-message: expected attribute '") + attr + "'");
            msg.remove_prefix(2);
            const auto comma = msg.find(',');
            auto value = msg.substr(0, comma);
            msg = comma == std::string_view::npos ? std::string_view{} : msg.substr(comma + 1);
            return value;
        };
        const auto nonce = take('r');
        const auto salt_b64 = take('s');
        const auto iterations = take('i');

        if (nonce.size() <= client_nonce_.size() || !nonce.starts_with(client_nonce_))
            throw_scram_failure("server nonce does not extend the client nonce");
        for (char c : nonce)
            if (c < 0x21 || c > 0x7e || c == ',') throw_scram_failure("server nonce contains invalid characters");
        combined_nonce_ = nonce;

        auto salt = base64_decode(salt_b64);
        if (!salt || salt->empty()) throw_scram_failure("malformed salt");
        salt_ = std::move(*salt);

        if (iterations.empty() || iterations.size() > 10) throw_scram_failure("malformed iteration count");
        std::uint64_t n = 0;
        for (char c : iterations) {
            if (c < '0' || c > '9') throw_scram_failure("malformed iteration count");
            n = n * 10 + static_cast<std::uint64_t>(c - '0');
        }
        if (n == 0) throw_scram_failure("iteration count is zero");
        if (n > max_iterations_)
            throw_scram_failure("server asked for " + std::to_string(n) + " iterations, more than the limit of " +
                                std::to_string(max_iterations_) + " (config::max_scram_iterations)");
        iterations_ = static_cast<std::uint32_t>(n);
    }

    std::string password_;
    channel_binding_use use_;
    std::string binding_data_;
    std::uint32_t max_iterations_;
    std::string client_nonce_;
    std::string user_;
    std::string client_first_bare_;
    std::string combined_nonce_;
    std::string salt_;
    std::uint32_t iterations_ = 0;
    std::string auth_message_;
    sha256_digest server_key_{};
    bool verified_ = false;
};

}  // namespace pgcoro::auth
