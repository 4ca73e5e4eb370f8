// Tracing one operation that run_operation runs, with nothing added to its
// coroutine frame (which must stay small enough for Asio's frame cache):
// the start time, the tracer's token and how to end the trace live in the
// session while the operation runs. With no tracer set, a null test at the
// start and one at the end. An operation is traced when it says what to
// report (traced_operation): the executions, simple_query(), pipelines;
// the rest (BEGIN, Close, waiting for a notification) is never traced.
#pragma once

#include <concepts>
#include <exception>
#include <string_view>
#include <utility>

#include <boost/system/system_error.hpp>

#include "../tracer.hpp"
#include "session.hpp"

namespace pgcoro::detail {

inline traced_session traced_session_of(const session& s) noexcept {
    const auto& cfg = s.settings();
    return {.host = s.address().host,
            .port = s.address().port,
            .database = cfg.dbname,
            .user = cfg.user,
            .backend_pid = s.key.process_id};
}

// The failure as an end event reports it. The views point into the
// exception, which `failure` keeps alive.
inline void describe_failure(trace_outcome& o, const std::exception_ptr& failure) noexcept {
    try {
        std::rethrow_exception(failure);
    } catch (const server_error& e) {
        o.error = e.code();
        o.message = e.what();
        o.server_error = &e.diag();
    } catch (const error& e) {
        o.error = e.code();
        o.message = e.what();
    } catch (const boost::system::system_error& e) {
        o.error = e.code();
        o.message = e.what();
    } catch (const std::exception& e) {
        o.error = make_error_code(errc::connection_broken);
        o.message = e.what();
    } catch (...) {
        o.error = make_error_code(errc::connection_broken);
    }
}

// A tracer's exception never reaches the operation.
template <class Call>
trace_token call_start(Call&& call) noexcept {
    try {
        return call();
    } catch (...) {
        return 0;
    }
}
template <class Call>
void call_end(Call&& call) noexcept {
    try {
        call();
    } catch (...) {
    }
}

// What an operation reports: its start event, and its end event from the
// outcome (trace_end learns of a failure only through `outcome`).
template <class Operation>
concept traced_operation = requires(const Operation& op, pgcoro::tracer& t, const session& s, const trace_outcome& o) {
    { op.trace_start(t, s) } -> std::same_as<trace_token>;
    op.trace_end(t, s, trace_token{}, o);
};

template <traced_operation Operation>
void begin_trace(pgcoro::tracer& t, session& s, const Operation& op) noexcept {
    auto& trace = s.trace;
    trace.operation = &op;
    trace.end = [](pgcoro::tracer& t, const session& s, const void* op, trace_token token, const trace_outcome& o) {
        static_cast<const Operation*>(op)->trace_end(t, s, token, o);
    };
    trace.started = trace_clock::now();
    trace.token = call_start([&] { return op.trace_start(t, s); });
}

// At the start of every operation; `op` must live until end_trace.
template <class Operation>
void start_trace(session& s, const Operation& op) noexcept {
    if constexpr (traced_operation<Operation>) {
        if (auto* t = s.settings().tracer.get()) [[unlikely]] begin_trace(*t, s, op);
    }
}

// Ends the running operation's trace, if it has one: with `failure`, the
// error its caller is about to see.
inline void end_trace(session& s, const std::exception_ptr* failure = nullptr) noexcept {
    auto& trace = s.trace;
    if (!trace.operation) [[likely]] return;
    const void* op = std::exchange(trace.operation, nullptr);
    auto* t = s.settings().tracer.get();  // set, or no trace would have started
    trace_outcome o;
    o.duration = trace_clock::now() - trace.started;
    if (failure) describe_failure(o, *failure);
    call_end([&] { trace.end(*t, s, op, trace.token, o); });
}

}  // namespace pgcoro::detail
