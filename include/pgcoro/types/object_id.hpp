// oid: an unsigned 32-bit object identifier. A type of its own so that it is
// sent as oid, not as a (signed) int4 or int8.
#pragma once

#include <compare>
#include <cstdint>
#include <string>
#include <string_view>

#include "codec_errors.hpp"
#include "oids.hpp"
#include "text_scan.hpp"
#include "type_traits.hpp"
#include "wire.hpp"

namespace pgcoro {

struct oid {
    std::uint32_t value = 0;

    friend auto operator<=>(const oid&, const oid&) = default;
};

// Written with pgcoro::oid in full: inside the class `oid` is the member.
template <>
struct pg_traits<pgcoro::oid> {
    static constexpr std::uint32_t oid = oids::oid;
    static constexpr format param_format = format::binary;
    static constexpr std::string_view name = "pgcoro::oid";

    static void encode(const pgcoro::oid& v, std::string& out) { detail::append_u32(out, v.value); }
    static constexpr bool accepts(std::uint32_t type) noexcept { return type == oids::oid; }
    static pgcoro::oid decode(std::string_view bytes, const field_type& t) {
        if (t.fmt == format::binary) return {detail::load_be<std::uint32_t>(detail::expect_size(bytes, 4, "binary oid"))};
        std::uint64_t v;
        if (!detail::parse_uint64(bytes, v) || v > UINT32_MAX) detail::throw_bad_text("oid", bytes);
        return {static_cast<std::uint32_t>(v)};
    }
};

}  // namespace pgcoro
