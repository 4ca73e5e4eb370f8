// A TCP proxy between pgcoro and the real test server that breaks the
// network on command: per direction, and for every connection, the next one
// or a chosen one, it can cut (FIN both sides) or reset (RST) after N more
// bytes, stall (blackhole: read and discard, sockets left open), add
// latency, drop bytes or corrupt a byte. A fault may wait for a byte pattern
// (the first CopyData 'd' from the client, SASLResponse 'p', a TLS record
// 0x16 0x03) and count its N bytes from there.
//
// It runs on the test's own executor (one thread, no locks), so what it did
// and what the client saw can be ordered with tick(): every fault it fires
// gets a tick, and a test stamps its own events (an acquire) with tick() too.
//
//   test::fault_proxy proxy(co_await asio::this_coro::executor);
//   auto cfg = test::config_of(proxy.conninfo("user=pgcoro_scram password=scram_pw"));
//   proxy.inject_all(test::flow::to_client, test::cut(100).when("D"));
#pragma once

#include "test_server.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>
#include <sys/socket.h>
#include <netinet/in.h>

namespace test {

namespace asio = boost::asio;

// Which way bytes go: from pgcoro to the server, or back.
enum class flow { to_server = 0, to_client = 1 };

struct fault {
    enum class kind {
        cut,      // forward `after` more bytes, then close both sockets (FIN)
        reset,    // the same, with SO_LINGER 0: the client sees RST
        stall,    // forward `after` more bytes, then read and discard the rest of this direction; sockets stay open
        delay,    // from then on, wait `duration` before forwarding each chunk
        drop,     // skip `count` bytes, then forward the rest
        corrupt,  // xor one byte with `mask`
    };
    kind what = kind::cut;
    std::size_t after = 0;  // bytes of the direction forwarded first: from the trigger's first byte, or from now
    std::string trigger;    // empty: armed now; else when these bytes are first seen in the direction
    std::chrono::milliseconds duration{0};
    std::size_t count = 1;
    unsigned char mask = 0xff;
    int shots = -1;  // on how many connections it may fire in all (-1: no limit)

    // Waits for `pattern` (counted from its first byte).
    fault when(std::string pattern) const {
        auto f = *this;
        f.trigger = std::move(pattern);
        return f;
    }
    // Fires on at most `n` connections (the first that get there).
    fault times(int n) const {
        auto f = *this;
        f.shots = n;
        return f;
    }
    // Whether the connection is gone or useless afterwards.
    bool breaks() const noexcept { return what == kind::cut || what == kind::reset || what == kind::stall; }
};

inline fault make_fault(fault::kind what, std::size_t after) {
    fault f;
    f.what = what;
    f.after = after;
    return f;
}
inline fault cut(std::size_t after = 0) { return make_fault(fault::kind::cut, after); }
inline fault reset(std::size_t after = 0) { return make_fault(fault::kind::reset, after); }
inline fault stall(std::size_t after = 0) { return make_fault(fault::kind::stall, after); }
inline fault delay(std::chrono::milliseconds d, std::size_t after = 0) {
    auto f = make_fault(fault::kind::delay, after);
    f.duration = d;
    return f;
}
inline fault drop(std::size_t count, std::size_t after = 0) {
    auto f = make_fault(fault::kind::drop, after);
    f.count = count;
    return f;
}
inline fault corrupt(std::size_t after = 0, unsigned char mask = 0xff) {
    auto f = make_fault(fault::kind::corrupt, after);
    f.mask = mask;
    return f;
}

inline const char* to_string(fault::kind k) {
    constexpr const char* names[] = {"cut", "reset", "stall", "delay", "drop", "corrupt"};
    return names[static_cast<int>(k)];
}

// The local TCP port of a socket (of a pgcoro connection: its native_socket()).
inline std::uint16_t local_port_of(int fd) {
    sockaddr_storage addr{};
    socklen_t len = sizeof addr;
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return 0;
    if (addr.ss_family == AF_INET) return ntohs(reinterpret_cast<sockaddr_in*>(&addr)->sin_port);
    if (addr.ss_family == AF_INET6) return ntohs(reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port);
    return 0;
}

class fault_proxy {
public:
    // What the proxy did: a fault that fired on a connection (a "link").
    struct fired {
        std::size_t link;
        flow direction;
        fault::kind what;
        std::uint64_t tick;
        std::uint64_t position;  // bytes of the direction read before it
    };

    explicit fault_proxy(asio::any_io_executor ex) : state_(std::make_shared<state>(ex)) {
        const auto address = asio::ip::make_address(test::host());
        state_->upstream = asio::ip::tcp::endpoint(address, static_cast<unsigned short>(std::stoi(test::port())));
        state_->acceptor.open(asio::ip::tcp::v4());
        state_->acceptor.set_option(asio::socket_base::reuse_address(true));
        state_->acceptor.bind(asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
        state_->acceptor.listen();
        port_ = state_->acceptor.local_endpoint().port();
        asio::co_spawn(ex, accept_loop(state_), asio::detached);
    }
    fault_proxy(const fault_proxy&) = delete;
    fault_proxy& operator=(const fault_proxy&) = delete;
    ~fault_proxy() { close(); }

    std::uint16_t port() const noexcept { return port_; }
    // A conninfo for the test server through the proxy; `extra` adds keywords.
    std::string conninfo(const std::string& extra) const {
        return "host=127.0.0.1 port=" + std::to_string(port_) + " dbname=pgcoro " + extra;
    }

    // Arms `f` on every connection, open or yet to come.
    void inject_all(flow d, fault f) {
        auto a = arm(f);
        for (auto& l : state_->links) add(*l, d, a);
        state_->for_new.push_back({d, a});
    }
    // Arms `f` on every connection accepted from now on (counted from its first byte).
    void inject_new(flow d, fault f) { state_->for_new.push_back({d, arm(f)}); }
    // Arms `f` on the next connection the proxy accepts.
    void inject_next(flow d, fault f) { state_->for_next.push_back({d, arm(f)}); }
    // Arms `f` on one connection (a link id from link_of()).
    void inject(std::size_t link, flow d, fault f) { add(*state_->links.at(link), d, arm(f)); }
    // Closes one connection now (FIN, or RST with `rst`), bytes flowing or not.
    void cut_now(std::size_t link, bool rst = false) {
        auto& l = *state_->links.at(link);
        if (l.closed) return;
        const auto what = rst ? fault::kind::reset : fault::kind::cut;
        state_->log.push_back({link, flow::to_client, what, ++state_->clock, l.dirs[1].position});
        l.shut(rst);
    }
    // Disarms every fault that has not fired yet and ends added latency.
    // Connections already cut or blackholed stay so.
    void heal() {
        state_->for_new.clear();
        state_->for_next.clear();
        for (auto& l : state_->links)
            for (auto& d : l->dirs) {
                d.rules.clear();
                d.latency = {};
            }
    }
    // Closes the listening socket and every connection.
    void close() {
        boost::system::error_code ignored;
        state_->acceptor.close(ignored);
        for (auto& l : state_->links) l->shut(false);
    }

    // The proxy's clock: a counter, advanced by every call and every fault.
    std::uint64_t tick() { return ++state_->clock; }
    std::size_t links() const noexcept { return state_->links.size(); }
    std::size_t open_links() const {
        return static_cast<std::size_t>(
            std::count_if(state_->links.begin(), state_->links.end(), [](const auto& l) { return !l->closed; }));
    }
    // The link a connection of pgcoro runs over (by its local port).
    std::optional<std::size_t> link_of(const pgcoro::connection& conn) const {
        const auto p = local_port_of(conn.native_socket());
        auto it = state_->by_client_port.find(p);
        if (it == state_->by_client_port.end()) return std::nullopt;
        return it->second;
    }
    const std::vector<fired>& faults() const noexcept { return state_->log; }
    std::vector<std::size_t> open_link_ids() const {
        std::vector<std::size_t> ids;
        for (const auto& l : state_->links)
            if (!l->closed) ids.push_back(l->id);
        return ids;
    }
    // The tick of the first fault (but a delay) that hit `link`, if one did.
    std::optional<std::uint64_t> broken_at(std::size_t link) const {
        for (const auto& f : state_->log)
            if (f.link == link && f.what != fault::kind::delay) return f.tick;
        return std::nullopt;
    }
    std::size_t fired_count(fault::kind k) const {
        return static_cast<std::size_t>(
            std::count_if(state_->log.begin(), state_->log.end(), [k](const fired& f) { return f.what == k; }));
    }

private:
    using tcp = asio::ip::tcp;

    struct armed {
        fault f;
        std::shared_ptr<int> shots;  // shared by the copies on every link
        std::optional<std::uint64_t> fire_at;
        std::uint64_t armed_at = 0;
    };
    struct direction {
        std::uint64_t position = 0;  // bytes read from the source so far
        std::vector<armed> rules;
        std::string tail;  // the last bytes read, for a trigger split across reads
        bool blackholed = false;
        std::size_t drop_left = 0;
        std::chrono::milliseconds latency{0};
    };
    struct link {
        std::size_t id = 0;
        tcp::socket client, server;
        direction dirs[2];
        bool closed = false;
        link(asio::any_io_executor ex, tcp::socket c) : client(std::move(c)), server(ex) {}
        void shut(bool rst) {
            if (closed) return;
            closed = true;
            boost::system::error_code ignored;
            for (auto* s : {&client, &server}) {
                if (rst && s->is_open()) s->set_option(asio::socket_base::linger(true, 0), ignored);
                if (!rst) s->shutdown(tcp::socket::shutdown_both, ignored);
                s->close(ignored);
            }
        }
    };
    struct state {
        explicit state(asio::any_io_executor ex) : executor(ex), acceptor(ex) {}
        asio::any_io_executor executor;
        tcp::acceptor acceptor;
        tcp::endpoint upstream;
        std::vector<std::shared_ptr<link>> links;
        std::map<std::uint16_t, std::size_t> by_client_port;
        std::vector<std::pair<flow, armed>> for_new, for_next;
        std::vector<fired> log;
        std::uint64_t clock = 0;
    };

    static armed arm(const fault& f) { return {f, std::make_shared<int>(f.shots), std::nullopt, 0}; }
    static void add(link& l, flow d, armed a) {
        auto& dir = l.dirs[static_cast<int>(d)];
        a.armed_at = dir.position;
        if (a.f.trigger.empty()) a.fire_at = dir.position + a.f.after;
        dir.rules.push_back(std::move(a));
    }

    static asio::awaitable<void> accept_loop(std::shared_ptr<state> st) {
        for (;;) {
            boost::system::error_code ec;
            auto client = co_await st->acceptor.async_accept(asio::redirect_error(asio::use_awaitable, ec));
            if (ec) {
                if (!st->acceptor.is_open()) co_return;
                continue;
            }
            client.set_option(tcp::no_delay(true), ec);
            auto l = std::make_shared<link>(st->executor, std::move(client));
            l->id = st->links.size();
            st->links.push_back(l);
            st->by_client_port[l->client.remote_endpoint(ec).port()] = l->id;
            for (auto& [d, a] : st->for_new) add(*l, d, a);
            for (auto& [d, a] : st->for_next) add(*l, d, a);
            st->for_next.clear();
            asio::co_spawn(st->executor, serve(st, l), asio::detached);
        }
    }

    static asio::awaitable<void> serve(std::shared_ptr<state> st, std::shared_ptr<link> l) {
        boost::system::error_code ec;
        co_await l->server.async_connect(st->upstream, asio::redirect_error(asio::use_awaitable, ec));
        if (ec || l->closed) {
            l->shut(false);
            co_return;
        }
        l->server.set_option(tcp::no_delay(true), ec);
        asio::co_spawn(st->executor, pump(st, l, flow::to_server), asio::detached);
        asio::co_spawn(st->executor, pump(st, l, flow::to_client), asio::detached);
    }

    // Copies one direction, applying its faults as their positions come by.
    static asio::awaitable<void> pump(std::shared_ptr<state> st, std::shared_ptr<link> l, flow d) {
        auto& from = d == flow::to_server ? l->client : l->server;
        auto& to = d == flow::to_server ? l->server : l->client;
        auto& dir = l->dirs[static_cast<int>(d)];
        std::vector<char> buf(16384);
        std::string out;
        try {
            for (;;) {
                const std::size_t n = co_await from.async_read_some(asio::buffer(buf), asio::use_awaitable);
                const std::uint64_t start = dir.position;
                dir.position += n;
                if (dir.blackholed) continue;

                // Triggers: the earliest match in what the tail and this read hold.
                const std::string window = dir.tail + std::string(buf.data(), n);
                std::size_t longest = 0;
                for (auto& a : dir.rules) {
                    if (a.fire_at || a.f.trigger.empty()) continue;
                    longest = std::max(longest, a.f.trigger.size());
                    const auto at = window.find(a.f.trigger);
                    const std::uint64_t window_start = start - dir.tail.size();
                    if (at != std::string::npos && window_start + at >= a.armed_at)
                        a.fire_at = window_start + at + a.f.after;
                }
                dir.tail = longest > 1 ? window.substr(window.size() - std::min(window.size(), longest - 1)) : "";

                out.clear();
                enum class then { go_on, shut, rst, blackhole } after_write = then::go_on;
                std::size_t done = 0;
                while (done < n) {
                    if (dir.drop_left) {
                        const auto k = std::min(dir.drop_left, n - done);
                        done += k;
                        dir.drop_left -= k;
                        continue;
                    }
                    auto due = dir.rules.end();
                    for (auto it = dir.rules.begin(); it != dir.rules.end(); ++it)
                        if (it->fire_at && *it->fire_at < start + n && (due == dir.rules.end() || *it->fire_at < *due->fire_at))
                            due = it;
                    if (due == dir.rules.end()) {
                        out.append(buf.data() + done, n - done);
                        break;
                    }
                    const auto at = static_cast<std::size_t>(std::max<std::uint64_t>(*due->fire_at, start + done) - start);
                    out.append(buf.data() + done, at - done);
                    done = at;
                    armed a = std::move(*due);
                    dir.rules.erase(due);
                    if (*a.shots == 0) continue;  // another connection used it up
                    if (*a.shots > 0) --*a.shots;
                    st->log.push_back({l->id, d, a.f.what, ++st->clock, start + done});
                    switch (a.f.what) {
                    case fault::kind::cut: after_write = then::shut; break;
                    case fault::kind::reset: after_write = then::rst; break;
                    case fault::kind::stall: after_write = then::blackhole; break;
                    case fault::kind::delay: dir.latency = a.f.duration; break;
                    case fault::kind::drop: dir.drop_left = a.f.count; break;
                    case fault::kind::corrupt:
                        out += static_cast<char>(static_cast<unsigned char>(buf[done]) ^ a.f.mask);
                        ++done;
                        break;
                    }
                    if (after_write != then::go_on) break;
                }
                if (dir.latency.count() > 0) {
                    asio::steady_timer t(st->executor, dir.latency);
                    co_await t.async_wait(asio::use_awaitable);
                }
                if (!out.empty() && !l->closed) co_await asio::async_write(to, asio::buffer(out), asio::use_awaitable);
                if (after_write == then::shut || after_write == then::rst) {
                    l->shut(after_write == then::rst);
                    co_return;
                }
                if (after_write == then::blackhole) dir.blackholed = true;
            }
        } catch (const std::exception&) {
        }
        l->shut(false);
    }

    std::shared_ptr<state> state_;
    std::uint16_t port_ = 0;
};

}  // namespace test
