// SQL NULL: std::optional<T> reads NULL as std::nullopt and sends an empty
// optional as NULL (typed as T, so the server still knows the parameter's
// type); std::nullopt and nullptr are untyped NULL parameters.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "type_traits.hpp"

namespace pgcoro {

namespace detail {
inline constexpr std::string_view optional_prefix = "std::optional<";
inline constexpr std::string_view close_angle = ">";
}  // namespace detail

template <class T>
    requires pg_type<T>
struct pg_traits<std::optional<T>> {
    static constexpr std::uint32_t oid = pg_traits<T>::oid;
    static constexpr std::string_view name =
        detail::join_names<detail::optional_prefix, detail::cpp_name_v<T>, detail::close_angle>::value;

    // Present only when T can be sent.
    static constexpr format param_format = [] {
        if constexpr (requires { pg_traits<T>::param_format; }) return pg_traits<T>::param_format;
        else return format::text;
    }();
    static bool is_null(const std::optional<T>& v) noexcept { return !v.has_value(); }
    static void encode(const std::optional<T>& v, std::string& out)
        requires pg_encodable<T>
    {
        if (v) pg_traits<T>::encode(*v, out);
    }

    static constexpr bool accepts(std::uint32_t type) noexcept
        requires pg_decodable<T>
    {
        return pg_traits<T>::accepts(type);
    }
    static std::optional<T> null_value() noexcept { return std::nullopt; }
    static std::optional<T> decode(std::string_view bytes, const field_type& t)
        requires pg_decodable<T>
    {
        return pg_traits<T>::decode(bytes, t);
    }
};

template <>
struct pg_traits<std::nullopt_t> {
    static constexpr std::uint32_t oid = 0;  // the server infers NULL's type from its context
    static constexpr format param_format = format::text;
    static constexpr std::string_view name = "std::nullopt_t";
    static bool is_null(std::nullopt_t) noexcept { return true; }
    static void encode(std::nullopt_t, std::string&) noexcept {}
};

template <>
struct pg_traits<std::nullptr_t> {
    static constexpr std::uint32_t oid = 0;
    static constexpr format param_format = format::text;
    static constexpr std::string_view name = "std::nullptr_t";
    static bool is_null(std::nullptr_t) noexcept { return true; }
    static void encode(std::nullptr_t, std::string&) noexcept {}
};

}  // namespace pgcoro
