// Binds a call's arguments (query(sql, 42, "Ada", std::nullopt)) to the
// extended protocol without copying them: the types and formats are
// compile-time arrays, the values are encoded straight into Bind.
#pragma once

#include <array>
#include <cstddef>
#include <new>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>

#include "../types.hpp"

namespace pgcoro::detail {

// Writes the parameters of one execution into Bind. Type-erased without
// allocation: a context pointer and a function, built by the typed front end.
struct parameter_writer {
    std::span<const std::uint32_t> types;     // sent in Parse
    std::span<const std::int16_t> formats;    // sent in Bind
    std::span<const std::string_view> names;  // the C++ types, for messages
    const void* context = nullptr;
    bool (*write)(const void* context, std::size_t index, std::string& out) = nullptr;  // false: NULL
    // When every parameter has a fixed size (fixed_size_parameter): the
    // bytes of Bind's parameter section, each value with its length word,
    // and what writes them at p. 0 otherwise: write() one value at a time.
    std::size_t fixed_section = 0;
    void (*write_fixed)(const void* context, char* p) noexcept = nullptr;
};

// A string literal binds as const char*, anything else as its decayed type.
template <class Arg>
using parameter_type = std::conditional_t<std::is_array_v<std::remove_cvref_t<Arg>>,
                                          const std::remove_extent_t<std::remove_cvref_t<Arg>>*, std::decay_t<Arg>>;

// Small trivially copyable values (numbers, pointers, optional<int>) are
// held by value; anything else by reference to the caller's argument, which
// lives until the co_await of the call completes.
template <class T>
using stored_parameter = std::conditional_t<std::is_trivially_copyable_v<T> && sizeof(T) <= 16, T, const T&>;

template <class... Ts>
class parameter_list {
public:
    template <class... Args>
    explicit parameter_list(const Args&... args) : values_(args...) {}

    parameter_writer writer() const noexcept {
        if constexpr (fixed_section > 0) return {types_, formats_, names_, this, &write, fixed_section, &write_fixed};
        else return {types_, formats_, names_, this, &write};
    }

private:
    static constexpr std::size_t fixed_section = [] {
        if constexpr (sizeof...(Ts) > 0 && (fixed_size_parameter<Ts> && ...))
            return ((4 + std::size_t{pg_traits<Ts>::binary_size}) + ...);
        else
            return std::size_t{0};
    }();

    template <class T>
    static constexpr std::uint32_t type_of() noexcept {
        static_assert(pg_encodable<T>, "pgcoro has no pg_traits specialization to send this type as a parameter");
        return pg_traits<T>::oid;
    }
    template <class T>
    static constexpr std::int16_t format_of() noexcept {
        return static_cast<std::int16_t>(pg_traits<T>::param_format);
    }

    static bool write(const void* self, std::size_t index, std::string& out) {
        const auto& values = static_cast<const parameter_list*>(self)->values_;
        bool not_null = true;
        [&]<std::size_t... I>(std::index_sequence<I...>) {
            ((I == index ? (not_null = !encode_param<Ts>(std::get<I>(values), out).is_null, 0) : 0), ...);
        }(std::index_sequence_for<Ts...>{});
        return not_null;
    }

    static void write_fixed(const void* self, char* p) noexcept {
        if constexpr (fixed_section > 0) {
            const auto& values = static_cast<const parameter_list*>(self)->values_;
            [&]<std::size_t... I>(std::index_sequence<I...>) {
                ((store_be(p, static_cast<std::uint32_t>(pg_traits<Ts>::binary_size)),
                  pg_traits<Ts>::encode_to(std::get<I>(values), p + 4), p += 4 + pg_traits<Ts>::binary_size),
                 ...);
            }(std::index_sequence_for<Ts...>{});
        }
    }

    static constexpr std::array<std::uint32_t, sizeof...(Ts)> types_{type_of<Ts>()...};
    static constexpr std::array<std::int16_t, sizeof...(Ts)> formats_{format_of<Ts>()...};
    static constexpr std::array<std::string_view, sizeof...(Ts)> names_{cpp_name_v<Ts>...};
    std::tuple<stored_parameter<Ts>...> values_;
};

template <class... Args>
auto bind_parameters(const Args&... args) {
    return parameter_list<parameter_type<Args>...>(args...);
}

// A parameter_list of any types, held by value: what the separately compiled
// operations run with (util/compilation_mode.hpp), one closed type for every
// argument list. It travels into the operation's frame as the typed list
// does in header-only mode, so a query costs no extra coroutine frame. The
// buffer is small because that frame must stay under the 1020 bytes that
// Asio's per-thread frame cache keeps: a longer list (more than five
// strings or ten integers) goes on the heap, one allocation per call.
class bound_parameters {
public:
    template <class List>
        requires(!std::is_same_v<List, bound_parameters>)
    explicit bound_parameters(const List& list) : kind_(&kind_of<List>) {
        place(list);
    }
    bound_parameters(const bound_parameters& other) : kind_(other.kind_) { kind_->copy(other, *this); }
    bound_parameters& operator=(const bound_parameters&) = delete;
    ~bound_parameters() { kind_->destroy(*this); }

    parameter_writer writer() const noexcept { return kind_->writer(*this); }

private:
    static constexpr std::size_t buffer_size = 40;

    struct kind {
        void (*copy)(const bound_parameters& from, bound_parameters& to);
        void (*destroy)(const bound_parameters& self) noexcept;
        parameter_writer (*writer)(const bound_parameters& self) noexcept;
    };
    template <class List>
    static constexpr bool in_buffer = sizeof(List) <= buffer_size && alignof(List) <= alignof(void*);

    template <class List>
    const List& object() const noexcept {
        if constexpr (in_buffer<List>) return *std::launder(reinterpret_cast<const List*>(buffer_));
        else return **std::launder(reinterpret_cast<List* const*>(buffer_));
    }
    template <class List>
    void place(const List& list) {
        if constexpr (in_buffer<List>) ::new (static_cast<void*>(buffer_)) List(list);
        else ::new (static_cast<void*>(buffer_)) List*(new List(list));
    }
    // Functions, not lambdas in kind_of's initializer: only a member
    // function's body sees the class complete (clang insists).
    template <class List>
    static void copy_of(const bound_parameters& from, bound_parameters& to) {
        to.place(from.object<List>());
    }
    template <class List>
    static void destroy_of(const bound_parameters& self) noexcept {
        if constexpr (in_buffer<List>) self.object<List>().~List();
        else delete &self.object<List>();
    }
    template <class List>
    static parameter_writer writer_of(const bound_parameters& self) noexcept {
        return self.object<List>().writer();
    }
    template <class List>
    static constexpr kind kind_of{&copy_of<List>, &destroy_of<List>, &writer_of<List>};

    const kind* kind_;
    alignas(void*) std::byte buffer_[buffer_size];
};

}  // namespace pgcoro::detail
