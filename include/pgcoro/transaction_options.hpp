// How a transaction block starts: isolation level, read only, deferrable.
#pragma once

#include <string>
#include <string_view>

namespace pgcoro {

enum class isolation_level { server_default, read_uncommitted, read_committed, repeatable_read, serializable };

struct transaction_options {
    isolation_level isolation = isolation_level::server_default;
    bool read_only = false;
    bool deferrable = false;  // with serializable + read_only: wait for a snapshot that cannot fail

    // The BEGIN statement for these options.
    std::string begin_statement() const {
        std::string sql = "BEGIN";
        std::string_view sep = " ";
        auto add = [&](std::string_view mode) {
            sql += sep;
            sql += mode;
            sep = ", ";
        };
        switch (isolation) {
        case isolation_level::server_default: break;
        case isolation_level::read_uncommitted: add("ISOLATION LEVEL READ UNCOMMITTED"); break;
        case isolation_level::read_committed: add("ISOLATION LEVEL READ COMMITTED"); break;
        case isolation_level::repeatable_read: add("ISOLATION LEVEL REPEATABLE READ"); break;
        case isolation_level::serializable: add("ISOLATION LEVEL SERIALIZABLE"); break;
        }
        if (read_only) add("READ ONLY");
        if (deferrable) add("DEFERRABLE");
        return sql;
    }
};

}  // namespace pgcoro
