// pgcoro behind a real PgBouncer 1.18 (started by scripts/test-server with
// PgBouncer's defaults): database pgcoro_session pools by session,
// pgcoro_transaction by transaction over two server connections, so that
// concurrent clients keep getting each other's server sessions.
#include "support/catch.hpp"

#include "support/pool_helpers.hpp"
#include "support/test_server.hpp"

#include <boost/asio/experimental/awaitable_operators.hpp>

#include <chrono>
#include <set>
#include <string>
#include <vector>

namespace integration_bouncer {

using namespace std::chrono_literals;
using test::run;
using test::run_concurrently;
namespace asio = boost::asio;

namespace {

std::string bouncer_conninfo(const std::string& database, const std::string& extra = "sslmode=disable") {
    return "host=127.0.0.1 port=" + test::env("PGCORO_TEST_BOUNCER_PORT") + " dbname=" + database +
           " user=pgcoro_scram password=scram_pw " + extra;
}
pgcoro::config bouncer(const std::string& database, const std::string& extra = "sslmode=disable") {
    return test::config_of(bouncer_conninfo(database, extra));
}

// PgBouncer's admin console (SHOW, RECONNECT).
asio::awaitable<void> bouncer_admin(const std::string& command) {
    auto conn = co_await pgcoro::connection::connect(test::config_of(
        "host=127.0.0.1 port=" + test::env("PGCORO_TEST_BOUNCER_PORT") +
        " dbname=pgbouncer user=pgcoro_admin password=admin_pw sslmode=disable"));
    co_await conn.simple_query(command);
    co_await conn.close();
}

// A table the clients share, made over a direct connection (a temporary
// table would last only as long as the server session, which transaction
// pooling hands around).
asio::awaitable<void> fresh_table(const std::string& name, const std::string& columns) {
    auto conn = co_await test::admin();
    co_await conn.simple_query("DROP TABLE IF EXISTS " + name + "; CREATE TABLE " + name + " (" + columns +
                               "); GRANT ALL ON " + name + " TO pgcoro_scram");
    co_await conn.close();
}

const std::vector<std::string> pooling_modes{"pgcoro_session", "pgcoro_transaction"};

}  // namespace

TEST_CASE("a default PgBouncer takes pgcoro's startup packet, over TLS verified against its certificate", "[bouncer]") {
    for (const auto& database : pooling_modes) {
        DYNAMIC_SECTION(database) {
            run([&]() -> asio::awaitable<void> {
                auto conn = co_await pgcoro::connection::connect(
                    bouncer(database, "sslmode=verify-full sslrootcert=" + test::env("PGCORO_TEST_CA")));
                CHECK(conn.uses_tls());
                CHECK(conn.authentication_method() == "SCRAM-SHA-256");
                auto r = co_await conn.query("SELECT $1::int + 1", 41);
                CHECK(r[0].get<std::int32_t>(0) == 42);
                // The server's reported settings pass through.
                CHECK(conn.parameter("server_version").starts_with("15"));
                co_await conn.close();
            }());
        }
    }
}

TEST_CASE("40 concurrent clients with parameterised queries over a transaction pool of two server connections", "[bouncer]") {
    // The reported failure: every client named its first statement pgcoro_1,
    // and 40 of 40 failed with 42P05. With the default statement_mode each
    // client finds the pooler at its first lost statement and goes on.
    run([]() -> asio::awaitable<void> {
        std::vector<std::string> failures;
        int shared = 0;
        co_await run_concurrently(40, [&](int i) -> asio::awaitable<void> {
            try {
                auto conn = co_await pgcoro::connection::connect(bouncer("pgcoro_transaction"));
                for (int k = 0; k < 5; ++k) {
                    auto r = co_await conn.query("SELECT $1::int + $2::int", i, k);
                    if (r[0].get<std::int32_t>(0) != i + k) failures.push_back("client " + std::to_string(i) + ": wrong answer");
                    auto t = co_await conn.query("SELECT $1::text || '!'", std::to_string(i));
                    if (t[0].get<std::string>(0) != std::to_string(i) + "!") failures.push_back("wrong text answer");
                }
                if (conn.server_session_shared()) ++shared;
                co_await conn.close();
            } catch (const std::exception& e) {
                failures.push_back("client " + std::to_string(i) + ": " + e.what());
            }
        });
        CHECK(failures == std::vector<std::string>{});
        INFO(shared << " of 40 clients found their server session shared");
        CHECK(shared > 0);
    }());
}

TEST_CASE("behind either pooling mode, in every statement mode: queries, pipelines, COPY, transactions, streams", "[bouncer]") {
    run(fresh_table("bouncer_items", "client int4, n int4, label text"));
    for (const auto& database : pooling_modes) {
        for (const std::string mode : {"auto", "describe", "unnamed"}) {
            DYNAMIC_SECTION(database << " statement_mode=" << mode) {
                run([&]() -> asio::awaitable<void> {
                    std::vector<std::string> failures;
                    co_await run_concurrently(6, [&](int client) -> asio::awaitable<void> {
                        try {
                            auto conn = co_await pgcoro::connection::connect(
                                bouncer(database, "sslmode=disable statement_mode=" + mode));
                            auto check = [&](bool ok, const std::string& what) {
                                if (!ok) failures.push_back("client " + std::to_string(client) + ": " + what);
                            };
                            co_await conn.execute("DELETE FROM bouncer_items WHERE client = $1", client);
                            for (int n = 0; n < 3; ++n)
                                co_await conn.execute("INSERT INTO bouncer_items VALUES ($1, $2, $3)", client, n, "row");

                            pgcoro::pipeline p;
                            p.query("INSERT INTO bouncer_items VALUES ($1, $2, $3)", client, 3, "piped").sync();
                            p.query("SELECT count(*) FROM bouncer_items WHERE client = $1", client);
                            auto outcomes = co_await conn.run(p);
                            check(outcomes.at(1).rows[0].get<std::int64_t>(0) == 4, "pipeline count");

                            auto writer = co_await conn.copy_in("COPY bouncer_items FROM STDIN");
                            co_await writer.write(std::to_string(client) + "\t4\tcopied\n" + std::to_string(client) + "\t5\tcopied\n");
                            check(co_await writer.finish() == 2, "COPY in count");

                            {
                                auto tx = co_await conn.begin();
                                co_await conn.execute("UPDATE bouncer_items SET label = 'committed' WHERE client = $1 AND n = 0", client);
                                co_await tx.commit();
                            }
                            {
                                auto tx = co_await conn.begin();
                                co_await conn.execute("DELETE FROM bouncer_items WHERE client = $1", client);
                                co_await tx.rollback();
                            }

                            for (const auto how : {pgcoro::stream_fetch::continuous, pgcoro::stream_fetch::per_chunk}) {
                                auto rows = co_await conn.stream(pgcoro::stream_options{.chunk_rows = 2, .fetch = how},
                                                                 "SELECT n, label FROM bouncer_items WHERE client = $1 ORDER BY n", client);
                                std::string seen;
                                while (auto row = co_await rows.next())
                                    seen += std::to_string(row->get<std::int32_t>(0)) + row->get<std::string>(1).substr(0, 1) + " ";
                                check(seen == "0c 1r 2r 3p 4c 5c ", "stream saw " + seen);
                            }
                            {
                                // Left early: the cancel request goes through PgBouncer to this
                                // server connection, which stops long before the end.
                                const auto counter = "bouncer_counter_" + std::to_string(client);
                                co_await conn.execute("DROP SEQUENCE IF EXISTS " + counter);
                                co_await conn.execute("CREATE SEQUENCE " + counter);
                                auto rows = co_await conn.stream(pgcoro::stream_options{.fetch = pgcoro::stream_fetch::continuous},
                                                                 "SELECT nextval('" + counter + "') FROM generate_series(1, 100000000)");
                                check(static_cast<bool>(co_await rows.next()), "the long stream's first row");
                                co_await rows.close();
                                auto reached = co_await conn.query("SELECT last_value FROM " + counter);
                                check(reached[0].get<std::int64_t>(0) < 100000000, "the server ran to the end: no cancel reached it");
                            }

                            std::string copied;
                            auto reader = co_await conn.copy_out(
                                "COPY (SELECT n FROM bouncer_items WHERE client = " + std::to_string(client) + " ORDER BY n) TO STDOUT");
                            while (auto chunk = co_await reader.read()) copied += *chunk;
                            check(copied == "0\n1\n2\n3\n4\n5\n", "COPY out gave " + copied);
                            co_await conn.close();
                        } catch (const std::exception& e) {
                            failures.push_back("client " + std::to_string(client) + ": " + e.what());
                        }
                    });
                    CHECK(failures == std::vector<std::string>{});
                }());
            }
        }
    }
}

TEST_CASE("statement_mode=prepare behind transaction pooling fails clearly but never runs another client's statement", "[bouncer]") {
    run([]() -> asio::awaitable<void> {
        int right = 0, lost = 0;
        std::vector<std::string> wrong;
        co_await run_concurrently(10, [&](int client) -> asio::awaitable<void> {
            auto conn = co_await pgcoro::connection::connect(bouncer("pgcoro_transaction", "sslmode=disable statement_mode=prepare"));
            // Each client's first statement has another text: a name shared
            // between clients would run one client's SQL for another.
            const auto sql = "SELECT $1::int4 * " + std::to_string(client + 2);
            for (int k = 0; k < 20; ++k) {
                try {
                    auto r = co_await conn.query(sql, k);
                    if (r[0].get<std::int32_t>(0) == k * (client + 2)) ++right;
                    else wrong.push_back(sql + " gave " + std::to_string(r[0].get<std::int32_t>(0)));
                } catch (const pgcoro::server_error& e) {
                    if (e.sqlstate() != "26000") wrong.push_back(e.what());
                    else if (e.hint().find("statement_mode=describe") == std::string::npos) wrong.push_back("no hint: " + std::string(e.what()));
                    ++lost;
                }
            }
            CHECK(conn.current_statement_mode() == pgcoro::statement_mode::prepare);
            co_await conn.close();
        });
        CHECK(wrong == std::vector<std::string>{});
        CHECK(right + lost == 200);
        CHECK(right > 0);
    }());
}

TEST_CASE("statement_mode=auto finds the proxy with its first preparation, then refuses prepare()", "[bouncer]") {
    for (const auto& database : pooling_modes) {
        DYNAMIC_SECTION(database) {
            run([&]() -> asio::awaitable<void> {
                auto conn = co_await pgcoro::connection::connect(bouncer(database));
                CHECK(conn.current_statement_mode() == pgcoro::statement_mode::prepare);
                CHECK((co_await conn.query("SELECT $1::int4", 1))[0].get<std::int32_t>(0) == 1);
                CHECK(conn.server_session_shared());
                CHECK(conn.current_statement_mode() == pgcoro::statement_mode::describe);
                // PgBouncer closes its server connections as they come free
                // (in session pooling, when the client leaves): the next
                // query parses its statement wherever it lands.
                co_await bouncer_admin("RECONNECT " + database);
                CHECK((co_await conn.query("SELECT $1::int4", 2))[0].get<std::int32_t>(0) == 2);
                try {
                    co_await conn.prepare("SELECT 1");
                    FAIL("prepare() succeeded");
                } catch (const pgcoro::error& e) {
                    CHECK(e.code() == pgcoro::errc::shared_server_session);
                    CHECK(std::string(e.what()).find("transaction pooling") != std::string::npos);
                }
                CHECK(conn.is_usable());
                co_await conn.close();
            }());
        }
    }
}

TEST_CASE("a pool behind transaction pooling, with DISCARD ALL on return and health checks", "[bouncer]") {
    run([]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        pgcoro::pool pool(ex, bouncer("pgcoro_transaction"),
                          {.max_size = 4, .health_check_after = 1ms, .reset = pgcoro::reset_policy::discard_all});
        std::vector<std::string> failures;
        co_await run_concurrently(50, [&](int i) -> asio::awaitable<void> {
            try {
                for (int k = 0; k < 10; ++k) {
                    auto conn = co_await pool.acquire();
                    auto r = co_await conn->query("SELECT $1::int8 * 2", std::int64_t{i * 100 + k});
                    if (r[0].get<std::int64_t>(0) != 2 * (i * 100 + k)) failures.push_back("wrong answer");
                }
            } catch (const std::exception& e) {
                failures.push_back(e.what());
            }
        });
        CHECK(failures == std::vector<std::string>{});
        CHECK(pool.stats().closed(pgcoro::close_reason::broken) == 0);
        co_await pool.close();
    }());
}

TEST_CASE("the listener refuses a proxy unless told it keeps sessions", "[bouncer]") {
    run([]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        {
            pgcoro::pool pool(ex, bouncer("pgcoro_transaction"), {.max_size = 1});
            pgcoro::listener listener(pool);
            try {
                co_await listener.listen("bouncer_chan");
                FAIL("LISTEN through transaction pooling was accepted");
            } catch (const pgcoro::error& e) {
                CHECK(e.code() == pgcoro::errc::shared_server_session);
                CHECK(std::string(e.what()).find("proxy_keeps_session") != std::string::npos);
            }
            co_await pool.close();
        }
        // Session pooling keeps the session: the notification arrives.
        pgcoro::pool pool(ex, bouncer("pgcoro_session"), {.max_size = 1});
        pgcoro::listener listener(pool, {.proxy_keeps_session = true});
        co_await listener.listen("bouncer_chan");
        auto notifier = co_await test::admin();
        co_await notifier.simple_query("NOTIFY bouncer_chan, 'through'");
        using namespace asio::experimental::awaitable_operators;
        auto got = co_await (listener.next() || test::sleep_for(5s));
        REQUIRE(got.index() == 0);
        CHECK(std::get<0>(got).notification.payload == "through");
        co_await notifier.close();
        co_await listener.close();
        co_await pool.close();
    }());
}

// Each pipelined request is its own Sync, so each is a transaction of its
// own wherever the proxy sends it; in describe mode it also parses its own
// statement. In auto mode the connection finds the proxy and its requests
// take turns instead; in unnamed mode nothing is cached, so each runs alone.
TEST_CASE("concurrent queries on a connection through transaction pooling: every answer its caller's", "[bouncer]") {
    for (const std::string mode : {"describe", "auto", "unnamed"}) {
        DYNAMIC_SECTION(mode) {
            run([&]() -> asio::awaitable<void> {
                auto first = co_await pgcoro::connection::connect(bouncer("pgcoro_transaction", "sslmode=disable statement_mode=" + mode));
                auto second = co_await pgcoro::connection::connect(bouncer("pgcoro_transaction", "sslmode=disable statement_mode=" + mode));
                int right = 0;
                co_await run_concurrently(32, [&](int caller) -> asio::awaitable<void> {
                    auto& conn = caller % 2 ? first : second;  // two clients over two server connections
                    for (int i = 0; i < 30; ++i) {
                        const std::int64_t want = caller * 1000 + i;
                        auto r = co_await conn.query("SELECT $1::int8", want);
                        right += r[0].get<std::int64_t>(0) == want;
                    }
                });
                CHECK(right == 32 * 30);
                if (mode == "describe") CHECK(first.pipelining().requests > 0);  // written together
                if (mode == "auto") {
                    CHECK(first.server_session_shared());
                    CHECK(first.pipelining().requests == 0);  // found the proxy: took turns
                }
                co_await first.close();
                co_await second.close();
            }());
        }
    }
}

}  // namespace integration_bouncer
