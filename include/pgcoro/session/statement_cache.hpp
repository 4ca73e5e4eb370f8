// Prepared statements a connection has on the server (or, in describe mode,
// only their descriptions), keyed by SQL text and the parameter types it was
// prepared with, bounded with LRU eviction. A hit allocates nothing: the key
// is hashed and compared in place. Evicted statements are closed on the
// server with the next request. The cache also carries the connection's
// statement_mode, since that decides what it keeps.
#pragma once

#include <cstdint>
#include <cstring>
#include <functional>
#include <list>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "../result.hpp"
#include "../settings/config.hpp"

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

// "<prefix><tag in hex>_<number>": at most 7 + 16 + 1 + 20 bytes, below NAMEDATALEN.
inline std::string tagged_name(std::string_view prefix, std::uint64_t tag, std::uint64_t number) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string name(prefix);
    for (int shift = 60; shift >= 0; shift -= 4) name += digits[(tag >> shift) & 0xf];
    name += '_';
    name += std::to_string(number);
    return name;
}

class statement_cache {
public:
    explicit statement_cache(std::size_t capacity = 256, statement_mode mode = statement_mode::automatic)
        : capacity_(capacity),
          mode_(capacity == 0 ? statement_mode::unnamed : mode == statement_mode::automatic ? statement_mode::prepare : mode),
          watching_(capacity != 0 && mode == statement_mode::automatic) {}

    // --- the statement mode ----------------------------------------------------
    // prepare, describe or unnamed: what the connection does now (automatic
    // starts as prepare).
    statement_mode mode() const noexcept { return mode_; }
    bool names_statements() const noexcept { return mode_ == statement_mode::prepare; }
    // Automatic mode, not yet settled on describe.
    bool watching_for_shared_sessions() const noexcept { return watching_ && mode_ == statement_mode::prepare; }
    // Automatic mode asks whether the connection goes through a proxy with
    // its first preparation, and again before the next one after the server
    // lost a statement we prepared.
    bool needs_probe() const noexcept { return watching_for_shared_sessions() && (!probed_ || suspected_); }
    void suspect_shared_session() noexcept { suspected_ = watching_for_shared_sessions(); }
    bool shared_session_suspected() const noexcept { return suspected_; }
    // The answer. Through a proxy, every server session may be another one:
    // keep descriptions only, and forget the statements without closing them
    // (the Close would reach whichever session is current).
    void settle(bool shared) noexcept {
        probed_ = true;
        suspected_ = false;
        if (!shared) return;
        watching_ = false;
        shared_ = true;
        mode_ = statement_mode::describe;
        clear();
        pending_close_.clear();
    }
    // The connection was found to go through a proxy that may hand it another
    // server session between transactions.
    bool server_session_shared() const noexcept { return shared_; }

    // A per-connection part of every name, so that no two connections behind
    // one transaction-pooling proxy ever mean different statements by one name.
    void set_name_tag(std::uint64_t tag) noexcept { tag_ = tag; }

    // --- the cache -------------------------------------------------------------
    bool enabled() const noexcept { return mode_ != statement_mode::unnamed; }
    std::size_t size() const noexcept { return entries_.size(); }
    std::size_t capacity() const noexcept { return capacity_; }

    statement_ptr find(std::string_view sql, std::span<const std::uint32_t> types) {
        if (!enabled()) return nullptr;
        // A connection mostly runs the statement it ran last: no hash for it.
        if (!entries_.empty() && entries_.front().matches(sql, types)) return entries_.front().statement;
        const auto h = hash(sql, types);
        auto [first, last] = index_.equal_range(h);
        for (auto it = first; it != last; ++it) {
            auto& e = *it->second;
            if (e.matches(sql, types)) {
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
            if (e.matches(sql, types)) {
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

    // A fresh server-side name; empty (the unnamed statement) unless this
    // mode names statements.
    std::string next_name() {
        if (!names_statements()) return {};
        return tagged_name("pgcoro_", tag_, ++counter_);
    }

    // Names of evicted statements not yet closed on the server.
    std::vector<std::string>& pending_close() noexcept { return pending_close_; }

private:
    struct entry {
        std::string sql;
        std::vector<std::uint32_t> types;
        statement_ptr statement;
        bool matches(std::string_view other_sql, std::span<const std::uint32_t> other_types) const noexcept {
            // Sizes first: most SQL texts that differ differ in length.
            return sql.size() == other_sql.size() && types.size() == other_types.size() &&
                   (sql.empty() || std::memcmp(sql.data(), other_sql.data(), sql.size()) == 0) &&
                   std::equal(types.begin(), types.end(), other_types.begin());
        }
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
    statement_mode mode_;
    bool watching_;
    bool probed_ = false;
    bool suspected_ = false;
    bool shared_ = false;
    std::uint64_t tag_ = 0;
    entry_list entries_;
    std::unordered_multimap<std::size_t, entry_list::iterator> index_;
    std::vector<std::string> pending_close_;
    std::uint64_t counter_ = 0;
};

}  // namespace pgcoro::detail
