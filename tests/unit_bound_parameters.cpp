// bound_parameters, the one parameter type of the separately compiled
// operations (util/compilation_mode.hpp): what it writes into Bind is what
// the typed parameter_list writes, whether the list sits in its buffer or
// on the heap, and after it is copied into an operation.
#include <pgcoro/protocol/frontend.hpp>
#include <pgcoro/types/parameters.hpp>

#include "support/catch.hpp"

#include <cstdint>
#include <cstring>
#include <optional>
#include <string>

// A type of fixed size whose encode_to may throw: written with encode().
struct may_throw {};
template <>
struct pgcoro::pg_traits<may_throw> {
    static constexpr std::uint32_t oid = 0;
    static constexpr pgcoro::format param_format = pgcoro::format::binary;
    static constexpr std::size_t binary_size = 4;
    static void encode_to(may_throw, char* p) { std::memset(p, 0, 4); }
    static void encode(may_throw, std::string& out) { out.append(4, '\0'); }
};

namespace {

template <class List>
void check_same_writes(const List& list) {
    const pgcoro::detail::bound_parameters bound(list);
    const pgcoro::detail::bound_parameters copied(bound);  // as into an operation's frame
    const auto typed = list.writer();
    const auto erased = copied.writer();
    REQUIRE(erased.types.size() == typed.types.size());
    for (std::size_t i = 0; i < typed.types.size(); ++i) {
        CHECK(erased.types[i] == typed.types[i]);
        CHECK(erased.formats[i] == typed.formats[i]);
        CHECK(erased.names[i] == typed.names[i]);
        std::string from_erased, from_typed;
        CHECK(erased.write(erased.context, i, from_erased) == typed.write(typed.context, i, from_typed));
        CHECK(from_erased == from_typed);
    }
    REQUIRE(erased.fixed_section == typed.fixed_section);
    if (typed.fixed_section > 0) {
        std::string from_erased(typed.fixed_section, '?'), from_typed(typed.fixed_section, '!');
        erased.write_fixed(erased.context, from_erased.data());
        typed.write_fixed(typed.context, from_typed.data());
        CHECK(from_erased == from_typed);
    }
}

// Bind as the session encodes it: whole, when every parameter has a fixed
// size, else one value at a time.
std::string bind_of(const pgcoro::detail::parameter_writer& w, bool whole) {
    namespace protocol = pgcoro::protocol;
    const std::int16_t result_formats[] = {1};
    std::string out = "kept";
    if (whole)
        protocol::encode_bind_sized(out, "", "s1", w.formats, w.types.size(), w.fixed_section,
                                    [&](char* p) { w.write_fixed(w.context, p); }, result_formats, "then");
    else
        protocol::encode_bind(out, "", "s1", w.formats, w.types.size(),
                              [&](std::size_t i, std::string& o) { return w.write(w.context, i, o); }, result_formats,
                              "then");
    return out;
}

}  // namespace

TEST_CASE("bound_parameters writes what the typed parameter list writes") {
    const std::string name = "Ada";
    const std::optional<int> none;
    SECTION("no parameters") { check_same_writes(pgcoro::detail::bind_parameters()); }
    SECTION("a short list, in the buffer") { check_same_writes(pgcoro::detail::bind_parameters(42, name, none)); }
    SECTION("a long list, on the heap") {
        check_same_writes(pgcoro::detail::bind_parameters(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, name, name, name, name, none));
    }
    SECTION("numbers and a bool, written whole") {
        check_same_writes(pgcoro::detail::bind_parameters(std::int16_t{-2}, 42, std::int64_t{1} << 40, true, 1.5f, -2.25));
    }
}

TEST_CASE("Bind of parameters that all have a fixed size is written whole, byte for byte as one value at a time") {
    using pgcoro::detail::bind_parameters;
    const auto numbers = bind_parameters(std::int16_t{-2}, 42, std::int64_t{1} << 40, true, false, 1.5f, -2.25);
    const auto w = numbers.writer();
    CHECK(w.fixed_section == (4 + 2) + (4 + 4) + (4 + 8) + (4 + 1) + (4 + 1) + (4 + 4) + (4 + 8));
    CHECK(bind_of(w, true) == bind_of(w, false));
    const auto one = bind_parameters(-1);
    CHECK(bind_of(one.writer(), true) == bind_of(one.writer(), false));
    // A string, a value that may be NULL, or no parameter at all: one at a time.
    const std::string name = "Ada";
    CHECK(bind_parameters(1, name).writer().fixed_section == 0);
    CHECK(bind_parameters(std::optional<int>(1)).writer().fixed_section == 0);
    CHECK(bind_parameters().writer().fixed_section == 0);
    CHECK(bind_parameters(1, may_throw{}).writer().fixed_section == 0);
}
