// The OIDs of PostgreSQL's built-in types (fixed in pg_type.dat; they never
// change between releases), their names for messages, and the pairing of each
// type with its array type.
#pragma once

#include <cstdint>
#include <string_view>

namespace pgcoro::oids {

inline constexpr std::uint32_t unspecified = 0;  // a parameter whose type the server infers
inline constexpr std::uint32_t bool_ = 16;
inline constexpr std::uint32_t bytea = 17;
inline constexpr std::uint32_t char_ = 18;  // "char", the one-byte internal type
inline constexpr std::uint32_t name = 19;
inline constexpr std::uint32_t int8 = 20;
inline constexpr std::uint32_t int2 = 21;
inline constexpr std::uint32_t int4 = 23;
inline constexpr std::uint32_t regproc = 24;
inline constexpr std::uint32_t text = 25;
inline constexpr std::uint32_t oid = 26;
inline constexpr std::uint32_t tid = 27;
inline constexpr std::uint32_t xid = 28;
inline constexpr std::uint32_t cid = 29;
inline constexpr std::uint32_t json = 114;
inline constexpr std::uint32_t xml = 142;
inline constexpr std::uint32_t point = 600;
inline constexpr std::uint32_t lseg = 601;
inline constexpr std::uint32_t path = 602;
inline constexpr std::uint32_t box = 603;
inline constexpr std::uint32_t polygon = 604;
inline constexpr std::uint32_t line = 628;
inline constexpr std::uint32_t cidr = 650;
inline constexpr std::uint32_t float4 = 700;
inline constexpr std::uint32_t float8 = 701;
inline constexpr std::uint32_t unknown = 705;
inline constexpr std::uint32_t circle = 718;
inline constexpr std::uint32_t money = 790;
inline constexpr std::uint32_t macaddr = 829;
inline constexpr std::uint32_t inet = 869;
inline constexpr std::uint32_t bpchar = 1042;
inline constexpr std::uint32_t varchar = 1043;
inline constexpr std::uint32_t date = 1082;
inline constexpr std::uint32_t time = 1083;
inline constexpr std::uint32_t timestamp = 1114;
inline constexpr std::uint32_t timestamptz = 1184;
inline constexpr std::uint32_t interval = 1186;
inline constexpr std::uint32_t timetz = 1266;
inline constexpr std::uint32_t bit = 1560;
inline constexpr std::uint32_t varbit = 1562;
inline constexpr std::uint32_t numeric = 1700;
inline constexpr std::uint32_t regclass = 2205;
inline constexpr std::uint32_t regtype = 2206;
inline constexpr std::uint32_t record = 2249;
inline constexpr std::uint32_t cstring = 2275;
inline constexpr std::uint32_t void_ = 2278;
inline constexpr std::uint32_t uuid = 2950;
inline constexpr std::uint32_t jsonb = 3802;
inline constexpr std::uint32_t jsonpath = 4072;

inline constexpr std::uint32_t bool_array = 1000;
inline constexpr std::uint32_t bytea_array = 1001;
inline constexpr std::uint32_t char_array = 1002;
inline constexpr std::uint32_t name_array = 1003;
inline constexpr std::uint32_t int2_array = 1005;
inline constexpr std::uint32_t int4_array = 1007;
inline constexpr std::uint32_t text_array = 1009;
inline constexpr std::uint32_t bpchar_array = 1014;
inline constexpr std::uint32_t varchar_array = 1015;
inline constexpr std::uint32_t int8_array = 1016;
inline constexpr std::uint32_t point_array = 1017;
inline constexpr std::uint32_t float4_array = 1021;
inline constexpr std::uint32_t float8_array = 1022;
inline constexpr std::uint32_t oid_array = 1028;
inline constexpr std::uint32_t macaddr_array = 1040;
inline constexpr std::uint32_t inet_array = 1041;
inline constexpr std::uint32_t timestamp_array = 1115;
inline constexpr std::uint32_t date_array = 1182;
inline constexpr std::uint32_t time_array = 1183;
inline constexpr std::uint32_t timestamptz_array = 1185;
inline constexpr std::uint32_t interval_array = 1187;
inline constexpr std::uint32_t numeric_array = 1231;
inline constexpr std::uint32_t timetz_array = 1270;
inline constexpr std::uint32_t json_array = 199;
inline constexpr std::uint32_t xml_array = 143;
inline constexpr std::uint32_t cidr_array = 651;
inline constexpr std::uint32_t money_array = 791;
inline constexpr std::uint32_t uuid_array = 2951;
inline constexpr std::uint32_t jsonb_array = 3807;

// User-defined types (enums, composites, domains, extensions) get OIDs from
// here up, assigned when they are created: never constants.
inline constexpr std::uint32_t first_normal_object_id = 16384;

}  // namespace pgcoro::oids

namespace pgcoro {

namespace detail {

struct builtin_type {
    std::uint32_t oid;
    std::string_view name;
    std::uint32_t array_oid;    // its array type, 0 if none listed
};

// One row per type that has an array type: the array's name is this name with "[]".
inline constexpr builtin_type builtin_types[] = {
    {oids::bool_, "bool", oids::bool_array},
    {oids::bytea, "bytea", oids::bytea_array},
    {oids::char_, "char", oids::char_array},
    {oids::name, "name", oids::name_array},
    {oids::int8, "int8", oids::int8_array},
    {oids::int2, "int2", oids::int2_array},
    {oids::int4, "int4", oids::int4_array},
    {oids::text, "text", oids::text_array},
    {oids::oid, "oid", oids::oid_array},
    {oids::json, "json", oids::json_array},
    {oids::xml, "xml", oids::xml_array},
    {oids::point, "point", oids::point_array},
    {oids::cidr, "cidr", oids::cidr_array},
    {oids::float4, "float4", oids::float4_array},
    {oids::float8, "float8", oids::float8_array},
    {oids::money, "money", oids::money_array},
    {oids::macaddr, "macaddr", oids::macaddr_array},
    {oids::inet, "inet", oids::inet_array},
    {oids::bpchar, "bpchar", oids::bpchar_array},
    {oids::varchar, "varchar", oids::varchar_array},
    {oids::date, "date", oids::date_array},
    {oids::time, "time", oids::time_array},
    {oids::timestamp, "timestamp", oids::timestamp_array},
    {oids::timestamptz, "timestamptz", oids::timestamptz_array},
    {oids::interval, "interval", oids::interval_array},
    {oids::timetz, "timetz", oids::timetz_array},
    {oids::numeric, "numeric", oids::numeric_array},
    {oids::uuid, "uuid", oids::uuid_array},
    {oids::jsonb, "jsonb", oids::jsonb_array},
};

// Built-in types named in messages that pgcoro has no array mapping for.
inline constexpr builtin_type other_builtin_types[] = {
    {oids::regproc, "regproc", 0},   {oids::tid, "tid", 0},         {oids::xid, "xid", 0},
    {oids::cid, "cid", 0},           {oids::lseg, "lseg", 0},       {oids::path, "path", 0},
    {oids::box, "box", 0},           {oids::polygon, "polygon", 0}, {oids::line, "line", 0},
    {oids::unknown, "unknown", 0},   {oids::circle, "circle", 0},   {oids::bit, "bit", 0},
    {oids::varbit, "varbit", 0},     {oids::regclass, "regclass", 0}, {oids::regtype, "regtype", 0},
    {oids::record, "record", 0},     {oids::cstring, "cstring", 0}, {oids::void_, "void", 0},
    {oids::jsonpath, "jsonpath", 0},
};

// "int4[]" and friends, so that type_name() can return a view of a constant.
template <std::size_t N>
struct array_type_names {
    char storage[N * 16] = {};
    std::string_view names[N];
    constexpr explicit array_type_names(const builtin_type (&types)[N]) {
        std::size_t at = 0;
        for (std::size_t i = 0; i < N; ++i) {
            const std::size_t begin = at;
            for (char c : types[i].name) storage[at++] = c;
            storage[at++] = '[';
            storage[at++] = ']';
            names[i] = std::string_view(storage + begin, at - begin);
        }
    }
};
inline constexpr array_type_names builtin_array_names{builtin_types};

}  // namespace detail

// The array type whose elements are of type `element_oid`; 0 when pgcoro
// does not know one.
constexpr std::uint32_t array_oid_of(std::uint32_t element_oid) noexcept {
    for (const auto& t : detail::builtin_types)
        if (t.oid == element_oid) return t.array_oid;
    return 0;
}

// The element type of the built-in array type `array_oid`; 0 when it is not one.
constexpr std::uint32_t element_oid_of(std::uint32_t array_oid) noexcept {
    for (const auto& t : detail::builtin_types)
        if (t.array_oid == array_oid) return t.oid;
    return 0;
}

// The name PostgreSQL gives a built-in type ("int4", "text[]", ...), as
// pg_type.typname spells it with arrays written "elem[]"; empty when the OID
// is not a built-in type pgcoro knows.
constexpr std::string_view type_name(std::uint32_t oid) noexcept {
    constexpr std::size_t n = sizeof(detail::builtin_types) / sizeof(detail::builtin_types[0]);
    for (std::size_t i = 0; i < n; ++i) {
        if (detail::builtin_types[i].oid == oid) return detail::builtin_types[i].name;
        if (detail::builtin_types[i].array_oid == oid) return detail::builtin_array_names.names[i];
    }
    for (const auto& t : detail::other_builtin_types)
        if (t.oid == oid) return t.name;
    return {};
}

}  // namespace pgcoro
