// A query result held in two flat arrays: all field bytes in one string and an
// (offset, length) cell per field, so a result costs a handful of allocations
// whatever its row count, and capacity is reused when a result is refilled.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <tuple>
#include <string>
#include <string_view>
#include <vector>

#include "error.hpp"
#include "protocol/row_store.hpp"
#include "protocol/backend.hpp"
#include "types.hpp"

namespace pgcoro {

struct column {
    std::string name;
    std::uint32_t table_oid = 0;
    std::int16_t column_attribute = 0;
    std::uint32_t type_oid = 0;
    std::int16_t type_size = 0;
    std::int32_t type_modifier = 0;
    std::int16_t format = 0;  // 0 text, 1 binary
};

class result;

// One row of a result: a cheap view, valid while the result lives.
class row {
public:
    row(const result& r, std::size_t index) noexcept : result_(&r), index_(index) {}

    std::size_t size() const noexcept;
    // The field's bytes, or std::nullopt for SQL NULL.
    std::optional<std::string_view> operator[](std::size_t column) const;
    std::optional<std::string_view> operator[](std::string_view column_name) const;
    bool is_null(std::size_t column) const { return !(*this)[column].has_value(); }
    // The field's text; throws for NULL (use operator[] when NULL is expected).
    std::string_view text(std::size_t column) const;

    // The field as a C++ value: binary or text, whichever the column came
    // in. NULL reads only into std::optional; a type that cannot hold the
    // column's values is an error naming column and types.
    template <class T>
    T get(std::size_t column) const;
    template <class T>
    T get(std::string_view column_name) const;

    // The whole row: auto [id, name] = row.as<std::int64_t, std::string>();
    template <class... Ts>
    std::tuple<Ts...> as() const;

private:
    std::optional<std::string_view> field(std::size_t column) const noexcept;

    const result* result_;
    std::size_t index_;
};

class result {
public:
    // --- rows ---
    std::size_t size() const noexcept { return rows_.size(); }
    bool empty() const noexcept { return rows_.size() == 0; }
    row operator[](std::size_t i) const noexcept { return {*this, i}; }
    row at(std::size_t i) const {
        if (i >= size()) throw std::out_of_range("pgcoro::result: row " + std::to_string(i) + " of " + std::to_string(size()));
        return {*this, i};
    }

    class iterator {
    public:
        using value_type = row;
        using difference_type = std::ptrdiff_t;
        iterator() = default;
        iterator(const result* r, std::size_t i) : r_(r), i_(i) {}
        row operator*() const { return {*r_, i_}; }
        iterator& operator++() { ++i_; return *this; }
        iterator operator++(int) { auto t = *this; ++i_; return t; }
        bool operator==(const iterator& o) const noexcept { return i_ == o.i_; }
    private:
        const result* r_ = nullptr;
        std::size_t i_ = 0;
    };
    iterator begin() const noexcept { return {this, 0}; }
    iterator end() const noexcept { return {this, size()}; }

    // --- columns ---
    const std::vector<column>& columns() const noexcept { return columns_ ? *columns_ : no_columns(); }
    // Index of the first column with that name; throws when there is none.
    std::size_t column_index(std::string_view name) const {
        const auto& cols = columns();
        for (std::size_t i = 0; i < cols.size(); ++i)
            if (cols[i].name == name) return i;
        throw error(errc::type_mismatch, "result has no column named \"" + std::string(name) + "\"");
    }

    // --- completion ---
    // The command tag, e.g. "SELECT 3", "INSERT 0 1"; empty for an empty query.
    const std::string& command_tag() const noexcept { return has_tag_ ? command_tag_ : no_tag(); }
    std::optional<std::uint64_t> rows_affected() const { return protocol::rows_affected(command_tag()); }

    // --- filling (used by the connection) ---
    // Keeps the capacity of the buffers, so a result refilled in a loop
    // stops allocating.
    void clear() noexcept {
        columns_.reset();
        rows_.clear();
        has_tag_ = false;  // the text stays: a refill mostly ends with the same tag
    }
    void set_columns(const std::vector<protocol::field_description>& fields) {
        auto cols = std::make_shared<std::vector<column>>();
        for (const auto& f : fields)
            cols->push_back({std::string(f.name), f.table_oid, f.column_attribute, f.type_oid, f.type_size,
                             f.type_modifier, f.format});
        columns_ = std::move(cols);
    }
    // Shares a column list (a prepared statement's) instead of copying it.
    void set_columns(std::shared_ptr<const std::vector<column>> columns) noexcept { columns_ = std::move(columns); }
    void append_row(std::string_view data_row_body) { rows_.append(data_row_body, columns().size()); }
    void set_command_tag(std::string_view tag) {
        if (command_tag_ != tag) command_tag_.assign(tag);  // a compare is cheaper than std::string's assign
        has_tag_ = true;
    }

private:
    friend class row;
    static const std::vector<column>& no_columns() noexcept {
        static const std::vector<column> none;
        return none;
    }
    static const std::string& no_tag() noexcept {
        static const std::string none;
        return none;
    }

    std::shared_ptr<const std::vector<column>> columns_;
    detail::row_store rows_;
    std::string command_tag_;
    bool has_tag_ = false;
};

inline std::size_t row::size() const noexcept { return result_->columns().size(); }

namespace detail {
[[noreturn, gnu::cold, gnu::noinline]] inline void throw_no_such_column(std::size_t column, std::size_t width) {
    throw std::out_of_range("pgcoro::row: column " + std::to_string(column) + " of " + std::to_string(width));
}
}  // namespace detail

inline std::optional<std::string_view> row::field(std::size_t column) const noexcept {
    return result_->rows_.field(index_, column);
}

inline std::optional<std::string_view> row::operator[](std::size_t column) const {
    const auto width = result_->columns().size();
    if (column >= width) [[unlikely]] detail::throw_no_such_column(column, width);
    return field(column);
}

inline std::optional<std::string_view> row::operator[](std::string_view column_name) const {
    return (*this)[result_->column_index(column_name)];
}

inline std::string_view row::text(std::size_t column) const {
    auto v = (*this)[column];
    if (!v) throw error(errc::unexpected_null, "column \"" + result_->columns()[column].name + "\" is NULL");
    return *v;
}

template <class T>
T row::get(std::size_t column) const {
    const auto& columns = result_->columns();
    if (column >= columns.size()) [[unlikely]] detail::throw_no_such_column(column, columns.size());
    const auto& c = columns[column];
    return decode_field<T>(field(column), field_type{c.type_oid, c.type_modifier, static_cast<format>(c.format)},
                           c.name);
}

template <class T>
T row::get(std::string_view column_name) const {
    return get<T>(result_->column_index(column_name));
}

template <class... Ts>
std::tuple<Ts...> row::as() const {
    if (size() != sizeof...(Ts))
        throw error(errc::type_mismatch, "row has " + std::to_string(size()) + " columns, as<> reads " +
                                             std::to_string(sizeof...(Ts)));
    return [this]<std::size_t... I>(std::index_sequence<I...>) {
        return std::tuple<Ts...>{get<Ts>(I)...};
    }(std::index_sequence_for<Ts...>{});
}

}  // namespace pgcoro
