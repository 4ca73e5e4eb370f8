// How every operation runs on a session: alone, and ending either at
// ReadyForQuery with the session usable, or with the session marked broken.
// A server error leaves the session usable; a cancelled or timed-out
// operation is cancelled on the server and drained; anything else breaks it.
// Broken is the default: only an operation that ends in sync clears it, so
// no unexpected exit can hand back a connection that is out of sync.
#pragma once

#include <chrono>
#include <concepts>
#include <exception>
#include <memory>
#include <optional>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include <boost/asio/this_coro.hpp>

#include "cancel_request.hpp"
#include "../net/deadline.hpp"
#include "operation_trace.hpp"
#include "runner.hpp"
#include "session.hpp"
#include "simple_query.hpp"
#include "turns.hpp"

namespace pgcoro::detail {

// How long a cancelled operation may take to bring the session back to
// ReadyForQuery before the connection is closed instead.
inline constexpr std::chrono::milliseconds cancel_drain_limit{5000};

// Reads everything up to the last ReadyForQuery owed, discarding results
// and keeping the first error; a COPY FROM STDIN that starts meanwhile is
// refused with CopyFail.
class drain_exchange : public keeps_first_error {
public:
    explicit drain_exchange(std::string_view copy_fail_reason) noexcept : reason_(copy_fail_reason) {}

    next_step on_message(session& s, const protocol::backend_message& m) {
        using enum protocol::message_type;
        switch (m.type) {
        case ready_for_query: return s.readies_owed() == 0 ? next_step::done : next_step::read;
        case copy_in_response:
            protocol::encode_copy_fail(s.out(), reason_);
            return next_step::write;
        case authentication:
        case backend_key_data:
        case negotiate_protocol_version:
        case copy_both_response:
        case function_call_response:
            return next_step::unexpected;  // nothing an operation asks for
        default:
            // What a cut-short request may still bring is read and dropped; a
            // byte that names no message is not that.
            return protocol::message_name(m.type).empty() ? next_step::unexpected : next_step::read;
        }
    }
    const char* during() const noexcept { return "while draining a session"; }

private:
    std::string_view reason_;
};

// The end of an exchange its owner stopped where it waits on us, nothing in
// flight: a suspended portal's Close and Sync bring CloseComplete and
// ReadyForQuery; COPY FROM STDIN's CopyFail brings its ErrorResponse and
// ReadyForQuery. A stream that read ahead has one Execute in flight: its
// rows and their end (PortalSuspended, CommandComplete or an error) come
// first, unread. Anything else is a protocol violation.
class exchange_end : public keeps_first_error {
public:
    explicit exchange_end(open_exchange ending) noexcept
        : ending_(ending), execute_answered_(ending != open_exchange::reading_ahead) {}

    next_step on_message(session&, const protocol::backend_message& m) {
        using enum protocol::message_type;
        switch (m.type) {
        case data_row:
            return execute_answered_ ? next_step::unexpected : next_step::read;
        case portal_suspended:
        case command_complete:
            if (execute_answered_) return next_step::unexpected;
            execute_answered_ = true;
            return next_step::read;
        case close_complete:
            if (!ends_portal() || !execute_answered_ || closed_ || errors.failure) return next_step::unexpected;
            closed_ = true;
            return next_step::read;
        case ready_for_query:
            return (ends_portal() && closed_) || errors.failure != nullptr ? next_step::done : next_step::unexpected;
        default: return next_step::unexpected;
        }
    }
    // An error answers the Execute in flight, and the server then skips to
    // the Sync: no CloseComplete follows.
    next_step on_error(session& s, diagnostics&& d) {
        if (errors.failure) return next_step::unexpected;
        execute_answered_ = true;
        return keeps_first_error::on_error(s, std::move(d));
    }
    const char* during() const noexcept { return "while ending a stream or COPY"; }

private:
    bool ends_portal() const noexcept {
        return ending_ == open_exchange::suspended_portal || ending_ == open_exchange::reading_ahead;
    }

    open_exchange ending_;
    bool execute_answered_;
    bool closed_ = false;
};

// The exchanges whose server side runs on until the statement ends (or is
// cancelled), not waiting for the client's next message.
constexpr bool keeps_server_working(open_exchange e) noexcept {
    return e == open_exchange::copy_out || e == open_exchange::streaming_portal;
}

// Which answers ending the open exchange may bring: only the known ones when
// its owner stopped at a known point; anything up to ReadyForQuery when an
// operation was cut short mid-flight.
enum class exchange_stop { at_rest, in_flight };

// Ends the open exchange (CopyFail for COPY FROM STDIN, Close and Sync for a
// suspended portal) and reads up to the last ReadyForQuery owed, discarding
// results and keeping the first error.
inline asio::awaitable<void> end_exchange_and_drain(session& s, std::optional<diagnostics>& first_error,
                                                    std::string_view copy_fail_reason,
                                                    exchange_stop stop = exchange_stop::in_flight) {
    // A write a cancellation cut short is completed first: only whole
    // messages keep the stream in sync.
    co_await s.flush();
    switch (s.exchange()) {
    case open_exchange::copy_in: protocol::encode_copy_fail(s.out(), copy_fail_reason); break;
    case open_exchange::suspended_portal:
    case open_exchange::reading_ahead:
        protocol::encode_close(s.out(), protocol::object_kind::portal, "");
        protocol::encode_sync(s.out());
        s.expect_ready();
        break;
    case open_exchange::copy_out:
    case open_exchange::streaming_portal:
    case open_exchange::none: break;
    }
    const auto ending = s.exchange();
    s.exchange_ended();
    if (stop == exchange_stop::at_rest && !keeps_server_working(ending) && ending != open_exchange::none &&
        s.readies_owed() == 1) {
        exchange_end end(ending);
        co_await run_exchange(s, end);
        if (end.errors.failure) first_error = std::move(*end.errors.failure);
        co_return;
    }
    drain_exchange drain(copy_fail_reason);
    if (s.readies_owed() > 0) co_await run_exchange(s, drain);
    else co_await s.flush();
    if (drain.errors.failure) first_error = std::move(*drain.errors.failure);
}

// Whether what is buffered already holds the last ReadyForQuery owed: the
// messages before it are read and dropped.
inline bool end_is_buffered(session& s) {
    drain_exchange drain("");
    return consume(s, drain) == next_step::done;
}

// An exchange whose driving object (a row_stream, a COPY) was destroyed
// before its end: finished before the session's next operation.
inline asio::awaitable<void> finish_abandoned_exchange(session& s) {
    // COPY TO STDOUT and a continuous stream keep the server working until
    // we stop it, unless their end has arrived. Inside a transaction block,
    // a stream's rest is read instead: a cancel would abort the transaction.
    if (keeps_server_working(s.exchange()) && !end_is_buffered(s) &&
        (s.exchange() == open_exchange::copy_out || s.transaction() == protocol::transaction_status::idle))
        co_await send_cancel_request(cancel_target_of(s));
    std::optional<diagnostics> ignored;  // the abandoned statement's own failure (57014)
    co_await end_exchange_and_drain(s, ignored, "COPY abandoned by the client", exchange_stop::at_rest);
}

// Statements queued by objects that could not await them (a transaction
// destroyed without commit queues its ROLLBACK), sent before the next
// operation.
inline asio::awaitable<void> run_deferred_sql(session& s) {
    const std::string sql = s.take_deferred();
    std::vector<result> ignored;
    co_await run_simple_query(s, sql, ignored);
}

struct recovery {
    bool recovered = false;
    std::optional<diagnostics> server_error;  // what the cancelled statement ended with (57014)
};

// The operation was cut short mid-flight. Cancel on the server and read up
// to ReadyForQuery so the session stays usable.
inline asio::awaitable<recovery> recover_from_cancellation(session& s) {
    recovery r;
    try {
        auto cancel_and_drain = [&]() -> asio::awaitable<void> {
            // COPY FROM STDIN waits on us: CopyFail ends it, no cancel needed.
            if (s.exchange() != open_exchange::copy_in) co_await send_cancel_request(cancel_target_of(s));
            co_await end_exchange_and_drain(s, r.server_error, "operation cancelled");
        };
        co_await with_deadline(cancel_and_drain(), cancel_drain_limit, "draining a cancelled query");
        r.recovered = true;
    } catch (...) {
    }
    co_return r;
}

// Whether the operation continues an exchange its caller already owns (a
// row_stream's next chunk) or starts afresh.
enum class operation_start { fresh, continues_exchange };

// An operation that is one exchange (see execution.hpp), run by
// run_operation() without a coroutine of its own: a frame fewer per query,
// which keeps the frames a query needs within Asio's per-thread cache of
// two, so a query allocates nothing.
template <class T>
concept message_exchange = exchange_algorithm<T> && requires(T& op, session& s) {
    { op.ready(s) } -> std::same_as<bool>;  // else prepare(s) first
    { op.prepare(s) } -> std::same_as<asio::awaitable<void>>;
    { op.start(s) } -> std::same_as<next_step>;  // appends the request: write, or done if none
    { op.retry() } -> std::same_as<bool>;  // run once more, from ready()
};

// What run_operation returns: the operation's result(), if it has one.
template <class Operation>
struct operation_result {
    using type = void;
};
template <class Operation>
    requires requires(Operation& op) { op.result(); }
struct operation_result<Operation> {
    using type = decltype(std::declval<Operation&>().result());
};

template <message_exchange Exchange>
asio::awaitable<void> run_message_exchange(session& s, Exchange& op) {
    do {
        if (!op.ready(s)) co_await op.prepare(s);
        co_await run_exchange(s, op, op.start(s));
    } while (op.retry());
}

template <class Operation>
asio::awaitable<void> start_operation(session& s, Operation& op) {
    if constexpr (message_exchange<Operation>) return run_message_exchange(s, op);
    else return op(s);
}

// An operation waits for its turn behind the others (shared_requests.hpp),
// but not behind a row_stream or COPY left open between operations: its
// owner may be the very coroutine asking, which would then wait forever.
inline void check_operation_can_start(const session& s, operation_start start) {
    if (s.broken()) throw error(errc::connection_broken, "connection is broken by an earlier failure and must be closed");
    if (start == operation_start::fresh && s.busy() && s.exchange() != open_exchange::none)
        throw error(errc::operation_in_progress,
                    "a row_stream or COPY is open on this connection: read it to the end (or close it) first");
}


// Brings the session back to a usable state before an operation: ends an
// exchange its owner abandoned, runs statements queued for it.
inline asio::awaitable<void> tidy_session(session& s) {
    if (s.exchange() != open_exchange::none) co_await finish_abandoned_exchange(s);
    if (s.has_deferred()) co_await run_deferred_sql(s);
}

// With query_timeout set, the tidying counts against the operation's
// deadline: a server that never ends an abandoned COPY must not hold the
// next operation beyond its timeout.
template <class Operation>
asio::awaitable<void> tidy_then_start(session& s, Operation& op) {
    co_await tidy_session(s);
    co_await start_operation(s, op);
}

// The operation under query_timeout. A coroutine of its own: each co_await
// of with_deadline keeps its temporaries (the message, the awaitables) in
// the frame, and two of them in run_operation's made that frame too large
// for Asio's frame cache (1,020 bytes), so every query allocated twice.
template <class Operation>
asio::awaitable<void> start_with_deadline(session& s, Operation& op, bool untidy) {
    // Not one co_await over a conditional: GCC 12 destroys both operands' frames.
    if (untidy) co_await with_deadline(tidy_then_start(s, op), s.query_timeout, "query_timeout expired");
    else co_await with_deadline(start_operation(s, op), s.query_timeout, "query_timeout expired");
}

// What a failed operation still owes the session before its error is thrown.
enum class owed_recovery { cancelled, timed_out };

// After an operation failed: sets `clean` when the session is usable and
// throws what the caller should see, unless a cancelled or timed-out
// statement must first be cancelled on the server and drained (see
// recover_and_throw). Not a coroutine: run when the coroutine's own
// cancellation state would make any co_await throw.
inline owed_recovery judge_failure(session& s, const std::exception_ptr& failure, bool& clean) {
    bool cancelled = false;
    bool timed_out = false;
    try {
        std::rethrow_exception(failure);
    } catch (const server_error& e) {
        clean = !ends_session(e.diag());  // otherwise back at ReadyForQuery
        throw;
    } catch (const boost::system::system_error& e) {
        cancelled = e.code() == asio::error::operation_aborted;
    } catch (const error& e) {
        // What the server sent made no sense: nothing it says next can be trusted.
        if (e.code() == errc::protocol_violation || e.code() == errc::message_too_large) throw;
        timed_out = s.query_timeout.count() > 0 && e.code() == errc::timeout && !s.in_sync();
        // Otherwise raised on the client side before anything was sent (a
        // parameter that cannot be encoded, a wrong argument count): still in sync.
        if (!timed_out) {
            clean = s.in_sync();
            throw;
        }
    } catch (...) {
    }

    if (s.abandoned()) throw error(errc::connection_broken, "the connection was closed while the operation was running");
    if (cancelled && s.in_sync()) {
        // Nothing was in flight (e.g. waiting for a notification): nothing to undo.
        clean = true;
        throw error(errc::cancelled, "operation cancelled (nothing was in flight; the connection is usable)");
    }
    if (cancelled) return owed_recovery::cancelled;
    if (timed_out) return owed_recovery::timed_out;
    try {
        std::rethrow_exception(failure);
    } catch (const boost::system::system_error& e) {
        throw_transport_failure(e, s.address());
    }
}

// judge_failure, ending the operation's trace with what it throws.
inline owed_recovery settle_failure(session& s, const std::exception_ptr& failure, bool& clean) {
    try {
        return judge_failure(s, failure, clean);
    } catch (...) {
        const auto thrown = std::current_exception();
        end_trace(s, &thrown);
        throw;
    }
}

// Cancels on the server, drains, and throws what the caller should see,
// ending the operation's trace with it.
inline asio::awaitable<void> recover_and_throw(session& s, owed_recovery owed, bool& clean) {
    try {
        const recovery outcome = co_await recover_from_cancellation(s);
        clean = outcome.recovered;
        if (owed == owed_recovery::cancelled) {
            throw error(errc::cancelled, clean
                ? "operation cancelled (query canceled on the server; the connection is usable)"
                : "operation cancelled; the connection could not be brought back to a clean state and was closed");
        }
        if (outcome.recovered && outcome.server_error) throw server_error(*outcome.server_error);
        throw error(errc::timeout, outcome.recovered
            ? "query_timeout expired (the connection is usable)"
            : "query_timeout expired; the connection could not be brought back to a clean state and was closed");
    } catch (...) {
        const auto thrown = std::current_exception();
        end_trace(s, &thrown);
        throw;
    }
}

// Runs `op(session&)` (or a message_exchange) with the session to itself.
// The shared pointer keeps the session alive while it runs, whoever else
// lets go of it. The failure path lives in settle_failure and
// recover_and_throw, which keeps this frame small enough for Asio's frame cache.
template <class Operation>
asio::awaitable<typename operation_result<Operation>::type> run_operation(std::shared_ptr<session> keep_alive,
                                                                          Operation op,
                                                                          operation_start start = operation_start::fresh) {
    auto& s = *keep_alive;
    check_operation_can_start(s, start);
    if (start == operation_start::fresh && !s.may_start_alone()) co_await wait_for_session_alone(s);
    struct operation_scope {
        session& s;
        bool clean = false;
        explicit operation_scope(session& session) : s(session) { s.begin_operation(); }
        ~operation_scope() {
            if (!clean) s.mark_broken();
            s.end_operation();
            s.trace.operation = nullptr;  // ended, or its frame destroyed mid-flight: never ended later
        }
    } scope{s};
    start_trace(s, op);

    std::exception_ptr failure;
    try {
        const bool untidy = start == operation_start::fresh && (s.exchange() != open_exchange::none || s.has_deferred());
        if (s.query_timeout.count() > 0) {
            co_await start_with_deadline(s, op, untidy);
        } else if constexpr (message_exchange<Operation>) {
            if (untidy) co_await tidy_session(s);
            // run_message_exchange, inlined: its frames would be a third and
            // a fourth one per query.
            do {
                if (!op.ready(s)) co_await op.prepare(s);
                for (auto step = op.start(s); step == next_step::write || step == next_step::read;) {
                    if (step == next_step::write) {
                        if (!s.send_now()) s.sent(co_await s.send_rest());
                    } else {
                        s.received(co_await s.receive());
                    }
                    step = consume(s, op);
                }
            } while (op.retry());
        } else {
            if (untidy) co_await tidy_session(s);
            co_await op(s);
        }
        scope.clean = true;
        if constexpr (traced_operation<Operation>) end_trace(s);
        if constexpr (std::is_void_v<typename operation_result<Operation>::type>) co_return;
        else co_return op.result();
    } catch (...) {
        failure = std::current_exception();
    }
    const auto owed = settle_failure(s, failure, scope.clean);
    // Until reset, every further co_await in this coroutine would throw.
    if (owed == owed_recovery::cancelled) co_await asio::this_coro::reset_cancellation_state();
    co_await recover_and_throw(s, owed, scope.clean);
    __builtin_unreachable();  // recover_and_throw always throws
}

}  // namespace pgcoro::detail
