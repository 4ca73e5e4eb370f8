// Runs a pipeline on a session: first one batched round trip preparing the
// statements the cache lacks (each with its own Sync, so every bad statement
// reports its own error), then every Bind/Execute with a Sync at each sync
// point, then the answers in order.
#pragma once

#include <vector>

#include "../pipeline.hpp"
#include "extended_query.hpp"

namespace pgcoro::detail {

struct pipeline_access {
    static const auto& statements(const pipeline& p) { return p.statements_; }
    static std::string_view params(const pipeline& p) { return p.params_; }
};

inline asio::awaitable<void> run_pipeline(session& s, const pipeline& p, std::vector<pipeline_outcome>& out) {
    auto& cache = s.statements;
    const auto& items = pipeline_access::statements(p);
    out.clear();
    out.resize(items.size());

    // 1. Prepare what the cache lacks. With the cache disabled the statements
    // get names anyway (a pipeline holds several at once) and are closed at the end.
    std::vector<statement_ptr> statements(items.size());
    std::vector<std::optional<diagnostics>> prepare_errors(items.size());
    std::vector<std::size_t> to_prepare;
    std::vector<std::string> temporary_names;
    for (std::size_t i = 0; i < items.size(); ++i) {
        statements[i] = cache.find(items[i].sql, items[i].types);
        if (statements[i]) continue;
        bool duplicate = false;
        for (auto j : to_prepare) duplicate |= items[j].sql == items[i].sql && items[j].types == items[i].types;
        if (!duplicate) to_prepare.push_back(i);
    }
    if (!to_prepare.empty()) {
        close_evicted_statements(s, cache);
        std::vector<std::shared_ptr<statement_description>> fresh;
        for (auto i : to_prepare) {
            auto d = std::make_shared<statement_description>();
            d->name = cache.next_name();
            if (!cache.enabled()) temporary_names.push_back(d->name);
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
                prepare_errors[to_prepare[k]] = e.diag();
                continue;
            }
            const auto& item = items[to_prepare[k]];
            if (cache.enabled()) cache.insert(item.sql, item.types, fresh[k]);
            statements[to_prepare[k]] = fresh[k];
        }
        // Later uses of the same statement share its preparation.
        for (std::size_t i = 0; i < items.size(); ++i) {
            if (statements[i] || prepare_errors[i]) continue;
            for (auto j : to_prepare) {
                if (items[j].sql == items[i].sql && items[j].types == items[i].types) {
                    statements[i] = statements[j];
                    prepare_errors[i] = prepare_errors[j];
                }
            }
        }
    }

    // 2. Send every execution; a statement that failed to prepare fails, and
    // the rest of its segment is aborted without being sent.
    std::vector<std::vector<std::size_t>> segments(1);
    bool segment_failed = false;
    const auto params = pipeline_access::params(p);
    for (std::size_t i = 0; i < items.size(); ++i) {
        const auto& item = items[i];
        if (segment_failed) {
            out[i].state = pipeline_outcome::status::aborted;
        } else if (prepare_errors[i]) {
            out[i].state = pipeline_outcome::status::failed;
            out[i].error = prepare_errors[i];
            segment_failed = true;
        } else if (item.types.size() != statements[i]->param_types.size()) {
            out[i].state = pipeline_outcome::status::failed;
            // What the server would answer to such a Bind (08P01), said before sending it.
            diagnostics d;
            d.severity = d.severity_nonlocalized = "ERROR";
            d.sqlstate = "08P01";
            d.message = "the statement has " + std::to_string(statements[i]->param_types.size()) + " parameters but " +
                        std::to_string(item.types.size()) + " were given";
            out[i].error = std::move(d);
            segment_failed = true;
        } else {
            protocol::encode_bind_encoded(s.out(), "", statements[i]->name, item.formats, item.types.size(),
                                          params.substr(item.param_offset, item.param_length), statements[i]->result_formats);
            protocol::encode_execute(s.out(), "", 0);
            segments.back().push_back(i);
        }
        if (item.sync_after || i + 1 == items.size()) {
            protocol::encode_sync(s.out());
            segments.emplace_back();
            segment_failed = false;
        }
    }
    segments.pop_back();
    co_await s.flush();

    // 3. Read the answers, segment by segment.
    for (const auto& segment : segments) {
        std::size_t current = 0;
        bool failed = false;
        std::optional<diagnostics> first_error;
        try {
            co_await read_until_ready(s, "while reading a pipeline", [&](const protocol::backend_message& m) {
                if (current >= segment.size()) return false;
                auto& o = out[segment[current]];
                switch (m.type) {
                case '2':
                    o.rows.clear();
                    o.rows.set_columns(std::shared_ptr<const std::vector<column>>(statements[segment[current]],
                                                                                   &statements[segment[current]]->columns));
                    return true;
                case 'D': o.rows.append_row(m.body); return true;
                case 'C':
                case 'I':
                    if (m.type == 'C') o.rows.set_command_tag(protocol::decode_command_complete(m.body));
                    o.state = pipeline_outcome::status::ok;
                    ++current;
                    return true;
                default: return false;
                }
            });
        } catch (const server_error& e) {
            if (ends_session(e.diag())) throw;
            first_error = e.diag();
            failed = true;
        }
        if (failed && current < segment.size()) {
            out[segment[current]].state = pipeline_outcome::status::failed;
            out[segment[current]].error = std::move(first_error);
            for (std::size_t k = current + 1; k < segment.size(); ++k) out[segment[k]].state = pipeline_outcome::status::aborted;
        }
    }

    if (!temporary_names.empty()) {
        for (const auto& name : temporary_names) protocol::encode_close(s.out(), 'S', name);
        protocol::encode_sync(s.out());
        co_await s.flush();
        co_await read_until_ready(s, "while closing pipeline statements", [](const protocol::backend_message&) { return false; });
    }
}

}  // namespace pgcoro::detail
