// The bodies of copy_trace (copy_trace.hpp), which need the session.
#pragma once

#include <cstdint>
#include <exception>
#include <string_view>
#include <utility>

#include "copy_trace.hpp"
#include "operation_trace.hpp"

namespace pgcoro::detail {

void copy_trace::start(const session& s, std::string_view sql, copy_direction direction) noexcept {
    auto* t = s.settings().tracer.get();
    if (!t) [[likely]] return;
    tracer_ = t;
    direction_ = direction;
    started_ = trace_clock::now();
    token_ = call_start([&] { return t->copy_started({.session = traced_session_of(s), .sql = sql, .direction = direction}); });
}

void copy_trace::succeeded(const session& s, std::uint64_t rows) noexcept {
    if (!tracer_) [[likely]] return;
    end(s, outcome(), rows);
}

void copy_trace::failed(const session& s, const std::exception_ptr& failure) noexcept {
    if (!tracer_) [[likely]] return;
    auto o = outcome();
    describe_failure(o, failure);
    end(s, o, 0);
}

void copy_trace::stopped(const session& s, std::string_view why) noexcept {
    if (!tracer_) [[likely]] return;
    auto o = outcome();
    o.error = make_error_code(errc::cancelled);
    o.message = why;
    end(s, o, 0);
}

trace_outcome copy_trace::outcome() const noexcept {
    trace_outcome o;
    o.duration = trace_clock::now() - started_;
    return o;
}

void copy_trace::end(const session& s, const trace_outcome& o, std::uint64_t rows) noexcept {
    auto* t = std::exchange(tracer_, nullptr);  // one end per start
    call_end([&] {
        t->copy_ended({.session = traced_session_of(s), .direction = direction_, .token = token_, .outcome = o, .rows = rows});
    });
}

}  // namespace pgcoro::detail
