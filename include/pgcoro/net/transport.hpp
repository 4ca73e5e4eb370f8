// The byte stream under a connection: TCP, a Unix socket, or TLS over TCP.
// One variant instead of virtual dispatch or a template parameter, so the
// connection type stays the same whatever the transport.
#pragma once

#include <cerrno>
#include <memory>
#include <tuple>
#include <type_traits>
#include <variant>

#include <boost/asio/append.hpp>
#include <boost/asio/associator.hpp>
#include <boost/asio/bind_allocator.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/write.hpp>

#include <sys/socket.h>

#include "handler_memory.hpp"

namespace pgcoro::detail {

namespace asio = boost::asio;

// Hands a write's (error, bytes written) to a handler that takes them as
// one tuple: asio::as_tuple copies the handler it wraps, and a coroutine's
// handler can only be moved.
template <class Handler>
struct as_tuple_outcome {
    Handler handler;
    void operator()(boost::system::error_code ec, std::size_t n) { std::move(handler)(std::tuple{ec, n}); }
};

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

    // The socket's descriptor, under TLS too; -1 when there is none.
    int native_socket() noexcept {
        return std::visit([](auto& s) {
            using T = std::decay_t<decltype(s)>;
            if constexpr (std::is_same_v<T, std::monostate>) return -1;
            else if constexpr (std::is_same_v<T, tls_stream>) return s.next_layer().is_open() ? s.next_layer().native_handle() : -1;
            else return s.is_open() ? s.native_handle() : -1;
        }, stream_);
    }

    // Wraps the TCP socket in TLS; the handshake is a separate step.
    tls_stream& start_tls(std::unique_ptr<asio::ssl::context> context) {
        auto& tcp = std::get<tcp_socket>(stream_);
        tls_context_ = std::move(context);
        tcp_socket moved(std::move(tcp));
        auto& tls = stream_.emplace<tls_stream>(std::move(moved), *tls_context_);
        // Asio asks OpenSSL to free its record buffers whenever they are
        // empty, so every round trip allocated and freed its 17 KB buffers
        // again (51 KB a query). A connection keeps them, as libpq's do.
        ::SSL_clear_mode(tls.native_handle(), SSL_MODE_RELEASE_BUFFERS);
        return tls;
    }
    tls_stream& tls() { return std::get<tls_stream>(stream_); }

    // A read and a write are async operations (callables taking a
    // completion token), not awaitables: a coroutine co_awaits them with no
    // frame of their own, where use_awaitable's initiation is a coroutine, a
    // frame for every read. A query then needs one frame (run_operation's)
    // and a pool's checkout one (acquire's), so the two take turns in Asio's
    // per-thread cache of two frames however the pool resumes its waiters.
    // A read completes with what it read, or throws system_error.
    auto read_some(asio::mutable_buffer b) {
        return async_operation<void(boost::system::error_code, std::size_t), read_initiation>{{this, b}};
    }

    // Reports how much was written even when it fails, so a caller can
    // resume a write cut short by cancellation.
    auto write(asio::const_buffer b) {
        return async_operation<void(std::tuple<boost::system::error_code, std::size_t>), write_initiation>{{this, b}};
    }

    // read_some() and write() with a completion handler: the reader and
    // writer of shared requests (session/shared_requests.hpp).
    template <class Handler>
    void async_read_some(asio::mutable_buffer b, Handler&& handler) {
        std::visit([&](auto& s) {
            if constexpr (std::is_same_v<std::decay_t<decltype(s)>, std::monostate>)
                asio::post(asio::append(std::forward<Handler>(handler), boost::system::error_code(asio::error::not_connected), std::size_t{0}));
            else s.async_read_some(b, asio::bind_allocator(allocator(), std::forward<Handler>(handler)));
        }, stream_);
    }
    template <class Handler>
    void async_write(asio::const_buffer b, Handler&& handler) {
        std::visit([&](auto& s) {
            if constexpr (std::is_same_v<std::decay_t<decltype(s)>, std::monostate>)
                asio::post(asio::append(std::forward<Handler>(handler), boost::system::error_code(asio::error::not_connected), std::size_t{0}));
            else asio::async_write(s, b, asio::bind_allocator(allocator(), std::forward<Handler>(handler)));
        }, stream_);
    }

    // Sends what the socket accepts now, without waiting, and returns how
    // much that was. TLS sends nothing here: its records go out through
    // write(), which keeps the TLS engine's own output buffer whole.
    std::size_t try_write(asio::const_buffer b) {
        int fd = -1;
        if (auto* tcp = std::get_if<tcp_socket>(&stream_)) fd = tcp->native_handle();
        else if (auto* local = std::get_if<unix_socket>(&stream_)) fd = local->native_handle();
        if (fd < 0) return 0;
        for (;;) {
            const auto n = ::send(fd, b.data(), b.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
            if (n >= 0) return static_cast<std::size_t>(n);
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
            throw boost::system::system_error(errno, boost::system::system_category());
        }
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

    // What waits to be read, without reading it or blocking: an idle
    // session should have nothing; a closed one shows end of stream.
    enum class pending_input { none, data, closed };
    pending_input peek_input() noexcept {
        const int fd = native_socket();
        if (fd < 0) return pending_input::closed;
        if (auto* tls = std::get_if<tls_stream>(&stream_); tls && ::SSL_pending(tls->native_handle()) > 0)
            return pending_input::data;
        char byte;
        const auto n = ::recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
        if (n > 0) return pending_input::data;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return pending_input::none;
        return pending_input::closed;
    }

private:
    handler_allocator<void> allocator() noexcept { return handler_allocator<void>(operation_memory_); }

    // The operation co_awaited; the return type keeps it out of overloads
    // probing other callables, and names the signature Asio's await takes.
    template <class Signature, class Initiation>
    struct async_operation {
        Initiation initiation;
        template <class Token>
        auto operator()(Token&& token) && -> decltype(asio::async_initiate<Token, Signature>(std::move(initiation), token)) {
            return asio::async_initiate<Token, Signature>(std::move(initiation), token);
        }
    };

    struct read_initiation {
        transport* self;
        asio::mutable_buffer buffer;
        template <class Handler>
        void operator()(Handler&& handler) {
            self->async_read_some(buffer, std::forward<Handler>(handler));
        }
    };

    struct write_initiation {
        transport* self;
        asio::const_buffer buffer;
        template <class Handler>
        void operator()(Handler&& handler) {
            std::visit([&](auto& s) {
                if constexpr (std::is_same_v<std::decay_t<decltype(s)>, std::monostate>)
                    asio::post(asio::append(std::forward<Handler>(handler),
                                            std::tuple{boost::system::error_code(asio::error::not_connected), std::size_t{0}}));
                else
                    asio::async_write(s, buffer, asio::bind_allocator(self->allocator(), as_tuple_outcome<std::decay_t<Handler>>{std::forward<Handler>(handler)}));
            }, self->stream_);
        }
    };

    // Declared before stream_: the TLS stream holds a reference to it.
    std::unique_ptr<asio::ssl::context> tls_context_;
    handler_memory<> operation_memory_;  // for read_some() and write(); outlives the socket
    std::variant<std::monostate, tcp_socket, unix_socket, tls_stream> stream_;
};

}  // namespace pgcoro::detail

// The wrapped handler's executor, allocator and cancellation slot are the wrapper's.
template <template <class, class> class Associator, class Handler, class DefaultCandidate>
struct boost::asio::associator<Associator, pgcoro::detail::as_tuple_outcome<Handler>, DefaultCandidate>
    : Associator<Handler, DefaultCandidate> {
    static typename Associator<Handler, DefaultCandidate>::type get(const pgcoro::detail::as_tuple_outcome<Handler>& h) noexcept {
        return Associator<Handler, DefaultCandidate>::get(h.handler);
    }
    static auto get(const pgcoro::detail::as_tuple_outcome<Handler>& h, const DefaultCandidate& c) noexcept
        -> decltype(Associator<Handler, DefaultCandidate>::get(h.handler, c)) {
        return Associator<Handler, DefaultCandidate>::get(h.handler, c);
    }
};
