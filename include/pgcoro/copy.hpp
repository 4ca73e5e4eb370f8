// COPY streamed in both directions.
//
//   auto in = co_await conn.copy_in("COPY person (name, born) FROM STDIN (FORMAT csv)");
//   co_await in.write("Ada,1815-12-10\n");
//   std::uint64_t copied = co_await in.finish();
//
//   auto out = co_await conn.copy_out("COPY person TO STDOUT");
//   while (auto data = co_await out.read()) consume(*data);
//
// While a COPY is open the connection runs nothing else. A copy_writer left
// without finish() or abort() sends CopyFail before the connection's next
// operation (the server then rolls the COPY back); a copy_reader left early
// cancels the rest.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "session/extended_query.hpp"
#include "session/operation.hpp"
#include "session/runner.hpp"

namespace pgcoro {

namespace asio = boost::asio;

// What the server announced for a COPY: text (or csv) or binary, per column.
struct copy_format {
    bool binary = false;
    std::vector<std::int16_t> column_formats;  // 0 text, 1 binary
};

namespace detail {

// A simple Query expected to start a COPY in one direction: it suspends at
// that CopyInResponse or CopyOutResponse with the exchange open. Anything
// else (other statements, a COPY the other way) is read or refused up to
// ReadyForQuery, and start_copy reports it.
class copy_start_exchange {
public:
    explicit copy_start_exchange(protocol::message_type expected) noexcept : expected_(expected) {}

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
        case row_description:
        case data_row:
        case command_complete:
        case empty_query_response:
            return next_step::read;  // not a COPY: read up to ReadyForQuery
        case ready_for_query: return next_step::done;
        default: return next_step::unexpected;
        }
    }
    next_step on_error(session&, diagnostics&& d) {
        errors.keep(std::move(d));
        return next_step::read;
    }
    const char* during() const noexcept { return "while starting a COPY"; }

    copy_format format;
    first_error errors;

private:
    protocol::message_type expected_;
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
        co_await end_exchange_and_drain(s, ours, std::string(call) + " was given a COPY in the other direction");
    } else {
        exchange.errors.finish();  // the statement's own error, if it failed
    }
    throw error(errc::invalid_value, std::string(call) + " needs a single COPY ... " + (in ? "FROM STDIN" : "TO STDOUT") +
                                         " statement, not: " + std::string(sql.substr(0, 200)));
}

// CopyDone, then CommandComplete with the rows copied and ReadyForQuery.
class copy_done_exchange {
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
    next_step on_error(session&, diagnostics&& d) {
        errors.keep(std::move(d));
        return next_step::read;
    }
    const char* during() const noexcept { return "after CopyDone"; }

    std::uint64_t rows = 0;
    first_error errors;

private:
    bool completed_ = false;
};

// COPY TO STDOUT: suspends at each CopyData with its body in `data`; done
// after CopyDone, CommandComplete and ReadyForQuery.
class copy_out_exchange {
public:
    next_step on_message(session& s, const protocol::backend_message& m) {
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
    next_step on_error(session& s, diagnostics&& d) {
        errors_.keep(std::move(d));
        s.exchange_ended();
        at_ = stage::ready;
        return next_step::read;
    }
    const char* during() const noexcept { return "during COPY TO STDOUT"; }

    std::optional<std::string_view> data;  // the last CopyData, valid until the next read
    std::string tag;

private:
    enum class stage { data, complete, ready };
    stage at_ = stage::data;
    first_error errors_;
};

}  // namespace detail

class copy_writer {
public:
    // Data is sent once this much is buffered, and at finish().
    static constexpr std::size_t send_threshold = 64 * 1024;

    copy_writer(copy_writer&& other) noexcept
        : session_(std::move(other.session_)), format_(std::move(other.format_)), open_(other.open_) {
        other.open_ = false;
    }
    copy_writer& operator=(copy_writer&&) = delete;
    copy_writer(const copy_writer&) = delete;
    ~copy_writer() {
        // The next operation on the connection sends CopyFail first.
        if (open_ && session_) session_->let_go_of(detail::open_exchange::copy_in);
    }

    const copy_format& format() const noexcept { return format_; }

    // Appends data in the COPY's format (rows may be split across writes
    // anywhere); sends when enough is buffered.
    asio::awaitable<void> write(std::string_view data) {
        require_open("write()");
        auto& s = *session_;
        // CopyData messages of at most send_threshold bytes each.
        while (!data.empty()) {
            const auto piece = data.substr(0, send_threshold);
            protocol::encode_copy_data(s.out(), piece);
            data.remove_prefix(piece.size());
            if (s.out().size() >= send_threshold) co_await step([](detail::session& s) { return s.flush(); });
        }
    }

    // Ends the COPY (CopyDone) and returns the number of rows copied. A row
    // the server rejected fails here, with the server's error.
    asio::awaitable<std::uint64_t> finish() {
        require_open("finish()");
        open_ = false;
        std::uint64_t rows = 0;
        co_await step([&rows](detail::session& s) -> asio::awaitable<void> {
            protocol::encode_copy_done(s.out());
            s.exchange_ended();
            detail::copy_done_exchange exchange;
            co_await detail::run_exchange(s, exchange);
            rows = exchange.rows;
        });
        co_return rows;
    }

    // Abandons the COPY (CopyFail with the reason): nothing is copied, and
    // the connection is usable again.
    asio::awaitable<void> abort(std::string reason) {
        require_open("abort()");
        open_ = false;
        co_await step([&reason](detail::session& s) -> asio::awaitable<void> {
            std::optional<diagnostics> expected;  // 57014: COPY from stdin failed: <reason>
            co_await detail::end_exchange_and_drain(s, expected, reason);
        });
    }

    bool is_open() const noexcept { return open_; }

    static asio::awaitable<copy_writer> open(std::shared_ptr<detail::session> session, std::string_view sql) {
        copy_writer w(std::move(session));
        co_await detail::run_operation(w.session_, [&](detail::session& s) -> asio::awaitable<void> {
            w.format_ = co_await detail::start_copy(s, sql, protocol::message_type::copy_in_response, "copy_in()");
        });
        w.open_ = true;
        co_return w;
    }

private:
    explicit copy_writer(std::shared_ptr<detail::session> session) : session_(std::move(session)) {}

    void require_open(const char* call) const {
        if (!open_) throw error(errc::invalid_state, std::string("copy_writer::") + call + " after the COPY ended");
        if (session_->broken()) throw error(errc::connection_broken, "connection is broken by an earlier failure and must be closed");
    }

    template <class Operation>
    asio::awaitable<void> step(Operation op) {
        try {
            co_await detail::run_operation(session_, std::move(op), detail::operation_start::continues_exchange);
        } catch (...) {
            open_ = false;  // cancelled, failed or broken: the exchange is over
            throw;
        }
    }

    std::shared_ptr<detail::session> session_;
    copy_format format_;
    bool open_ = false;
};

class copy_reader {
public:
    copy_reader(copy_reader&& other) noexcept
        : session_(std::move(other.session_)), format_(std::move(other.format_)), exchange_(std::move(other.exchange_)),
          open_(other.open_) {
        other.open_ = false;
    }
    copy_reader& operator=(copy_reader&&) = delete;
    copy_reader(const copy_reader&) = delete;
    ~copy_reader() {
        // The next operation on the connection cancels the rest and drains it.
        if (open_ && session_) session_->let_go_of(detail::open_exchange::copy_out);
    }

    const copy_format& format() const noexcept { return format_; }

    // The next piece of data (one CopyData message: a row, in the text and
    // csv formats), valid until the next call; std::nullopt at the end.
    asio::awaitable<std::optional<std::string_view>> read() {
        if (!open_) co_return std::nullopt;
        // Fast path: a whole CopyData is already buffered, taken without an
        // operation of its own (it cannot fail or end the exchange).
        auto& s = *session_;
        if (s.exchange() == detail::open_exchange::copy_out && !s.broken() &&
            s.buffered_message_type() == protocol::message_type::copy_data &&
            detail::consume(s, exchange_) == detail::next_step::suspend)
            co_return exchange_.data;
        try {
            co_await detail::run_operation(session_, [this](detail::session& s) -> asio::awaitable<void> {
                co_await detail::run_exchange(s, exchange_);
            }, detail::operation_start::continues_exchange);
        } catch (...) {
            open_ = false;
            throw;
        }
        if (!exchange_.data) open_ = false;
        co_return exchange_.data;
    }

    // The command tag at the end ("COPY 1000000") and its row count.
    const std::string& command_tag() const noexcept { return exchange_.tag; }
    std::uint64_t rows() const { return protocol::rows_affected(exchange_.tag).value_or(0); }
    bool is_open() const noexcept { return open_; }

    // Stops early: cancels the rest on the server and drains it.
    asio::awaitable<void> close() {
        if (!open_) co_return;
        open_ = false;
        co_await detail::run_operation(session_, [](detail::session& s) -> asio::awaitable<void> {
            co_await detail::finish_abandoned_exchange(s);
        }, detail::operation_start::continues_exchange);
    }

    static asio::awaitable<copy_reader> open(std::shared_ptr<detail::session> session, std::string_view sql) {
        copy_reader r(std::move(session));
        co_await detail::run_operation(r.session_, [&](detail::session& s) -> asio::awaitable<void> {
            r.format_ = co_await detail::start_copy(s, sql, protocol::message_type::copy_out_response, "copy_out()");
        });
        r.open_ = true;
        co_return r;
    }

private:
    explicit copy_reader(std::shared_ptr<detail::session> session) : session_(std::move(session)) {}

    std::shared_ptr<detail::session> session_;
    copy_format format_;
    detail::copy_out_exchange exchange_;
    bool open_ = false;
};

}  // namespace pgcoro
