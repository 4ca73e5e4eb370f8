// The pool used from four threads of one io_context, each coroutine on its
// own strand (the documented way): every result right, every connection
// accounted for. scripts/run-tests also builds this program with
// -Db_sanitize=thread and runs it, so a data race fails the suite.
#include "support/pool_helpers.hpp"
#include "support/test_server.hpp"

#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include "support/catch.hpp"

#include <pgcoro/pool.hpp>

#include <atomic>
#include <mutex>
#include <thread>
#include <vector>

namespace asio = boost::asio;
using namespace asio::experimental::awaitable_operators;
using namespace std::chrono_literals;
using test::sleep_for;

namespace {

struct tally {
    std::atomic<int> queries{0}, wrong{0}, cancelled_acquires{0}, running{0};
    std::mutex mutex;
    std::string first_failure;

    void failed(std::exception_ptr e) {
        std::lock_guard lock(mutex);
        if (first_failure.empty()) first_failure = pgcoro::detail::describe_exception(e);
    }
    // A co_spawn completion that keeps the first failure.
    auto keep_failure() {
        return [this](std::exception_ptr e) {
            if (e) failed(e);
        };
    }
};

// What every test here ends with: no coroutine failed, no answer was another's.
void check_clean(const tally& t) {
    INFO(t.first_failure);
    CHECK(t.first_failure.empty());
    CHECK(t.wrong == 0);
}

// Runs io on four threads until it runs out of work.
void run_on_four_threads(asio::io_context& io) {
    std::vector<std::thread> threads;
    for (int i = 0; i < 4; ++i) threads.emplace_back([&io] { io.run(); });
    for (auto& th : threads) th.join();
}

constexpr int workers = 64;
constexpr int rounds = 60;

asio::awaitable<void> worker(pgcoro::pool& pool, int id, tally& t) {
    for (int i = 0; i < rounds; ++i) {
        if (i % 9 == 0) {
            // A waiter that gives up: the pool must neither hand it a connection nor lose one.
            auto outcome = co_await (pool.acquire() || sleep_for(1ms));
            if (outcome.index() == 1) ++t.cancelled_acquires;
            continue;
        }
        auto conn = co_await pool.acquire();
        auto r = co_await conn->query("SELECT $1::int4 * 1000 + $2::int4", id, i);
        if (r[0].get<int>(0) != id * 1000 + i) ++t.wrong;
        ++t.queries;
    }
}

// Bumps the generation twice while the workers run (by progress, not by
// time: a connect in flight across a bump is discarded, so bumps faster than
// a SCRAM login would starve the pool, by design) and reads stats throughout.
asio::awaitable<void> meddler(pgcoro::pool& pool, tally& t) {
    const int total = workers * (rounds - (rounds + 8) / 9);
    int bumps = 0;
    while (t.running > 0) {
        co_await sleep_for(2ms);
        if (bumps < 2 && t.queries >= total * (bumps + 1) / 3) {
            pool.bump();
            ++bumps;
        }
        const auto s = pool.stats();
        if (s.in_use > 6) throw std::logic_error("more connections in use than max_size");
    }
}

asio::awaitable<void> conductor(pgcoro::pool& pool, asio::io_context& io, tally& t) {
    t.running = workers;
    auto done = [&t](std::exception_ptr e) {
        if (e) t.failed(e);
        --t.running;
    };
    for (int id = 0; id < workers; ++id) asio::co_spawn(asio::make_strand(io), worker(pool, id, t), done);
    asio::co_spawn(asio::make_strand(io), meddler(pool, t), t.keep_failure());
    while (t.running > 0) co_await sleep_for(10ms);
    co_await pool.close();  // stops the pool's background work, so run() returns
}

}  // namespace

TEST_CASE("pool: 64 coroutines on 4 threads, one strand each, with bumps and stats alongside") {
    asio::io_context io(4);
    pgcoro::pool pool(io.get_executor(), test::pool_test_config("pgcoro_pool_threads"),
                      {.max_size = 6, .max_connecting = 3});
    tally t;
    asio::co_spawn(asio::make_strand(io), conductor(pool, io, t), t.keep_failure());
    run_on_four_threads(io);
    INFO(t.first_failure);
    CHECK(t.first_failure.empty());
    const int acquires_per_worker = rounds - (rounds + 8) / 9;
    CHECK(t.queries == workers * acquires_per_worker);
    CHECK(t.wrong == 0);
    const auto s = pool.stats();
    CHECK(s.in_use == 0);
    CHECK(s.waiting == 0);
    CHECK(s.size == 0);
    CHECK(s.acquires >= static_cast<std::uint64_t>(workers * acquires_per_worker));
    CHECK(s.generation == 3);
}

namespace {

// pool.query() from coroutines on 8 strands over 4 threads, 6 on each
// strand sharing a connection, with fewer connections than strands: shared
// connections go from one strand to another when quiet. Some queries are
// cut short by a timer; every answer that arrives must be its caller's.
asio::awaitable<void> sharing_worker(pgcoro::pool& pool, int id, tally& t) {
    unsigned random = static_cast<unsigned>(id) * 2654435761u;
    for (int i = 0; i < 80; ++i) {
        random = random * 1103515245u + 12345u;
        pgcoro::result r;
        auto query = pool.query_into(r, "SELECT $1::int4 * 1000 + $2::int4", id, i);
        if (random % 4 == 0) {
            asio::steady_timer limit(co_await asio::this_coro::executor, std::chrono::microseconds(random % 3000));
            auto timer = limit.async_wait(asio::use_awaitable);
            auto outcome = co_await (std::move(query) || std::move(timer));
            if (outcome.index() == 1) {
                ++t.cancelled_acquires;
                continue;
            }
        } else {
            co_await std::move(query);
        }
        if (r.size() != 1 || r[0].get<int>(0) != id * 1000 + i) ++t.wrong;
        ++t.queries;
    }
}

}  // namespace

TEST_CASE("pool.query: coroutines on 8 strands over 4 threads share 4 connections, with cancellations") {
    asio::io_context io(4);
    pgcoro::pool pool(io.get_executor(), test::pool_test_config("pgcoro_pool_threads"), {.max_size = 4});
    tally t;
    constexpr int strands = 8, per_strand = 6;
    t.running = strands * per_strand;
    for (int k = 0; k < strands; ++k) {
        auto strand = asio::make_strand(io);
        for (int j = 0; j < per_strand; ++j)
            asio::co_spawn(strand, sharing_worker(pool, k * per_strand + j, t), [&t](std::exception_ptr e) {
                if (e) t.failed(e);
                --t.running;
            });
    }
    asio::co_spawn(asio::make_strand(io), [&]() -> asio::awaitable<void> {
        while (t.running > 0) co_await sleep_for(10ms);
        co_await pool.close();
    }, t.keep_failure());
    run_on_four_threads(io);
    check_clean(t);
    CHECK(t.queries + t.cancelled_acquires == strands * per_strand * 80);
    CHECK(t.queries > 0);
    CHECK(pool.stats().size == 0);
}

namespace {

// Fewer coroutines than connections, so returns park in their threads'
// slots (pool/parking.hpp) and checkouts mostly take them from there, while
// bumps (three, by three of the workers) and close() take them back from
// other threads. Every checkout must
// be of a generation no older than the pool's when it started.
asio::awaitable<void> parking_worker(pgcoro::pool& pool, int id, tally& t, std::atomic<int>& stale,
                                     std::atomic<std::uint64_t>& bumps) {
    for (int i = 0; i < 300; ++i) {
        if (id < 3 && i == 60 + 80 * id) {
            pool.bump();
            ++bumps;
        }
        const auto generation = pool.generation();
        auto conn = co_await pool.acquire();
        if (conn.generation() < generation) ++stale;
        if (i % 25 == 0) {
            auto r = co_await conn->query("SELECT $1::int4 * 1000 + $2::int4", id, i);
            if (r[0].get<int>(0) != id * 1000 + i) ++t.wrong;
            ++t.queries;
        }
        // Now and then held across a trip through the executor, so that
        // returns on a thread displace what its slot held.
        if (i % 7 == 0) co_await asio::post(co_await asio::this_coro::executor, asio::use_awaitable);
    }
}

}  // namespace

TEST_CASE("pool: returns parked per thread on 4 threads; bumps and close take them back, no stale checkout") {
    asio::io_context io(4);
    pgcoro::pool pool(io.get_executor(), test::pool_test_config("pgcoro_pool_threads"), {.max_size = 8});
    tally t;
    std::atomic<int> stale{0};
    std::atomic<std::uint64_t> bumps{0};
    constexpr int coroutines = 6;
    t.running = coroutines;
    for (int id = 0; id < coroutines; ++id)
        asio::co_spawn(asio::make_strand(io), parking_worker(pool, id, t, stale, bumps), [&t](std::exception_ptr e) {
            if (e) t.failed(e);
            --t.running;
        });
    asio::co_spawn(asio::make_strand(io), [&]() -> asio::awaitable<void> {
        while (t.running > 0) {
            co_await sleep_for(1ms);
            const auto s = pool.stats();
            if (s.in_use + s.idle > s.size) throw std::logic_error("more connections in use and idle than open");
        }
        co_await pool.close();
    }, t.keep_failure());
    run_on_four_threads(io);
    check_clean(t);
    CHECK(stale == 0);
    CHECK(t.queries == coroutines * 12);
    CHECK(bumps == 3u);
    const auto s = pool.stats();
    CHECK(s.size == 0);
    CHECK(s.in_use == 0);
    CHECK(s.idle == 0);
    // A checkout handed a connection that a bump made stale by the time it
    // resumed counts, and waits again (retire_if_late): at most one more per
    // generation close.
    CHECK(s.acquires >= static_cast<std::uint64_t>(coroutines * 300));
    CHECK(s.acquires <= static_cast<std::uint64_t>(coroutines * 300) + s.closed(pgcoro::close_reason::generation));
    CHECK(s.closed(pgcoro::close_reason::generation) >= 1u);
}

namespace {

// Makes the pool's one connection pipeline (two requests at once, their
// statements prepared first), then gives up on a pg_sleep after it was
// written: the connection's last request is over, its answer still to be
// read and dropped by the connection's reader on this strand.
asio::awaitable<void> leave_answer_unread(pgcoro::pool& pool) {
    co_await pool.query("SELECT $1::int4", 1);
    co_await pool.query("SELECT pg_sleep($1::float8)", 0.0);
    co_await (pool.query("SELECT $1::int4", 2) && pool.query("SELECT $1::int4", 3));
    asio::steady_timer limit(co_await asio::this_coro::executor, 50ms);
    auto outcome = co_await (pool.query("SELECT pg_sleep($1::float8)", 0.6) || limit.async_wait(asio::use_awaitable));
    if (outcome.index() != 1) throw std::logic_error("pg_sleep(0.6) answered within 50 ms");
}

// Polls until `done`, or fails after five seconds.
template <class Condition>
asio::awaitable<void> wait_until(Condition done, const char* what) {
    for (int i = 0; !done(); ++i) {
        if (i == 1000) throw std::runtime_error(std::string("still waiting for ") + what);
        co_await sleep_for(5ms);
    }
}

}  // namespace

// Until the reader has read the abandoned answer, only the connection's
// home strand may look at its session: the pool's ticks and the acquire,
// bump and close below run on other threads, and under ThreadSanitizer a
// look from there before the reader's end is a data race.
TEST_CASE("pool.query: a shared connection whose last request was abandoned changes hands once the answer is read") {
    asio::io_context io(4);
    pgcoro::pool pool(io.get_executor(), test::pool_test_config("pgcoro_pool_threads"), {.max_size = 1});
    tally t;
    std::atomic<int> unread{0};  // how many times an answer was left unread
    std::atomic<int> step{0};    // the other strand's steps done
    pgcoro::pipelining_stats handed_over{};
    std::uint64_t generation_closes = 0, pool_closes = 0;
    std::size_t size_after_close = 1;

    asio::co_spawn(asio::make_strand(io), [&]() -> asio::awaitable<void> {
        co_await leave_answer_unread(pool);
        ++unread;
        co_await wait_until([&] { return step >= 1; }, "the acquire");
        co_await leave_answer_unread(pool);
        ++unread;
        co_await wait_until([&] { return step >= 2; }, "the bump");
        // A new connection, of the new generation.
        auto r = co_await pool.query("SELECT $1::int4", 7);
        if (r[0].get<int>(0) != 7) ++t.wrong;
        co_await leave_answer_unread(pool);
        ++unread;
    }, t.keep_failure());

    asio::co_spawn(asio::make_strand(io), [&]() -> asio::awaitable<void> {
        co_await wait_until([&] { return unread >= 1; }, "the first abandoned answer");
        {
            // The only connection, still reading on the other strand: the
            // acquire waits for it, and gets it with the answer read.
            auto conn = co_await pool.acquire();
            handed_over = conn->pipelining();
            auto r = co_await conn->query("SELECT $1::int4", 42);
            if (r[0].get<int>(0) != 42) ++t.wrong;
        }
        ++step;
        co_await wait_until([&] { return unread >= 2; }, "the second abandoned answer");
        pool.bump();  // the old connection retires once its answer is read
        co_await wait_until([&] { return pool.stats().closed(pgcoro::close_reason::generation) >= 1; }, "the retirement");
        generation_closes = pool.stats().closed(pgcoro::close_reason::generation);
        ++step;
        co_await wait_until([&] { return unread >= 3; }, "the third abandoned answer");
        co_await pool.close();  // waits for the answer, then closes the connection
        const auto s = pool.stats();
        pool_closes = s.closed(pgcoro::close_reason::pool_closed);
        size_after_close = s.size;
    }, t.keep_failure());

    run_on_four_threads(io);
    check_clean(t);
    CHECK(unread == 3);
    CHECK(handed_over.dropped_answers == 1);  // read and dropped before the hand-over
    CHECK(generation_closes == 1);
    CHECK(pool_closes == 1);
    CHECK(size_after_close == 0);
}
