// The extended query protocol on a session: Parse/Describe once per statement
// (cached), then Bind/Execute/Sync per execution, parameters in binary where
// pgcoro has a codec. Results stream into a sink message by message.
#pragma once

#include <optional>
#include <span>
#include <string_view>

#include "../types/codec_errors.hpp"
#include "../types/oids.hpp"
#include "../types/parameters.hpp"
#include "../types/type_table.hpp"
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

[[noreturn]] inline void throw_unexpected(char type, const char* during) {
    protocol::throw_protocol_violation(std::string("unexpected message type '") + type + "' " + during);
}

// Handles the buffered messages up to ReadyForQuery, `on_message` those of
// the operation itself. Returns true at ReadyForQuery, false when it needs
// more input; then throws the first ErrorResponse, if any came.
template <class OnMessage>
bool consume_until_ready(session& s, std::optional<diagnostics>& failure, const char* during, OnMessage& on_message) {
    while (auto m = s.read_buffered_message()) {
        switch (m->type) {
        case 'N': case 'S': case 'A': s.handle_asynchronous(*m); continue;
        case 'E': {
            auto d = protocol::decode_error_fields(m->body);
            if (ends_session(d)) throw server_error(std::move(d));
            if (!failure) failure = std::move(d);
            continue;
        }
        case 'Z':
            s.ready_for_query(m->body);
            if (failure) throw server_error(std::move(*failure));
            return true;
        case '3': continue;  // CloseComplete of an evicted statement
        default:
            if (!on_message(*m)) throw_unexpected(m->type, during);
        }
    }
    return false;
}

// Reads up to ReadyForQuery; throws the first ErrorResponse after it arrives.
template <class OnMessage>
asio::awaitable<void> read_until_ready(session& s, const char* during, OnMessage&& on_message) {
    std::optional<diagnostics> failure;
    while (!consume_until_ready(s, failure, during, on_message)) s.received(co_await s.receive());
}

// Queues Close for statements the cache evicted.
inline void close_evicted_statements(session& s, statement_cache& cache) {
    for (const auto& name : cache.pending_close()) protocol::encode_close(s.out(), 'S', name);
    cache.pending_close().clear();
}

// Parses and describes a statement under `name` (empty: the unnamed one).
inline asio::awaitable<statement_ptr> describe_new_statement(session& s, std::string name, std::string_view sql,
                                                             std::span<const std::uint32_t> types) {
    auto statement = std::make_shared<statement_description>();
    statement->name = std::move(name);
    protocol::encode_parse(s.out(), statement->name, sql, types);
    protocol::encode_describe(s.out(), 'S', statement->name);
    protocol::encode_sync(s.out());
    co_await s.flush();

    std::vector<protocol::field_description> fields;
    co_await read_until_ready(s, "while preparing a statement", [&](const protocol::backend_message& m) {
        switch (m.type) {
        case '1': protocol::expect_empty_body(m.body, "ParseComplete"); return true;
        case 't': protocol::decode_parameter_description(m.body, statement->param_types); return true;
        case 'n': protocol::expect_empty_body(m.body, "NoData"); return true;
        case 'T':
            protocol::decode_row_description(m.body, fields);
            for (const auto& f : fields) {
                const auto fmt = static_cast<std::int16_t>(receives_binary(f.type_oid) ? 1 : 0);
                statement->columns.push_back({std::string(f.name), f.table_oid, f.column_attribute, f.type_oid,
                                              f.type_size, f.type_modifier, fmt});
                statement->result_formats.push_back(fmt);
            }
            return true;
        default: return false;
        }
    });
    co_return statement;
}

inline asio::awaitable<statement_ptr> prepare_statement(session& s, statement_cache& cache, std::string_view sql,
                                                        std::span<const std::uint32_t> types) {
    if (auto hit = cache.find(sql, types)) co_return hit;
    close_evicted_statements(s, cache);
    // Named first: GCC 12 miscompiles a conditional's temporary passed to a coroutine.
    std::string name = cache.enabled() ? cache.next_name() : std::string();
    auto statement = co_await describe_new_statement(s, std::move(name), sql, types);
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

// Reads what Execute of the unnamed portal sends, into the sink. Returns
// false when the portal was suspended at its row limit, true when it completed.
template <class Sink>
bool on_execute_message(const protocol::backend_message& m, Sink& sink, bool& handled) {
    handled = true;
    switch (m.type) {
    case '2': protocol::expect_empty_body(m.body, "BindComplete"); return false;
    case 'D': sink.row(m.body); return false;
    case 'C': sink.complete(protocol::decode_command_complete(m.body)); return true;
    case 'I': protocol::expect_empty_body(m.body, "EmptyQueryResponse"); sink.complete({}); return true;
    default: handled = false; return false;
    }
}

// A cached plan the server can no longer use as prepared: re-preparing fixes it.
inline bool statement_went_stale(const diagnostics& d) {
    return (d.sqlstate == sqlstate::feature_not_supported && d.message.find("cached plan must not change result type") != std::string::npos) ||
           d.sqlstate == "26000";  // invalid_sql_statement_name: e.g. after DISCARD ALL
}
inline bool statement_went_stale(const server_error& e) { return statement_went_stale(e.diag()); }

}  // namespace pgcoro::detail
