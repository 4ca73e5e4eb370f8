// Header-only (the default) or separate compilation: with
// PGCORO_SEPARATE_COMPILATION defined in every translation unit, the public
// headers declare the connection, pool, transaction, stream and COPY
// operations without their bodies, and one translation unit includes
// <pgcoro/src.hpp>, which compiles them (docs/compile-time.md). A macro
// because it decides what gets #included; nothing else in pgcoro is one.
#pragma once

#ifdef PGCORO_SEPARATE_COMPILATION
// Out-of-line bodies are ordinary functions, compiled once in the src.hpp TU.
#define PGCORO_DECL
#ifdef PGCORO_SOURCE
#define PGCORO_DEFINITIONS 1
#else
#define PGCORO_DEFINITIONS 0
#endif
#else
// Header-only: the same bodies, inline, in every translation unit.
#define PGCORO_DECL inline
#define PGCORO_DEFINITIONS 1
#endif
