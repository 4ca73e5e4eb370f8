// What pgcoro does with each built-in type, in one table: whether result
// columns of the type are asked for in binary, and which routine of
// text_output.hpp prints a binary value of it as the type's output function
// would. Describe (the result formats of every statement), bulk_load's choice
// of binary COPY and text_output all read it, so a codec whose values should
// arrive in binary needs its row here and nowhere else; tests/unit_types.cpp
// holds every codec and every row against each other. Names and array
// pairings are PostgreSQL's catalogue, in oids.hpp.
//
// Array types have no rows: an array of a built-in type is received as its
// element type is, and printed by array_out's routine, element by element.
#pragma once

#include <cstddef>
#include <cstdint>
#include <iterator>

#include "oids.hpp"
#include "type_traits.hpp"

namespace pgcoro::detail {

// The routines of text_output.hpp that print a binary value.
enum class text_output_routine : std::uint8_t {
    none,      // pgcoro cannot print the binary form: an error
    verbatim,  // the binary form is the text itself (textsend, json_send)
    boolean,
    integer,   // int2, int4, int8: the width comes from the OID
    object_id,
    float4,
    float8,
    numeric,
    bytea_hex,
    uuid,
    date,
    time,
    timestamp,
    timestamptz,
    interval,
    network,   // inet and cidr
    jsonb,     // a version byte, then the text
    array,     // array_out, each element by the routine of its type
};

struct type_entry {
    std::uint32_t oid;
    // The result format pgcoro asks for. The character types and json come
    // as text: their binary form is the same bytes, and the server's output
    // routine is cheaper than its send routine (textsend builds each value
    // in a buffer of its own: 113 more server instructions a row, callgrind).
    // Arrays of them still come in binary (make_type_index).
    format received;
    text_output_routine text_output;
};

inline constexpr type_entry type_table[] = {
    {oids::bool_, format::binary, text_output_routine::boolean},
    {oids::bytea, format::binary, text_output_routine::bytea_hex},
    {oids::name, format::text, text_output_routine::verbatim},
    {oids::int8, format::binary, text_output_routine::integer},
    {oids::int2, format::binary, text_output_routine::integer},
    {oids::int4, format::binary, text_output_routine::integer},
    {oids::text, format::text, text_output_routine::verbatim},
    {oids::oid, format::binary, text_output_routine::object_id},
    {oids::json, format::text, text_output_routine::verbatim},
    {oids::cidr, format::binary, text_output_routine::network},
    {oids::float4, format::binary, text_output_routine::float4},
    {oids::float8, format::binary, text_output_routine::float8},
    // Its binary form is its text too; columns of it are rare (a query has
    // to cast to unknown) and have always been received as text.
    {oids::unknown, format::text, text_output_routine::verbatim},
    {oids::inet, format::binary, text_output_routine::network},
    {oids::bpchar, format::text, text_output_routine::verbatim},
    {oids::varchar, format::text, text_output_routine::verbatim},
    {oids::date, format::binary, text_output_routine::date},
    {oids::time, format::binary, text_output_routine::time},
    {oids::timestamp, format::binary, text_output_routine::timestamp},
    {oids::timestamptz, format::binary, text_output_routine::timestamptz},
    {oids::interval, format::binary, text_output_routine::interval},
    {oids::numeric, format::binary, text_output_routine::numeric},
    {oids::uuid, format::binary, text_output_routine::uuid},
    {oids::jsonb, format::binary, text_output_routine::jsonb},
};

// A row or an array type, as looked up.
struct type_facts {
    bool binary = false;
    text_output_routine text_output = text_output_routine::none;
};

// The table and the arrays of its types indexed by OID, so that text_output,
// on the path of every field it prints, looks a type up with a bounds check
// and a load rather than a search.
template <std::size_t N>
struct type_facts_index {
    type_facts by_oid[N] = {};
};

constexpr std::size_t type_index_size() noexcept {
    std::uint32_t largest = 0;
    for (const auto& e : type_table) largest = e.oid > largest ? e.oid : largest;
    for (const auto& t : builtin_types) largest = t.array_oid > largest ? t.array_oid : largest;
    return std::size_t{largest} + 1;
}

constexpr type_facts_index<type_index_size()> make_type_index() noexcept {
    type_facts_index<type_index_size()> index;
    for (const auto& e : type_table) index.by_oid[e.oid] = {e.received == format::binary, e.text_output};
    for (const auto& t : builtin_types)
        if (t.array_oid != 0) {
            // Binary when pgcoro reads the element's binary form: its codec's, or its text.
            const auto& element = index.by_oid[t.oid];
            index.by_oid[t.array_oid] = {element.binary || element.text_output == text_output_routine::verbatim,
                                         text_output_routine::array};
        }
    return index;
}

inline constexpr auto type_index = make_type_index();

// Rows are for scalar types, each listed once: an array's facts follow from its element's.
constexpr bool type_table_is_well_formed() noexcept {
    for (std::size_t i = 0; i < std::size(type_table); ++i) {
        if (element_oid_of(type_table[i].oid) != 0) return false;
        for (std::size_t j = 0; j < i; ++j)
            if (type_table[j].oid == type_table[i].oid) return false;
    }
    return true;
}
static_assert(type_table_is_well_formed(), "type_table lists an array type or an OID twice");

constexpr type_facts type_facts_of(std::uint32_t oid) noexcept {
    return oid < std::size(type_index.by_oid) ? type_index.by_oid[oid] : type_facts{};
}

// Result columns pgcoro asks for in binary: the types it has binary codecs
// for, and arrays of them. Everything else comes as text.
constexpr bool receives_binary(std::uint32_t oid) noexcept { return type_facts_of(oid).binary; }

constexpr text_output_routine text_output_of(std::uint32_t oid) noexcept { return type_facts_of(oid).text_output; }

// Built-in types whose binary form is their text: text bytes are valid binary
// input for them (binary COPY of a string).
constexpr bool binary_form_is_text(std::uint32_t oid) noexcept {
    return text_output_of(oid) == text_output_routine::verbatim;
}

}  // namespace pgcoro::detail
