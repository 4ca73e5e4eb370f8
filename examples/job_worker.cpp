// job_worker [--name NAME] [--poll-seconds N] [--work-ms N] [CONNINFO]
//
// A job queue worker in the style of Graphile Worker or River. Jobs are rows
// of job_queue; inserting some fires a trigger that NOTIFYs job_queue. Any
// number of workers (processes) may run at once:
//   - each claims one job at a time with FOR UPDATE SKIP LOCKED, so two
//     workers never take the same job and never wait for each other, and
//     does it and records it in the same transaction (exactly once);
//   - a pgcoro::listener wakes it when jobs arrive; a slow poll is the
//     safety net;
//   - when the listener's session is lost, notifications sent in the gap
//     are gone: on `reconnected` it catches up by looking for work.
// Enqueue:  INSERT INTO job_queue (n) SELECT generate_series(1, 100);
// The "work" squares n, after sleeping --work-ms. SIGINT/SIGTERM: finish
// the job in hand, then exit 0. CONNINFO as libpq's (PG* variables too).
#include <pgcoro.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <iostream>
#include <string>

namespace asio = boost::asio;
using namespace asio::experimental::awaitable_operators;

namespace {

// Created once by whichever worker comes first (the advisory lock makes the
// others wait rather than race it).
constexpr std::string_view schema = R"sql(
SELECT pg_advisory_xact_lock(727274);
CREATE TABLE IF NOT EXISTS job_queue (
    id bigserial PRIMARY KEY, n bigint NOT NULL,
    result bigint, done_by text, done_at timestamptz);
CREATE TABLE IF NOT EXISTS job_runs (job_id bigint NOT NULL, worker text NOT NULL);
CREATE OR REPLACE FUNCTION job_queue_notify() RETURNS trigger LANGUAGE plpgsql AS
    $$ BEGIN PERFORM pg_notify('job_queue', ''); RETURN NULL; END $$;
CREATE OR REPLACE TRIGGER job_queue_notify AFTER INSERT ON job_queue
    FOR EACH STATEMENT EXECUTE FUNCTION job_queue_notify();
)sql";

constexpr std::string_view claim_sql =
    "SELECT id, n FROM job_queue WHERE done_at IS NULL ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED";
constexpr std::string_view finish_sql = "UPDATE job_queue SET result = $2, done_by = $3, done_at = now() WHERE id = $1";
constexpr std::string_view record_sql = "INSERT INTO job_runs (job_id, worker) VALUES ($1, $2)";

struct worker {
    pgcoro::pool& pool;
    std::string name;
    std::chrono::milliseconds work_time;
    bool stopping = false;
    long done = 0;

    // Claims, does and commits one job; false when none is left to claim.
    asio::awaitable<bool> do_one_job() {
        auto conn = co_await pool.acquire();
        auto tx = co_await conn->begin();
        auto claimed = co_await conn->query(claim_sql);
        if (claimed.size() == 0) co_return false;  // rolled back as tx goes
        const auto [id, n] = claimed[0].as<std::int64_t, std::int64_t>();
        asio::steady_timer work(co_await asio::this_coro::executor, work_time);  // the job's real work goes here
        co_await work.async_wait(asio::use_awaitable);
        co_await conn->execute(finish_sql, id, n * n, name);
        co_await conn->execute(record_sql, id, name);
        co_await tx.commit();  // the row lock holds until here
        ++done;
        co_return true;
    }

    // Works until the queue is empty (or a signal came). A failure (the
    // server went away) is reported and retried at the next wake-up.
    asio::awaitable<void> drain(const std::string& why) {
        long count = 0;
        try {
            while (!stopping && co_await do_one_job()) ++count;
        } catch (const pgcoro::error& e) {
            std::cerr << name << ": " << e.what() << '\n';
        }
        std::cout << name << ": " << why << ": " << count << " jobs" << std::endl;
    }
};

asio::awaitable<void> run(std::string conninfo, std::string name, std::chrono::seconds poll,
                          std::chrono::milliseconds work_time) {
    const auto cfg = pgcoro::config::parse(conninfo);
    auto ex = co_await asio::this_coro::executor;
    {
        auto conn = co_await pgcoro::connection::connect(cfg);
        co_await conn.simple_query(schema);  // one implicit transaction: the lock lasts to its end
        co_await conn.close();
    }
    pgcoro::pool pool(ex, cfg, {.max_size = 2});
    pgcoro::listener listener(pool);
    worker w{pool, name, work_time};

    // A signal wakes the wait below and stops the loop between jobs.
    asio::steady_timer wake(ex);
    asio::signal_set signals(ex, SIGINT, SIGTERM);
    signals.async_wait([&](boost::system::error_code ec, int) {
        if (ec) return;
        w.stopping = true;
        wake.cancel();
    });

    co_await listener.listen("job_queue");  // before the first look: no job slips between
    std::cout << name << ": listening (backend " << listener.backend_pid() << ")" << std::endl;
    co_await w.drain("startup");
    while (!w.stopping) {
        wake.expires_after(poll);
        boost::system::error_code ec;  // a cancelled wait completes too, rather than throw
        auto event_arrives = listener.next();
        auto time_is_up = wake.async_wait(asio::redirect_error(asio::use_awaitable, ec));
        auto woke = co_await (std::move(event_arrives) || std::move(time_is_up));
        if (w.stopping) break;
        if (woke.index() == 1) {
            co_await w.drain("poll");
            continue;
        }
        const auto& event = std::get<0>(woke);
        if (event.what == pgcoro::listener_event::kind::notification) {
            co_await w.drain("notified");
        } else {
            // Notifications may have been missed: look for work.
            const bool reconnected = event.what == pgcoro::listener_event::kind::reconnected;
            std::cout << name << ": " << (reconnected ? "listener reconnected" : "notifications dropped") << " ("
                      << event.cause << ")" << std::endl;
            co_await w.drain("caught up");
        }
    }
    signals.cancel();
    co_await listener.close();
    co_await pool.close();
    std::cout << name << ": stopped after " << w.done << " jobs" << std::endl;
}

}  // namespace

int main(int argc, char** argv) {
    std::string name = "worker", conninfo;
    std::chrono::seconds poll{30};
    std::chrono::milliseconds work_time{5};
    try {
        for (int i = 1; i < argc; ++i) {
            const std::string arg = argv[i];
            if (arg == "--name" && i + 1 < argc) name = argv[++i];
            else if (arg == "--poll-seconds" && i + 1 < argc) poll = std::chrono::seconds(std::stoi(argv[++i]));
            else if (arg == "--work-ms" && i + 1 < argc) work_time = std::chrono::milliseconds(std::stoi(argv[++i]));
            else conninfo = arg;
        }
    } catch (const std::exception&) {  // a number that is not one
        std::cerr << "usage: job_worker [--name NAME] [--poll-seconds N] [--work-ms N] [CONNINFO]\n";
        return 2;
    }
    asio::io_context io;
    int status = 0;
    asio::co_spawn(io, run(conninfo, name, poll, work_time), [&](std::exception_ptr e) {
        if (!e) return;
        status = 1;
        try {
            std::rethrow_exception(e);
        } catch (const pgcoro::server_error& err) {
            std::cerr << name << ": error: " << err.sqlstate() << ": " << err.message() << '\n';
        } catch (const std::exception& err) {
            std::cerr << name << ": error: " << err.what() << '\n';
        }
    });
    io.run();
    return status;
}
