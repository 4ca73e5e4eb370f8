// Sends a CancelRequest for a session over a new connection to the same
// server address. When the session uses TLS, so does the cancel connection
// (SSLRequest first), so the key never crosses the network in clear text.
#pragma once

#include "../net/deadline.hpp"
#include "session.hpp"
#include "../net/tls_setup.hpp"

namespace pgcoro::detail {

struct cancel_target {
    config settings;
    server_address address;
    protocol::backend_key_data key;
    bool use_tls = false;
};

inline cancel_target cancel_target_of(const session& s) {
    return {s.settings(), s.address(), s.key, s.stream().is_tls()};
}

// How long each step of a cancel request may take: connecting (and the TLS
// handshake), then waiting for the server to close the connection. A
// server that has not closed it by then (a proxy, a hostile peer) has the
// request: it counts as sent. connect_timeout when set, as libpq 17 does.
inline constexpr std::chrono::milliseconds default_cancel_request_limit{5000};
inline std::chrono::steady_clock::duration cancel_request_limit(const config& cfg) {
    if (cfg.connect_timeout.count() > 0) return cfg.connect_timeout;
    return default_cancel_request_limit;
}

// Reads until the peer closes, keeping nothing: whatever it sends there is
// not ours to hold.
inline asio::awaitable<void> wait_for_close(session& s) {
    try {
        for (;;) {
            s.discard_buffered();
            co_await s.fill(1);
        }
    } catch (const boost::system::system_error& e) {
        if (e.code() == asio::error::operation_aborted) throw;
    }
}

inline asio::awaitable<void> open_cancel_connection(session& s, const cancel_target& target) {
    if (auto* local = std::get_if<asio::local::stream_protocol::endpoint>(&target.address.endpoint)) {
        co_await s.stream().open_unix(s.executor()).async_connect(*local, asio::use_awaitable);
        co_return;
    }
    auto& tcp = s.stream().open_tcp(s.executor());
    co_await tcp.async_connect(std::get<asio::ip::tcp::endpoint>(target.address.endpoint), asio::use_awaitable);
    tcp.set_option(asio::ip::tcp::no_delay(true));
    if (!target.use_tls) co_return;
    protocol::encode_ssl_request(s.out());
    co_await s.flush();
    co_await s.fill(1);
    const auto answer = s.buffered();
    if (answer.size() != 1 || answer[0] != 'S') throw error(errc::ssl_not_supported, "server refused TLS for the cancel request");
    s.discard_buffered();
    auto setup = make_tls_setup(target.settings);
    auto& stream = s.stream().start_tls(std::move(setup.context));
    prepare_tls_stream(stream.native_handle(), target.settings, setup, target.address.host);
    co_await stream.async_handshake(asio::ssl::stream_base::client, asio::use_awaitable);
}

inline asio::awaitable<void> send_cancel_request(const cancel_target& target) {
    session s(co_await asio::this_coro::executor, target.settings);
    s.address() = target.address;
    const auto limit = cancel_request_limit(target.settings);
    co_await with_deadline(open_cancel_connection(s, target), limit,
                           "connecting to " + target.address.describe() + " to send a cancel request");
    protocol::encode_cancel_request(s.out(), target.key.process_id, target.key.secret_key);
    co_await s.flush();
    // The server closes the connection once it has processed the request;
    // waiting for that tells the caller the cancel has reached the backend.
    try {
        co_await with_deadline(wait_for_close(s), limit, "waiting for the cancel connection to close");
    } catch (const error& e) {
        if (e.code() != errc::timeout) throw;
    }
}

}  // namespace pgcoro::detail
