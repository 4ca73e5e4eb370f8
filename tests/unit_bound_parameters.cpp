// bound_parameters, the one parameter type of the separately compiled
// operations (util/compilation_mode.hpp): what it writes into Bind is what
// the typed parameter_list writes, whether the list sits in its buffer or
// on the heap, and after it is copied into an operation.
#include <pgcoro/types/parameters.hpp>

#include "support/catch.hpp"

#include <string>

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
}
