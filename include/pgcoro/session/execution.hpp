// One execution of a statement as a message exchange: a request, then the
// messages up to its ReadyForQuery. run_operation() drives it in its own
// frame, so a query costs one coroutine frame and one frame per socket read,
// few enough for Asio's per-thread frame cache to serve them all.
#pragma once

#include <optional>
#include <string_view>

#include "extended_query.hpp"
#include "operation.hpp"
#include "../types/parameters.hpp"

namespace pgcoro::detail {

// The messages of Bind/Execute/Sync into a sink; the first ErrorResponse is
// thrown at ReadyForQuery, where the session is back in sync.
template <class Parameters, class Sink>
struct execution_base {
    Parameters params;
    Sink sink;
    std::optional<diagnostics> failure;

    void send_execution(session& s, const statement_ptr& statement) {
        failure.reset();
        bind_statement(s, *statement, params.writer(), protocol::execute_all_and_sync);
        sink.begin(statement);
    }
    // An execute() returns the sink's value from run_operation's own frame.
    auto result() const
        requires requires(const Sink& k) { k.value(); }
    {
        return sink.value();
    }

    bool consume(session& s) {
        auto on_message = [this](const protocol::backend_message& m) {
            bool handled = false;
            on_execute_message(m, sink, handled);
            return handled;
        };
        return consume_until_ready(s, failure, "while executing a statement", on_message);
    }
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
    void send(session& s) { this->send_execution(s, statement); }
    bool consume(session& s) {
        try {
            return execution_base<Parameters, Sink>::consume(s);
        } catch (const server_error& e) {
            if (re_prepared || !s.statements.enabled() || !statement_went_stale(e) ||
                s.transaction != protocol::transaction_status::idle)
                throw;
            s.statements.erase(sql, this->params.writer().types);
            stale = true;
            return true;
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
    void send(session& s) { this->send_execution(s, *statement); }
    bool retry() { return false; }
};

}  // namespace pgcoro::detail
