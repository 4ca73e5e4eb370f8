// A large result read in chunks instead of all at once: memory stays
// bounded by one chunk whatever the result size. The statement runs in an
// unnamed portal, read one of two ways (stream_fetch):
//
// - continuous: one Execute for every row. The server sends rows as fast as
//   the client reads them (TCP's flow control holds it back when the client
//   lags), and each chunk is what has arrived, up to chunk_rows: the client
//   decodes while the server produces, which makes it the fastest way to
//   read many rows. Stopped early, the statement is cancelled on the server
//   (a CancelRequest on a connection of its own) and what was in flight is
//   read and dropped.
// - per chunk: one Execute of chunk_rows rows per chunk, the next one sent
//   as soon as a chunk has arrived (the server produces it while the caller
//   reads this one). The server waits between chunks, and a stream stopped
//   early costs one round trip: the portal is closed, the transaction
//   untouched.
//
// automatic (the default) streams continuously outside a transaction block
// and per chunk inside one, where a cancelled statement would abort the
// transaction.
//
//   auto rows = co_await conn.stream("SELECT id, payload FROM big");
//   while (auto row = co_await rows.next()) use(row->get<std::int64_t>(0));
//
// While a stream is open the connection runs nothing else. Left before its
// end (an exception, a break), it is ended before the connection's next
// operation.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include <boost/asio/awaitable.hpp>

#include "util/compilation_mode.hpp"
#include "result.hpp"
#include "session/statement_cache.hpp"
#include "types/parameters.hpp"
#if PGCORO_DEFINITIONS
#include "session/extended_query.hpp"
#include "session/operation.hpp"
#include "session/portal_exchange.hpp"
#endif

namespace pgcoro {

namespace asio = boost::asio;
namespace detail {
class session;
}

// How a stream asks the server for its rows (see above).
enum class stream_fetch { automatic, continuous, per_chunk };

struct stream_options {
    // The most rows a chunk holds: what the client keeps at once. Per chunk,
    // also the rows each Execute asks for.
    std::int32_t chunk_rows = 1000;
    stream_fetch fetch = stream_fetch::automatic;
};

class row_stream {
public:
    row_stream(row_stream&& other) noexcept
        : session_(std::move(other.session_)), statement_(std::move(other.statement_)), chunk_(std::move(other.chunk_)),
          tag_(std::move(other.tag_)), options_(other.options_), position_(other.position_),
          rows_read_(other.rows_read_), more_(other.more_), unseen_(other.unseen_), continuous_(other.continuous_) {}
    row_stream& operator=(row_stream&&) = delete;
    row_stream(const row_stream&) = delete;

    ~row_stream();

    // The next chunk of at most chunk_rows rows into chunk(); false once
    // every row has been read. Continuous, a chunk is what has arrived: it
    // may hold fewer rows while more follow.
    asio::awaitable<bool> next_chunk();

    // The rows of the last next_chunk(), valid until the next call.
    const result& chunk() const noexcept { return chunk_; }

    // The next row, valid until the next chunk is read; std::nullopt at the end.
    asio::awaitable<std::optional<row>> next();

    const std::vector<column>& columns() const noexcept { return statement_->columns; }
    // All rows have been read and the connection is free again.
    bool done() const noexcept { return !more_ && !unseen_ && position_ == chunk_.size(); }
    // The command tag of the last Execute, once the last row was read. Per
    // chunk, its count is of that Execute alone ("SELECT 0" after a
    // suspended portal): rows_read() counts them all.
    const std::string& command_tag() const noexcept { return tag_; }
    std::uint64_t rows_read() const noexcept { return rows_read_; }

    // Stops early: closes the portal (per chunk) or cancels the statement
    // (continuous), and frees the connection.
    asio::awaitable<void> close();

    // Starts the stream: binds, executes the first chunk and reads it.
    // (Used by connection::stream; the arguments are read only here.)
    static asio::awaitable<row_stream> open(std::shared_ptr<detail::session> session, std::string_view sql,
                                            const detail::parameter_writer& params, stream_options options);

private:
    row_stream(std::shared_ptr<detail::session> session, stream_options options)
        : session_(std::move(session)), options_(options) {}

    void clear_chunk() {
        chunk_.clear();
        chunk_.set_columns(std::shared_ptr<const std::vector<column>>(statement_, &statement_->columns));
    }

    asio::awaitable<void> execute_first(detail::session& s, std::string_view sql, const detail::parameter_writer& params);

    asio::awaitable<void> fetch();

    asio::awaitable<void> read_chunk(detail::session& s, bool after_bind, std::string_view sql = {},
                                     std::span<const std::uint32_t> types = {});
    asio::awaitable<void> read_arriving(detail::session& s, bool after_bind, std::string_view sql = {},
                                        std::span<const std::uint32_t> types = {});

    std::shared_ptr<detail::session> session_;
    detail::statement_ptr statement_;
    result chunk_;
    std::string tag_;
    stream_options options_;
    std::size_t position_ = 0;
    std::uint64_t rows_read_ = 0;
    bool more_ = false;    // the server has more rows: the portal is suspended, or streaming
    bool unseen_ = false;  // chunk_ was read but not yet handed out
    bool continuous_ = false;
};

// The bodies: inline (header-only) or in the src.hpp TU (util/compilation_mode.hpp).
#if PGCORO_DEFINITIONS
PGCORO_DECL row_stream::~row_stream() {
    // The session stays in the exchange; its next operation ends it.
    if (session_ && more_)
        session_->let_go_of(continuous_ ? detail::open_exchange::streaming_portal : detail::open_exchange::reading_ahead);
}

PGCORO_DECL asio::awaitable<bool> row_stream::next_chunk() {
    position_ = 0;
    if (unseen_) {
        unseen_ = false;
        if (!chunk_.empty()) co_return true;
    }
    if (!more_) {
        clear_chunk();
        co_return false;
    }
    co_await fetch();
    co_return !chunk_.empty();
}

PGCORO_DECL asio::awaitable<std::optional<row>> row_stream::next() {
    if (unseen_ || position_ == chunk_.size()) {
        const bool more = co_await next_chunk();
        if (!more) co_return std::optional<row>{};
    }
    co_return std::optional<row>{chunk_[position_++]};
}

PGCORO_DECL asio::awaitable<void> row_stream::close() {
    if (!more_) co_return;
    more_ = false;
    unseen_ = false;
    position_ = 0;  // done() from here on
    clear_chunk();
    co_await detail::run_operation(session_, [](detail::session& s) -> asio::awaitable<void> {
        if (s.exchange() == detail::open_exchange::streaming_portal) {
            co_await detail::finish_abandoned_exchange(s);  // a cancel, unless the end has arrived
            co_return;
        }
        std::optional<diagnostics> ignored;
        co_await detail::end_exchange_and_drain(s, ignored, "", detail::exchange_stop::at_rest);
    }, detail::operation_start::continues_exchange);
}

PGCORO_DECL asio::awaitable<row_stream> row_stream::open(std::shared_ptr<detail::session> session, std::string_view sql,
                                           const detail::parameter_writer& params, stream_options options) {
    if (options.chunk_rows <= 0) throw error(errc::invalid_config, "stream_options::chunk_rows must be positive");
    row_stream stream(std::move(session), options);
    co_await detail::run_operation(stream.session_, [&](detail::session& s) -> asio::awaitable<void> {
        stream.statement_ = co_await detail::prepare_statement(s, s.statements, sql, params.types);
        bool stale = false;
        try {
            co_await stream.execute_first(s, sql, params);
            co_return;
        } catch (const server_error& e) {
            if (e.sqlstate() == "26000" && !detail::parsed_with_each_execution(*stream.statement_))
                s.statements.suspect_shared_session();
            if (!s.statements.names_statements() || !detail::statement_went_stale(e) ||
                s.transaction() != protocol::transaction_status::idle)
                throw;
            stale = true;
        }
        if (stale) {  // same rule as query(): re-prepare once, outside a transaction
            s.statements.erase(sql, params.types);
            stream.statement_ = co_await detail::prepare_statement(s, s.statements, sql, params.types);
            co_await stream.execute_first(s, sql, params);
        }
    });
    co_return stream;
}

PGCORO_DECL asio::awaitable<void> row_stream::execute_first(detail::session& s, std::string_view sql, const detail::parameter_writer& params) {
    continuous_ = options_.fetch == stream_fetch::continuous ||
                  (options_.fetch == stream_fetch::automatic && s.transaction() == protocol::transaction_status::idle);
    detail::bind_statement(s, *statement_, sql, params);
    if (continuous_) {
        s.enter_exchange(detail::open_exchange::streaming_portal);
        co_await read_arriving(s, true, sql, params.types);
    } else {
        s.enter_exchange(detail::open_exchange::suspended_portal);
        co_await read_chunk(s, true, sql, params.types);
    }
    unseen_ = true;
}

PGCORO_DECL asio::awaitable<void> row_stream::fetch() {
    co_await detail::run_operation(session_, [this](detail::session& s) {
        return continuous_ ? read_arriving(s, false) : read_chunk(s, false);
    }, detail::operation_start::continues_exchange);
}

PGCORO_DECL asio::awaitable<void> row_stream::read_chunk(detail::session& s, bool after_bind, std::string_view sql,
                                          std::span<const std::uint32_t> types) {
    clear_chunk();
    more_ = false;
    detail::portal_exchange exchange(chunk_, tag_, after_bind);
    if (after_bind && detail::parsed_with_each_execution(*statement_)) exchange.after_parse(statement_, sql, types);
    exchange.start(s, options_.chunk_rows, !after_bind);
    try {
        co_await detail::run_exchange(s, exchange);
    } catch (...) {
        rows_read_ += exchange.rows();
        throw;
    }
    rows_read_ += exchange.rows();
    more_ = exchange.suspended();
    if (!more_) co_return;
    detail::portal_exchange::read_ahead(s, options_.chunk_rows);
    s.enter_exchange(detail::open_exchange::reading_ahead);
    co_await s.flush();
}

// Continuous: reads until rows have arrived (handing out what is buffered
// rather than waiting for a full chunk), a chunk is full, or the end.
PGCORO_DECL asio::awaitable<void> row_stream::read_arriving(detail::session& s, bool after_bind, std::string_view sql,
                                             std::span<const std::uint32_t> types) {
    clear_chunk();
    more_ = false;
    detail::portal_exchange exchange(chunk_, tag_, after_bind, detail::portal_fetch::continuous, rows_read_);
    if (after_bind && detail::parsed_with_each_execution(*statement_)) exchange.after_parse(statement_, sql, types);
    exchange.start(s, options_.chunk_rows, !after_bind);
    auto step = after_bind ? detail::next_step::write : detail::next_step::read;
    try {
        if (!after_bind) step = detail::consume(s, exchange);  // what arrived meanwhile first
        while (step == detail::next_step::write ||
               (step == detail::next_step::read && !exchange.has_rows_to_hand_out())) {
            if (step == detail::next_step::write) {
                if (!s.send_now()) s.sent(co_await s.send_rest());
            } else {
                s.received(co_await s.receive());
            }
            step = detail::consume(s, exchange);
        }
    } catch (...) {
        rows_read_ += exchange.rows();
        throw;
    }
    rows_read_ += exchange.rows();
    more_ = step != detail::next_step::done;
}
#endif  // PGCORO_DEFINITIONS

}  // namespace pgcoro
