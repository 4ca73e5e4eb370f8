// Builds the TLS client context for one connection attempt from the config,
// with libpq's sslmode semantics. Certificates and keys are read afresh each
// time (file path or in-memory PEM), so rotated files take effect at the next
// connection without a restart.
#pragma once

#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <string_view>

#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/asio/ip/address.hpp>
#include <boost/asio/ssl.hpp>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "../settings/config.hpp"
#include "../settings/conninfo_values.hpp"
#include "../settings/os_defaults.hpp"
#include "../error.hpp"

namespace pgcoro::detail {

namespace asio = boost::asio;

inline bool is_pem_text(std::string_view s) noexcept { return s.find("-----BEGIN") != std::string_view::npos; }

inline std::string home_directory() {
    if (const char* home = std::getenv("HOME"); home && *home) return home;
    if (const passwd* pw = getpwuid(geteuid()); pw && pw->pw_dir) return pw->pw_dir;
    return {};
}

// libpq's default location of a TLS file under ~/.postgresql/.
inline std::string default_tls_path(std::string_view file) {
    auto home = home_directory();
    return home.empty() ? std::string{} : home + "/.postgresql/" + std::string(file);
}

inline bool file_exists(const std::string& path) {
    struct stat st {};
    return !path.empty() && ::stat(path.c_str(), &st) == 0;
}

inline std::string openssl_reason() {
    const unsigned long e = ERR_peek_last_error();
    ERR_clear_error();
    if (e == 0) return "unknown OpenSSL error";
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    return buf;
}

[[noreturn]] inline void throw_tls_setup(const std::string& what) { throw error(errc::tls_error, what); }

inline bool is_ip_literal(std::string_view host) {
    boost::system::error_code ec;
    asio::ip::make_address(std::string(host), ec);
    return !ec;
}

// What one TLS attempt uses: the context and whether the peer is verified.
struct tls_setup {
    std::unique_ptr<asio::ssl::context> context;
    bool verify_chain = false;
    bool verify_host = false;
};

// The OpenSSL constant for a TLS version setting.
inline int openssl_protocol_version(tls_protocol v) noexcept {
    switch (v) {
    case tls_protocol::tls1_0: return TLS1_VERSION;
    case tls_protocol::tls1_1: return TLS1_1_VERSION;
    case tls_protocol::tls1_2: return TLS1_2_VERSION;
    case tls_protocol::tls1_3: return TLS1_3_VERSION;
    }
    return 0;
}

inline std::string_view tls_protocol_name(tls_protocol v) noexcept { return name_of(v, tls_protocol_names); }

// ssl_min/max_protocol_version; 0 as OpenSSL's maximum means "the newest it knows".
inline void limit_protocol_versions(asio::ssl::context& ctx, const config& cfg) {
    const int max = cfg.ssl_max_protocol_version ? openssl_protocol_version(*cfg.ssl_max_protocol_version) : 0;
    if (SSL_CTX_set_min_proto_version(ctx.native_handle(), openssl_protocol_version(cfg.ssl_min_protocol_version)) != 1 ||
        SSL_CTX_set_max_proto_version(ctx.native_handle(), max) != 1)
        throw_tls_setup("could not set the SSL protocol version range: " + openssl_reason());
}

// Adds every CRL in PEM text to the store; fails when there is none.
inline void add_crls_from_pem(X509_STORE* store, const std::string& pem) {
    std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), &BIO_free);
    if (!bio) throw_tls_setup("could not read SSL certificate revocation list from PEM text: out of memory");
    int added = 0;
    while (X509_CRL* crl = PEM_read_bio_X509_CRL(bio.get(), nullptr, nullptr, nullptr)) {
        const int ok = X509_STORE_add_crl(store, crl);
        X509_CRL_free(crl);
        if (ok != 1) throw_tls_setup("could not add SSL certificate revocation list from PEM text: " + openssl_reason());
        ++added;
    }
    ERR_clear_error();  // the end of the text reads as a PEM error
    if (added == 0) throw_tls_setup("could not read SSL certificate revocation list from PEM text: no X509 CRL in it");
}

inline void add_crl_file(X509_STORE* store, const std::string& path) {
    if (!file_exists(path)) throw_tls_setup("SSL certificate revocation list file \"" + path + "\" does not exist");
    X509_LOOKUP* lookup = X509_STORE_add_lookup(store, X509_LOOKUP_file());
    if (!lookup || X509_load_crl_file(lookup, path.c_str(), X509_FILETYPE_PEM) <= 0)
        throw_tls_setup("could not load SSL certificate revocation list file \"" + path + "\": " + openssl_reason());
}

// The directory is only looked into during verification (by issuer hash),
// so a name that is not a directory must be caught here.
inline void add_crl_directory(X509_STORE* store, const std::string& path) {
    if (!is_directory(path)) throw_tls_setup("SSL certificate revocation list directory \"" + path + "\" does not exist");
    X509_LOOKUP* lookup = X509_STORE_add_lookup(store, X509_LOOKUP_hash_dir());
    if (!lookup || X509_LOOKUP_add_dir(lookup, path.c_str(), X509_FILETYPE_PEM) != 1)
        throw_tls_setup("could not use SSL certificate revocation list directory \"" + path + "\": " + openssl_reason());
}

// The CRLs to check the server's chain against: sslcrl and sslcrldir, else
// libpq's default ~/.postgresql/root.crl when it exists. As libpq, with a CRL
// every certificate of the chain must be covered by one from its issuer
// (CRL_CHECK_ALL), so a CRL for an intermediate CA cannot be left out.
inline void load_revocation_lists(asio::ssl::context& ctx, const config& cfg) {
    std::string file = cfg.sslcrl;
    if (file.empty() && cfg.sslcrldir.empty()) {
        file = default_tls_path("root.crl");
        if (!file_exists(file)) return;
    }
    X509_STORE* store = SSL_CTX_get_cert_store(ctx.native_handle());
    if (is_pem_text(file)) add_crls_from_pem(store, file);
    else if (!file.empty()) add_crl_file(store, file);
    if (!cfg.sslcrldir.empty()) add_crl_directory(store, cfg.sslcrldir);
    X509_STORE_set_flags(store, X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL);
}

inline void load_root_certificates(asio::ssl::context& ctx, const std::string& source) {
    boost::system::error_code ec;
    if (source == "system") {
        ctx.set_default_verify_paths(ec);
        if (ec) throw_tls_setup("could not load the system's trusted root certificates: " + ec.message());
    } else if (is_pem_text(source)) {
        ctx.add_certificate_authority(asio::buffer(source), ec);
        if (ec) throw_tls_setup("could not read root certificate from PEM text: " + ec.message());
    } else {
        ctx.load_verify_file(source, ec);
        if (ec) throw_tls_setup("could not read root certificate file \"" + source + "\": " + ec.message());
    }
}

// libpq refuses a private key file that others can read.
inline void check_key_file_permissions(const std::string& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) throw_tls_setup("could not access private key file \"" + path + "\"");
    if (!S_ISREG(st.st_mode)) throw_tls_setup("private key file \"" + path + "\" is not a regular file");
    const bool root_owned = st.st_uid == 0;
    const mode_t forbidden = root_owned ? (S_IWGRP | S_IXGRP | S_IRWXO) : (S_IRWXG | S_IRWXO);
    if (st.st_mode & forbidden)
        throw_tls_setup("private key file \"" + path +
                        "\" has group or world access; file must have permissions u=rw (0600) or less if owned "
                        "by the current user, or permissions u=rw,g=r (0640) or less if owned by root");
}

inline void load_client_certificate(asio::ssl::context& ctx, const config& cfg) {
    std::string cert = cfg.sslcert.empty() ? default_tls_path("postgresql.crt") : cfg.sslcert;
    const bool cert_pem = is_pem_text(cert);
    if (!cert_pem && !file_exists(cert)) return;  // libpq: no certificate, no error

    boost::system::error_code ec;
    if (cert_pem) ctx.use_certificate_chain(asio::buffer(cert), ec);
    else ctx.use_certificate_chain_file(cert, ec);
    if (ec) throw_tls_setup(cert_pem ? "could not read client certificate from PEM text: " + ec.message()
                                     : "could not read client certificate file \"" + cert + "\": " + ec.message());

    std::string key = cfg.sslkey.empty() ? default_tls_path("postgresql.key") : cfg.sslkey;
    const bool key_pem = is_pem_text(key);
    if (!key_pem) {
        if (!file_exists(key)) throw_tls_setup("certificate present, but not private key file \"" + key + "\"");
        check_key_file_permissions(key);
    }
    const std::string passphrase = cfg.sslpassword;
    ctx.set_password_callback([passphrase](std::size_t, asio::ssl::context::password_purpose) { return passphrase; });
    if (key_pem) ctx.use_private_key(asio::buffer(key), asio::ssl::context::pem, ec);
    else ctx.use_private_key_file(key, asio::ssl::context::pem, ec);
    if (ec) {
        std::string what = key_pem ? "could not load private key from PEM text" : "could not load private key file \"" + key + "\"";
        what += cfg.sslpassword.empty() ? " (if it is encrypted, set sslpassword)" : " (wrong sslpassword?)";
        throw_tls_setup(what + ": " + ec.message());
    }
    if (SSL_CTX_check_private_key(ctx.native_handle()) != 1)
        throw_tls_setup("client certificate and private key do not match: " + openssl_reason());
}

inline tls_setup make_tls_setup(const config& cfg) {
    tls_setup s;
    s.context = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_client);
    auto& ctx = *s.context;
    limit_protocol_versions(ctx, cfg);
    ctx.set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_compression);

    std::string root = cfg.sslrootcert.empty() ? default_tls_path("root.crt") : cfg.sslrootcert;
    const bool have_root = root == "system" || is_pem_text(root) || file_exists(root);
    const bool must_verify = cfg.sslmode == ssl_mode::verify_ca || cfg.sslmode == ssl_mode::verify_full;
    if (must_verify && !have_root) {
        throw_tls_setup("root certificate file \"" + root +
                        "\" does not exist\nEither provide the file, use the system's trusted roots with "
                        "sslrootcert=system, or change sslmode to disable server certificate verification.");
    }
    if (have_root) {
        // As libpq: whenever a root certificate is there, the chain is verified,
        // so sslmode=require with a root certificate behaves as verify-ca.
        load_root_certificates(ctx, root);
        load_revocation_lists(ctx, cfg);
        ctx.set_verify_mode(asio::ssl::verify_peer);
        s.verify_chain = true;
    } else {
        ctx.set_verify_mode(asio::ssl::verify_none);
    }
    s.verify_host = cfg.sslmode == ssl_mode::verify_full;
    // sslcertmode=disable: as libpq, a configured certificate is not even loaded.
    if (cfg.sslcertmode != ssl_cert_mode::disable) load_client_certificate(ctx, cfg);
    return s;
}

// Whether the server asked for a client certificate in the handshake and
// whether one was there to send: what sslcertmode=require checks.
struct client_certificate_request {
    bool requested = false;
    bool sent = false;
};

// OpenSSL's certificate callback, run when the server asks for a certificate.
inline int note_certificate_request(SSL* ssl, void* arg) {
    auto* request = static_cast<client_certificate_request*>(arg);
    request->requested = true;
    request->sent = SSL_get_certificate(ssl) != nullptr;
    return 1;  // go on with whatever certificate is loaded (or none)
}

// Per-connection settings on the SSL object: SNI and the host name check.
// `certificate_request`, when given, records what the server asks for; it
// must outlive the handshake.
inline void prepare_tls_stream(SSL* ssl, const config& cfg, const tls_setup& setup, const std::string& host,
                               client_certificate_request* certificate_request = nullptr) {
    if (certificate_request) SSL_set_cert_cb(ssl, &note_certificate_request, certificate_request);
    const bool ip = is_ip_literal(host);
    if (cfg.sslsni && !ip && !host.empty() && host.front() != '/') {
        if (SSL_set_tlsext_host_name(ssl, host.c_str()) != 1) throw_tls_setup("could not set SNI host name: " + openssl_reason());
    }
    if (setup.verify_host) {
        if (host.empty()) throw_tls_setup("host name must be specified for a verified SSL connection (sslmode=verify-full)");
        X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
        X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
        const int ok = ip ? X509_VERIFY_PARAM_set1_ip_asc(param, host.c_str())
                          : X509_VERIFY_PARAM_set1_host(param, host.c_str(), host.size());
        if (ok != 1) throw_tls_setup("could not set the host name to verify: " + openssl_reason());
    }
}

// OpenSSL's reasons for "the two sides share no protocol version" (the list
// libpq gives its hint for).
inline bool is_protocol_version_failure(const boost::system::error_code& ec) {
    if (ec.category() != asio::error::get_ssl_category()) return false;
    switch (ERR_GET_REASON(static_cast<unsigned long>(ec.value()))) {
    case SSL_R_NO_PROTOCOLS_AVAILABLE:
    case SSL_R_UNSUPPORTED_PROTOCOL:
    case SSL_R_BAD_PROTOCOL_VERSION_NUMBER:
    case SSL_R_UNKNOWN_PROTOCOL:
    case SSL_R_UNKNOWN_SSL_VERSION:
    case SSL_R_UNSUPPORTED_SSL_VERSION:
    case SSL_R_WRONG_SSL_VERSION:
    case SSL_R_WRONG_VERSION_NUMBER:
    case SSL_R_TLSV1_ALERT_PROTOCOL_VERSION:
    case SSL_R_VERSION_TOO_HIGH:
    case SSL_R_VERSION_TOO_LOW:
        return true;
    default:
        return false;
    }
}

// libpq's hint, with the range this client allowed.
inline std::string protocol_range_hint(const config& cfg) {
    const auto max = cfg.ssl_max_protocol_version ? tls_protocol_name(*cfg.ssl_max_protocol_version) : "TLSv1.3";
    return " (this may indicate that the server does not support any SSL protocol version between " +
           std::string(tls_protocol_name(cfg.ssl_min_protocol_version)) + " and " + std::string(max) +
           ": see ssl_min_protocol_version and ssl_max_protocol_version)";
}

// Why a handshake failed, in words: the verification result when there is
// one (a revoked certificate reads "certificate revoked"), else OpenSSL's
// reason, with a hint when no protocol version was acceptable to both sides.
inline std::string describe_tls_failure(SSL* ssl, const boost::system::error_code& ec, const std::string& host,
                                        const config& cfg) {
    const long verify = SSL_get_verify_result(ssl);
    if (verify == X509_V_ERR_HOSTNAME_MISMATCH || verify == X509_V_ERR_IP_ADDRESS_MISMATCH)
        return "server certificate does not match host name \"" + host + "\"";
    if (verify != X509_V_OK)
        return std::string("server certificate verification failed: ") + X509_verify_cert_error_string(verify);
    std::string what = "TLS handshake failed: " + ec.message();
    if (is_protocol_version_failure(ec)) what += protocol_range_hint(cfg);
    return what;
}

// The protocol version a TLS connection negotiated ("TLSv1.3").
inline std::string_view negotiated_tls_version(const SSL* ssl) noexcept { return SSL_get_version(ssl); }

// tls-server-end-point channel binding data (RFC 5929): the hash of the
// server certificate, with SHA-256 standing in for MD5 and SHA-1.
inline std::string server_end_point_hash(SSL* ssl) {
    X509* cert = SSL_get0_peer_certificate(ssl);
    if (!cert) throw error(errc::tls_error, "could not get the server certificate for channel binding");
    int md_nid = NID_undef;
    if (X509_get_signature_info(cert, &md_nid, nullptr, nullptr, nullptr) != 1)
        throw error(errc::tls_error, "could not determine the server certificate's signature algorithm");
    const EVP_MD* md = (md_nid == NID_md5 || md_nid == NID_sha1 || md_nid == NID_undef) ? EVP_sha256() : EVP_get_digestbynid(md_nid);
    if (!md) throw error(errc::tls_error, "unsupported server certificate signature algorithm for channel binding");
    unsigned char buf[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (X509_digest(cert, md, buf, &len) != 1) throw error(errc::tls_error, "could not hash the server certificate");
    return {reinterpret_cast<const char*>(buf), len};
}

}  // namespace pgcoro::detail
