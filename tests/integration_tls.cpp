// TLS against the real server: libpq's sslmode semantics, certificate and
// host name verification, in-memory PEM, client certificates re-read per
// connection, CRLs, sslcertmode and the protocol version range.
#include "support/client_certificates.hpp"
#include "support/fake_server.hpp"
#include "support/test_server.hpp"

#include "support/catch.hpp"

#include <cstdlib>
#include <filesystem>
#include <unistd.h>

namespace integration_tls {

using test::config_of;
using test::mint_client_cert;
using test::run;

namespace {

boost::asio::awaitable<bool> connects_with_tls(pgcoro::config cfg) {
    auto conn = co_await pgcoro::connection::connect(std::move(cfg));
    auto r = co_await conn.query("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()");
    const bool server_says = r.at(0).get<bool>(0);
    const bool client_says = conn.uses_tls();
    co_await conn.close();
    if (server_says != client_says) throw std::runtime_error("client and server disagree about TLS");
    co_return server_says;
}

std::string ca() { return test::env("PGCORO_TEST_CA"); }

}  // namespace

TEST_CASE("sslmode against TLS-only, plaintext-only and either-way hba lines behaves as libpq") {
    struct expectation {
        const char* role;
        const char* password;
        const char* sslmode;
        int outcome;  // 1: TLS, 0: plaintext, -1: fails
    };
    const expectation table[] = {
        {"pgcoro_ssl_only", "ssl_only_pw", "disable", -1},
        {"pgcoro_ssl_only", "ssl_only_pw", "allow", 1},    // plaintext refused by hba, retried with TLS
        {"pgcoro_ssl_only", "ssl_only_pw", "prefer", 1},
        {"pgcoro_ssl_only", "ssl_only_pw", "require", 1},
        {"pgcoro_nossl_only", "nossl_only_pw", "disable", 0},
        {"pgcoro_nossl_only", "nossl_only_pw", "allow", 0},
        {"pgcoro_nossl_only", "nossl_only_pw", "prefer", 0},  // refused over TLS, retried in plaintext
        {"pgcoro_nossl_only", "nossl_only_pw", "require", -1},
        {"pgcoro_scram", "scram_pw", "disable", 0},
        {"pgcoro_scram", "scram_pw", "allow", 0},
        {"pgcoro_scram", "scram_pw", "prefer", 1},
        {"pgcoro_scram", "scram_pw", "require", 1},
    };
    for (const auto& e : table) {
        // sslrootcert pointing nowhere: no default ~/.postgresql/root.crt may change require's meaning.
        const auto conninfo = test::tcp_conninfo(std::string("user=") + e.role + " password=" + e.password +
                                                 " sslmode=" + e.sslmode + " sslrootcert=/nonexistent/root.crt");
        INFO(conninfo);
        if (e.outcome < 0) {
            auto f = run(test::connect_failure(config_of(conninfo)));
            REQUIRE(f);
            CHECK(f->sqlstate == "28000");  // no pg_hba.conf entry
        } else {
            CHECK(run(connects_with_tls(config_of(conninfo))) == (e.outcome == 1));
        }
    }
}

TEST_CASE("sslmode is ignored on a Unix socket, as libpq does") {
    CHECK_FALSE(run(connects_with_tls(config_of(test::unix_conninfo("user=pgcoro_scram password=scram_pw sslmode=require")))));
}

TEST_CASE("verify-ca and verify-full check the chain and the host name") {
    const auto user = std::string("user=pgcoro_scram password=scram_pw ");
    SECTION("the right CA") {
        CHECK(run(connects_with_tls(config_of(test::tcp_conninfo(user + "sslmode=verify-ca sslrootcert=" + ca())))));
        CHECK(run(connects_with_tls(config_of(test::tcp_conninfo(user + "sslmode=verify-full sslrootcert=" + ca())))));
        CHECK(run(connects_with_tls(config_of("host=localhost port=" + test::port() + " dbname=pgcoro " + user +
                                              "sslmode=verify-full sslrootcert=" + ca()))));
    }
    SECTION("an untrusted CA fails verify-ca, verify-full, and require with a root certificate") {
        for (const char* mode : {"verify-ca", "verify-full", "require"}) {
            INFO(mode);
            auto f = run(test::connect_failure(config_of(test::tcp_conninfo(
                user + "sslmode=" + mode + " sslrootcert=" + test::env("PGCORO_TEST_OTHER_CA")))));
            REQUIRE(f);
            CHECK(f->code == pgcoro::errc::tls_error);
            CHECK_THAT(f->what, Catch::Contains("certificate verif"));
        }
    }
    SECTION("a host name the certificate does not name fails verify-full but not verify-ca") {
        const auto wrong = "host=wrong.example hostaddr=" + test::host() + " port=" + test::port() + " dbname=pgcoro " + user;
        auto f = run(test::connect_failure(config_of(wrong + "sslmode=verify-full sslrootcert=" + ca())));
        REQUIRE(f);
        CHECK(f->code == pgcoro::errc::tls_error);
        CHECK_THAT(f->what, Catch::Contains("does not match host name \"wrong.example\""));
        CHECK(run(connects_with_tls(config_of(wrong + "sslmode=verify-ca sslrootcert=" + ca()))));
    }
    SECTION("verification without a root certificate is refused before connecting") {
        auto f = run(test::connect_failure(config_of(test::tcp_conninfo(user + "sslmode=verify-full sslrootcert=/nonexistent/root.crt"))));
        REQUIRE(f);
        CHECK(f->code == pgcoro::errc::tls_error);
        CHECK_THAT(f->what, Catch::Contains("root certificate file \"/nonexistent/root.crt\" does not exist"));
    }
}

TEST_CASE("certificates and keys can be given as in-memory PEM") {
    auto cfg = config_of(test::tcp_conninfo("user=pgcoro_cert sslmode=verify-full"));
    cfg.sslrootcert = test::read_file(ca());
    cfg.sslcert = test::read_file(test::env("PGCORO_TEST_CLIENT_CERT"));
    cfg.sslkey = test::read_file(test::env("PGCORO_TEST_CLIENT_KEY"));
    CHECK(run(test::scalar(cfg, "SELECT current_user")) == "pgcoro_cert");

    SECTION("an encrypted PEM key with sslpassword") {
        cfg.sslkey = test::read_file(test::env("PGCORO_TEST_CLIENT_KEY_ENCRYPTED"));
        cfg.sslpassword = test::env("PGCORO_TEST_CLIENT_KEY_PASSWORD");
        CHECK(run(test::scalar(cfg, "SELECT current_user")) == "pgcoro_cert");
    }
}

TEST_CASE("client certificate authentication from files") {
    const auto files = " sslcert=" + test::env("PGCORO_TEST_CLIENT_CERT") + " sslrootcert=" + ca();
    CHECK(run(test::scalar(config_of(test::tcp_conninfo("user=pgcoro_cert sslmode=verify-full sslkey=" +
                                                        test::env("PGCORO_TEST_CLIENT_KEY") + files)),
                           "SELECT current_user")) == "pgcoro_cert");
    SECTION("an encrypted key needs sslpassword") {
        const auto encrypted = "user=pgcoro_cert sslmode=verify-full sslkey=" + test::env("PGCORO_TEST_CLIENT_KEY_ENCRYPTED") + files;
        CHECK(run(test::scalar(config_of(test::tcp_conninfo(encrypted + " sslpassword=" +
                                                            test::env("PGCORO_TEST_CLIENT_KEY_PASSWORD"))),
                               "SELECT current_user")) == "pgcoro_cert");
        auto f = run(test::connect_failure(config_of(test::tcp_conninfo(encrypted))));
        REQUIRE(f);
        CHECK(f->code == pgcoro::errc::tls_error);
        CHECK_THAT(f->what, Catch::Contains("sslpassword"));
        auto g = run(test::connect_failure(config_of(test::tcp_conninfo(encrypted + " sslpassword=wrong"))));
        REQUIRE(g);
        CHECK_THAT(g->what, Catch::Contains("sslpassword"));
        CHECK_THAT(g->what, !Catch::Contains("=wrong"));
    }
}

TEST_CASE("a client certificate replaced on disk is the one the next connection presents") {
    const auto dir = std::filesystem::temp_directory_path() / ("pgcoro-rotate-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    const auto cert = (dir / "client.crt").string();
    const auto key = (dir / "client.key").string();
    const auto cfg = config_of(test::tcp_conninfo("user=pgcoro_cert sslmode=verify-full sslrootcert=" + ca() +
                                                  " sslcert=" + cert + " sslkey=" + key));
    const auto serial_sql = "SELECT client_serial::text FROM pg_stat_ssl WHERE pid = pg_backend_pid()";

    mint_client_cert(cert, key, 4242);
    CHECK(run(test::scalar(cfg, serial_sql)) == "4242");
    mint_client_cert(cert, key, 4343);
    CHECK(run(test::scalar(cfg, serial_sql)) == "4343");
    std::filesystem::remove_all(dir);
}

TEST_CASE("a key file readable by others is refused, as libpq does") {
    const auto dir = std::filesystem::temp_directory_path() / ("pgcoro-perm-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    const auto key = (dir / "client.key").string();
    std::filesystem::copy_file(test::env("PGCORO_TEST_CLIENT_KEY"), key);
    std::filesystem::permissions(key, std::filesystem::perms::owner_read | std::filesystem::perms::others_read);
    auto f = run(test::connect_failure(config_of(test::tcp_conninfo(
        "user=pgcoro_cert sslmode=verify-full sslrootcert=" + ca() + " sslcert=" + test::env("PGCORO_TEST_CLIENT_CERT") +
        " sslkey=" + key))));
    REQUIRE(f);
    CHECK_THAT(f->what, Catch::Contains("group or world access"));
    std::filesystem::remove_all(dir);
}

namespace {

const std::string scram_user = "user=pgcoro_scram password=scram_pw ";

std::string verify_ca_conninfo() { return test::tcp_conninfo(scram_user + "sslmode=verify-ca sslrootcert=" + ca()); }

void check_revoked(const std::optional<test::failure>& f) {
    REQUIRE(f);
    CHECK(f->code == pgcoro::errc::tls_error);
    CHECK_THAT(f->what, Catch::Contains("server certificate verification failed: certificate revoked"));
}

// Points HOME elsewhere for one test (libpq's default files live under it),
// and back afterwards.
class home_directory_override {
public:
    explicit home_directory_override(const std::string& home) {
        if (const char* h = std::getenv("HOME")) saved_ = h;
        ::setenv("HOME", home.c_str(), 1);
    }
    ~home_directory_override() {
        if (saved_) ::setenv("HOME", saved_->c_str(), 1);
        else ::unsetenv("HOME");
    }
    home_directory_override(const home_directory_override&) = delete;
    home_directory_override& operator=(const home_directory_override&) = delete;

private:
    std::optional<std::string> saved_;
};

}  // namespace

TEST_CASE("sslcrl and sslcrldir: a revoked server certificate is refused, an empty CRL lets it through", "[tls][crl]") {
    SECTION("a CRL file revoking the server certificate") {
        check_revoked(run(test::connect_failure(config_of(verify_ca_conninfo() + " sslcrl=" + test::env("PGCORO_TEST_CRL_REVOKED")))));
    }
    SECTION("the same CRL as PEM text") {
        auto cfg = config_of(verify_ca_conninfo());
        cfg.sslcrl = test::read_file(test::env("PGCORO_TEST_CRL_REVOKED"));
        check_revoked(run(test::connect_failure(cfg)));
    }
    SECTION("a hashed CRL directory holding it") {
        check_revoked(run(test::connect_failure(config_of(verify_ca_conninfo() + " sslcrldir=" + test::env("PGCORO_TEST_CRL_DIR_REVOKED")))));
    }
    SECTION("sslmode=require with a root certificate verifies, so it checks the CRL too") {
        check_revoked(run(test::connect_failure(config_of(test::tcp_conninfo(
            scram_user + "sslmode=require sslrootcert=" + ca() + " sslcrl=" + test::env("PGCORO_TEST_CRL_REVOKED"))))));
    }
    SECTION("an empty CRL, as file, PEM text or directory, lets the connection through") {
        CHECK(run(connects_with_tls(config_of(verify_ca_conninfo() + " sslcrl=" + test::env("PGCORO_TEST_CRL_EMPTY")))));
        CHECK(run(connects_with_tls(config_of(verify_ca_conninfo() + " sslcrldir=" + test::env("PGCORO_TEST_CRL_DIR_EMPTY")))));
        auto cfg = config_of(verify_ca_conninfo());
        cfg.sslcrl = test::read_file(test::env("PGCORO_TEST_CRL_EMPTY"));
        CHECK(run(connects_with_tls(cfg)));
    }
    SECTION("without a root certificate nothing is verified, so no CRL is consulted (as libpq)") {
        CHECK(run(connects_with_tls(config_of(test::tcp_conninfo(
            scram_user + "sslmode=require sslrootcert=/nonexistent/root.crt sslcrl=" + test::env("PGCORO_TEST_CRL_REVOKED"))))));
    }
    SECTION("a missing CRL file or directory given explicitly is an error naming it") {
        auto f = run(test::connect_failure(config_of(verify_ca_conninfo() + " sslcrl=/nonexistent/root.crl")));
        REQUIRE(f);
        CHECK(f->code == pgcoro::errc::tls_error);
        CHECK_THAT(f->what, Catch::Contains("certificate revocation list file \"/nonexistent/root.crl\" does not exist"));
        auto g = run(test::connect_failure(config_of(verify_ca_conninfo() + " sslcrldir=/nonexistent/crls")));
        REQUIRE(g);
        CHECK(g->code == pgcoro::errc::tls_error);
        CHECK_THAT(g->what, Catch::Contains("certificate revocation list directory \"/nonexistent/crls\" does not exist"));
    }
    SECTION("a file that holds no CRL is an error naming it") {
        auto f = run(test::connect_failure(config_of(verify_ca_conninfo() + " sslcrl=" + ca())));
        REQUIRE(f);
        CHECK(f->code == pgcoro::errc::tls_error);
        CHECK_THAT(f->what, Catch::Contains("could not load SSL certificate revocation list file \"" + ca() + "\""));
    }
}

TEST_CASE("~/.postgresql/root.crl is used when it exists and neither sslcrl nor sslcrldir is set", "[tls][crl]") {
    const auto home = std::filesystem::temp_directory_path() / ("pgcoro-home-" + std::to_string(::getpid()));
    std::filesystem::create_directories(home / ".postgresql");
    const home_directory_override override_home(home.string());
    const auto conninfo = verify_ca_conninfo();

    CHECK(run(connects_with_tls(config_of(conninfo))));  // no root.crl yet
    std::filesystem::copy_file(test::env("PGCORO_TEST_CRL_REVOKED"), home / ".postgresql" / "root.crl");
    check_revoked(run(test::connect_failure(config_of(conninfo))));
    // An explicit (empty) CRL replaces the default one.
    CHECK(run(connects_with_tls(config_of(conninfo + " sslcrl=" + test::env("PGCORO_TEST_CRL_EMPTY")))));
    std::filesystem::remove_all(home);
}

TEST_CASE("sslcertmode against the real server, which requests a certificate (ssl_ca_file is set)", "[tls][sslcertmode]") {
    const auto files = "user=pgcoro_cert sslmode=verify-full sslrootcert=" + ca() + " sslcert=" +
                       test::env("PGCORO_TEST_CLIENT_CERT") + " sslkey=" + test::env("PGCORO_TEST_CLIENT_KEY");
    SECTION("allow (the default) and require send the certificate; cert authentication succeeds") {
        CHECK(run(test::scalar(config_of(test::tcp_conninfo(files)), "SELECT current_user")) == "pgcoro_cert");
        CHECK(run(test::scalar(config_of(test::tcp_conninfo(files + " sslcertmode=allow")), "SELECT current_user")) == "pgcoro_cert");
        CHECK(run(test::scalar(config_of(test::tcp_conninfo(files + " sslcertmode=require")), "SELECT current_user")) ==
              "pgcoro_cert");
    }
    SECTION("disable sends none although one is configured, so cert authentication fails") {
        auto f = run(test::connect_failure(config_of(test::tcp_conninfo(files + " sslcertmode=disable"))));
        REQUIRE(f);
        CHECK(f->sqlstate == "28000");
        // The same for the in-memory PEM form.
        auto cfg = config_of(test::tcp_conninfo("user=pgcoro_cert sslmode=verify-full sslcertmode=disable"));
        cfg.sslrootcert = test::read_file(ca());
        cfg.sslcert = test::read_file(test::env("PGCORO_TEST_CLIENT_CERT"));
        cfg.sslkey = test::read_file(test::env("PGCORO_TEST_CLIENT_KEY"));
        auto g = run(test::connect_failure(cfg));
        REQUIRE(g);
        CHECK(g->sqlstate == "28000");
    }
    SECTION("require without a certificate to send: the server asked, but accepted none") {
        const auto conninfo = test::tcp_conninfo(scram_user + "sslmode=require sslrootcert=" + ca() +
                                                 " sslcert=/nonexistent/client.crt sslcertmode=");
        CHECK(run(connects_with_tls(config_of(conninfo + "allow"))));
        auto f = run(test::connect_failure(config_of(conninfo + "require")));
        REQUIRE(f);
        CHECK(f->code == pgcoro::errc::auth_refused_by_client);
        CHECK_THAT(f->what, Catch::Contains("server accepted connection without a valid SSL certificate"));
    }
    SECTION("require on a connection without TLS (a Unix socket): no certificate was requested") {
        auto f = run(test::connect_failure(config_of(test::unix_conninfo(scram_user + "sslcertmode=require"))));
        REQUIRE(f);
        CHECK(f->code == pgcoro::errc::auth_refused_by_client);
        CHECK_THAT(f->what, Catch::Contains("server did not request an SSL certificate"));
    }
}

namespace {

namespace asio = boost::asio;

// A TLS server that does not ask for a client certificate: answers SSLRequest,
// does the handshake with the test server's certificate, reads the startup
// packet, says AuthenticationOk and ReadyForQuery, then waits for the hangup.
asio::awaitable<void> tls_peer_without_certificate_request(test::tcp::socket& socket) {
    (void)co_await test::read_packet(socket);  // SSLRequest
    const std::string willing = "S";
    co_await test::send(socket, willing);
    asio::ssl::context ctx(asio::ssl::context::tls_server);
    ctx.use_certificate_chain_file(test::env("PGCORO_TEST_SERVER_CERT"));
    ctx.use_private_key_file(test::env("PGCORO_TEST_SERVER_KEY"), asio::ssl::context::pem);
    ctx.set_verify_mode(asio::ssl::verify_none);
    asio::ssl::stream<test::tcp::socket&> tls(socket, ctx);
    co_await tls.async_handshake(asio::ssl::stream_base::server, asio::use_awaitable);
    unsigned char length[4];
    co_await asio::async_read(tls, asio::buffer(length), asio::use_awaitable);
    std::string startup(static_cast<std::size_t>(length[0] << 24 | length[1] << 16 | length[2] << 8 | length[3]) - 4, '\0');
    co_await asio::async_read(tls, asio::buffer(startup), asio::use_awaitable);
    const auto reply = test::message('R', test::int32(0)) + test::message('Z', "I");
    co_await asio::async_write(tls, asio::buffer(reply), asio::use_awaitable);
    char c;
    for (;;) co_await tls.async_read_some(asio::buffer(&c, 1), asio::use_awaitable);
}

asio::awaitable<std::optional<test::failure>> connect_to_tls_peer(std::string sslcertmode) {
    const auto port = co_await test::start_fake_server(tls_peer_without_certificate_request);
    auto cfg = config_of("host=127.0.0.1 port=" + std::to_string(port) + " user=u dbname=d sslmode=require " +
                         "sslrootcert=/nonexistent/root.crt sslcert=" + test::env("PGCORO_TEST_CLIENT_CERT") +
                         " sslkey=" + test::env("PGCORO_TEST_CLIENT_KEY") + " sslcertmode=" + sslcertmode);
    co_return co_await test::connect_failure(std::move(cfg));
}

}  // namespace

TEST_CASE("sslcertmode=require fails when the server did not request a certificate, even with one at hand", "[tls][sslcertmode]") {
    CHECK_FALSE(run(connect_to_tls_peer("allow")));  // the peer works: without require the connection is made
    auto f = run(connect_to_tls_peer("require"));
    REQUIRE(f);
    CHECK(f->code == pgcoro::errc::auth_refused_by_client);
    CHECK_THAT(f->what, Catch::Contains("server did not request an SSL certificate"));
}

namespace {

// The version the client reports, after checking that the server saw the same.
asio::awaitable<std::string> negotiated_version(pgcoro::config cfg) {
    auto conn = co_await pgcoro::connection::connect(std::move(cfg));
    const std::string client_says(conn.tls_version());
    const std::string sql = "SELECT version FROM pg_stat_ssl WHERE pid = pg_backend_pid()";
    const auto server_says = co_await test::scalar_on(conn, sql);
    co_await conn.close();
    if (client_says != server_says) throw std::runtime_error("client says " + client_says + ", server says " + server_says);
    co_return client_says;
}

asio::awaitable<std::string> version_reported(pgcoro::config cfg) {
    auto conn = co_await pgcoro::connection::connect(std::move(cfg));
    std::string version(conn.tls_version());
    co_await conn.close();
    co_return version;
}

asio::awaitable<void> set_server_max_protocol_version(std::string value) {
    auto admin = co_await pgcoro::connection::connect(config_of(test::tcp_conninfo("user=pgcoro_admin sslmode=disable")));
    const auto alter = value.empty() ? std::string("ALTER SYSTEM RESET ssl_max_protocol_version")
                                     : "ALTER SYSTEM SET ssl_max_protocol_version = '" + value + "'";
    const std::string reload = "SELECT pg_reload_conf()";
    co_await admin.simple_query(alter);
    co_await admin.simple_query(reload);
    co_await admin.close();
}

// The postmaster reloads its TLS settings a moment after pg_reload_conf().
asio::awaitable<void> wait_for_default_version(std::string expected) {
    const auto cfg = config_of(test::tcp_conninfo(scram_user + "sslmode=require sslrootcert=/nonexistent/root.crt"));
    for (int attempt = 0; attempt < 100; ++attempt) {
        if (co_await negotiated_version(cfg) == expected) co_return;
        co_await test::sleep_for(std::chrono::milliseconds(50));
    }
    throw std::runtime_error("the server did not start negotiating " + expected);
}

// Caps the server at TLSv1.2 for one test, and lifts the cap afterwards.
class server_capped_at_tls12 {
public:
    server_capped_at_tls12() {
        run(set_server_max_protocol_version("TLSv1.2"));
        run(wait_for_default_version("TLSv1.2"));
    }
    ~server_capped_at_tls12() {
        try {
            run(set_server_max_protocol_version(""));
            run(wait_for_default_version("TLSv1.3"));
        } catch (const std::exception& e) {
            WARN("could not restore the server's ssl_max_protocol_version: " << e.what());
        }
    }
    server_capped_at_tls12(const server_capped_at_tls12&) = delete;
    server_capped_at_tls12& operator=(const server_capped_at_tls12&) = delete;
};

}  // namespace

TEST_CASE("ssl_min/max_protocol_version choose what the handshake negotiates with the real server", "[tls][protocol_version]") {
    const auto base = test::tcp_conninfo(scram_user + "sslmode=require sslrootcert=" + ca() + " ");
    SECTION("by default the newest both have: TLSv1.3") {
        CHECK(run(negotiated_version(config_of(base))) == "TLSv1.3");
    }
    SECTION("a maximum of TLSv1.2 gives TLSv1.2") {
        CHECK(run(negotiated_version(config_of(base + "ssl_max_protocol_version=TLSv1.2"))) == "TLSv1.2");
    }
    SECTION("a minimum of TLSv1.3 gives TLSv1.3") {
        CHECK(run(negotiated_version(config_of(base + "ssl_min_protocol_version=TLSv1.3"))) == "TLSv1.3");
    }
    SECTION("a client limited to TLSv1.1 (server minimum TLSv1.2) fails with a clear error") {
        auto f = run(test::connect_failure(config_of(base + "ssl_min_protocol_version=TLSv1 ssl_max_protocol_version=TLSv1.1")));
        REQUIRE(f);
        CHECK(f->code == pgcoro::errc::tls_error);
        CHECK_THAT(f->what, Catch::Contains("TLS handshake failed"));
        CHECK_THAT(f->what, Catch::Contains("does not support any SSL protocol version between TLSv1 and TLSv1.1"));
    }
    SECTION("no TLS, no version") {
        CHECK(run(version_reported(config_of(test::tcp_conninfo(scram_user + "sslmode=disable")))).empty());
    }
}

TEST_CASE("a server capped at TLSv1.2 refuses a client that asks for TLSv1.3 at least", "[tls][protocol_version]") {
    const server_capped_at_tls12 capped;
    const auto base = test::tcp_conninfo(scram_user + "sslmode=require sslrootcert=" + ca() + " ");
    CHECK(run(negotiated_version(config_of(base))) == "TLSv1.2");
    auto f = run(test::connect_failure(config_of(base + "ssl_min_protocol_version=TLSv1.3")));
    REQUIRE(f);
    CHECK(f->code == pgcoro::errc::tls_error);
    CHECK_THAT(f->what, Catch::Contains("does not support any SSL protocol version between TLSv1.3 and TLSv1.3"));
}

}  // namespace integration_tls
