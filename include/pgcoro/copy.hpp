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

#include "util/compilation_mode.hpp"
#include "error.hpp"
#include "protocol/backend.hpp"
#include "session/copy_out_exchange.hpp"
#include "session/copy_trace.hpp"
#if PGCORO_DEFINITIONS
#include "session/copy_exchanges.hpp"
#include "session/copy_trace_definitions.hpp"
#include "session/operation.hpp"
#endif

namespace pgcoro {

namespace asio = boost::asio;

class copy_writer {
public:
    // Data is sent once this much is buffered, and at finish().
    static constexpr std::size_t send_threshold = 64 * 1024;

    copy_writer(copy_writer&& other) noexcept
        : session_(std::move(other.session_)), format_(std::move(other.format_)), trace_(std::move(other.trace_)),
          open_(other.open_) {
        other.open_ = false;
    }
    copy_writer& operator=(copy_writer&&) = delete;
    copy_writer(const copy_writer&) = delete;
    ~copy_writer();

    const copy_format& format() const noexcept { return format_; }

    // Appends data in the COPY's format (rows may be split across writes
    // anywhere); sends when enough is buffered.
    asio::awaitable<void> write(std::string_view data);

    // Ends the COPY (CopyDone) and returns the number of rows copied. A row
    // the server rejected fails here, with the server's error.
    asio::awaitable<std::uint64_t> finish();

    // Abandons the COPY (CopyFail with the reason): nothing is copied, and
    // the connection is usable again.
    asio::awaitable<void> abort(std::string reason);

    bool is_open() const noexcept { return open_; }

    static asio::awaitable<copy_writer> open(std::shared_ptr<detail::session> session, std::string_view sql);

private:
    explicit copy_writer(std::shared_ptr<detail::session> session) : session_(std::move(session)) {}

    void require_open(const char* call) const;

    template <class Operation>
    asio::awaitable<void> step(Operation op);

    std::shared_ptr<detail::session> session_;
    copy_format format_;
    detail::copy_trace trace_;
    bool open_ = false;
};

class copy_reader {
public:
    copy_reader(copy_reader&& other) noexcept
        : session_(std::move(other.session_)), format_(std::move(other.format_)), exchange_(std::move(other.exchange_)),
          trace_(std::move(other.trace_)), open_(other.open_) {
        other.open_ = false;
    }
    copy_reader& operator=(copy_reader&&) = delete;
    copy_reader(const copy_reader&) = delete;
    ~copy_reader();

    const copy_format& format() const noexcept { return format_; }

    // The next piece of data (one CopyData message: a row, in the text and
    // csv formats), valid until the next call; std::nullopt at the end.
    asio::awaitable<std::optional<std::string_view>> read();

    // The command tag at the end ("COPY 1000000") and its row count.
    const std::string& command_tag() const noexcept { return exchange_.tag; }
    std::uint64_t rows() const { return protocol::rows_affected(exchange_.tag).value_or(0); }
    bool is_open() const noexcept { return open_; }

    // Stops early: cancels the rest on the server and drains it.
    asio::awaitable<void> close();

    static asio::awaitable<copy_reader> open(std::shared_ptr<detail::session> session, std::string_view sql);

private:
    explicit copy_reader(std::shared_ptr<detail::session> session) : session_(std::move(session)) {}

    std::shared_ptr<detail::session> session_;
    copy_format format_;
    detail::copy_out_exchange exchange_;
    detail::copy_trace trace_;
    bool open_ = false;
};

// The bodies: inline (header-only) or in the src.hpp TU (util/compilation_mode.hpp).
#if PGCORO_DEFINITIONS
PGCORO_DECL copy_writer::~copy_writer() {
    // The next operation on the connection sends CopyFail first.
    if (open_ && session_) {
        trace_.stopped(*session_, "copy_writer dropped before finish(): the COPY is rolled back");
        session_->let_go_of(detail::open_exchange::copy_in);
    }
}

PGCORO_DECL asio::awaitable<void> copy_writer::write(std::string_view data) {
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

PGCORO_DECL asio::awaitable<std::uint64_t> copy_writer::finish() {
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
    trace_.succeeded(*session_, rows);
    co_return rows;
}

PGCORO_DECL asio::awaitable<void> copy_writer::abort(std::string reason) {
    require_open("abort()");
    open_ = false;
    co_await step([&reason](detail::session& s) -> asio::awaitable<void> {
        std::optional<diagnostics> expected;  // 57014: COPY from stdin failed: <reason>
        co_await detail::end_exchange_and_drain(s, expected, reason, detail::exchange_stop::at_rest);
    });
    trace_.stopped(*session_, "copy_writer::abort()");
}

PGCORO_DECL asio::awaitable<copy_writer> copy_writer::open(std::shared_ptr<detail::session> session, std::string_view sql) {
    copy_writer w(std::move(session));
    w.trace_.start(*w.session_, sql, copy_direction::in);
    auto start = [&](detail::session& s) -> asio::awaitable<void> {
        w.format_ = co_await detail::start_copy(s, sql, protocol::message_type::copy_in_response, "copy_in()");
    };
    try {
        co_await detail::run_operation(w.session_, start);
    } catch (...) {
        w.trace_.failed(*w.session_, std::current_exception());
        throw;
    }
    w.open_ = true;
    co_return w;
}

PGCORO_DECL void copy_writer::require_open(const char* call) const {
    if (!open_) throw error(errc::invalid_state, std::string("copy_writer::") + call + " after the COPY ended");
    if (session_->broken()) throw error(errc::connection_broken, "connection is broken by an earlier failure and must be closed");
}

template <class Operation>
asio::awaitable<void> copy_writer::step(Operation op) {
    try {
        co_await detail::run_operation(session_, std::move(op), detail::operation_start::continues_exchange);
    } catch (...) {
        open_ = false;  // cancelled, failed or broken: the exchange is over
        trace_.failed(*session_, std::current_exception());
        throw;
    }
}

PGCORO_DECL copy_reader::~copy_reader() {
    // The next operation on the connection cancels the rest and drains it.
    if (open_ && session_) {
        trace_.stopped(*session_, "copy_reader dropped before the end of the data");
        session_->let_go_of(detail::open_exchange::copy_out);
    }
}

PGCORO_DECL asio::awaitable<std::optional<std::string_view>> copy_reader::read() {
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
        trace_.failed(s, std::current_exception());
        throw;
    }
    if (!exchange_.data) {
        open_ = false;
        trace_.succeeded(s, rows());
    }
    co_return exchange_.data;
}

PGCORO_DECL asio::awaitable<void> copy_reader::close() {
    if (!open_) co_return;
    open_ = false;
    trace_.stopped(*session_, "copy_reader::close() before the end of the data");
    co_await detail::run_operation(session_, [](detail::session& s) -> asio::awaitable<void> {
        co_await detail::finish_abandoned_exchange(s);
    }, detail::operation_start::continues_exchange);
}

PGCORO_DECL asio::awaitable<copy_reader> copy_reader::open(std::shared_ptr<detail::session> session, std::string_view sql) {
    copy_reader r(std::move(session));
    r.trace_.start(*r.session_, sql, copy_direction::out);
    auto start = [&](detail::session& s) -> asio::awaitable<void> {
        r.format_ = co_await detail::start_copy(s, sql, protocol::message_type::copy_out_response, "copy_out()");
    };
    try {
        co_await detail::run_operation(r.session_, start);
    } catch (...) {
        r.trace_.failed(*r.session_, std::current_exception());
        throw;
    }
    r.open_ = true;
    co_return r;
}
#endif  // PGCORO_DEFINITIONS

}  // namespace pgcoro
