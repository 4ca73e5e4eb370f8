// One chunk of a row_stream: Execute of the unnamed portal for up to N rows
// (after its Bind, for the first chunk), then the rows and PortalSuspended,
// which keeps the portal for the next chunk, or the end of the rows (or an
// error), which ends the exchange with a Sync and its ReadyForQuery.
#pragma once

#include <cstdint>
#include <string>

#include "../result.hpp"
#include "runner.hpp"

namespace pgcoro::detail {

class portal_chunk_exchange {
public:
    portal_chunk_exchange(result& chunk, std::string& command_tag, bool after_bind) noexcept
        : chunk_(chunk), tag_(command_tag), at_(after_bind ? stage::bind : stage::rows) {}

    // Execute and Flush: no Sync, so the portal outlives the chunk.
    void start(session& s, std::int32_t max_rows) {
        max_rows_ = static_cast<std::uint64_t>(max_rows);
        protocol::encode_execute(s.out(), "", max_rows);
        protocol::encode_flush(s.out());
    }

    next_step on_message(session& s, const protocol::backend_message& m) {
        using enum protocol::message_type;
        switch (m.type) {
        case bind_complete:
            if (at_ != stage::bind) return next_step::unexpected;
            protocol::expect_empty_body(m.body, "BindComplete");
            at_ = stage::rows;
            return next_step::read;
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
    enum class stage { bind, rows, ready };

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
    first_error errors_;
    std::uint64_t rows_ = 0;
    std::uint64_t max_rows_ = 0;
    bool suspended_ = false;
};

}  // namespace pgcoro::detail
