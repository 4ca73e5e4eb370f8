// Connecting and the session: hosts, sockets, target_session_attrs,
// timeouts, errors that leave the connection usable, closing; and peers that
// misbehave on purpose.
#include "support/fake_server.hpp"
#include "support/test_server.hpp"

#include "support/catch.hpp"

#include <chrono>
#include <filesystem>
#include <fstream>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

namespace integration_connect {

using test::config_of;
using test::run;
namespace asio = boost::asio;
using namespace std::chrono_literals;

namespace {

const std::string scram_user = "user=pgcoro_scram password=scram_pw sslmode=disable";

// A TCP port on 127.0.0.1 where nothing listens.
std::uint16_t closed_port() {
    asio::io_context io;
    test::tcp::acceptor a(io, {asio::ip::make_address("127.0.0.1"), 0});
    return a.local_endpoint().port();
}

}  // namespace

TEST_CASE("connect, query and close over TCP and the Unix socket") {
    for (const auto& conninfo : {test::tcp_conninfo(scram_user), test::unix_conninfo(scram_user)}) {
        INFO(conninfo);
        run([&]() -> asio::awaitable<void> {
            auto conn = co_await pgcoro::connection::connect(config_of(conninfo));
            CHECK(conn.is_usable());
            auto r = co_await conn.query("SELECT 1 AS one, NULL::text AS nothing, 'héllo'::text AS greeting");
            REQUIRE(r.size() == 1);
            REQUIRE(r.columns().size() == 3);
            CHECK(r.columns()[0].name == "one");
            CHECK(r.columns()[0].type_oid == 23);
            CHECK(r.columns()[0].format == 1);  // binary: pgcoro has an int4 codec
            CHECK(r[0].get<int>(0) == 1);
            CHECK_FALSE(r[0][1].has_value());
            CHECK(r[0].get<std::optional<std::string>>(1) == std::nullopt);
            CHECK(r[0].get<std::string>("greeting") == "héllo");
            CHECK(r.command_tag() == "SELECT 1");

            auto pid = co_await conn.query("SELECT pg_backend_pid()");
            CHECK(pid[0].get<std::int32_t>(0) == conn.backend_pid());
            CHECK(conn.parameter("client_encoding") == "UTF8");
            CHECK(conn.parameter("server_version").substr(0, 3) == "15.");
            CHECK_FALSE(conn.parameter("TimeZone").empty());
            CHECK(conn.transaction_state() == pgcoro::transaction_status::idle);
            co_await conn.close();
            CHECK_FALSE(conn.is_open());
        }());
    }
}

TEST_CASE("an io_context that promises one thread (hint UNSAFE) connects to an address, queries and pools") {
    // Such an io_context refuses Asio's resolver (its background thread);
    // a host that is an address needs no lookup, as in libpq.
    run([]() -> asio::awaitable<void> {
        const auto cfg = config_of(test::tcp_conninfo(scram_user));
        auto conn = co_await pgcoro::connection::connect(cfg);
        auto r = co_await conn.query("SELECT $1::int4 * 2", 21);
        CHECK(r[0].get<int>(0) == 42);
        co_await conn.close();
        pgcoro::pool pool(co_await asio::this_coro::executor, cfg, {.max_size = 2});
        {
            auto pooled = co_await pool.acquire();
            auto p = co_await pooled->query("SELECT 7");
            CHECK(p[0].get<int>(0) == 7);
        }
        co_await pool.close();
    }(), BOOST_ASIO_CONCURRENCY_HINT_UNSAFE);
}

TEST_CASE("multi-statement simple queries return every result") {
    run([&]() -> asio::awaitable<void> {
        auto conn = co_await pgcoro::connection::connect(config_of(test::tcp_conninfo(scram_user)));
        auto all = co_await conn.simple_query("CREATE TEMP TABLE t(x int); INSERT INTO t VALUES (1),(2),(3); SELECT x FROM t ORDER BY x;");
        REQUIRE(all.size() == 3);
        CHECK(all[0].command_tag() == "CREATE TABLE");
        CHECK(all[1].rows_affected() == 3u);
        CHECK(all[2].size() == 3);
        CHECK(all[2][2].text(0) == "3");
        auto empty = co_await conn.simple_query("");  // EmptyQueryResponse
        REQUIRE(empty.size() == 1);
        CHECK(empty[0].command_tag().empty());
        CHECK(empty[0].columns().empty());
        co_await conn.close();
    }());
}

TEST_CASE("a query error carries every field and leaves the connection usable") {
    run([&]() -> asio::awaitable<void> {
        auto conn = co_await pgcoro::connection::connect(config_of(test::tcp_conninfo(scram_user)));
        bool thrown = false;
        try {
            co_await conn.query("SELECT * FROM no_such_table");
        } catch (const pgcoro::server_error& e) {
            thrown = true;
            CHECK(e.sqlstate() == "42P01");
            CHECK(e.message() == "relation \"no_such_table\" does not exist");
            CHECK(e.position() == 15u);
            CHECK(e.diag().severity_nonlocalized == "ERROR");
            CHECK_FALSE(e.diag().routine.empty());
        }
        CHECK(thrown);
        CHECK(conn.is_usable());
        CHECK((co_await conn.query("SELECT 2"))[0].get<int>(0) == 2);

        // An error inside a transaction leaves it failed until rollback.
        co_await conn.query("BEGIN");
        try { co_await conn.query("SELECT 1/0"); } catch (const pgcoro::server_error& e) { CHECK(e.sqlstate() == "22012"); }
        CHECK(conn.transaction_state() == pgcoro::transaction_status::failed);
        co_await conn.query("ROLLBACK");
        CHECK(conn.transaction_state() == pgcoro::transaction_status::idle);
        co_await conn.close();
    }());
}

TEST_CASE("notices reach the user's handler") {
    run([&]() -> asio::awaitable<void> {
        auto conn = co_await pgcoro::connection::connect(config_of(test::tcp_conninfo(scram_user)));
        std::vector<pgcoro::diagnostics> seen;
        conn.on_notice([&](const pgcoro::diagnostics& d) { seen.push_back(d); });
        co_await conn.query("DO $$ BEGIN RAISE NOTICE 'hello %', 42 USING HINT = 'be nice'; END $$");
        REQUIRE(seen.size() == 1);
        CHECK(seen[0].message == "hello 42");
        CHECK(seen[0].hint == "be nice");
        CHECK(seen[0].sqlstate == "00000");
        co_await conn.close();
    }());
}

TEST_CASE("several hosts are tried in order") {
    const auto dead = std::to_string(closed_port());
    const auto cfg = config_of("host=127.0.0.1,localhost port=" + dead + "," + test::port() + " dbname=pgcoro " + scram_user);
    CHECK(run(test::scalar(cfg, "SELECT inet_server_port()::text")) == test::port());

    SECTION("when every host fails, the error names each") {
        auto f = run(test::connect_failure(config_of("host=127.0.0.1,127.0.0.1 port=" + dead + "," + dead + " dbname=pgcoro " + scram_user)));
        REQUIRE(f);
        CHECK_THAT(f->what, Catch::Contains("connection to server at \"127.0.0.1\", port " + dead + " failed"));
        CHECK_THAT(f->what, Catch::Contains("Connection refused"));
    }
    SECTION("an authentication failure stops the search, as libpq does") {
        auto f = run(test::connect_failure(config_of("host=127.0.0.1,127.0.0.1 port=" + test::port() + "," + test::port() +
                                                     " dbname=pgcoro user=pgcoro_scram password=bad sslmode=disable")));
        REQUIRE(f);
        CHECK(f->sqlstate == "28P01");
    }
}

TEST_CASE("target_session_attrs") {
    const auto base = test::tcp_conninfo(scram_user);
    CHECK(run(test::scalar(config_of(base + " target_session_attrs=read-write"), "SELECT 1")) == "1");
    CHECK(run(test::scalar(config_of(base + " target_session_attrs=primary"), "SELECT 1")) == "1");
    CHECK(run(test::scalar(config_of(base + " target_session_attrs=prefer-standby"), "SELECT 1")) == "1");
    auto standby = run(test::connect_failure(config_of(base + " target_session_attrs=standby")));
    REQUIRE(standby);
    CHECK(standby->code == pgcoro::errc::session_attrs_mismatch);
    CHECK_THAT(standby->what, Catch::Contains("server is not in hot standby mode"));
    auto read_only = run(test::connect_failure(config_of(base + " target_session_attrs=read-only")));
    REQUIRE(read_only);
    CHECK_THAT(read_only->what, Catch::Contains("session is not read-only"));

    // A session whose transactions default to read-only is what read-only wants.
    const auto ro = base + " options='-c default_transaction_read_only=on'";
    CHECK(run(test::scalar(config_of(ro + " target_session_attrs=read-only"), "SHOW transaction_read_only")) == "on");
    auto rw = run(test::connect_failure(config_of(ro + " target_session_attrs=read-write")));
    REQUIRE(rw);
    CHECK_THAT(rw->what, Catch::Contains("session is read-only"));
}

TEST_CASE("IPv6 loopback", "[ipv6]") {
    if (test::env("PGCORO_TEST_IPV6") != "1") {
        WARN("the server does not listen on ::1 on this machine");
        return;
    }
    CHECK(run(test::scalar(config_of("host=::1 port=" + test::port() + " dbname=pgcoro " + scram_user),
                           "SELECT family(inet_client_addr())::text")) == "6");
}

TEST_CASE("application_name and options reach the server") {
    const auto cfg = config_of(test::tcp_conninfo(scram_user + " application_name=pgcoro-test options='-c search_path=pg_catalog'"));
    CHECK(run(test::scalar(cfg, "SELECT current_setting('application_name') || ' ' || current_setting('search_path')")) ==
          "pgcoro-test pg_catalog");
}

TEST_CASE("tcp_user_timeout reaches the socket, also with keepalives off; Unix sockets have none") {
    const auto user_timeout_of = [](const pgcoro::connection& conn) {
        unsigned int ms = 12345;
        socklen_t len = sizeof ms;
        REQUIRE(::getsockopt(conn.native_socket(), IPPROTO_TCP, TCP_USER_TIMEOUT, &ms, &len) == 0);
        return ms;
    };
    run([&]() -> asio::awaitable<void> {
        auto set = co_await pgcoro::connection::connect(config_of(test::tcp_conninfo(scram_user + " tcp_user_timeout=4321")));
        CHECK(user_timeout_of(set) == 4321u);
        auto without_keepalives =
            co_await pgcoro::connection::connect(config_of(test::tcp_conninfo(scram_user + " tcp_user_timeout=750 keepalives=0")));
        CHECK(user_timeout_of(without_keepalives) == 750u);
        auto plain = co_await pgcoro::connection::connect(config_of(test::tcp_conninfo(scram_user)));
        CHECK(user_timeout_of(plain) == 0u);
        auto local = co_await pgcoro::connection::connect(config_of(test::unix_conninfo(scram_user + " tcp_user_timeout=4321")));
        CHECK(local.native_socket() >= 0);
        CHECK((co_await local.query("SELECT 1"))[0].get<int>(0) == 1);
        // Under TLS the descriptor is the TCP socket's.
        auto tls = co_await pgcoro::connection::connect(
            config_of(test::tcp_conninfo("user=pgcoro_scram password=scram_pw sslmode=require tcp_user_timeout=999")));
        CHECK(tls.uses_tls());
        CHECK(user_timeout_of(tls) == 999u);
    }());
}

TEST_CASE("a connection service file names the server, from service= or PGSERVICE") {
    char pattern[] = "/tmp/pgcoro-service-XXXXXX";
    REQUIRE(::mkdtemp(pattern) != nullptr);
    const std::string dir = pattern;
    const std::string file = dir + "/services.conf";
    std::ofstream(file) << "# the test server\n[pgcoro_test]\nhost=" << test::host() << "\nport=" << test::port()
                        << "\ndbname=pgcoro\nuser=pgcoro_scram\npassword=scram_pw\nsslmode=disable\n"
                        << "application_name=from-service-file\n";
    const auto env = [&](std::string service) -> pgcoro::environment {
        return [=](std::string_view name) -> std::optional<std::string> {
            if (name == "PGSERVICEFILE") return file;
            if (name == "PGSYSCONFDIR") return dir;
            if (name == "PGSERVICE" && !service.empty()) return service;
            return std::nullopt;
        };
    };
    const auto who = "SELECT current_user || ' ' || current_setting('application_name')";
    CHECK(run(test::scalar(pgcoro::config::parse("service=pgcoro_test", env("")), who)) == "pgcoro_scram from-service-file");
    CHECK(run(test::scalar(pgcoro::config::parse("", env("pgcoro_test")), who)) == "pgcoro_scram from-service-file");
    CHECK(run(test::scalar(pgcoro::config::parse("service=pgcoro_test application_name=explicit", env("")), who)) ==
          "pgcoro_scram explicit");
    std::filesystem::remove_all(dir);
}

TEST_CASE("connect_timeout bounds an attempt against a server that never answers") {
    run([&]() -> asio::awaitable<void> {
        const auto port = co_await test::start_fake_server([](test::tcp::socket& s) { return test::wait_for_hangup(s); });
        const auto start = std::chrono::steady_clock::now();
        auto f = co_await test::connect_failure(
            config_of("host=127.0.0.1 port=" + std::to_string(port) + " dbname=x user=x sslmode=disable connect_timeout=2"));
        const auto elapsed = std::chrono::steady_clock::now() - start;
        REQUIRE(f);
        CHECK(f->code == pgcoro::errc::timeout);
        CHECK_THAT(f->what, Catch::Contains("connect_timeout"));
        CHECK(elapsed >= 1900ms);
        CHECK(elapsed < 10s);
    }());
}

TEST_CASE("close() ends the server session; so does destroying an open connection") {
    run([&]() -> asio::awaitable<void> {
        auto admin = co_await pgcoro::connection::connect(config_of(test::tcp_conninfo("user=pgcoro_admin sslmode=disable")));
        auto alive = [&](std::int32_t pid) -> asio::awaitable<bool> {
            for (int i = 0; i < 100; ++i) {
                auto r = co_await admin.query("SELECT count(*) FROM pg_stat_activity WHERE pid = $1", pid);
                if (r[0].get<std::int64_t>(0) == 0) co_return false;
                asio::steady_timer t(co_await asio::this_coro::executor, 20ms);
                co_await t.async_wait(asio::use_awaitable);
            }
            co_return true;
        };
        for (const bool tls : {false, true}) {
            const auto mode = tls ? std::string(" sslmode=require") : std::string(" sslmode=disable");
            auto conn = co_await pgcoro::connection::connect(config_of(test::tcp_conninfo("user=pgcoro_scram password=scram_pw" + mode)));
            const auto pid = conn.backend_pid();
            co_await conn.close();
            CHECK_FALSE(co_await alive(pid));

            std::int32_t dropped_pid = 0;
            {
                auto dropped = co_await pgcoro::connection::connect(config_of(test::tcp_conninfo("user=pgcoro_scram password=scram_pw" + mode)));
                dropped_pid = dropped.backend_pid();
            }
            CHECK_FALSE(co_await alive(dropped_pid));
        }
        co_await admin.close();
    }());
}

TEST_CASE("a connection whose backend was terminated reports it and is not reused") {
    run([&]() -> asio::awaitable<void> {
        auto admin = co_await pgcoro::connection::connect(config_of(test::tcp_conninfo("user=pgcoro_admin sslmode=disable")));
        auto conn = co_await pgcoro::connection::connect(config_of(test::tcp_conninfo(scram_user)));
        co_await admin.query("SELECT pg_terminate_backend(" + std::to_string(conn.backend_pid()) + ")");
        // Wait until the backend is gone, so its FATAL is waiting on our socket.
        for (int i = 0; i < 100; ++i) {
            auto r = co_await admin.query("SELECT count(*) FROM pg_stat_activity WHERE pid = $1", conn.backend_pid());
            if (r[0].get<std::int64_t>(0) == 0) break;
            asio::steady_timer t(co_await asio::this_coro::executor, 20ms);
            co_await t.async_wait(asio::use_awaitable);
        }
        std::string state;
        try {
            co_await conn.query("SELECT 1");
        } catch (const pgcoro::server_error& e) {
            state = e.sqlstate();
        }
        CHECK(state == "57P01");  // the FATAL the server sent before closing: admin_shutdown
        CHECK_FALSE(conn.is_usable());
        bool refused = false;
        try { co_await conn.query("SELECT 1"); } catch (const pgcoro::error& e) { refused = e.code() == pgcoro::errc::connection_broken; }
        CHECK(refused);
        co_await conn.close();
        co_await admin.close();
    }());
}

TEST_CASE("operations on one connection take turns") {
    run([&]() -> asio::awaitable<void> {
        auto conn = co_await pgcoro::connection::connect(config_of(test::tcp_conninfo(scram_user)));
        auto ex = co_await asio::this_coro::executor;
        bool long_query_done = false;
        asio::co_spawn(ex, [&]() -> asio::awaitable<void> {
            co_await conn.query("SELECT pg_sleep(0.3)");
            long_query_done = true;
        }, asio::detached);
        asio::steady_timer t(ex, 50ms);
        co_await t.async_wait(asio::use_awaitable);
        CHECK_FALSE(conn.is_usable());  // busy
        // Waits for the long query, then runs: answers come in order.
        CHECK((co_await conn.query("SELECT 1"))[0].get<int>(0) == 1);
        CHECK(long_query_done);
        while (!long_query_done) {
            t.expires_after(20ms);
            co_await t.async_wait(asio::use_awaitable);
        }
        CHECK(conn.is_usable());
        co_await conn.close();
    }());
}

TEST_CASE("destroying a connection while another coroutine uses it is safe") {
    run([&]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        auto conn = std::make_unique<pgcoro::connection>(
            co_await pgcoro::connection::connect(config_of(test::tcp_conninfo(scram_user))));
        std::optional<std::error_code> outcome;
        asio::co_spawn(ex, [&]() -> asio::awaitable<void> {
            try {
                co_await conn->query("SELECT pg_sleep(5)");
                outcome = std::error_code{};
            } catch (const pgcoro::error& e) {
                outcome = e.code();
            }
        }, asio::detached);
        asio::steady_timer t(ex, 100ms);
        co_await t.async_wait(asio::use_awaitable);
        conn.reset();
        while (!outcome) {
            t.expires_after(10ms);
            co_await t.async_wait(asio::use_awaitable);
        }
        CHECK(*outcome == pgcoro::errc::connection_broken);
    }());
}

// --- peers that misbehave -------------------------------------------------

namespace {

asio::awaitable<std::optional<test::failure>> against(test::peer_script script, const std::string& extra) {
    const auto port = co_await test::start_fake_server(std::move(script));
    co_return co_await test::connect_failure(
        config_of("host=127.0.0.1 port=" + std::to_string(port) + " dbname=db user=u password=pw " + extra));
}

asio::awaitable<void> answer_ssl_request(test::tcp::socket& s, std::string answer) {
    co_await test::read_packet(s);  // SSLRequest
    co_await test::send(s, std::move(answer));
    co_await test::wait_for_hangup(s);
}

}  // namespace

TEST_CASE("bytes injected after the server's 'S' are rejected (CVE-2021-23222)") {
    auto f = run(against([](test::tcp::socket& s) { return answer_ssl_request(s, "S" + test::message('R', test::int32(0))); },
                         "sslmode=require"));
    REQUIRE(f);
    CHECK(f->code == pgcoro::errc::protocol_violation);
    CHECK_THAT(f->what, Catch::Contains("unencrypted data after SSL response"));
}

TEST_CASE("an error in reply to SSLRequest is a refusal whose text is not trusted") {
    auto f = run(against([](test::tcp::socket& s) {
        return answer_ssl_request(s, test::message('E', std::string("SFATAL\0MEVIL TEXT\0\0", 19)));
    }, "sslmode=require"));
    REQUIRE(f);
    CHECK(f->code == pgcoro::errc::ssl_not_supported);
    CHECK_THAT(f->what, !Catch::Contains("EVIL"));
}

TEST_CASE("a server without TLS fails sslmode=require") {
    auto f = run(against([](test::tcp::socket& s) { return answer_ssl_request(s, "N"); }, "sslmode=require"));
    REQUIRE(f);
    CHECK(f->code == pgcoro::errc::ssl_not_supported);
}

TEST_CASE("malformed messages are protocol errors, never crashes") {
    struct hostile {
        const char* what;
        std::string reply;
        pgcoro::errc expected;
    };
    const hostile cases[] = {
        {"length below 4", std::string("R\0\0\0\2", 5), pgcoro::errc::protocol_violation},
        {"absurd length", std::string("R\x7f\xff\xff\xff", 5), pgcoro::errc::message_too_large},
        {"unknown auth code", test::message('R', test::int32(99)), pgcoro::errc::protocol_violation},
        {"truncated md5 salt", test::message('R', test::int32(5) + "ab"), pgcoro::errc::protocol_violation},
        {"SASL without mechanisms", test::message('R', test::int32(10) + std::string(1, '\0')), pgcoro::errc::protocol_violation},
        {"unexpected message type", test::message('D', std::string(2, '\0')), pgcoro::errc::protocol_violation},
        {"bad transaction status", test::message('R', test::int32(0)) + test::message('Z', "X"), pgcoro::errc::protocol_violation},
        {"closes mid-startup", test::message('R', test::int32(0)), pgcoro::errc::connection_closed},
    };
    for (const auto& c : cases) {
        INFO(c.what);
        auto f = run(against([reply = c.reply](test::tcp::socket& s) -> asio::awaitable<void> {
            co_await test::read_packet(s);  // StartupMessage
            co_await test::send(s, reply);
        }, "sslmode=disable"));
        REQUIRE(f);
        CHECK(f->code == c.expected);
    }
}

TEST_CASE("the connection applies the maximum message size") {
    auto port = 0;
    (void)port;
    auto f = run([]() -> asio::awaitable<std::optional<test::failure>> {
        const auto p = co_await test::start_fake_server([](test::tcp::socket& s) -> asio::awaitable<void> {
            co_await test::read_packet(s);
            co_await test::send(s, test::message('R', test::int32(0)) + test::message('S', std::string(2000, 'x')));
            co_await test::wait_for_hangup(s);
        });
        auto cfg = config_of("host=127.0.0.1 port=" + std::to_string(p) + " dbname=db user=u sslmode=disable");
        cfg.max_message_size = 1000;
        co_return co_await test::connect_failure(cfg);
    }());
    REQUIRE(f);
    CHECK(f->code == pgcoro::errc::message_too_large);
    CHECK_THAT(f->what, Catch::Contains("max_message_size"));
}

namespace {

// Plays a SCRAM server up to the client's final message, then does `ending`.
asio::awaitable<void> forged_scram(test::tcp::socket& s, std::string iterations, std::string ending) {
    co_await test::read_packet(s);  // StartupMessage
    co_await test::send(s, test::message('R', test::int32(10) + std::string("SCRAM-SHA-256\0\0", 15)));
    char type = 0;
    const auto initial = co_await test::read_message(s, type);  // mechanism\0 len client-first
    const auto nonce_at = initial.find("r=");
    const auto client_nonce = initial.substr(nonce_at + 2);
    co_await test::send(s, test::message('R', test::int32(11) + "r=" + client_nonce + "srv,s=c2FsdHNhbHQ=,i=" + iterations));
    if (iterations != "4096") { co_await test::wait_for_hangup(s); co_return; }
    co_await test::read_message(s, type);  // client-final
    co_await test::send(s, ending);
    co_await test::wait_for_hangup(s);
}

}  // namespace

TEST_CASE("a forged SCRAM exchange is rejected") {
    SECTION("wrong server signature") {
        auto f = run(against([](test::tcp::socket& s) {
            return forged_scram(s, "4096", test::message('R', test::int32(12) + "v=" + std::string(43, 'A') + "="));
        }, "sslmode=disable"));
        REQUIRE(f);
        CHECK(f->code == pgcoro::errc::auth_failed);
        CHECK_THAT(f->what, Catch::Contains("invalid server signature"));
    }
    SECTION("AuthenticationOk without the server's proof") {
        auto f = run(against([](test::tcp::socket& s) { return forged_scram(s, "4096", test::message('R', test::int32(0))); },
                             "sslmode=disable"));
        REQUIRE(f);
        CHECK(f->code == pgcoro::errc::auth_refused_by_client);
    }
    SECTION("an absurd iteration count is refused before any work") {
        const auto start = std::chrono::steady_clock::now();
        auto f = run(against([](test::tcp::socket& s) { return forged_scram(s, "2000000000", ""); }, "sslmode=disable"));
        REQUIRE(f);
        CHECK(f->code == pgcoro::errc::auth_failed);
        CHECK_THAT(f->what, Catch::Contains("max_scram_iterations"));
        CHECK(std::chrono::steady_clock::now() - start < 5s);
    }
}

TEST_CASE("NegotiateProtocolVersion from a server with fewer features is accepted") {
    run([]() -> asio::awaitable<void> {
        const auto port = co_await test::start_fake_server([](test::tcp::socket& s) -> asio::awaitable<void> {
            co_await test::read_packet(s);
            co_await test::send(s, test::message('v', test::int32(0) + test::int32(1) + std::string("_pq_.future\0", 12)) +
                                       test::message('R', test::int32(0)) +
                                       test::message('S', std::string("server_version\0" "15.0\0", 20)) +
                                       test::message('K', test::int32(4242) + test::int32(7)) + test::message('Z', "I"));
            char type = 0;
            co_await test::read_message(s, type);
            if (type != 'X') throw std::runtime_error("expected Terminate");
        });
        auto conn = co_await pgcoro::connection::connect(
            config_of("host=127.0.0.1 port=" + std::to_string(port) + " dbname=db user=u sslmode=disable"));
        CHECK(conn.backend_pid() == 4242);
        CHECK(conn.parameter("server_version") == "15.0");
        CHECK(conn.authentication_method() == "none");
        co_await conn.close();
    }());
}

}  // namespace integration_connect
