// The state of COPY TO STDOUT that a copy_reader holds, and what the server
// announced for a COPY; the exchange's steps are in copy_exchanges.hpp, with
// the session.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "../error.hpp"
#include "../protocol/framing.hpp"
#include "exchange_step.hpp"

namespace pgcoro {

// What the server announced for a COPY: text (or csv) or binary, per column.
struct copy_format {
    bool binary = false;
    std::vector<std::int16_t> column_formats;  // 0 text, 1 binary
};

namespace detail {

class session;

// COPY TO STDOUT: suspends at each CopyData with its body in `data`; done
// after CopyDone, CommandComplete and ReadyForQuery.
class copy_out_exchange {
public:
    next_step on_message(session& s, const protocol::backend_message& m);
    next_step on_error(session& s, diagnostics&& d);
    const char* during() const noexcept { return "during COPY TO STDOUT"; }

    std::optional<std::string_view> data;  // the last CopyData, valid until the next read
    std::string tag;

private:
    enum class stage { data, complete, ready };
    stage at_ = stage::data;
    first_error errors_;
};

}  // namespace detail

}  // namespace pgcoro
