// Decoders for the messages the server sends. Each takes a message body (see
// framing.hpp) and returns views into it, or throws protocol_violation when the
// body does not match the message's layout.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "../error.hpp"
#include "message_reader.hpp"

namespace pgcoro::protocol {

// Lists of names a server sends before authentication (SASL mechanisms, the
// protocol options it did not recognize) are a handful long; each name kept
// costs a view of 16 bytes, so a message of one-byte names would cost 16
// times its size. Longer lists are refused.
inline constexpr std::size_t max_listed_names = 64;

// --- Authentication ('R') ---------------------------------------------------
struct auth_ok {};
struct auth_cleartext_password {};
struct auth_md5_password { std::string_view salt; };  // 4 bytes
struct auth_sasl { std::vector<std::string_view> mechanisms; };
struct auth_sasl_continue { std::string_view data; };
struct auth_sasl_final { std::string_view data; };
// Kerberos, SCM, GSS, SSPI: methods pgcoro does not implement.
struct auth_unsupported { std::int32_t code; };

using authentication_request = std::variant<auth_ok, auth_cleartext_password, auth_md5_password, auth_sasl,
                                            auth_sasl_continue, auth_sasl_final, auth_unsupported>;

inline authentication_request decode_authentication(std::string_view body) {
    message_reader r(body, "Authentication");
    const auto code = r.int32();
    switch (code) {
    case 0: r.expect_end(); return auth_ok{};
    case 3: r.expect_end(); return auth_cleartext_password{};
    case 5: {
        auth_md5_password m{r.bytes(4)};
        r.expect_end();
        return m;
    }
    case 10: {
        auth_sasl s;
        for (;;) {
            auto name = r.cstring();
            if (name.empty()) break;
            if (s.mechanisms.size() == max_listed_names)
                r.fail("more than " + std::to_string(max_listed_names) + " SASL mechanisms");
            s.mechanisms.push_back(name);
        }
        r.expect_end();
        if (s.mechanisms.empty()) r.fail("no SASL mechanism offered");
        return s;
    }
    case 11: return auth_sasl_continue{r.rest()};
    case 12: return auth_sasl_final{r.rest()};
    case 2: case 6: case 7: case 8: case 9: return auth_unsupported{code};
    default: r.fail("unknown authentication request code " + std::to_string(code));
    }
}

inline std::string_view auth_method_name(std::int32_t code) {
    switch (code) {
    case 2: return "Kerberos V5";
    case 6: return "SCM credentials";
    case 7: return "GSSAPI";
    case 8: return "GSSAPI continuation";
    case 9: return "SSPI";
    default: return "unknown";
    }
}

// --- Session state ------------------------------------------------------------
struct parameter_status { std::string_view name, value; };
inline parameter_status decode_parameter_status(std::string_view body) {
    message_reader r(body, "ParameterStatus");
    parameter_status p{r.cstring(), r.cstring()};
    r.expect_end();
    return p;
}

struct backend_key_data { std::int32_t process_id = 0, secret_key = 0; };
inline backend_key_data decode_backend_key_data(std::string_view body) {
    message_reader r(body, "BackendKeyData");
    backend_key_data k{r.int32(), r.int32()};
    r.expect_end();
    return k;
}

enum class transaction_status : char { idle = 'I', in_transaction = 'T', failed = 'E' };
inline transaction_status decode_ready_for_query(std::string_view body) {
    message_reader r(body, "ReadyForQuery");
    const auto s = static_cast<char>(r.int8());
    r.expect_end();
    if (s != 'I' && s != 'T' && s != 'E') r.fail(std::string("unknown transaction status '") + s + "'");
    return static_cast<transaction_status>(s);
}

struct negotiate_protocol_version { std::int32_t newest_minor = 0; std::vector<std::string_view> unrecognized; };
inline negotiate_protocol_version decode_negotiate_protocol_version(std::string_view body) {
    message_reader r(body, "NegotiateProtocolVersion");
    negotiate_protocol_version v;
    v.newest_minor = r.int32();
    const auto n = r.int32();
    if (n < 0) r.fail("negative option count");
    if (static_cast<std::size_t>(n) > max_listed_names)
        r.fail(std::to_string(n) + " unrecognized options, more than " + std::to_string(max_listed_names));
    for (std::int32_t i = 0; i < n; ++i) v.unrecognized.push_back(r.cstring());
    r.expect_end();
    return v;
}

// --- Errors and notices ('E', 'N') --------------------------------------------
inline std::optional<std::uint32_t> parse_field_number(std::string_view s) {
    if (s.empty() || s.size() > 9) return std::nullopt;
    std::uint32_t v = 0;
    for (char c : s) {
        if (c < '0' || c > '9') return std::nullopt;
        v = v * 10 + static_cast<std::uint32_t>(c - '0');
    }
    return v;
}

inline diagnostics decode_error_fields(std::string_view body, const char* message = "ErrorResponse") {
    message_reader r(body, message);
    diagnostics d;
    // The server always sends at least a severity, a code and a message; an
    // error with none would read as "ERROR:  : " with nothing to act on.
    if (body.size() == 1 && body[0] == '\0') r.fail("the server sent an empty error (no fields)");
    for (;;) {
        const auto code = static_cast<char>(r.int8());
        if (code == '\0') break;
        const auto value = r.cstring();
        switch (code) {
        case 'S': d.severity = value; break;
        case 'V': d.severity_nonlocalized = value; break;
        case 'C': d.sqlstate = value; break;
        case 'M': d.message = value; break;
        case 'D': d.detail = value; break;
        case 'H': d.hint = value; break;
        case 'P': d.position = parse_field_number(value); break;
        case 'p': d.internal_position = parse_field_number(value); break;
        case 'q': d.internal_query = value; break;
        case 'W': d.where = value; break;
        case 's': d.schema = value; break;
        case 't': d.table = value; break;
        case 'c': d.column = value; break;
        case 'd': d.datatype = value; break;
        case 'n': d.constraint = value; break;
        case 'F': d.file = value; break;
        case 'L': d.line = parse_field_number(value); break;
        case 'R': d.routine = value; break;
        default: break;  // the protocol says to ignore unknown field types
        }
    }
    r.expect_end();
    return d;
}

// --- Query results ------------------------------------------------------------
struct field_description {
    std::string_view name;
    std::uint32_t table_oid = 0;
    std::int16_t column_attribute = 0;
    std::uint32_t type_oid = 0;
    std::int16_t type_size = 0;
    std::int32_t type_modifier = 0;
    std::int16_t format = 0;  // 0 text, 1 binary
};

// Fills `out` (cleared first; its capacity is reused).
inline void decode_row_description(std::string_view body, std::vector<field_description>& out) {
    message_reader r(body, "RowDescription");
    const auto n = r.int16();
    if (n < 0) r.fail("negative field count");
    out.clear();
    out.reserve(static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i) {
        field_description f;
        f.name = r.cstring();
        f.table_oid = r.uint32();
        f.column_attribute = r.int16();
        f.type_oid = r.uint32();
        f.type_size = r.int16();
        f.type_modifier = r.int32();
        f.format = r.int16();
        if (f.format != 0 && f.format != 1) r.fail("unknown format code " + std::to_string(f.format));
        out.push_back(f);
    }
    r.expect_end();
}

[[noreturn, gnu::cold, gnu::noinline]] inline void malformed_data_row(std::string_view body, std::string_view why) {
    message_reader(body, "DataRow").fail(why);
}

// Calls on_field(index, value) for each column of a DataRow; value is
// std::nullopt for SQL NULL. Checks the column count against `expected_fields`.
template <class OnField>
void decode_data_row(std::string_view body, std::size_t expected_fields, OnField&& on_field) {
    // The hottest decoder (once per row), so it walks raw pointers with one
    // bounds check per field instead of going through message_reader.
    const auto* p = reinterpret_cast<const unsigned char*>(body.data());
    const auto* const end = p + body.size();
    const auto malformed = [body](std::string_view why) { malformed_data_row(body, why); };
    if (body.size() < 2) malformed("truncated");
    const auto n = static_cast<std::int16_t>((p[0] << 8) | p[1]);
    p += 2;
    if (n < 0 || static_cast<std::size_t>(n) != expected_fields)
        malformed("has " + std::to_string(n) + " fields, RowDescription announced " + std::to_string(expected_fields));
    for (int i = 0; i < n; ++i) {
        if (end - p < 4) malformed("truncated");
        const auto len = static_cast<std::int32_t>((std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) |
                                                   (std::uint32_t{p[2]} << 8) | std::uint32_t{p[3]});
        p += 4;
        if (len == -1) {
            on_field(static_cast<std::size_t>(i), std::optional<std::string_view>{});
            continue;
        }
        if (len < 0) malformed("negative field length");
        if (end - p < len) malformed("truncated");
        on_field(static_cast<std::size_t>(i),
                 std::optional<std::string_view>{std::string_view(reinterpret_cast<const char*>(p), static_cast<std::size_t>(len))});
        p += len;
    }
    if (p != end) malformed("unexpected trailing bytes");
}

// ParameterDescription: the type OIDs the server resolved for $1..$n.
inline void decode_parameter_description(std::string_view body, std::vector<std::uint32_t>& out) {
    message_reader r(body, "ParameterDescription");
    const auto n = r.int16();
    if (n < 0) r.fail("negative parameter count");
    out.clear();
    out.reserve(static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i) out.push_back(r.uint32());
    r.expect_end();
}

inline std::string_view decode_command_complete(std::string_view body) {
    message_reader r(body, "CommandComplete");
    auto tag = r.cstring();
    r.expect_end();
    return tag;
}

// CopyInResponse ('G'), CopyOutResponse ('H'), CopyBothResponse ('W'): the
// overall format and one format code per column.
struct copy_response {
    std::int8_t format = 0;  // 0 text (or csv), 1 binary
    std::vector<std::int16_t> column_formats;
};
inline copy_response decode_copy_response(std::string_view body, const char* message = "CopyInResponse") {
    message_reader r(body, message);
    copy_response c;
    const auto overall = r.int8();
    if (overall > 1) r.fail("unknown overall format " + std::to_string(overall));
    c.format = static_cast<std::int8_t>(overall);
    const auto n = r.int16();
    if (n < 0) r.fail("negative column count");
    c.column_formats.reserve(static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i) {
        const auto f = r.int16();
        if (f != 0 && f != 1) r.fail("unknown format code " + std::to_string(f));
        if (c.format == 0 && f != 0) r.fail("binary column in a textual COPY");
        c.column_formats.push_back(f);
    }
    r.expect_end();
    return c;
}

struct notification {
    std::int32_t process_id = 0;
    std::string_view channel, payload;
};
inline notification decode_notification(std::string_view body) {
    message_reader r(body, "NotificationResponse");
    notification n{r.int32(), r.cstring(), r.cstring()};
    r.expect_end();
    return n;
}

inline void expect_empty_body(std::string_view body, const char* message) {
    message_reader r(body, message);
    r.expect_end();
}

// Whether `text` begins with the literal `prefix`: compared in place, where
// string_view::starts_with calls compare() and memcmp().
template <std::size_t N>
constexpr bool starts_with(std::string_view text, const char (&prefix)[N]) noexcept {
    return text.size() >= N - 1 && std::char_traits<char>::compare(text.data(), prefix, N - 1) == 0;
}

// The number at the end of a command tag ("INSERT 0 5", "UPDATE 3", "SELECT 7").
inline std::optional<std::uint64_t> rows_affected(std::string_view tag) {
    const auto space = tag.rfind(' ');
    if (space == std::string_view::npos || space + 1 == tag.size()) return std::nullopt;
    std::uint64_t v = 0;
    for (char c : tag.substr(space + 1)) {
        if (c < '0' || c > '9') return std::nullopt;
        v = v * 10 + static_cast<std::uint64_t>(c - '0');
    }
    return v;
}

// Whether `tag` ends in " <rows>": compared digit by digit from the end,
// without parsing the number.
constexpr bool tag_ends_in_count(std::string_view tag, std::uint64_t rows) noexcept {
    auto i = tag.size();
    do {
        if (i == 0 || tag[i - 1] != static_cast<char>('0' + rows % 10)) return false;
        --i;
        rows /= 10;
    } while (rows > 0);
    return i > 0 && tag[i - 1] == ' ';
}

[[noreturn, gnu::cold, gnu::noinline]] inline void throw_rows_mismatch(std::string_view tag, std::uint64_t rows) {
    throw_protocol_violation("CommandComplete \"" + std::string(tag) + "\" after " + std::to_string(rows) +
                             (rows == 1 ? " DataRow" : " DataRows"));
}

// A result's rows against its CommandComplete. A SELECT or FETCH that
// sent rows counts them in its tag (per Execute, for a portal run in
// chunks), so another number means messages were lost or forged on the way.
// Other tags are not checked: CREATE TABLE AS says "SELECT n" and sends no
// rows (callers check only results with columns), and a rule may rewrite
// what an INSERT ... RETURNING reports. The count that matches, as it
// always does, is the whole cost.
inline void check_rows_returned(std::string_view tag, std::uint64_t rows) {
    if (tag_ends_in_count(tag, rows)) [[likely]]
        return;
    const auto counted = rows_affected(tag);
    if (counted && *counted != rows && (starts_with(tag, "SELECT ") || starts_with(tag, "FETCH ")))
        throw_rows_mismatch(tag, rows);
}

}  // namespace pgcoro::protocol
