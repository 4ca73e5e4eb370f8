// A stand-in PostgreSQL server on 127.0.0.1 for the micro-benchmarks, so
// that what they time is the client alone: trust login, then canned answers
// to the extended protocol for one statement shape, `SELECT $1::int4 + 1`
// (answers v + 1 in the format the Bind asked for), and "" or any simple
// query with an empty result. It allocates nothing per message, so a heap
// count in the client's thread sees only the client.
#pragma once

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <array>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>
#include <thread>

namespace bench {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

class loopback_server {
public:
    explicit loopback_server(asio::any_io_executor ex)
        : acceptor_(ex, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)) {
        asio::co_spawn(ex, accept_all(), asio::detached);
    }
    std::uint16_t port() const { return acceptor_.local_endpoint().port(); }
    std::string conninfo() const {
        // statement_mode=prepare: this stand-in is the server itself, and
        // does not answer the automatic mode's proxy probe.
        return "host=127.0.0.1 port=" + std::to_string(port()) + " user=bench dbname=bench sslmode=disable statement_mode=prepare";
    }

private:
    asio::awaitable<void> accept_all() {
        for (;;) {
            auto socket = co_await acceptor_.async_accept(asio::use_awaitable);
            socket.set_option(tcp::no_delay(true));
            asio::co_spawn(acceptor_.get_executor(), serve(std::move(socket)), asio::detached);
        }
    }

    struct writer {
        std::string out;
        void byte(char c) { out.push_back(c); }
        void int16(std::uint16_t v) {
            out.push_back(static_cast<char>(v >> 8));
            out.push_back(static_cast<char>(v));
        }
        void int32(std::uint32_t v) {
            for (int s = 24; s >= 0; s -= 8) out.push_back(static_cast<char>(v >> s));
        }
        // A message: type, length, body.
        template <class Body>
        void message(char type, Body body) {
            out.push_back(type);
            const auto at = out.size();
            int32(0);
            body();
            const auto n = static_cast<std::uint32_t>(out.size() - at);
            for (int k = 0; k < 4; ++k) out[at + static_cast<std::size_t>(k)] = static_cast<char>(n >> (24 - 8 * k));
        }
    };

    static std::uint32_t int32_at(const char* p) {
        return std::uint32_t(static_cast<unsigned char>(p[0])) << 24 | std::uint32_t(static_cast<unsigned char>(p[1])) << 16 |
               std::uint32_t(static_cast<unsigned char>(p[2])) << 8 | std::uint32_t(static_cast<unsigned char>(p[3]));
    }
    static std::uint16_t int16_at(const char* p) {
        return static_cast<std::uint16_t>(static_cast<unsigned char>(p[0]) << 8 | static_cast<unsigned char>(p[1]));
    }

    static void ready(writer& w) {
        w.message('Z', [&] { w.byte('I'); });
    }

    // Bind: the int4 argument and the result format asked for.
    static void bind(std::string_view body, std::int32_t& value, bool& binary_result) {
        const char* p = body.data();
        p += std::strlen(p) + 1;  // portal
        p += std::strlen(p) + 1;  // statement
        const auto formats = int16_at(p);
        const bool binary_param = formats > 0 && int16_at(p + 2) == 1;
        p += 2 + 2 * formats;
        const auto params = int16_at(p);
        p += 2;
        value = 0;
        if (params == 1) {
            const auto n = int32_at(p);
            p += 4;
            if (binary_param) value = static_cast<std::int32_t>(int32_at(p));
            else value = std::stoi(std::string(p, n));
            p += n;
        }
        const auto result_formats = int16_at(p);
        binary_result = result_formats > 0 && int16_at(p + 2) == 1;
    }

    static void answer(char type, std::string_view body, writer& w, std::int32_t& value, bool& binary) {
        switch (type) {
        case 'P': w.message('1', [] {}); break;
        case 'D':
            if (body[0] == 'S') {
                w.message('t', [&] {
                    w.int16(1);
                    w.int32(23);
                });
            }
            w.message('T', [&] {
                w.int16(1);
                w.out.append("x", 2);  // name and its NUL
                w.int32(0);
                w.int16(0);
                w.int32(23);
                w.int16(4);
                w.int32(0xffffffff);
                w.int16(0);
            });
            break;
        case 'B':
            bind(body, value, binary);
            w.message('2', [] {});
            break;
        case 'E':
            w.message('D', [&] {
                w.int16(1);
                if (binary) {
                    w.int32(4);
                    w.int32(static_cast<std::uint32_t>(value + 1));
                } else {
                    char text[16];
                    const int n = std::snprintf(text, sizeof text, "%d", value + 1);
                    w.int32(static_cast<std::uint32_t>(n));
                    w.out.append(text, static_cast<std::size_t>(n));
                }
            });
            w.message('C', [&] { w.out.append("SELECT 1", 9); });
            break;
        case 'C': w.message('3', [] {}); break;
        case 'S': ready(w); break;
        case 'Q':
            if (body.size() <= 1) w.message('I', [] {});
            else w.message('C', [&] { w.out.append("OK", 3); });
            ready(w);
            break;
        default: break;  // Flush: answers go out after every read anyway
        }
    }

    static asio::awaitable<void> serve(tcp::socket socket) {
        std::array<char, 64 * 1024> in{};
        writer w;
        w.out.reserve(64 * 1024);
        try {
            // Startup: one length-prefixed packet; trust login.
            std::array<char, 4> len{};
            co_await asio::async_read(socket, asio::buffer(len), asio::use_awaitable);
            const auto n = int32_at(len.data()) - 4;
            co_await asio::async_read(socket, asio::buffer(in.data(), n), asio::use_awaitable);
            w.message('R', [&] { w.int32(0); });
            w.message('K', [&] {
                w.int32(4242);
                w.int32(1);
            });
            ready(w);
            co_await asio::async_write(socket, asio::buffer(w.out), asio::use_awaitable);
            std::size_t have = 0;
            std::int32_t value = 0;
            bool binary = true;
            for (;;) {
                have += co_await socket.async_read_some(asio::buffer(in.data() + have, in.size() - have), asio::use_awaitable);
                w.out.clear();
                std::size_t at = 0;
                while (have - at >= 5) {
                    const auto size = int32_at(in.data() + at + 1);
                    if (have - at < size + 1) break;
                    const char type = in[at];
                    if (type == 'X') co_return;
                    answer(type, std::string_view(in.data() + at + 5, size - 4), w, value, binary);
                    at += size + 1;
                }
                std::memmove(in.data(), in.data() + at, have - at);
                have -= at;
                if (!w.out.empty()) co_await asio::async_write(socket, asio::buffer(w.out), asio::use_awaitable);
            }
        } catch (const std::exception&) {
            // the client went away
        }
    }

    tcp::acceptor acceptor_;
};

// A loopback_server on a thread of its own, for as long as this object lives.
class background_loopback_server {
public:
    background_loopback_server() : thread_([this] { io_.run(); }) {}
    ~background_loopback_server() {
        work_.reset();
        io_.stop();
        thread_.join();
    }
    std::string conninfo() const { return server_.conninfo(); }

private:
    asio::io_context io_{1};
    loopback_server server_{io_.get_executor()};
    asio::executor_work_guard<asio::io_context::executor_type> work_ = asio::make_work_guard(io_);
    std::thread thread_;
};

}  // namespace bench
