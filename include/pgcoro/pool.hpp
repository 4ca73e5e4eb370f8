// A pool of connections with generation numbers.
//
//   pgcoro::pool pool(io.get_executor(), cfg, {.max_size = 16, .min_idle = 2});
//   {
//       auto conn = co_await pool.acquire();       // back to the pool at scope exit
//       auto r = co_await conn->query("SELECT ...", 42);
//   }
//   co_await pool.update(new_cfg);                 // new credentials/certs: bumps the generation
//   co_await pool.close();
//
// Every connection records the generation whose settings it was opened with,
// stamped when its connect starts. A settings change bumps the generation:
// acquire() never hands out an older one, idle older ones close at once,
// checked-out older ones close when returned, and a connect that was in
// flight across the bump is discarded when it completes.
//
// Threads: the pool's state is guarded by a mutex, so acquire() and returns
// may happen on any thread of the io_context; a connection returned while
// nobody waits stays in its thread's slot for that thread's next acquire(),
// which takes it without the mutex (pool/parking.hpp). Its background work (connects,
// closes, maintenance) runs on a strand of the executor it was given. Each
// acquire() waits on its caller's executor: call it from a strand or a
// single-threaded io_context, as any Asio coroutine must be.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string_view>

#include <string>
#include <utility>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include "util/compilation_mode.hpp"
#include "config.hpp"
#include "types/parameters.hpp"
#include "connection.hpp"
#include "pool/member_ptr.hpp"
#include "pool_options.hpp"
#if PGCORO_DEFINITIONS
#include "pool/background.hpp"
#include "pool/checkout.hpp"
#include "pool/core.hpp"
#include "pool/sharing.hpp"
#endif

namespace pgcoro {

namespace asio = boost::asio;
namespace detail {
class pool_core;
}

// A connection checked out of a pool; it goes back when this is destroyed.
class pooled_connection {
public:
    pooled_connection(pooled_connection&&) noexcept = default;
    pooled_connection& operator=(pooled_connection&& other) noexcept;
    ~pooled_connection();

    connection* operator->() const noexcept;
    connection& operator*() const noexcept;
    // The generation of the settings this connection was opened with.
    std::uint64_t generation() const noexcept;
    // Returns the connection to the pool now.
    void release() noexcept { give_back(); }
    explicit operator bool() const noexcept { return member_ != nullptr; }

private:
    friend class detail::pool_core;
    pooled_connection(detail::pool_core* core, detail::member_ptr member) : core_(core), member_(std::move(member)) {}

    void give_back() noexcept;

    // Not owning: the core outlives every connection it lent (pool_core::shut_down).
    detail::pool_core* core_;
    detail::member_ptr member_;
};

namespace detail {
struct pool_member;
}

// A pool connection lent for one pool.query()/execute(); given back (its
// load lowered) when this is destroyed.
class shared_lease {
public:
    shared_lease(shared_lease&& other) noexcept
        : core_(other.core_), member_(std::exchange(other.member_, nullptr)) {}
    shared_lease& operator=(shared_lease&&) = delete;
    ~shared_lease();
    connection& conn() const noexcept;

private:
    friend class detail::pool_core;
    shared_lease(detail::pool_core* core, detail::pool_member* member) noexcept : core_(core), member_(member) {}

    detail::pool_core* core_;  // outlives its lent connections (pool_core::shut_down)
    detail::pool_member* member_;
};

class pool {
public:
    pool(asio::any_io_executor executor, config cfg, pool_options options = {});
    pool(asio::any_io_executor executor, std::string_view conninfo, pool_options options = {})
        : pool(std::move(executor), config::parse(conninfo), std::move(options)) {}
    pool(const pool&) = delete;
    pool& operator=(const pool&) = delete;
    ~pool();

    // A connection of the current generation: an idle one, a new one, or the
    // next one returned, in the order acquires arrived. Fails after
    // acquire_timeout with the last connect error, if any. The pool must be
    // alive when the co_await starts, as for any Asio object's operation; the
    // connection it gives may outlive the pool.
    asio::awaitable<pooled_connection> acquire();

    // One statement on a connection shared with other coroutines' queries:
    // the least loaded of the current generation that serves the caller's
    // executor, a new one while the least loaded is busy and the pool may
    // grow. Concurrent requests on it are pipelined (docs/pipelining.md):
    // far fewer round trips and system calls than a connection each. For
    // statements that leave nothing behind in the session (no SET, no
    // temporary table, no transaction): those need acquire().
    //
    // The arguments are held as connection::query() holds them: small
    // values copied, anything else referenced until the co_await completes.
    template <class... Args>
    asio::awaitable<result> query(std::string_view sql, const Args&... args) {
        return shared_query<detail::stored_parameter<detail::parameter_type<Args>>...>(sql, args...);
    }
    template <class... Args>
    asio::awaitable<void> query_into(result& r, std::string_view sql, const Args&... args) {
        return shared_query_into<detail::stored_parameter<detail::parameter_type<Args>>...>(r, sql, args...);
    }
    template <class... Args>
    asio::awaitable<std::uint64_t> execute(std::string_view sql, const Args&... args) {
        return shared_execute<detail::stored_parameter<detail::parameter_type<Args>>...>(sql, args...);
    }

    // New settings, proven by opening one connection with them first; on
    // success they become the next generation, else nothing changes and
    // the error is thrown. Returns the new generation.
    asio::awaitable<std::uint64_t> update(config cfg);
    // A new password for the next connections (e.g. after ALTER ROLE ... PASSWORD).
    void set_password(std::string password);
    // Fresh sessions please, settings unchanged (a certificate rotated on
    // disk, a role's search_path changed). Returns the new generation.
    std::uint64_t bump();
    std::uint64_t generation() const;
    // Completes once every connection of a generation below `generation` has closed.
    asio::awaitable<void> retired(std::uint64_t generation);

    // New acquires fail, idle connections close with Terminate, checked-out
    // ones close when returned; completes when all are closed or at `limit`.
    asio::awaitable<void> close(std::chrono::milliseconds limit = std::chrono::seconds(30));

    pool_stats stats() const;

private:
    asio::awaitable<shared_lease> lease_shared();
    template <class... Stored>
    asio::awaitable<result> shared_query(std::string_view sql, Stored... args) {
        auto lease = co_await lease_shared();
        co_return co_await lease.conn().query(sql, args...);
    }
    template <class... Stored>
    asio::awaitable<void> shared_query_into(result& r, std::string_view sql, Stored... args) {
        auto lease = co_await lease_shared();
        co_await lease.conn().query_into(r, sql, args...);
    }
    template <class... Stored>
    asio::awaitable<std::uint64_t> shared_execute(std::string_view sql, Stored... args) {
        auto lease = co_await lease_shared();
        co_return co_await lease.conn().execute(sql, args...);
    }

    friend class listener;
    friend class cluster;
    std::shared_ptr<detail::pool_core> core_;
};

// The bodies: inline (header-only) or in the src.hpp TU (util/compilation_mode.hpp).
#if PGCORO_DEFINITIONS
PGCORO_DECL pooled_connection& pooled_connection::operator=(pooled_connection&& other) noexcept {
    if (this != &other) {
        give_back();
        core_ = other.core_;
        member_ = std::move(other.member_);
    }
    return *this;
}

PGCORO_DECL pooled_connection::~pooled_connection() { give_back(); }

PGCORO_DECL connection* pooled_connection::operator->() const noexcept { return &member_->conn; }

PGCORO_DECL connection& pooled_connection::operator*() const noexcept { return member_->conn; }

PGCORO_DECL std::uint64_t pooled_connection::generation() const noexcept { return member_->generation; }

PGCORO_DECL void pooled_connection::give_back() noexcept {
    if (member_) core_->release(std::move(member_));
}

PGCORO_DECL pool::pool(asio::any_io_executor executor, config cfg, pool_options options)
    : core_(std::make_shared<detail::pool_core>(std::move(executor), std::move(cfg), std::move(options))) {
    core_->start();
}

PGCORO_DECL pool::~pool() { core_->shut_down(); }

PGCORO_DECL asio::awaitable<pooled_connection> pool::acquire() { return core_->acquire<pooled_connection>(); }

PGCORO_DECL asio::awaitable<shared_lease> pool::lease_shared() { return core_->lease<shared_lease>(); }

PGCORO_DECL shared_lease::~shared_lease() {
    if (member_) core_->end_lease(member_);
}

PGCORO_DECL connection& shared_lease::conn() const noexcept { return member_->conn; }

PGCORO_DECL asio::awaitable<std::uint64_t> pool::update(config cfg) { return core_->update(std::move(cfg)); }

PGCORO_DECL void pool::set_password(std::string password) { core_->set_password(std::move(password)); }

PGCORO_DECL std::uint64_t pool::bump() { return core_->bump(); }

PGCORO_DECL std::uint64_t pool::generation() const { return core_->generation(); }

PGCORO_DECL asio::awaitable<void> pool::retired(std::uint64_t generation) { return core_->retired(generation); }

PGCORO_DECL asio::awaitable<void> pool::close(std::chrono::milliseconds limit) { return core_->close(limit); }

PGCORO_DECL pool_stats pool::stats() const { return core_->stats(); }
#endif  // PGCORO_DEFINITIONS

}  // namespace pgcoro
