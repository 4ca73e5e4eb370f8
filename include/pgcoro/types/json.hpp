// json and jsonb as their text: pgcoro parses no JSON, hand the text to the
// JSON library of your choice. Either C++ type reads either column type; they
// differ in the type they send: pgcoro::json as json (text kept verbatim),
// pgcoro::jsonb as jsonb (usable with @>, ?, and jsonb functions without a
// cast). Both are sent in text format; binary jsonb is a version byte (1)
// followed by the same text.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "codec_errors.hpp"
#include "oids.hpp"
#include "type_traits.hpp"

namespace pgcoro {

template <std::uint32_t Oid>
struct json_text {
    std::string text;

    friend bool operator==(const json_text&, const json_text&) = default;
};

using json = json_text<oids::json>;
using jsonb = json_text<oids::jsonb>;

template <std::uint32_t Oid>
struct pg_traits<json_text<Oid>> {
    static constexpr std::uint32_t oid = Oid;
    static constexpr format param_format = format::text;
    static constexpr std::string_view name = Oid == oids::json ? "pgcoro::json" : "pgcoro::jsonb";

    static void encode(const json_text<Oid>& v, std::string& out) { out += v.text; }
    static constexpr bool accepts(std::uint32_t type) noexcept { return type == oids::json || type == oids::jsonb; }
    static json_text<Oid> decode(std::string_view bytes, const field_type& t) {
        if (t.fmt == format::binary && t.oid == oids::jsonb) {
            if (bytes.empty() || bytes[0] != '\1')
                detail::throw_invalid("binary jsonb", bytes.empty() ? "empty" : "unsupported version " + std::to_string(static_cast<unsigned char>(bytes[0])));
            bytes.remove_prefix(1);
        }
        return {std::string(bytes)};
    }
};

}  // namespace pgcoro
