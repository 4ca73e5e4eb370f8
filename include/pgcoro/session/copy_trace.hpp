// The trace of one COPY, kept by its copy_writer or copy_reader: a COPY is
// several operations (open, writes or reads, the end), so its start and
// end are reported from there rather than from run_operation.
#pragma once

#include <cstdint>
#include <exception>
#include <string_view>
#include <utility>

#include "operation_trace.hpp"

namespace pgcoro::detail {

class copy_trace {
public:
    copy_trace() = default;
    copy_trace(copy_trace&& other) noexcept
        : tracer_(std::exchange(other.tracer_, nullptr)), token_(other.token_), started_(other.started_),
          direction_(other.direction_) {}
    copy_trace& operator=(copy_trace&&) = delete;

    void start(const session& s, std::string_view sql, copy_direction direction) noexcept {
        auto* t = s.settings().tracer.get();
        if (!t) [[likely]] return;
        tracer_ = t;
        direction_ = direction;
        started_ = trace_clock::now();
        token_ = call_start([&] { return t->copy_started({.session = traced_session_of(s), .sql = sql, .direction = direction}); });
    }

    void succeeded(const session& s, std::uint64_t rows) noexcept {
        if (!tracer_) [[likely]] return;
        end(s, outcome(), rows);
    }
    void failed(const session& s, const std::exception_ptr& failure) noexcept {
        if (!tracer_) [[likely]] return;
        auto o = outcome();
        describe_failure(o, failure);
        end(s, o, 0);
    }
    // Ended by the client before its end: abort(), close(), or dropped.
    void stopped(const session& s, std::string_view why) noexcept {
        if (!tracer_) [[likely]] return;
        auto o = outcome();
        o.error = make_error_code(errc::cancelled);
        o.message = why;
        end(s, o, 0);
    }

private:
    trace_outcome outcome() const noexcept {
        trace_outcome o;
        o.duration = trace_clock::now() - started_;
        return o;
    }
    void end(const session& s, const trace_outcome& o, std::uint64_t rows) noexcept {
        auto* t = std::exchange(tracer_, nullptr);  // one end per start
        call_end([&] {
            t->copy_ended({.session = traced_session_of(s), .direction = direction_, .token = token_, .outcome = o, .rows = rows});
        });
    }

    pgcoro::tracer* tracer_ = nullptr;  // set from start to end of a traced COPY
    trace_token token_ = 0;
    trace_clock::time_point started_{};
    copy_direction direction_ = copy_direction::in;
};

}  // namespace pgcoro::detail
