// The customization point that maps C++ types to PostgreSQL types, and the
// vocabulary every codec shares. Codecs are pure functions over bytes: no I/O.
#pragma once

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace pgcoro {

// The format code of the protocol's Bind and RowDescription messages.
enum class format : std::int16_t { text = 0, binary = 1 };

// What a decoder knows of the column it reads (from RowDescription).
struct field_type {
    std::uint32_t oid = 0;
    std::int32_t modifier = -1;  // atttypmod, -1 when none
    format fmt = format::text;
};

// Specialize for a C++ type T to send and receive it. A specialization provides
//
//   static constexpr std::uint32_t oid;          // type OID sent with a parameter (0: the server infers it)
//   static constexpr pgcoro::format param_format;  // the format encode() writes
//   static constexpr std::string_view name;      // the C++ type, for messages
//   static void encode(const T& v, std::string& out);  // appends the value's bytes (no length prefix)
//   static constexpr bool accepts(std::uint32_t oid) noexcept;  // column types T can be read from
//   static T decode(std::string_view bytes, const field_type& t);  // t.fmt says binary or text
//
// and optionally
//
//   static bool is_null(const T& v);   // true: send SQL NULL (std::optional, nullptr)
//   static T null_value();             // what SQL NULL reads as (without it, NULL is an error)
//   static constexpr std::uint32_t array_oid;  // the array type of a user type, for std::vector<T>
//   static constexpr bool views_field_bytes;   // decode() returns a view of its input (std::string_view)
//   static constexpr std::size_t binary_size;  // encode() always writes this many bytes, and
//   static void encode_to(const T& v, char* p) noexcept;  // writes them at p: a query whose
//                                              // parameters all have both is encoded in one step
//
// An encode-only type (const char*) leaves out accepts/decode; a decode-only
// type leaves out encode. Codecs throw pgcoro::error: errc::invalid_value for
// malformed bytes, errc::value_out_of_range for values that do not fit.
// accepts(0) is asked for the elements of an array whose element type is not a
// built-in one (arrays of user-defined types in text format): return true if T
// may be read from such arrays.
template <class T, class Enable = void>
struct pg_traits;

// A C++ type pgcoro knows how to send or receive.
template <class T>
concept pg_type = requires { pg_traits<T>::oid; };

template <class T>
concept pg_encodable = pg_type<T> && requires(const T& v, std::string& out) {
    pg_traits<T>::param_format;
    pg_traits<T>::encode(v, out);
};

template <class T>
concept pg_decodable = pg_type<T> && requires(std::string_view bytes, const field_type& t) {
    pg_traits<T>::accepts(std::uint32_t{});
    pg_traits<T>::decode(bytes, t);
};

namespace detail {

template <class T>
concept has_null_value = requires { pg_traits<T>::null_value(); };

template <class T>
concept has_is_null = requires(const T& v) { { pg_traits<T>::is_null(v) } -> std::same_as<bool>; };

// A parameter always sent as `binary_size` bytes, never NULL, that traits
// write in place without failing (encode_to): a Bind whose parameters are
// all such is sized and written at once (session/extended_query.hpp), where
// appending each value to the buffer costs an out-of-line string call per
// value. An encode_to that may throw leaves its type to encode().
template <class T>
concept fixed_size_parameter = !has_is_null<T> && requires(const T& v, char* p) {
    { pg_traits<T>::binary_size } -> std::convertible_to<std::size_t>;
    { pg_traits<T>::encode_to(v, p) } noexcept;
};

// The C++ type's name for messages; user traits may leave `name` out.
template <class T>
constexpr std::string_view cpp_type_name() noexcept {
    if constexpr (requires { std::string_view(pg_traits<T>::name); })
        return pg_traits<T>::name;
    else
        return "a user-defined type";
}

template <class T>
inline constexpr std::string_view cpp_name_v = cpp_type_name<T>();

// Compile-time concatenation of names ("std::vector<" + element + ">"), so
// that composed types still have a constexpr std::string_view name.
template <std::size_t N>
struct joined_chars {
    char data[N + 1] = {};
};

template <const std::string_view&... Parts>
struct join_names {
    static constexpr std::size_t size = (Parts.size() + ...);
    static constexpr joined_chars<size> chars = [] {
        joined_chars<size> j;
        std::size_t at = 0;
        for (std::string_view part : {Parts...})
            for (char c : part) j.data[at++] = c;
        return j;
    }();
    static constexpr std::string_view value{chars.data, size};
};

}  // namespace detail
}  // namespace pgcoro
