// A transaction block, or a savepoint inside one. It ends with commit() or
// rollback(); left without either (an exception, a cancellation, an early
// co_return), it is rolled back. A destructor cannot await, so that rollback
// is queued on the session and sent before the connection's next operation.
#pragma once

#include <memory>
#include <string>

#include <vector>

#include <boost/asio/awaitable.hpp>

#include "util/compilation_mode.hpp"
#include "result.hpp"
#include "transaction_options.hpp"
#if PGCORO_DEFINITIONS
#include "session/operation.hpp"
#include "session/simple_query.hpp"
#endif

namespace pgcoro {

namespace asio = boost::asio;
namespace detail {
class session;
}

class transaction {
public:
    transaction(transaction&& other) noexcept
        : session_(std::move(other.session_)), savepoint_(std::move(other.savepoint_)) {}
    transaction& operator=(transaction&&) = delete;
    transaction(const transaction&) = delete;

    ~transaction();

    // Starts a transaction block on the session (connection::begin).
    static asio::awaitable<transaction> begin(std::shared_ptr<detail::session> session, transaction_options options);

    // A nested transaction: SAVEPOINT now, RELEASE on commit, ROLLBACK TO on
    // rollback. The outer transaction stays open either way.
    asio::awaitable<transaction> savepoint();

    // Commits (or releases the savepoint). A transaction that failed earlier
    // is rolled back by the server instead: that is reported as
    // errc::transaction_rolled_back, never as success.
    asio::awaitable<void> commit();

    asio::awaitable<void> rollback();

    bool active() const noexcept { return session_ != nullptr; }
    bool is_savepoint() const noexcept { return !savepoint_.empty(); }

private:
    transaction(std::shared_ptr<detail::session> session, std::string savepoint)
        : session_(std::move(session)), savepoint_(std::move(savepoint)) {}

    std::string rollback_statement() const {
        if (savepoint_.empty()) return "ROLLBACK";
        return "ROLLBACK TO SAVEPOINT " + savepoint_ + "; RELEASE SAVEPOINT " + savepoint_;
    }

    void require_active(const char* call) const {
        if (!session_) throw error(errc::invalid_state, std::string(call) + " on a transaction that has already ended");
    }

    // Runs SQL on the session; returns the last command tag.
    static asio::awaitable<std::string> run(std::shared_ptr<detail::session> session, std::string sql);

    std::shared_ptr<detail::session> session_;  // null once ended
    std::string savepoint_;                     // empty: the top-level transaction
};

// The bodies: inline (header-only) or in the src.hpp TU (util/compilation_mode.hpp).
#if PGCORO_DEFINITIONS
PGCORO_DECL transaction::~transaction() {
    if (!session_ || session_->broken()) return;
    session_->defer(rollback_statement());
}

PGCORO_DECL asio::awaitable<transaction> transaction::begin(std::shared_ptr<detail::session> session, transaction_options options) {
    if (session->transaction() != protocol::transaction_status::idle && !session->has_deferred())
        throw error(errc::invalid_state, "a transaction is already open on this connection; use savepoint() to nest");
    co_await run(session, options.begin_statement());
    co_return transaction(std::move(session), {});
}

PGCORO_DECL asio::awaitable<transaction> transaction::savepoint() {
    require_active("savepoint()");
    auto name = "pgcoro_savepoint_" + std::to_string(session_->next_savepoint_number());
    co_await run(session_, "SAVEPOINT " + name);
    co_return transaction(session_, std::move(name));
}

PGCORO_DECL asio::awaitable<void> transaction::commit() {
    require_active("commit()");
    auto session = std::move(session_);
    if (!savepoint_.empty()) {
        co_await run(session, "RELEASE SAVEPOINT " + savepoint_);
        co_return;
    }
    const auto tag = co_await run(session, "COMMIT");
    if (tag == "ROLLBACK")
        throw error(errc::transaction_rolled_back, "COMMIT rolled the transaction back: an earlier statement in it failed");
}

PGCORO_DECL asio::awaitable<void> transaction::rollback() {
    require_active("rollback()");
    auto session = std::move(session_);
    co_await run(session, rollback_statement());
}

PGCORO_DECL asio::awaitable<std::string> transaction::run(std::shared_ptr<detail::session> session, std::string sql) {
    std::vector<result> results;
    co_await detail::run_operation(session, [&](detail::session& s) { return detail::run_simple_query(s, sql, results); });
    co_return results.empty() ? std::string{} : results.back().command_tag();
}
#endif  // PGCORO_DEFINITIONS

}  // namespace pgcoro
