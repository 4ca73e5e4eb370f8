// Runs a simple-protocol Query ('Q') on a session and collects every result
// set, up to ReadyForQuery. Server errors are collected and thrown only once
// the session is back at ReadyForQuery, so the session stays usable.
#pragma once

#include <vector>

#include "../result.hpp"
#include "session.hpp"

namespace pgcoro::detail {

inline asio::awaitable<void> run_simple_query(session& s, std::string_view sql, std::vector<result>& results) {
    protocol::encode_query(s.out(), sql);
    co_await s.flush();

    std::vector<protocol::field_description> fields;
    std::optional<diagnostics> failure;
    bool in_result = false;
    for (;;) {
        auto m = co_await s.read_message();
        if (s.handle_asynchronous(m)) continue;
        switch (m.type) {
        case 'T':
            protocol::decode_row_description(m.body, fields);
            results.emplace_back().set_columns(fields);
            in_result = true;
            break;
        case 'D':
            if (!in_result) protocol::throw_protocol_violation("DataRow without RowDescription");
            results.back().append_row(m.body);
            break;
        case 'C':
            if (!in_result) results.emplace_back();
            results.back().set_command_tag(protocol::decode_command_complete(m.body));
            in_result = false;
            break;
        case 'I':
            protocol::expect_empty_body(m.body, "EmptyQueryResponse");
            results.emplace_back();
            break;
        case 'E':
            failure = protocol::decode_error_fields(m.body);
            if (ends_session(*failure)) throw server_error(std::move(*failure));  // no ReadyForQuery follows
            in_result = false;
            break;
        case 'G':
            // COPY FROM STDIN through query(): refuse, the server then reports an error.
            protocol::encode_copy_fail(s.out(), "COPY FROM STDIN is not supported by query(); use the COPY API");
            co_await s.flush();
            break;
        case 'H':
        case 'd':
        case 'c':
            break;  // COPY TO STDOUT data through query() is discarded
        case 'Z':
            s.ready_for_query(m.body);
            if (failure) throw server_error(std::move(*failure));
            co_return;
        default:
            protocol::throw_protocol_violation(std::string("unexpected message type '") + m.type + "' in simple query");
        }
    }
}

}  // namespace pgcoro::detail
