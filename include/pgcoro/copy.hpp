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

#include "session/operation.hpp"
#include "session/extended_query.hpp"

namespace pgcoro {

namespace asio = boost::asio;

// What the server announced for a COPY: text (or csv) or binary, per column.
struct copy_format {
    bool binary = false;
    std::vector<std::int16_t> column_formats;  // 0 text, 1 binary
};

namespace detail {

// Sends `sql` as a simple Query and expects the server to enter the COPY
// mode `expected` ('G' in, 'H' out). Anything else is drained back to
// ReadyForQuery and reported.
inline asio::awaitable<copy_format> start_copy(session& s, std::string_view sql, char expected, const char* call) {
    protocol::encode_query(s.out(), sql);
    co_await s.flush();
    for (;;) {
        auto m = co_await s.read_message();
        if (s.handle_asynchronous(m)) continue;
        if (m.type == expected) {
            auto r = protocol::decode_copy_response(m.body, expected == 'G' ? "CopyInResponse" : "CopyOutResponse");
            s.exchange = expected == 'G' ? open_exchange::copy_in : open_exchange::copy_out;
            co_return copy_format{r.format == 1, std::move(r.column_formats)};
        }
        std::optional<diagnostics> failure;
        if (m.type == 'E') {
            failure = protocol::decode_error_fields(m.body);
            if (ends_session(*failure)) throw server_error(std::move(*failure));
        }
        if (m.type == 'Z') {
            s.ready_for_query(m.body);
        } else if (m.type == 'G' || m.type == 'H') {
            // The other direction: CopyFail ends COPY FROM STDIN, COPY TO STDOUT
            // is drained; the server's report of our CopyFail is not news.
            s.exchange = m.type == 'G' ? open_exchange::copy_in : open_exchange::copy_out;
            std::optional<diagnostics> ours;
            co_await end_exchange_and_drain(s, ours, std::string(call) + " was given a COPY in the other direction");
        } else {
            co_await end_exchange_and_drain(s, failure, std::string(call) + " was given a statement other than COPY");
        }
        if (failure) throw server_error(std::move(*failure));
        throw error(errc::invalid_value, std::string(call) + " needs a single COPY ... " +
                                             (expected == 'G' ? "FROM STDIN" : "TO STDOUT") + " statement, not: " +
                                             std::string(sql.substr(0, 200)));
    }
}

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
        if (open_ && session_ && !session_->broken && session_->exchange == detail::open_exchange::copy_in)
            session_->busy = false;
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
            s.exchange = detail::open_exchange::none;
            co_await s.flush();
            co_await detail::read_until_ready(s, "after CopyDone", [&](const protocol::backend_message& m) {
                if (m.type != 'C') return false;
                rows = protocol::rows_affected(protocol::decode_command_complete(m.body)).value_or(0);
                return true;
            });
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
            w.format_ = co_await detail::start_copy(s, sql, 'G', "copy_in()");
        });
        w.open_ = true;
        co_return w;
    }

private:
    explicit copy_writer(std::shared_ptr<detail::session> session) : session_(std::move(session)) {}

    void require_open(const char* call) const {
        if (!open_) throw error(errc::invalid_state, std::string("copy_writer::") + call + " after the COPY ended");
        if (session_->broken) throw error(errc::connection_broken, "connection is broken by an earlier failure and must be closed");
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
        : session_(std::move(other.session_)), format_(std::move(other.format_)), tag_(std::move(other.tag_)),
          open_(other.open_) {
        other.open_ = false;
    }
    copy_reader& operator=(copy_reader&&) = delete;
    copy_reader(const copy_reader&) = delete;
    ~copy_reader() {
        // The next operation on the connection cancels the rest and drains it.
        if (open_ && session_ && !session_->broken && session_->exchange == detail::open_exchange::copy_out)
            session_->busy = false;
    }

    const copy_format& format() const noexcept { return format_; }

    // The next piece of data (one CopyData message: a row, in the text and
    // csv formats), valid until the next call; std::nullopt at the end.
    asio::awaitable<std::optional<std::string_view>> read() {
        if (!open_) co_return std::nullopt;
        // Fast path: a whole message is already buffered.
        if (session_->exchange == detail::open_exchange::copy_out && !session_->broken) {
            if (auto m = session_->read_buffered_message()) {
                if (m->type == 'd') co_return m->body;
                pending_ = *m;
            }
        }
        std::optional<std::string_view> data;
        try {
            co_await detail::run_operation(session_, [&](detail::session& s) { return read_message(s, data); },
                                           detail::operation_start::continues_exchange);
        } catch (...) {
            open_ = false;
            throw;
        }
        if (!data) open_ = false;
        co_return data;
    }

    // The command tag at the end ("COPY 1000000") and its row count.
    const std::string& command_tag() const noexcept { return tag_; }
    std::uint64_t rows() const { return protocol::rows_affected(tag_).value_or(0); }
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
            r.format_ = co_await detail::start_copy(s, sql, 'H', "copy_out()");
        });
        r.open_ = true;
        co_return r;
    }

private:
    explicit copy_reader(std::shared_ptr<detail::session> session) : session_(std::move(session)) {}

    asio::awaitable<void> read_message(detail::session& s, std::optional<std::string_view>& data) {
        for (;;) {
            protocol::backend_message m;
            if (pending_) {
                m = *pending_;
                pending_.reset();
            } else {
                m = co_await s.read_message();
            }
            if (s.handle_asynchronous(m)) continue;
            switch (m.type) {
            case 'd': data = m.body; co_return;
            case 'c': protocol::expect_empty_body(m.body, "CopyDone"); continue;
            case 'C': tag_.assign(protocol::decode_command_complete(m.body)); continue;
            case 'Z':
                s.exchange = detail::open_exchange::none;
                s.ready_for_query(m.body);
                co_return;
            case 'E': {
                auto d = protocol::decode_error_fields(m.body);
                if (detail::ends_session(d)) throw server_error(std::move(d));
                s.exchange = detail::open_exchange::none;
                co_await detail::read_until_ready(s, "after a failed COPY", [](const protocol::backend_message&) { return false; });
                throw server_error(std::move(d));
            }
            default: detail::throw_unexpected(m.type, "during COPY TO STDOUT");
            }
        }
    }

    std::shared_ptr<detail::session> session_;
    copy_format format_;
    std::string tag_;
    std::optional<protocol::backend_message> pending_;  // taken by the fast path, not CopyData
    bool open_ = false;
};

}  // namespace pgcoro
