// Runs an awaitable against a timer. When the timer wins, the operation is
// cancelled (its sockets close as its frame unwinds) and errc::timeout thrown.
#pragma once

#include <chrono>
#include <string>

#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "../error.hpp"

namespace pgcoro::detail {

namespace asio = boost::asio;

template <class T>
asio::awaitable<T> with_deadline(asio::awaitable<T> op, std::chrono::steady_clock::duration limit, std::string what) {
    using namespace asio::experimental::awaitable_operators;
    asio::steady_timer timer(co_await asio::this_coro::executor, limit);
    auto outcome = co_await (std::move(op) || timer.async_wait(asio::use_awaitable));
    if (outcome.index() == 1) throw error(errc::timeout, what);
    if constexpr (!std::is_void_v<T>) co_return std::move(std::get<0>(outcome));
}

}  // namespace pgcoro::detail
