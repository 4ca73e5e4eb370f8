// Observability hooks: a tracer is told when queries, pipelines, COPYs,
// connects and pool acquires start and end, with what ran, how long it took
// and how it ended. The shape of pgx's QueryTracer and ConnectTracer, and
// what an OpenTelemetry instrumentation or a metrics exporter needs.
//
//   struct timings : pgcoro::tracer {
//       void query_ended(const pgcoro::query_end& e) override { record(e.sql, e.outcome.duration); }
//   };
//   cfg.tracer = std::make_shared<timings>();
//
// Set in config::tracer; unset, an operation pays one null-pointer test.
// Callbacks run on the thread of the operation, inline: keep them short,
// and thread-safe when connections on several threads share the tracer. An
// exception a callback throws is dropped: tracing never fails a query.
// Event fields are views valid during the call only.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <system_error>

#include "error.hpp"

namespace pgcoro {

struct config;

using trace_clock = std::chrono::steady_clock;

// What a start callback returns comes back in the matching end event (a
// span id, a slot in the tracer's own storage); pgcoro only carries it, so
// a tracer needs no allocation to pair the two.
using trace_token = std::uint64_t;

// The server session an operation ran on.
struct traced_session {
    std::string_view host{};  // as configured: a name, an IP address or a socket directory
    std::uint16_t port = 0;
    std::string_view database{};
    std::string_view user{};
    std::int32_t backend_pid = 0;
};

// How an operation ended; part of every end event.
struct trace_outcome {
    std::chrono::nanoseconds duration{0};
    std::error_code error{};      // empty on success; errc::server_error for an ErrorResponse
    std::string_view message{};   // the exception's what(), on failure
    const diagnostics* server_error = nullptr;  // the server's ErrorResponse, when that is the failure

    bool ok() const noexcept { return !error; }
    std::string_view sqlstate() const noexcept { return server_error ? std::string_view(server_error->sqlstate) : std::string_view{}; }
};

enum class query_protocol : std::uint8_t {
    extended,  // query(), query_into(), execute(): one statement, with parameters
    simple,    // simple_query(): text, possibly several statements
};

// query(), query_into(), execute() (by SQL text or prepared statement) and simple_query().
struct query_start {
    traced_session session{};
    std::string_view sql{};            // empty for a prepare()d statement: see prepared_name
    std::string_view prepared_name{};  // the server-side name of a prepare()d statement
    std::size_t parameters = 0;
    query_protocol protocol = query_protocol::extended;
};

struct query_end {
    traced_session session{};
    std::string_view sql{};
    std::string_view prepared_name{};
    std::size_t parameters = 0;
    query_protocol protocol = query_protocol::extended;
    trace_token token = 0;
    trace_outcome outcome{};
    // Rows returned or affected, as the command tag reports (the last
    // statement's, for simple_query()); 0 on failure.
    std::uint64_t rows = 0;
};

// connection::run() and run_into().
struct pipeline_start {
    traced_session session{};
    std::size_t statements = 0;
};

struct pipeline_end {
    traced_session session{};
    std::size_t statements = 0;
    trace_token token = 0;
    // A failed statement does not fail the call: outcome.ok() may hold
    // while some statements failed.
    trace_outcome outcome{};
    std::size_t failed = 0;   // statements the server (or a preparation) refused
    std::size_t aborted = 0;  // statements skipped after a failure in their sync segment
    const diagnostics* first_statement_error = nullptr;
};

enum class copy_direction : std::uint8_t { in, out };  // FROM STDIN, TO STDOUT

// copy_in() (and bulk_load()) until finish(), abort() or a failure;
// copy_out() until read() returns std::nullopt, close() or a failure. A
// writer or reader dropped while open ends with errc::cancelled.
struct copy_start {
    traced_session session{};
    std::string_view sql{};
    copy_direction direction = copy_direction::in;
};

struct copy_end {
    traced_session session{};
    copy_direction direction = copy_direction::in;
    trace_token token = 0;
    trace_outcome outcome{};
    std::uint64_t rows = 0;  // rows copied, as the server reports
};

// connection::connect(), and every connect a pool or listener makes:
// every host tried, until a session is up or the last attempt failed.
struct connect_start {
    const config& settings;
};

struct connect_end {
    const config& settings;
    trace_token token = 0;
    trace_outcome outcome{};
    traced_session session{};  // empty when the connect failed
};

// pool::acquire(): from the call until a connection is handed out, or the
// call fails (errc::timeout, errc::cancelled, errc::pool_closed).
struct acquire_start {};  // nothing to tell yet; a struct, so fields can come

struct acquire_end {
    trace_token token = 0;
    trace_outcome outcome{};         // duration: the time spent waiting
    traced_session session{};        // the connection handed out; empty on failure
    std::uint64_t generation = 0;  // its generation
};

// Override what you need; every callback does nothing by default.
class tracer {
public:
    virtual ~tracer() = default;

    virtual trace_token query_started(const query_start&) { return 0; }
    virtual void query_ended(const query_end&) {}
    virtual trace_token pipeline_started(const pipeline_start&) { return 0; }
    virtual void pipeline_ended(const pipeline_end&) {}
    virtual trace_token copy_started(const copy_start&) { return 0; }
    virtual void copy_ended(const copy_end&) {}
    virtual trace_token connect_started(const connect_start&) { return 0; }
    virtual void connect_ended(const connect_end&) {}
    virtual trace_token acquire_started(const acquire_start&) { return 0; }
    virtual void acquire_ended(const acquire_end&) {}
};

}  // namespace pgcoro
