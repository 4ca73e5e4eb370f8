// The trace of one COPY, kept by its copy_writer or copy_reader: a COPY is
// several operations (open, writes or reads, the end), so its start and
// end are reported from there rather than from run_operation. Light: the
// public COPY classes hold one by value even in separate compilation, where
// their users do not see the session; the bodies are in
// copy_trace_definitions.hpp.
#pragma once

#include <cstdint>
#include <exception>
#include <string_view>
#include <utility>

#include "../tracer.hpp"

namespace pgcoro::detail {

class session;

class copy_trace {
public:
    copy_trace() = default;
    copy_trace(copy_trace&& other) noexcept
        : tracer_(std::exchange(other.tracer_, nullptr)), token_(other.token_), started_(other.started_),
          direction_(other.direction_) {}
    copy_trace& operator=(copy_trace&&) = delete;

    inline void start(const session& s, std::string_view sql, copy_direction direction) noexcept;
    inline void succeeded(const session& s, std::uint64_t rows) noexcept;
    inline void failed(const session& s, const std::exception_ptr& failure) noexcept;
    // Ended by the client before its end: abort(), close(), or dropped.
    inline void stopped(const session& s, std::string_view why) noexcept;

private:
    inline trace_outcome outcome() const noexcept;
    inline void end(const session& s, const trace_outcome& o, std::uint64_t rows) noexcept;

    pgcoro::tracer* tracer_ = nullptr;  // set from start to end of a traced COPY
    trace_token token_ = 0;
    trace_clock::time_point started_{};
    copy_direction direction_ = copy_direction::in;
};

}  // namespace pgcoro::detail
