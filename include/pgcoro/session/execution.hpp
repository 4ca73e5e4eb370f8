// One execution of a statement as a message exchange: Bind/Execute/Sync,
// then BindComplete, the rows, CommandComplete (or EmptyQueryResponse) and
// ReadyForQuery, in that order. run_operation() drives it in its own frame,
// so a query costs one coroutine frame and one frame per socket read, few
// enough for Asio's per-thread frame cache to serve them all.
#pragma once

#include <optional>
#include <string_view>

#include "../types/parameters.hpp"
#include "extended_query.hpp"
#include "operation.hpp"

namespace pgcoro::detail {

// The messages of Bind/Execute/Sync into a sink; the first ErrorResponse is
// thrown at ReadyForQuery, where the session is back in sync.
template <class Parameters, class Sink>
struct execution_base {
    Parameters params;
    Sink sink;
    first_error errors;
    enum class stage { bind, rows, ready } at = stage::bind;

    next_step send_execution(session& s, const statement_ptr& statement) {
        errors.failure.reset();
        bind_statement(s, *statement, params.writer(), protocol::execute_all_and_sync);
        s.expect_ready();
        at = stage::bind;
        sink.begin(statement);
        return next_step::write;
    }
    // An execute() returns the sink's value from run_operation's own frame.
    auto result() const
        requires requires(const Sink& k) { k.value(); }
    {
        return sink.value();
    }

    next_step on_message(session&, const protocol::backend_message& m) {
        using enum protocol::message_type;
        switch (m.type) {
        case bind_complete:
            if (at != stage::bind) return next_step::unexpected;
            protocol::expect_empty_body(m.body, "BindComplete");
            at = stage::rows;
            return next_step::read;
        case data_row:
            if (at != stage::rows) return next_step::unexpected;
            sink.row(m.body);
            return next_step::read;
        case command_complete:
            if (at != stage::rows) return next_step::unexpected;
            sink.complete(protocol::decode_command_complete(m.body));
            at = stage::ready;
            return next_step::read;
        case empty_query_response:
            if (at != stage::rows) return next_step::unexpected;
            protocol::expect_empty_body(m.body, "EmptyQueryResponse");
            sink.complete({});
            at = stage::ready;
            return next_step::read;
        case ready_for_query:
            if (at != stage::ready) return next_step::unexpected;
            return errors.finish();
        default: return next_step::unexpected;
        }
    }
    next_step on_error(session&, diagnostics&& d) {
        errors.keep(std::move(d));
        at = stage::ready;
        return next_step::read;
    }
    const char* during() const noexcept { return "while executing a statement"; }
};

// SQL text: prepared through the session's statement cache. A cached
// statement the server no longer accepts is re-prepared once, when no
// transaction is open (inside one, the error stands: the transaction is
// already aborted).
template <class Parameters, class Sink>
struct extended_execution : execution_base<Parameters, Sink> {
    std::string_view sql;
    statement_ptr statement;
    bool re_prepared = false;
    bool stale = false;

    extended_execution(std::string_view text, Parameters p, Sink s)
        : execution_base<Parameters, Sink>{std::move(p), std::move(s), {}}, sql(text) {}

    bool ready(session& s) {
        statement = s.statements.find(sql, this->params.writer().types);
        return statement != nullptr;
    }
    asio::awaitable<void> prepare(session& s) {
        statement = co_await prepare_statement(s, s.statements, sql, this->params.writer().types);
    }
    next_step start(session& s) { return this->send_execution(s, statement); }
    next_step on_message(session& s, const protocol::backend_message& m) {
        try {
            return execution_base<Parameters, Sink>::on_message(s, m);
        } catch (const server_error& e) {
            if (re_prepared || !s.statements.enabled() || !statement_went_stale(e) ||
                s.transaction() != protocol::transaction_status::idle)
                throw;
            s.statements.erase(sql, this->params.writer().types);
            stale = true;
            return next_step::done;
        }
    }
    bool retry() {
        if (!stale) return false;
        stale = false;
        re_prepared = true;
        statement.reset();
        return true;
    }
};

// A statement prepared explicitly; the caller's prepared_statement outlives the call.
template <class Parameters, class Sink>
struct prepared_execution : execution_base<Parameters, Sink> {
    const statement_ptr* statement;

    prepared_execution(const statement_ptr* s, Parameters p, Sink k)
        : execution_base<Parameters, Sink>{std::move(p), std::move(k), {}}, statement(s) {}

    bool ready(session&) { return true; }
    asio::awaitable<void> prepare(session&) { co_return; }
    next_step start(session& s) { return this->send_execution(s, *statement); }
    bool retry() { return false; }
};

}  // namespace pgcoro::detail
