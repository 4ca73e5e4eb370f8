// pgcoro: a header-only C++20 coroutine client for PostgreSQL on Boost.Asio.
// This is the one header users include.
#pragma once

#include "pgcoro/cluster.hpp"
#include "pgcoro/config.hpp"
#include "pgcoro/connection.hpp"
#include "pgcoro/copy.hpp"
#include "pgcoro/error.hpp"
#include "pgcoro/listener.hpp"
#include "pgcoro/pipeline.hpp"
#include "pgcoro/pool.hpp"
#include "pgcoro/prepared_statement.hpp"
#include "pgcoro/row_stream.hpp"
#include "pgcoro/transaction.hpp"
#include "pgcoro/protocol.hpp"
#include "pgcoro/result.hpp"
#include "pgcoro/tracer.hpp"
#include "pgcoro/types.hpp"
#include "pgcoro/version.hpp"
