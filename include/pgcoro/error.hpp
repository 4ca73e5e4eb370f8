// Error types shared by every layer: one exception type carrying an error_code
// and a message written for the user, and a derived one for ErrorResponse.
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <exception>
#include <string>
#include <string_view>
#include <system_error>

namespace pgcoro {

enum class errc {
    invalid_config = 1,       // malformed conninfo/URI or an invalid option value
    protocol_violation,       // the server sent something the protocol does not allow
    message_too_large,        // a message above config::max_message_size
    connection_closed,        // the server closed the connection unexpectedly
    connection_broken,        // the connection is no longer usable
    operation_in_progress,    // another operation is running on this connection
    ssl_not_supported,        // the server refused SSLRequest while TLS was required
    tls_error,                // handshake or certificate verification failed
    auth_refused_by_client,   // require_auth / channel_binding rejected the server's method
    auth_unsupported,         // the server asked for a method pgcoro does not implement
    auth_failed,              // a client-side SCRAM check failed (bad server proof, bad nonce)
    server_error,             // ErrorResponse; see server_error::diagnostics
    timeout,                  // connect_timeout or another deadline expired
    cancelled,                // the operation was cancelled by the caller
    session_attrs_mismatch,   // no host satisfied target_session_attrs
    type_mismatch,            // a field's PostgreSQL type cannot be read as the requested C++ type
    value_out_of_range,       // a value does not fit the C++ type read into, or the PostgreSQL type sent to
    unexpected_null,          // SQL NULL read into a C++ type that cannot hold it
    invalid_value,            // bytes or text that are not a valid value of their type
    transaction_rolled_back,  // COMMIT of a failed transaction: the server rolled it back
    invalid_state,            // the call does not fit the object's state (e.g. commit twice)
    pool_closed,              // acquire() on a pool that is closing or closed
    shared_server_session,    // the call needs a server session of its own, and a proxy shares it
    result_too_large,         // a query's rows take more than config::max_result_size
    notifications_dropped,    // more than config::max_pending_notifications waited to be taken
};

}  // namespace pgcoro

template <>
struct std::is_error_code_enum<pgcoro::errc> : std::true_type {};

namespace pgcoro {

class error_category_impl final : public std::error_category {
public:
    const char* name() const noexcept override { return "pgcoro"; }
    std::string message(int ev) const override {
        switch (static_cast<errc>(ev)) {
        case errc::invalid_config: return "invalid connection configuration";
        case errc::protocol_violation: return "protocol violation";
        case errc::message_too_large: return "message too large";
        case errc::result_too_large: return "query result too large";
        case errc::notifications_dropped: return "notifications dropped";
        case errc::connection_closed: return "server closed the connection unexpectedly";
        case errc::connection_broken: return "connection is broken";
        case errc::operation_in_progress: return "another operation is in progress";
        case errc::ssl_not_supported: return "server does not support SSL";
        case errc::tls_error: return "TLS error";
        case errc::auth_refused_by_client: return "authentication method refused by client";
        case errc::auth_unsupported: return "authentication method not supported";
        case errc::auth_failed: return "authentication failed";
        case errc::server_error: return "server error";
        case errc::timeout: return "timeout expired";
        case errc::cancelled: return "operation cancelled";
        case errc::session_attrs_mismatch: return "no server matched target_session_attrs";
        case errc::type_mismatch: return "type mismatch";
        case errc::value_out_of_range: return "value out of range";
        case errc::unexpected_null: return "unexpected NULL";
        case errc::invalid_value: return "invalid value";
        case errc::transaction_rolled_back: return "transaction rolled back";
        case errc::invalid_state: return "invalid state for this operation";
        case errc::pool_closed: return "the pool is closed";
        case errc::shared_server_session: return "the server session is shared through a proxy";
        }
        return "unknown pgcoro error";
    }
};

inline const std::error_category& error_category() noexcept {
    static const error_category_impl instance;
    return instance;
}

inline std::error_code make_error_code(errc e) noexcept {
    return {static_cast<int>(e), error_category()};
}

// Every failure pgcoro reports is a pgcoro::error (or derived). what() is a
// complete sentence for a log line; code() is for programs.
class error : public std::runtime_error {
public:
    error(std::error_code code, const std::string& what) : std::runtime_error(what), code_(code) {}
    error(errc code, const std::string& what) : error(make_error_code(code), what) {}
    const std::error_code& code() const noexcept { return code_; }

private:
    std::error_code code_;
};

// The fields of an ErrorResponse or NoticeResponse (protocol "Error and Notice
// Message Fields"). Strings are empty when the server did not send the field.
struct diagnostics {
    std::string severity;        // S (localized)
    std::string severity_nonlocalized;  // V
    std::string sqlstate;        // C
    std::string message;         // M
    std::string detail;          // D
    std::string hint;            // H
    std::optional<std::uint32_t> position;           // P, 1-based character index
    std::optional<std::uint32_t> internal_position;  // p
    std::string internal_query;  // q
    std::string where;           // W
    std::string schema;          // s
    std::string table;           // t
    std::string column;          // c
    std::string datatype;        // d
    std::string constraint;      // n
    std::string file;            // F
    std::optional<std::uint32_t> line;               // L
    std::string routine;         // R
};

// An ErrorResponse from the server.
class server_error : public error {
public:
    explicit server_error(diagnostics d, std::string_view context = {})
        : error(errc::server_error, std::string(context) + format(d)), diag_(std::move(d)) {}
    const diagnostics& diag() const noexcept { return diag_; }
    const std::string& sqlstate() const noexcept { return diag_.sqlstate; }
    const std::string& message() const noexcept { return diag_.message; }
    const std::string& detail() const noexcept { return diag_.detail; }
    const std::string& hint() const noexcept { return diag_.hint; }
    std::optional<std::uint32_t> position() const noexcept { return diag_.position; }

private:
    static std::string format(const diagnostics& d) {
        std::string s = d.severity.empty() ? "ERROR" : d.severity;
        s += ":  ";
        s += d.message;
        if (!d.sqlstate.empty()) { s += " (SQLSTATE "; s += d.sqlstate; s += ')'; }
        if (!d.detail.empty()) { s += "\nDETAIL:  "; s += d.detail; }
        if (!d.hint.empty()) { s += "\nHINT:  "; s += d.hint; }
        return s;
    }
    diagnostics diag_;
};

// SQLSTATE codes callers commonly test for (Appendix A of the PostgreSQL docs).
namespace detail {

// What an exception says, for a message sent to the server (CopyFail).
inline std::string describe_exception(const std::exception_ptr& e) {
    try {
        std::rethrow_exception(e);
    } catch (const std::exception& x) {
        return x.what();
    } catch (...) {
        return "an exception not derived from std::exception";
    }
}

// The SQLSTATE of a server error; empty for any other failure.
inline std::error_code error_code_of(const std::exception_ptr& e) {
    try {
        std::rethrow_exception(e);
    } catch (const error& x) {
        return x.code();
    } catch (...) {
        return {};
    }
}

inline std::string sqlstate_of(const std::exception_ptr& e) {
    try {
        std::rethrow_exception(e);
    } catch (const server_error& x) {
        return std::string(x.sqlstate());
    } catch (...) {
        return {};
    }
}

}  // namespace detail

namespace sqlstate {
inline constexpr std::string_view successful_completion = "00000";
inline constexpr std::string_view connection_exception = "08000";
inline constexpr std::string_view connection_failure = "08006";
inline constexpr std::string_view protocol_violation = "08P01";
inline constexpr std::string_view feature_not_supported = "0A000";
inline constexpr std::string_view invalid_authorization_specification = "28000";
inline constexpr std::string_view invalid_password = "28P01";
inline constexpr std::string_view invalid_catalog_name = "3D000";
inline constexpr std::string_view syntax_error = "42601";
inline constexpr std::string_view undefined_table = "42P01";
inline constexpr std::string_view undefined_column = "42703";
inline constexpr std::string_view unique_violation = "23505";
inline constexpr std::string_view foreign_key_violation = "23503";
inline constexpr std::string_view not_null_violation = "23502";
inline constexpr std::string_view check_violation = "23514";
inline constexpr std::string_view serialization_failure = "40001";
inline constexpr std::string_view deadlock_detected = "40P01";
inline constexpr std::string_view in_failed_sql_transaction = "25P02";
inline constexpr std::string_view division_by_zero = "22012";
inline constexpr std::string_view too_many_connections = "53300";
inline constexpr std::string_view query_canceled = "57014";
inline constexpr std::string_view admin_shutdown = "57P01";
inline constexpr std::string_view cannot_connect_now = "57P03";
}  // namespace sqlstate

}  // namespace pgcoro

