// server [--port P] [--threads N] [CONNINFO]
//
// A TCP server answering a line protocol from one pgcoro::pool, on an
// io_context run by N threads (default 4) with one strand per session:
//   sum N      ->  the sum of 1..N, computed by PostgreSQL
//   sleep MS   ->  "slept MS", after pg_sleep on the server (a slow request)
// anything else gets "error: ..." and the session goes on.
//
// It prints "listening on 127.0.0.1:PORT" (--port 0, the default, picks a
// free port). On SIGINT or SIGTERM it stops accepting (new connects are
// refused), lets the requests in progress finish and answer, ends the
// idle sessions, closes the pool and exits 0. CONNINFO as libpq's.
#include <pgcoro.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>

#include <atomic>
#include <charconv>
#include <iostream>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace asio = boost::asio;
using asio::ip::tcp;

namespace {

constexpr std::string_view sum_sql = "SELECT sum(i)::int8 FROM generate_series(1, $1::int8) AS i";
constexpr std::string_view sleep_sql = "SELECT pg_sleep($1::int8 / 1000.0)";

// The open sessions, so that shutdown can end the idle ones. Sessions run on
// different threads: the set is behind a mutex, and each socket is only
// touched on its own strand.
class session_registry {
public:
    std::atomic<bool> stopping = false;

    bool enter(const std::shared_ptr<tcp::socket>& socket) {
        std::lock_guard lock(mutex_);
        if (stopping) return false;
        sockets_.insert(socket);
        return true;
    }
    void leave(const std::shared_ptr<tcp::socket>& socket) {
        std::lock_guard lock(mutex_);
        sockets_.erase(socket);
    }
    std::size_t open() {
        std::lock_guard lock(mutex_);
        return sockets_.size();
    }
    // A session waiting for a request stops waiting; one busy with a request
    // sees `stopping` once it has answered.
    void stop_all() {
        std::lock_guard lock(mutex_);
        stopping = true;
        for (const auto& socket : sockets_)
            asio::post(socket->get_executor(), [socket] { socket->cancel(); });
    }

private:
    std::mutex mutex_;
    std::set<std::shared_ptr<tcp::socket>> sockets_;
};

std::atomic<long> answered = 0;

asio::awaitable<std::string> answer(pgcoro::pool& pool, std::string_view line) {
    const auto space = line.find(' ');
    const auto verb = line.substr(0, space);
    const auto arg = space == std::string_view::npos ? std::string_view{} : line.substr(space + 1);
    std::int64_t n = 0;
    if (std::from_chars(arg.data(), arg.data() + arg.size(), n).ec != std::errc{} || n < 0)
        co_return "error: expected a number after the request";
    try {
        auto conn = co_await pool.acquire();  // back to the pool at the end of this block
        if (verb == "sum") {
            auto r = co_await conn->query(sum_sql, n);
            co_return std::to_string(r[0].get<std::optional<std::int64_t>>(0).value_or(0));
        }
        if (verb == "sleep") {
            co_await conn->query(sleep_sql, n);
            co_return "slept " + std::to_string(n);
        }
        co_return "error: unknown request";
    } catch (const pgcoro::server_error& e) {
        co_return "error: " + e.sqlstate() + ": " + e.message();
    } catch (const pgcoro::error& e) {  // no connection to be had in time, or it broke
        co_return "error: " + std::string(e.what());
    }
}

// One client connection, on its own strand: a request, an answer, again.
asio::awaitable<void> session(std::shared_ptr<tcp::socket> socket, pgcoro::pool& pool, session_registry& registry) {
    if (!registry.enter(socket)) co_return;
    std::string buffer;
    try {
        while (!registry.stopping) {
            const auto n = co_await asio::async_read_until(*socket, asio::dynamic_buffer(buffer, 4096), '\n',
                                                           asio::use_awaitable);
            const std::string line = buffer.substr(0, n - 1);
            buffer.erase(0, n);
            auto reply = co_await answer(pool, line);
            reply += '\n';
            co_await asio::async_write(*socket, asio::buffer(reply), asio::use_awaitable);
            ++answered;
        }
    } catch (const std::exception&) {
        // The client left, sent a line too long, or shutdown cancelled the read.
    }
    registry.leave(socket);
}

asio::awaitable<void> accept_loop(asio::io_context& io, tcp::acceptor& acceptor, pgcoro::pool& pool,
                                  session_registry& registry) {
    for (;;) {
        auto strand = asio::make_strand(io);
        auto socket = std::make_shared<tcp::socket>(strand);
        boost::system::error_code ec;
        co_await acceptor.async_accept(*socket, asio::redirect_error(asio::use_awaitable, ec));
        if (ec == asio::error::operation_aborted || !acceptor.is_open()) co_return;  // shutting down
        if (ec) continue;  // out of file descriptors, say: keep serving the others
        asio::co_spawn(strand, session(socket, pool, registry), asio::detached);
    }
}

// Runs on the acceptor's strand: waits for a signal, then shuts down in order.
asio::awaitable<void> shut_down_on_signal(asio::signal_set& signals, tcp::acceptor& acceptor, pgcoro::pool& pool,
                                          session_registry& registry) {
    const int signal = co_await signals.async_wait(asio::use_awaitable);
    acceptor.close();  // the listening socket goes: connects are refused
    registry.stop_all();
    std::cout << "signal " << signal << ": no new connections; finishing requests" << std::endl;
    asio::steady_timer poll(co_await asio::this_coro::executor);
    while (registry.open() > 0) {
        poll.expires_after(std::chrono::milliseconds(10));
        co_await poll.async_wait(asio::use_awaitable);
    }
    const auto open_connections = pool.stats().size;
    co_await pool.close();
    std::cout << "stopped: " << answered << " requests answered, pool closed (" << open_connections
              << " connections)" << std::endl;
}

}  // namespace

int main(int argc, char** argv) {
    unsigned short port = 0;
    int threads = 4;
    std::string conninfo;
    try {
        for (int i = 1; i < argc; ++i) {
            const std::string arg = argv[i];
            if (arg == "--port" && i + 1 < argc) port = static_cast<unsigned short>(std::stoi(argv[++i]));
            else if (arg == "--threads" && i + 1 < argc) threads = std::stoi(argv[++i]);
            else conninfo = arg;
        }
        asio::io_context io(threads);
        pgcoro::pool pool(io.get_executor(), conninfo, {.max_size = 8});
        session_registry registry;

        auto control = asio::make_strand(io);  // the acceptor and the shutdown share it
        tcp::acceptor acceptor(control, {asio::ip::make_address("127.0.0.1"), port});
        asio::signal_set signals(control, SIGINT, SIGTERM);
        std::cout << "listening on 127.0.0.1:" << acceptor.local_endpoint().port() << std::endl;
        asio::co_spawn(control, accept_loop(io, acceptor, pool, registry), asio::detached);
        asio::co_spawn(control, shut_down_on_signal(signals, acceptor, pool, registry), asio::detached);

        std::vector<std::thread> pool_threads;
        for (int i = 1; i < threads; ++i) pool_threads.emplace_back([&io] { io.run(); });
        io.run();
        for (auto& t : pool_threads) t.join();
    } catch (const std::exception& e) {
        std::cerr << "server: error: " << e.what() << '\n';
        return 1;
    }
    return 0;
}
