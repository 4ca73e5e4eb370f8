// Catch2 for tests whose checks co_await: include this, not <catch2/catch.hpp>.
//
// Catch2 v2's CHECK(expr) and REQUIRE(expr) mention the expression twice
// more without meaning to run it: `(void)__builtin_constant_p(expr)` before
// the check, and `while ((void)0, false && !!(expr))` after it, so that the
// compiler looks at it. GCC 12 runs a co_await in either all the same:
// CHECK(co_await rows.next_chunk()) read three chunks, and
// CHECK(co_await conn.query(...)) sent the query three times. Here a check
// names its expression once; the rest of Catch is unchanged.
#pragma once
// As Catch's own header is: the check's expression is the test's, and
// -Wparentheses would flag the Decomposer's `<=` in it.
#pragma GCC system_header

#include <catch2/catch.hpp>

#undef INTERNAL_CATCH_TEST
#define INTERNAL_CATCH_TEST(macroName, resultDisposition, ...)                                                          \
    do {                                                                                                                \
        Catch::AssertionHandler catchAssertionHandler(macroName##_catch_sr, CATCH_INTERNAL_LINEINFO,                    \
                                                      CATCH_INTERNAL_STRINGIFY(__VA_ARGS__), resultDisposition);         \
        INTERNAL_CATCH_TRY {                                                                                            \
            CATCH_INTERNAL_START_WARNINGS_SUPPRESSION                                                                   \
            CATCH_INTERNAL_SUPPRESS_PARENTHESES_WARNINGS                                                                \
            catchAssertionHandler.handleExpr(Catch::Decomposer() <= __VA_ARGS__);                                       \
            CATCH_INTERNAL_STOP_WARNINGS_SUPPRESSION                                                                    \
        }                                                                                                               \
        INTERNAL_CATCH_CATCH(catchAssertionHandler)                                                                     \
        INTERNAL_CATCH_REACT(catchAssertionHandler)                                                                     \
    } while (false)
