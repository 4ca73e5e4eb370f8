// Runs a pipeline on a session as one message exchange (see operation.hpp):
// when the cache lacks statements, first one batched round trip preparing
// them (each with its own Sync, so every bad statement reports its own
// error); then every Bind/Execute with a Sync at each sync point, and the
// answers in order. Unnamed statements (statement_mode describe and
// unnamed) are parsed again with their Bind, as in execution.hpp. The bookkeeping lives in the session and the outcomes
// are refilled in place, so a warm pipeline allocates nothing.
#pragma once

#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "../pipeline.hpp"
#include "extended_query.hpp"
#include "operation_trace.hpp"
#include "result_budget.hpp"

namespace pgcoro::detail {

struct pipeline_access {
    static std::span<const pipeline::statement> statements(const pipeline& p) { return {p.statements_.data(), p.size_}; }
    static std::string_view params(const pipeline& p) { return p.params_; }
};

// What the server would answer to a Bind with the wrong number of
// parameters (08P01), said before sending it.
inline diagnostics parameter_count_mismatch(std::size_t expected, std::size_t given) {
    diagnostics d;
    d.severity = d.severity_nonlocalized = "ERROR";
    d.sqlstate = "08P01";
    d.message = "the statement has " + std::to_string(expected) + " parameters but " + std::to_string(given) + " were given";
    return d;
}

class pipeline_execution {
public:
    pipeline_execution(const pipeline& p, std::vector<pipeline_outcome>& out) : pipeline_(&p), out_(&out) {}

    // Resets the outcomes and looks every statement up in the cache.
    bool ready(session& s) {
        const auto items = pipeline_access::statements(*pipeline_);
        auto& out = *out_;
        out.resize(items.size());
        for (auto& o : out) {
            o.state = pipeline_outcome::status::aborted;
            o.rows.clear();
            o.error.reset();
        }
        auto& scratch = s.pipeline;
        scratch.statements.assign(items.size(), nullptr);
        if (s.statements.shared_session_suspected()) return false;
        bool all_cached = true;
        for (std::size_t i = 0; i < items.size(); ++i) {
            scratch.statements[i] = s.statements.find(items[i].sql, items[i].types);
            all_cached &= scratch.statements[i] != nullptr;
        }
        return all_cached;
    }

    // Prepares what the cache lacks (in unnamed mode: describes every
    // statement). A statement that fails to prepare gets its error now.
    asio::awaitable<void> prepare(session& s) {
        auto& cache = s.statements;
        if (cache.shared_session_suspected()) {
            co_await settle_shared_session(s);
            if (ready(s)) co_return;
        }
        auto& scratch = s.pipeline;
        auto& statements = scratch.statements;
        auto& out = *out_;
        const auto items = pipeline_access::statements(*pipeline_);
        const auto same = [&](std::size_t a, std::size_t b) { return items[a].sql == items[b].sql && items[a].types == items[b].types; };

        std::vector<std::size_t> to_prepare;
        for (std::size_t i = 0; i < items.size(); ++i) {
            if (statements[i]) continue;
            bool duplicate = false;
            for (auto j : to_prepare) duplicate |= same(i, j);
            if (!duplicate) to_prepare.push_back(i);
        }
        describe_exchange exchange;
        exchange.expect_closes(close_evicted_statements(s, cache));
        for (auto i : to_prepare) {
            auto d = std::make_shared<statement_description>();
            d->name = cache.next_name();
            exchange.add(s, std::move(d), items[i].sql, items[i].types);
        }
        proxy_probe probe(s);
        co_await run_exchange(s, exchange);
        co_await probe.finish(s);
        for (std::size_t k = 0; k < to_prepare.size(); ++k) {
            if (auto& failure = exchange.error_of(k)) {
                out[to_prepare[k]].error = std::move(*failure);
                continue;
            }
            const auto& fresh = exchange.statements()[k];
            if (!cache.names_statements()) fresh->name.clear();  // the probe found a proxy
            const auto& item = items[to_prepare[k]];
            cache.insert(item.sql, item.types, fresh);
            statements[to_prepare[k]] = fresh;
        }
        // Later uses of the same statement share its preparation.
        for (std::size_t i = 0; i < items.size(); ++i) {
            if (statements[i] || out[i].error) continue;
            for (auto j : to_prepare) {
                if (!same(i, j)) continue;
                statements[i] = statements[j];
                out[i].error = out[j].error;
            }
        }
    }

    // Every execution; a statement that failed to prepare fails, and the
    // rest of its segment is aborted without being sent.
    next_step start(session& s) {
        const auto items = pipeline_access::statements(*pipeline_);
        const auto params = pipeline_access::params(*pipeline_);
        auto& scratch = s.pipeline;
        auto& out = *out_;
        scratch.sent.clear();
        scratch.segment_ends.clear();
        bool segment_failed = false;
        for (std::size_t i = 0; i < items.size(); ++i) {
            const auto& item = items[i];
            const auto& statement = scratch.statements[i];
            auto& o = out[i];
            if (segment_failed) {
                o.error.reset();  // a preparation error of its own is not what stopped it
            } else if (o.error) {
                o.state = pipeline_outcome::status::failed;
                segment_failed = true;
            } else if (item.types.size() != statement->param_types.size()) {
                o.state = pipeline_outcome::status::failed;
                o.error = parameter_count_mismatch(statement->param_types.size(), item.types.size());
                segment_failed = true;
            } else {
                const bool parsed_here = parsed_with_each_execution(*statement);
                if (parsed_here) protocol::encode_parse(s.out(), "", item.sql, statement->param_types);
                protocol::encode_bind_encoded(s.out(), "", statement->name, item.formats, item.types.size(),
                                              params.substr(item.param_offset, item.param_length), statement->result_formats);
                if (parsed_here) s.out().append(describe_portal);
                protocol::encode_execute(s.out(), "", 0);
                scratch.sent.push_back(i);
            }
            if (item.sync_after || i + 1 == items.size()) {
                protocol::encode_sync(s.out());
                s.expect_ready();
                scratch.segment_ends.push_back(scratch.sent.size());
                segment_failed = false;
            }
        }
        next_ = segment_start_ = segments_done_ = 0;
        segment_failed_ = false;
        budget_.reset(s.settings().max_result_size);
        segments_ = scratch.segment_ends.size();
        await_statement(s);
        return segments_ == 0 ? next_step::done : next_step::write;  // an empty pipeline asks nothing
    }

    // The answers, segment by segment: an error fails the statement it
    // answers and aborts the rest of its segment. Done at the last
    // ReadyForQuery.
    next_step on_message(session& s, const protocol::backend_message& m) {
        using enum protocol::message_type;
        auto& scratch = s.pipeline;
        if (segments_done_ == segments_) return next_step::unexpected;
        const std::size_t end = segment_end(s);
        switch (m.type) {
        case ready_for_query:
            // A segment ends once each statement sent in it was answered, or one failed.
            if (next_ != end && !segment_failed_) return next_step::unexpected;
            next_ = segment_start_ = end;
            segment_failed_ = false;
            ++segments_done_;
            await_statement(s);
            if (segments_done_ < segments_) return next_step::read;
            budget_.throw_if_exceeded();
            return next_step::done;
        case parse_complete:
            if (next_ >= end || at_ != stage::parse) return next_step::unexpected;
            protocol::expect_empty_body(m.body, "ParseComplete");
            at_ = stage::bind;
            return next_step::read;
        case bind_complete: {
            if (next_ >= end || at_ != stage::bind) return next_step::unexpected;
            protocol::expect_empty_body(m.body, "BindComplete");
            const auto& statement = scratch.statements[scratch.sent[next_]];
            set_columns(scratch.sent[next_], statement);
            at_ = parsed_with_each_execution(*statement) ? stage::columns : stage::rows;
            return next_step::read;
        }
        case row_description:
        case no_data: {
            if (next_ >= end || at_ != stage::columns) return next_step::unexpected;
            const auto i = scratch.sent[next_];
            const auto& item = pipeline_access::statements(*pipeline_)[i];
            auto& statement = scratch.statements[i];
            if (auto reported = statement_as_reported(s, statement, m, item.sql, item.types); reported != statement) {
                statement = std::move(reported);
                set_columns(i, statement);
            }
            at_ = stage::rows;
            return next_step::read;
        }
        case data_row: {
            if (next_ >= end || at_ != stage::rows) return next_step::unexpected;
            auto& rows = (*out_)[scratch.sent[next_]].rows;
            ++rows_;
            if (budget_.take(m.body.size(), rows.columns().size())) rows.append_row(m.body);
            return next_step::read;
        }
        case command_complete:
        case empty_query_response: {
            if (next_ >= end || at_ != stage::rows) return next_step::unexpected;
            auto& o = (*out_)[scratch.sent[next_]];
            if (m.type == command_complete) {
                const auto tag = protocol::decode_command_complete(m.body);
                if (!o.rows.columns().empty()) protocol::check_rows_returned(tag, rows_);
                o.rows.set_command_tag(tag);
            }
            o.state = pipeline_outcome::status::ok;
            ++next_;
            await_statement(s);
            return next_step::read;
        }
        default: return next_step::unexpected;
        }
    }

    next_step on_error(session& s, diagnostics&& d) {
        auto& scratch = s.pipeline;
        if (segments_done_ == segments_) return next_step::unexpected;
        // The server skips the rest of a failed segment, so a segment fails
        // once. An error after its last statement's answer comes from its
        // implicit COMMIT (a deferred constraint), which undid the segment:
        // it is reported on that last statement.
        const std::size_t end = segment_end(s);
        if (segment_failed_ || end == segment_start_) return next_step::unexpected;
        const auto i = scratch.sent[next_ < end ? next_ : end - 1];
        // A cached statement the server lost (DEALLOCATE ALL) or can no
        // longer run as prepared fails here, and is prepared afresh next
        // time. Not retried: later segments have already run.
        if (!parsed_with_each_execution(*scratch.statements[i])) {
            note_lost_statement(s, d);
            if (statement_went_stale(d)) {
                const auto& item = pipeline_access::statements(*pipeline_)[i];
                s.statements.erase(item.sql, item.types);
            }
        }
        auto& o = (*out_)[i];
        o.state = pipeline_outcome::status::failed;
        o.error = std::move(d);
        segment_failed_ = true;
        next_ = end;
        return next_step::read;
    }
    const char* during() const noexcept { return "while reading a pipeline"; }

    bool retry() const noexcept { return false; }

    trace_token trace_start(pgcoro::tracer& t, const session& s) const {
        return t.pipeline_started({.session = traced_session_of(s), .statements = pipeline_access::statements(*pipeline_).size()});
    }
    void trace_end(pgcoro::tracer& t, const session& s, trace_token token, const trace_outcome& outcome) const {
        pipeline_end e;
        e.session = traced_session_of(s);
        e.statements = pipeline_access::statements(*pipeline_).size();
        e.token = token;
        e.outcome = outcome;
        if (outcome.ok()) {
            for (const auto& o : *out_) {
                if (o.state == pipeline_outcome::status::aborted) ++e.aborted;
                if (o.state != pipeline_outcome::status::failed) continue;
                ++e.failed;
                if (!e.first_statement_error && o.error) e.first_statement_error = &*o.error;
            }
        }
        t.pipeline_ended(e);
    }

private:
    const pipeline* pipeline_;
    std::vector<pipeline_outcome>* out_;
    std::size_t next_ = 0;           // in `sent`: the statement answered next
    std::size_t segments_ = 0;       // ReadyForQuery messages owed: a Sync each
    std::size_t segments_done_ = 0;  // ReadyForQuery messages read
    std::size_t segment_start_ = 0;  // in `sent`: the current segment's first statement
    bool segment_failed_ = false;
    result_budget budget_;    // for the rows of every statement together
    std::uint64_t rows_ = 0;  // DataRows of the statement next_ is at, kept or not
    // The answer statement next_ is at: before its ParseComplete (an unnamed
    // statement's), its BindComplete, its portal's columns, or among its rows.
    enum class stage { parse, bind, columns, rows } at_ = stage::bind;

    std::size_t segment_end(const session& s) const noexcept { return s.pipeline.segment_ends[segments_done_]; }

    void await_statement(const session& s) noexcept {
        const auto& scratch = s.pipeline;
        rows_ = 0;
        at_ = next_ < scratch.sent.size() && parsed_with_each_execution(*scratch.statements[scratch.sent[next_]])
                  ? stage::parse
                  : stage::bind;
    }
    void set_columns(std::size_t i, const statement_ptr& statement) {
        (*out_)[i].rows.set_columns(std::shared_ptr<const std::vector<column>>(statement, &statement->columns));
    }
};

}  // namespace pgcoro::detail
