// A connection to one PostgreSQL server session, driven by C++20 coroutines
// on Boost.Asio. Every operation is an asio::awaitable and honours per-operation
// cancellation: a cancelled query is cancelled on the server too and the
// connection drained back to ReadyForQuery, or closed when that fails.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <ranges>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/this_coro.hpp>

#include "util/compilation_mode.hpp"
#include "config.hpp"
#include "copy.hpp"
#include "types/copy_encoding.hpp"
#include "session/copy_target.hpp"
#include "session/notification.hpp"
#include "types/parameters.hpp"
#include "pipeline.hpp"
#include "prepared_statement.hpp"
#include "result.hpp"
#include "row_stream.hpp"
#include "transaction.hpp"
#include "transaction_options.hpp"
#include "types.hpp"
#if PGCORO_DEFINITIONS
#include "session/cancel_request.hpp"
#include "session/connector.hpp"
#include "session/execution.hpp"
#include "session/extended_query.hpp"
#include "session/idle_exchanges.hpp"
#include "session/operation.hpp"
#include "session/pipeline_run.hpp"
#include "session/row_sinks.hpp"
#include "session/session_end.hpp"
#include "session/shared_requests.hpp"
#include "session/simple_query.hpp"
#endif

namespace pgcoro {

namespace asio = boost::asio;
using protocol::transaction_status;
namespace detail {
struct pool_access;
}

// What pipelining concurrent query()/execute() calls did on a connection.
struct pipelining_stats {
    std::uint64_t requests = 0;         // requests written with others' (not run alone)
    std::uint64_t writes = 0;           // socket writes that carried them
    std::uint64_t dropped_answers = 0;  // answers read and dropped: their callers gave up (cancelled, timed out)
    std::size_t peak_owed = 0;          // most answers owed at once (config::max_pipelined_requests bounds it)
};

class connection {
public:
    // How long a cancelled operation may take to bring the session back to
    // ReadyForQuery before the connection is closed instead.
    static constexpr std::chrono::milliseconds cancel_drain_limit{5000};  // = detail::cancel_drain_limit

    connection() = default;
    connection(connection&&) noexcept = default;
    connection& operator=(connection&& other) noexcept;
    ~connection() { abandon(); }

    // Opens a session with the given settings on the calling coroutine's executor.
    static asio::awaitable<connection> connect(config cfg);
    static asio::awaitable<connection> connect(std::string_view conninfo) { return connect(config::parse(conninfo)); }

    // Runs one statement with parameters $1, $2, ... bound from C++ values,
    // over the extended protocol: prepared once per connection and cached,
    // binary parameters and results where pgcoro has a codec.
    //   auto r = co_await conn.query("SELECT name FROM person WHERE id = $1", 42);
    // Arguments are read when the operation runs: co_await the call in the
    // expression that makes it (or keep them alive until it completes).
    template <class... Args>
    asio::awaitable<result> query(std::string_view sql, const Args&... args) {
        result r;
        co_await query_into(r, sql, args...);
        co_return r;
    }

    // As query(), into a result the caller keeps: its buffers are reused, so
    // a loop over query_into allocates nothing once they have grown.
    template <class... Args>
    asio::awaitable<void> query_into(result& r, std::string_view sql, const Args&... args) {
#ifdef PGCORO_SEPARATE_COMPILATION
        return query_into_bound(r, sql, detail::bound_parameters(detail::bind_parameters(args...)));
#else
        return run_shared(detail::extended_execution{sql, detail::bind_parameters(args...), detail::result_sink(r)});
#endif
    }

    // Runs a statement for its effect; returns the rows it affected (0 when
    // the command reports none).
    template <class... Args>
    asio::awaitable<std::uint64_t> execute(std::string_view sql, const Args&... args) {
#ifdef PGCORO_SEPARATE_COMPILATION
        return execute_bound(sql, detail::bound_parameters(detail::bind_parameters(args...)));
#else
        return run_shared(detail::extended_execution{sql, detail::bind_parameters(args...), detail::count_sink()});
#endif
    }

    // --- prepared statements ---
    // Prepares a named statement outside the cache and returns a handle to
    // run it with query()/execute(). Parameter types are the server's
    // inference unless given as OIDs (a std::vector such as {pgcoro::oids::int8},
    // named outside the co_await: GCC 12 rejects a braced list inside one).
    asio::awaitable<prepared_statement> prepare(std::string_view sql, std::vector<std::uint32_t> parameter_types = {});

    template <class... Args>
    asio::awaitable<result> query(const prepared_statement& statement, const Args&... args) {
        result r;
        co_await query_into(r, statement, args...);
        co_return r;
    }
    template <class... Args>
    asio::awaitable<void> query_into(result& r, const prepared_statement& statement, const Args&... args) {
#ifdef PGCORO_SEPARATE_COMPILATION
        return query_into_bound(r, statement, detail::bound_parameters(detail::bind_parameters(args...)));
#else
        return run_shared(detail::prepared_execution{&statement_on_this_session(statement),
                                                        detail::bind_parameters(args...), detail::result_sink(r)});
#endif
    }
    template <class... Args>
    asio::awaitable<std::uint64_t> execute(const prepared_statement& statement, const Args&... args) {
#ifdef PGCORO_SEPARATE_COMPILATION
        return execute_bound(statement, detail::bound_parameters(detail::bind_parameters(args...)));
#else
        return run_shared(detail::prepared_execution{&statement_on_this_session(statement),
                                                        detail::bind_parameters(args...), detail::count_sink()});
#endif
    }

    // Closes the statement on the server; the handle becomes empty.
    asio::awaitable<void> deallocate(prepared_statement& statement);

    // --- large results and COPY ---
    // Reads a result in chunks as the caller consumes it (see row_stream.hpp):
    //   auto rows = co_await conn.stream("SELECT * FROM big WHERE day = $1", day);
    //   while (auto row = co_await rows.next()) ...
    template <class... Args>
    asio::awaitable<row_stream> stream(std::string_view sql, const Args&... args) {
        return stream_bound(stream_options{}, sql, detail::bind_parameters(args...));
    }
    template <class... Args>
    asio::awaitable<row_stream> stream(stream_options options, std::string_view sql, const Args&... args) {
        return stream_bound(options, sql, detail::bind_parameters(args...));
    }

    // COPY ... FROM STDIN: write the data, then finish() (see copy.hpp).
    asio::awaitable<copy_writer> copy_in(std::string_view sql);
    // COPY ... TO STDOUT: read() the data until it returns std::nullopt.
    asio::awaitable<copy_reader> copy_out(std::string_view sql);

    // Loads rows with COPY and returns how many were copied. The target is
    // written as in COPY: a table, optionally schema-qualified, and
    // optionally the columns to fill. Each row is a tuple (std::tuple,
    // std::pair, std::array) with one value per column.
    //   co_await conn.bulk_load("person (name, born)", rows);
    // Binary COPY when every C++ type is exactly its column's type, text
    // COPY (parsed by the server as the column types) otherwise. A row that
    // cannot be encoded aborts the COPY (CopyFail): nothing is loaded.
    template <std::ranges::input_range Rows>
    asio::awaitable<std::uint64_t> bulk_load(std::string_view target, const Rows& rows) {
        return bulk_load_rows(detail::parse_copy_target(target), rows);
    }

    // Sends every statement of the pipeline at once and returns one outcome
    // per statement, in order (see pipeline.hpp).
    asio::awaitable<std::vector<pipeline_outcome>> run(const pipeline& p);
    // The same into `outcomes`, resized to one per statement and refilled
    // in place: run in a loop, it reuses their buffers, as query_into does.
    asio::awaitable<void> run_into(const pipeline& p, std::vector<pipeline_outcome>& outcomes);

    // Starts a transaction block. It rolls back unless committed:
    //   auto tx = co_await conn.begin();
    //   co_await conn.execute("INSERT ...", ...);
    //   co_await tx.commit();
    asio::awaitable<transaction> begin(transaction_options options = {});

    // Runs SQL over the simple protocol: several statements separated by
    // semicolons, no parameters, text results. Returns every result in order.
    asio::awaitable<std::vector<result>> simple_query(std::string_view sql);

    // Sends a CancelRequest for whatever this connection is running. Safe to
    // call from another coroutine; the running operation then fails with
    // SQLSTATE 57014 and the connection stays usable.
    asio::awaitable<void> cancel();

    // Sends Terminate, shuts TLS down and closes the socket. Never throws for
    // a connection that is already broken or closed.
    asio::awaitable<void> close();

    // --- state ---
    bool is_open() const noexcept;
    // Open, not broken, and free: no operation running, waiting or owed an answer.
    bool is_usable() const noexcept;
    // What pipelining concurrent query()/execute() calls did on this
    // connection (docs/pipelining.md).
    pipelining_stats pipelining() const;
    // Idle, in a transaction block, or in a failed one, as of the last
    // ReadyForQuery.
    transaction_status transaction_state() const;
    std::int32_t backend_pid() const;
    bool uses_tls() const;
    // The socket's file descriptor (libpq's PQsocket), to inspect it (e.g.
    // getsockopt); the connection owns it: never read, write or close it.
    int native_socket() const;
    // The TLS protocol version negotiated ("TLSv1.2", "TLSv1.3"), as
    // ssl_min/max_protocol_version name them; empty without TLS.
    std::string_view tls_version() const;
    // How the server authenticated this session: "none" (trust), "password",
    // "md5", "SCRAM-SHA-256" or "SCRAM-SHA-256-PLUS" (channel-bound).
    std::string_view authentication_method() const;
    // A server parameter reported with ParameterStatus (server_version,
    // TimeZone, ...); empty when the server did not report it.
    std::string_view parameter(std::string_view name) const;
    const config& settings() const;
    // The server's in_hot_standby report (PostgreSQL 14+ sends it at the
    // start and again when a standby is promoted): true on a standby.
    bool in_hot_standby() const { return parameter("in_hot_standby") == "on"; }
    // The server is still what target_session_attrs asked for, as far as it
    // has said (in_hot_standby, default_transaction_read_only, a write
    // refused with 25006). A pool retires connections that stop fitting.
    bool fits_target_session_attrs() const;
    // How SQL text reaches the server now: prepare, describe or unnamed
    // (config::statements; automatic starts as prepare).
    pgcoro::statement_mode current_statement_mode() const;
    // The connection found that a proxy (a transaction-pooling PgBouncer)
    // may give it another server session between transactions: session
    // state (SET, LISTEN, advisory locks, prepare()) does not last here.
    bool server_session_shared() const;
    // Where the session is, e.g. `server at "localhost" (127.0.0.1), port 5432`.
    std::string server() const;

    // The client-side limit for each following operation (config::query_timeout).
    void set_query_timeout(std::chrono::milliseconds limit);

    // Called with each NoticeResponse (and WARNING) the server sends.
    void on_notice(notice_handler handler);
    // Notifications received so far (LISTEN/NOTIFY) and not yet taken, oldest
    // first. They arrive whenever the connection reads, during any operation.
    std::deque<notification>& notifications();

    // The next notification: one already received, else waits on the idle
    // connection until one arrives. Cancel it like any operation (a timer
    // raced with ||); the connection stays usable. When the queue was full
    // (config::max_pending_notifications) and notifications were dropped, it
    // throws errc::notifications_dropped once the ones kept are taken, and
    // then goes on.
    asio::awaitable<notification> wait_for_notification();

private:
    const detail::statement_ptr& statement_on_this_session(const prepared_statement& statement) const;

    template <class Parameters>
    asio::awaitable<row_stream> stream_bound(stream_options options, std::string_view sql, Parameters params) {
        require_open();
        co_return co_await row_stream::open(session_, sql, params.writer(), options);
    }

    template <class Rows>
    asio::awaitable<std::uint64_t> bulk_load_rows(detail::copy_target target, const Rows& rows) {
        using row_type = std::ranges::range_value_t<Rows>;
        constexpr std::size_t width = std::tuple_size_v<row_type>;

        // Binary COPY only where every column type matches exactly: look them up first.
        detail::statement_ptr columns;
#ifdef PGCORO_SEPARATE_COMPILATION
        columns = co_await describe_columns(target.select_sql());
#else
        co_await run_exclusive([&](detail::session& s) -> asio::awaitable<void> {
            columns = co_await detail::prepare_statement(s, s.statements, target.select_sql(), {});
        });
#endif
        if (columns->columns.size() != width)
            throw error(errc::invalid_value, "bulk_load into " + target.table + ": the target has " +
                                                 std::to_string(columns->columns.size()) + " columns but each row has " +
                                                 std::to_string(width) + " values");
        const bool binary = [&]<std::size_t... I>(std::index_sequence<I...>) {
            return (detail::binary_copy_fits<std::remove_cvref_t<std::tuple_element_t<I, row_type>>>(
                        columns->columns[I].type_oid) && ...);
        }(std::make_index_sequence<width>{});

        auto writer = co_await copy_in(target.copy_sql(binary));
        std::string batch(binary ? detail::binary_copy_header : std::string_view{});
        std::string scratch;
        std::exception_ptr client_failure;
        auto it = std::ranges::begin(rows);
        const auto end = std::ranges::end(rows);
        for (bool at_end = false; !at_end;) {
            try {
                while (batch.size() < copy_writer::send_threshold) {
                    if (it == end) {
                        at_end = true;
                        if (binary) batch.append(detail::binary_copy_trailer);
                        break;
                    }
                    if (binary) detail::encode_binary_copy_tuple(*it, batch);
                    else detail::encode_text_copy_tuple(*it, batch, scratch);
                    ++it;
                }
            } catch (...) {
                client_failure = std::current_exception();
                break;
            }
            co_await writer.write(batch);
            batch.clear();
        }
        if (client_failure) {
            co_await writer.abort("bulk_load: " + detail::describe_exception(client_failure));
            std::rethrow_exception(client_failure);
        }
        co_return co_await writer.finish();
    }

    void require_open() const {
        if (!session_) throw error(errc::connection_broken, "connection is closed");
    }

    // Drops the session without awaiting (detail::abandon_session).
    void abandon() noexcept;

    // Runs one operation with the session to itself (see session/operation.hpp).
#ifdef PGCORO_SEPARATE_COMPILATION
    template <class Operation>
    auto run_exclusive(Operation&& op);

    // What the typed front ends above run, compiled once in the src.hpp TU
    // (util/compilation_mode.hpp), with the arguments bound by value.
    asio::awaitable<void> query_into_bound(result& r, std::string_view sql, detail::bound_parameters params);
    asio::awaitable<std::uint64_t> execute_bound(std::string_view sql, detail::bound_parameters params);
    asio::awaitable<void> query_into_bound(result& r, const prepared_statement& statement, detail::bound_parameters params);
    asio::awaitable<std::uint64_t> execute_bound(const prepared_statement& statement, detail::bound_parameters params);
    asio::awaitable<detail::statement_ptr> describe_columns(std::string select_sql);
    // query() and execute(): pipelined with other coroutines' (session/shared_requests.hpp).
    template <class Operation>
    auto run_shared(Operation&& op);
#else
    template <class Operation>
    asio::awaitable<typename detail::operation_result<std::decay_t<Operation>>::type> run_exclusive(Operation&& op) {
        require_open();
        return detail::run_operation(session_, std::forward<Operation>(op));
    }
    // query() and execute(): pipelined with other coroutines' (session/shared_requests.hpp).
    template <class Operation>
    asio::awaitable<typename detail::operation_result<std::decay_t<Operation>>::type> run_shared(Operation&& op) {
        require_open();
        return detail::run_shared(session_, std::forward<Operation>(op));
    }
#endif

    friend struct detail::pool_access;
    std::shared_ptr<detail::session> session_;
};

// The bodies: inline in every translation unit (header-only), or compiled
// once in the src.hpp one (util/compilation_mode.hpp).
#if PGCORO_DEFINITIONS
static_assert(connection::cancel_drain_limit == detail::cancel_drain_limit);

#ifdef PGCORO_SEPARATE_COMPILATION
template <class Operation>
auto connection::run_exclusive(Operation&& op) {
    require_open();
    return detail::run_operation(session_, std::forward<Operation>(op));
}

template <class Operation>
auto connection::run_shared(Operation&& op) {
    require_open();
    return detail::run_shared(session_, std::forward<Operation>(op));
}
#endif

PGCORO_DECL connection& connection::operator=(connection&& other) noexcept {
    if (this != &other) {
        abandon();
        session_ = std::move(other.session_);
    }
    return *this;
}

PGCORO_DECL asio::awaitable<connection> connection::connect(config cfg) {
    connection c;
    c.session_ = co_await detail::connect_session(cfg);
    co_return c;
}

PGCORO_DECL asio::awaitable<prepared_statement> connection::prepare(std::string_view sql, std::vector<std::uint32_t> parameter_types) {
    detail::statement_ptr statement;
    co_await run_exclusive([&](detail::session& s) -> asio::awaitable<void> {
        detail::refuse_named_statement_on_shared_session(s);
        auto name = detail::tagged_name("pgcoro_p", s.name_tag, s.next_prepared_number());
        statement = co_await detail::describe_new_statement(s, std::move(name), sql, parameter_types);
    });
    co_return prepared_statement(std::move(statement), session_->id);
}

PGCORO_DECL asio::awaitable<void> connection::deallocate(prepared_statement& statement) {
    const auto& name = statement_on_this_session(statement)->name;
    co_await run_exclusive([&](detail::session& s) { return detail::close_statement(s, name); });
    statement.statement_.reset();
}

PGCORO_DECL asio::awaitable<copy_writer> connection::copy_in(std::string_view sql) {
    require_open();
    return copy_writer::open(session_, sql);
}

PGCORO_DECL asio::awaitable<copy_reader> connection::copy_out(std::string_view sql) {
    require_open();
    return copy_reader::open(session_, sql);
}

PGCORO_DECL asio::awaitable<std::vector<pipeline_outcome>> connection::run(const pipeline& p) {
    std::vector<pipeline_outcome> outcomes;
    if (!p.empty()) co_await run_into(p, outcomes);
    co_return outcomes;
}

PGCORO_DECL asio::awaitable<void> connection::run_into(const pipeline& p, std::vector<pipeline_outcome>& outcomes) {
    return run_exclusive(detail::pipeline_execution{p, outcomes});
}

PGCORO_DECL asio::awaitable<transaction> connection::begin(transaction_options options) {
    require_open();
    return transaction::begin(session_, std::move(options));
}

PGCORO_DECL asio::awaitable<std::vector<result>> connection::simple_query(std::string_view sql) {
    std::vector<result> results;
    co_await run_exclusive(detail::simple_query_operation{sql, &results});
    co_return results;
}

PGCORO_DECL asio::awaitable<void> connection::cancel() {
    require_open();
    co_await detail::send_cancel_request(detail::cancel_target_of(*session_));
}

PGCORO_DECL asio::awaitable<void> connection::close() {
    if (session_) co_await detail::close_session(std::move(session_));
}

PGCORO_DECL bool connection::is_open() const noexcept { return session_ && !session_->broken() && session_->stream().is_open(); }

PGCORO_DECL bool connection::is_usable() const noexcept { return is_open() && session_->may_start_alone(); }

PGCORO_DECL pipelining_stats connection::pipelining() const {
    require_open();
    const auto& c = session_->requests.stats;
    return {.requests = c.requests, .writes = c.writes, .dropped_answers = c.dropped_answers, .peak_owed = c.peak_owed};
}

PGCORO_DECL transaction_status connection::transaction_state() const { require_open(); return session_->transaction(); }

PGCORO_DECL std::int32_t connection::backend_pid() const { require_open(); return session_->key.process_id; }

PGCORO_DECL bool connection::uses_tls() const { require_open(); return session_->stream().is_tls(); }

PGCORO_DECL int connection::native_socket() const { require_open(); return session_->stream().native_socket(); }

PGCORO_DECL std::string_view connection::tls_version() const {
    require_open();
    auto& transport = session_->stream();
    return transport.is_tls() ? detail::negotiated_tls_version(transport.tls().native_handle()) : std::string_view{};
}

PGCORO_DECL std::string_view connection::authentication_method() const { require_open(); return session_->authentication; }

PGCORO_DECL std::string_view connection::parameter(std::string_view name) const {
    require_open();
    auto it = session_->parameters().find(name);
    return it == session_->parameters().end() ? std::string_view{} : std::string_view(it->second);
}

PGCORO_DECL const config& connection::settings() const { require_open(); return session_->settings(); }

PGCORO_DECL bool connection::fits_target_session_attrs() const { require_open(); return session_->fits_target(); }

PGCORO_DECL pgcoro::statement_mode connection::current_statement_mode() const { require_open(); return session_->statements.mode(); }

PGCORO_DECL bool connection::server_session_shared() const { require_open(); return session_->statements.server_session_shared(); }

PGCORO_DECL std::string connection::server() const { require_open(); return session_->address().describe(); }

PGCORO_DECL void connection::set_query_timeout(std::chrono::milliseconds limit) { require_open(); session_->query_timeout = limit; }

PGCORO_DECL void connection::on_notice(notice_handler handler) { require_open(); session_->on_notice = std::move(handler); }

PGCORO_DECL std::deque<notification>& connection::notifications() { require_open(); return session_->notifications; }

PGCORO_DECL asio::awaitable<notification> connection::wait_for_notification() {
    require_open();
    detail::throw_if_notifications_dropped(*session_);
    if (session_->notifications.empty()) {
        co_await run_exclusive([](detail::session& s) -> asio::awaitable<void> {
            detail::notification_wait wait;
            co_await detail::run_exchange(s, wait);
        });
        detail::throw_if_notifications_dropped(*session_);
    }
    auto n = std::move(session_->notifications.front());
    session_->notifications.pop_front();
    co_return n;
}

PGCORO_DECL const detail::statement_ptr& connection::statement_on_this_session(const prepared_statement& statement) const {
    require_open();
    const auto& d = statement.description();
    if (statement.session_id_ != session_->id)
        throw error(errc::invalid_state, "prepared statement " + d.name + " belongs to another connection");
    return statement.statement_;
}

PGCORO_DECL void connection::abandon() noexcept {
    if (!session_) return;
    detail::abandon_session(*session_);
    session_.reset();
}

#ifdef PGCORO_SEPARATE_COMPILATION
PGCORO_DECL asio::awaitable<void> connection::query_into_bound(result& r, std::string_view sql, detail::bound_parameters params) {
    return run_shared(detail::extended_execution{sql, std::move(params), detail::result_sink(r)});
}

PGCORO_DECL asio::awaitable<std::uint64_t> connection::execute_bound(std::string_view sql, detail::bound_parameters params) {
    return run_shared(detail::extended_execution{sql, std::move(params), detail::count_sink()});
}

PGCORO_DECL asio::awaitable<void> connection::query_into_bound(result& r, const prepared_statement& statement,
                                                               detail::bound_parameters params) {
    return run_shared(detail::prepared_execution{&statement_on_this_session(statement), std::move(params),
                                                    detail::result_sink(r)});
}

PGCORO_DECL asio::awaitable<std::uint64_t> connection::execute_bound(const prepared_statement& statement,
                                                                     detail::bound_parameters params) {
    return run_shared(detail::prepared_execution{&statement_on_this_session(statement), std::move(params),
                                                    detail::count_sink()});
}

PGCORO_DECL asio::awaitable<detail::statement_ptr> connection::describe_columns(std::string select_sql) {
    detail::statement_ptr columns;
    co_await run_exclusive([&](detail::session& s) -> asio::awaitable<void> {
        columns = co_await detail::prepare_statement(s, s.statements, select_sql, {});
    });
    co_return columns;
}
#endif
#endif  // PGCORO_DEFINITIONS

}  // namespace pgcoro
