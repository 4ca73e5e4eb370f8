// Tracing one operation from run_operation's own frame: no frame, no
// allocation of its own, and with no tracer set a null test at each end. An
// operation is traced when it says what to report (traced_operation): the
// executions, simple_query(), pipelines. The rest (BEGIN, Close, waiting for
// a notification) runs untraced at no cost at all.
#pragma once

#include <concepts>
#include <exception>
#include <string_view>

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
// outcome (trace_end is told of a failure only through `outcome`).
template <class Operation>
concept traced_operation = requires(const Operation& op, pgcoro::tracer& t, const session& s, const trace_outcome& o) {
    { op.trace_start(t, s) } -> std::same_as<trace_token>;
    op.trace_end(t, s, trace_token{}, o);
};

// Untraced operations: nothing at all.
template <class Operation>
class operation_trace {
public:
    operation_trace(const session&, const Operation&) noexcept {}
    void succeeded(const session&, const Operation&) noexcept {}
    void failed(const session&, const Operation&, const std::exception_ptr&) noexcept {}
};

template <traced_operation Operation>
class operation_trace<Operation> {
public:
    operation_trace(const session& s, const Operation& op) noexcept {
        if (auto* t = s.settings().tracer.get()) [[unlikely]] start(*t, s, op);
    }
    void succeeded(const session& s, const Operation& op) noexcept {
        if (auto* t = s.settings().tracer.get()) [[unlikely]] end(*t, s, op, nullptr);
    }
    void failed(const session& s, const Operation& op, const std::exception_ptr& failure) noexcept {
        if (auto* t = s.settings().tracer.get()) [[unlikely]] end(*t, s, op, &failure);
    }

private:
    void start(pgcoro::tracer& t, const session& s, const Operation& op) noexcept {
        started_ = trace_clock::now();
        token_ = call_start([&] { return op.trace_start(t, s); });
    }
    void end(pgcoro::tracer& t, const session& s, const Operation& op, const std::exception_ptr* failure) noexcept {
        trace_outcome o;
        o.duration = trace_clock::now() - started_;
        if (failure) describe_failure(o, *failure);
        call_end([&] { op.trace_end(t, s, token_, o); });
    }

    trace_token token_ = 0;
    trace_clock::time_point started_{};
};

}  // namespace pgcoro::detail
