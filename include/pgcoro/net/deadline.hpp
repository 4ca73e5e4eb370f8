// Runs an awaitable against a timer. When the timer wins, the operation is
// cancelled (its sockets close as its frame unwinds) and errc::timeout thrown.
#pragma once

#include <chrono>
#include <exception>
#include <optional>
#include <type_traits>
#include <string>

#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "../error.hpp"

namespace pgcoro::detail {

namespace asio = boost::asio;

// Runs `op` to completion, keeping its exception instead of throwing it:
// `||` waits for the first *successful* branch, so an operation that fails
// fast (a refused connect) would otherwise wait for the whole deadline.
template <class T, class Outcome>
asio::awaitable<void> run_capturing(asio::awaitable<T> op, Outcome& outcome, std::exception_ptr& failure) {
    try {
        if constexpr (std::is_void_v<T>) co_await std::move(op);
        else outcome.emplace(co_await std::move(op));
    } catch (...) {
        failure = std::current_exception();
    }
}

template <class T>
asio::awaitable<T> with_deadline(asio::awaitable<T> op, std::chrono::steady_clock::duration limit, std::string what) {
    using namespace asio::experimental::awaitable_operators;
    asio::steady_timer timer(co_await asio::this_coro::executor, limit);
    std::optional<std::conditional_t<std::is_void_v<T>, bool, T>> value;
    std::exception_ptr failure;
    auto outcome = co_await (run_capturing(std::move(op), value, failure) || timer.async_wait(asio::use_awaitable));
    if (outcome.index() == 1) throw error(errc::timeout, what);
    if (failure) std::rethrow_exception(failure);
    if constexpr (!std::is_void_v<T>) co_return std::move(*value);
}

}  // namespace pgcoro::detail
