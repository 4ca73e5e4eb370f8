// The one translation unit that compiles pgcoro when it is built separately
// (PGCORO_SEPARATE_COMPILATION, docs/compile-time.md): scripts/check-consumer's
// "separate compilation" route links it with main.cpp.
#include <pgcoro/src.hpp>
