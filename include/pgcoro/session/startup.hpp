// The startup phase on an open (and possibly TLS) transport: StartupMessage,
// the authentication exchange, then session parameters up to the first
// ReadyForQuery. Enforces require_auth and channel_binding on the way, so a
// server (or a man in the middle) cannot downgrade the method.
#pragma once

#include <algorithm>
#include <optional>
#include <string>
#include <vector>

#include "../auth/md5_password.hpp"
#include "../auth/saslprep.hpp"
#include "../auth/scram_client.hpp"
#include "../net/tls_setup.hpp"
#include "runner.hpp"
#include "session.hpp"

namespace pgcoro::detail {

[[noreturn]] inline void throw_auth_refused(const std::string& why) {
    throw error(errc::auth_refused_by_client, why);
}

inline std::string_view auth_method_keyword(auth_method m) {
    switch (m) {
    case auth_method::none: return "none";
    case auth_method::password: return "password";
    case auth_method::md5: return "md5";
    case auth_method::scram_sha_256: return "scram-sha-256";
    case auth_method::gss: return "gss";
    case auth_method::sspi: return "sspi";
    }
    return "unknown";
}

// Throws unless require_auth allows `method`; `request` says what the server asked.
inline void check_require_auth(const config& cfg, auth_method method, std::string_view request) {
    if (!cfg.require_auth.allows(method))
        throw_auth_refused("authentication method requirement (require_auth) forbids \"" +
                           std::string(auth_method_keyword(method)) + "\": server " + std::string(request));
}

// libpq 16's sslcertmode=require, checked where libpq checks it: when the
// server says authentication is done, whatever the path (a connection that
// fell back to plaintext never had a certificate requested either).
inline void check_certificate_mode(const session& s) {
    if (s.settings().sslcertmode != ssl_cert_mode::require) return;
    if (!s.client_certificate.requested) throw_auth_refused("server did not request an SSL certificate");
    if (!s.client_certificate.sent) throw_auth_refused("server accepted connection without a valid SSL certificate");
}

inline void check_channel_binding_not_required(const config& cfg, std::string_view request) {
    if (cfg.channel_binding == channel_binding_mode::require)
        throw_auth_refused("channel binding required, but server " + std::string(request));
}

// The password for this host: the configured one, else the password file.
inline std::string resolve_password(const session& s) {
    const auto& cfg = s.settings();
    if (!cfg.password.empty()) return cfg.password;
    const auto path = cfg.passfile.empty() ? default_passfile_path() : cfg.passfile;
    if (auto p = lookup_passfile(path, s.address().host, s.address().port, cfg.dbname, cfg.user)) return *p;
    return {};
}

inline std::string require_password(const session& s) {
    auto p = resolve_password(s);
    if (p.empty())
        throw error(errc::auth_failed, "password authentication failed: the server asked for a password but none was "
                                       "supplied (set password, PGPASSWORD or a password file entry)");
    return p;
}

inline void encode_startup(session& s) {
    const auto& cfg = s.settings();
    std::vector<protocol::startup_parameter> params;
    params.emplace_back("user", cfg.user);
    if (!cfg.dbname.empty()) params.emplace_back("database", cfg.dbname);
    const auto& app = cfg.application_name.empty() ? cfg.fallback_application_name : cfg.application_name;
    if (!app.empty()) params.emplace_back("application_name", app);
    if (!cfg.options.empty()) params.emplace_back("options", cfg.options);
    // Strings cross the API as UTF-8, and the text-format decoders of dates
    // and timestamps read DateStyle=ISO only. PgBouncer tracks DateStyle and
    // re-applies it to every server connection it hands this client, so it
    // may stay here. IntervalStyle may not: PgBouncer before 1.20 refuses a
    // startup parameter it does not track (08P01 "unsupported startup
    // parameter"), so intervals are read in whatever style the server prints.
    params.emplace_back("client_encoding", "UTF8");
    params.emplace_back("DateStyle", "ISO");
    protocol::encode_startup_message(s.out(), params);
}

// The startup phase as a message exchange: the authentication requests
// (each answered with a write), then BackendKeyData, and ReadyForQuery.
class startup_exchange {
public:
    void start(session& s) {
        encode_startup(s);
        s.expect_ready();
    }

    next_step on_message(session& s, const protocol::backend_message& m) {
        using enum protocol::message_type;
        switch (m.type) {
        case negotiate_protocol_version: {
            if (authenticated_) return next_step::unexpected;
            auto v = protocol::decode_negotiate_protocol_version(m.body);
            if (v.newest_minor < 0) protocol::throw_protocol_violation("NegotiateProtocolVersion with a negative version");
            return next_step::read;  // we asked for 3.0 and no _pq_ options; any answer is compatible
        }
        case authentication:
            if (authenticated_) return next_step::unexpected;
            return on_authentication(s, protocol::decode_authentication(m.body));
        case backend_key_data:
            if (!authenticated_) return next_step::unexpected;
            s.key = protocol::decode_backend_key_data(m.body);
            return next_step::read;
        case ready_for_query:
            if (!authenticated_) return next_step::unexpected;
            s.started();
            return next_step::done;
        default: return next_step::unexpected;
        }
    }
    // Any error ends the startup (the server closes the connection).
    next_step on_error(session&, diagnostics&& d) { throw server_error(std::move(d)); }
    const char* during() const noexcept { return authenticated_ ? "during startup" : "during authentication"; }

private:
    next_step on_authentication(session& s, const protocol::authentication_request& request) {
        const auto& cfg = s.settings();
        if (std::holds_alternative<protocol::auth_ok>(request)) {
            if (scram_ && !scram_->server_verified())
                throw_auth_refused("server sent AuthenticationOk before completing SCRAM authentication");
            if (!authenticated_by_method_) {
                check_require_auth(cfg, auth_method::none, "did not request authentication");
                check_channel_binding_not_required(cfg, "authenticated the client without channel binding");
            }
            if (cfg.channel_binding == channel_binding_mode::require && !channel_bound_)
                throw_auth_refused("channel binding required, but server authenticated the client without channel binding");
            check_certificate_mode(s);
            authenticated_ = true;
            return next_step::read;
        }
        if (std::holds_alternative<protocol::auth_cleartext_password>(request)) {
            check_require_auth(cfg, auth_method::password, "requested a cleartext password");
            check_channel_binding_not_required(cfg, "requested a cleartext password");
            authenticated_by_method_ = true;
            s.authentication = "password";
            protocol::encode_password_message(s.out(), require_password(s));
        } else if (auto* md5 = std::get_if<protocol::auth_md5_password>(&request)) {
            check_require_auth(cfg, auth_method::md5, "requested a hashed password");
            check_channel_binding_not_required(cfg, "requested a hashed password");
            authenticated_by_method_ = true;
            s.authentication = "md5";
            protocol::encode_password_message(s.out(), auth::md5_password_response(cfg.user, require_password(s), md5->salt));
        } else if (auto* sasl = std::get_if<protocol::auth_sasl>(&request)) {
            start_sasl(s, *sasl);
        } else if (auto* cont = std::get_if<protocol::auth_sasl_continue>(&request)) {
            if (!scram_) protocol::throw_protocol_violation("SASLContinue without a SASL exchange");
            protocol::encode_sasl_response(s.out(), scram_->client_final_message(cont->data));
        } else if (auto* fin = std::get_if<protocol::auth_sasl_final>(&request)) {
            if (!scram_) protocol::throw_protocol_violation("SASLFinal without a SASL exchange");
            scram_->verify_server_final(fin->data);
            return next_step::read;  // AuthenticationOk follows
        } else {
            const auto code = std::get<protocol::auth_unsupported>(request).code;
            throw error(errc::auth_unsupported, "server requested " + std::string(protocol::auth_method_name(code)) +
                                                    " authentication, which pgcoro does not support");
        }
        return next_step::write;
    }

    void start_sasl(session& s, const protocol::auth_sasl& sasl) {
        const auto& cfg = s.settings();
        check_require_auth(cfg, auth_method::scram_sha_256, "requested SASL authentication");
        if (scram_) protocol::throw_protocol_violation("duplicate SASL authentication request");
        authenticated_by_method_ = true;
        auto offered = [&](std::string_view mech) {
            return std::find(sasl.mechanisms.begin(), sasl.mechanisms.end(), mech) != sasl.mechanisms.end();
        };
        const bool tls = s.stream().is_tls();
        auth::channel_binding_use use = auth::channel_binding_use::unsupported;
        std::string binding;
        if (tls && cfg.channel_binding != channel_binding_mode::disable && offered(auth::scram_sha_256_plus)) {
            use = auth::channel_binding_use::bound;
            binding = server_end_point_hash(s.stream().tls().native_handle());
        } else if (cfg.channel_binding == channel_binding_mode::require) {
            throw_auth_refused(tls ? "channel binding is required, but server did not offer an authentication "
                                     "method that supports channel binding"
                                   : "channel binding is required, but the connection does not use TLS");
        } else if (!offered(auth::scram_sha_256)) {
            throw error(errc::auth_unsupported, "none of the server's SASL authentication mechanisms are supported");
        } else if (tls && cfg.channel_binding != channel_binding_mode::disable) {
            use = auth::channel_binding_use::server_lacks_it;
        }
        channel_bound_ = use == auth::channel_binding_use::bound;
        scram_.emplace(auth::prepare_scram_password(require_password(s)), use, std::move(binding), cfg.max_scram_iterations);
        s.authentication = scram_->mechanism();
        protocol::encode_sasl_initial_response(s.out(), scram_->mechanism(), scram_->client_first_message());
    }

    std::optional<auth::scram_client> scram_;
    bool authenticated_by_method_ = false;  // the server asked for some method
    bool channel_bound_ = false;
    bool authenticated_ = false;            // AuthenticationOk came
};

// Runs the whole startup phase. On return the session is at ReadyForQuery.
inline asio::awaitable<void> run_startup(session& s) {
    startup_exchange exchange;
    exchange.start(s);
    co_await run_exchange(s, exchange);
}

}  // namespace pgcoro::detail
