// A scripted peer on a loopback port, for what a real server will not do:
// hostile or broken replies, silence, forged SCRAM messages. Each test gives
// it a coroutine that plays the server's side of one connection.
#pragma once

#include <pgcoro.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>

#include <functional>
#include <string>

namespace test {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

using peer_script = std::function<asio::awaitable<void>(tcp::socket&)>;

// Listens on 127.0.0.1 (a free port), serves one connection with `script`,
// then closes. Returns the port.
inline asio::awaitable<std::uint16_t> start_fake_server(peer_script script) {
    auto ex = co_await asio::this_coro::executor;
    auto acceptor = std::make_shared<tcp::acceptor>(ex, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    const auto port = acceptor->local_endpoint().port();
    asio::co_spawn(ex, [acceptor, script]() -> asio::awaitable<void> {
        auto socket = co_await acceptor->async_accept(asio::use_awaitable);
        acceptor->close();
        try {
            co_await script(socket);
        } catch (const std::exception&) {
            // the client hung up: that is how most scripts end
        }
    }, asio::detached);
    co_return port;
}

// Reads one startup-phase packet (length-prefixed, no type byte).
inline asio::awaitable<std::string> read_packet(tcp::socket& s) {
    unsigned char len[4];
    co_await asio::async_read(s, asio::buffer(len), asio::use_awaitable);
    const std::size_t n = (std::size_t{len[0]} << 24 | std::size_t{len[1]} << 16 | std::size_t{len[2]} << 8 | len[3]) - 4;
    std::string body(n, '\0');
    co_await asio::async_read(s, asio::buffer(body), asio::use_awaitable);
    co_return body;
}

// Reads one typed frontend message; returns its body.
inline asio::awaitable<std::string> read_message(tcp::socket& s, char& type) {
    co_await asio::async_read(s, asio::buffer(&type, 1), asio::use_awaitable);
    co_return co_await read_packet(s);
}

inline asio::awaitable<void> send(tcp::socket& s, std::string bytes) {
    co_await asio::async_write(s, asio::buffer(bytes), asio::use_awaitable);
}

// A backend message with a correct length.
inline std::string message(char type, std::string_view body) {
    std::string m(1, type);
    const auto n = static_cast<std::uint32_t>(body.size() + 4);
    m += static_cast<char>(n >> 24);
    m += static_cast<char>(n >> 16);
    m += static_cast<char>(n >> 8);
    m += static_cast<char>(n);
    m += body;
    return m;
}

inline std::string int32(std::int32_t v) {
    const auto u = static_cast<std::uint32_t>(v);
    return {static_cast<char>(u >> 24), static_cast<char>(u >> 16), static_cast<char>(u >> 8), static_cast<char>(u)};
}

// Waits until the client closes the connection.
inline asio::awaitable<void> wait_for_hangup(tcp::socket& s) {
    char c;
    for (;;) co_await s.async_read_some(asio::buffer(&c, 1), asio::use_awaitable);
}

}  // namespace test
