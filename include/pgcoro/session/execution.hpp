// One execution of a statement as a message exchange: Bind/Execute/Sync,
// then BindComplete, the rows, CommandComplete (or EmptyQueryResponse) and
// ReadyForQuery, in that order. An unnamed statement (statement_mode describe
// or unnamed) is parsed with it and its portal described: ParseComplete comes
// first and the portal's RowDescription or NoData after BindComplete. run_operation() drives it in its own frame,
// so a query costs one coroutine frame and one frame per socket read, few
// enough for Asio's per-thread frame cache to serve them all.
#pragma once

#include <optional>
#include <string_view>

#include "../types/parameters.hpp"
#include "extended_query.hpp"
#include "result_budget.hpp"
#include "operation.hpp"

namespace pgcoro::detail {

// The messages of Bind/Execute/Sync into a sink; the first ErrorResponse is
// thrown at ReadyForQuery, where the session is back in sync.
template <class Parameters, class Sink>
struct execution_base {
    execution_base(Parameters p, Sink k, std::string_view text) : params(std::move(p)), sink(std::move(k)), sql(text) {}

    Parameters params;
    Sink sink;
    first_error errors;
    result_budget budget;      // what the sink may keep; counts the rows
    std::string_view sql;      // for an unnamed statement's Parse
    statement_ptr statement;   // what the rows are read by
    enum class stage { parse, bind, columns, rows, ready } at = stage::bind;

    next_step send_execution(session& s, const statement_ptr& executed) {
        errors.failure.reset();
        budget.reset(s.settings().max_result_size);
        statement = executed;
        bind_statement(s, *statement, sql, params.writer(), protocol::execute_all_and_sync);
        s.expect_ready();
        at = parsed_with_each_execution(*statement) ? stage::parse : stage::bind;
        sink.begin(statement);
        return next_step::write;
    }
    // An execute() returns the sink's value from run_operation's own frame.
    auto result() const
        requires requires(const Sink& k) { k.value(); }
    {
        return sink.value();
    }

    next_step on_message(session& s, const protocol::backend_message& m) {
        using enum protocol::message_type;
        switch (m.type) {
        case parse_complete:
            if (at != stage::parse) return next_step::unexpected;
            protocol::expect_empty_body(m.body, "ParseComplete");
            at = stage::bind;
            return next_step::read;
        case bind_complete:
            if (at != stage::bind) return next_step::unexpected;
            protocol::expect_empty_body(m.body, "BindComplete");
            at = parsed_with_each_execution(*statement) ? stage::columns : stage::rows;
            return next_step::read;
        case row_description:
        case no_data:
            if (at != stage::columns) return next_step::unexpected;
            if (auto reported = statement_as_reported(s, statement, m, sql, params.writer().types); reported != statement) {
                statement = std::move(reported);
                sink.begin(statement);
            }
            at = stage::rows;
            return next_step::read;
        case data_row:
            if (at != stage::rows) return next_step::unexpected;
            if (budget.take(m.body.size(), statement->columns.size()) || !Sink::keeps_rows) sink.row(m.body);
            return next_step::read;
        case command_complete: {
            if (at != stage::rows) return next_step::unexpected;
            const auto tag = protocol::decode_command_complete(m.body);
            if (!statement->columns.empty()) protocol::check_rows_returned(tag, budget.rows());
            sink.complete(tag);
            at = stage::ready;
            return next_step::read;
        }
        case empty_query_response:
            if (at != stage::rows) return next_step::unexpected;
            protocol::expect_empty_body(m.body, "EmptyQueryResponse");
            sink.complete({});
            at = stage::ready;
            return next_step::read;
        case ready_for_query:
            if (at != stage::ready) return next_step::unexpected;
            errors.finish();
            if constexpr (Sink::keeps_rows) budget.throw_if_exceeded();
            return next_step::done;
        default: return next_step::unexpected;
        }
    }
    next_step on_error(session& s, diagnostics&& d) {
        if (!parsed_with_each_execution(*statement)) note_lost_statement(s, d);
        errors.keep(std::move(d));
        at = stage::ready;
        return next_step::read;
    }
    const char* during() const noexcept { return "while executing a statement"; }

    // The events of a traced query; `name` is a prepare()d statement's.
    trace_token trace_start_named(pgcoro::tracer& t, const session& s, std::string_view name) const {
        return t.query_started({.session = traced_session_of(s),
                                .sql = sql,
                                .prepared_name = name,
                                .parameters = params.writer().types.size(),
                                .protocol = query_protocol::extended});
    }
    void trace_end_named(pgcoro::tracer& t, const session& s, std::string_view name, trace_token token,
                         const trace_outcome& outcome) const {
        t.query_ended({.session = traced_session_of(s),
                       .sql = sql,
                       .prepared_name = name,
                       .parameters = params.writer().types.size(),
                       .protocol = query_protocol::extended,
                       .token = token,
                       .outcome = outcome,
                       .rows = outcome.ok() ? sink.rows() : 0});
    }
};

// SQL text: prepared through the session's statement cache. A cached
// statement the server no longer accepts is re-prepared once, when no
// transaction is open (inside one, the error stands: the transaction is
// already aborted).
template <class Parameters, class Sink>
struct extended_execution : execution_base<Parameters, Sink> {
    bool re_prepared = false;
    bool stale = false;

    extended_execution(std::string_view text, Parameters p, Sink s)
        : execution_base<Parameters, Sink>(std::move(p), std::move(s), text) {}

    bool ready(session& s) {
        this->statement = s.statements.find(this->sql, this->params.writer().types);
        return this->statement != nullptr && !s.statements.shared_session_suspected();
    }
    asio::awaitable<void> prepare(session& s) {
        this->statement = co_await prepare_statement(s, s.statements, this->sql, this->params.writer().types);
    }
    next_step start(session& s) { return this->send_execution(s, this->statement); }
    trace_token trace_start(pgcoro::tracer& t, const session& s) const { return this->trace_start_named(t, s, {}); }
    void trace_end(pgcoro::tracer& t, const session& s, trace_token token, const trace_outcome& outcome) const {
        this->trace_end_named(t, s, {}, token, outcome);
    }
    next_step on_message(session& s, const protocol::backend_message& m) {
        try {
            return execution_base<Parameters, Sink>::on_message(s, m);
        } catch (const server_error& e) {
            if (re_prepared || !s.statements.names_statements() || !statement_went_stale(e) ||
                s.transaction() != protocol::transaction_status::idle)
                throw;
            s.statements.erase(this->sql, this->params.writer().types);
            stale = true;
            return next_step::done;
        }
    }
    bool retry() {
        if (!stale) return false;
        stale = false;
        re_prepared = true;
        this->statement.reset();
        return true;
    }
};

// A statement prepared explicitly; the caller's prepared_statement outlives the call.
template <class Parameters, class Sink>
struct prepared_execution : execution_base<Parameters, Sink> {
    const statement_ptr* prepared;

    prepared_execution(const statement_ptr* s, Parameters p, Sink k)
        : execution_base<Parameters, Sink>(std::move(p), std::move(k), {}), prepared(s) {}

    bool ready(session&) { return true; }
    asio::awaitable<void> prepare(session&) { co_return; }
    next_step start(session& s) { return this->send_execution(s, *prepared); }
    trace_token trace_start(pgcoro::tracer& t, const session& s) const { return this->trace_start_named(t, s, (*prepared)->name); }
    void trace_end(pgcoro::tracer& t, const session& s, trace_token token, const trace_outcome& outcome) const {
        this->trace_end_named(t, s, (*prepared)->name, token, outcome);
    }
    bool retry() { return false; }
};

}  // namespace pgcoro::detail
