// A simple-protocol Query ('Q') as a message exchange: every result set up
// to ReadyForQuery. Server errors are kept and thrown only once the session
// is back at ReadyForQuery, so the session stays usable.
#pragma once

#include <string_view>
#include <vector>

#include "../result.hpp"
#include "operation_trace.hpp"
#include "result_budget.hpp"
#include "runner.hpp"

namespace pgcoro::detail {

class simple_query_exchange {
public:
    explicit simple_query_exchange(std::vector<result>& results) noexcept : results_(results) {}

    void start(session& s, std::string_view sql) {
        protocol::encode_query(s.out(), sql);
        s.expect_ready();
        budget_.reset(s.settings().max_result_size);
    }

    next_step on_message(session& s, const protocol::backend_message& m) {
        using enum protocol::message_type;
        switch (m.type) {
        case row_description:
            if (in_result_) return next_step::unexpected;
            protocol::decode_row_description(m.body, fields_);
            results_.emplace_back().set_columns(fields_);
            in_result_ = true;
            rows_ = 0;
            return next_step::read;
        case data_row:
            if (!in_result_) return next_step::unexpected;
            ++rows_;
            if (budget_.take(m.body.size(), fields_.size())) results_.back().append_row(m.body);
            return next_step::read;
        case command_complete: {
            const auto tag = protocol::decode_command_complete(m.body);
            if (in_result_) protocol::check_rows_returned(tag, rows_);
            else results_.emplace_back();
            results_.back().set_command_tag(tag);
            in_result_ = copying_out_ = false;
            answered_ = true;
            return next_step::read;
        }
        case empty_query_response:
            if (in_result_) return next_step::unexpected;
            protocol::expect_empty_body(m.body, "EmptyQueryResponse");
            results_.emplace_back();
            answered_ = true;
            return next_step::read;
        case copy_in_response:
            // COPY FROM STDIN through a query: refused, the server then reports an error.
            protocol::encode_copy_fail(s.out(), "COPY FROM STDIN is not supported by query(); use the COPY API");
            return next_step::write;
        case copy_out_response:
            copying_out_ = true;
            return next_step::read;  // COPY TO STDOUT data through a query is discarded
        case copy_data:
        case copy_done:
            return copying_out_ ? next_step::read : next_step::unexpected;
        // Every Query is answered (CommandComplete, EmptyQueryResponse or an
        // error) before its ReadyForQuery.
        case ready_for_query:
            if (!answered_ || in_result_) return next_step::unexpected;
            errors_.finish();
            budget_.throw_if_exceeded();
            return next_step::done;
        default: return next_step::unexpected;
        }
    }
    next_step on_error(session&, diagnostics&& d) {
        errors_.keep(std::move(d));
        in_result_ = false;
        answered_ = true;
        return next_step::read;
    }
    const char* during() const noexcept { return "in a simple query"; }

private:
    std::vector<result>& results_;
    std::vector<protocol::field_description> fields_;
    first_error errors_;
    result_budget budget_;
    std::uint64_t rows_ = 0;  // DataRows of the result being read, kept or not
    bool in_result_ = false;
    bool answered_ = false;
    bool copying_out_ = false;
};

inline asio::awaitable<void> run_simple_query(session& s, std::string_view sql, std::vector<result>& results) {
    simple_query_exchange exchange(results);
    exchange.start(s, sql);
    co_await run_exchange(s, exchange);
}

// connection::simple_query() as an operation, traced as a query; the
// statements pgcoro sends itself (ROLLBACK, a pool's checks) are not.
struct simple_query_operation {
    std::string_view sql;
    std::vector<result>* results;

    asio::awaitable<void> operator()(session& s) const { return run_simple_query(s, sql, *results); }

    trace_token trace_start(pgcoro::tracer& t, const session& s) const {
        return t.query_started({.session = traced_session_of(s),
                                .sql = sql,
                                .prepared_name = {},
                                .parameters = 0,
                                .protocol = query_protocol::simple});
    }
    void trace_end(pgcoro::tracer& t, const session& s, trace_token token, const trace_outcome& outcome) const {
        const bool counted = outcome.ok() && !results->empty();
        t.query_ended({.session = traced_session_of(s),
                       .sql = sql,
                       .prepared_name = {},
                       .parameters = 0,
                       .protocol = query_protocol::simple,
                       .token = token,
                       .outcome = outcome,
                       .rows = counted ? results->back().rows_affected().value_or(0) : 0});
    }
};

}  // namespace pgcoro::detail
