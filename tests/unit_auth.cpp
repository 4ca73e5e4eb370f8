// Authentication building blocks without a server: SCRAM against the RFC 7677
// test vector and PostgreSQL's framing, md5, base64, the salted-password cache.
#include <pgcoro/auth/md5_password.hpp>
#include <pgcoro/auth/scram_client.hpp>

#include "support/catch.hpp"

using namespace pgcoro::auth;

TEST_CASE("SCRAM-SHA-256 matches the RFC 7677 example exchange") {
    salted_password_cache::global().clear();
    scram_client c("pencil", channel_binding_use::unsupported, "", 100000, "rOprNGfwEbeRWgbNEkqO", "user");
    CHECK(c.client_first_message() == "n,,n=user,r=rOprNGfwEbeRWgbNEkqO");
    const std::string server_first = "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
    CHECK(c.client_final_message(server_first) ==
          "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=");
    CHECK_NOTHROW(c.verify_server_final("v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="));
    CHECK(c.server_verified());
}

TEST_CASE("SCRAM messages as PostgreSQL frames them") {
    SECTION("no channel binding: empty user name, gs2 header n") {
        scram_client c("pw", channel_binding_use::unsupported, "", 100000, "abc");
        CHECK(c.mechanism() == "SCRAM-SHA-256");
        CHECK(c.client_first_message() == "n,,n=,r=abc");
        CHECK_THAT(c.client_final_message("r=abcdef,s=c2FsdA==,i=4096"), Catch::StartsWith("c=biws,r=abcdef,p="));
    }
    SECTION("client could bind but the server offered no PLUS: y") {
        scram_client c("pw", channel_binding_use::server_lacks_it, "", 100000, "abc");
        CHECK(c.client_first_message() == "y,,n=,r=abc");
        CHECK_THAT(c.client_final_message("r=abcdef,s=c2FsdA==,i=4096"), Catch::StartsWith("c=eSws,r=abcdef,p="));  // base64("y,,")
    }
    SECTION("SCRAM-SHA-256-PLUS sends the certificate hash in c=") {
        scram_client c("pw", channel_binding_use::bound, std::string("\x01\x02\x03", 3), 100000, "abc");
        CHECK(c.mechanism() == "SCRAM-SHA-256-PLUS");
        CHECK(c.client_first_message() == "p=tls-server-end-point,,n=,r=abc");
        const auto expected = "c=" + base64_encode(std::string("p=tls-server-end-point,,\x01\x02\x03", 27)) + ",r=abcdef,p=";
        CHECK_THAT(c.client_final_message("r=abcdef,s=c2FsdA==,i=4096"), Catch::StartsWith(expected));
    }
}

TEST_CASE("SCRAM rejects a hostile or broken server") {
    auto client = [] { return scram_client("pw", channel_binding_use::unsupported, "", 10000, "abc"); };
    struct bad_first {
        const char* message;
        const char* complaint;
    };
    const bad_first cases[] = {
        {"r=xyz,s=c2FsdA==,i=4096", "does not extend the client nonce"},
        {"r=abc,s=c2FsdA==,i=4096", "does not extend the client nonce"},
        {"r=abcd,s=***,i=4096", "malformed salt"},
        {"r=abcd,s=c2FsdA==,i=0", "iteration count is zero"},
        {"r=abcd,s=c2FsdA==,i=-1", "malformed iteration count"},
        {"r=abcd,s=c2FsdA==,i=10001", "max_scram_iterations"},
        {"r=abcd,s=c2FsdA==,i=99999999999", "malformed iteration count"},
        {"m=ext,r=abcd,s=c2FsdA==,i=4096", "unsupported SCRAM extension"},
        {"s=c2FsdA==,r=abcd,i=4096", "expected attribute 'r'"},
        {"r=abcd", "expected attribute 's'"},
        {"", "expected attribute 'r'"},
    };
    for (const auto& b : cases) {
        INFO(b.message);
        auto c = client();
        c.client_first_message();
        CHECK_THROWS_WITH(c.client_final_message(b.message), Catch::Contains(b.complaint));
    }

    auto c = client();
    c.client_first_message();
    CHECK_THROWS_WITH(c.verify_server_final("v=AAAA"), Catch::Contains("before client-final"));
    c.client_final_message("r=abcd,s=c2FsdA==,i=4096");
    CHECK_THROWS_WITH(c.verify_server_final("v=" + base64_encode(std::string(32, 'x'))), Catch::Contains("invalid server signature"));
    CHECK_THROWS_WITH(c.verify_server_final("e=invalid-proof"), Catch::Contains("invalid-proof"));
    CHECK_THROWS_WITH(c.verify_server_final("x=1"), Catch::Contains("malformed"));
    CHECK_FALSE(c.server_verified());
}

TEST_CASE("the salted password cache skips PBKDF2 for repeated credentials") {
    auto& cache = salted_password_cache::global();
    cache.clear();
    const auto a = salted_password("pw", "salt", 4096);
    CHECK(cache.size() == 1);
    CHECK(cache.hits() == 0);
    CHECK(salted_password("pw", "salt", 4096) == a);
    CHECK(cache.hits() == 1);
    CHECK(salted_password("pw", "salt", 4097) != a);
    CHECK(salted_password("pw2", "salt", 4096) != a);
    CHECK(cache.size() == 3);
    CHECK(a == pbkdf2_sha256("pw", "salt", 4096));
    for (int i = 0; i < 40; ++i) salted_password("p" + std::to_string(i), "s", 1);
    CHECK(cache.size() == salted_password_cache::capacity);
}

TEST_CASE("md5 password response as PostgreSQL computes it") {
    // Expected values from Python's hashlib: 'md5' + md5(md5('secretalice') + 'salt').
    CHECK(md5_hex("secretalice") == "4a0a68b43b6cd5cf266fa02f196e2371");
    CHECK(md5_password_response("alice", "secret", "salt") == "md5986e2194384c07f4fd1df4b1351b3e68");
    CHECK(md5_hex("") == "d41d8cd98f00b204e9800998ecf8427e");
}

TEST_CASE("base64 round trips and rejects non-canonical input") {
    for (const std::string& s : std::vector<std::string>{"", "f", "fo", "foo", "foob", "fooba", "foobar", std::string("\0\xff\x10", 3)}) {
        CHECK(base64_decode(base64_encode(s)) == s);
    }
    CHECK(base64_encode("foobar") == "Zm9vYmFy");
    CHECK(base64_encode("fo") == "Zm8=");
    CHECK_FALSE(base64_decode("Zm8"));
    CHECK_FALSE(base64_decode("Zm9="));  // unused bits set
    CHECK_FALSE(base64_decode("Z=8="));
    CHECK_FALSE(base64_decode("Zm8=Zm8="));
    CHECK_FALSE(base64_decode("Zm 8"));
}

TEST_CASE("constant-time comparison") {
    CHECK(constant_time_equal("abc", "abc"));
    CHECK_FALSE(constant_time_equal("abc", "abd"));
    CHECK_FALSE(constant_time_equal("abc", "ab"));
}
