// The trace of one pool::acquire(), kept in its frame: the start when the
// call is made, the end when a connection is handed out or the call fails.
// With no tracer, a null test at each end.
#pragma once

#include <exception>

#include "member.hpp"

namespace pgcoro::detail {

class acquire_trace {
public:
    explicit acquire_trace(pgcoro::tracer* t) noexcept : tracer_(t) {
        if (!t) [[likely]] return;
        started_ = trace_clock::now();
        token_ = call_start([&] { return t->acquire_started({}); });
    }

    void handed_out(const pool_member& m) noexcept {
        if (!tracer_) [[likely]] return;
        end(outcome(), pool_access::traced(m.conn), m.generation);
    }
    void failed(const std::exception_ptr& failure) noexcept {
        if (!tracer_) [[likely]] return;
        auto o = outcome();
        describe_failure(o, failure);
        end(o, {}, 0);
    }

private:
    trace_outcome outcome() const noexcept {
        trace_outcome o;
        o.duration = trace_clock::now() - started_;
        return o;
    }
    void end(const trace_outcome& o, const traced_session& session, std::uint64_t generation) noexcept {
        call_end([&] {
            tracer_->acquire_ended({.token = token_, .outcome = o, .session = session, .generation = generation});
        });
    }

    pgcoro::tracer* tracer_;
    trace_token token_ = 0;
    trace_clock::time_point started_{};
};

}  // namespace pgcoro::detail
