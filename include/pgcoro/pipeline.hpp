// A batch of statements sent in one go and answered in order, like libpq's
// pipeline mode. sync() marks where a failure stops: a failed statement
// aborts the statements after it up to the next sync point, and each
// outcome says whether its statement ran, failed, or was aborted.
//
//   pgcoro::pipeline p;
//   p.query("INSERT INTO t VALUES ($1)", 1).query("INSERT INTO t VALUES ($1)", 2).sync();
//   p.query("SELECT count(*) FROM t");
//   auto outcomes = co_await conn.run(p);
//
// A pipeline and an outcome vector refilled in a loop (clear(), query()...,
// co_await conn.run_into(p, outcomes)) reuse their storage, so batches of
// cached statements allocate nothing once warm.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "util/moved_out_count.hpp"
#include "types/parameters.hpp"
#include "result.hpp"

namespace pgcoro {

namespace detail {
struct pipeline_access;
}

struct pipeline_outcome {
    enum class status { ok, failed, aborted };
    status state = status::aborted;
    result rows;                          // ok: the statement's result
    std::optional<diagnostics> error;     // failed: the server's error

    bool ok() const noexcept { return state == status::ok; }
};

class pipeline {
public:
    // Queues a statement; its arguments are encoded now, so they need not
    // outlive this call.
    template <class... Args>
    pipeline& query(std::string_view sql, const Args&... args) {
        const auto bound = detail::bind_parameters(args...);
        const auto writer = bound.writer();
        // A statement slot left by clear() keeps its strings' capacity.
        if (size_ == statements_.size()) statements_.emplace_back();
        auto& s = statements_[size_];
        s.sql.assign(sql);
        s.types.assign(writer.types.begin(), writer.types.end());
        s.formats.assign(writer.formats.begin(), writer.formats.end());
        s.param_offset = params_.size();
        s.sync_after = false;
        for (std::size_t i = 0; i < writer.types.size(); ++i) {
            const auto length_at = params_.size();
            params_.append(4, '\0');
            const auto start = params_.size();
            const bool not_null = writer.write(writer.context, i, params_);
            const auto n = not_null ? static_cast<std::uint32_t>(params_.size() - start) : 0xffffffffu;
            for (int b = 0; b < 4; ++b) params_[length_at + static_cast<std::size_t>(b)] = static_cast<char>(n >> (24 - 8 * b));
        }
        s.param_length = params_.size() - s.param_offset;
        ++size_;
        return *this;
    }

    // A sync point after the statements queued so far.
    pipeline& sync() {
        if (size_ > 0) statements_[size_ - 1].sync_after = true;
        return *this;
    }

    std::size_t size() const noexcept { return size_; }
    bool empty() const noexcept { return size_ == 0; }
    void clear() noexcept {
        size_ = 0;
        params_.clear();
    }

private:
    friend struct detail::pipeline_access;
    struct statement {
        std::string sql;
        std::vector<std::uint32_t> types;
        std::vector<std::int16_t> formats;
        std::size_t param_offset = 0;
        std::size_t param_length = 0;
        bool sync_after = false;
    };
    std::vector<statement> statements_;  // the first size_ are queued; the rest are spare slots
    detail::moved_out_count size_;  // a move takes the slots and leaves none
    std::string params_;  // every statement's parameters, in Bind's wire form
};

}  // namespace pgcoro
