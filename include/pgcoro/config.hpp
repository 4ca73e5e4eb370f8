// Connection settings: pgcoro::config (its fields, defaults and the libpq
// names they follow are in settings/config.hpp) and config::parse, which
// reads a conninfo string or URI as libpq does (settings/connection_string.hpp).
#pragma once

#include "util/compilation_mode.hpp"
#include "settings/config.hpp"
#if PGCORO_DEFINITIONS
#include "settings/connection_string.hpp"
#endif
