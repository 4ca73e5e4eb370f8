// Concurrent query()/execute() calls on one connection, pipelined: each
// request is written as its own Bind/Execute/Sync segment into the
// session's write buffer, and the session's writer sends everything
// written by the time it runs in one write; its reader takes the answers
// in order and hands each to the request's algorithm, which lives in the
// waiting coroutine's frame, then wakes that coroutine. The work is per
// connection: no lock and no writer shared between connections.
//
// The reader and the writer are completion handlers on the executor of the
// session's first shared request; all of a connection's requests must come
// from that executor (one strand), as for any Asio object.
//
// A request that gives up (cancellation, query_timeout) before its turn
// is taken out of the queue: nothing was written. After it was written it
// cannot be recalled: a CancelRequest would stop whichever statement the
// server is running, perhaps another coroutine's. Its coroutine gets
// errc::cancelled (or errc::timeout) at once; its statement runs to its
// end on the server, and the reader reads its answer and drops it.
//
// A session runs a request alone, as before, while it has never had two
// at once: a connection used by one coroutine pays nothing for sharing.
#pragma once

#include <exception>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>

#include <boost/asio/bind_allocator.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>

#include "../net/concrete_executor.hpp"
#include "operation.hpp"
#include "operation_trace.hpp"
#include "request_queue.hpp"
#include "runner.hpp"
#include "session.hpp"

namespace pgcoro::detail {

// The answer of a request whose coroutine gave up on it, read up to its
// ReadyForQuery and dropped.
class discarded_answer {
public:
    next_step on_message(session&, const protocol::backend_message& m) {
        using enum protocol::message_type;
        switch (m.type) {
        case ready_for_query: return next_step::done;
        case authentication:
        case backend_key_data:
        case negotiate_protocol_version:
        case copy_in_response:  // waits for data nobody will send
        case copy_both_response:
        case function_call_response: return next_step::unexpected;
        default: return protocol::message_name(m.type).empty() ? next_step::unexpected : next_step::read;
        }
    }
    next_step on_error(session&, diagnostics&&) { return next_step::read; }
    const char* during() const noexcept { return "while discarding the answer to an abandoned request"; }
};

// A shared request: its algorithm (an execution) and how the reader feeds it.
template <class Operation>
struct shared_request : queued_request {
    shared_request(session& s, Operation& o) : queued_request(s), op(o) { feed = &feed_answer; }
    Operation& op;
    trace_token token = 0;
    trace_clock::time_point started{};

    static next_step feed_answer(session& s, queued_request& r) { return consume(s, static_cast<shared_request&>(r).op); }
};

// What every request still owed or waiting gets when the session fails
// under them, as the caller should see it.
inline std::exception_ptr as_session_failure(const session& s, const std::exception_ptr& failure) {
    try {
        std::rethrow_exception(failure);
    } catch (const boost::system::system_error& e) {
        if (s.abandoned())
            return std::make_exception_ptr(error(errc::connection_broken, "the connection was closed while the request was in flight"));
        try {
            throw_transport_failure(e, s.address());
        } catch (...) {
            return std::current_exception();
        }
    } catch (...) {
        return std::current_exception();  // a FATAL server error, a protocol violation
    }
}

// The session failed: every request owed or waiting fails with `failure`.
inline void fail_shared_requests(session& s, const std::exception_ptr& failure) noexcept {
    s.mark_broken();
    auto& q = s.requests;
    while (q.owed() > 0) {
        if (auto* r = q.first_owed()) {
            r->failure = failure;
            try {
                r->wake.wake();
            } catch (...) {
            }
        }
        q.pop_owed();
    }
    s.admit_waiting();  // on a broken session: wakes them all to fail
}

inline void read_answers(const std::shared_ptr<session>& keep_alive);
inline void send_soon(const std::shared_ptr<session>& keep_alive);

// Whoever asked (request_queue::on_rest) hears that the session came to
// rest. The last thing a reader's or writer's handler does: the listener
// may hand the connection to another thread.
inline void tell_if_at_rest(session& s) noexcept {
    auto& q = s.requests;
    if (q.on_rest.expired() || !s.at_rest()) return;
    if (auto listener = std::exchange(q.on_rest, {}).lock()) listener->came_to_rest(s);
}

// Takes the buffered answers, in order, each to its request's algorithm,
// waking each request's coroutine in place when its answer is complete;
// reads on while any is owed. Runs on the session's home executor.
inline void take_answers(const std::shared_ptr<session>& keep_alive) noexcept {
    auto& s = *keep_alive;
    auto& q = s.requests;
    try {
        while (q.owed() > 0) {
            if (s.broken()) throw error(errc::connection_broken, "connection is broken");
            auto* r = q.first_owed();
            const auto owed = s.readies_owed();
            next_step step;
            if (r) {
                try {
                    step = r->feed(s, *r);
                } catch (...) {
                    // After its ReadyForQuery (a server error, a result too
                    // large): the request's own failure; the stream is in step.
                    if (s.readies_owed() + 1 != owed) throw;
                    r->failure = std::current_exception();
                    step = next_step::done;
                }
            } else {
                discarded_answer discard;
                step = consume(s, discard);
            }
            if (step == next_step::read) {
                read_answers(keep_alive);
                return;
            }
            if (step != next_step::done || s.readies_owed() + 1 != owed)
                protocol::throw_protocol_violation("a pipelined request ended before its ReadyForQuery");
            q.pop_owed();
            s.admit_waiting();
            send_soon(keep_alive);  // the server may be running short of requests
            if (r) r->wake.wake_here();  // its coroutine runs now, until it waits again
        }
        q.reading = false;
    } catch (...) {
        q.reading = false;
        fail_shared_requests(s, as_session_failure(s, std::current_exception()));
    }
    tell_if_at_rest(s);
}

// One read towards the next answer; take_answers goes on when it completes.
inline void read_answers(const std::shared_ptr<session>& keep_alive) {
    auto on_read = [keep_alive](boost::system::error_code ec, std::size_t n) {
        if (ec) {
            keep_alive->requests.reading = false;
            fail_shared_requests(*keep_alive, as_session_failure(*keep_alive, std::make_exception_ptr(boost::system::system_error(ec))));
            tell_if_at_rest(*keep_alive);
            return;
        }
        keep_alive->received(n);
        take_answers(keep_alive);
    };
    with_concrete_executor(keep_alive->requests.home,
                           [&](const auto& home) { keep_alive->receive(asio::bind_executor(home, std::move(on_read))); });
}

// Sends what requests wrote, everything written by the time it runs in one
// write, until nothing is left. Runs on the session's home executor.
inline void write_requests(const std::shared_ptr<session>& keep_alive) noexcept {
    auto& s = *keep_alive;
    auto& q = s.requests;
    try {
        while (!s.broken() && s.take_for_sending()) {
            q.staged = 0;
            ++q.stats.writes;
            if (!s.send_taken_now()) {
                q.writing = true;
                auto on_written = [keep_alive](boost::system::error_code ec, std::size_t n) {
                    auto& s = *keep_alive;
                    s.requests.writing = false;
                    try {
                        s.sent_taken({ec, n});
                    } catch (...) {
                        fail_shared_requests(s, as_session_failure(s, std::current_exception()));
                        tell_if_at_rest(s);
                        return;
                    }
                    s.admit_waiting();  // room in the byte bound, or quiet for an exclusive operation
                    write_requests(keep_alive);
                };
                with_concrete_executor(q.home, [&](const auto& home) { s.send_taken_rest(asio::bind_executor(home, std::move(on_written))); });
                return;
            }
            s.admit_waiting();
        }
    } catch (...) {
        fail_shared_requests(s, as_session_failure(s, std::current_exception()));
    }
    tell_if_at_rest(s);
}

// The writer runs once the coroutines ready to run have had their turn (a
// post), so that their requests go with the first; and only when it is
// time to send (request_queue::time_to_send), else when an answer comes.
inline void send_soon(const std::shared_ptr<session>& keep_alive) {
    auto& q = keep_alive->requests;
    if (q.writing || q.flush_posted || !q.time_to_send()) return;
    q.flush_posted = true;
    auto flush = asio::bind_allocator(handler_allocator<void, handler_memory<1, 128>>(q.flush_memory), [keep_alive] {
        keep_alive->requests.flush_posted = false;
        write_requests(keep_alive);
    });
    with_concrete_executor(q.home, [&](const auto& home) { asio::post(home, std::move(flush)); });
}

// After a request was written to the buffer: sent soon; the reader starts
// if it is idle.
inline void shared_request_written(const std::shared_ptr<session>& keep_alive) {
    auto& q = keep_alive->requests;
    ++q.staged;
    send_soon(keep_alive);
    if (!q.reading) {
        q.reading = true;
        take_answers(keep_alive);  // nothing is buffered for it yet: starts a read
    }
}

// A written request's coroutine gave up on its answer (request_wait's hook).
inline bool abandon_answer(void* request) noexcept {
    auto& r = *static_cast<queued_request*>(request);
    r.owner->requests.abandon(r);
    return true;
}

// Whether a request can be written with others now: its statement is
// prepared, nothing is left to tidy, and the server session is the
// connection's own (behind a transaction-pooling proxy each request runs
// alone: docs/pipelining.md).
template <class Operation>
bool can_share(session& s, Operation& op) {
    return s.exchange() == open_exchange::none && !s.has_deferred() && !s.statements.server_session_shared() &&
           op.ready(s);
}

template <class Operation>
void begin_shared_trace(session& s, shared_request<Operation>& r) noexcept {
    if constexpr (traced_operation<Operation>) {
        if (auto* t = s.settings().tracer.get()) [[unlikely]] {
            r.started = trace_clock::now();
            r.token = call_start([&] { return r.op.trace_start(*t, s); });
        }
    }
}

template <class Operation>
void end_shared_trace(session& s, shared_request<Operation>& r, const std::exception_ptr& failure) noexcept {
    if constexpr (traced_operation<Operation>) {
        if (auto* t = s.settings().tracer.get()) [[unlikely]] {
            trace_outcome o;
            o.duration = trace_clock::now() - r.started;
            if (failure) describe_failure(o, failure);
            call_end([&] { r.op.trace_end(*t, s, r.token, o); });
        }
    }
}

// Runs `op` as an exclusive operation after all (it must prepare first).
// A coroutine of its own: the operation run_operation takes by value is
// built in this frame, not in run_pipelined's, which must stay within
// Asio's frame cache (1,020 bytes) for a query to allocate nothing.
template <class Operation>
[[gnu::noinline]] asio::awaitable<typename operation_result<Operation>::type> run_alone_instead(std::shared_ptr<session> keep_alive,
                                                                                             Operation& op) {
    co_return co_await run_operation(std::move(keep_alive), std::move(op));
}

// The request written with others, its answer read by the session's reader.
template <class Operation>
asio::awaitable<typename operation_result<Operation>::type> run_pipelined(std::shared_ptr<session> keep_alive, Operation op) {
    auto& s = *keep_alive;
    auto& q = s.requests;
    shared_request<Operation> request(s, op);
    bool waited = false;
    if (q.none_waiting() && s.may_admit(request)) {
        ++q.reserved;
    } else {
        co_await wait_for_turn(s, request);
        waited = true;
    }

    // Its turn came: still shareable? (Another operation may have evicted
    // its statement meanwhile; run_shared checked it when it did not wait.)
    // If not, it runs alone, preparing first.
    if (waited && !can_share(s, op)) {
        --q.reserved;
        s.admit_waiting();
        co_return co_await run_alone_instead(std::move(keep_alive), op);
    }
    try {
        op.start(s);  // appends its segment; a parameter that fails to encode appends nothing
    } catch (...) {
        --q.reserved;
        s.admit_waiting();
        throw;
    }
    --q.reserved;
    q.push_written(request);
    begin_shared_trace(s, request);
    if (!q.pipelining) {
        q.pipelining = true;
        q.home = co_await asio::this_coro::executor;
    }
    shared_request_written(keep_alive);

    bool gave_up = false;
    try {
        co_await request.wake.wait(&abandon_answer, &request);
    } catch (...) {
        // The coroutine was cancelled already: the wait threw before it began.
        q.abandon(request);
        gave_up = true;
    }
    std::exception_ptr failure = request.failure;
    if (gave_up || request.wake.outcome() == asio::error::operation_aborted)
        failure = std::make_exception_ptr(error(errc::cancelled,
            "operation cancelled after its request was written with others: it was not cancelled on the server; "
            "its answer will be read and dropped, and the connection stays usable"));
    end_shared_trace(s, request, failure);
    if (failure) std::rethrow_exception(failure);
    if (op.retry()) co_return co_await run_alone_instead(std::move(keep_alive), op);  // re-prepared
    if constexpr (!std::is_void_v<typename operation_result<Operation>::type>) co_return op.result();
}

// query_timeout over a pipelined request: it gives up as a cancelled one
// does (the statement is not cancelled on the server).
template <class Operation>
asio::awaitable<typename operation_result<Operation>::type> run_pipelined_with_deadline(std::shared_ptr<session> keep_alive,
                                                                                        Operation op) {
    const auto limit = keep_alive->query_timeout;
    std::string what = "query_timeout expired while the request was pipelined with others (it was not cancelled on "
                       "the server; its answer will be dropped and the connection stays usable)";
    auto pipelined = run_pipelined(std::move(keep_alive), std::move(op));
    co_return co_await with_deadline(std::move(pipelined), limit, std::move(what));
}

// How query() and execute() run: alone while the session has never been
// shared, else pipelined with the other coroutines' requests. Not a
// coroutine: the choice costs no frame.
template <class Operation>
asio::awaitable<typename operation_result<Operation>::type> run_shared(std::shared_ptr<session> keep_alive, Operation op) {
    auto& s = *keep_alive;
    const bool alone = !s.requests.pipelining && s.may_start_alone();
    if (alone || s.broken() || !can_share(s, op)) return run_operation(std::move(keep_alive), std::move(op));
    if (s.query_timeout.count() > 0) return run_pipelined_with_deadline(std::move(keep_alive), std::move(op));
    return run_pipelined(std::move(keep_alive), std::move(op));
}

}  // namespace pgcoro::detail
