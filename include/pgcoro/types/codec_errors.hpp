// The errors codecs throw. Out of line and cold: the success path of a codec
// holds no string building, only a call to one of these.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "../error.hpp"
#include "oids.hpp"

namespace pgcoro::detail {

// Field text quoted into a message, cut short: a malformed field may be huge.
inline std::string quote_for_message(std::string_view text) {
    constexpr std::size_t limit = 64;
    std::string q = "\"";
    q.append(text.substr(0, limit));
    if (text.size() > limit) q += "...";
    q += '"';
    return q;
}

// "invalid binary int4 value: expected 4 bytes, got 3"
[[noreturn, gnu::cold, gnu::noinline]] inline void throw_invalid(std::string_view what, std::string_view why) {
    std::string m = "invalid ";
    m.append(what);
    m += " value: ";
    m.append(why);
    throw error(errc::invalid_value, m);
}

[[noreturn, gnu::cold, gnu::noinline]] inline void throw_bad_size(std::string_view what, std::size_t expected,
                                                                std::size_t got) {
    throw_invalid(what, "expected " + std::to_string(expected) + " bytes, got " + std::to_string(got));
}

[[noreturn, gnu::cold, gnu::noinline]] inline void throw_bad_text(std::string_view what, std::string_view text) {
    std::string m = "invalid ";
    m.append(what);
    m += " text ";
    m += quote_for_message(text);
    throw error(errc::invalid_value, m);
}

// "value 70000 is out of range for std::int16_t"
[[noreturn, gnu::cold, gnu::noinline]] inline void throw_out_of_range(std::string_view value, std::string_view target) {
    std::string m = "value ";
    m.append(value);
    m += " is out of range for ";
    m.append(target);
    throw error(errc::value_out_of_range, m);
}

// "PostgreSQL type int8 (oid 20)" or "PostgreSQL type with oid 16385"
inline std::string describe_pg_type(std::uint32_t oid) {
    const std::string_view known_name = type_name(oid);
    if (known_name.empty()) return "PostgreSQL type with oid " + std::to_string(oid);
    std::string s = "PostgreSQL type ";
    s.append(known_name);
    s += " (oid " + std::to_string(oid) + ")";
    return s;
}

}  // namespace pgcoro::detail
