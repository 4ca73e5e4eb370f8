// The target of bulk_load, written as in COPY: `table` or `table (a, b)`,
// the table optionally schema-qualified, names quoted as SQL quotes them.
// Split into the table and the column list so the column types can be
// looked up (SELECT <columns> FROM <table>) before the COPY starts.
#pragma once

#include <string>
#include <string_view>

#include "../error.hpp"

namespace pgcoro::detail {

struct copy_target {
    std::string table;
    std::string columns;  // empty: every column

    std::string select_sql() const { return "SELECT " + (columns.empty() ? std::string("*") : columns) + " FROM " + table; }
    std::string copy_sql(bool binary) const {
        return "COPY " + table + (columns.empty() ? std::string() : " (" + columns + ")") + " FROM STDIN" +
               (binary ? " (FORMAT binary)" : "");
    }
};

inline std::string_view trim_spaces(std::string_view s) noexcept {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\n')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\n')) s.remove_suffix(1);
    return s;
}

inline copy_target parse_copy_target(std::string_view target) {
    auto invalid = [&](const char* why) {
        return error(errc::invalid_value, "bulk_load target \"" + std::string(target) + "\": " + why +
                                              " (expected: table or table (column, ...))");
    };
    std::size_t open_paren = std::string_view::npos;
    bool quoted = false;
    for (std::size_t i = 0; i < target.size(); ++i) {
        const char c = target[i];
        if (c == '"') quoted = !quoted;
        else if (!quoted && (c == ';' || c == '\0')) throw invalid("a name list cannot contain ';' or NUL");
        else if (!quoted && c == '(' && open_paren == std::string_view::npos) open_paren = i;
    }
    if (quoted) throw invalid("unterminated quoted name");
    copy_target t;
    t.table = trim_spaces(target.substr(0, open_paren));
    if (t.table.empty()) throw invalid("no table name");
    if (open_paren != std::string_view::npos) {
        auto rest = trim_spaces(target.substr(open_paren + 1));
        if (rest.empty() || rest.back() != ')') throw invalid("the column list does not end with ')'");
        t.columns = trim_spaces(rest.substr(0, rest.size() - 1));
        if (t.columns.empty()) throw invalid("empty column list");
    }
    return t;
}

}  // namespace pgcoro::detail
