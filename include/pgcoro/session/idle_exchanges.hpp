// Two small exchanges of an idle session: closing a prepared statement
// (Close and Sync: CloseComplete, ReadyForQuery), and waiting for a
// notification with nothing sent, where any message but the asynchronous
// ones is out of place; and the error for notifications dropped meanwhile.
#pragma once

#include <string>
#include <string_view>
#include <utility>

#include "runner.hpp"

namespace pgcoro::detail {

class close_statement_exchange : public keeps_first_error {
public:
    void start(session& s, std::string_view name) {
        protocol::encode_close(s.out(), protocol::object_kind::statement, name);
        protocol::encode_sync(s.out());
        s.expect_ready();
    }
    next_step on_message(session&, const protocol::backend_message& m) {
        using enum protocol::message_type;
        switch (m.type) {
        case close_complete:
            if (closed_) return next_step::unexpected;
            protocol::expect_empty_body(m.body, "CloseComplete");
            closed_ = true;
            return next_step::read;
        case ready_for_query: return closed_ || errors.failure ? errors.finish() : next_step::unexpected;
        default: return next_step::unexpected;
        }
    }
    const char* during() const noexcept { return "while closing a statement"; }

private:
    bool closed_ = false;
};

inline asio::awaitable<void> close_statement(session& s, std::string_view name) {
    close_statement_exchange exchange;
    exchange.start(s, name);
    co_await run_exchange(s, exchange);
}

class notification_wait {
public:
    next_step after_asynchronous(session& s) const noexcept {
        return s.notifications.empty() && s.notifications_dropped == 0 ? next_step::read : next_step::done;
    }
    next_step on_message(session&, const protocol::backend_message&) const noexcept { return next_step::unexpected; }
    next_step on_error(session&, diagnostics&&) const noexcept { return next_step::unexpected; }
    const char* during() const noexcept { return "while waiting for notifications"; }
};

// Once the notifications kept are taken, the news that others were not.
inline void throw_if_notifications_dropped(session& s) {
    if (!s.notifications.empty() || s.notifications_dropped == 0) return;
    const auto dropped = std::exchange(s.notifications_dropped, 0);
    throw error(errc::notifications_dropped,
                std::to_string(dropped) + " notification" + (dropped == 1 ? " was" : "s were") +
                    " dropped: more than config::max_pending_notifications (" +
                    std::to_string(s.settings().max_pending_notifications) +
                    ") waited to be taken; take them sooner or raise the limit");
}

}  // namespace pgcoro::detail
