// COPY's exchanges: the Query that starts one (and what to do when the
// statement is not the COPY asked for), CopyDone and its answer, and the
// CopyData of COPY TO STDOUT, one message at a time.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "copy_out_exchange.hpp"
#include "operation.hpp"
#include "runner.hpp"
#include "simple_query.hpp"

namespace pgcoro {

namespace detail {

// A simple Query expected to start a COPY in one direction: it suspends at
// that CopyInResponse or CopyOutResponse with the exchange open. Anything
// else (other statements, a COPY the other way) is read or refused up to
// ReadyForQuery, and start_copy reports it.
class copy_start_exchange {
public:
    explicit copy_start_exchange(protocol::message_type expected) : expected_(expected) {}

    next_step on_message(session& s, const protocol::backend_message& m) {
        using enum protocol::message_type;
        switch (m.type) {
        case copy_in_response:
        case copy_out_response: {
            const bool in = m.type == copy_in_response;
            auto r = protocol::decode_copy_response(m.body, in ? "CopyInResponse" : "CopyOutResponse");
            s.enter_exchange(in ? open_exchange::copy_in : open_exchange::copy_out);
            if (m.type != expected_) return next_step::done;  // the other direction: drained by start_copy
            format = copy_format{r.format == 1, std::move(r.column_formats)};
            return next_step::suspend;
        }
        default:
            // Not a COPY: read as the simple query it is, up to ReadyForQuery,
            // where its error (if it failed) is thrown.
            return other_.on_message(s, m);
        }
    }
    next_step on_error(session& s, diagnostics&& d) { return other_.on_error(s, std::move(d)); }
    const char* during() const noexcept { return "while starting a COPY"; }

    copy_format format;

private:
    protocol::message_type expected_;
    std::vector<result> other_results_;
    simple_query_exchange other_{other_results_};
};

// Sends `sql` as a simple Query and expects the server to enter the COPY
// mode `expected` (CopyInResponse or CopyOutResponse). Anything else is
// drained back to ReadyForQuery and reported.
inline asio::awaitable<copy_format> start_copy(session& s, std::string_view sql, protocol::message_type expected,
                                               const char* call) {
    protocol::encode_query(s.out(), sql);
    s.expect_ready();
    copy_start_exchange exchange(expected);
    if (co_await run_exchange(s, exchange) == next_step::suspend) co_return std::move(exchange.format);
    const bool in = expected == protocol::message_type::copy_in_response;
    if (s.exchange() != open_exchange::none) {
        // The other direction: CopyFail ends COPY FROM STDIN, COPY TO STDOUT
        // is drained; the server's report of our CopyFail is not news.
        std::optional<diagnostics> ours;
        co_await end_exchange_and_drain(s, ours, std::string(call) + " was given a COPY in the other direction",
                                      exchange_stop::at_rest);
    }
    throw error(errc::invalid_value, std::string(call) + " needs a single COPY ... " + (in ? "FROM STDIN" : "TO STDOUT") +
                                         " statement, not: " + std::string(sql.substr(0, 200)));
}

// CopyDone, then CommandComplete with the rows copied and ReadyForQuery.
class copy_done_exchange : public keeps_first_error {
public:
    next_step on_message(session&, const protocol::backend_message& m) {
        using enum protocol::message_type;
        switch (m.type) {
        case command_complete:
            if (completed_) return next_step::unexpected;
            rows = protocol::rows_affected(protocol::decode_command_complete(m.body)).value_or(0);
            completed_ = true;
            return next_step::read;
        case ready_for_query: return completed_ || errors.failure ? errors.finish() : next_step::unexpected;
        default: return next_step::unexpected;
        }
    }
    const char* during() const noexcept { return "after CopyDone"; }

    std::uint64_t rows = 0;

private:
    bool completed_ = false;
};

inline next_step copy_out_exchange::on_message(session& s, const protocol::backend_message& m) {
    using enum protocol::message_type;
    switch (m.type) {
    case copy_data:
        if (at_ != stage::data) return next_step::unexpected;
        data = m.body;
        return next_step::suspend;
    case copy_done:
        if (at_ != stage::data) return next_step::unexpected;
        protocol::expect_empty_body(m.body, "CopyDone");
        at_ = stage::complete;
        return next_step::read;
    case command_complete:
        if (at_ != stage::complete) return next_step::unexpected;
        tag.assign(protocol::decode_command_complete(m.body));
        at_ = stage::ready;
        return next_step::read;
    case ready_for_query:
        if (at_ != stage::ready) return next_step::unexpected;
        s.exchange_ended();
        data.reset();
        return errors_.finish();
    default: return next_step::unexpected;
    }
}

inline next_step copy_out_exchange::on_error(session& s, diagnostics&& d) {
    errors_.keep(std::move(d));
    s.exchange_ended();
    at_ = stage::ready;
    return next_step::read;
}

}  // namespace detail

}  // namespace pgcoro
