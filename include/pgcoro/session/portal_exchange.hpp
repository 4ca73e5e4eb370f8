// One chunk of a row_stream: Execute of the unnamed portal for up to N rows
// (after its Bind, for the first chunk; or sent ahead, when the last chunk
// ended: read_ahead()), then the rows and PortalSuspended,
// which keeps the portal for the next chunk, or the end of the rows (or an
// error), which ends the exchange with a Sync and its ReadyForQuery. An
// unnamed statement's first chunk also answers its Parse and the portal's
// Describe (see extended_query.hpp).
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "../result.hpp"
#include "extended_query.hpp"
#include "runner.hpp"

namespace pgcoro::detail {

class portal_chunk_exchange {
public:
    portal_chunk_exchange(result& chunk, std::string& command_tag, bool after_bind) noexcept
        : chunk_(chunk), tag_(command_tag), at_(after_bind ? stage::bind : stage::rows) {}

    // The first chunk of an unnamed statement, parsed with its Bind: the
    // columns the portal reports replace `statement` when they differ.
    void after_parse(statement_ptr& statement, std::string_view sql, std::span<const std::uint32_t> types) noexcept {
        parsed_ = {&statement, sql, types};
        at_ = stage::parse;
    }

    // Execute and Flush: no Sync, so the portal outlives the chunk.
    // `sent`: read_ahead() sent them when the last chunk ended.
    void start(session& s, std::int32_t max_rows, bool sent = false) {
        max_rows_ = static_cast<std::uint64_t>(max_rows);
        if (!sent) read_ahead(s, max_rows);
    }
    static void read_ahead(session& s, std::int32_t max_rows) {
        protocol::encode_execute(s.out(), "", max_rows);
        protocol::encode_flush(s.out());
    }

    next_step on_message(session& s, const protocol::backend_message& m) {
        using enum protocol::message_type;
        switch (m.type) {
        case parse_complete:
            if (at_ != stage::parse) return next_step::unexpected;
            protocol::expect_empty_body(m.body, "ParseComplete");
            at_ = stage::bind;
            return next_step::read;
        case bind_complete:
            if (at_ != stage::bind) return next_step::unexpected;
            protocol::expect_empty_body(m.body, "BindComplete");
            at_ = parsed_.statement ? stage::columns : stage::rows;
            return next_step::read;
        case row_description:
        case no_data: {
            if (at_ != stage::columns) return next_step::unexpected;
            auto& statement = *parsed_.statement;
            if (auto reported = statement_as_reported(s, statement, m, parsed_.sql, parsed_.types); reported != statement) {
                statement = std::move(reported);
                chunk_.set_columns(std::shared_ptr<const std::vector<column>>(statement, &statement->columns));
            }
            at_ = stage::rows;
            return next_step::read;
        }
        case data_row:
            // More rows than Execute asked for would leave us waiting for a
            // PortalSuspended that is not coming.
            if (at_ != stage::rows || rows_ == max_rows_) return next_step::unexpected;
            chunk_.append_row(m.body);
            ++rows_;
            return next_step::read;
        case portal_suspended:
            if (at_ != stage::rows) return next_step::unexpected;
            protocol::expect_empty_body(m.body, "PortalSuspended");
            suspended_ = true;
            return next_step::suspend;
        case command_complete:
            if (at_ != stage::rows) return next_step::unexpected;
            tag_.assign(protocol::decode_command_complete(m.body));
            if (!chunk_.columns().empty()) protocol::check_rows_returned(tag_, rows_);
            return sync(s);
        case empty_query_response:
            if (at_ != stage::rows) return next_step::unexpected;
            protocol::expect_empty_body(m.body, "EmptyQueryResponse");
            return sync(s);
        case ready_for_query:
            if (at_ != stage::ready) return next_step::unexpected;
            return errors_.finish();
        default: return next_step::unexpected;
        }
    }
    next_step on_error(session& s, diagnostics&& d) {
        if (at_ == stage::ready) return next_step::unexpected;
        errors_.keep(std::move(d));
        return sync(s);
    }
    const char* during() const noexcept { return "while streaming rows"; }

    std::uint64_t rows() const noexcept { return rows_; }
    // The portal has more rows: the exchange stays open for the next chunk.
    bool suspended() const noexcept { return suspended_; }

private:
    enum class stage { parse, bind, columns, rows, ready };
    struct parsed_statement {
        statement_ptr* statement = nullptr;
        std::string_view sql;
        std::span<const std::uint32_t> types;
    };

    // Ends the portal's implicit transaction: Sync, up to ReadyForQuery.
    next_step sync(session& s) {
        protocol::encode_sync(s.out());
        s.expect_ready();
        s.exchange_ended();
        at_ = stage::ready;
        return next_step::write;
    }

    result& chunk_;
    std::string& tag_;
    stage at_;
    parsed_statement parsed_;
    first_error errors_;
    std::uint64_t rows_ = 0;
    std::uint64_t max_rows_ = 0;
    bool suspended_ = false;
};

}  // namespace pgcoro::detail
