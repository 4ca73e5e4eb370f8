// pgcoro in the peers benchmark (../shared/peers, see its README):
//
//   pgcoro_peer WORKLOAD N CONC      WORKLOAD in seq|pipe|pool|rows|connect, or shared
//                                    (CONC coroutines pipelined on one connection)
//
// Connection settings come from the PG* variables; sslmode=disable unless
// PEERS_SSL=1 (then verify-full with PGSSLROOTCERT). Every answer is checked.
// Set-up and a warm-up of min(N,1000) ops (connect: min(N,2)) are not
// measured. Prints one JSON line: wall and CPU time (getrusage, all threads)
// of the N measured ops.
#include <pgcoro.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>
#include <string_view>

namespace asio = boost::asio;

namespace {

constexpr std::string_view add_sql = "SELECT $1::int4 + 1";
constexpr std::string_view rows_sql = "SELECT i, i::text, i::float8, now() FROM generate_series(1, $1::int4) i";

// PGCORO_PEER_TRACER=1: what a tracer costs, one that counts and sums
// durations (as a metrics exporter does) and allocates nothing.
struct counting_tracer final : pgcoro::tracer {
    std::uint64_t operations = 0;
    std::chrono::nanoseconds total{0};
    void query_ended(const pgcoro::query_end& e) override { count(e.outcome); }
    void pipeline_ended(const pgcoro::pipeline_end& e) override { count(e.outcome); }
    void acquire_ended(const pgcoro::acquire_end& e) override { count(e.outcome); }
    void count(const pgcoro::trace_outcome& o) {
        ++operations;
        total += o.duration;
    }
};

pgcoro::config settings() {
    const char* ssl = std::getenv("PEERS_SSL");
    auto cfg = pgcoro::config::parse(ssl && std::string_view(ssl) == "1" ? "sslmode=verify-full" : "sslmode=disable");
    const char* traced = std::getenv("PGCORO_PEER_TRACER");
    if (traced && std::string_view(traced) == "1") cfg.tracer = std::make_shared<counting_tracer>();
    return cfg;
}

void check(bool ok, const char* what) {
    if (!ok) throw std::runtime_error(what);
}

struct workload {
    virtual ~workload() = default;
    virtual asio::awaitable<void> set_up() { co_return; }
    virtual asio::awaitable<void> run(long n) = 0;
    virtual asio::awaitable<void> tear_down() { co_return; }
};

// One connection, one prepared round trip at a time; the result object is
// reused, so a query allocates nothing.
struct sequential : workload {
    std::optional<pgcoro::connection> conn;
    std::optional<pgcoro::prepared_statement> add;
    pgcoro::result r;

    asio::awaitable<void> set_up() override {
        conn.emplace(co_await pgcoro::connection::connect(settings()));
        const std::vector<std::uint32_t> types{pgcoro::oids::int4};
        add.emplace(co_await conn->prepare(add_sql, types));
    }
    asio::awaitable<void> run(long n) override {
        for (std::int32_t i = 0; i < n; ++i) {
            co_await conn->query_into(r, *add, i);
            check(r.size() == 1 && r[0].get<std::int32_t>(0) == i + 1, "wrong result");
        }
    }
    asio::awaitable<void> tear_down() override { co_await conn->close(); }
};

// One connection, batches of CONC queries and one Sync per batch.
struct pipelined : workload {
    int conc;
    std::optional<pgcoro::connection> conn;
    pgcoro::pipeline batch;
    std::vector<pgcoro::pipeline_outcome> outcomes;
    explicit pipelined(int c) : conc(c) {}

    asio::awaitable<void> set_up() override { conn.emplace(co_await pgcoro::connection::connect(settings())); }
    asio::awaitable<void> run(long n) override {
        for (long done = 0; done < n; done += conc) {
            const long size = std::min<long>(conc, n - done);
            batch.clear();
            for (long k = 0; k < size; ++k) batch.query(add_sql, static_cast<std::int32_t>(done + k));
            batch.sync();
            co_await conn->run_into(batch, outcomes);
            check(static_cast<long>(outcomes.size()) == size, "wrong number of outcomes");
            for (long k = 0; k < size; ++k)
                check(outcomes[k].ok() && outcomes[k].rows[0].get<std::int32_t>(0) == done + k + 1, "wrong result");
        }
    }
    asio::awaitable<void> tear_down() override { co_await conn->close(); }
};

// Runs worker(k) in CONC coroutines and waits for them all.
template <class Worker>
asio::awaitable<void> run_workers(int conc, Worker worker) {
    auto ex = co_await asio::this_coro::executor;
    int running = conc;
    std::exception_ptr failure;
    asio::steady_timer all_done(ex, std::chrono::steady_clock::time_point::max());
    for (int k = 0; k < conc; ++k)
        asio::co_spawn(ex, worker(k), [&](std::exception_ptr e) {
            if (e && !failure) failure = e;
            if (--running == 0) all_done.cancel();
        });
    boost::system::error_code ec;
    co_await all_done.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    if (failure) std::rethrow_exception(failure);
}

// CONC coroutines over a pool of min(CONC,16). By default pool.query(): the
// pool's shared connections, each pipelining the queries of the coroutines
// on it (the harness allows implicit pipelining, as postgres.js's pool
// does). PGCORO_PEER_POOL=acquire: acquire, query, release, one query in
// flight per connection.
struct pooled : workload {
    int conc;
    bool exclusive;
    std::optional<pgcoro::pool> pool;
    std::vector<pgcoro::result> results;  // one per coroutine
    explicit pooled(int c) : conc(c), results(static_cast<std::size_t>(c)) {
        const char* mode = std::getenv("PGCORO_PEER_POOL");
        exclusive = mode && std::string_view(mode) == "acquire";
    }

    asio::awaitable<void> set_up() override {
        const auto size = static_cast<std::size_t>(std::min(conc, 16));
        pool.emplace(co_await asio::this_coro::executor, settings(),
                     pgcoro::pool_options{.max_size = size, .min_idle = size, .max_connecting = size});
    }
    asio::awaitable<void> run(long n) override {
        long issued = 0;
        co_await run_workers(conc, [&](int k) -> asio::awaitable<void> {
            auto& r = results[static_cast<std::size_t>(k)];
            while (issued < n) {
                const auto v = static_cast<std::int32_t>(issued++);
                if (exclusive) {
                    auto conn = co_await pool->acquire();
                    co_await conn->query_into(r, add_sql, v);
                } else {
                    co_await pool->query_into(r, add_sql, v);
                }
                check(r[0].get<std::int32_t>(0) == v + 1, "wrong result");
            }
        });
    }
    asio::awaitable<void> tear_down() override { co_await pool->close(); }  // ends its background work
};

// CONC coroutines on one connection, each query its own request: pgcoro
// pipelines them (docs/pipelining.md). Not one of the harness's workloads;
// benchmarks/run sets it beside libpq's pipeline mode.
struct shared_connection : workload {
    int conc;
    std::optional<pgcoro::connection> conn;
    std::vector<pgcoro::result> results;  // one per coroutine
    explicit shared_connection(int c) : conc(c), results(static_cast<std::size_t>(c)) {}

    asio::awaitable<void> set_up() override { conn.emplace(co_await pgcoro::connection::connect(settings())); }
    asio::awaitable<void> run(long n) override {
        long issued = 0;
        co_await run_workers(conc, [&](int k) -> asio::awaitable<void> {
            auto& r = results[static_cast<std::size_t>(k)];
            while (issued < n) {
                const auto v = static_cast<std::int32_t>(issued++);
                co_await conn->query_into(r, add_sql, v);
                check(r[0].get<std::int32_t>(0) == v + 1, "wrong result");
            }
        });
    }
    asio::awaitable<void> tear_down() override { co_await conn->close(); }
};

std::int64_t digits_sum(std::int64_t n) {
    std::int64_t total = 0;
    for (std::int64_t lo = 1, d = 1; lo <= n; lo *= 10, ++d) total += (std::min(lo * 10 - 1, n) - lo + 1) * d;
    return total;
}

// One query of N rows, every field decoded to a native value, read as a
// stream as the rows arrive, as pgx's rows.Next() hands them out: one
// Execute for every row (the stream's continuous fetch), chunks of at most
// 10,000 rows (PGCORO_PEER_CHUNK). PGCORO_PEER_FETCH=per_chunk asks with
// one Execute per chunk instead; PGCORO_PEER_ROWS=query reads all at once
// in one result, as libpq's PGresult. A whole result is decoded after the
// last row, with the server idle, and the harness asks for 4 M rows and
// more, past max_result_size: the stream is the way for millions of rows.
struct many_rows : workload {
    std::optional<pgcoro::connection> conn;
    asio::awaitable<void> set_up() override { conn.emplace(co_await pgcoro::connection::connect(settings())); }

    // What every row adds to the checks.
    struct tally {
        std::int64_t sum_i = 0, sum_len = 0, count = 0;
        double sum_f = 0;
        std::chrono::sys_time<std::chrono::microseconds> first{};
        void add(const pgcoro::row& x) {
            const auto i = x.get<std::int32_t>(0);
            const auto text = x.get<std::string_view>(1);
            const auto f = x.get<double>(2);
            const auto ts = x.get<std::chrono::sys_time<std::chrono::microseconds>>(3);
            if (count++ == 0) first = ts;
            check(ts == first && !text.empty() && text[0] >= '1' && text[0] <= '9', "bad row");
            sum_i += i;
            sum_len += static_cast<std::int64_t>(text.size());
            sum_f += f;
        }
    };

    asio::awaitable<void> run(long n) override {
        tally t;
        const char* mode = std::getenv("PGCORO_PEER_ROWS");
        if (!mode || std::string_view(mode) != "query") {
            pgcoro::stream_options options{.chunk_rows = 10'000};
            if (const char* chunk = std::getenv("PGCORO_PEER_CHUNK")) options.chunk_rows = std::atoi(chunk);
            if (const char* fetch = std::getenv("PGCORO_PEER_FETCH"); fetch && std::string_view(fetch) == "per_chunk")
                options.fetch = pgcoro::stream_fetch::per_chunk;
            auto rows = co_await conn->stream(options, rows_sql, static_cast<std::int32_t>(n));
            while (co_await rows.next_chunk())
                for (auto x : rows.chunk()) t.add(x);
        } else {
            const auto r = co_await conn->query(rows_sql, static_cast<std::int32_t>(n));
            for (auto x : r) t.add(x);
        }
        check(t.count == n, "wrong row count");
        check(t.sum_i == static_cast<std::int64_t>(n) * (n + 1) / 2 && t.sum_f == static_cast<double>(t.sum_i) &&
                  t.sum_len == digits_sum(n),
              "rows checksum mismatch");
    }
    asio::awaitable<void> tear_down() override { co_await conn->close(); }
};

// A full connect (TLS and SCRAM when asked), SELECT 1, close.
struct connecting : workload {
    asio::awaitable<void> run(long n) override {
        for (long k = 0; k < n; ++k) {
            auto conn = co_await pgcoro::connection::connect(settings());
            const auto r = co_await conn.simple_query("SELECT 1");
            check(r.at(0).at(0).text(0) == "1", "SELECT 1");
            co_await conn.close();
        }
    }
};

double cpu_seconds() {
    rusage u{};
    ::getrusage(RUSAGE_SELF, &u);
    return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
           static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

struct measurement {
    double wall_s = 0, cpu_s = 0;
};

asio::awaitable<measurement> measure(workload& w, long warm_up, long n) {
    co_await w.set_up();
    co_await w.run(warm_up);
    const auto t0 = std::chrono::steady_clock::now();
    const double c0 = cpu_seconds();
    co_await w.run(n);
    measurement m;
    m.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    m.cpu_s = cpu_seconds() - c0;
    co_await w.tear_down();
    co_return m;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 4) {
        std::fprintf(stderr, "usage: %s seq|pipe|pool|shared|rows|connect N CONC\n", argv[0]);
        return 2;
    }
    const std::string_view name = argv[1];
    const long n = std::atol(argv[2]);
    const int conc = std::atoi(argv[3]);
    if (n < 1 || conc < 1) {
        std::fprintf(stderr, "N and CONC must be >= 1\n");
        return 2;
    }
    std::unique_ptr<workload> w;
    if (name == "seq") w = std::make_unique<sequential>();
    else if (name == "pipe") w = std::make_unique<pipelined>(conc);
    else if (name == "pool") w = std::make_unique<pooled>(conc);
    else if (name == "shared") w = std::make_unique<shared_connection>(conc);
    else if (name == "rows") w = std::make_unique<many_rows>();
    else if (name == "connect") w = std::make_unique<connecting>();
    else {
        std::fprintf(stderr, "unknown workload %s\n", argv[1]);
        return 2;
    }
    const long warm_up = name == "connect" ? std::min(n, 2L) : std::min(n, 1000L);
    const char* note = name == "pool" && !static_cast<pooled&>(*w).exclusive
                           ? ",\"note\":\"pool.query(): queries of coroutines pipelined on shared connections\""
                           : "";

    // PGCORO_PEER_ONE_THREAD=1: an io_context that promises a single thread
    // (BOOST_ASIO_CONCURRENCY_HINT_UNSAFE), so Asio takes none of its locks,
    // as a server with one io_context per thread may choose. The peers table
    // uses the default; benchmarks/instructions counts both.
    const char* one_thread = std::getenv("PGCORO_PEER_ONE_THREAD");
    asio::io_context io(one_thread && std::string_view(one_thread) == "1" ? BOOST_ASIO_CONCURRENCY_HINT_UNSAFE : 1);
    measurement m;
    std::exception_ptr failure;
    asio::co_spawn(io, measure(*w, warm_up, n), [&](std::exception_ptr e, measurement result) {
        failure = e;
        m = result;
    });
    io.run();
    w.reset();
    if (failure) {
        std::fprintf(stderr, "pgcoro: %s\n", pgcoro::detail::describe_exception(failure).c_str());
        return 1;
    }
    std::printf("{\"peer\":\"pgcoro\",\"workload\":\"%s\",\"n\":%ld,\"conc\":%d,\"wall_s\":%.6f,\"cpu_s\":%.6f,"
                "\"ops_per_s\":%.1f%s}\n",
                argv[1], n, conc, m.wall_s, m.cpu_s, static_cast<double>(n) / m.wall_s, note);
    return 0;
}
