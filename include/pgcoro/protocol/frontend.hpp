// Encoders for every message the client sends (protocol "Message Formats").
// Pure functions: they append to a buffer and never touch a socket.
#pragma once

#include <cstdint>
#include <cstring>
#include <span>
#include <string_view>
#include <utility>

#include "message_writer.hpp"

namespace pgcoro::protocol {

inline constexpr std::int32_t protocol_version_3_0 = 196608;   // 3 << 16
inline constexpr std::int32_t ssl_request_code = 80877103;     // 1234 << 16 | 5679
inline constexpr std::int32_t cancel_request_code = 80877102;  // 1234 << 16 | 5678

using startup_parameter = std::pair<std::string_view, std::string_view>;

// StartupMessage: protocol 3.0 and name/value pairs (user is mandatory).
inline void encode_startup_message(buffer& out, std::span<const startup_parameter> params) {
    message_writer w(out);
    w.begin_untyped().int32(protocol_version_3_0);
    for (const auto& [name, value] : params) w.cstring(name).cstring(value);
    w.int8(0);
    w.finish();
}

inline void encode_ssl_request(buffer& out) {
    message_writer w(out);
    w.begin_untyped().int32(ssl_request_code);
    w.finish();
}

inline void encode_cancel_request(buffer& out, std::int32_t process_id, std::int32_t secret_key) {
    message_writer w(out);
    w.begin_untyped().int32(cancel_request_code).int32(process_id).int32(secret_key);
    w.finish();
}

// PasswordMessage for cleartext and md5 (the md5 form is computed by the caller).
inline void encode_password_message(buffer& out, std::string_view password) {
    message_writer w(out);
    w.begin('p').cstring(password);
    w.finish();
}

inline void encode_sasl_initial_response(buffer& out, std::string_view mechanism, std::string_view data) {
    message_writer w(out);
    w.begin('p').cstring(mechanism).int32(static_cast<std::int32_t>(data.size())).bytes(data);
    w.finish();
}

inline void encode_sasl_response(buffer& out, std::string_view data) {
    message_writer w(out);
    w.begin('p').bytes(data);
    w.finish();
}

inline void encode_query(buffer& out, std::string_view sql) {
    message_writer w(out);
    w.begin('Q').cstring(sql);
    w.finish();
}

inline void encode_parse(buffer& out, std::string_view statement, std::string_view sql,
                         std::span<const std::uint32_t> param_types) {
    message_writer w(out);
    w.begin('P').cstring(statement).cstring(sql).int16(static_cast<std::int16_t>(param_types.size()));
    for (auto oid : param_types) w.int32(static_cast<std::int32_t>(oid));
    w.finish();
}

// Bind. Parameter values are written straight into the message by
// `write_param(i, out)`, which appends the value's bytes and returns false for
// SQL NULL; nothing is staged in between, so binding does not allocate.
// `then` (encoded messages, such as execute_all_and_sync) follows the Bind.
template <class WriteParam>
void encode_bind(buffer& out, std::string_view portal, std::string_view statement,
                 std::span<const std::int16_t> param_formats, std::size_t param_count, WriteParam&& write_param,
                 std::span<const std::int16_t> result_formats, std::string_view then = {}) {
    const auto start = out.size();
    // Type, length, names, the formats, the parameter count, and the first
    // parameter's length word.
    char* p = extend(out, 1 + 4 + portal.size() + 1 + statement.size() + 1 + 2 + 2 * param_formats.size() + 2 +
                              (param_count > 0 ? 4 : 0));
    *p = 'B';
    p = put_cstring(p + 5, portal);
    p = put_cstring(p, statement);
    p = put_be16(p, static_cast<std::uint16_t>(param_formats.size()));
    for (auto f : param_formats) p = put_be16(p, static_cast<std::uint16_t>(f));
    put_be16(p, static_cast<std::uint16_t>(param_count));
    for (std::size_t i = 0; i < param_count; ++i) {
        if (i > 0) extend(out, 4);
        const auto length_at = out.size() - 4;
        if (write_param(i, out)) {
            put_be32(out.data() + length_at, static_cast<std::uint32_t>(out.size() - length_at - 4));
        } else {
            out.resize(length_at + 4);
            std::memset(out.data() + length_at, 0xff, 4);  // -1: NULL
        }
    }
    p = extend(out, 2 + 2 * result_formats.size() + then.size());
    p = put_be16(p, static_cast<std::uint16_t>(result_formats.size()));
    for (auto f : result_formats) p = put_be16(p, static_cast<std::uint16_t>(f));
    if (!then.empty()) std::memcpy(p, then.data(), then.size());
    put_be32(out.data() + start + 1, static_cast<std::uint32_t>(out.size() - then.size() - start - 1));
}

// Bind whose parameter section (per parameter, a 32-bit length, -1 for
// NULL, and the bytes) is `section_size` bytes that `write_section(p)`
// writes in place; `then` follows the Bind. Sized up front: one extend()
// per Bind, not one per field.
template <class WriteSection>
void encode_bind_sized(buffer& out, std::string_view portal, std::string_view statement,
                       std::span<const std::int16_t> param_formats, std::size_t param_count, std::size_t section_size,
                       WriteSection&& write_section, std::span<const std::int16_t> result_formats,
                       std::string_view then = {}) {
    const std::size_t length = 4 + portal.size() + 1 + statement.size() + 1 + 2 + 2 * param_formats.size() + 2 +
                               section_size + 2 + 2 * result_formats.size();
    char* p = extend(out, 1 + length + then.size());
    *p = 'B';
    p = put_be32(p + 1, static_cast<std::uint32_t>(length));
    p = put_cstring(p, portal);
    p = put_cstring(p, statement);
    p = put_be16(p, static_cast<std::uint16_t>(param_formats.size()));
    for (auto f : param_formats) p = put_be16(p, static_cast<std::uint16_t>(f));
    p = put_be16(p, static_cast<std::uint16_t>(param_count));
    write_section(p);
    p += section_size;
    p = put_be16(p, static_cast<std::uint16_t>(result_formats.size()));
    for (auto f : result_formats) p = put_be16(p, static_cast<std::uint16_t>(f));
    if (!then.empty()) std::memcpy(p, then.data(), then.size());
}

// Bind with parameters already in wire form (pipelines encode their
// arguments when a statement is queued, and bind it later).
inline void encode_bind_encoded(buffer& out, std::string_view portal, std::string_view statement,
                                std::span<const std::int16_t> param_formats, std::size_t param_count,
                                std::string_view param_section, std::span<const std::int16_t> result_formats) {
    encode_bind_sized(out, portal, statement, param_formats, param_count, param_section.size(),
                      [&](char* p) {
                          if (!param_section.empty()) std::memcpy(p, param_section.data(), param_section.size());
                      },
                      result_formats);
}

// What Describe and Close name: a prepared statement or a portal.
enum class object_kind : char { statement = 'S', portal = 'P' };

inline void encode_describe(buffer& out, object_kind kind, std::string_view name) {
    message_writer w(out);
    w.begin('D').int8(static_cast<std::uint8_t>(kind)).cstring(name);
    w.finish();
}

// Execute of all the unnamed portal's rows, then Sync: the fixed end of a
// single query, which encode_bind can append in the same growth as its own.
inline constexpr std::string_view execute_all_and_sync{"E\0\0\0\x09\0\0\0\0\0S\0\0\0\x04", 15};

inline void encode_execute(buffer& out, std::string_view portal, std::int32_t max_rows) {
    char* p = extend(out, 1 + 4 + portal.size() + 1 + 4);
    *p = 'E';
    p = put_be32(p + 1, static_cast<std::uint32_t>(4 + portal.size() + 1 + 4));
    put_be32(put_cstring(p, portal), static_cast<std::uint32_t>(max_rows));
}

inline void encode_close(buffer& out, object_kind kind, std::string_view name) {
    message_writer w(out);
    w.begin('C').int8(static_cast<std::uint8_t>(kind)).cstring(name);
    w.finish();
}

inline void encode_empty_message(buffer& out, char type) {
    char* p = extend(out, 5);
    *p = type;
    put_be32(p + 1, 4);
}
inline void encode_sync(buffer& out) { encode_empty_message(out, 'S'); }
inline void encode_flush(buffer& out) { encode_empty_message(out, 'H'); }
inline void encode_terminate(buffer& out) { encode_empty_message(out, 'X'); }
inline void encode_copy_done(buffer& out) { encode_empty_message(out, 'c'); }

inline void encode_copy_data(buffer& out, std::string_view data) {
    message_writer w(out);
    w.begin('d').bytes(data);
    w.finish();
}

inline void encode_copy_fail(buffer& out, std::string_view reason) {
    message_writer w(out);
    w.begin('f').cstring(reason);
    w.finish();
}

}  // namespace pgcoro::protocol
