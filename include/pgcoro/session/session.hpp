// The state of one open server session: the transport, the read and write
// buffers, and what the server told us about the session. The public
// connection and the connect logic share it; it owns no policy.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstring>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <tuple>
#include <variant>
#include <vector>

#include <unistd.h>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/strand.hpp>

#include "../settings/config.hpp"
#include "../error.hpp"
#include "../protocol.hpp"
#include "../tracer.hpp"
#include "notification.hpp"
#include "request_queue.hpp"
#include "session_state.hpp"
#include "statement_cache.hpp"
#include "../net/tls_setup.hpp"
#include "../net/transport.hpp"

namespace pgcoro::detail {

using server_endpoint = std::variant<asio::ip::tcp::endpoint, asio::local::stream_protocol::endpoint>;

// Where a session is connected, as a user would name it in an error message.
struct server_address {
    std::string host;       // as configured: name, IP or socket directory
    std::uint16_t port = 0;
    server_endpoint endpoint;

    std::string describe() const {
        if (auto* local = std::get_if<asio::local::stream_protocol::endpoint>(&endpoint))
            return "server on socket \"" + local->path() + "\"";
        const auto& tcp = std::get<asio::ip::tcp::endpoint>(endpoint);
        const auto ip = tcp.address().to_string();
        std::string s = "server at \"" + host + "\"";
        if (ip != host) s += " (" + ip + ")";
        return s + ", port " + std::to_string(port);
    }
};

inline constexpr std::size_t initial_read_buffer = 16 * 1024;
inline constexpr std::size_t max_kept_read_buffer = 4 * 1024 * 1024;
// PostgreSQL reports about twenty parameters (GUC_REPORT); a server that
// names thousands wants our memory, not our attention.
inline constexpr std::size_t max_reported_parameters = 1000;

// The executor for a session's sockets: the one under a strand, if the
// connecting coroutine runs on one, without a blocking.never the pool's
// background work asks for. Completions still run on the awaiting
// coroutine's own executor (its strand); only work tracking uses this one,
// and on a strand that tracking allocates for every read and write. When it
// equals the awaiting coroutine's executor, Asio resumes the coroutine
// directly; any difference (a strand, or only a property) makes every read's
// completion go through the coroutine's executor, type-erased: about 220
// instructions a query on connections a pool opened.
inline asio::any_io_executor io_object_executor(const asio::any_io_executor& ex) {
    const auto plain = [](const asio::any_io_executor& e) { return asio::prefer(e, asio::execution::blocking.possibly); };
    if (auto* s = ex.target<asio::strand<asio::any_io_executor>>()) return plain(s->get_inner_executor());
    if (auto* s = ex.target<asio::strand<asio::io_context::executor_type>>()) return plain(s->get_inner_executor());
    return plain(ex);
}

class session : public session_state {
public:
    session(const asio::any_io_executor& ex, config cfg)
        : statements(cfg.statement_cache_size, cfg.statements), query_timeout(cfg.query_timeout),
          executor_(io_object_executor(ex)), config_(std::move(cfg)) {
        read_buffer_.resize(initial_read_buffer);
        statements.set_name_tag(name_tag);
        requests.set_limits(config_.max_pipelined_requests, config_.max_pipelined_bytes);
    }

    // Unique per process: tells whether a prepared_statement belongs here.
    const std::uint64_t id = next_id();
    // Unique across processes (and forks) with near certainty: in the names
    // of server-side statements, which a transaction-pooling proxy lets
    // other clients' sessions see.
    const std::uint64_t name_tag = make_name_tag(id);

    const asio::any_io_executor& executor() const noexcept { return executor_; }
    const config& settings() const noexcept { return config_; }
    transport& stream() noexcept { return transport_; }
    const transport& stream() const noexcept { return transport_; }
    server_address& address() noexcept { return address_; }
    const server_address& address() const noexcept { return address_; }

    // --- writing -------------------------------------------------------------
    protocol::buffer& out() noexcept { return write_buffer_; }

    // What send_now() left, for hot paths; hand the outcome to sent(). An
    // operation co_awaited with no frame (transport::write), so a TLS query,
    // whose records always go this way, needs no frame for its writes.
    auto send_rest() {
        return transport_.write(asio::buffer(write_buffer_));
    }
    void sent(const std::tuple<boost::system::error_code, std::size_t>& outcome) {
        write_buffer_.erase(0, std::get<1>(outcome));
        if (std::get<0>(outcome)) throw boost::system::system_error(std::get<0>(outcome));
    }

    // Sends the write buffer. When cancelled midway, the bytes already sent
    // are dropped from the buffer, so a later flush() completes the message
    // and the stream stays in sync. (After send_rest(): it needs its type.)
    asio::awaitable<void> flush() {
        if (send_now()) co_return;
        sent(co_await send_rest());
    }

    // Sends what the socket takes without waiting; true when nothing is left
    // to send. Hot paths call it before flush(): a request that fits in the
    // socket buffer then costs one send() and no completion to schedule.
    bool send_now() {
        if (write_buffer_.empty()) return true;
        const auto sent = transport_.try_write(asio::buffer(write_buffer_));
        write_buffer_.erase(0, sent);
        return write_buffer_.empty();
    }

    // The writer of shared requests (shared_requests.hpp) sends from a
    // buffer of its own, so that requests keep being appended to out()
    // while a write is in flight.
    bool take_for_sending() noexcept {
        if (write_buffer_.empty() || !sending_.empty()) return false;
        std::swap(write_buffer_, sending_);
        return true;
    }
    bool send_taken_now() {
        const auto n = transport_.try_write(asio::buffer(sending_));
        sending_.erase(0, n);
        return sending_.empty();
    }
    template <class Handler>
    void send_taken_rest(Handler&& handler) {
        transport_.async_write(asio::buffer(sending_), std::forward<Handler>(handler));
    }
    void sent_taken(const std::tuple<boost::system::error_code, std::size_t>& outcome) {
        sending_.erase(0, std::get<1>(outcome));
        if (std::get<0>(outcome)) throw boost::system::system_error(std::get<0>(outcome));
    }
    // Written by requests, not yet on the wire.
    std::size_t unsent_bytes() const noexcept { return write_buffer_.size() + sending_.size(); }

    // --- reading -------------------------------------------------------------
    // The next message if it is already buffered; reads nothing. Inlined
    // into the one loop that calls it (consume), which calls it for every
    // message and once more.
    [[gnu::always_inline]] std::optional<protocol::backend_message> read_buffered_message() {
        auto f = protocol::next_frame(buffered(), config_.max_message_size, starting_);
        if (!f.complete) {
            wanted_ = f.needed;
            return std::nullopt;
        }
        read_begin_ += f.needed;
        wanted_ = 0;
        return f.message;
    }

    // The type of the next message if it is already buffered whole.
    std::optional<protocol::message_type> buffered_message_type() const {
        const auto f = protocol::next_frame(buffered(), config_.max_message_size, starting_);
        if (!f.complete) return std::nullopt;
        return f.message.type;
    }

    // Bytes received but not yet consumed as messages.
    std::string_view buffered() const noexcept {
        return {read_buffer_.data() + read_begin_, read_end_ - read_begin_};
    }
    void discard_buffered() noexcept { read_begin_ = read_end_ = 0; }

    // One read from the socket towards the message read_buffered_message()
    // found incomplete; hand its result to received(). An operation
    // co_awaited with no frame (transport::read_some). The buffer must not
    // change until the read completes.
    [[gnu::always_inline]] auto receive() {
        make_room(room_for_next_read());
        return transport_.read_some(asio::buffer(read_buffer_.data() + read_end_, read_buffer_.size() - read_end_));
    }
    void received(std::size_t n) noexcept { read_end_ += n; }
    // receive() with a completion handler (the reader of shared requests).
    template <class Handler>
    void receive(Handler&& handler) {
        make_room(room_for_next_read());
        transport_.async_read_some(asio::buffer(read_buffer_.data() + read_end_, read_buffer_.size() - read_end_),
                                   std::forward<Handler>(handler));
    }

    // Bytes taken as if the socket had delivered them: scripted tests drive
    // the algorithms with it, byte by byte, without a server.
    void feed(std::string_view bytes) {
        make_room(buffered().size() + bytes.size());
        std::memcpy(read_buffer_.data() + read_end_, bytes.data(), bytes.size());
        read_end_ += bytes.size();
    }

    // Reads at least `wanted` bytes in total into the buffer.
    asio::awaitable<void> fill(std::size_t wanted) {
        make_room(wanted);
        while (read_end_ - read_begin_ < wanted) {
            read_end_ += co_await transport_.read_some(
                asio::buffer(read_buffer_.data() + read_end_, read_buffer_.size() - read_end_));
        }
    }

    // Handles the messages that may arrive at any time. Returns false for any
    // other message type.
    bool handle_asynchronous(const protocol::backend_message& m) {
        using enum protocol::message_type;
        switch (m.type) {
        case notice_response:
            if (on_notice) on_notice(protocol::decode_error_fields(m.body, "NoticeResponse"));
            else protocol::decode_error_fields(m.body, "NoticeResponse");  // still validated
            return true;
        case parameter_status: {
            auto p = protocol::decode_parameter_status(m.body);
            auto it = parameters_.find(p.name);
            if (it != parameters_.end()) it->second.assign(p.value);
            else if (parameters_.size() < max_reported_parameters) parameters_.emplace(std::string(p.name), std::string(p.value));
            else protocol::throw_protocol_violation("server reported more than " + std::to_string(max_reported_parameters) +
                                                    " distinct parameters in ParameterStatus messages");
            if (p.name == "in_hot_standby" || p.name == "default_transaction_read_only") judge_role();
            return true;
        }
        case notification_response: {
            auto n = protocol::decode_notification(m.body);
            if (notifications.size() < config_.max_pending_notifications)
                notifications.push_back({n.process_id, std::string(n.channel), std::string(n.payload)});
            else
                ++notifications_dropped;
            return true;
        }
        default: return false;
        }
    }

    // --- turns (request_queue.hpp) ------------------------------------------------------
    // Whether an exclusive operation may start now: nothing runs, waits
    // before it, or is owed.
    bool may_start_alone() const noexcept {
        return !busy() && requests.none_waiting() && requests.quiet();
    }
    // Nothing under way, waiting, owed, in flight or posted: none of the
    // session's handlers runs until it is used again.
    bool at_rest() const noexcept {
        return may_start_alone() && !requests.reading && !requests.writing && !requests.flush_posted;
    }
    // Whether a request waiting for its turn may have it now.
    bool may_admit(const queued_request& r) const noexcept {
        if (busy()) return false;
        return r.exclusive ? requests.quiet() : requests.room_for_shared(unsent_bytes());
    }
    // Gives the waiting requests their turns, in order, as far as they may
    // go: shared ones while there is room, an exclusive one when all is
    // quiet (it then has the session). On a broken session, wakes them all
    // to fail.
    // Inline, the loop out of line: every operation's end asks, and
    // usually nobody waits.
    void admit_waiting() noexcept {
        if (requests.first_waiting()) [[unlikely]]
            admit_each_waiting();
    }
    [[gnu::noinline]] void admit_each_waiting() noexcept {
        while (auto* r = requests.first_waiting()) {
            const bool failing = broken();
            if (!failing && !may_admit(*r)) return;
            requests.pop_waiting();
            if (!failing) {
                if (r->exclusive) begin_operation();
                else ++requests.reserved;
            }
            try {
                r->wake.wake();
            } catch (...) {
                // Only the post's memory can fail: the session cannot keep its promises.
                mark_broken();
            }
            if (r->exclusive && !failing) return;
        }
    }
    // The operation is over (session_state::end_operation): the next turns.
    void end_operation() noexcept {
        session_state::end_operation();
        admit_waiting();
    }
    // The object driving `e` let go of it (session_state::let_go_of).
    void let_go_of(open_exchange e) noexcept {
        session_state::let_go_of(e);
        admit_waiting();
    }

    // --- the server's role ---------------------------------------------------------
    // Whether the server is what target_session_attrs asked for, as it last
    // said: in_hot_standby (PostgreSQL 14+) and default_transaction_read_only
    // come as ParameterStatus whenever they change (a standby promoted), and
    // a write refused with 25006 says the server is read-only.
    bool fits_target() const noexcept { return fits_target_; }
    void write_refused() noexcept {
        const auto t = config_.target_session_attrs;
        if (t == session_target::read_write || t == session_target::primary) fits_target_ = false;
    }

    // --- session state ---------------------------------------------------------
    // The startup is over (ReadyForQuery): messages may now be as long as
    // config::max_message_size, not the short limit of the startup phase.
    void started() noexcept { starting_ = false; }

    // A request that ends in ReadyForQuery (a Sync, a Query, the startup
    // packet) was written to out(): one more the server owes.
    void expect_ready() noexcept { ++readies_owed_; }
    std::size_t readies_owed() const noexcept { return readies_owed_; }
    // ReadyForQuery: the server has answered one request. One that answers
    // none is a server (or a proxy) out of step with us.
    void ready_for_query(std::string_view body) {
        if (readies_owed_ == 0) protocol::throw_protocol_violation("ReadyForQuery without a request awaiting it");
        set_transaction(protocol::decode_ready_for_query(body));
        --readies_owed_;
    }
    // In sync: no request in flight and nothing half-written, so an error
    // raised on the client side leaves the session usable.
    bool in_sync() const noexcept {
        return readies_owed_ == 0 && write_buffer_.empty() && sending_.empty() && exchange() == open_exchange::none;
    }

    std::map<std::string, std::string, std::less<>>& parameters() noexcept { return parameters_; }
    const std::map<std::string, std::string, std::less<>>& parameters() const noexcept { return parameters_; }
    protocol::backend_key_data key{};
    statement_cache statements;
    // Kept across pipeline runs, so that a warm pipeline allocates nothing.
    struct pipeline_scratch {
        std::vector<statement_ptr> statements;     // one per queued statement
        std::vector<std::size_t> sent;             // the statements sent, in order
        std::vector<std::size_t> segment_ends;     // where each sync segment ends in `sent`
    } pipeline;
    // The columns an unnamed portal reports (statement_as_reported).
    std::vector<protocol::field_description> reported_fields;
    std::chrono::milliseconds query_timeout{0};
    // Concurrent requests: waiting, and written with answers owed.
    request_queue requests;
    // The traced operation running now (operation_trace.hpp). Kept here
    // rather than in run_operation's frame, which must stay small enough
    // for Asio's frame cache; operations run one at a time.
    struct operation_trace {
        const void* operation = nullptr;  // set from start to end of a traced operation
        void (*end)(pgcoro::tracer&, const session&, const void* operation, trace_token, const trace_outcome&) = nullptr;
        trace_token token = 0;
        trace_clock::time_point started{};
    } trace;
    // Called with each NoticeResponse; notifications wait here to be taken.
    notice_handler on_notice;
    std::deque<notification> notifications;
    // Notifications that found the queue full (config::max_pending_notifications)
    // since wait_for_notification() last reported it.
    std::uint64_t notifications_dropped = 0;
    std::string tls_host;  // the name the server certificate was checked against
    // What the TLS handshake showed of client certificates (sslcertmode=require).
    client_certificate_request client_certificate;
    // How the server authenticated us: "none", "password", "md5",
    // "SCRAM-SHA-256" or "SCRAM-SHA-256-PLUS".
    std::string authentication = "none";

    // Input that arrived while the session was idle: data (a notice, a
    // notification, a FATAL error) or the server's end of stream.
    transport::pending_input pending_input() noexcept {
        if (read_end_ != read_begin_) return transport::pending_input::data;
        return transport_.peek_input();
    }

    // Marks the session unusable and drops the socket at once.
    void mark_broken() noexcept {
        set_broken();
        transport_.close();  // a read or write of shared requests in flight ends with an error
    }

private:
    // What the next read should have room for: the rest of the message being
    // read, but at most twice what is buffered (and at least a buffer's
    // worth), so a header announcing a gigabyte costs memory only as the
    // bytes arrive.
    std::size_t room_for_next_read() const noexcept {
        const auto have = buffered().size();
        const auto step = std::max(2 * have, initial_read_buffer);
        return std::max(have + 1, std::min(wanted_, step));
    }

    // Room for `wanted` buffered bytes in total, moving them to the front
    // (or growing the buffer) only when the tail is too short.
    void make_room(std::size_t wanted) {
        if (read_begin_ == read_end_) {
            read_begin_ = read_end_ = 0;
            // A buffer grown for a huge message is not kept by an idle pooled
            // connection; below the threshold it is, so steady traffic
            // allocates nothing.
            if (read_buffer_.size() > max_kept_read_buffer && wanted <= initial_read_buffer) {
                read_buffer_ = std::string(initial_read_buffer, '\0');
            }
        }
        // Also when the free tail gets short, so reads stay large.
        const bool tail_short = read_begin_ > 0 && read_buffer_.size() - read_end_ < read_buffer_.size() / 4;
        if (read_buffer_.size() - read_begin_ < wanted || tail_short) {
            std::memmove(read_buffer_.data(), read_buffer_.data() + read_begin_, read_end_ - read_begin_);
            read_end_ -= read_begin_;
            read_begin_ = 0;
            if (read_buffer_.size() < wanted) read_buffer_.resize(std::max(wanted, read_buffer_.size() * 2));
        }
    }

    std::optional<bool> reported_on(std::string_view name) const {
        auto it = parameters_.find(name);
        if (it == parameters_.end()) return std::nullopt;
        return it->second == "on";
    }
    void judge_role() {
        const auto standby = reported_on("in_hot_standby");
        const auto read_only = reported_on("default_transaction_read_only");
        switch (config_.target_session_attrs) {
        case session_target::any:
        case session_target::prefer_standby: break;
        case session_target::read_write: fits_target_ = standby != true && read_only != true; break;
        case session_target::primary: fits_target_ = standby != true; break;
        case session_target::standby: fits_target_ = standby != false; break;
        case session_target::read_only: fits_target_ = standby != false || read_only != false; break;
        }
    }

    static std::uint64_t next_id() noexcept {
        static std::atomic<std::uint64_t> last{0};
        return ++last;
    }
    static std::uint64_t make_name_tag(std::uint64_t id) {
        static const std::uint64_t process_seed = [] {
            std::random_device r;
            return (std::uint64_t{r()} << 32) ^ r();
        }();
        // splitmix64 of the seed, this process's id (a fork's child has
        // another) and the session's number.
        std::uint64_t z = process_seed ^ (std::uint64_t(::getpid()) << 40) ^ id;
        z += 0x9e3779b97f4a7c15ULL;
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        return z ^ (z >> 31);
    }

    asio::any_io_executor executor_;
    config config_;
    transport transport_;
    server_address address_;
    protocol::buffer write_buffer_;
    protocol::buffer sending_;  // the writer's, while shared requests are pipelined
    std::string read_buffer_;
    std::size_t read_begin_ = 0;
    std::size_t read_end_ = 0;
    std::size_t readies_owed_ = 0;  // ReadyForQuery messages the requests written so far will bring
    std::size_t wanted_ = 0;  // the size of the incomplete message at read_begin_, as far as known
    bool fits_target_ = true;
    bool starting_ = true;    // before the startup's ReadyForQuery: only short messages
    std::map<std::string, std::string, std::less<>> parameters_;
};

// FATAL and PANIC errors end the server session: the socket closes next.
inline bool ends_session(const diagnostics& d) noexcept {
    const auto& severity = d.severity_nonlocalized.empty() ? d.severity : d.severity_nonlocalized;
    return severity == "FATAL" || severity == "PANIC";
}

// Translates what the socket layer threw into a user-facing pgcoro::error.
[[noreturn]] inline void throw_transport_failure(const boost::system::system_error& e, const server_address& where) {
    const auto& ec = e.code();
    if (ec == asio::error::eof || ec == asio::ssl::error::stream_truncated || ec == asio::error::connection_reset ||
        ec == asio::error::broken_pipe) {
        throw error(errc::connection_closed,
                    "server closed the connection unexpectedly (" + where.describe() +
                        ")\n\tThis probably means the server terminated abnormally before or while processing the request.");
    }
    throw error(ec, "lost connection to " + where.describe() + ": " + ec.message());
}

}  // namespace pgcoro::detail
