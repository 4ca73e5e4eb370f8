// The rows of a row_stream's unnamed portal, asked for one of two ways.
//
// Per chunk: Execute for up to N rows and Flush, without Sync, so the
// portal outlives the chunk (after its Bind, for the first chunk; or sent
// ahead when the last chunk ended: read_ahead()). Then the rows and
// PortalSuspended, which keeps the portal for the next chunk, or the end of
// the rows (or an error), which ends the exchange with a Sync and its
// ReadyForQuery.
//
// Continuous: one Execute for every row, and its Sync. The server sends rows
// as fast as we read them; the exchange suspends whenever the chunk holds N
// rows, and its owner may hand out fewer, what has arrived
// (has_rows_to_hand_out()). One exchange runs over many chunks, up to its
// ReadyForQuery.
//
// An unnamed statement's first chunk also answers its Parse and the
// portal's Describe (see extended_query.hpp).
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "../result.hpp"
#include "extended_query.hpp"
#include "runner.hpp"

namespace pgcoro::detail {

enum class portal_fetch { per_chunk, continuous };

class portal_exchange {
public:
    // `earlier_rows`: rows a continuous exchange handed out in earlier
    // chunks, for the command tag's count at the end.
    portal_exchange(result& chunk, std::string& command_tag, bool after_bind,
                    portal_fetch how = portal_fetch::per_chunk, std::uint64_t earlier_rows = 0) noexcept
        : chunk_(chunk), tag_(command_tag), at_(after_bind ? stage::bind : stage::rows), how_(how),
          earlier_rows_(earlier_rows) {}

    // The first chunk of an unnamed statement, parsed with its Bind: the
    // columns the portal reports replace `statement` when they differ.
    void after_parse(statement_ptr& statement, std::string_view sql, std::span<const std::uint32_t> types) noexcept {
        parsed_ = {&statement, sql, types};
        at_ = stage::parse;
    }

    // Per chunk: Execute and Flush, unless read_ahead() sent them when the
    // last chunk ended (`sent`). Continuous: Execute and Sync, for the first
    // chunk only; later ones just read on.
    void start(session& s, std::int32_t chunk_rows, bool sent = false) {
        chunk_rows_ = static_cast<std::uint64_t>(chunk_rows);
        if (sent) return;
        if (how_ == portal_fetch::per_chunk) return read_ahead(s, chunk_rows);
        protocol::encode_execute(s.out(), "", 0);
        protocol::encode_sync(s.out());
        s.expect_ready();
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
            if (at_ != stage::rows) return next_step::unexpected;
            if (how_ == portal_fetch::continuous) {
                chunk_.append_row(m.body);
                ++rows_;
                return chunk_.size() == chunk_rows_ ? next_step::suspend : next_step::read;
            }
            // More rows than Execute asked for would leave us waiting for a
            // PortalSuspended that is not coming.
            if (rows_ == chunk_rows_) return next_step::unexpected;
            chunk_.append_row(m.body);
            ++rows_;
            return next_step::read;
        case portal_suspended:
            if (at_ != stage::rows || how_ == portal_fetch::continuous) return next_step::unexpected;
            protocol::expect_empty_body(m.body, "PortalSuspended");
            suspended_ = true;
            return next_step::suspend;
        case command_complete:
            if (at_ != stage::rows) return next_step::unexpected;
            tag_.assign(protocol::decode_command_complete(m.body));
            if (!chunk_.columns().empty()) protocol::check_rows_returned(tag_, earlier_rows_ + rows_);
            return end_of_rows(s);
        case empty_query_response:
            if (at_ != stage::rows) return next_step::unexpected;
            protocol::expect_empty_body(m.body, "EmptyQueryResponse");
            return end_of_rows(s);
        case ready_for_query:
            if (at_ != stage::ready) return next_step::unexpected;
            if (how_ == portal_fetch::continuous) s.exchange_ended();
            return errors_.finish();
        default: return next_step::unexpected;
        }
    }
    next_step on_error(session& s, diagnostics&& d) {
        if (at_ == stage::ready) return next_step::unexpected;
        errors_.keep(std::move(d));
        return end_of_rows(s);
    }
    const char* during() const noexcept { return "while streaming rows"; }

    // Rows this exchange has read: of its Execute (per chunk), or so far (continuous).
    std::uint64_t rows() const noexcept { return rows_; }
    // The portal has more rows: the exchange stays open for the next chunk.
    bool suspended() const noexcept { return suspended_; }
    // Rows are arriving and some are in the chunk: they may be handed out
    // before the exchange reads on.
    bool has_rows_to_hand_out() const noexcept { return at_ == stage::rows && !chunk_.empty(); }

private:
    enum class stage { parse, bind, columns, rows, ready };
    struct parsed_statement {
        statement_ptr* statement = nullptr;
        std::string_view sql;
        std::span<const std::uint32_t> types;
    };

    // The rows ended (or failed): per chunk, the Sync that ends the portal's
    // implicit transaction is still owed; continuous, it was sent with the
    // Execute.
    next_step end_of_rows(session& s) {
        at_ = stage::ready;
        if (how_ == portal_fetch::continuous) return next_step::read;
        protocol::encode_sync(s.out());
        s.expect_ready();
        s.exchange_ended();
        return next_step::write;
    }

    result& chunk_;
    std::string& tag_;
    stage at_;
    portal_fetch how_;
    parsed_statement parsed_;
    first_error errors_;
    std::uint64_t earlier_rows_;
    std::uint64_t rows_ = 0;
    std::uint64_t chunk_rows_ = 0;
    bool suspended_ = false;
};

}  // namespace pgcoro::detail
