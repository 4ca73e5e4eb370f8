// Where a session stands, owned by the session: whether an operation or an
// open exchange holds it, whether it is broken, what the server's last
// ReadyForQuery said, and the statements queued for its next operation.
// Changed only through the transitions below, by the runner, the
// operations and the objects a connection hands out.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "../protocol/backend.hpp"

namespace pgcoro::detail {

// A protocol exchange that spans several operations: a row_stream between
// chunks, a COPY in either direction. Until it ends, the session belongs to
// the object driving it; if that object goes away early, the next operation
// ends the exchange first (see finish_abandoned_exchange).
enum class open_exchange {
    none,
    suspended_portal,  // Execute with a row limit sent, Sync still owed
    reading_ahead,     // a suspended portal's next Execute sent, its answer unread
    streaming_portal,  // one Execute for every row and its Sync sent: rows still arriving
    copy_in,           // COPY FROM STDIN: CopyDone or CopyFail owed
    copy_out,          // COPY TO STDOUT: data still arriving
};

class session_state {
public:
    // --- an operation at a time (operation.hpp) --------------------------------
    bool busy() const noexcept { return busy_; }
    void begin_operation() noexcept { busy_ = true; }
    // The operation is over; an exchange it left open keeps the session for
    // the object driving it.
    void end_operation() noexcept { busy_ = !broken_ && exchange_ != open_exchange::none; }

    // --- exchanges spanning operations -----------------------------------------
    open_exchange exchange() const noexcept { return exchange_; }
    void enter_exchange(open_exchange e) noexcept { exchange_ = e; }
    void exchange_ended() noexcept { exchange_ = open_exchange::none; }
    // The object driving exchange `e` is gone before its end: the session is
    // free again, and its next operation ends the exchange.
    void let_go_of(open_exchange e) noexcept {
        if (!broken_ && exchange_ == e) busy_ = false;
    }

    // --- failure ---------------------------------------------------------------
    bool broken() const noexcept { return broken_; }
    // Its connection object is gone (an operation still running then fails).
    bool abandoned() const noexcept { return abandoned_; }
    void mark_abandoned() noexcept { abandoned_ = true; }

    // --- what the server reported ------------------------------------------------
    protocol::transaction_status transaction() const noexcept { return transaction_; }

    // --- statements for the next operation -------------------------------------
    // Queued by an object that could not await it (a transaction destroyed
    // without commit queues its ROLLBACK); sent before the next operation.
    void defer(std::string_view sql) {
        deferred_sql_ += sql;
        deferred_sql_ += ';';
    }
    bool has_deferred() const noexcept { return !deferred_sql_.empty(); }
    std::string take_deferred() noexcept {
        std::string sql = std::move(deferred_sql_);
        deferred_sql_.clear();
        return sql;
    }

    // Numbers for the names of savepoints and explicitly prepared statements.
    std::uint64_t next_savepoint_number() noexcept { return ++savepoints_; }
    std::uint64_t next_prepared_number() noexcept { return ++prepared_; }

protected:
    void set_broken() noexcept { broken_ = true; }
    void set_transaction(protocol::transaction_status t) noexcept { transaction_ = t; }

private:
    protocol::transaction_status transaction_ = protocol::transaction_status::idle;
    open_exchange exchange_ = open_exchange::none;
    bool broken_ = false;
    bool busy_ = false;
    bool abandoned_ = false;
    std::string deferred_sql_;
    std::uint64_t savepoints_ = 0;
    std::uint64_t prepared_ = 0;
};

}  // namespace pgcoro::detail
