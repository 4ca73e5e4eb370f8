// examples/metrics_exporter run against the test server and scraped over
// HTTP as Prometheus would: the exposition parses, the pool's stats and the
// tracer's histograms and counters are there and add up, errors are counted
// by SQLSTATE, counters only grow, and SIGTERM ends it cleanly.
#include "support/child_process.hpp"
#include "support/test_server.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>

#include "support/catch.hpp"

#include <algorithm>
#include <csignal>
#include <cstdlib>
#include <map>
#include <regex>
#include <sstream>
#include <thread>

using namespace std::chrono_literals;
namespace asio = boost::asio;

namespace {

// As in example_tests.cpp: the environment variable of the same name overrides it.
std::string example(const std::string& name) {
    const char* dir = std::getenv("PGCORO_EXAMPLES_DIR");
    return std::string(dir && *dir ? dir : PGCORO_EXAMPLES_DIR) + "/" + name;
}

struct http_response {
    std::string status_line;
    std::string headers;
    std::string body;
};

// One GET over a blocking socket; the exporter closes after answering.
http_response http_get(std::uint16_t port, const std::string& path) {
    asio::io_context io;
    asio::ip::tcp::socket socket(io);
    socket.connect({asio::ip::address_v4::loopback(), port});
    const std::string request = "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/plain\r\n\r\n";
    asio::write(socket, asio::buffer(request));
    std::string raw;
    boost::system::error_code ec;
    asio::read(socket, asio::dynamic_buffer(raw), ec);  // to EOF
    http_response r;
    const auto line_end = raw.find("\r\n");
    const auto head_end = raw.find("\r\n\r\n");
    if (line_end == std::string::npos || head_end == std::string::npos) return r;
    r.status_line = raw.substr(0, line_end);
    r.headers = raw.substr(line_end + 2, head_end - line_end - 2);
    r.body = raw.substr(head_end + 4);
    return r;
}

// The samples of a text exposition, "name{labels}" -> value; every line
// that is not a comment must be a sample, and every sample's metric family
// must have been declared by a # TYPE line before it.
struct exposition {
    std::map<std::string, double> samples;
    std::vector<std::string> malformed;

    double operator[](const std::string& key) const {
        auto it = samples.find(key);
        return it == samples.end() ? -1 : it->second;
    }
};

exposition parse(const std::string& body) {
    static const std::regex sample_line(R"(^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (-?[0-9.eE+-]+|\+Inf|NaN)$)");
    static const std::regex type_line(R"(^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$)");
    exposition e;
    std::vector<std::string> families;
    std::istringstream in(body);
    for (std::string line; std::getline(in, line);) {
        std::smatch m;
        if (std::regex_match(line, m, type_line)) {
            families.push_back(m[1]);
            continue;
        }
        if (line.starts_with("# HELP ")) continue;
        if (!std::regex_match(line, m, sample_line)) {
            e.malformed.push_back(line);
            continue;
        }
        const std::string name = m[1];
        const bool declared = std::any_of(families.begin(), families.end(), [&](const std::string& f) {
            return name == f || name == f + "_bucket" || name == f + "_sum" || name == f + "_count";
        });
        if (!declared) e.malformed.push_back("undeclared: " + line);
        e.samples[name + std::string(m[2])] = std::stod(m[3]);
    }
    return e;
}

}  // namespace

TEST_CASE("metrics_exporter: GET /metrics serves pool stats and tracer timings as Prometheus text", "[examples][metrics]") {
    const std::vector<std::string> args{"--port", "0", "--workers", "4",
                                        test::tcp_conninfo("user=pgcoro_scram password=scram_pw sslmode=disable")};
    test::child_process p(example("metrics_exporter"), args);
    const auto listening = p.wait_for_line("listening on ", 10s);
    INFO(p.describe());
    REQUIRE(listening);
    const auto port = static_cast<std::uint16_t>(std::stoi(listening->substr(listening->rfind(':') + 1)));

    // Scraped until a division by zero was counted (every tenth query).
    http_response first;
    exposition metrics;
    for (int attempt = 0; attempt < 100; ++attempt) {
        first = http_get(port, "/metrics");
        metrics = parse(first.body);
        if (metrics["pgcoro_query_errors_total{sqlstate=\"22012\"}"] > 0) break;
        std::this_thread::sleep_for(100ms);
    }
    INFO(first.body);
    CHECK(first.status_line == "HTTP/1.1 200 OK");
    CHECK(first.headers.find("Content-Type: text/plain; version=0.0.4") != std::string::npos);
    CHECK(metrics.malformed.empty());

    // The pool's stats.
    const double size = metrics["pgcoro_pool_size"];
    CHECK(size >= 1);
    CHECK(size <= 2);  // the example's max_size
    CHECK(metrics["pgcoro_pool_connections{state=\"idle\"}"] + metrics["pgcoro_pool_connections{state=\"in_use\"}"] +
              metrics["pgcoro_pool_connections{state=\"connecting\"}"] == size);
    CHECK(metrics["pgcoro_pool_generation"] == 1);
    CHECK(metrics["pgcoro_pool_connects_total"] >= 1);
    CHECK(metrics["pgcoro_pool_closes_total{reason=\"broken\"}"] == 0);
    CHECK(metrics["pgcoro_pool_waiting"] >= 0);

    // The tracer's: the query histogram is cumulative and counts every query.
    const double queries = metrics["pgcoro_query_duration_seconds_count"];
    CHECK(queries > 0);
    CHECK(metrics["pgcoro_query_duration_seconds_bucket{le=\"+Inf\"}"] == queries);
    CHECK(metrics["pgcoro_queries_total{outcome=\"ok\"}"] + metrics["pgcoro_queries_total{outcome=\"error\"}"] == queries);
    CHECK(metrics["pgcoro_query_errors_total{sqlstate=\"22012\"}"] > 0);
    CHECK(metrics["pgcoro_query_errors_total{sqlstate=\"22012\"}"] == metrics["pgcoro_queries_total{outcome=\"error\"}"]);
    CHECK(metrics["pgcoro_query_duration_seconds_sum"] > 0);
    double previous = 0;
    for (const char* le : {"0.0001", "0.0005", "0.001", "0.005", "0.01", "0.05", "0.1", "1", "+Inf"}) {
        const double bucket = metrics[std::string("pgcoro_query_duration_seconds_bucket{le=\"") + le + "\"}"];
        INFO("le=" << le);
        CHECK(bucket >= previous);
        previous = bucket;
    }
    CHECK(metrics["pgcoro_acquire_wait_seconds_count"] >= queries);  // one acquire per query or pipeline
    CHECK(metrics["pgcoro_connects_total{outcome=\"ok\"}"] >= 1);
    CHECK(metrics["pgcoro_connects_total{outcome=\"error\"}"] == 0);

    // Counters only grow.
    std::this_thread::sleep_for(300ms);
    const auto later = parse(http_get(port, "/metrics").body);
    CHECK(later["pgcoro_query_duration_seconds_count"] > queries);
    CHECK(later["pgcoro_pool_acquires_total"] >= metrics["pgcoro_pool_acquires_total"]);

    CHECK(http_get(port, "/other").status_line == "HTTP/1.1 404 Not Found");

    p.signal(SIGTERM);
    const auto status = p.wait(10s);
    CHECK(status == 0);
}

TEST_CASE("metrics_exporter: a bad number prints the usage and exits 2", "[examples][metrics]") {
    const std::vector<std::string> args{"--port", "http"};
    test::child_process p(example("metrics_exporter"), args);
    CHECK(p.wait(10s) == 2);
    CHECK(p.stderr_text().find("usage: metrics_exporter") != std::string::npos);
}
