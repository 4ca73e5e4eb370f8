// A connection to one PostgreSQL server session, driven by C++20 coroutines
// on Boost.Asio. Every operation is an asio::awaitable and honours per-operation
// cancellation: a cancelled query is cancelled on the server too and the
// connection drained back to ReadyForQuery, or closed when that fails.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/this_coro.hpp>

#include "config.hpp"
#include "detail/cancel_request.hpp"
#include "detail/connector.hpp"
#include "detail/extended_query.hpp"
#include "detail/parameters.hpp"
#include "detail/pipeline_run.hpp"
#include "detail/simple_query.hpp"
#include "result.hpp"
#include "transaction_options.hpp"
#include "types.hpp"

namespace pgcoro {

namespace asio = boost::asio;
using protocol::transaction_status;
class transaction;

class connection {
public:
    // How long a cancelled operation may take to bring the session back to
    // ReadyForQuery before the connection is closed instead.
    static constexpr std::chrono::milliseconds cancel_drain_limit{5000};

    connection() = default;
    connection(connection&&) noexcept = default;
    connection& operator=(connection&& other) noexcept {
        if (this != &other) {
            abandon();
            session_ = std::move(other.session_);
        }
        return *this;
    }
    ~connection() { abandon(); }

    // Opens a session with the given settings on the calling coroutine's executor.
    static asio::awaitable<connection> connect(config cfg) {
        connection c;
        c.session_ = co_await detail::connect_session(cfg);
        co_return c;
    }
    static asio::awaitable<connection> connect(std::string_view conninfo) { return connect(config::parse(conninfo)); }

    // Runs one statement with parameters $1, $2, ... bound from C++ values,
    // over the extended protocol: prepared once per connection and cached,
    // binary parameters and results where pgcoro has a codec.
    //   auto r = co_await conn.query("SELECT name FROM person WHERE id = $1", 42);
    // Arguments are read when the operation runs: co_await the call in the
    // expression that makes it (or keep them alive until it completes).
    template <class... Args>
    asio::awaitable<result> query(std::string_view sql, const Args&... args) {
        return query_bound(sql, detail::bind_parameters(args...));
    }

    // As query(), into a result the caller keeps: its buffers are reused, so
    // a loop over query_into allocates nothing once they have grown.
    template <class... Args>
    asio::awaitable<void> query_into(result& r, std::string_view sql, const Args&... args) {
        return query_into_bound(r, sql, detail::bind_parameters(args...));
    }

    // Runs a statement for its effect; returns the rows it affected (0 when
    // the command reports none).
    template <class... Args>
    asio::awaitable<std::uint64_t> execute(std::string_view sql, const Args&... args) {
        return execute_bound(sql, detail::bind_parameters(args...));
    }

    // Sends every statement of the pipeline at once and returns one outcome
    // per statement, in order (see pipeline.hpp).
    asio::awaitable<std::vector<pipeline_outcome>> run(const pipeline& p) {
        std::vector<pipeline_outcome> outcomes;
        if (p.empty()) co_return outcomes;
        co_await run_exclusive([&](detail::session& s) { return detail::run_pipeline(s, p, outcomes); });
        co_return outcomes;
    }

    // Starts a transaction block. It rolls back unless committed:
    //   auto tx = co_await conn.begin();
    //   co_await conn.execute("INSERT ...", ...);
    //   co_await tx.commit();
    asio::awaitable<transaction> begin(transaction_options options = {});

    // Runs SQL over the simple protocol: several statements separated by
    // semicolons, no parameters, text results. Returns every result in order.
    asio::awaitable<std::vector<result>> simple_query(std::string_view sql) {
        std::vector<result> results;
        co_await run_exclusive([&](detail::session& s) { return detail::run_simple_query(s, sql, results); });
        co_return results;
    }

    // Sends a CancelRequest for whatever this connection is running. Safe to
    // call from another coroutine; the running operation then fails with
    // SQLSTATE 57014 and the connection stays usable.
    asio::awaitable<void> cancel() {
        require_open();
        co_await detail::send_cancel_request(detail::cancel_target_of(*session_));
    }

    // Sends Terminate, shuts TLS down and closes the socket. Never throws for
    // a connection that is already broken or closed.
    asio::awaitable<void> close() {
        if (!session_) co_return;
        auto s = std::move(session_);
        if (s->busy) {
            // Another coroutine is mid-operation: a Terminate now would
            // interleave with its messages. Drop the socket; it fails cleanly.
            s->abandoned = true;
            s->mark_broken();
            co_return;
        }
        if (s->broken || !s->stream().is_open()) co_return;
        std::exception_ptr ignored;
        try {
            protocol::encode_terminate(s->out());
            co_await detail::with_deadline(close_politely(*s), std::chrono::seconds(2), "close");
        } catch (...) {
            ignored = std::current_exception();  // closing anyway
        }
        s->stream().close();
    }

    // --- state ---
    bool is_open() const noexcept { return session_ && !session_->broken && session_->stream().is_open(); }
    // Open, not broken and not in the middle of an operation.
    bool is_usable() const noexcept { return is_open() && !session_->busy; }
    // Idle, in a transaction block, or in a failed one, as of the last
    // ReadyForQuery.
    transaction_status transaction_state() const { require_open(); return session_->transaction; }
    std::int32_t backend_pid() const { require_open(); return session_->key.process_id; }
    bool uses_tls() const { require_open(); return session_->stream().is_tls(); }
    // How the server authenticated this session: "none" (trust), "password",
    // "md5", "SCRAM-SHA-256" or "SCRAM-SHA-256-PLUS" (channel-bound).
    std::string_view authentication_method() const { require_open(); return session_->authentication; }
    // A server parameter reported with ParameterStatus (server_version,
    // TimeZone, ...); empty when the server did not report it.
    std::string_view parameter(std::string_view name) const {
        require_open();
        auto it = session_->parameters().find(name);
        return it == session_->parameters().end() ? std::string_view{} : std::string_view(it->second);
    }
    const config& settings() const { require_open(); return session_->settings(); }
    // Where the session is, e.g. `server at "localhost" (127.0.0.1), port 5432`.
    std::string server() const { require_open(); return session_->address().describe(); }

    // The client-side limit for each following operation (config::query_timeout).
    void set_query_timeout(std::chrono::milliseconds limit) { require_open(); session_->query_timeout = limit; }

    // Called with each NoticeResponse (and WARNING) the server sends.
    void on_notice(notice_handler handler) { require_open(); session_->notice_handler_ = std::move(handler); }
    // Notifications received so far (LISTEN/NOTIFY) and not yet taken, oldest
    // first. They arrive whenever the connection reads, during any operation.
    std::deque<notification>& notifications() { require_open(); return session_->notifications_; }

    // The next notification: one already received, else waits on the idle
    // connection until one arrives. Cancel it like any operation (a timer
    // raced with ||); the connection stays usable.
    asio::awaitable<notification> wait_for_notification() {
        require_open();
        if (session_->notifications_.empty()) {
            co_await run_exclusive([](detail::session& s) -> asio::awaitable<void> {
                while (s.notifications_.empty()) {
                    auto m = co_await s.read_message();
                    if (!s.handle_asynchronous(m)) {
                        if (m.type == 'E') {
                            auto d = protocol::decode_error_fields(m.body);
                            if (detail::ends_session(d)) throw server_error(std::move(d));
                        }
                        detail::throw_unexpected(m.type, "while waiting for notifications");
                    }
                }
            });
        }
        auto n = std::move(session_->notifications_.front());
        session_->notifications_.pop_front();
        co_return n;
    }

private:
    template <class Parameters>
    asio::awaitable<result> query_bound(std::string_view sql, Parameters params) {
        result r;
        detail::result_sink sink(r);
        co_await run_extended(sql, params.writer(), sink);
        co_return r;
    }

    template <class Parameters>
    asio::awaitable<void> query_into_bound(result& r, std::string_view sql, Parameters params) {
        detail::result_sink sink(r);
        co_await run_extended(sql, params.writer(), sink);
    }

    template <class Parameters>
    asio::awaitable<std::uint64_t> execute_bound(std::string_view sql, Parameters params) {
        detail::count_sink sink;
        co_await run_extended(sql, params.writer(), sink);
        co_return sink.rows_affected;
    }

    asio::awaitable<void> run_extended(std::string_view sql, const detail::parameter_writer& writer, detail::row_sink& sink) {
        co_await run_exclusive([&](detail::session& s) {
            return detail::run_extended_query(s, s.statements, sql, writer, sink);
        });
    }

    void require_open() const {
        if (!session_) throw error(errc::connection_broken, "connection is closed");
    }

    // Drops the socket without awaiting; a plain socket still gets Terminate
    // so the server logs a clean disconnect. An operation still running in
    // another coroutine keeps the session alive and fails with
    // connection_broken instead of touching freed memory.
    void abandon() noexcept {
        if (!session_) return;
        if (!session_->broken && !session_->busy) {
            static constexpr char terminate[] = {'X', 0, 0, 0, 4};
            session_->stream().try_write_now(asio::buffer(terminate, sizeof terminate));
        }
        session_->abandoned = true;
        session_->mark_broken();
        session_.reset();
    }

    static asio::awaitable<void> close_politely(detail::session& s) {
        co_await s.flush();
        if (s.stream().is_tls()) {
            boost::system::error_code ec;
            co_await s.stream().tls().async_shutdown(asio::redirect_error(asio::use_awaitable, ec));
        }
    }

    // Runs one operation with the session to itself. A server error leaves
    // the session usable; cancellation cancels on the server and drains; any
    // other failure marks the connection broken. Broken is the default: only
    // an operation that ends at ReadyForQuery clears it, so no unexpected
    // exit can hand back a connection that is out of sync.
    template <class Operation>
    asio::awaitable<void> run_exclusive(Operation&& op) {
        require_open();
        return run_on(session_, std::forward<Operation>(op));
    }

    // run_exclusive for holders of the session other than the connection
    // (a transaction); the shared pointer keeps the session alive meanwhile.
    template <class Operation>
    static asio::awaitable<void> run_on(std::shared_ptr<detail::session> keep_alive, Operation op) {
        auto& s = *keep_alive;
        if (s.broken) throw error(errc::connection_broken, "connection is broken by an earlier failure and must be closed");
        if (s.busy) throw error(errc::operation_in_progress, "another operation is in progress on this connection");
        struct operation_scope {
            detail::session& s;
            bool clean = false;
            explicit operation_scope(detail::session& session) : s(session) { s.busy = true; }
            ~operation_scope() {
                s.busy = false;
                if (!clean) s.mark_broken();
            }
        } scope{s};

        std::exception_ptr failure;
        bool cancelled = false;
        bool timed_out = false;
        const auto timeout = s.query_timeout;
        try {
            if (!s.deferred_sql.empty()) co_await run_deferred_sql(s);
            if (timeout.count() > 0) co_await detail::with_deadline(op(s), timeout, "query_timeout expired");
            else co_await op(s);
            scope.clean = true;
            co_return;
        } catch (const server_error& e) {
            scope.clean = !detail::ends_session(e.diag());  // otherwise back at ReadyForQuery
            throw;
        } catch (const boost::system::system_error& e) {
            cancelled = e.code() == asio::error::operation_aborted;
            failure = std::current_exception();
        } catch (const error& e) {
            timed_out = timeout.count() > 0 && e.code() == errc::timeout && !s.in_sync();
            // Otherwise raised on the client side before anything was sent (a
            // parameter that cannot be encoded, a wrong argument count): still in sync.
            if (!timed_out) {
                scope.clean = s.in_sync();
                throw;
            }
        } catch (...) {
            failure = std::current_exception();
        }

        if (s.abandoned) throw error(errc::connection_broken, "the connection was closed while the operation was running");
        if (cancelled && s.in_sync()) {
            // Nothing was in flight (e.g. waiting for a notification): nothing to undo.
            scope.clean = true;
            throw error(errc::cancelled, "operation cancelled (nothing was in flight; the connection is usable)");
        }
        if (cancelled) {
            // Until reset, every further co_await in this coroutine would throw.
            co_await asio::this_coro::reset_cancellation_state();
            const recovery outcome = co_await recover_from_cancellation(s);
            scope.clean = outcome.recovered;
            throw error(errc::cancelled, scope.clean
                ? "operation cancelled (query canceled on the server; the connection is usable)"
                : "operation cancelled; the connection could not be brought back to a clean state and was closed");
        }
        if (timed_out) {
            recovery outcome = co_await recover_from_cancellation(s);
            scope.clean = outcome.recovered;
            if (outcome.recovered && outcome.server_error) throw server_error(std::move(*outcome.server_error));
            throw error(errc::timeout, outcome.recovered
                ? "query_timeout expired (the connection is usable)"
                : "query_timeout expired; the connection could not be brought back to a clean state and was closed");
        }
        try {
            std::rethrow_exception(failure);
        } catch (const boost::system::system_error& e) {
            detail::throw_transport_failure(e, s.address());
        }
    }

    // Statements queued by objects that could not await them (a transaction
    // destroyed without commit queues its ROLLBACK), sent before the next
    // operation.
    static asio::awaitable<void> run_deferred_sql(detail::session& s) {
        std::string sql = std::move(s.deferred_sql);
        s.deferred_sql.clear();
        std::vector<result> ignored;
        co_await detail::run_simple_query(s, sql, ignored);
    }

    struct recovery {
        bool recovered = false;
        std::optional<diagnostics> server_error;  // what the cancelled statement ended with (57014)
    };

    // The operation was cut short mid-flight. Cancel on the server and read
    // up to ReadyForQuery so the session stays usable.
    static asio::awaitable<recovery> recover_from_cancellation(detail::session& s) {
        recovery r;
        try {
            co_await detail::with_deadline(cancel_and_drain(s, r.server_error), cancel_drain_limit, "draining a cancelled query");
            r.recovered = true;
        } catch (...) {
        }
        co_return r;
    }

    static asio::awaitable<void> cancel_and_drain(detail::session& s, std::optional<diagnostics>& first_error) {
        co_await detail::send_cancel_request(detail::cancel_target_of(s));
        // A write may have been cut short; only a complete write leaves the
        // stream in sync, and the buffer is cleared only after one.
        co_await s.flush();
        for (;;) {
            auto m = co_await s.read_message();
            if (s.handle_asynchronous(m)) continue;
            if (m.type == 'Z') {
                s.ready_for_query(m.body);
                co_return;
            }
            if (m.type == 'E' && !first_error) first_error = protocol::decode_error_fields(m.body);
            if (m.type == 'G') {
                protocol::encode_copy_fail(s.out(), "operation cancelled");
                co_await s.flush();
            }
        }
    }

    friend class transaction;
    std::shared_ptr<detail::session> session_;
};

}  // namespace pgcoro

#include "transaction.hpp"

namespace pgcoro {
inline asio::awaitable<transaction> connection::begin(transaction_options options) {
    return transaction::begin(*this, std::move(options));
}
}  // namespace pgcoro
