// The trace of one pool::acquire(), kept in its frame: the start when the
// call is made, the end when a connection is handed out or the call fails.
// The pool tests its tracer at each end; without one, nothing here runs and
// nothing is stored.
#pragma once

#include <exception>

#include "member.hpp"

namespace pgcoro::detail {

class acquire_trace {
public:
    void start(pgcoro::tracer& t) noexcept {
        started_ = trace_clock::now();
        token_ = call_start([&] { return t.acquire_started({}); });
    }
    void handed_out(pgcoro::tracer& t, const connection& c, std::uint64_t generation) noexcept {
        end(t, outcome(), pool_access::traced(c), generation);
    }
    void failed(pgcoro::tracer& t, const std::exception_ptr& failure) noexcept {
        auto o = outcome();
        describe_failure(o, failure);
        end(t, o, {}, 0);
    }

private:
    trace_outcome outcome() const noexcept {
        trace_outcome o;
        o.duration = trace_clock::now() - started_;
        return o;
    }
    void end(pgcoro::tracer& t, const trace_outcome& o, const traced_session& session, std::uint64_t generation) noexcept {
        call_end([&] { t.acquire_ended({.token = token_, .outcome = o, .session = session, .generation = generation}); });
    }

    // Uninitialised: written by start(), read only after it.
    trace_token token_;
    trace_clock::time_point started_;
};

}  // namespace pgcoro::detail
