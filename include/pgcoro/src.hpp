// Separate compilation (docs/compile-time.md): include this in exactly one
// translation unit of a program built with PGCORO_SEPARATE_COMPILATION
// defined everywhere. It compiles the bodies that the other translation
// units see only declared: the connection, pool, listener, cluster,
// transaction, stream and COPY operations, with everything under them (the
// session, the protocol, authentication, TLS). The typed front ends
// (query(sql, args...), row.get<T>()) stay templates in the headers and
// reach these through one type-erased parameter list, so the operations
// here are every instantiation there is.
#pragma once

#ifndef PGCORO_SEPARATE_COMPILATION
#error "pgcoro/src.hpp is for separate compilation: define PGCORO_SEPARATE_COMPILATION in every translation unit"
#endif
#ifdef PGCORO_DEFINITIONS
#error "include <pgcoro/src.hpp> before any other pgcoro header: those already seen declared their operations without bodies"
#endif

#define PGCORO_SOURCE
// GCC gives the frame of a coroutine that is not inline a type with
// linkage, and warns that a lambda's type (no linkage) is one of its fields
// when that happens in a header. The frame never leaves this TU.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wsubobject-linkage"
#include "../pgcoro.hpp"
#pragma GCC diagnostic pop
