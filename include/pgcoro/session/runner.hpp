// The one place that reads the server's messages. Every exchange is an
// algorithm: it appends its requests to the session's write buffer and is
// handed the messages that answer them, one at a time, deciding on each what
// comes next. The runner around it sends, reads and frames; handles what may
// arrive at any time (notices, notifications, ParameterStatus); ends the
// session on a FATAL error; counts the ReadyForQuery messages owed; and turns
// any message the algorithm did not expect into a protocol violation, which
// breaks the connection (see operation.hpp) rather than let a stray reply be
// taken as the answer to a later request.
#pragma once

#include <concepts>
#include <string>
#include <utility>

#include <boost/asio/awaitable.hpp>

#include "exchange_step.hpp"
#include "session.hpp"

namespace pgcoro::detail {

// An algorithm: on_message gets every message but the asynchronous ones and
// ErrorResponse, which it gets decoded in on_error (unless FATAL: that ends
// the session before it sees it). ReadyForQuery is counted off by the
// session before the algorithm sees it. during() says what it was doing,
// for the protocol violation's message.
template <class A>
concept exchange_algorithm = requires(A& a, session& s, const protocol::backend_message& m, diagnostics d) {
    { a.on_message(s, m) } -> std::same_as<next_step>;
    { a.on_error(s, std::move(d)) } -> std::same_as<next_step>;
    { a.during() } -> std::convertible_to<const char*>;
};

// An algorithm that waits for asynchronous messages (a notification) is
// asked after each whether it is done.
template <class A>
concept awaits_asynchronous = requires(A& a, session& s) {
    { a.after_asynchronous(s) } -> std::same_as<next_step>;
};

[[noreturn]] inline void throw_unexpected(protocol::message_type type, const char* during) {
    protocol::throw_protocol_violation("unexpected " + protocol::describe_message_type(type) + " " + during);
}

// The buffered messages, to the algorithm until it wants something other
// than the next one; next_step::read when the buffer ran dry first.
// The messages that are not the algorithm's to read in order: the
// asynchronous ones, and ErrorResponse. Out of line, so that the loop in
// consume() stays small enough for a DataRow to cost one dispatch.
template <exchange_algorithm Algorithm>
[[gnu::noinline]] next_step take_out_of_band(session& s, Algorithm& a, const protocol::backend_message& m) {
    if (m.type == protocol::message_type::error_response) {
        auto d = protocol::decode_error_fields(m.body);
        if (ends_session(d)) throw server_error(std::move(d));  // no ReadyForQuery follows
        if (d.sqlstate == "25006") s.write_refused();          // read_only_sql_transaction
        return a.on_error(s, std::move(d));
    }
    s.handle_asynchronous(m);
    if constexpr (awaits_asynchronous<Algorithm>) return a.after_asynchronous(s);
    else return next_step::read;
}

template <exchange_algorithm Algorithm>
next_step consume(session& s, Algorithm& a) {
    while (auto m = s.read_buffered_message()) {
        next_step step;
        switch (m->type) {
        case protocol::message_type::notice_response:
        case protocol::message_type::parameter_status:
        case protocol::message_type::notification_response:
        case protocol::message_type::error_response: step = take_out_of_band(s, a, *m); break;
        case protocol::message_type::ready_for_query: s.ready_for_query(m->body); [[fallthrough]];
        default: step = a.on_message(s, *m);
        }
        if (step == next_step::read) [[likely]]
            continue;
        if (step == next_step::unexpected) throw_unexpected(m->type, a.during());
        return step;
    }
    return next_step::read;
}

// Sends what the algorithm appended and feeds it messages until it is done
// or suspends. `step` is where it starts: write (send, then take the
// answers), or done when it had nothing to ask. run_operation
// (operation.hpp) inlines the same loop for the exchanges it runs on a hot
// path, to save this frame.
template <exchange_algorithm Algorithm>
asio::awaitable<next_step> run_exchange(session& s, Algorithm& a, next_step step = next_step::write) {
    while (step == next_step::write || step == next_step::read) {
        if (step == next_step::write) {
            if (!s.send_now()) s.sent(co_await s.send_rest());
        } else {
            s.received(co_await s.receive());
        }
        step = consume(s, a);
    }
    co_return step;
}

// For algorithms to which every error is the same: kept, and thrown at
// ReadyForQuery by errors.finish().
struct keeps_first_error {
    first_error errors;

    next_step on_error(session&, diagnostics&& d) {
        errors.keep(std::move(d));
        return next_step::read;
    }
};

}  // namespace pgcoro::detail
