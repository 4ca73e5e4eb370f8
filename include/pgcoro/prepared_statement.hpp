// A statement prepared explicitly with connection::prepare(): a handle to a
// named server-side statement that lives until deallocate() or the end of the
// session, outside the connection's statement cache (never evicted).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "session/statement_cache.hpp"

namespace pgcoro {

class prepared_statement {
public:
    prepared_statement() = default;

    // Whether it refers to a statement (not default-constructed or deallocated).
    bool valid() const noexcept { return statement_ != nullptr; }
    // The server-side name, usable in SQL: EXECUTE <name>(...).
    const std::string& name() const { return description().name; }
    // The parameter types the server resolved, $1 first.
    const std::vector<std::uint32_t>& parameter_types() const { return description().param_types; }
    // The result columns (empty for a statement that returns no rows).
    const std::vector<column>& columns() const { return description().columns; }

private:
    friend class connection;
    prepared_statement(detail::statement_ptr statement, std::uint64_t session_id)
        : statement_(std::move(statement)), session_id_(session_id) {}

    const detail::statement_description& description() const {
        if (!statement_) throw error(errc::invalid_state, "prepared_statement is empty (default-constructed or deallocated)");
        return *statement_;
    }

    detail::statement_ptr statement_;
    std::uint64_t session_id_ = 0;
};

}  // namespace pgcoro
