// Fuzz target: one field value as a server would send it. The first input
// byte picks a column type and the C++ type it is read as (every codec of
// types/, arrays nested up to three levels); the second the format, text or
// binary. The rest is the field's bytes. Each value is
//   - decoded as row.get<T>() does (decode_field);
//   - when it decodes, encoded again and decoded from that binary form, which
//     must give the same value (a codec that reads what it cannot write, or
//     writes what it cannot read, is a finding);
//   - in binary, printed by text_output.hpp as the type's output function
//     would (format_text), where arrays name their element type themselves.
// Malformed bytes must end in a pgcoro::error.
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <pgcoro/types.hpp>

namespace {

using namespace pgcoro;
using timestamp = std::chrono::local_time<std::chrono::microseconds>;
using timestamptz = std::chrono::sys_time<std::chrono::microseconds>;

template <class T>
constexpr bool is_float_value = std::is_floating_point_v<T>;
template <class T>
constexpr bool is_float_value<std::optional<T>> = is_float_value<T>;
template <class T>
constexpr bool is_float_value<std::vector<T>> = is_float_value<T>;

// Through the entry points a connection uses: decode_field for row.get<T>(),
// encode_param for a Bind parameter.
template <class T>
void decode_as(std::string_view bytes, std::uint32_t column_oid, format fmt) {
    const field_type column{column_oid, -1, fmt};
    if (!pg_traits<T>::accepts(column_oid)) __builtin_trap();  // a table entry below is wrong
    const T value = decode_field<T>(bytes, column, "c");

    // NaN is not equal to itself: floats are left out of the round trip.
    if constexpr (pg_encodable<T> && !is_float_value<T>) {
        std::string encoded;
        param_info sent;
        try {
            sent = encode_param(value, encoded);
        } catch (const error&) {
            return;  // read but not writable (out of PostgreSQL's range): a choice, not a finding
        }
        if (sent.is_null) return;
        if (!(decode_field<T>(std::string_view(encoded), field_type{column_oid, -1, sent.fmt}, "c") == value))
            __builtin_trap();
    }
}

struct column_kind {
    std::uint32_t oid;
    void (*decode)(std::string_view, std::uint32_t, format);
};

// Every codec, with a column type it accepts. Arrays of the scalar ones too,
// with NULL elements where std::optional allows them.
constexpr column_kind kinds[] = {
    {oids::bool_, decode_as<bool>},
    {oids::int2, decode_as<short>},
    {oids::int4, decode_as<int>},
    {oids::int8, decode_as<long long>},
    {oids::oid, decode_as<oid>},
    {oids::float4, decode_as<float>},
    {oids::float8, decode_as<double>},
    {oids::numeric, decode_as<numeric>},
    {oids::text, decode_as<std::string>},
    {oids::varchar, decode_as<std::string_view>},
    {oids::bytea, decode_as<bytea>},
    {oids::uuid, decode_as<uuid>},
    {oids::date, decode_as<std::chrono::sys_days>},
    {oids::time, decode_as<time_of_day>},
    {oids::timestamp, decode_as<timestamp>},
    {oids::timestamptz, decode_as<timestamptz>},
    {oids::interval, decode_as<interval>},
    {oids::json, decode_as<json>},
    {oids::jsonb, decode_as<jsonb>},
    {oids::inet, decode_as<inet>},
    {oids::cidr, decode_as<inet>},
    {oids::int4, decode_as<std::optional<int>>},
    {oids::int8, decode_as<numeric>},
    {oids::bool_array, decode_as<std::vector<bool>>},
    {oids::int4_array, decode_as<std::vector<std::optional<int>>>},
    {oids::int8_array, decode_as<std::vector<std::vector<std::optional<long long>>>>},
    {oids::float8_array, decode_as<std::vector<std::optional<double>>>},
    {oids::numeric_array, decode_as<std::vector<std::vector<std::vector<numeric>>>>},
    {oids::text_array, decode_as<std::vector<std::optional<std::string>>>},
    {oids::text_array, decode_as<std::vector<std::vector<std::string>>>},
    {oids::bytea_array, decode_as<std::vector<std::optional<bytea>>>},
    {oids::uuid_array, decode_as<std::vector<uuid>>},
    {oids::date_array, decode_as<std::vector<std::chrono::sys_days>>},
    {oids::timestamptz_array, decode_as<std::vector<std::optional<timestamptz>>>},
    {oids::interval_array, decode_as<std::vector<interval>>},
    {oids::inet_array, decode_as<std::vector<std::optional<inet>>>},
    {oids::jsonb_array, decode_as<std::vector<jsonb>>},
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 2) return 0;
    const column_kind& kind = kinds[data[0] % std::size(kinds)];
    const format fmt = data[1] & 1 ? format::binary : format::text;
    const std::string_view bytes(reinterpret_cast<const char*>(data) + 2, size - 2);
    try {
        kind.decode(bytes, kind.oid, fmt);
    } catch (const error&) {
    }
    if (fmt == format::binary) {
        try {
            (void)format_text(bytes, field_type{kind.oid, -1, format::binary});
        } catch (const error&) {
        }
    }
    return 0;
}
