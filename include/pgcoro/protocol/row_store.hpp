// Where a result keeps its rows. A row is stored as its cells (where each
// value sits, how long it is) followed by a copy of the DataRow body, in
// blocks that are reserved once and never grow past their capacity: a large
// result is copied once as it arrives, never again as it grows, and a
// result refilled in a loop reuses its blocks without allocating.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <string_view>
#include <vector>

#include "backend.hpp"
#include "../util/moved_out_count.hpp"

namespace pgcoro::detail {

class row_store {
public:
    std::size_t size() const noexcept { return rows_.size(); }

    void clear() noexcept {
        for (std::size_t b = 0; b < blocks_in_use_; ++b) blocks_[b].size = 0;
        blocks_in_use_ = 0;
        rows_.clear();
    }

    // Validates the DataRow against the column count and stores it; on a
    // malformed row nothing is stored.
    void append(std::string_view data_row_body, std::size_t width) {
        const std::size_t cells_size = width * sizeof(cell);
        auto& block = block_for(cells_size + data_row_body.size());
        const auto record = block.size;
        char* cells = block.bytes.get() + record;
        char* body = cells + cells_size;
        if (!data_row_body.empty()) std::memcpy(body, data_row_body.data(), data_row_body.size());
        // decode_data_row throws unless it reports every one of the width fields.
        protocol::decode_data_row({body, data_row_body.size()}, width, [&](std::size_t i, std::optional<std::string_view> v) {
            const cell c = v ? cell{static_cast<std::uint32_t>(v->data() - cells), static_cast<std::int32_t>(v->size())}
                             : cell{0, -1};
            std::memcpy(cells + i * sizeof(cell), &c, sizeof c);
        });
        block.size += cells_size + data_row_body.size();
        rows_.push_back({static_cast<std::uint32_t>(blocks_in_use_ - 1), static_cast<std::uint32_t>(record)});
    }

    // The value at (row, column); std::nullopt for NULL. Unchecked.
    std::optional<std::string_view> field(std::size_t row, std::size_t column) const noexcept {
        const auto at = rows_[row];
        const char* record = blocks_[at.block].bytes.get() + at.offset;
        cell c;
        std::memcpy(&c, record + column * sizeof(cell), sizeof c);
        if (c.length < 0) return std::nullopt;
        return std::string_view(record + c.offset, static_cast<std::size_t>(c.length));
    }

private:
    struct cell {
        std::uint32_t offset;  // from the start of the row's record
        std::int32_t length;   // -1: NULL
    };
    struct location {
        std::uint32_t block;
        std::uint32_t offset;
    };

    // Allocated at its final capacity and never grown, so storing a row is a
    // bounds check and two copies; a std::string would zero-fill the cells
    // first and grow out of line twice a row.
    struct block {
        std::unique_ptr<char[]> bytes;
        std::size_t size = 0;
        std::size_t capacity = 0;

        block() = default;
        block(block&&) noexcept = default;
        block& operator=(block&&) noexcept = default;
        block(const block& other) : size(other.size), capacity(other.size) {
            if (size == 0) return;
            bytes = std::make_unique_for_overwrite<char[]>(size);
            std::memcpy(bytes.get(), other.bytes.get(), size);
        }
        block& operator=(const block& other) {
            if (this != &other) *this = block(other);
            return *this;
        }
    };

    static constexpr std::size_t first_block = 1024;
    static constexpr std::size_t largest_block = 1 << 20;

    // A block with room for `size` more bytes: the current one, a cleared
    // one kept from earlier, or a new one twice the size of the last.
    block& block_for(std::size_t size) {
        if (blocks_in_use_ > 0) {
            auto& current = blocks_[blocks_in_use_ - 1];
            if (current.capacity - current.size >= size) return current;
        }
        const std::size_t previous = blocks_in_use_ > 0 ? blocks_[blocks_in_use_ - 1].capacity : first_block / 2;
        const std::size_t wanted = std::max(size, std::min(previous * 2, largest_block));
        if (blocks_in_use_ == blocks_.size()) blocks_.emplace_back();
        auto& next = blocks_[blocks_in_use_];
        if (next.capacity < wanted) {
            next.bytes = std::make_unique_for_overwrite<char[]>(wanted);
            next.capacity = wanted;
        }
        ++blocks_in_use_;
        return next;
    }

    std::vector<block> blocks_;
    moved_out_count blocks_in_use_;  // a move takes the blocks (and rows) and leaves none
    std::vector<location> rows_;
};

}  // namespace pgcoro::detail
