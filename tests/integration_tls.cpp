// TLS against the real server: libpq's sslmode semantics, certificate and
// host name verification, in-memory PEM, client certificates re-read per
// connection.
#include "support/client_certificates.hpp"
#include "support/test_server.hpp"

#include <catch2/catch.hpp>

#include <filesystem>
#include <unistd.h>

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
