// Authentication against the real server: every method with the right and the
// wrong password, require_auth and channel_binding refusing a downgrade.
#include "support/test_server.hpp"

#include "support/catch.hpp"

#include <filesystem>
#include <unistd.h>

namespace integration_auth {

using test::config_of;
using test::run;

namespace {

struct login {
    const char* user;
    const char* password;
    const char* method;  // what authentication_method() must report without TLS
};

const login logins[] = {
    {"pgcoro_trust", "", "none"},
    {"pgcoro_password", "cleartext_pw", "password"},
    {"pgcoro_md5", "md5_pw", "md5"},
    {"pgcoro_scram", "scram_pw", "SCRAM-SHA-256"},
};

std::string user_info(const login& l, const std::string& password) {
    return std::string("user=") + l.user + (password.empty() ? "" : " password='" + password + "'");
}

boost::asio::awaitable<std::string> connect_and_report(pgcoro::config cfg) {
    auto conn = co_await pgcoro::connection::connect(std::move(cfg));
    auto r = co_await conn.query("SELECT current_user");
    auto who = r.at(0).get<std::string>(0);
    std::string method(conn.authentication_method());
    co_await conn.close();
    co_return who + " " + method;
}

}  // namespace

TEST_CASE("each authentication method logs in with the right password, over TCP and the Unix socket") {
    for (const auto& l : logins) {
        for (const bool unix_socket : {false, true}) {
            const auto info = user_info(l, l.password) + " sslmode=disable";
            const auto conninfo = unix_socket ? test::unix_conninfo(info) : test::tcp_conninfo(info);
            INFO(conninfo);
            CHECK(run(connect_and_report(config_of(conninfo))) == std::string(l.user) + " " + l.method);
        }
    }
}

TEST_CASE("a wrong password fails with SQLSTATE 28P01 and the server's message") {
    for (const auto& l : logins) {
        if (std::string_view(l.method) == "none") continue;
        auto f = run(test::connect_failure(config_of(test::tcp_conninfo(user_info(l, "wrong") + " sslmode=disable"))));
        INFO(l.user);
        REQUIRE(f);
        CHECK(f->code == pgcoro::errc::server_error);
        CHECK(f->sqlstate == "28P01");
        CHECK_THAT(f->what, Catch::Contains("password authentication failed for user \"" + std::string(l.user) + "\""));
        CHECK_THAT(f->what, !Catch::Contains("wrong"));
    }
}

TEST_CASE("a missing password is reported without contacting the password prompt") {
    auto f = run(test::connect_failure(config_of(test::tcp_conninfo("user=pgcoro_scram passfile=/nonexistent sslmode=disable"))));
    REQUIRE(f);
    CHECK(f->code == pgcoro::errc::auth_failed);
    CHECK_THAT(f->what, Catch::Contains("none was supplied"));
}

TEST_CASE("startup errors carry their SQLSTATE") {
    SECTION("missing database: 3D000") {
        auto f = run(test::connect_failure(config_of("host=" + test::host() + " port=" + test::port() +
                                                     " dbname=no_such_db user=pgcoro_trust sslmode=disable")));
        REQUIRE(f);
        CHECK(f->sqlstate == "3D000");
        CHECK_THAT(f->what, Catch::Contains("no_such_db"));
    }
    SECTION("unknown role: 28000 or 28P01") {
        auto f = run(test::connect_failure(config_of(test::tcp_conninfo("user=no_such_role password=x sslmode=disable"))));
        REQUIRE(f);
        CHECK((f->sqlstate == "28000" || f->sqlstate == "28P01"));
    }
}

TEST_CASE("SCRAM-SHA-256-PLUS is chosen when TLS is on, plain SCRAM when channel binding is disabled") {
    const auto ca = test::env("PGCORO_TEST_CA");
    const auto base = "user=pgcoro_scram password=scram_pw sslmode=verify-full sslrootcert=" + ca;
    CHECK(run(connect_and_report(config_of(test::tcp_conninfo(base)))) == "pgcoro_scram SCRAM-SHA-256-PLUS");
    CHECK(run(connect_and_report(config_of(test::tcp_conninfo(base + " channel_binding=require")))) ==
          "pgcoro_scram SCRAM-SHA-256-PLUS");
    CHECK(run(connect_and_report(config_of(test::tcp_conninfo(base + " channel_binding=disable")))) ==
          "pgcoro_scram SCRAM-SHA-256");
}

TEST_CASE("channel_binding=require refuses a server that offers less") {
    SECTION("no TLS") {
        auto f = run(test::connect_failure(
            config_of(test::tcp_conninfo("user=pgcoro_scram password=scram_pw sslmode=disable channel_binding=require"))));
        REQUIRE(f);
        CHECK(f->code == pgcoro::errc::auth_refused_by_client);
        CHECK_THAT(f->what, Catch::Contains("channel binding"));
    }
    SECTION("md5 over TLS") {
        auto f = run(test::connect_failure(
            config_of(test::tcp_conninfo("user=pgcoro_md5 password=md5_pw sslmode=require channel_binding=require"))));
        REQUIRE(f);
        CHECK(f->code == pgcoro::errc::auth_refused_by_client);
    }
    SECTION("trust") {
        auto f = run(test::connect_failure(config_of(test::tcp_conninfo("user=pgcoro_trust sslmode=require channel_binding=require"))));
        REQUIRE(f);
        CHECK(f->code == pgcoro::errc::auth_refused_by_client);
    }
}

TEST_CASE("require_auth refuses methods it does not list") {
    struct refusal {
        const char* user;
        const char* password;
        const char* require_auth;
    };
    const refusal refusals[] = {
        {"pgcoro_password", "cleartext_pw", "scram-sha-256"},
        {"pgcoro_password", "cleartext_pw", "!password"},
        {"pgcoro_md5", "md5_pw", "password,scram-sha-256"},
        {"pgcoro_scram", "scram_pw", "md5"},
        {"pgcoro_scram", "scram_pw", "none"},
        {"pgcoro_trust", "", "scram-sha-256"},
        {"pgcoro_trust", "", "!none"},
    };
    for (const auto& r : refusals) {
        INFO(r.user << " require_auth=" << r.require_auth);
        auto f = run(test::connect_failure(config_of(test::tcp_conninfo(
            std::string("user=") + r.user + " password='" + r.password + "' sslmode=disable require_auth=" + r.require_auth))));
        REQUIRE(f);
        CHECK(f->code == pgcoro::errc::auth_refused_by_client);
        CHECK_THAT(f->what, Catch::Contains("require_auth"));
    }
    // ...and accepts the ones it lists.
    CHECK(run(test::scalar(config_of(test::tcp_conninfo("user=pgcoro_md5 password=md5_pw sslmode=disable require_auth=md5,password")),
                           "SELECT 1")) == "1");
    CHECK(run(test::scalar(config_of(test::tcp_conninfo("user=pgcoro_trust sslmode=disable require_auth=none")), "SELECT 1")) == "1");
    CHECK(run(test::scalar(config_of(test::tcp_conninfo("user=pgcoro_scram password=scram_pw sslmode=disable require_auth=!md5,!password")),
                           "SELECT 1")) == "1");
}

TEST_CASE("a non-ASCII password is SASLprep-normalised as the server does") {
    // The role's password was set as 'pä𝄞ss' in NFC; the same text typed in NFD
    // (a + combining diaeresis) must normalise to it.
    CHECK(run(test::scalar(config_of(test::tcp_conninfo("user=pgcoro_unicode password='p\xC3\xA4\xF0\x9D\x84\x9Ess' sslmode=disable")),
                           "SELECT current_user")) == "pgcoro_unicode");
    CHECK(run(test::scalar(config_of(test::tcp_conninfo("user=pgcoro_unicode password='pa\xCC\x88\xF0\x9D\x84\x9Ess' sslmode=disable")),
                           "SELECT current_user")) == "pgcoro_unicode");
}

TEST_CASE("the password file supplies a password when none is given") {
    const auto dir = std::filesystem::temp_directory_path() / ("pgcoro-pgpass-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    const auto path = (dir / "pgpass").string();
    {
        std::ofstream out(path);
        out << "# comment\n" << test::host() << ":" << test::port() << ":pgcoro:pgcoro_scram:scram_pw\n";
    }
    std::filesystem::permissions(path, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
    CHECK(run(test::scalar(config_of(test::tcp_conninfo("user=pgcoro_scram sslmode=disable passfile=" + path)), "SELECT 1")) == "1");

    // Group- or world-readable files are ignored, as libpq does.
    std::filesystem::permissions(path, std::filesystem::perms::others_read, std::filesystem::perm_options::add);
    auto f = run(test::connect_failure(config_of(test::tcp_conninfo("user=pgcoro_scram sslmode=disable passfile=" + path))));
    REQUIRE(f);
    CHECK(f->code == pgcoro::errc::auth_failed);
    std::filesystem::remove_all(dir);
}

TEST_CASE("a reconnect with the same SCRAM credentials reuses the salted password") {
    auto& cache = pgcoro::auth::salted_password_cache::global();
    cache.clear();
    const auto cfg = config_of(test::tcp_conninfo("user=pgcoro_scram password=scram_pw sslmode=disable"));
    CHECK(run(test::scalar(cfg, "SELECT 1")) == "1");
    CHECK(cache.size() == 1);
    CHECK(run(test::scalar(cfg, "SELECT 1")) == "1");
    CHECK(cache.size() == 1);
    CHECK(cache.hits() >= 1);
}

}  // namespace integration_auth
