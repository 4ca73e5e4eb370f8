// A hostile server (issue 17 §2): what a real PostgreSQL will not send —
// absurd lengths, floods, a reply one byte at a time, rows that disagree
// with their command tag, secrets fished for through failures — played by a
// scripted peer on loopback. Each case asserts the outcome: the error and
// what it names, the connection broken or still usable, and memory that
// stays within the bound the limits promise.
#include "support/fake_server.hpp"
#include "support/test_server.hpp"

#include <boost/asio/experimental/awaitable_operators.hpp>

#include "support/catch.hpp"

#include <fstream>
#include <unistd.h>

using test::config_of;
using test::run;
namespace asio = boost::asio;
using namespace std::chrono_literals;
using namespace std::string_literals;
using namespace asio::experimental::awaitable_operators;

namespace {

using test::int32;
using test::message;

std::string int16(int v) { return {static_cast<char>(v >> 8), static_cast<char>(v)}; }
std::string cstr(std::string_view s) { return std::string(s) + '\0'; }

// Startup answered: trust, a backend key, ReadyForQuery.
std::string session_started() {
    return message('R', int32(0)) + message('K', int32(4242) + int32(7)) + message('Z', "I");
}
std::string text_column(std::string_view name) {
    return message('T', int16(1) + cstr(name) + int32(0) + int16(0) + int32(25) + int16(-1) + int32(-1) + int16(0));
}
std::string text_row(std::string_view v) {
    return message('D', int16(1) + int32(static_cast<std::int32_t>(v.size())) + std::string(v));
}
// A header announcing `length` (which counts itself) and nothing more.
std::string header(char type, std::uint32_t length) {
    return std::string(1, type) + int32(static_cast<std::int32_t>(length));
}
// The answer to one simple query returning `value`.
std::string one_value(std::string_view value) {
    return text_column("v") + text_row(value) + message('C', "SELECT 1" + std::string(1, '\0')) + message('Z', "I");
}

// The resident set of this process, in bytes.
std::size_t resident_bytes() {
    std::ifstream statm("/proc/self/statm");
    std::size_t pages = 0, resident = 0;
    statm >> pages >> resident;
    return resident * static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
}

std::string address(std::uint16_t port) {
    return "host=127.0.0.1 port=" + std::to_string(port) + " dbname=db user=u sslmode=disable";
}

// A server that starts the session, reads one Query and answers `reply`,
// then waits for the client to hang up.
test::peer_script answering(std::string reply) {
    return [reply](test::tcp::socket& s) -> asio::awaitable<void> {
        co_await test::read_packet(s);
        co_await test::send(s, session_started());
        char type = 0;
        co_await test::read_message(s, type);
        co_await test::send(s, reply);
        co_await test::wait_for_hangup(s);
    };
}

struct outcome {
    std::error_code code;
    std::string what;
    bool usable_after = false;
};

// Connects to a peer playing `script` and runs one simple query.
outcome query_against(test::peer_script script, std::function<void(pgcoro::config&)> adjust = {}) {
    return run([&]() -> asio::awaitable<outcome> {
        const auto port = co_await test::start_fake_server(script);
        auto cfg = config_of(address(port));
        if (adjust) adjust(cfg);
        auto conn = co_await pgcoro::connection::connect(cfg);
        outcome o;
        try {
            co_await conn.simple_query("SELECT 1");
        } catch (const pgcoro::error& e) {
            o.code = e.code();
            o.what = e.what();
        }
        o.usable_after = conn.is_usable();
        co_return o;
    }());
}

}  // namespace

TEST_CASE("hostile: a header announcing a gigabyte costs memory only as its bytes arrive", "[hostile]") {
    const auto before = resident_bytes();
    std::size_t during = 0;
    auto o = query_against([&](test::tcp::socket& s) -> asio::awaitable<void> {
        co_await test::read_packet(s);
        co_await test::send(s, session_started());
        char type = 0;
        co_await test::read_message(s, type);
        // 1,000,000,000 bytes announced (under the 1 GiB max_message_size), 1 MiB sent.
        co_await test::send(s, text_column("v") + header('D', 1'000'000'000) + std::string(1 << 20, 'x'));
        co_await test::sleep_for(300ms);  // the client reads what there is
        during = resident_bytes();
    });  // the peer then hangs up
    CHECK(o.code == pgcoro::errc::connection_closed);
    CHECK_FALSE(o.usable_after);
    INFO("resident before " << before << ", while the message was arriving " << during);
    REQUIRE(during > 0);
    CHECK(during < before + (64u << 20));
}

TEST_CASE("hostile: message lengths are held to each type's limit", "[hostile]") {
    struct hostile {
        const char* what;
        std::string reply;
        pgcoro::errc expected;
        const char* names;
    };
    const std::string big(40'000, 'x');
    const hostile cases[] = {
        {"DataRow announcing 2^31-1 bytes", text_column("v") + header('D', 0x7fffffffu), pgcoro::errc::message_too_large,
         "config::max_message_size"},
        {"DataRow with a negative length", text_column("v") + header('D', 0xffffffffu), pgcoro::errc::message_too_large,
         "DataRow"},
        {"ParameterStatus of 40,000 bytes", header('S', 40'004), pgcoro::errc::message_too_large, "ParameterStatus ('S') of 40004 bytes, more than the limit of 30000"},
        {"CommandComplete of 40,000 bytes", header('C', 40'004), pgcoro::errc::message_too_large, "CommandComplete"},
        {"NotificationResponse of 40,000 bytes", header('A', 40'004), pgcoro::errc::message_too_large, "NotificationResponse"},
        {"ReadyForQuery of 40,000 bytes", header('Z', 40'004), pgcoro::errc::message_too_large, "ReadyForQuery"},
        {"an unknown type of 40,000 bytes", header('x', 40'004), pgcoro::errc::message_too_large, "unknown message type 'x'"},
        {"a length of 3", header('C', 3), pgcoro::errc::protocol_violation, "invalid message length 3"},
        {"an unknown type", message('x', "?"), pgcoro::errc::protocol_violation, "unexpected unknown message type 'x'"},
    };
    for (const auto& c : cases) {
        INFO(c.what);
        auto o = query_against(answering(c.reply));
        CHECK(o.code == c.expected);
        CHECK_THAT(o.what, Catch::Contains(c.names));
        CHECK_FALSE(o.usable_after);
    }
    SECTION("a long message below max_message_size is read whole") {
        const std::string value(200'000, 'v');
        auto o = query_against(answering(text_column("v") + text_row(value) + message('C', cstr("SELECT 1")) + message('Z', "I")));
        CHECK(!o.code);
        CHECK(o.usable_after);
    }
}

TEST_CASE("hostile: before the session starts, every message is short", "[hostile]") {
    struct hostile {
        const char* what;
        std::string reply;
        const char* names;
    };
    const hostile cases[] = {
        {"an ErrorResponse of 40,000 bytes", header('E', 40'004), "no message before the session starts may be longer"},
        {"a NoticeResponse of 40,000 bytes", header('N', 40'004), "NoticeResponse"},
        {"an authentication request of 3,000 bytes", header('R', 3'004), "more than the limit of 2000"},
        {"a BackendKeyData of 2^31-1 bytes", message('R', int32(0)) + header('K', 0x7fffffffu), "BackendKeyData"},
    };
    for (const auto& c : cases) {
        INFO(c.what);
        auto f = run([&]() -> asio::awaitable<std::optional<test::failure>> {
            test::peer_script script = [reply = c.reply](test::tcp::socket& s) -> asio::awaitable<void> {
                co_await test::read_packet(s);
                co_await test::send(s, reply);
                co_await test::wait_for_hangup(s);
            };
            const auto port = co_await test::start_fake_server(script);
            co_return co_await test::connect_failure(config_of(address(port)));
        }());
        REQUIRE(f);
        CHECK(f->code == pgcoro::errc::message_too_large);
        CHECK_THAT(f->what, Catch::Contains(c.names));
    }
}

TEST_CASE("hostile: rows that disagree with their CommandComplete break the connection", "[hostile]") {
    SECTION("fewer rows than the tag says") {
        auto o = query_against(answering(text_column("v") + text_row("1") + text_row("2") + message('C', cstr("SELECT 3")) +
                                         message('Z', "I")));
        CHECK(o.code == pgcoro::errc::protocol_violation);
        CHECK_THAT(o.what, Catch::Contains("CommandComplete \"SELECT 3\" after 2 DataRows"));
        CHECK_FALSE(o.usable_after);
    }
    SECTION("more rows than the tag says") {
        auto o = query_against(answering(text_column("v") + text_row("1") + text_row("2") + message('C', cstr("SELECT 1")) +
                                         message('Z', "I")));
        CHECK(o.code == pgcoro::errc::protocol_violation);
        CHECK_FALSE(o.usable_after);
    }
    SECTION("no CommandComplete before ReadyForQuery") {
        auto o = query_against(answering(text_column("v") + text_row("1") + message('Z', "I")));
        CHECK(o.code == pgcoro::errc::protocol_violation);
        CHECK_THAT(o.what, Catch::Contains("ReadyForQuery"));
        CHECK_FALSE(o.usable_after);
    }
    SECTION("a CREATE TABLE AS tag without rows is no disagreement") {
        auto o = query_against(answering(message('C', cstr("SELECT 5")) + message('Z', "I")));
        CHECK(!o.code);
        CHECK(o.usable_after);
    }
}

TEST_CASE("hostile: floods of asynchronous messages keep memory bounded", "[hostile]") {
    SECTION("200,000 notices in the middle of a result reach the handler and are not kept") {
        std::string notices;
        const auto notice = message('N', "SNOTICE\0C00000\0Mflood\0\0"s);
        for (int i = 0; i < 200'000; ++i) notices += notice;
        const auto before = resident_bytes();
        std::size_t seen = 0, during = 0;
        run([&]() -> asio::awaitable<void> {
            auto script = answering(text_column("v") + notices + text_row("42") + message('C', cstr("SELECT 1")) + message('Z', "I"));
            const auto port = co_await test::start_fake_server(script);
            auto conn = co_await pgcoro::connection::connect(config_of(address(port)));
            conn.on_notice([&](const pgcoro::diagnostics& d) {
                if (d.message == "flood" && ++seen % 50'000 == 0) during = std::max(during, resident_bytes());
            });
            const std::string sql = "SELECT 1";
            auto results = co_await conn.simple_query(sql);
            CHECK(results.at(0).at(0).text(0) == "42");
            CHECK(conn.is_usable());
        }());
        CHECK(seen == 200'000);
        INFO("resident before " << before << ", during the flood " << during);
        // The 4.6 MB of notices themselves sit in the peer's send buffer here.
        CHECK(during < before + (32u << 20));
    }
    SECTION("100,000 ParameterStatus messages for one name keep one value") {
        std::string statuses;
        for (int i = 0; i < 100'000; ++i) statuses += message('S', cstr("TimeZone") + cstr("Zone/" + std::to_string(i)));
        run([&]() -> asio::awaitable<void> {
            auto script = answering(statuses + one_value("1"));
            const auto port = co_await test::start_fake_server(script);
            auto conn = co_await pgcoro::connection::connect(config_of(address(port)));
            const std::string sql = "SELECT 1";
            co_await conn.simple_query(sql);
            CHECK(conn.parameter("TimeZone") == "Zone/99999");
            CHECK(conn.is_usable());
        }());
    }
    SECTION("ParameterStatus for thousands of distinct names is a protocol violation") {
        std::string statuses;
        for (int i = 0; i < 5'000; ++i) statuses += message('S', cstr("p" + std::to_string(i)) + cstr("v"));
        auto o = query_against(answering(statuses + one_value("1")));
        CHECK(o.code == pgcoro::errc::protocol_violation);
        CHECK_THAT(o.what, Catch::Contains("more than 1000 distinct parameters"));
        CHECK_FALSE(o.usable_after);
    }
    SECTION("notifications beyond max_pending_notifications are dropped and counted") {
        std::string flood;
        for (int i = 0; i < 50'000; ++i) flood += message('A', int32(99) + cstr("chan") + cstr(std::to_string(i)));
        run([&]() -> asio::awaitable<void> {
            auto script = answering(flood + one_value("1"));
            const auto port = co_await test::start_fake_server(script);
            auto cfg = config_of(address(port));
            cfg.max_pending_notifications = 100;
            auto conn = co_await pgcoro::connection::connect(cfg);
            const std::string sql = "SELECT 1";
            co_await conn.simple_query(sql);
            CHECK(conn.notifications().size() == 100);
            for (int i = 0; i < 100; ++i) {
                auto n = co_await conn.wait_for_notification();
                CHECK(n.payload == std::to_string(i));
            }
            try {
                co_await conn.wait_for_notification();
                FAIL("no report of the dropped notifications");
            } catch (const pgcoro::error& e) {
                CHECK(e.code() == pgcoro::errc::notifications_dropped);
                CHECK_THAT(e.what(), Catch::Contains("49900 notifications were dropped") &&
                                         Catch::Contains("max_pending_notifications (100)"));
            }
            CHECK(conn.is_usable());
        }());
    }
}

TEST_CASE("hostile: a server that sends one byte at a time is understood", "[hostile]") {
    run([]() -> asio::awaitable<void> {
        test::peer_script script = [](test::tcp::socket& s) -> asio::awaitable<void> {
            s.set_option(test::tcp::no_delay(true));
            auto trickle = [&](std::string bytes) -> asio::awaitable<void> {
                for (char c : bytes) {
                    co_await test::send(s, std::string(1, c));
                    co_await test::sleep_for(std::chrono::milliseconds(0));
                }
            };
            co_await test::read_packet(s);
            co_await trickle(message('S', cstr("server_version") + cstr("15.0")) + session_started());
            char type = 0;
            const std::vector<std::string> values{"first", "second"};
            for (const auto& value : values) {
                co_await test::read_message(s, type);
                co_await trickle(one_value(value));
            }
            co_await test::wait_for_hangup(s);
        };
        const auto port = co_await test::start_fake_server(script);
        auto conn = co_await pgcoro::connection::connect(config_of(address(port)));
        CHECK(conn.parameter("server_version") == "15.0");
        const std::string sql = "SELECT 1";
        // (Each co_await outside CHECK: GCC 12 may evaluate a co_await in its expression twice.)
        const auto first = co_await conn.simple_query(sql);
        const auto second = co_await conn.simple_query(sql);
        CHECK(first.at(0).at(0).text(0) == "first");
        CHECK(second.at(0).at(0).text(0) == "second");
        CHECK(conn.is_usable());
    }());
}

TEST_CASE("hostile: no failure a server provokes shows the password, sslpassword or private key", "[hostile][secrets]") {
    const std::string password = "pw-3c7f-SECRET";
    const std::string sslpassword = "sslpw-91ab-SECRET";
    const std::string key_marker = "KEYMATERIAL7d2eSECRET";
    const std::string pem_key = "-----BEGIN PRIVATE KEY-----\n" + key_marker + "\n-----END PRIVATE KEY-----\n";
    auto secrets_in = [&](std::string_view text) {
        for (const auto& s : {password, sslpassword, key_marker, std::string("SECRET")})
            if (text.find(s) != std::string_view::npos) return true;
        return false;
    };
    const std::string md5_request = message('R', int32(5) + "salt");
    const std::string cleartext_request = message('R', int32(3));
    const std::string sasl_request = message('R', int32(10) + cstr("SCRAM-SHA-256") + std::string(1, '\0'));
    const std::string error = message('E', cstr("SFATAL") + cstr("C28P01") + cstr("Mpassword authentication failed") + '\0');
    struct path {
        const char* what;
        std::string tls_answer;  // to SSLRequest, when the client sends one
        std::vector<std::string> replies;  // one per client message after the startup packet
    };
    const path paths[] = {
        {"cleartext password refused", "", {cleartext_request, error}},
        {"md5 password refused", "", {md5_request, error}},
        {"a garbled md5 salt", "", {message('R', int32(5) + "s")}},
        {"SASL continue that is garbage", "", {sasl_request, message('R', int32(11) + "garbage")}},
        {"SASL continue with a foreign nonce", "", {sasl_request, message('R', int32(11) + "r=other,s=c2FsdA==,i=4096")}},
        {"a hang-up after the password", "", {cleartext_request}},
        {"an oversized reply after the password", "", {cleartext_request, header('E', 0x7fffffffu)}},
        {"TLS accepted, then no handshake", "S", {}},
        {"TLS refused while required", "N", {}},
    };
    for (const auto& p : paths) {
        INFO(p.what);
        auto f = run([&]() -> asio::awaitable<std::optional<test::failure>> {
            test::peer_script script = [&p](test::tcp::socket& s) -> asio::awaitable<void> {
                co_await test::read_packet(s);
                if (!p.tls_answer.empty()) {
                    co_await test::send(s, p.tls_answer);
                    if (p.tls_answer == "S") {  // the ClientHello, answered with what is no TLS
                        char hello[512];
                        co_await s.async_read_some(asio::buffer(hello), asio::use_awaitable);
                        co_await test::send(s, "HTTP/1.1 400 Bad Request\r\n\r\n");
                    }
                    co_await test::wait_for_hangup(s);
                    co_return;
                }
                // Each reply, then the client's answer to it; after the last
                // one, a hang-up (or the client's, when it gave up first).
                for (const auto& reply : p.replies) {
                    co_await test::send(s, reply);
                    char type = 0;
                    co_await test::read_message(s, type);
                }
            };
            const auto port = co_await test::start_fake_server(script);
            auto cfg = config_of("host=127.0.0.1 port=" + std::to_string(port) + " dbname=db user=u");
            cfg.password = password;
            cfg.sslpassword = sslpassword;
            cfg.sslkey = pem_key;
            cfg.connect_timeout = std::chrono::seconds(5);
            cfg.sslmode = p.tls_answer.empty() ? pgcoro::ssl_mode::disable : pgcoro::ssl_mode::require;
            CHECK_FALSE(secrets_in(cfg.to_string()));
            co_return co_await test::connect_failure(cfg);
        }());
        REQUIRE(f);
        INFO(f->what);
        CHECK_FALSE(secrets_in(f->what));
    }
}

// The server's side of a session that starts a COPY TO STDOUT and sends one row.
asio::awaitable<test::tcp::socket> accept_and_start_copy_out(test::tcp::acceptor& acceptor) {
    auto main = co_await acceptor.async_accept(asio::use_awaitable);
    co_await test::read_packet(main);
    co_await test::send(main, session_started());
    char type = 0;
    co_await test::read_message(main, type);  // COPY ... TO STDOUT
    co_await test::send(main, message('H', "\0"s + int16(1) + int16(0)) + message('d', "row 1\n"));
    co_return main;
}

// Connects, reads the first row of a COPY TO STDOUT and drops the reader:
// the next operation owes the server a cancel and a drain.
asio::awaitable<pgcoro::connection> connect_and_abandon_copy_out(const pgcoro::config& cfg) {
    auto conn = co_await pgcoro::connection::connect(cfg);
    const std::string copy = "COPY t TO STDOUT";
    auto reader = co_await conn.copy_out(copy);
    const auto first = co_await reader.read();
    CHECK(first == std::optional<std::string_view>("row 1\n"));
    co_return conn;
}

TEST_CASE("hostile: a cancel connection never closed, and streamed into, costs a bounded wait and no memory", "[hostile]") {
    // A COPY TO STDOUT abandoned early is cancelled before the next query.
    // This server takes the CancelRequest but never closes that connection,
    // and sends 32 MB into it; the main session then answers as PostgreSQL
    // does (57014, ReadyForQuery) and serves the next query.
    const auto before = resident_bytes();
    std::size_t after = 0;
    bool cancel_request_read = false;
    std::string answer;
    run([&]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        test::tcp::acceptor acceptor(ex, {asio::ip::make_address("127.0.0.1"), 0});
        const auto port = acceptor.local_endpoint().port();
        auto flood = [](test::tcp::socket cancel) -> asio::awaitable<void> {
            const std::string junk(64 * 1024, 'j');
            for (int i = 0; i < 512; ++i) co_await test::send(cancel, junk);
            co_await test::wait_for_hangup(cancel);
        };
        auto server = [&]() -> asio::awaitable<void> {
            auto main = co_await accept_and_start_copy_out(acceptor);
            char type = 0;
            auto cancel = co_await acceptor.async_accept(asio::use_awaitable);
            const auto request = co_await test::read_packet(cancel);
            cancel_request_read = request.size() == 12;  // code, process id, key
            asio::co_spawn(co_await asio::this_coro::executor, flood(std::move(cancel)), asio::detached);
            co_await test::send(main, message('E', cstr("SERROR") + cstr("C57014") + cstr("Mcanceling statement") + '\0') +
                                          message('Z', "I"));
            co_await test::read_message(main, type);  // the next query
            co_await test::send(main, one_value("after"));
            co_await test::wait_for_hangup(main);
        };
        asio::co_spawn(ex, server, asio::detached);

        auto cfg = config_of(address(port));
        cfg.connect_timeout = std::chrono::seconds(1);
        auto conn = co_await connect_and_abandon_copy_out(cfg);
        const std::string sql = "SELECT 1";
        auto outcome = co_await (conn.simple_query(sql) || test::sleep_for(10s));
        REQUIRE(outcome.index() == 0);
        answer = std::get<0>(outcome).at(0).at(0).text(0);
        after = resident_bytes();
        co_await conn.close();
        acceptor.close();
    }());
    CHECK(cancel_request_read);
    CHECK(answer == "after");
    INFO("resident before " << before << ", after the cancel " << after);
    CHECK(after < before + (16u << 20));
}

TEST_CASE("hostile: a COPY that never ends after it was abandoned holds the next query only until query_timeout",
          "[hostile]") {
    // The drain of an abandoned COPY TO STDOUT belongs to the next operation,
    // so its query_timeout bounds it. This server takes the CancelRequest and
    // closes it, then never answers on the main connection.
    std::optional<pgcoro::errc> failure;
    bool broken = false;
    run([&]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        test::tcp::acceptor acceptor(ex, {asio::ip::make_address("127.0.0.1"), 0});
        const auto port = acceptor.local_endpoint().port();
        auto server = [&]() -> asio::awaitable<void> {
            auto main = co_await accept_and_start_copy_out(acceptor);
            for (;;) {  // every cancel request is taken and closed; nothing more on main
                auto cancel = co_await acceptor.async_accept(asio::use_awaitable);
                co_await test::read_packet(cancel);
            }
        };
        asio::co_spawn(ex, server, asio::detached);

        auto cfg = config_of(address(port));
        cfg.connect_timeout = std::chrono::seconds(1);
        cfg.query_timeout = std::chrono::milliseconds(500);
        auto conn = co_await connect_and_abandon_copy_out(cfg);
        const std::string sql = "SELECT 1";
        // `||` waits for the first branch that succeeds: the failure is caught inside.
        auto attempt = [&]() -> asio::awaitable<void> {
            try {
                co_await conn.simple_query(sql);
            } catch (const pgcoro::error& e) {
                failure = static_cast<pgcoro::errc>(e.code().value());
            }
        };
        auto query = attempt();
        auto outcome = co_await (std::move(query) || test::sleep_for(30s));
        INFO("the query " << (outcome.index() == 0 ? "ended" : "was still waiting after 30 s"));
        CHECK(outcome.index() == 0);
        broken = !conn.is_open();
        acceptor.close();
    }());
    REQUIRE(failure);
    CHECK(*failure == pgcoro::errc::timeout);
    CHECK(broken);
}
