// The byte stream under a connection: TCP, a Unix socket, or TLS over TCP.
// One variant instead of virtual dispatch or a template parameter, so the
// connection type stays the same whatever the transport.
#pragma once

#include <memory>
#include <variant>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

namespace pgcoro::detail {

namespace asio = boost::asio;

class transport {
public:
    using tcp_socket = asio::ip::tcp::socket;
    using unix_socket = asio::local::stream_protocol::socket;
    using tls_stream = asio::ssl::stream<tcp_socket>;

    transport() = default;
    explicit transport(tcp_socket s) : stream_(std::move(s)) {}
    explicit transport(unix_socket s) : stream_(std::move(s)) {}
    transport(transport&&) = delete;  // the TLS stream refers to tls_context_

    ~transport() { close(); }

    tcp_socket& open_tcp(const asio::any_io_executor& ex) { return stream_.emplace<tcp_socket>(ex); }
    unix_socket& open_unix(const asio::any_io_executor& ex) { return stream_.emplace<unix_socket>(ex); }

    bool is_open() const noexcept {
        return std::visit([](const auto& s) {
            if constexpr (std::is_same_v<std::decay_t<decltype(s)>, std::monostate>) return false;
            else if constexpr (std::is_same_v<std::decay_t<decltype(s)>, tls_stream>) return s.next_layer().is_open();
            else return s.is_open();
        }, stream_);
    }
    bool is_tls() const noexcept { return std::holds_alternative<tls_stream>(stream_); }
    bool is_unix() const noexcept { return std::holds_alternative<unix_socket>(stream_); }

    // Wraps the TCP socket in TLS; the handshake is a separate step.
    tls_stream& start_tls(std::unique_ptr<asio::ssl::context> context) {
        auto& tcp = std::get<tcp_socket>(stream_);
        tls_context_ = std::move(context);
        tcp_socket moved(std::move(tcp));
        return stream_.emplace<tls_stream>(std::move(moved), *tls_context_);
    }
    tls_stream& tls() { return std::get<tls_stream>(stream_); }

    asio::awaitable<std::size_t> read_some(asio::mutable_buffer b) {
        return std::visit([&](auto& s) -> asio::awaitable<std::size_t> {
            if constexpr (std::is_same_v<std::decay_t<decltype(s)>, std::monostate>) return not_open();
            else return s.async_read_some(b, asio::use_awaitable);
        }, stream_);
    }

    // Reports how much was written even when it fails, so a caller can
    // resume a write cut short by cancellation.
    asio::awaitable<std::tuple<boost::system::error_code, std::size_t>> write(asio::const_buffer b) {
        return std::visit([&](auto& s) -> asio::awaitable<std::tuple<boost::system::error_code, std::size_t>> {
            if constexpr (std::is_same_v<std::decay_t<decltype(s)>, std::monostate>) return not_open_write();
            else return asio::async_write(s, b, asio::as_tuple(asio::use_awaitable));
        }, stream_);
    }

    // Closes the socket at once, without a TLS close_notify.
    void close() noexcept {
        boost::system::error_code ec;
        std::visit([&](auto& s) {
            using T = std::decay_t<decltype(s)>;
            if constexpr (std::is_same_v<T, tls_stream>) s.next_layer().close(ec);
            else if constexpr (!std::is_same_v<T, std::monostate>) s.close(ec);
        }, stream_);
    }

    // Best effort, without blocking: used by destructors, which cannot await.
    void try_write_now(asio::const_buffer b) noexcept {
        boost::system::error_code ec;
        std::visit([&](auto& s) {
            using T = std::decay_t<decltype(s)>;
            if constexpr (std::is_same_v<T, tcp_socket> || std::is_same_v<T, unix_socket>) {
                if (!s.is_open()) return;
                s.non_blocking(true, ec);
                s.send(b, 0, ec);
            }
        }, stream_);
    }

    std::variant<std::monostate, tcp_socket, unix_socket, tls_stream>& stream() noexcept { return stream_; }

private:
    static asio::awaitable<std::size_t> not_open() {
        throw boost::system::system_error(asio::error::not_connected);
        co_return 0;
    }

    static asio::awaitable<std::tuple<boost::system::error_code, std::size_t>> not_open_write() {
        co_return std::tuple{boost::system::error_code(asio::error::not_connected), std::size_t{0}};
    }

    // Declared before stream_: the TLS stream holds a reference to it.
    std::unique_ptr<asio::ssl::context> tls_context_;
    std::variant<std::monostate, tcp_socket, unix_socket, tls_stream> stream_;
};

}  // namespace pgcoro::detail
