// Handlers for an any_io_executor that is an io_context's own executor,
// bound to that executor's concrete type instead.
//
// Through the type-erased any_io_executor, Asio wraps every handler it runs
// or posts in an executor_function taken from a per-thread cache of two
// blocks, whatever allocator the handler carries. A connection shared by
// dozens of coroutines has more wake-ups and completions than that in
// flight, and the rest reach malloc. On the concrete type a handler
// dispatched on its own thread runs inline, and a posted one is stored in
// the memory the handler's allocator gives (net/handler_memory.hpp).
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/io_context.hpp>

namespace pgcoro::detail {

namespace asio = boost::asio;

// Calls f(executor) with the concrete executor when `ex` wraps an
// io_context's, else with `ex` itself (a strand, a thread pool).
template <class Function>
void with_concrete_executor(const asio::any_io_executor& ex, Function&& f) {
    if (const auto* io = ex.target<asio::io_context::executor_type>()) f(*io);
    else f(ex);
}

}  // namespace pgcoro::detail
