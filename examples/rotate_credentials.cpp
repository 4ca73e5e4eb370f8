// rotate_credentials [--role NAME:PASSWORD] [CONNINFO]
//
// A pool serving queries from many coroutines while the password of its role
// is rotated underneath it, with no failed query and no restart.
//
// CONNINFO (or the PG* environment, as libpq reads it) is an administrator's
// connection, used to create the role and to ALTER its password. The pool
// connects to the same server as that role, taking the password from a
// simulated secrets provider (think Vault or AWS Secrets Manager) in its
// before_connect hook. Each rotation:
//   1. the provider makes a new password and sets it on the role (existing
//      sessions stay logged in: PostgreSQL checks passwords only at login),
//   2. pool.update() proves a connection with it and bumps the generation,
//   3. pool.retired() waits until the last session opened with the old one
//      is gone.
//
// Without --role it creates a throwaway role in the group pgcoro_examples
// (scripts/test-server lets its members log in) and drops it at the end;
// with --role it rotates that existing role and leaves it with the last
// password. Exit status: 0 if every query succeeded, 1 if one failed, 2 on
// any other error (SQLSTATE and message on stderr).
#include <pgcoro.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <iostream>
#include <random>
#include <string>

#include <unistd.h>

namespace asio = boost::asio;
using namespace std::chrono_literals;

namespace {

// A role name as a quoted SQL identifier.
std::string quoted(const std::string& identifier) {
    std::string q = "\"";
    for (char c : identifier) q += c == '"' ? std::string(2, c) : std::string(1, c);
    return q + '"';
}

// Stands in for a secrets manager: holds the current password, hands it out
// after a network-ish delay, and makes a new one on rotation.
class secrets_provider {
public:
    explicit secrets_provider(std::string password) : password_(std::move(password)) {}

    // The pool's before_connect: the password for the connect about to start.
    asio::awaitable<void> fill_in(pgcoro::config& cfg) {
        asio::steady_timer round_trip(co_await asio::this_coro::executor, 2ms);
        co_await round_trip.async_wait(asio::use_awaitable);
        cfg.password = password_;
    }

    // A secrets manager's rotation: set the new password on the role, then
    // publish it. A connect that read the old one in between is refused and
    // retried after the pool's back-off: its query waits, it does not fail.
    asio::awaitable<void> rotate(pgcoro::connection& admin, const std::string& role) {
        auto next = random_password();
        const auto sql = "ALTER ROLE " + quoted(role) + " PASSWORD '" + next + "'";  // hex: nothing to escape
        co_await admin.simple_query(sql);
        password_ = std::move(next);
    }

    static std::string random_password() {
        std::random_device random;
        std::string pw;
        for (int i = 0; i < 24; ++i) pw += "0123456789abcdef"[random() % 16];
        return pw;
    }

private:
    std::string password_;
};

struct tally {
    long served = 0, failed = 0;
    int running = 0;  // clients still in their loop
    bool stop = false;
};

// One of many clients: a query whose answer it knows, again and again.
asio::awaitable<void> client(pgcoro::pool& pool, tally& t, std::int64_t id) {
    static constexpr std::string_view sql = "SELECT $1::int8 * 2";
    ++t.running;
    while (!t.stop) {
        try {
            auto conn = co_await pool.acquire();
            auto r = co_await conn->query(sql, id);
            if (r[0].get<std::int64_t>(0) != id * 2) throw std::runtime_error("wrong answer");
            ++t.served;
        } catch (const std::exception& e) {
            ++t.failed;
            std::cerr << "query failed: " << e.what() << '\n';
        }
    }
    --t.running;
}

asio::awaitable<int> run(std::string conninfo, std::string role, std::string password) {
    const auto admin_cfg = pgcoro::config::parse(conninfo);
    auto admin = co_await pgcoro::connection::connect(admin_cfg);
    const bool own_role = role.empty();
    if (own_role) {
        role = "pgcoro_rotate_" + std::to_string(::getpid());
        password = secrets_provider::random_password();
        const auto create = "CREATE ROLE " + quoted(role) + " LOGIN IN ROLE pgcoro_examples PASSWORD '" + password + "'";
        co_await admin.simple_query(create);
    }
    secrets_provider secrets(password);

    // The pool: the administrator's server and TLS settings, the role's name,
    // and a password fetched from the provider before every connect.
    auto cfg = admin_cfg;
    cfg.user = role;
    cfg.password.clear();
    if (cfg.application_name.empty()) cfg.application_name = "rotate_credentials";
    pgcoro::pool_options options{.max_size = 4};
    options.before_connect = [&secrets](pgcoro::config& c) { return secrets.fill_in(c); };
    pgcoro::pool pool(co_await asio::this_coro::executor, cfg, options);

    tally t;
    auto ex = co_await asio::this_coro::executor;
    constexpr int clients = 32;
    for (int i = 0; i < clients; ++i) asio::co_spawn(ex, client(pool, t, i), asio::detached);
    std::cout << "role " << role << ": " << clients << " coroutines querying through a pool of "
              << options.max_size << '\n';

    // Rotate three times while the clients run; on an error, stop them and report it.
    std::exception_ptr failure;
    asio::steady_timer pause(ex);
    try {
        for (int rotation = 1; rotation <= 3; ++rotation) {
            pause.expires_after(400ms);
            co_await pause.async_wait(asio::use_awaitable);
            const auto started = std::chrono::steady_clock::now();
            co_await secrets.rotate(admin, role);
            const auto generation = co_await pool.update(cfg);  // before_connect supplies the password
            co_await pool.retired(generation);
            const auto ms =
                std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
            std::cout << "rotation " << rotation << ": generation " << generation << ", old sessions retired in "
                      << ms.count() << " ms, queries so far " << t.served << '\n';
        }
        pause.expires_after(400ms);
        co_await pause.async_wait(asio::use_awaitable);
    } catch (...) {
        failure = std::current_exception();
    }
    // Let every client finish its query before closing the pool: an
    // acquire still waiting when the pool closes would fail.
    t.stop = true;
    while (t.running > 0) {
        pause.expires_after(10ms);
        co_await pause.async_wait(asio::use_awaitable);
    }
    const auto stats = pool.stats();
    co_await pool.close();

    // The first password no longer opens a session.
    std::string refused = "no";
    if (!failure) {
        auto old_cfg = cfg;
        old_cfg.password = password;
        try {
            auto c = co_await pgcoro::connection::connect(old_cfg);
            co_await c.close();
        } catch (const pgcoro::server_error& e) {
            refused = "yes (" + e.sqlstate() + ")";
        }
    }
    if (own_role) {
        const auto drop = "DROP ROLE " + quoted(role);
        co_await admin.simple_query(drop);
    }
    co_await admin.close();
    if (failure) std::rethrow_exception(failure);

    std::cout << "queries: served " << t.served << ", failed " << t.failed << '\n';
    std::cout << "connections: opened " << stats.connects << ", retired by rotation "
              << stats.closed(pgcoro::close_reason::generation) << '\n';
    std::cout << "first password refused now: " << refused << '\n';
    co_return t.failed == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
    std::string role, password, conninfo;
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        if (arg == "--role" && i + 1 < argc) {
            const std::string spec = argv[++i];
            const auto colon = spec.find(':');
            role = spec.substr(0, colon);
            password = colon == std::string::npos ? "" : spec.substr(colon + 1);
        } else {
            conninfo = arg;
        }
    }
    asio::io_context io;
    int status = 2;
    asio::co_spawn(io, run(conninfo, role, password), [&](std::exception_ptr e, int s) {
        status = s;
        if (!e) return;
        try {
            std::rethrow_exception(e);
        } catch (const pgcoro::server_error& err) {
            std::cerr << "error: " << err.sqlstate() << ": " << err.message() << '\n';
        } catch (const std::exception& err) {
            std::cerr << "error: " << err.what() << '\n';
        }
        status = 2;
    });
    io.run();
    return status;
}
