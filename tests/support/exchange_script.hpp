// A scripted server for one exchange at a time: the startup, then a script
// of steps, each "the client sends this message" (checked byte for byte) or
// "the server sends this message". The messages are built here from the
// protocol chapter ("Message Formats"), independently of pgcoro's own
// encoders, so a test compares what pgcoro puts on the wire with what the
// protocol says. A script can also end in a hang-up, a reset or a torn
// message, which is how the sweeps in exchange_sweep.hpp fail the network.
#pragma once

#include "fake_server.hpp"
#include "test_server.hpp"

#include <algorithm>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace test::script {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

// --- message bodies ----------------------------------------------------------

inline std::string int16(std::int16_t v) {
    const auto u = static_cast<std::uint16_t>(v);
    return {static_cast<char>(u >> 8), static_cast<char>(u)};
}
inline std::string cstring(std::string_view s) {
    std::string out(s);
    out += '\0';
    return out;
}
// An int4 field in binary (int4send): four bytes, big-endian.
inline std::string int4_binary(std::int32_t v) { return test::int32(v); }
inline std::string int8_binary(std::int64_t v) {
    return test::int32(static_cast<std::int32_t>(static_cast<std::uint64_t>(v) >> 32)) +
           test::int32(static_cast<std::int32_t>(v));
}

// One protocol message: its type byte and body, and its name for reports.
struct wire_message {
    char type = 0;
    std::string body;
    std::string name;

    std::string bytes() const { return test::message(type, body); }
    bool same_as(const wire_message& other) const { return type == other.type && body == other.body; }
};

// Statement names carry a random per-connection tag
// ("pgcoro_<16 hex digits>_1"); scripts write them without it ("pgcoro_1",
// "pgcoro_p1" for prepare()). Names are C strings inside a body, so
// dropping bytes from one changes no length field.
inline std::string without_name_tags(std::string body) {
    const auto is_hex = [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); };
    for (auto at = body.find("pgcoro_"); at != std::string::npos; at = body.find("pgcoro_", at + 1)) {
        auto tag = at + 7;
        if (tag < body.size() && body[tag] == 'p') ++tag;
        if (tag + 17 > body.size() || body[tag + 16] != '_') continue;
        if (!std::all_of(body.begin() + tag, body.begin() + tag + 16, is_hex)) continue;
        body.erase(tag, 17);
    }
    return body;
}

// Bytes as a reader can compare them: printable ASCII as is, the rest as \xNN.
inline std::string printable(std::string_view bytes) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string out;
    for (unsigned char c : bytes) {
        if (c >= 0x20 && c < 0x7f && c != '\\') {
            out += static_cast<char>(c);
        } else {
            out += "\\x";
            out += digits[c >> 4];
            out += digits[c & 15];
        }
    }
    return out;
}

// What the client sends (protocol "Message Formats", frontend messages).
namespace frontend {

inline wire_message query(std::string_view sql) { return {'Q', cstring(sql), "Query"}; }

inline wire_message parse(std::string_view statement, std::string_view sql, std::vector<std::uint32_t> types = {}) {
    std::string body = cstring(statement) + cstring(sql) + int16(static_cast<std::int16_t>(types.size()));
    for (auto oid : types) body += test::int32(static_cast<std::int32_t>(oid));
    return {'P', std::move(body), "Parse"};
}

inline wire_message describe_statement(std::string_view statement) {
    return {'D', "S" + cstring(statement), "Describe"};
}
inline wire_message describe_portal(std::string_view portal) { return {'D', "P" + cstring(portal), "Describe"}; }

// A parameter value in Bind: its bytes, or std::nullopt for NULL.
using value = std::optional<std::string>;

inline wire_message bind(std::string_view portal, std::string_view statement, std::vector<std::int16_t> parameter_formats,
                         std::vector<value> parameters, std::vector<std::int16_t> result_formats) {
    std::string body = cstring(portal) + cstring(statement);
    body += int16(static_cast<std::int16_t>(parameter_formats.size()));
    for (auto f : parameter_formats) body += int16(f);
    body += int16(static_cast<std::int16_t>(parameters.size()));
    for (const auto& p : parameters) body += p ? test::int32(static_cast<std::int32_t>(p->size())) + *p : test::int32(-1);
    body += int16(static_cast<std::int16_t>(result_formats.size()));
    for (auto f : result_formats) body += int16(f);
    return {'B', std::move(body), "Bind"};
}

inline wire_message execute(std::string_view portal, std::int32_t max_rows) {
    return {'E', cstring(portal) + test::int32(max_rows), "Execute"};
}
inline wire_message sync() { return {'S', {}, "Sync"}; }
inline wire_message flush() { return {'H', {}, "Flush"}; }
inline wire_message terminate() { return {'X', {}, "Terminate"}; }
inline wire_message close_statement(std::string_view statement) { return {'C', "S" + cstring(statement), "Close"}; }
inline wire_message close_portal(std::string_view portal) { return {'C', "P" + cstring(portal), "Close"}; }
inline wire_message copy_data(std::string_view data) { return {'d', std::string(data), "CopyData"}; }
inline wire_message copy_done() { return {'c', {}, "CopyDone"}; }
inline wire_message copy_fail(std::string_view reason) { return {'f', cstring(reason), "CopyFail"}; }

}  // namespace frontend

// What the server sends (protocol "Message Formats", backend messages).
namespace backend {

inline wire_message authentication_ok() { return {'R', test::int32(0), "AuthenticationOk"}; }
inline wire_message parameter_status(std::string_view name, std::string_view value) {
    return {'S', cstring(name) + cstring(value), "ParameterStatus"};
}
inline wire_message backend_key_data(std::int32_t process_id, std::int32_t secret) {
    return {'K', test::int32(process_id) + test::int32(secret), "BackendKeyData"};
}
// 'I' idle, 'T' in a transaction block, 'E' in a failed one.
inline wire_message ready_for_query(char status = 'I') { return {'Z', std::string(1, status), "ReadyForQuery"}; }

struct column_spec {
    std::string name;
    std::uint32_t type_oid;
    std::int16_t type_size;
    std::int16_t format = 0;  // a Describe of a statement always says 0: the format is chosen in Bind
};
inline column_spec int4_column(std::string name) { return {std::move(name), 23, 4}; }
inline column_spec int8_column(std::string name) { return {std::move(name), 20, 8}; }
inline column_spec text_column(std::string name) { return {std::move(name), 25, -1}; }
// As a portal's Describe reports a column that Bind asked for in binary.
inline column_spec sent_in_binary(column_spec c) {
    c.format = 1;
    return c;
}

inline wire_message row_description(std::vector<column_spec> columns) {
    std::string body = int16(static_cast<std::int16_t>(columns.size()));
    std::int16_t attribute = 0;
    for (const auto& c : columns) {
        body += cstring(c.name);
        body += test::int32(16384);       // the table's OID
        body += int16(++attribute);       // its column number
        body += test::int32(static_cast<std::int32_t>(c.type_oid));
        body += int16(c.type_size);
        body += test::int32(-1);          // no type modifier
        body += int16(c.format);
    }
    return {'T', std::move(body), "RowDescription"};
}

// The fields' bytes in the format the client asked for; std::nullopt is NULL.
inline wire_message data_row(std::vector<std::optional<std::string>> fields) {
    std::string body = int16(static_cast<std::int16_t>(fields.size()));
    for (const auto& f : fields) body += f ? test::int32(static_cast<std::int32_t>(f->size())) + *f : test::int32(-1);
    return {'D', std::move(body), "DataRow"};
}

inline wire_message command_complete(std::string_view tag) { return {'C', cstring(tag), "CommandComplete"}; }
inline wire_message parse_complete() { return {'1', {}, "ParseComplete"}; }
inline wire_message bind_complete() { return {'2', {}, "BindComplete"}; }
inline wire_message close_complete() { return {'3', {}, "CloseComplete"}; }
inline wire_message no_data() { return {'n', {}, "NoData"}; }
inline wire_message portal_suspended() { return {'s', {}, "PortalSuspended"}; }
inline wire_message empty_query_response() { return {'I', {}, "EmptyQueryResponse"}; }

inline wire_message parameter_description(std::vector<std::uint32_t> types) {
    std::string body = int16(static_cast<std::int16_t>(types.size()));
    for (auto oid : types) body += test::int32(static_cast<std::int32_t>(oid));
    return {'t', std::move(body), "ParameterDescription"};
}

// The fields of an ErrorResponse or NoticeResponse a real server always sends.
inline std::string diagnostic_fields(std::string_view severity, std::string_view sqlstate, std::string_view message) {
    return "S" + cstring(severity) + "V" + cstring(severity) + "C" + cstring(sqlstate) + "M" + cstring(message) + '\0';
}
inline wire_message error_response(std::string_view sqlstate, std::string_view message, std::string_view severity = "ERROR") {
    return {'E', diagnostic_fields(severity, sqlstate, message), "ErrorResponse"};
}
inline wire_message notice_response(std::string_view message, std::string_view severity = "NOTICE") {
    return {'N', diagnostic_fields(severity, "00000", message), "NoticeResponse"};
}
inline wire_message notification_response(std::int32_t process_id, std::string_view channel, std::string_view payload) {
    return {'A', test::int32(process_id) + cstring(channel) + cstring(payload), "NotificationResponse"};
}

// format 0: text (or csv), 1: binary; one format code per column.
inline std::string copy_response_body(std::int8_t format, std::vector<std::int16_t> column_formats) {
    std::string body(1, static_cast<char>(format));
    body += int16(static_cast<std::int16_t>(column_formats.size()));
    for (auto f : column_formats) body += int16(f);
    return body;
}
inline wire_message copy_in_response(std::int8_t format, std::vector<std::int16_t> column_formats) {
    return {'G', copy_response_body(format, std::move(column_formats)), "CopyInResponse"};
}
inline wire_message copy_out_response(std::int8_t format, std::vector<std::int16_t> column_formats) {
    return {'H', copy_response_body(format, std::move(column_formats)), "CopyOutResponse"};
}
inline wire_message copy_data(std::string_view data) { return {'d', std::string(data), "CopyData"}; }
inline wire_message copy_done() { return {'c', {}, "CopyDone"}; }

// A type byte PostgreSQL never sends.
inline wire_message unknown_message() { return {'~', {}, "a message of unknown type '~'"}; }

}  // namespace backend

// --- scripts -------------------------------------------------------------------

struct step {
    enum class kind {
        client_sends,  // read one message and compare it with `message`, byte for byte
        server_sends,  // send `message`
        hang_up,       // end the connection in an orderly way (FIN), reading whatever the client still sends
        reset,         // abort the connection (RST)
        torn_message,  // send the first half of `message`, then hang up
    };
    kind what;
    wire_message message;

    bool sent_by_server() const noexcept { return what == kind::server_sends; }
    std::string describe() const {
        switch (what) {
        case kind::client_sends: return "client sends " + message.name;
        case kind::server_sends: return "server sends " + message.name;
        case kind::hang_up: return "server hangs up";
        case kind::reset: return "server resets the connection";
        case kind::torn_message: return "server sends half of " + message.name + " and hangs up";
        }
        return "?";
    }
};

inline step expect(wire_message m) { return {step::kind::client_sends, std::move(m)}; }
inline step send(wire_message m) { return {step::kind::server_sends, std::move(m)}; }
inline step hang_up() { return {step::kind::hang_up, {}}; }
inline step reset() { return {step::kind::reset, {}}; }
inline step torn(wire_message m) { return {step::kind::torn_message, std::move(m)}; }

using script = std::vector<step>;

inline script concatenated(std::initializer_list<script> parts) {
    script all;
    for (const auto& p : parts) all.insert(all.end(), p.begin(), p.end());
    return all;
}

// What the scripted server answers to the startup packet: no authentication,
// the parameters a PostgreSQL 15 server reports, a cancel key, idle.
inline constexpr std::int32_t fake_process_id = 4242;
inline std::string startup_answer() {
    std::string out = backend::authentication_ok().bytes();
    out += backend::parameter_status("server_version", "15.4").bytes();
    out += backend::parameter_status("client_encoding", "UTF8").bytes();
    out += backend::parameter_status("DateStyle", "ISO, MDY").bytes();
    out += backend::parameter_status("integer_datetimes", "on").bytes();
    out += backend::parameter_status("standard_conforming_strings", "on").bytes();
    out += backend::backend_key_data(fake_process_id, 0x5ec2e7).bytes();
    out += backend::ready_for_query('I').bytes();
    return out;
}

// Serves one connection on a loopback port with a script; records what the
// client did that the script did not expect.
class scripted_server {
public:
    // A script still running after this long is stopped: a test never
    // waits on a server that waits on it.
    static constexpr std::chrono::seconds give_up_after{20};

    static asio::awaitable<std::shared_ptr<scripted_server>> start(script steps) {
        const auto ex = co_await asio::this_coro::executor;
        auto server = std::shared_ptr<scripted_server>(new scripted_server(ex, std::move(steps)));
        // Named, not a temporary in the co_await: GCC 12 destroys such a
        // temporary twice, which here would drop a reference to the server.
        test::peer_script serve = [server](tcp::socket& s) { return server->serve(s); };
        server->port_ = co_await test::start_fake_server(std::move(serve));
        co_return server;
    }

    std::uint16_t port() const noexcept { return port_; }
    std::string conninfo() const {
        return "host=127.0.0.1 port=" + std::to_string(port_) + " dbname=db user=u sslmode=disable";
    }

    // Waits (at most `limit`) until the server is done with the connection;
    // false if it is not.
    asio::awaitable<bool> finished(std::chrono::milliseconds limit) {
        if (!done_) {
            done_signal_.expires_after(limit);
            boost::system::error_code ignored;
            co_await done_signal_.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
        }
        co_return done_;
    }

    // The client's messages that did not match the script, and anything else
    // a test should fail on; empty when the client did as scripted.
    const std::vector<std::string>& problems() const noexcept { return problems_; }
    // How many steps of the script were played.
    std::size_t steps_played() const noexcept { return played_; }

private:
    scripted_server(asio::any_io_executor ex, script steps) : steps_(std::move(steps)), done_signal_(ex) {}

    asio::awaitable<void> serve(tcp::socket& s) {
        using namespace asio::experimental::awaitable_operators;
        struct on_exit {
            scripted_server& server;
            ~on_exit() {
                server.done_ = true;
                server.done_signal_.cancel();
            }
        } signal_done{*this};
        auto outcome = co_await (play(s) || test::sleep_for(give_up_after));
        if (outcome.index() == 1) problems_.push_back("the scripted server was still running after 20 s");
    }

    asio::awaitable<void> play(tcp::socket& s) {
        try {
            // As PostgreSQL's own sockets: a reply that follows data the
            // client has not acknowledged yet goes out at once, and is not
            // still held back (then dropped) when a reset step closes.
            s.set_option(tcp::no_delay(true));
            const auto startup = co_await test::read_packet(s);
            check_startup_packet(startup);
            co_await test::send(s, startup_answer());
            std::string pending;  // consecutive server messages go out in one write, as a server buffers them
            for (const auto& st : steps_) {
                if (st.what != step::kind::server_sends && !pending.empty()) co_await test::send(s, std::exchange(pending, {}));
                switch (st.what) {
                case step::kind::server_sends: pending += st.message.bytes(); break;
                case step::kind::client_sends:
                    if (!co_await received_as_scripted(s, st.message)) co_return;
                    break;
                case step::kind::torn_message: {
                    const auto bytes = st.message.bytes();
                    co_await test::send(s, bytes.substr(0, bytes.size() / 2));
                    co_await end_orderly(s);
                    ++played_;
                    co_return;
                }
                case step::kind::hang_up:
                    co_await end_orderly(s);
                    ++played_;
                    co_return;
                case step::kind::reset:
                    s.set_option(tcp::socket::linger(true, 0));
                    s.close();
                    ++played_;
                    co_return;
                }
                ++played_;
            }
            if (!pending.empty()) co_await test::send(s, pending);
            // The script is over: whatever the client sends now is unexpected.
            for (;;) {
                char type = 0;
                auto body = co_await test::read_message(s, type);
                problems_.push_back("after the script the client sent '" + std::string(1, type) + "' " + printable(body));
            }
        } catch (const boost::system::system_error&) {
            // The client hung up (or the socket was reset): how runs end.
        }
    }

    // Reads the client's next message; false (and the connection is dropped)
    // when it is not the one scripted.
    asio::awaitable<bool> received_as_scripted(tcp::socket& s, const wire_message& expected) {
        char type = 0;
        auto body = without_name_tags(co_await test::read_message(s, type));
        if (type == expected.type && body == expected.body) co_return true;
        if (type != expected.type)
            problems_.push_back("step " + std::to_string(played_) + ": the client sent '" + std::string(1, type) +
                                "' where the script has " + expected.name + " '" + std::string(1, expected.type) + "'");
        else
            problems_.push_back("step " + std::to_string(played_) + ": expected " + expected.name + " " +
                                printable(expected.body) + ", the client sent " + printable(body));
        s.close();  // a script that went off the rails has nothing more to say
        co_return false;
    }

    // FIN, then read and discard until the client closes: no unread bytes
    // turn the close into a reset.
    static asio::awaitable<void> end_orderly(tcp::socket& s) {
        s.shutdown(tcp::socket::shutdown_send);
        char sink[512];
        for (;;) co_await s.async_read_some(asio::buffer(sink), asio::use_awaitable);
    }

    // Protocol 3.0, with the user and database the client was given.
    void check_startup_packet(std::string_view packet) {
        const bool well_formed = packet.substr(0, 4) == test::int32(196608) &&
                                 packet.find(cstring("user") + cstring("u")) != std::string_view::npos &&
                                 packet.find(cstring("database") + cstring("db")) != std::string_view::npos &&
                                 packet.ends_with(std::string_view("\0\0", 2));
        if (!well_formed) problems_.push_back("unexpected startup packet " + printable(packet));
    }

    script steps_;
    std::uint16_t port_ = 0;
    std::size_t played_ = 0;
    bool done_ = false;
    asio::steady_timer done_signal_;
    std::vector<std::string> problems_;
};

}  // namespace test::script
