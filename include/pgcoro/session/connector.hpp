// Opens a session the way libpq does: every host in order, every address of a
// host, sslmode's TLS/plaintext fallbacks, connect_timeout per attempt, and
// target_session_attrs. Failures are collected so the final error says what
// happened at each server.
#pragma once

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/this_coro.hpp>

#include "../net/deadline.hpp"
#include "operation_trace.hpp"
#include "simple_query.hpp"
#include "startup.hpp"

namespace pgcoro::detail {

enum class tls_request { none, preferred, required };

// A setting the user asked for is never dropped silently: a kernel that
// refuses it fails the connect.
inline void set_tcp_user_timeout(int fd, std::chrono::milliseconds timeout) {
    const unsigned int ms = static_cast<unsigned int>(std::min<std::chrono::milliseconds::rep>(timeout.count(), UINT_MAX));
    if (::setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &ms, sizeof ms) != 0)
        throw error(errc::invalid_config, std::string("could not set tcp_user_timeout: ") + std::strerror(errno));
}

// Connects the transport and, when asked, upgrades it to TLS. Reports whether
// TLS ended up in use.
inline asio::awaitable<void> open_transport(session& s, tls_request tls, bool& tls_used) {
    const auto& cfg = s.settings();
    const auto& ex = s.executor();
    tls_used = false;
    if (auto* local = std::get_if<asio::local::stream_protocol::endpoint>(&s.address().endpoint)) {
        co_await s.stream().open_unix(ex).async_connect(*local, asio::use_awaitable);
        co_return;  // as libpq: TLS is never used over Unix sockets
    }
    auto& tcp = s.stream().open_tcp(ex);
    co_await tcp.async_connect(std::get<asio::ip::tcp::endpoint>(s.address().endpoint), asio::use_awaitable);
    tcp.set_option(asio::ip::tcp::no_delay(true));
    if (cfg.keepalives) {
        tcp.set_option(asio::socket_base::keep_alive(true));
        const int fd = tcp.native_handle();
        if (cfg.keepalives_idle > 0) ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &cfg.keepalives_idle, sizeof(int));
        if (cfg.keepalives_interval > 0) ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &cfg.keepalives_interval, sizeof(int));
        if (cfg.keepalives_count > 0) ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cfg.keepalives_count, sizeof(int));
    }
    if (cfg.tcp_user_timeout.count() > 0) set_tcp_user_timeout(tcp.native_handle(), cfg.tcp_user_timeout);
    if (tls == tls_request::none) co_return;

    protocol::encode_ssl_request(s.out());
    co_await s.flush();
    co_await s.fill(1);
    const auto answer = s.buffered();
    const char code = answer[0];
    // Anything after the one-byte answer was not sent by the server we will
    // authenticate: a man in the middle could inject it (CVE-2021-23222).
    if (answer.size() > 1 && code != 'E') protocol::throw_protocol_violation("received unencrypted data after SSL response");
    s.discard_buffered();
    if (code == 'N') {
        if (tls == tls_request::required) throw error(errc::ssl_not_supported, "server does not support SSL, but SSL was required");
        co_return;
    }
    if (code == 'E') {
        // Not shown: the server is not authenticated yet (CVE-2024-10977).
        throw error(errc::ssl_not_supported, "server rejected the SSL negotiation with an error (its text is not shown: "
                                             "the server is not authenticated yet)");
    }
    if (code != 'S') protocol::throw_protocol_violation(std::string("invalid response to SSL negotiation: '") + code + "'");

    auto setup = make_tls_setup(cfg);
    auto& stream = s.stream().start_tls(std::move(setup.context));
    s.tls_host = s.address().host;
    prepare_tls_stream(stream.native_handle(), cfg, setup, s.tls_host, &s.client_certificate);
    boost::system::error_code ec;
    co_await stream.async_handshake(asio::ssl::stream_base::client, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
        if (ec == asio::error::operation_aborted) throw boost::system::system_error(ec);
        throw error(errc::tls_error, describe_tls_failure(stream.native_handle(), ec, s.tls_host, cfg));
    }
    tls_used = true;
}

inline asio::awaitable<std::unique_ptr<session>> open_session(const config& cfg, const server_address& where,
                                                              tls_request tls, bool& tls_used) {
    auto s = std::make_unique<session>(co_await asio::this_coro::executor, cfg);
    s->address() = where;
    co_await open_transport(*s, tls, tls_used);
    co_await run_startup(*s);
    co_return s;
}

// One attempt at one address, bounded by connect_timeout.
inline asio::awaitable<std::unique_ptr<session>> timed_open_session(const config& cfg, const server_address& where,
                                                                    tls_request tls, bool& tls_used) {
    if (cfg.connect_timeout.count() <= 0) co_return co_await open_session(cfg, where, tls, tls_used);
    const auto limit = std::max(cfg.connect_timeout, std::chrono::seconds(2));  // libpq's minimum
    co_return co_await with_deadline(open_session(cfg, where, tls, tls_used), limit,
                                     "timeout expired after " + std::to_string(limit.count()) + " s (connect_timeout)");
}

// sslmode's fallbacks at one address (libpq: allow retries with TLS after a
// server error; prefer retries without TLS after a TLS failure or a server
// error over TLS).
inline asio::awaitable<std::unique_ptr<session>> open_with_sslmode(const config& cfg, const server_address& where) {
    bool tls_used = false;
    const bool unix_socket = std::holds_alternative<asio::local::stream_protocol::endpoint>(where.endpoint);
    if (unix_socket || cfg.sslmode == ssl_mode::disable) co_return co_await timed_open_session(cfg, where, tls_request::none, tls_used);
    if (cfg.sslmode != ssl_mode::allow && cfg.sslmode != ssl_mode::prefer)
        co_return co_await timed_open_session(cfg, where, tls_request::required, tls_used);

    const bool prefer = cfg.sslmode == ssl_mode::prefer;
    std::exception_ptr first_failure;
    try {
        co_return co_await timed_open_session(cfg, where, prefer ? tls_request::preferred : tls_request::none, tls_used);
    } catch (const server_error&) {
        if (prefer && !tls_used) throw;
        first_failure = std::current_exception();
    } catch (const error& e) {
        if (!prefer || e.code() != errc::tls_error) throw;
        first_failure = std::current_exception();
    }
    co_return co_await timed_open_session(cfg, where, prefer ? tls_request::none : tls_request::required, tls_used);
}

// The host when it is an address already (libpq's rule too): then no lookup,
// and none of the resolver's background thread, which an io_context that
// promises a single thread (BOOST_ASIO_CONCURRENCY_HINT_UNSAFE) cannot run.
inline std::optional<asio::ip::address> numeric_address(const std::string& host) {
    boost::system::error_code ec;
    const auto address = asio::ip::make_address(host, ec);
    if (ec) return std::nullopt;
    return address;
}

inline asio::awaitable<std::vector<server_address>> resolve_addresses(const config& cfg, std::size_t i) {
    std::vector<server_address> out;
    const std::string host = i < cfg.hosts.size() ? cfg.hosts[i] : std::string{};
    const std::string hostaddr = i < cfg.hostaddrs.size() ? cfg.hostaddrs[i] : std::string{};
    const auto port = cfg.port_for(i);
    if (!hostaddr.empty()) {
        out.push_back({host.empty() ? hostaddr : host, port, asio::ip::tcp::endpoint(asio::ip::make_address(hostaddr), port)});
    } else if (!host.empty() && host.front() == '/') {
        out.push_back({host, port, asio::local::stream_protocol::endpoint(host + "/.s.PGSQL." + std::to_string(port))});
    } else if (const auto numeric = numeric_address(host)) {
        out.push_back({host, port, asio::ip::tcp::endpoint(*numeric, port)});
    } else {
        asio::ip::tcp::resolver resolver(co_await asio::this_coro::executor);
        auto results = co_await resolver.async_resolve(host, std::to_string(port), asio::use_awaitable);
        for (const auto& entry : results) out.push_back({host, port, entry.endpoint()});
    }
    co_return out;
}

inline std::optional<bool> parameter_is_on(const session& s, std::string_view name) {
    auto it = s.parameters().find(name);
    if (it == s.parameters().end()) return std::nullopt;
    return it->second == "on";
}

// Older servers do not report these as ParameterStatus; ask instead.
inline asio::awaitable<bool> query_flag(session& s, std::string_view sql) {
    std::vector<result> results;
    co_await run_simple_query(s, sql, results);
    if (results.empty() || results.back().size() != 1) protocol::throw_protocol_violation("unexpected answer to " + std::string(sql));
    auto v = results.back()[0][0];
    co_return v && (*v == "on" || *v == "t");
}

// Empty when the session satisfies target_session_attrs; else why not.
inline asio::awaitable<std::string> session_attrs_mismatch(session& s, session_target target) {
    if (target == session_target::any) co_return std::string{};
    auto hot_standby = parameter_is_on(s, "in_hot_standby");
    auto standby = hot_standby ? *hot_standby : co_await query_flag(s, "SELECT pg_catalog.pg_is_in_recovery()");
    if (target == session_target::primary) co_return standby ? "server is in hot standby mode" : "";
    if (target == session_target::standby || target == session_target::prefer_standby)
        co_return standby ? "" : "server is not in hot standby mode";
    auto default_ro = parameter_is_on(s, "default_transaction_read_only");
    bool read_only = standby;
    if (!read_only) read_only = default_ro ? *default_ro : co_await query_flag(s, "SHOW transaction_read_only");
    if (target == session_target::read_write) co_return read_only ? "session is read-only" : "";
    co_return read_only ? "" : "session is not read-only";  // read_only
}

// The text and code a failed attempt is reported with.
inline std::string describe_failure(const std::exception_ptr& e, std::error_code& code) {
    try {
        std::rethrow_exception(e);
    } catch (const error& x) {
        code = x.code();
        return x.what();
    } catch (const boost::system::system_error& x) {
        const auto& ec = x.code();
        if (ec == asio::error::eof || ec == asio::error::connection_reset || ec == asio::ssl::error::stream_truncated) {
            code = make_error_code(errc::connection_closed);
            return "server closed the connection unexpectedly\n\tThis probably means the server terminated abnormally "
                   "before or while processing the request.";
        }
        code = ec;
        std::string s = ec.message();
        if (ec == asio::error::connection_refused)
            s += "\n\tIs the server running on that host and accepting TCP/IP connections?";
        if (ec == boost::system::errc::no_such_file_or_directory)
            s += "\n\tIs the server running locally and accepting connections on that socket?";
        return s;
    } catch (const std::exception& x) {
        code = make_error_code(errc::connection_broken);
        return x.what();
    }
}

// Closes a session we decided not to use, politely (Terminate).
inline asio::awaitable<void> discard_session(session& s) {
    protocol::encode_terminate(s.out());
    try { co_await s.flush(); } catch (...) {}
    s.stream().close();
}

// load_balance_hosts=random: every connect draws its own order.
template <class T>
void shuffle_for(const config& cfg, std::vector<T>& v) {
    if (cfg.load_balance_hosts != load_balance::random || v.size() < 2) return;
    thread_local std::mt19937_64 random(std::random_device{}());
    std::shuffle(v.begin(), v.end(), random);
}

inline asio::awaitable<std::unique_ptr<session>> open_fitting_session(const config& cfg) {
    std::string report;  // one line per failed server, as libpq prints them
    std::error_code last_code = make_error_code(errc::connection_broken);
    bool wrong_role = false;  // some server answered and did not fit target_session_attrs
    const std::size_t host_count = std::max<std::size_t>(1, std::max(cfg.hosts.size(), cfg.hostaddrs.size()));
    auto note = [&](const std::string& where, const std::exception_ptr& e) {
        const auto text = describe_failure(e, last_code);
        if (!report.empty()) report += '\n';
        report += "connection to " + where + " failed: " + text;
    };

    std::vector<std::size_t> order(host_count);
    for (std::size_t i = 0; i < host_count; ++i) order[i] = i;
    shuffle_for(cfg, order);
    const int passes = cfg.target_session_attrs == session_target::prefer_standby ? 2 : 1;
    for (int pass = 0; pass < passes; ++pass) {
        // prefer-standby: the second pass takes any server.
        const auto target = pass == 1 ? session_target::any : cfg.target_session_attrs;
        for (const auto i : order) {
            std::vector<server_address> addresses;
            std::exception_ptr failure;
            try {
                addresses = co_await resolve_addresses(cfg, i);
            } catch (...) {
                failure = std::current_exception();
            }
            if (failure) {
                const auto host = i < cfg.hosts.size() ? cfg.hosts[i] : std::string{};
                note("server at \"" + host + "\" (could not translate host name to address)", failure);
                continue;
            }
            shuffle_for(cfg, addresses);
            for (const auto& where : addresses) {
                std::unique_ptr<session> s;
                try {
                    s = co_await open_with_sslmode(cfg, where);
                } catch (...) {
                    failure = std::current_exception();
                }
                if (failure) {
                    note(where.describe(), failure);
                    try {
                        std::rethrow_exception(failure);
                    } catch (const server_error& e) {
                        // libpq: an authentication failure ends the search; a server
                        // that is starting up sends us to the next host.
                        if (e.sqlstate() != sqlstate::cannot_connect_now) {
                            const auto prefix = report.substr(0, report.size() - std::string_view(e.what()).size());
                            throw server_error(e.diag(), prefix);
                        }
                        failure = nullptr;
                        break;
                    } catch (const boost::system::system_error& e) {
                        if (e.code() == asio::error::operation_aborted) throw;  // the caller cancelled
                    } catch (...) {
                    }
                    failure = nullptr;
                    continue;
                }
                auto why = co_await session_attrs_mismatch(*s, target);
                if (why.empty()) co_return s;
                co_await discard_session(*s);
                if (!report.empty()) report += '\n';
                report += "connection to " + where.describe() + " failed: " + why;
                wrong_role = true;
                break;  // next host, not the next address of this one
            }
        }
    }
    if (report.empty()) report = "no host to connect to";
    // A server that answered but did not fit says more than one that was
    // down: the pool retries those sooner (a standby about to be promoted).
    throw error(wrong_role ? make_error_code(errc::session_attrs_mismatch) : last_code, report);
}

inline asio::awaitable<std::unique_ptr<session>> traced_connect_session(const config& cfg, pgcoro::tracer& t) {
    const auto started = trace_clock::now();
    const auto token = call_start([&] { return t.connect_started({.settings = cfg}); });
    auto end = [&](const session* s, const std::exception_ptr& failure) {
        trace_outcome o;
        o.duration = trace_clock::now() - started;
        if (failure) describe_failure(o, failure);
        call_end([&] {
            t.connect_ended({.settings = cfg, .token = token, .outcome = o, .session = s ? traced_session_of(*s) : traced_session{}});
        });
    };
    std::unique_ptr<session> s;
    try {
        s = co_await open_fitting_session(cfg);
    } catch (...) {
        end(nullptr, std::current_exception());
        throw;
    }
    end(s.get(), nullptr);
    co_return s;
}

// Opens a session over the configured hosts; with a tracer, reported as one
// connect (the frame of the traced path is paid only when one is set).
inline asio::awaitable<std::unique_ptr<session>> connect_session(const config& cfg) {
    if (auto* t = cfg.tracer.get()) [[unlikely]] return traced_connect_session(cfg, *t);
    return open_fitting_session(cfg);
}

}  // namespace pgcoro::detail
