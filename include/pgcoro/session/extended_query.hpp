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

inline asio::awaitable<statement_ptr> prepare_statement(session& s, statement_cache& cache, std::string_view sql,
                                                        std::span<const std::uint32_t> types) {
    if (auto hit = cache.find(sql, types)) co_return hit;
    const auto closes = close_evicted_statements(s, cache);
    // Named first: GCC 12 miscompiles a conditional's temporary passed to a coroutine.
    std::string name = cache.enabled() ? cache.next_name() : std::string();
    auto statement = co_await describe_new_statement(s, std::move(name), sql, types, closes);
    cache.insert(sql, types, statement);
    co_return statement;
}

// Appends Bind of `statement` with the parameters to the unnamed portal.
// Nothing is appended when a parameter fails to encode: the session stays in sync.
inline void bind_statement(session& s, const statement_description& statement, const parameter_writer& params,
                           std::string_view then = {}) {
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
    try {
        protocol::encode_bind(s.out(), "", statement.name, params.formats, params.types.size(),
                              [&](std::size_t i, std::string& out) { return params.write(params.context, i, out); },
                              statement.result_formats, then);
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

}  // namespace pgcoro::detail
