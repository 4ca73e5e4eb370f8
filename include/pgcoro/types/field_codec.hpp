// The two entry points the connection calls: decode_field reads one result
// field into a C++ value, encode_param writes one Bind parameter. Both go
// through pg_traits, so user specializations work the same as built-in ones.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "../error.hpp"
#include "codec_errors.hpp"
#include "oids.hpp"
#include "type_traits.hpp"

namespace pgcoro {

namespace detail {

[[noreturn, gnu::cold, gnu::noinline]] inline void throw_type_mismatch(std::string_view column, std::uint32_t oid,
                                                                      std::string_view cpp) {
    std::string m = "column \"";
    m.append(column);
    m += "\": cannot read ";
    m += describe_pg_type(oid);
    m += " as ";
    m.append(cpp);
    throw error(errc::type_mismatch, m);
}

[[noreturn, gnu::cold, gnu::noinline]] inline void throw_unexpected_null(std::string_view column, std::uint32_t oid,
                                                                        std::string_view cpp) {
    std::string m = "column \"";
    m.append(column);
    m += "\": NULL cannot be read as ";
    m.append(cpp);
    m += " (";
    m += describe_pg_type(oid);
    m += "); read it as std::optional<";
    m.append(cpp);
    m += '>';
    throw error(errc::unexpected_null, m);
}

// `column "n": value 70000 is out of range for std::int16_t (PostgreSQL type
// int4 (oid 23))`: the codec's message with the column in front and, behind,
// whichever of the two types it does not already name.
[[noreturn, gnu::cold, gnu::noinline]] inline void rethrow_for_column(const error& e, std::string_view column,
                                                                     std::uint32_t oid, std::string_view cpp) {
    const std::string_view inner = e.what();
    std::string m = "column \"";
    m.append(column);
    m += "\": ";
    m.append(inner);
    m += " (";
    m += describe_pg_type(oid);
    if (inner.find(cpp) == std::string_view::npos) {
        m += ", read as ";
        m.append(cpp);
    }
    m += ')';
    throw error(e.code(), m);
}

}  // namespace detail

// Reads one field. `bytes` is std::nullopt for SQL NULL, which only a type
// with a null_value() (std::optional) may hold. Every error is a
// pgcoro::error naming the column, the PostgreSQL type and the C++ type:
// errc::type_mismatch when T cannot be read from the column's type at all,
// errc::unexpected_null, errc::value_out_of_range, errc::invalid_value.
// Nothing is allocated for fixed-width types, and nothing thrown on success.
template <pg_decodable T>
T decode_field(std::optional<std::string_view> bytes, const field_type& t, std::string_view column_name) {
    using traits = pg_traits<T>;
    if (!traits::accepts(t.oid)) [[unlikely]]
        detail::throw_type_mismatch(column_name, t.oid, detail::cpp_name_v<T>);
    if (!bytes) [[unlikely]] {
        if constexpr (detail::has_null_value<T>) return traits::null_value();
        else detail::throw_unexpected_null(column_name, t.oid, detail::cpp_name_v<T>);
    }
    try {
        return traits::decode(*bytes, t);
    } catch (const error& e) {
        detail::rethrow_for_column(e, column_name, t.oid, detail::cpp_name_v<T>);
    }
}

// How a parameter goes into Bind (and its OID into Parse).
struct param_info {
    std::uint32_t oid = 0;  // 0: the server infers the type
    format fmt = format::text;
    bool is_null = false;   // send length -1; nothing was appended
};

// Appends the parameter's bytes (no length prefix) to `out` and says how to
// send them. On an exception `out` is left as it was.
template <pg_encodable T>
param_info encode_param(const T& v, std::string& out) {
    using traits = pg_traits<T>;
    if constexpr (detail::has_is_null<T>) {
        if (traits::is_null(v)) return {traits::oid, traits::param_format, true};
    }
    const std::size_t size_before = out.size();
    try {
        traits::encode(v, out);
    } catch (...) {
        out.resize(size_before);
        throw;
    }
    return {traits::oid, traits::param_format, false};
}

}  // namespace pgcoro
