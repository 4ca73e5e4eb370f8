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

inline asio::awaitable<void> send_cancel_request(const cancel_target& target) {
    session s(co_await asio::this_coro::executor, target.settings);
    s.address() = target.address;
    if (auto* local = std::get_if<asio::local::stream_protocol::endpoint>(&target.address.endpoint)) {
        co_await s.stream().open_unix(s.executor()).async_connect(*local, asio::use_awaitable);
    } else {
        auto& tcp = s.stream().open_tcp(s.executor());
        co_await tcp.async_connect(std::get<asio::ip::tcp::endpoint>(target.address.endpoint), asio::use_awaitable);
        tcp.set_option(asio::ip::tcp::no_delay(true));
        if (target.use_tls) {
            protocol::encode_ssl_request(s.out());
            co_await s.flush();
            co_await s.fill(1);
            const auto answer = s.buffered();
            if (answer.size() != 1 || answer[0] != 'S')
                throw error(errc::ssl_not_supported, "server refused TLS for the cancel request");
            s.discard_buffered();
            auto setup = make_tls_setup(target.settings);
            auto& stream = s.stream().start_tls(std::move(setup.context));
            prepare_tls_stream(stream.native_handle(), target.settings, setup, target.address.host);
            co_await stream.async_handshake(asio::ssl::stream_base::client, asio::use_awaitable);
        }
    }
    protocol::encode_cancel_request(s.out(), target.key.process_id, target.key.secret_key);
    co_await s.flush();
    // The server closes the connection once it has processed the request;
    // waiting for that tells the caller the cancel has reached the backend.
    try {
        for (;;) co_await s.fill(s.buffered().size() + 1);
    } catch (const boost::system::system_error& e) {
        if (e.code() == asio::error::operation_aborted) throw;
    }
}

}  // namespace pgcoro::detail
