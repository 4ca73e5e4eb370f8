// Prepared statements a connection has on the server, keyed by SQL text and
// the parameter types it was prepared with, bounded with LRU eviction. A hit
// allocates nothing: the key is hashed and compared in place. Evicted
// statements are closed on the server with the next request.
#pragma once

#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "../result.hpp"

namespace pgcoro::detail {

// What the server told us about a prepared statement, plus the result
// formats pgcoro chose for its columns.
struct statement_description {
    std::string name;                          // server-side name; empty: the unnamed statement
    std::vector<std::uint32_t> param_types;    // ParameterDescription
    std::vector<column> columns;               // RowDescription, with the chosen formats
    std::vector<std::int16_t> result_formats;  // one per column, for Bind
};
using statement_ptr = std::shared_ptr<const statement_description>;

class statement_cache {
public:
    explicit statement_cache(std::size_t capacity = 256) : capacity_(capacity) {}

    bool enabled() const noexcept { return capacity_ > 0; }
    std::size_t size() const noexcept { return entries_.size(); }
    std::size_t capacity() const noexcept { return capacity_; }

    statement_ptr find(std::string_view sql, std::span<const std::uint32_t> types) {
        const auto h = hash(sql, types);
        auto [first, last] = index_.equal_range(h);
        for (auto it = first; it != last; ++it) {
            auto& e = *it->second;
            if (e.sql == sql && std::equal(e.types.begin(), e.types.end(), types.begin(), types.end())) {
                entries_.splice(entries_.begin(), entries_, it->second);  // most recently used first
                return e.statement;
            }
        }
        return nullptr;
    }

    void insert(std::string_view sql, std::span<const std::uint32_t> types, statement_ptr statement) {
        if (!enabled()) return;
        erase(sql, types);
        while (entries_.size() >= capacity_) evict(std::prev(entries_.end()));
        entries_.push_front({std::string(sql), {types.begin(), types.end()}, std::move(statement)});
        index_.emplace(hash(sql, types), entries_.begin());
    }

    // Forgets a statement (its plan changed, or the server lost it) and
    // closes it on the server.
    void erase(std::string_view sql, std::span<const std::uint32_t> types) {
        auto [first, last] = index_.equal_range(hash(sql, types));
        for (auto it = first; it != last; ++it) {
            auto& e = *it->second;
            if (e.sql == sql && std::equal(e.types.begin(), e.types.end(), types.begin(), types.end())) {
                evict(it->second);
                return;
            }
        }
    }

    // Forgets every statement without closing them (the server already
    // dropped them, e.g. after DISCARD ALL).
    void clear() noexcept {
        index_.clear();
        entries_.clear();
    }

    // A fresh server-side name.
    std::string next_name() { return "pgcoro_" + std::to_string(++counter_); }

    // Names of evicted statements not yet closed on the server.
    std::vector<std::string>& pending_close() noexcept { return pending_close_; }

private:
    struct entry {
        std::string sql;
        std::vector<std::uint32_t> types;
        statement_ptr statement;
    };
    using entry_list = std::list<entry>;

    static std::size_t hash(std::string_view sql, std::span<const std::uint32_t> types) noexcept {
        std::size_t h = std::hash<std::string_view>{}(sql);
        for (auto t : types) h = h * 1000003u ^ t;
        return h;
    }

    void evict(entry_list::iterator victim) {
        auto [first, last] = index_.equal_range(hash(victim->sql, victim->types));
        for (auto it = first; it != last; ++it) {
            if (it->second == victim) {
                index_.erase(it);
                break;
            }
        }
        if (!victim->statement->name.empty()) pending_close_.push_back(victim->statement->name);
        entries_.erase(victim);
    }

    std::size_t capacity_;
    entry_list entries_;
    std::unordered_multimap<std::size_t, entry_list::iterator> index_;
    std::vector<std::string> pending_close_;
    std::uint64_t counter_ = 0;
};

}  // namespace pgcoro::detail
