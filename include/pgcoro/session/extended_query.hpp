// The extended query protocol on a session: Parse/Describe once per statement
// (cached), then Bind/Execute/Sync per execution, parameters in binary where
// pgcoro has a codec. Results stream into a sink message by message.
#pragma once

#include <memory>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "../types/codec_errors.hpp"
#include "../types/parameters.hpp"
#include "../types/type_table.hpp"
#include "runner.hpp"
#include "session.hpp"
#include "simple_query.hpp"
#include "statement_cache.hpp"

namespace pgcoro::detail {

// Receives an execution's results.
class row_sink {
public:
    virtual ~row_sink() = default;
    virtual void begin(const statement_ptr& statement) = 0;
    virtual void row(std::string_view data_row_body) = 0;
    virtual void complete(std::string_view command_tag) = 0;
};

// Queues Close for statements the cache evicted; returns how many, for the
// CloseComplete messages that will come first.
inline std::size_t close_evicted_statements(session& s, statement_cache& cache) {
    const auto n = cache.pending_close().size();
    for (const auto& name : cache.pending_close()) protocol::encode_close(s.out(), protocol::object_kind::statement, name);
    cache.pending_close().clear();
    return n;
}

// A statement's columns from its RowDescription, each with the format
// pgcoro asks for in Bind.
inline void describe_columns(std::string_view row_description, statement_description& statement,
                             std::vector<protocol::field_description>& fields) {
    protocol::decode_row_description(row_description, fields);
    statement.columns.clear();
    statement.result_formats.clear();
    for (const auto& f : fields) {
        const auto fmt = static_cast<std::int16_t>(receives_binary(f.type_oid) ? 1 : 0);
        statement.columns.push_back({std::string(f.name), f.table_oid, f.column_attribute, f.type_oid, f.type_size,
                                     f.type_modifier, fmt});
        statement.result_formats.push_back(fmt);
    }
}

// Parse and Describe of one or more statements, each with a Sync of its own
// so that each reports its own error: ParseComplete, ParameterDescription,
// RowDescription or NoData, ReadyForQuery, in that order, per statement (or
// an ErrorResponse and ReadyForQuery). CloseComplete of statements the cache
// evicted comes first.
class describe_exchange {
public:
    // Appends the messages for `statement`, already named.
    void add(session& s, std::shared_ptr<statement_description> statement, std::string_view sql,
             std::span<const std::uint32_t> types) {
        protocol::encode_parse(s.out(), statement->name, sql, types);
        protocol::encode_describe(s.out(), protocol::object_kind::statement, statement->name);
        protocol::encode_sync(s.out());
        s.expect_ready();
        statements_.push_back(std::move(statement));
        errors_.emplace_back();
    }
    void expect_closes(std::size_t n) noexcept { closes_ += n; }

    next_step on_message(session&, const protocol::backend_message& m) {
        using enum protocol::message_type;
        if (next_ == statements_.size()) return next_step::unexpected;
        auto& statement = *statements_[next_];
        switch (m.type) {
        case close_complete:
            if (closes_ == 0 || stage_ != stage::parse) return next_step::unexpected;
            protocol::expect_empty_body(m.body, "CloseComplete");
            --closes_;
            return next_step::read;
        case parse_complete:
            if (stage_ != stage::parse) return next_step::unexpected;
            protocol::expect_empty_body(m.body, "ParseComplete");
            stage_ = stage::parameters;
            return next_step::read;
        case parameter_description:
            if (stage_ != stage::parameters) return next_step::unexpected;
            protocol::decode_parameter_description(m.body, statement.param_types);
            stage_ = stage::columns;
            return next_step::read;
        case row_description:
            if (stage_ != stage::columns) return next_step::unexpected;
            describe_columns(m.body, statement, fields_);
            stage_ = stage::ready;
            return next_step::read;
        case no_data:
            if (stage_ != stage::columns) return next_step::unexpected;
            protocol::expect_empty_body(m.body, "NoData");
            stage_ = stage::ready;
            return next_step::read;
        case ready_for_query:
            if (stage_ != stage::ready) return next_step::unexpected;
            stage_ = stage::parse;
            return ++next_ == statements_.size() ? next_step::done : next_step::read;
        default: return next_step::unexpected;
        }
    }
    next_step on_error(session&, diagnostics&& d) {
        if (next_ == statements_.size()) return next_step::unexpected;
        errors_[next_] = std::move(d);
        closes_ = 0;  // the server skips to the Sync: no CloseComplete follows an error
        stage_ = stage::ready;
        return next_step::read;
    }
    const char* during() const noexcept { return "while preparing a statement"; }

    std::span<const std::shared_ptr<statement_description>> statements() const noexcept { return statements_; }
    std::optional<diagnostics>& error_of(std::size_t i) noexcept { return errors_[i]; }

private:
    enum class stage { parse, parameters, columns, ready };
    std::vector<std::shared_ptr<statement_description>> statements_;
    std::vector<std::optional<diagnostics>> errors_;
    std::vector<protocol::field_description> fields_;
    std::size_t next_ = 0;  // the statement answered next
    std::size_t closes_ = 0;
    stage stage_ = stage::parse;
};

// prepare()'s named statements need a server session of their own.
inline void refuse_named_statement_on_shared_session(const session& s) {
    if (s.statements.server_session_shared())
        throw error(errc::shared_server_session,
                    "prepare() makes a named statement, which this connection cannot keep: it goes through a proxy "
                    "that gives it another server session between transactions (PgBouncer's transaction pooling); "
                    "run the SQL text with query() or execute() instead");
}

// Parses and describes a statement under `name` (empty: the unnamed one).
inline asio::awaitable<statement_ptr> describe_new_statement(session& s, std::string name, std::string_view sql,
                                                             std::span<const std::uint32_t> types,
                                                             std::size_t closes_before = 0) {
    auto statement = std::make_shared<statement_description>();
    statement->name = std::move(name);
    describe_exchange exchange;
    exchange.expect_closes(closes_before);
    exchange.add(s, statement, sql, types);
    co_await run_exchange(s, exchange);
    if (auto& failure = exchange.error_of(0)) throw server_error(std::move(*failure));
    co_return statement;
}

// Whether the connection's server session is the one its BackendKeyData
// named: a proxy in between (PgBouncer) answers the startup with a key of its
// own, while pg_backend_pid() is the backend's. Automatic mode asks with its
// first preparation, in the same round trip, and again after the server lost
// a statement (someone ran DEALLOCATE or DISCARD on the connection's own
// session, or a proxy gave it another one).
class proxy_probe {
public:
    static constexpr std::string_view sql = "SELECT pg_catalog.pg_backend_pid()";

    // Appends the question when automatic mode has not asked yet.
    explicit proxy_probe(session& s) {
        if (!s.statements.needs_probe()) return;
        exchange_.emplace(results_);
        exchange_->start(s, sql);
    }
    // Sends the question if no exchange took it along, reads the answer (after
    // that exchange's), and settles the mode. A no-op when nothing was asked.
    asio::awaitable<void> finish(session& s) {
        if (!exchange_) co_return;
        const auto step = s.out().empty() ? consume(s, *exchange_) : next_step::write;
        if (step != next_step::done) co_await run_exchange(s, *exchange_, step);
        if (results_.size() != 1 || results_[0].size() != 1) protocol::throw_protocol_violation("unexpected answer to " + std::string(sql));
        s.statements.settle(results_[0][0].get<std::int32_t>(0) != s.key.process_id);
    }

private:
    std::vector<result> results_;
    std::optional<simple_query_exchange> exchange_;
};

inline asio::awaitable<void> settle_shared_session(session& s) {
    proxy_probe probe(s);
    co_await probe.finish(s);
}

// A statement from the cache, else described now (and in prepare mode
// prepared under a name) and cached.
inline asio::awaitable<statement_ptr> prepare_statement(session& s, statement_cache& cache, std::string_view sql,
                                                        std::span<const std::uint32_t> types) {
    if (cache.shared_session_suspected()) co_await settle_shared_session(s);
    if (auto hit = cache.find(sql, types)) co_return hit;
    auto statement = std::make_shared<statement_description>();
    statement->name = cache.next_name();
    describe_exchange exchange;
    exchange.expect_closes(close_evicted_statements(s, cache));
    exchange.add(s, statement, sql, types);
    proxy_probe probe(s);
    co_await run_exchange(s, exchange);
    co_await probe.finish(s);
    if (auto& failure = exchange.error_of(0)) throw server_error(std::move(*failure));
    // Found a proxy: the name stays behind on whichever server session
    // parsed it, and executions parse their own.
    if (!cache.names_statements()) statement->name.clear();
    cache.insert(sql, types, statement);
    co_return statement;
}

// Statements without a name (statement_mode describe and unnamed) are parsed
// again with every execution: the unnamed statement lives only until the
// next Sync, after which a transaction-pooling proxy may hand the connection
// another server session. Their portal is described in the same round trip,
// so rows are read by the columns the server reports now.
inline bool parsed_with_each_execution(const statement_description& statement) noexcept { return statement.name.empty(); }

// Describe of the unnamed portal.
inline constexpr std::string_view describe_portal{"D\0\0\0\x06P\0", 7};

// The statement to read an unnamed portal's rows by, from the portal's
// RowDescription or NoData: `described` while the server reports its
// columns, else a description of the reported ones (a table altered since it
// was described), which replaces the cached one.
inline statement_ptr statement_as_reported(session& s, const statement_ptr& described, const protocol::backend_message& m,
                                           std::string_view sql, std::span<const std::uint32_t> types) {
    auto& fields = s.reported_fields;
    if (m.type == protocol::message_type::no_data) {
        protocol::expect_empty_body(m.body, "NoData");
        fields.clear();
    } else {
        protocol::decode_row_description(m.body, fields);
    }
    const auto& columns = described->columns;
    bool same = fields.size() == columns.size();
    for (std::size_t i = 0; same && i < fields.size(); ++i)
        same = fields[i].type_oid == columns[i].type_oid && fields[i].format == columns[i].format &&
               fields[i].name == columns[i].name;
    if (same) return described;
    auto fresh = std::make_shared<statement_description>();
    fresh->param_types = described->param_types;
    for (const auto& f : fields) {
        // Read as sent: the formats are those Bind asked for by position.
        fresh->columns.push_back({std::string(f.name), f.table_oid, f.column_attribute, f.type_oid, f.type_size,
                                  f.type_modifier, f.format});
        fresh->result_formats.push_back(f.format);
    }
    s.statements.insert(sql, types, fresh);
    return fresh;
}

// Appends Bind of `statement` with the parameters to the unnamed portal,
// after its Parse and followed by the portal's Describe for a statement
// parsed with each execution (`sql` is its text), then `then`.
// Nothing is appended when a parameter fails to encode: the session stays in sync.
inline void bind_statement(session& s, const statement_description& statement, std::string_view sql,
                           const parameter_writer& params, std::string_view then = {}) {
    if (params.types.size() != statement.param_types.size()) {
        throw error(errc::invalid_value, "the statement has " + std::to_string(statement.param_types.size()) +
                                             " parameters but " + std::to_string(params.types.size()) +
                                             (params.types.size() == 1 ? " argument was" : " arguments were") + " given");
    }
    for (std::size_t i = 0; i < params.types.size(); ++i) {
        // A binary value is only meaningful as the type it was encoded for;
        // text is parsed by the server as whatever the parameter is.
        const bool binary = i < params.formats.size() && params.formats[i] == 1;
        if (binary && params.types[i] != 0 && params.types[i] != statement.param_types[i]) {
            throw error(errc::type_mismatch,
                        "parameter $" + std::to_string(i + 1) + " of the prepared statement is " +
                            describe_pg_type(statement.param_types[i]) + " but the argument (" +
                            (i < params.names.size() ? std::string(params.names[i]) : std::string("C++ value")) +
                            ") is sent in binary as " + describe_pg_type(params.types[i]));
        }
    }
    const auto unsent = s.out().size();
    const bool parsed_here = parsed_with_each_execution(statement);
    try {
        if (parsed_here) protocol::encode_parse(s.out(), "", sql, statement.param_types);
        const auto after_bind = parsed_here ? std::string_view{} : then;
        if (params.fixed_section > 0)
            protocol::encode_bind_sized(s.out(), "", statement.name, params.formats, params.types.size(), params.fixed_section,
                                        [&](char* p) { params.write_fixed(params.context, p); }, statement.result_formats,
                                        after_bind);
        else
            protocol::encode_bind(s.out(), "", statement.name, params.formats, params.types.size(),
                                  [&](std::size_t i, std::string& out) { return params.write(params.context, i, out); },
                                  statement.result_formats, after_bind);
        if (parsed_here) {
            s.out().append(describe_portal);
            s.out().append(then);
        }
    } catch (...) {
        s.out().resize(unsent);
        throw;
    }
}

// A cached plan the server can no longer use as prepared: re-preparing fixes it.
inline bool statement_went_stale(const diagnostics& d) {
    return (d.sqlstate == sqlstate::feature_not_supported && d.message.find("cached plan must not change result type") != std::string::npos) ||
           d.sqlstate == "26000";  // invalid_sql_statement_name: e.g. after DISCARD ALL
}
inline bool statement_went_stale(const server_error& e) { return statement_went_stale(e.diag()); }

// The server does not know a statement this connection prepared (26000):
// automatic mode checks for a proxy before its next preparation, and the
// error says what can cause it.
inline void note_lost_statement(session& s, diagnostics& d) {
    if (d.sqlstate != "26000") return;
    s.statements.suspect_shared_session();
    if (d.hint.empty())
        d.hint = "pgcoro prepared this statement on this connection; the server no longer has it after DEALLOCATE or "
                 "DISCARD, or because a transaction-pooling proxy (PgBouncer) gave the connection another server "
                 "session: statement_mode=describe uses no named statements";
}

}  // namespace pgcoro::detail
