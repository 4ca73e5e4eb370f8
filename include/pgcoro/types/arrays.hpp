// Arrays as std::vector: std::vector<T> for one dimension,
// std::vector<std::optional<T>> when elements may be NULL, and
// std::vector<std::vector<T>> (and deeper, up to PostgreSQL's 6) for more.
//
// Binary form (array_send): int32 ndim, int32 has-nulls flag, uint32 element
// OID, per dimension int32 length and int32 lower bound, then each element as
// int32 length (-1 for NULL) and its bytes, in row-major order. An empty array
// has ndim 0 and nothing after the element OID.
//
// Arrays go out in binary when the element type does (int4[] as 1007, ...).
// Elements sent as text (strings, json, inet, user enums) make the array go
// out as a text literal with every element quoted; when the element's OID is
// 0 (strings), so is the array's and the server infers it, as it does for a
// string: a std::vector<std::string> binds to text[], varchar[] or an enum array.
// Lower bounds are not kept: "[0:1]={1,2}" reads as {1, 2}.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "array_text.hpp"
#include "bytea.hpp"  // std::vector<std::byte> is bytea, not an array
#include "codec_errors.hpp"
#include "oids.hpp"
#include "type_traits.hpp"
#include "wire.hpp"

namespace pgcoro {

namespace detail {

inline constexpr std::string_view vector_prefix = "std::vector<";
inline constexpr std::string_view vector_suffix = ">";
inline constexpr int max_array_dimensions = 6;  // MAXDIM

template <class T>
constexpr int dimensions_of() noexcept {
    if constexpr (requires { pg_traits<T>::dimensions; }) return pg_traits<T>::dimensions;
    else return 0;
}

// The innermost element type of a (nested) vector, std::optional kept.
template <class T>
struct array_scalar { using type = T; };
template <class T>
    requires requires { typename pg_traits<T>::scalar_type; }
struct array_scalar<T> { using type = typename pg_traits<T>::scalar_type; };

template <class T>
struct without_optional { using type = T; };
template <class T>
struct without_optional<std::optional<T>> { using type = T; };

template <class Scalar>
constexpr std::uint32_t array_oid_for() noexcept {
    if constexpr (requires { pg_traits<Scalar>::array_oid; }) return pg_traits<Scalar>::array_oid;
    else return array_oid_of(pg_traits<Scalar>::oid);
}

template <class Scalar>
constexpr format element_param_format() noexcept {
    if constexpr (requires { pg_traits<Scalar>::param_format; }) return pg_traits<Scalar>::param_format;
    else return format::text;
}

template <class T>
constexpr bool views_field_bytes() noexcept {
    if constexpr (requires { pg_traits<T>::views_field_bytes; }) return pg_traits<T>::views_field_bytes;
    else return false;
}

[[noreturn, gnu::cold, gnu::noinline]] inline void throw_ragged_array() {
    throw error(errc::invalid_value,
                "invalid array value: sub-arrays of different lengths (PostgreSQL arrays are rectangular)");
}

[[noreturn, gnu::cold, gnu::noinline]] inline void throw_dimension_mismatch(int got, int want, std::string_view cpp) {
    throw error(errc::type_mismatch, "cannot read a " + std::to_string(got) + "-dimensional array as " +
                                         std::string(cpp) + " (" + std::to_string(want) + " dimension" +
                                         (want == 1 ? ")" : "s)"));
}

[[noreturn, gnu::cold, gnu::noinline]] inline void throw_null_element(std::size_t index, std::string_view cpp) {
    throw error(errc::unexpected_null, "array element " + std::to_string(index) + " is NULL, which " +
                                           std::string(cpp) + " cannot hold; use std::optional elements");
}

[[noreturn, gnu::cold, gnu::noinline]] inline void rethrow_for_element(const error& e, std::size_t index) {
    throw error(e.code(), "array element " + std::to_string(index) + ": " + e.what());
}

// The lengths along the first element of every level; the walk that writes
// the elements checks the others against them.
template <class Vec>
void first_lengths(const Vec& v, std::int32_t* lengths) {
    if (v.size() > 0x7FFFFFFF) throw error(errc::value_out_of_range, "array has more than 2^31-1 elements");
    lengths[0] = static_cast<std::int32_t>(v.size());
    if constexpr (dimensions_of<typename Vec::value_type>() > 0) {
        if (v.empty()) {
            for (int i = 1; i < dimensions_of<Vec>(); ++i) lengths[i] = 0;
        } else {
            first_lengths(v.front(), lengths + 1);
        }
    }
}

template <class Vec>
void write_binary_elements(const Vec& v, const std::int32_t* lengths, std::string& out, bool& has_null) {
    using element = typename Vec::value_type;
    if (v.size() != static_cast<std::size_t>(lengths[0])) throw_ragged_array();
    for (const auto& e : v) {
        if constexpr (dimensions_of<element>() > 0) {
            write_binary_elements(e, lengths + 1, out, has_null);
        } else {
            if constexpr (has_is_null<element>) {
                if (pg_traits<element>::is_null(e)) {
                    append_i32(out, -1);
                    has_null = true;
                    continue;
                }
            }
            const std::size_t length_at = out.size();
            append_i32(out, 0);
            pg_traits<element>::encode(e, out);
            const std::size_t length = out.size() - length_at - 4;
            if (length > 0x7FFFFFFF) throw error(errc::value_out_of_range, "array element larger than 2^31-1 bytes");
            for (int i = 0; i < 4; ++i) out[length_at + i] = static_cast<char>(length >> (24 - 8 * i));
        }
    }
}

template <class Vec>
void write_text_elements(const Vec& v, const std::int32_t* lengths, std::string& out) {
    using element = typename Vec::value_type;
    if (v.size() != static_cast<std::size_t>(lengths[0])) throw_ragged_array();
    out += '{';
    bool first = true;
    for (const auto& e : v) {
        if (!first) out += ',';
        first = false;
        if constexpr (dimensions_of<element>() > 0) {
            write_text_elements(e, lengths + 1, out);
        } else {
            if constexpr (has_is_null<element>) {
                if (pg_traits<element>::is_null(e)) {
                    out += "NULL";
                    continue;
                }
            }
            append_quoted_element(out, [&](std::string& o) { pg_traits<element>::encode(e, o); });
        }
    }
    out += '}';
}

template <class Vec>
void read_binary_elements(Vec& out, const std::int32_t* lengths, wire_reader& r, const field_type& element_type,
                          std::size_t& index) {
    using element = typename Vec::value_type;
    out.reserve(static_cast<std::size_t>(lengths[0]));
    for (std::int32_t i = 0; i < lengths[0]; ++i) {
        if constexpr (dimensions_of<element>() > 0) {
            element inner;
            read_binary_elements(inner, lengths + 1, r, element_type, index);
            out.push_back(std::move(inner));
        } else {
            ++index;
            const std::int32_t length = r.i32();
            if (length == -1) {
                if constexpr (has_null_value<element>) out.push_back(pg_traits<element>::null_value());
                else throw_null_element(index, cpp_name_v<element>);
            } else {
                if (length < 0) throw_invalid(r.what(), "negative element length");
                const std::string_view bytes = r.bytes(static_cast<std::size_t>(length));
                try {
                    out.push_back(pg_traits<element>::decode(bytes, element_type));
                } catch (const error& e) {
                    rethrow_for_element(e, index);
                }
            }
        }
    }
}

template <class Vec>
void read_text_elements(Vec& out, array_text_reader& r, const field_type& element_type, std::size_t& index) {
    using element = typename Vec::value_type;
    r.expect('{');
    if (r.consume('}')) return;
    do {
        if constexpr (dimensions_of<element>() > 0) {
            element inner;
            read_text_elements(inner, r, element_type, index);
            out.push_back(std::move(inner));
        } else {
            ++index;
            const array_text_element e = r.element();
            if (e.is_null) {
                if constexpr (has_null_value<element>) out.push_back(pg_traits<element>::null_value());
                else throw_null_element(index, cpp_name_v<element>);
            } else {
                if constexpr (views_field_bytes<typename without_optional<element>::type>()) {
                    if (e.unescaped)
                        throw error(errc::type_mismatch, "array element " + std::to_string(index) +
                                                             " has backslash escapes, so it cannot be viewed in "
                                                             "place; read it as std::string");
                }
                try {
                    out.push_back(pg_traits<element>::decode(e.text, element_type));
                } catch (const error& err) {
                    rethrow_for_element(err, index);
                }
            }
        }
    } while (r.consume(','));
    r.expect('}');
}

}  // namespace detail

template <class T>
    requires pg_type<T>
struct pg_traits<std::vector<T>> {
    using element_type = T;
    using scalar_type = typename detail::array_scalar<T>::type;  // innermost, std::optional kept

private:
    using value_scalar = typename detail::without_optional<scalar_type>::type;

public:
    static constexpr int dimensions = 1 + detail::dimensions_of<T>();
    static_assert(dimensions <= detail::max_array_dimensions, "PostgreSQL arrays have at most 6 dimensions");

    static constexpr std::uint32_t element_oid = pg_traits<value_scalar>::oid;
    static constexpr format param_format =
        element_oid != 0 && detail::element_param_format<value_scalar>() == format::binary ? format::binary
                                                                                         : format::text;
    static constexpr std::uint32_t oid = element_oid == 0 ? 0 : detail::array_oid_for<value_scalar>();
    static constexpr std::string_view name =
        detail::join_names<detail::vector_prefix, detail::cpp_name_v<T>, detail::vector_suffix>::value;

    static void encode(const std::vector<T>& v, std::string& out)
        requires pg_encodable<scalar_type>
    {
        std::int32_t lengths[dimensions];
        detail::first_lengths(v, lengths);
        std::int64_t count = 1;
        for (std::int32_t n : lengths) count *= n;
        if constexpr (param_format == format::binary) {
            detail::append_i32(out, count == 0 ? 0 : dimensions);
            const std::size_t flag_at = out.size();
            detail::append_i32(out, 0);
            detail::append_u32(out, element_oid);
            if (count == 0) return;
            for (std::int32_t n : lengths) {
                detail::append_i32(out, n);
                detail::append_i32(out, 1);  // lower bound
            }
            bool has_null = false;
            detail::write_binary_elements(v, lengths, out, has_null);
            if (has_null) out[flag_at + 3] = '\1';
        } else {
            if (count == 0) {
                out += "{}";
                return;
            }
            detail::write_text_elements(v, lengths, out);
        }
    }

    // Built-in array types whose elements T reads, and (by asking the element
    // type's accepts(0)) array types of user-defined element types.
    static constexpr bool accepts(std::uint32_t type) noexcept
        requires pg_decodable<scalar_type>
    {
        if constexpr (requires { pg_traits<value_scalar>::array_oid; })
            if (type == pg_traits<value_scalar>::array_oid) return true;
        const std::uint32_t element = element_oid_of(type);
        if (element == 0 && type < oids::first_normal_object_id) return false;
        return pg_traits<value_scalar>::accepts(element);
    }

    static std::vector<T> decode(std::string_view bytes, const field_type& t)
        requires pg_decodable<scalar_type>
    {
        std::vector<T> out;
        std::size_t index = 0;  // of the element being read, counted from 1 in storage order, for messages
        if (t.fmt == format::binary) {
            detail::wire_reader r(bytes, "binary array");
            const std::int32_t ndim = r.i32();
            const std::int32_t flags = r.i32();
            const std::uint32_t element = r.u32();
            if (ndim < 0 || ndim > detail::max_array_dimensions) detail::throw_invalid("binary array", "bad dimension count");
            if (flags != 0 && flags != 1) detail::throw_invalid("binary array", "bad flags");
            if (ndim == 0) {
                r.expect_end();
                return out;
            }
            if (ndim != dimensions) detail::throw_dimension_mismatch(ndim, dimensions, name);
            std::int32_t lengths[dimensions];
            std::uint64_t count = 1;
            for (int d = 0; d < dimensions; ++d) {
                lengths[d] = r.i32();
                r.i32();  // lower bound
                if (lengths[d] < 0) detail::throw_invalid("binary array", "negative dimension");
                count *= static_cast<std::uint64_t>(lengths[d]);
                // Every element takes at least its 4-byte length: this bounds
                // what reserve() may be asked for by a malformed header.
                if (count > r.remaining() / 4) detail::throw_invalid("binary array", "more elements than bytes");
            }
            if (!pg_traits<value_scalar>::accepts(element))
                throw error(errc::type_mismatch, "cannot read array elements of " + detail::describe_pg_type(element) +
                                                     " as " + std::string(detail::cpp_name_v<scalar_type>));
            if (count == 0) {  // a zero-length dimension: no element, the empty array as in text_output
                r.expect_end();
                return out;
            }
            const field_type element_type{element, t.modifier, format::binary};
            detail::read_binary_elements(out, lengths, r, element_type, index);
            r.expect_end();
            return out;
        }
        detail::array_text_reader r(bytes);
        r.skip_dimension_decoration();
        const int ndim = r.count_dimensions();
        if (ndim == 0) {
            r.expect('{');
            r.expect('}');
            r.expect_end();
            return out;
        }
        if (ndim != dimensions) detail::throw_dimension_mismatch(ndim, dimensions, name);
        const field_type element_type{element_oid_of(t.oid), t.modifier, format::text};
        detail::read_text_elements(out, r, element_type, index);
        r.expect_end();
        // "{{}}" holds no element: the empty array, as array_in reads it and
        // as the binary form of an empty array reads, not one empty row.
        std::int32_t lengths[dimensions];
        detail::first_lengths(out, lengths);
        for (std::int32_t n : lengths)
            if (n == 0) out.clear();
        return out;
    }
};

}  // namespace pgcoro
