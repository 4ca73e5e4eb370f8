// pgcoro's version, for checks at compile time:
//   #if PGCORO_VERSION >= 100  // 0.1.0
// PGCORO_VERSION is MAJOR * 10000 + MINOR * 100 + PATCH. meson.build's project
// version must match (meson setup fails otherwise), and the CMake package
// takes its version from here.
#pragma once

#define PGCORO_VERSION_MAJOR 0
#define PGCORO_VERSION_MINOR 1
#define PGCORO_VERSION_PATCH 0
#define PGCORO_VERSION (PGCORO_VERSION_MAJOR * 10000 + PGCORO_VERSION_MINOR * 100 + PGCORO_VERSION_PATCH)
#define PGCORO_VERSION_STRING "0.1.0"
