// The examples run as the programs they are, against the test server, and
// judged by what they do: the answers a client gets, what is in the
// database afterwards, what they print. PGCORO_EXAMPLES_DIR (from meson) is
// where they were built.
#include "support/child_process.hpp"
#include "support/test_server.hpp"

#include "support/catch.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <thread>

using namespace std::chrono_literals;
using test::child_process;

namespace {

namespace asio = boost::asio;

// The environment variable of the same name overrides it (to try a changed copy of one).
std::string example(const std::string& name) {
    const char* dir = std::getenv("PGCORO_EXAMPLES_DIR");
    return std::string(dir && *dir ? dir : PGCORO_EXAMPLES_DIR) + "/" + name;
}

std::string scram_conninfo(const std::string& application_name) {
    return test::tcp_conninfo("user=pgcoro_scram password=scram_pw sslmode=disable application_name=" +
                              application_name);
}
std::string admin_conninfo() { return test::tcp_conninfo("user=pgcoro_admin sslmode=disable"); }

// The first field of the first row of `sql`, run as the administrator.
std::string admin_scalar(const std::string& sql) {
    return test::run(test::scalar(test::config_of(admin_conninfo()), sql));
}
asio::awaitable<void> run_statements(std::string sql) {
    auto conn = co_await pgcoro::connection::connect(test::config_of(admin_conninfo()));
    co_await conn.simple_query(sql);
    co_await conn.close();
}
// Runs `sql` (one statement or several) as the administrator.
void admin_run(const std::string& sql) { test::run(run_statements(sql)); }

// Polls admin_scalar(sql) until it returns `expected`; returns the last value.
std::string eventually_equals(const std::string& sql, const std::string& expected, std::chrono::milliseconds limit) {
    const auto until = std::chrono::steady_clock::now() + limit;
    for (;;) {
        auto v = admin_scalar(sql);
        if (v == expected || std::chrono::steady_clock::now() >= until) return v;
        std::this_thread::sleep_for(50ms);
    }
}

// The number after `key` in `text` ("failed 0" -> 0), or -1.
long number_after(const std::string& text, const std::string& key) {
    const auto at = text.find(key);
    if (at == std::string::npos) return -1;
    return std::strtol(text.c_str() + at + key.size(), nullptr, 10);
}

// A blocking TCP client of the line protocol (plain sockets: each runs on its own thread).
class line_client {
public:
    explicit line_client(int port) {
        fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_port = htons(static_cast<std::uint16_t>(port));
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) error_ = errno;
    }
    line_client(const line_client&) = delete;
    line_client& operator=(const line_client&) = delete;
    ~line_client() { ::close(fd_); }

    int connect_error() const noexcept { return error_; }
    bool send(const std::string& line) {
        const auto data = line + "\n";
        return ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(data.size());
    }
    // The next line; std::nullopt at EOF, on error or after `limit`.
    std::optional<std::string> receive(std::chrono::milliseconds limit = 10s) {
        const auto until = std::chrono::steady_clock::now() + limit;
        for (;;) {
            if (auto nl = buffer_.find('\n'); nl != std::string::npos) {
                auto line = buffer_.substr(0, nl);
                buffer_.erase(0, nl + 1);
                return line;
            }
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now());
            pollfd p{fd_, POLLIN, 0};
            if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) <= 0) return std::nullopt;
            char chunk[512];
            const auto got = ::recv(fd_, chunk, sizeof chunk, 0);
            if (got <= 0) return std::nullopt;
            buffer_.append(chunk, static_cast<std::size_t>(got));
        }
    }

private:
    int fd_ = -1;
    int error_ = 0;
    std::string buffer_;
};

std::string sum_to(std::int64_t n) { return std::to_string(n * (n + 1) / 2); }

// Starts the server example; returns its port (0 if it did not say).
int start_server(child_process& server) {
    auto line = server.wait_for_line("listening on 127.0.0.1:", 20s);
    if (!line) return 0;
    return static_cast<int>(number_after(*line, "127.0.0.1:"));
}

constexpr const char* server_app = "example_server_test";
const std::string server_backends =
    std::string("SELECT count(*) FROM pg_stat_activity WHERE application_name = '") + server_app + "'";

}  // namespace

TEST_CASE("server: 50 concurrent clients each get the right answers", "[examples][server]") {
    child_process server(example("server"), {"--threads", "4", scram_conninfo(server_app)});
    const int port = start_server(server);
    if (port == 0) FAIL(server.describe());

    constexpr int clients = 50, requests = 6;
    std::atomic<int> right = 0;
    std::vector<std::string> wrong;
    std::mutex wrong_mutex;
    std::vector<std::thread> threads;
    for (int c = 0; c < clients; ++c) {
        threads.emplace_back([&, c] {
            line_client client(port);
            for (int r = 0; r < requests; ++r) {
                // The last request of one client is no request at all.
                const bool bogus = c == 7 && r == requests - 1;
                const std::int64_t n = 1000 * c + 37 * r;
                const auto expected = bogus ? std::string("error: unknown request") : sum_to(n);
                const auto answer = client.send((bogus ? "fly " : "sum ") + std::to_string(n)) ? client.receive()
                                                                                              : std::nullopt;
                if (answer == expected) {
                    ++right;
                } else {
                    std::lock_guard lock(wrong_mutex);
                    wrong.push_back("client " + std::to_string(c) + " n=" + std::to_string(n) + ": got '" +
                                    answer.value_or("(nothing)") + "', expected " + expected);
                }
            }
        });
    }
    for (auto& t : threads) t.join();
    CHECK(wrong.empty());
    if (!wrong.empty()) FAIL_CHECK(wrong.front());
    CHECK(right == clients * requests);
    // Every request was answered from the pool: its backends carry our name.
    CHECK(std::stoi(admin_scalar(server_backends)) > 0);

    server.signal(SIGTERM);
    const auto status = server.wait(20s);
    INFO(server.describe());
    CHECK(status == 0);
}

TEST_CASE("server: SIGTERM finishes the requests in flight, refuses new connects, closes the pool",
          "[examples][server]") {
    child_process server(example("server"), {"--threads", "4", scram_conninfo(server_app)});
    const int port = start_server(server);
    if (port == 0) FAIL(server.describe());

    // 12 slow requests (the pool has 8 connections: 4 wait for one) and 3
    // sessions that sent nothing.
    constexpr int busy = 12;
    std::atomic<int> slept = 0;
    std::vector<std::thread> threads;
    for (int c = 0; c < busy; ++c) {
        threads.emplace_back([&] {
            line_client client(port);
            if (client.send("sleep 800") && client.receive(15s) == "slept 800") ++slept;
        });
    }
    std::vector<std::unique_ptr<line_client>> idle;
    for (int c = 0; c < 3; ++c) idle.push_back(std::make_unique<line_client>(port));
    // The requests are running on the server before the signal comes.
    CHECK(eventually_equals(server_backends + " AND query LIKE '%pg_sleep%' AND state = 'active'", "8", 5s) == "8");

    const auto signalled = std::chrono::steady_clock::now();
    server.signal(SIGTERM);
    if (!server.wait_for_line("no new connections", 5s)) FAIL(server.describe());
    line_client late(port);
    CHECK(late.connect_error() == ECONNREFUSED);
    for (auto& client : idle) CHECK_FALSE(client->receive(5s));  // EOF: the idle sessions were ended

    for (auto& t : threads) t.join();
    CHECK(slept == busy);
    const auto status = server.wait(20s);
    INFO(server.describe());
    CHECK(status == 0);
    CHECK(std::chrono::steady_clock::now() - signalled < 10s);
    const auto stopped = server.wait_for_line("stopped:", 1s);
    REQUIRE(stopped);
    CHECK(number_after(*stopped, "stopped: ") == busy);
    CHECK(number_after(*stopped, "pool closed (") == 8);
    CHECK(eventually_equals(server_backends, "0", 5s) == "0");
}

TEST_CASE("server: a bad request gets an error; SIGINT stops it too", "[examples][server]") {
    child_process server(example("server"), {"--threads", "2", scram_conninfo(server_app)});
    const int port = start_server(server);
    if (port == 0) FAIL(server.describe());
    line_client client(port);
    REQUIRE(client.send("sum ten"));
    CHECK(client.receive() == "error: expected a number after the request");  // and the session goes on
    REQUIRE(client.send("sum 10"));
    CHECK(client.receive() == "55");
    server.signal(SIGINT);
    CHECK_FALSE(client.receive(5s));
    const auto status = server.wait(10s);
    INFO(server.describe());
    CHECK(status == 0);
    CHECK(server.wait_for_line("stopped: 2 requests answered, pool closed (1 connections)", 1s));
}

TEST_CASE("rotate_credentials: no query fails while the role's password changes", "[examples][rotation]") {
    // A throwaway role of our own (pgcoro_examples members may log in), with a
    // password we know, so we can tell afterwards that it no longer works.
    const std::string role = "pgcoro_example_rotated";
    admin_run("DROP ROLE IF EXISTS " + role + "; CREATE ROLE " + role +
              " LOGIN IN ROLE pgcoro_examples PASSWORD 'first_pw'");
    const auto verifier_before = admin_scalar("SELECT rolpassword FROM pg_authid WHERE rolname = '" + role + "'");
    REQUIRE(test::run(test::connect_failure(test::config_of(
                test::tcp_conninfo("sslmode=disable user=" + role + " password=first_pw")))) == std::nullopt);

    // Over TLS, as the quickstart does.
    child_process p(example("rotate_credentials"),
                    {"--role", role + ":first_pw",
                     test::tcp_conninfo("user=pgcoro_admin sslmode=verify-full sslrootcert=" + test::env("PGCORO_TEST_CA"))});
    const auto status = p.wait(60s);
    INFO(p.describe());
    CHECK(status == 0);
    const auto& out = p.stdout_text();
    CHECK(number_after(out, "failed ") == 0);
    CHECK(number_after(out, "served ") > 100);
    CHECK(out.find("rotation 3: generation 4,") != std::string::npos);
    CHECK(number_after(out, "retired by rotation ") > 0);
    CHECK(out.find("first password refused now: yes (28P01)") != std::string::npos);

    // The server agrees: a new verifier, and the first password is refused.
    CHECK(admin_scalar("SELECT rolpassword FROM pg_authid WHERE rolname = '" + role + "'") != verifier_before);
    const auto refused = test::run(test::connect_failure(
        test::config_of(test::tcp_conninfo("sslmode=disable user=" + role + " password=first_pw"))));
    REQUIRE(refused);
    CHECK(refused->sqlstate == "28P01");
    admin_run("DROP ROLE " + role);
}

TEST_CASE("rotate_credentials: without --role it makes a role of its own and drops it", "[examples][rotation]") {
    child_process p(example("rotate_credentials"), {admin_conninfo()});
    const auto status = p.wait(60s);
    INFO(p.describe());
    CHECK(status == 0);
    const auto role = "pgcoro_rotate_" + std::to_string(p.pid());
    CHECK(p.stdout_text().find("role " + role + ":") != std::string::npos);
    CHECK(number_after(p.stdout_text(), "failed ") == 0);
    CHECK(admin_scalar("SELECT count(*) FROM pg_roles WHERE rolname = '" + role + "'") == "0");
}

namespace {

const char* const undone_jobs = "SELECT count(*) FROM job_queue WHERE done_at IS NULL";

void drop_job_tables() { admin_run("DROP TABLE IF EXISTS job_queue, job_runs"); }

// A poll every 10 minutes: only a notification (or a reconnect) explains a
// job picked up sooner.
child_process start_worker(const std::string& name) {
    return child_process(example("job_worker"),
                         {"--name", name, "--poll-seconds", "600", "--work-ms", "2", scram_conninfo("example_job_worker")});
}

}  // namespace

TEST_CASE("job_worker: two workers do every job exactly once, woken by NOTIFY", "[examples][jobs]") {
    drop_job_tables();
    child_process a = start_worker("a");
    child_process b = start_worker("b");
    if (!a.wait_for_line("a: startup: 0 jobs", 20s)) FAIL(a.describe());
    if (!b.wait_for_line("b: startup: 0 jobs", 20s)) FAIL(b.describe());

    for (int batch = 0; batch < 4; ++batch)
        admin_run("INSERT INTO job_queue (n) SELECT generate_series(" + std::to_string(batch * 100 + 1) + ", " +
                  std::to_string(batch * 100 + 100) + ")");
    const auto undone = eventually_equals(undone_jobs, "0", 30s);
    a.signal(SIGTERM);
    b.signal(SIGTERM);
    const auto a_status = a.wait(10s), b_status = b.wait(10s);
    INFO(a.describe() + "\n" + b.describe());

    CHECK(undone == "0");  // within 30 s, and the next poll is 10 minutes away: notifications woke them
    CHECK(a.stdout_text().find("a: notified: ") != std::string::npos);
    CHECK(admin_scalar("SELECT count(*) || ' ' || count(DISTINCT job_id) FROM job_runs") == "400 400");
    CHECK(admin_scalar("SELECT count(*) FROM job_queue WHERE result IS DISTINCT FROM n * n") == "0");
    // Both took part (SKIP LOCKED let them work side by side).
    CHECK(admin_scalar("SELECT count(DISTINCT worker) FROM job_runs") == "2");
    CHECK(a_status == 0);
    CHECK(b_status == 0);
    CHECK(number_after(a.stdout_text(), "a: stopped after ") + number_after(b.stdout_text(), "b: stopped after ") == 400);
    drop_job_tables();
}

TEST_CASE("job_worker: catches up after its listener's session is killed", "[examples][jobs]") {
    drop_job_tables();
    child_process w = start_worker("w");
    const auto listening = w.wait_for_line("w: listening (backend ", 20s);
    if (!listening || !w.wait_for_line("w: startup: 0 jobs", 20s)) FAIL(w.describe());
    const long listener_pid = number_after(*listening, "(backend ");

    // Jobs whose notification is lost, as if sent while the listener was away
    // (triggers off): nothing picks them up, until the listener reconnects
    // and the worker catches up.
    admin_run("SET session_replication_role = replica; INSERT INTO job_queue (n) SELECT generate_series(1, 20)");
    std::this_thread::sleep_for(1s);
    const auto undone_before = admin_scalar(undone_jobs);
    const auto terminated = admin_scalar("SELECT pg_terminate_backend(" + std::to_string(listener_pid) + ", 5000)");
    const auto undone_after = eventually_equals(undone_jobs, "0", 20s);
    const auto reconnected = w.wait_for_line("w: listener reconnected", 5s);
    // The new session listens: notified jobs are picked up again.
    admin_run("INSERT INTO job_queue (n) SELECT generate_series(21, 30)");
    const auto undone_later = eventually_equals(undone_jobs, "0", 20s);
    w.signal(SIGTERM);
    const auto status = w.wait(10s);
    INFO(w.describe());

    CHECK(undone_before == "20");
    CHECK(terminated == "t");
    CHECK(undone_after == "0");
    CHECK(reconnected);
    CHECK(w.stdout_text().find("w: caught up: 20 jobs") != std::string::npos);
    CHECK(undone_later == "0");
    CHECK(w.stdout_text().find("w: notified: 10 jobs") != std::string::npos);
    CHECK(admin_scalar("SELECT count(*) || ' ' || count(DISTINCT job_id) FROM job_runs") == "30 30");
    CHECK(status == 0);
    CHECK(number_after(w.stdout_text(), "w: stopped after ") == 30);
    drop_job_tables();
}

TEST_CASE("bulk_load: generated rows in, the same rows out as CSV", "[examples][bulk]") {
    constexpr std::int64_t rows = 50'000;
    const std::string out_path = "/tmp/pgcoro_bulk_load_" + std::to_string(::getpid()) + ".csv";
    child_process p(example("bulk_load"), {"--rows", std::to_string(rows), "--out", out_path, scram_conninfo("example_bulk_load")});
    const auto status = p.wait(120s);
    INFO(p.describe());
    REQUIRE(status == 0);
    CHECK(number_after(p.stdout_text(), "loaded ") == rows);
    CHECK(number_after(p.stdout_text(), "copied ") == rows);

    // In the database: the rows the generator makes (recomputed there), no more, no fewer.
    CHECK(admin_scalar("SELECT count(*) FROM bulk_load_demo") == std::to_string(rows));
    CHECK(admin_scalar("SELECT count(*) FROM bulk_load_demo b FULL JOIN (SELECT i AS id, 'item ' || i AS name, "
                       "i * 37 % 100000 AS cents, date '2024-01-01' + (i % 366)::int AS day "
                       "FROM generate_series(1, " + std::to_string(rows) + ") AS i) g USING (id) "
                       "WHERE b.name IS DISTINCT FROM g.name OR b.cents IS DISTINCT FROM g.cents "
                       "OR b.day IS DISTINCT FROM g.day") == "0");
    std::int64_t cents_sum = 0;
    for (std::int64_t i = 1; i <= rows; ++i) cents_sum += i * 37 % 100'000;
    CHECK(admin_scalar("SELECT sum(cents) FROM bulk_load_demo") == std::to_string(cents_sum));

    // The CSV file: every line as the table has it.
    const auto csv = test::read_file(out_path);
    std::remove(out_path.c_str());
    CHECK(csv == admin_scalar("SELECT string_agg(id || ',' || name || ',' || cents || ',' || day, E'\\n' "
                              "ORDER BY id) || E'\\n' FROM bulk_load_demo"));
    CHECK(csv.substr(0, csv.find('\n')) == "1,item 1,37,2024-01-02");
    admin_run("DROP TABLE bulk_load_demo");
}
