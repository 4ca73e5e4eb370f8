// Runs a pipeline on a session as one message exchange (see operation.hpp):
// when the cache lacks statements, first one batched round trip preparing
// them (each with its own Sync, so every bad statement reports its own
// error); then every Bind/Execute with a Sync at each sync point, and the
// answers in order. The bookkeeping lives in the session and the outcomes
// are refilled in place, so a warm pipeline allocates nothing.
#pragma once

#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "../pipeline.hpp"
#include "extended_query.hpp"

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
        scratch.temporary_names.clear();
        bool all_cached = true;
        for (std::size_t i = 0; i < items.size(); ++i) {
            scratch.statements[i] = s.statements.find(items[i].sql, items[i].types);
            all_cached &= scratch.statements[i] != nullptr;
        }
        return all_cached;
    }

    // Prepares what the cache lacks. With the cache disabled the statements
    // get names anyway (a pipeline holds several at once) and are closed at
    // the end. A statement that fails to prepare gets its error now.
    asio::awaitable<void> prepare(session& s) {
        auto& cache = s.statements;
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
        close_evicted_statements(s, cache);
        std::vector<std::shared_ptr<statement_description>> fresh;
        for (auto i : to_prepare) {
            auto d = std::make_shared<statement_description>();
            d->name = cache.next_name();
            if (!cache.enabled()) scratch.temporary_names.push_back(d->name);
            protocol::encode_parse(s.out(), d->name, items[i].sql, items[i].types);
            protocol::encode_describe(s.out(), 'S', d->name);
            protocol::encode_sync(s.out());
            fresh.push_back(std::move(d));
        }
        co_await s.flush();
        for (std::size_t k = 0; k < to_prepare.size(); ++k) {
            auto& d = *fresh[k];
            std::vector<protocol::field_description> fields;
            try {
                co_await read_until_ready(s, "while preparing a pipeline", [&](const protocol::backend_message& m) {
                    switch (m.type) {
                    case '1': return true;
                    case 't': protocol::decode_parameter_description(m.body, d.param_types); return true;
                    case 'n': return true;
                    case 'T':
                        protocol::decode_row_description(m.body, fields);
                        for (const auto& f : fields) {
                            const auto fmt = static_cast<std::int16_t>(receives_binary(f.type_oid) ? 1 : 0);
                            d.columns.push_back({std::string(f.name), f.table_oid, f.column_attribute, f.type_oid,
                                                 f.type_size, f.type_modifier, fmt});
                            d.result_formats.push_back(fmt);
                        }
                        return true;
                    default: return false;
                    }
                });
            } catch (const server_error& e) {
                if (ends_session(e.diag())) throw;
                out[to_prepare[k]].error = e.diag();
                continue;
            }
            const auto& item = items[to_prepare[k]];
            if (cache.enabled()) cache.insert(item.sql, item.types, fresh[k]);
            statements[to_prepare[k]] = fresh[k];
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
    void send(session& s) {
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
                protocol::encode_bind_encoded(s.out(), "", statement->name, item.formats, item.types.size(),
                                              params.substr(item.param_offset, item.param_length), statement->result_formats);
                protocol::encode_execute(s.out(), "", 0);
                scratch.sent.push_back(i);
            }
            if (item.sync_after || i + 1 == items.size()) {
                protocol::encode_sync(s.out());
                scratch.segment_ends.push_back(scratch.sent.size());
                segment_failed = false;
            }
        }
        if (!scratch.temporary_names.empty()) {
            for (const auto& name : scratch.temporary_names) protocol::encode_close(s.out(), 'S', name);
            protocol::encode_sync(s.out());
        }
        next_ = segment_start_ = segments_done_ = 0;
        segment_failed_ = false;
        close_failure_.reset();
    }

    // The answers, segment by segment: an error fails the statement it
    // answers and aborts the rest of its segment. Returns true at the last
    // ReadyForQuery.
    bool consume(session& s) {
        auto& scratch = s.pipeline;
        const std::size_t segments = scratch.segment_ends.size() + (scratch.temporary_names.empty() ? 0 : 1);
        if (segments_done_ == segments) return true;  // an empty pipeline
        while (auto m = s.read_buffered_message()) {
            // Where the current segment's answers end; the Close segment has none.
            const std::size_t end =
                segments_done_ < scratch.segment_ends.size() ? scratch.segment_ends[segments_done_] : next_;
            switch (m->type) {
            case 'N': case 'S': case 'A': s.handle_asynchronous(*m); continue;
            case 'E': {
                auto d = protocol::decode_error_fields(m->body);
                if (ends_session(d)) throw server_error(std::move(d));
                if (segments_done_ >= scratch.segment_ends.size()) {
                    if (!close_failure_) close_failure_ = std::move(d);
                    continue;
                }
                // The server skips the rest of a failed segment, so a segment
                // fails once. An error after its last statement's answer comes
                // from its implicit COMMIT (a deferred constraint), which
                // undid the segment: it is reported on that last statement.
                if (segment_failed_ || end == segment_start_) continue;
                const auto i = scratch.sent[next_ < end ? next_ : end - 1];
                // A cached statement the server lost (DEALLOCATE ALL) or can no
                // longer run as prepared fails here, and is prepared afresh
                // next time. Not retried: later segments have already run.
                if (statement_went_stale(d) && s.statements.enabled()) {
                    const auto& item = pipeline_access::statements(*pipeline_)[i];
                    s.statements.erase(item.sql, item.types);
                }
                auto& o = (*out_)[i];
                o.state = pipeline_outcome::status::failed;
                o.error = std::move(d);
                segment_failed_ = true;
                next_ = end;
                continue;
            }
            case 'Z':
                s.ready_for_query(m->body);
                next_ = segment_start_ = end;
                segment_failed_ = false;
                if (++segments_done_ < segments) continue;
                if (close_failure_) throw server_error(std::move(*close_failure_));
                return true;
            case '3': continue;  // CloseComplete
            case '2': case 'D': case 'C': case 'I': {
                if (next_ >= end) throw_unexpected(m->type, "in a pipeline after its segment's last statement");
                const auto i = scratch.sent[next_];
                auto& o = (*out_)[i];
                if (m->type == '2') {
                    const auto& statement = scratch.statements[i];
                    o.rows.set_columns(std::shared_ptr<const std::vector<column>>(statement, &statement->columns));
                } else if (m->type == 'D') {
                    o.rows.append_row(m->body);
                } else {
                    if (m->type == 'C') o.rows.set_command_tag(protocol::decode_command_complete(m->body));
                    o.state = pipeline_outcome::status::ok;
                    ++next_;
                }
                continue;
            }
            default: throw_unexpected(m->type, "while reading a pipeline");
            }
        }
        return false;
    }

    bool retry() const noexcept { return false; }

private:
    const pipeline* pipeline_;
    std::vector<pipeline_outcome>* out_;
    std::size_t next_ = 0;           // in `sent`: the statement answered next
    std::size_t segments_done_ = 0;  // ReadyForQuery messages read
    std::size_t segment_start_ = 0;  // in `sent`: the current segment's first statement
    bool segment_failed_ = false;
    std::optional<diagnostics> close_failure_;
};

}  // namespace pgcoro::detail
