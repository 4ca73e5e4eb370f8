// The one translation unit of separate_compilation_tests that compiles
// pgcoro's bodies (docs/compile-time.md); the test files beside it see
// declarations only.
#include <pgcoro/src.hpp>
