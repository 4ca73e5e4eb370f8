// What integration tests share: the throwaway server's coordinates (from the
// environment scripts/test-server exports) and a way to run a coroutine to
// completion from a Catch2 test.
#pragma once

#include <pgcoro.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <cstdlib>
#include <fstream>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>

namespace test {

namespace asio = boost::asio;

inline std::string env(const char* name) {
    const char* v = std::getenv(name);
    if (!v || !*v)
        throw std::runtime_error(std::string("environment variable ") + name +
                                 " is not set: run the tests through scripts/run-tests (or scripts/test-server run --)");
    return v;
}

inline std::string host() { return env("PGCORO_TEST_HOST"); }
inline std::string port() { return env("PGCORO_TEST_PORT"); }
inline std::string socket_dir() { return env("PGCORO_TEST_SOCKET_DIR"); }

inline std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error("cannot read " + path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

// A conninfo for the test server over TCP; `extra` adds or overrides keywords.
inline std::string tcp_conninfo(const std::string& extra) {
    return "host=" + host() + " port=" + port() + " dbname=pgcoro " + extra;
}
inline std::string unix_conninfo(const std::string& extra) {
    return "host=" + socket_dir() + " port=" + port() + " dbname=pgcoro " + extra;
}

// Parsed without the process environment, so PG* variables cannot interfere.
inline pgcoro::config config_of(const std::string& conninfo) {
    return pgcoro::config::parse(conninfo, pgcoro::config::no_environment());
}

// Runs a coroutine on a fresh io_context and returns its value or rethrows.
template <class T>
T run(asio::awaitable<T> op) {
    asio::io_context io;
    std::exception_ptr failure;
    std::optional<T> value;
    asio::co_spawn(io, std::move(op), [&](std::exception_ptr e, T v) {
        failure = e;
        if (!e) value.emplace(std::move(v));
    });
    io.run();
    if (failure) std::rethrow_exception(failure);
    return std::move(*value);
}

inline void run(asio::awaitable<void> op, int concurrency_hint = BOOST_ASIO_CONCURRENCY_HINT_DEFAULT) {
    asio::io_context io(concurrency_hint);
    std::exception_ptr failure;
    asio::co_spawn(io, std::move(op), [&](std::exception_ptr e) { failure = e; });
    io.run();
    if (failure) std::rethrow_exception(failure);
}

inline asio::awaitable<void> sleep_for(std::chrono::milliseconds d) {
    asio::steady_timer t(co_await asio::this_coro::executor, d);
    co_await t.async_wait(asio::use_awaitable);
}

// Connects, runs one query, closes; returns the first field of the first row
// in text form (simple protocol).
// The first field of a simple query on an open connection, as text.
inline asio::awaitable<std::string> scalar_on(pgcoro::connection& conn, std::string sql) {
    auto results = co_await conn.simple_query(sql);
    co_return std::string(results.at(0).at(0).text(0));
}

inline asio::awaitable<std::string> scalar(pgcoro::config cfg, std::string sql) {
    auto conn = co_await pgcoro::connection::connect(std::move(cfg));
    auto results = co_await conn.simple_query(sql);
    std::string v(results.at(0).at(0).text(0));
    co_await conn.close();
    co_return v;
}

// How a connect attempt failed: the error code, the message and, for a server
// error, the SQLSTATE.
struct failure {
    std::error_code code;
    std::string what;
    std::string sqlstate;
};

// The failure a connect attempt ends with; std::nullopt when it succeeded.
inline asio::awaitable<std::optional<failure>> connect_failure(pgcoro::config cfg) {
    try {
        auto conn = co_await pgcoro::connection::connect(std::move(cfg));
        co_await conn.close();
    } catch (const pgcoro::server_error& e) {
        co_return failure{e.code(), e.what(), e.sqlstate()};
    } catch (const pgcoro::error& e) {
        co_return failure{e.code(), e.what(), {}};
    }
    co_return std::nullopt;
}

}  // namespace test
