// The two ways an execution's rows are kept: into a result, or only counted
// (execute()). Both are row_sinks fed by the extended query messages.
#pragma once

#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "../result.hpp"
#include "extended_query.hpp"

namespace pgcoro::detail {

// Collects an execution into a result.
class result_sink final : public row_sink {
public:
    static constexpr bool keeps_rows = true;  // within config::max_result_size
    explicit result_sink(result& r) noexcept : result_(r) {}
    void begin(const statement_ptr& statement) override {
        result_.clear();
        // Aliasing: shares the statement's columns, no copy, no allocation.
        result_.set_columns(std::shared_ptr<const std::vector<column>>(statement, &statement->columns));
    }
    void row(std::string_view body) override { result_.append_row(body); }
    void complete(std::string_view tag) override { result_.set_command_tag(tag); }
    // Rows returned or affected, as the command tag says (for a tracer).
    std::uint64_t rows() const { return result_.rows_affected().value_or(0); }

private:
    result& result_;
};

// Discards rows; keeps the count the command reports.
class count_sink final : public row_sink {
public:
    static constexpr bool keeps_rows = false;
    void begin(const statement_ptr&) override { rows_affected_ = 0; }
    void row(std::string_view) override {}
    void complete(std::string_view tag) override { rows_affected_ = protocol::rows_affected(tag).value_or(0); }
    // What the operation returns (see operation_result).
    std::uint64_t value() const noexcept { return rows_affected_; }
    std::uint64_t rows() const noexcept { return rows_affected_; }

private:
    std::uint64_t rows_affected_ = 0;
};

}  // namespace pgcoro::detail
