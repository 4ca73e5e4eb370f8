// metrics_exporter [--port P] [--workers N] [CONNINFO]
//
// A pool, N coroutines (default 4) running queries through it, and a tiny
// HTTP responder on 127.0.0.1:P that answers GET /metrics in the
// Prometheus text exposition format (version 0.0.4) with:
//   - the pool's stats(): connections by state, waiting acquires, the
//     generation, connects, closes by reason, acquire timeouts and waits;
//   - from a pgcoro::tracer: a query latency histogram, queries by outcome,
//     failed queries by SQLSTATE, an acquire wait histogram, connects and
//     pipelines.
// Every tenth query divides by zero, so errors show up (SQLSTATE 22012).
// It prints "listening on 127.0.0.1:PORT" (--port 0, the default, picks a
// free port); SIGINT or SIGTERM stops the workers, closes the pool and exits
// 0. A bad number prints the usage and exits 2.
// Plain Asio, no HTTP library: one request per connection.
#include <pgcoro.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>

#include <array>
#include <atomic>
#include <charconv>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <map>
#include <mutex>
#include <string>
#include <string_view>

namespace asio = boost::asio;
using asio::ip::tcp;
using namespace std::chrono_literals;

namespace {

// A Prometheus histogram with fixed buckets: atomic counters, so observing
// allocates nothing and takes no lock.
class latency_histogram {
public:
    void observe(std::chrono::nanoseconds d) noexcept {
        std::size_t i = 0;
        while (i < bounds.size() && d > bounds[i]) ++i;
        ++counts_[i];
        sum_ += static_cast<std::uint64_t>(d.count());
    }

    void write(std::string& out, std::string_view name, std::string_view help) const {
        out.append("# HELP ").append(name).append(" ").append(help).append("\n");
        out.append("# TYPE ").append(name).append(" histogram\n");
        std::uint64_t cumulative = 0;
        for (std::size_t i = 0; i <= bounds.size(); ++i) {
            cumulative += counts_[i];
            out.append(name).append("_bucket{le=\"");
            if (i < bounds.size()) out.append(seconds(bounds[i]));
            else out.append("+Inf");
            out.append("\"} ").append(std::to_string(cumulative)).append("\n");
        }
        out.append(name).append("_sum ").append(seconds(std::chrono::nanoseconds(sum_.load()))).append("\n");
        out.append(name).append("_count ").append(std::to_string(cumulative)).append("\n");
    }

    static std::string seconds(std::chrono::nanoseconds d) {
        std::array<char, 64> text{};
        // Fixed notation ("0.0001", not "1e-04"): a bucket's le label reads as written.
        const auto end = std::to_chars(text.data(), text.data() + text.size(), std::chrono::duration<double>(d).count(),
                                       std::chars_format::fixed).ptr;
        return std::string(text.data(), end);
    }

private:
    static constexpr std::array<std::chrono::nanoseconds, 8> bounds{100us, 500us, 1ms, 5ms, 10ms, 50ms, 100ms, 1s};
    std::array<std::atomic<std::uint64_t>, bounds.size() + 1> counts_{};  // the last: above every bound
    std::atomic<std::uint64_t> sum_{0};                                   // nanoseconds
};

// Fed by pgcoro's tracer callbacks; read by the HTTP responder.
class prometheus_tracer final : public pgcoro::tracer {
public:
    void query_ended(const pgcoro::query_end& e) override {
        queries_.observe(e.outcome.duration);
        if (e.outcome.ok()) {
            ++queries_ok_;
            return;
        }
        ++queries_failed_;
        // A map entry per SQLSTATE seen: allocates the first time only.
        const std::lock_guard lock(mutex_);
        ++errors_by_sqlstate_[std::string(e.outcome.sqlstate())];
    }
    void acquire_ended(const pgcoro::acquire_end& e) override {
        acquire_waits_.observe(e.outcome.duration);
        if (!e.outcome.ok()) ++acquires_failed_;
    }
    void connect_ended(const pgcoro::connect_end& e) override { ++(e.outcome.ok() ? connects_ok_ : connects_failed_); }
    void pipeline_ended(const pgcoro::pipeline_end& e) override {
        ++pipelines_;
        pipeline_statements_failed_ += e.failed;
    }

    void write(std::string& out) const {
        queries_.write(out, "pgcoro_query_duration_seconds", "Duration of query(), execute() and simple_query() calls.");
        counter_header(out, "pgcoro_queries_total", "Queries by outcome.");
        out.append("pgcoro_queries_total{outcome=\"ok\"} ").append(std::to_string(queries_ok_.load())).append("\n");
        out.append("pgcoro_queries_total{outcome=\"error\"} ").append(std::to_string(queries_failed_.load())).append("\n");
        counter_header(out, "pgcoro_query_errors_total", "Failed queries by SQLSTATE (empty: no server error, e.g. a timeout).");
        {
            const std::lock_guard lock(mutex_);
            for (const auto& [sqlstate, n] : errors_by_sqlstate_)
                out.append("pgcoro_query_errors_total{sqlstate=\"").append(sqlstate).append("\"} ").append(std::to_string(n)).append("\n");
        }
        acquire_waits_.write(out, "pgcoro_acquire_wait_seconds", "Time pool.acquire() waited for a connection.");
        counter_header(out, "pgcoro_acquire_failures_total", "pool.acquire() calls that failed (timeout, cancelled, closed).");
        out.append("pgcoro_acquire_failures_total ").append(std::to_string(acquires_failed_.load())).append("\n");
        counter_header(out, "pgcoro_connects_total", "Connects by outcome.");
        out.append("pgcoro_connects_total{outcome=\"ok\"} ").append(std::to_string(connects_ok_.load())).append("\n");
        out.append("pgcoro_connects_total{outcome=\"error\"} ").append(std::to_string(connects_failed_.load())).append("\n");
        counter_header(out, "pgcoro_pipelines_total", "Pipelines run.");
        out.append("pgcoro_pipelines_total ").append(std::to_string(pipelines_.load())).append("\n");
        counter_header(out, "pgcoro_pipeline_statements_failed_total", "Pipeline statements the server refused.");
        out.append("pgcoro_pipeline_statements_failed_total ").append(std::to_string(pipeline_statements_failed_.load())).append("\n");
    }

    static void counter_header(std::string& out, std::string_view name, std::string_view help) {
        out.append("# HELP ").append(name).append(" ").append(help).append("\n");
        out.append("# TYPE ").append(name).append(" counter\n");
    }

private:
    latency_histogram queries_;
    latency_histogram acquire_waits_;
    std::atomic<std::uint64_t> queries_ok_{0}, queries_failed_{0}, acquires_failed_{0};
    std::atomic<std::uint64_t> connects_ok_{0}, connects_failed_{0}, pipelines_{0}, pipeline_statements_failed_{0};
    mutable std::mutex mutex_;
    std::map<std::string, std::uint64_t> errors_by_sqlstate_;
};

void gauge(std::string& out, std::string_view name, std::string_view help, std::string_view samples) {
    out.append("# HELP ").append(name).append(" ").append(help).append("\n");
    out.append("# TYPE ").append(name).append(" gauge\n").append(samples);
}

std::string sample(std::string_view name, std::string_view labels, std::uint64_t value) {
    std::string s(name);
    if (!labels.empty()) s.append("{").append(labels).append("}");
    return s.append(" ").append(std::to_string(value)).append("\n");
}

void write_pool_stats(std::string& out, const pgcoro::pool_stats& s) {
    gauge(out, "pgcoro_pool_connections", "Connections by state (size = idle + in_use + connecting).",
          sample("pgcoro_pool_connections", "state=\"idle\"", s.idle) +
              sample("pgcoro_pool_connections", "state=\"in_use\"", s.in_use) +
              sample("pgcoro_pool_connections", "state=\"connecting\"", s.connecting));
    gauge(out, "pgcoro_pool_size", "Connections open or opening.", sample("pgcoro_pool_size", "", s.size));
    gauge(out, "pgcoro_pool_waiting", "acquire() calls waiting for a connection.", sample("pgcoro_pool_waiting", "", s.waiting));
    gauge(out, "pgcoro_pool_generation", "The generation of the pool's settings.", sample("pgcoro_pool_generation", "", s.generation));
    prometheus_tracer::counter_header(out, "pgcoro_pool_connects_total", "Connections the pool opened.");
    out.append(sample("pgcoro_pool_connects_total", "", s.connects));
    prometheus_tracer::counter_header(out, "pgcoro_pool_connect_failures_total", "Connects that failed.");
    out.append(sample("pgcoro_pool_connect_failures_total", "", s.connect_failures));
    prometheus_tracer::counter_header(out, "pgcoro_pool_closes_total", "Connections the pool closed, by reason.");
    for (std::size_t r = 0; r < pgcoro::close_reason_count; ++r) {
        const auto reason = static_cast<pgcoro::close_reason>(r);
        out.append(sample("pgcoro_pool_closes_total", std::string("reason=\"") + pgcoro::to_string(reason) + "\"", s.closed(reason)));
    }
    prometheus_tracer::counter_header(out, "pgcoro_pool_acquires_total", "Connections handed out by acquire().");
    out.append(sample("pgcoro_pool_acquires_total", "", s.acquires));
    prometheus_tracer::counter_header(out, "pgcoro_pool_acquire_timeouts_total", "acquire() calls that timed out.");
    out.append(sample("pgcoro_pool_acquire_timeouts_total", "", s.acquire_timeouts));
    prometheus_tracer::counter_header(out, "pgcoro_pool_acquire_wait_seconds_total", "Time acquires waited, summed.");
    out.append("pgcoro_pool_acquire_wait_seconds_total ").append(latency_histogram::seconds(s.acquire_wait_total)).append("\n");
    gauge(out, "pgcoro_pool_acquire_wait_max_seconds", "The longest wait of an acquire.",
          "pgcoro_pool_acquire_wait_max_seconds " + latency_histogram::seconds(s.acquire_wait_max) + "\n");
}

// One HTTP/1.1 request, then the connection is closed.
asio::awaitable<void> answer(tcp::socket socket, const pgcoro::pool& pool, const prometheus_tracer& tracer) {
    std::string request;
    const auto [read_error, n] = co_await asio::async_read_until(socket, asio::dynamic_buffer(request, 8192), "\r\n\r\n",
                                                                 asio::as_tuple(asio::use_awaitable));
    if (read_error) co_return;
    const std::string_view line(request.data(), request.find("\r\n"));
    std::string status = "200 OK";
    std::string type = "text/plain; version=0.0.4; charset=utf-8";
    std::string body;
    if (line.starts_with("GET /metrics ") || line.starts_with("GET /metrics?")) {
        write_pool_stats(body, pool.stats());
        tracer.write(body);
    } else {
        status = "404 Not Found";
        type = "text/plain; charset=utf-8";
        body = "metrics are at GET /metrics\n";
    }
    const std::string response = "HTTP/1.1 " + status + "\r\nContent-Type: " + type +
                                 "\r\nContent-Length: " + std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
    co_await asio::async_write(socket, asio::buffer(response), asio::as_tuple(asio::use_awaitable));
    boost::system::error_code ignored;
    socket.shutdown(tcp::socket::shutdown_both, ignored);
}

asio::awaitable<void> serve(tcp::acceptor& acceptor, const pgcoro::pool& pool, const prometheus_tracer& tracer) {
    for (;;) {
        auto [error, socket] = co_await acceptor.async_accept(asio::as_tuple(asio::use_awaitable));
        if (error == asio::error::operation_aborted || !acceptor.is_open()) co_return;  // shutting down
        if (error) continue;
        asio::co_spawn(acceptor.get_executor(), answer(std::move(socket), pool, tracer), asio::detached);
    }
}

// Queries through the pool until `stopping`: mostly a cached one, every
// tenth a division by zero, every twentieth a small pipeline.
asio::awaitable<void> work(pgcoro::pool& pool, const bool& stopping) {
    asio::steady_timer pace(co_await asio::this_coro::executor);
    pgcoro::result r;
    pgcoro::pipeline batch;
    std::vector<pgcoro::pipeline_outcome> outcomes;
    for (std::int32_t i = 1; !stopping; ++i) {
        try {
            auto conn = co_await pool.acquire();
            if (i % 10 == 0) {
                co_await conn->execute("SELECT 1 / $1::int4", 0);
            } else if (i % 20 == 5) {
                batch.clear();
                batch.query("SELECT $1::int4", i).query("SELECT pg_sleep($1::float8)", 0.002);
                co_await conn->run_into(batch, outcomes);
            } else {
                co_await conn->query_into(r, "SELECT $1::int4 + 1", i);
            }
        } catch (const pgcoro::error&) {
            // Counted by the tracer; the worker goes on.
        }
        pace.expires_after(10ms);
        co_await pace.async_wait(asio::use_awaitable);
    }
}

struct shutdown_state {
    bool stopping = false;
    int workers_running = 0;
};

asio::awaitable<void> run(pgcoro::pool& pool, tcp::acceptor& acceptor, const prometheus_tracer& tracer, int workers) {
    auto ex = co_await asio::this_coro::executor;
    shutdown_state state;
    asio::steady_timer workers_done(ex, asio::steady_timer::time_point::max());
    for (int k = 0; k < workers; ++k) {
        ++state.workers_running;
        auto finished = [&](std::exception_ptr) {
            if (--state.workers_running == 0) workers_done.cancel();
        };
        asio::co_spawn(ex, work(pool, state.stopping), finished);
    }
    asio::co_spawn(ex, serve(acceptor, pool, tracer), asio::detached);

    asio::signal_set signals(ex, SIGINT, SIGTERM);
    co_await signals.async_wait(asio::use_awaitable);
    state.stopping = true;
    acceptor.close();
    co_await workers_done.async_wait(asio::as_tuple(asio::use_awaitable));
    co_await pool.close();
}

// A whole decimal number in [low, high], or -1.
int number_argument(std::string_view text, int low, int high) {
    int n = -1;
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), n);
    return error == std::errc{} && end == text.data() + text.size() && n >= low && n <= high ? n : -1;
}

}  // namespace

int main(int argc, char** argv) {
    int port = 0;
    int workers = 4;
    std::string conninfo;
    for (int i = 1; i < argc; ++i) {
        const std::string_view arg = argv[i];
        if (arg == "--port" && i + 1 < argc) port = number_argument(argv[++i], 0, 65535);
        else if (arg == "--workers" && i + 1 < argc) workers = number_argument(argv[++i], 1, 1000);
        else conninfo = arg;
        if (port < 0 || workers < 0) {
            std::cerr << "usage: metrics_exporter [--port P] [--workers N] [CONNINFO]\n";
            return 2;
        }
    }
    try {
        asio::io_context io(1);
        auto tracer = std::make_shared<prometheus_tracer>();
        auto cfg = pgcoro::config::parse(conninfo);
        cfg.tracer = tracer;
        // Fewer connections than workers: acquires wait, and the histogram shows it.
        pgcoro::pool pool(io.get_executor(), cfg, {.max_size = 2, .acquire_timeout = 5s});
        tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::address_v4::loopback(), static_cast<std::uint16_t>(port)));
        std::cout << "listening on 127.0.0.1:" << acceptor.local_endpoint().port() << std::endl;

        std::exception_ptr failure;
        asio::co_spawn(io, run(pool, acceptor, *tracer, workers), [&](std::exception_ptr e) { failure = e; });
        io.run();
        if (failure) std::rethrow_exception(failure);
    } catch (const std::exception& e) {
        std::cerr << "metrics_exporter: error: " << e.what() << '\n';
        return 1;
    }
    return 0;
}
