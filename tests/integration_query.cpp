// Queries over the extended protocol against the real server: parameters,
// typed rows, the prepared-statement cache, errors that keep the connection.
#include "support/test_server.hpp"

#include "support/catch.hpp"

namespace integration_query {

using test::config_of;
using test::run;
namespace asio = boost::asio;

namespace {

asio::awaitable<pgcoro::connection> connect(const std::string& extra = "") {
    co_return co_await pgcoro::connection::connect(
        config_of(test::tcp_conninfo("user=pgcoro_scram password=scram_pw sslmode=disable " + extra)));
}

// The names of this session's prepared statements, as the server lists them.
// The names of the session's prepared statements as the server lists them.
asio::awaitable<std::vector<std::string>> server_statement_names(pgcoro::connection& conn) {
    auto results = co_await conn.simple_query("SELECT name FROM pg_prepared_statements ORDER BY name");
    std::vector<std::string> names;
    for (auto row : results.at(0)) names.emplace_back(row.text(0));
    co_return names;
}

// The same without the connection's tag: "pgcoro_<16 hex digits>_1" is "pgcoro_1".
asio::awaitable<std::vector<std::string>> server_statements(pgcoro::connection& conn) {
    auto names = co_await server_statement_names(conn);
    for (auto& name : names) {
        const bool tagged = name.starts_with("pgcoro_") && name.size() > 24 && name[23] == '_' &&
                            name.find_first_not_of("0123456789abcdef", 7) == 23;
        if (tagged) name.erase(7, 17);
    }
    co_return names;
}

}  // namespace

TEST_CASE("parameters are bound from C++ values and rows read back as C++ values") {
    run([]() -> asio::awaitable<void> {
        auto conn = co_await connect();
        auto r = co_await conn.query("SELECT $1::int8 + 1 AS next, $2::text AS name, $3::float8 AS x, $4::bool AS flag, $5::int4 AS missing",
                                     std::int64_t{41}, std::string("Ada"), 2.5, true, std::optional<int>{});
        REQUIRE(r.size() == 1);
        auto [next, name, x, flag, missing] = r[0].as<std::int64_t, std::string, double, bool, std::optional<int>>();
        CHECK(next == 42);
        CHECK(name == "Ada");
        CHECK(x == 2.5);
        CHECK(flag);
        CHECK_FALSE(missing);
        CHECK(r[0].get<std::string>("name") == "Ada");

        // String literals and string_views bind as text the server converts.
        auto lit = co_await conn.query("SELECT $1::int4 * 2, $2 || '!'", "21", std::string_view("hey"));
        CHECK(lit[0].get<int>(0) == 42);
        CHECK(lit[0].get<std::string>(1) == "hey!");
        co_await conn.close();
    }());
}

TEST_CASE("execute reports the rows a command affected") {
    run([]() -> asio::awaitable<void> {
        auto conn = co_await connect();
        co_await conn.simple_query("CREATE TEMP TABLE person(id serial PRIMARY KEY, name text NOT NULL, born date)");
        const auto inserted = co_await conn.execute("INSERT INTO person(name) VALUES ($1), ($2), ($3)", "Ada", "Grace", "Edsger");
        CHECK(inserted == 3u);
        const auto updated = co_await conn.execute("UPDATE person SET name = upper(name) WHERE id > $1", 1);
        CHECK(updated == 2u);
        const auto deleted = co_await conn.execute("DELETE FROM person WHERE name = $1", "nobody");
        CHECK(deleted == 0u);
        auto r = co_await conn.query("SELECT id, name FROM person ORDER BY id");
        REQUIRE(r.size() == 3);
        CHECK(r[1].get<std::string>(1) == "GRACE");
        CHECK(r.rows_affected() == 3u);
        std::vector<std::int32_t> ids;
        for (auto row : r) ids.push_back(row.get<std::int32_t>("id"));
        CHECK(ids == std::vector<std::int32_t>{1, 2, 3});
        co_await conn.close();
    }());
}

TEST_CASE("statements are prepared once per connection and reused") {
    run([]() -> asio::awaitable<void> {
        auto conn = co_await connect();
        for (int i = 0; i < 5; ++i) CHECK((co_await conn.query("SELECT $1::int4 + 1", i))[0].get<int>(0) == i + 1);
        const std::vector<std::string> one{"pgcoro_1"}, two{"pgcoro_1", "pgcoro_2"};
        const auto after_five = co_await server_statements(conn);
        CHECK(after_five == one);
        // Other parameter types are another statement.
        CHECK((co_await conn.query("SELECT $1::int4 + 1", std::int64_t{1}))[0].get<int>(0) == 2);
        const auto after_other_types = co_await server_statements(conn);
        CHECK(after_other_types == two);
        co_await conn.close();
    }());
}

TEST_CASE("statement names carry a tag of their connection, so no two connections mean different statements by one name") {
    run([]() -> asio::awaitable<void> {
        auto a = co_await connect();
        auto b = co_await connect();
        co_await a.query("SELECT 1");
        co_await b.query("SELECT 2");
        const auto in_a = co_await server_statement_names(a);
        const auto in_b = co_await server_statement_names(b);
        REQUIRE(in_a.size() == 1);
        REQUIRE(in_b.size() == 1);
        CHECK(in_a[0] != in_b[0]);
        CHECK(in_a[0].starts_with("pgcoro_"));
        CHECK(in_a[0].ends_with("_1"));
        co_await a.close();
        co_await b.close();
    }());
}

TEST_CASE("the statement cache is bounded and closes what it evicts") {
    run([]() -> asio::awaitable<void> {
        auto cfg = config_of(test::tcp_conninfo("user=pgcoro_scram password=scram_pw sslmode=disable"));
        cfg.statement_cache_size = 2;
        auto conn = co_await pgcoro::connection::connect(cfg);
        co_await conn.query("SELECT 1");
        co_await conn.query("SELECT 2");
        co_await conn.query("SELECT 3");  // evicts "SELECT 1"; its Close goes with the next prepare
        co_await conn.query("SELECT 4");  // evicts "SELECT 2", closes pgcoro_1
        const auto names = co_await server_statements(conn);
        CHECK(names.size() <= 3);
        CHECK(std::find(names.begin(), names.end(), "pgcoro_1") == names.end());
        CHECK((co_await conn.query("SELECT 1"))[0].get<int>(0) == 1);  // prepared again
        co_await conn.close();
    }());
}

TEST_CASE("with the cache disabled, nothing stays prepared (PgBouncer transaction mode)") {
    run([]() -> asio::awaitable<void> {
        auto cfg = config_of(test::tcp_conninfo("user=pgcoro_scram password=scram_pw sslmode=disable"));
        cfg.statement_cache_size = 0;
        auto conn = co_await pgcoro::connection::connect(cfg);
        for (int i = 0; i < 3; ++i) CHECK((co_await conn.query("SELECT $1::int4 * 3", i))[0].get<int>(0) == 3 * i);
        const auto names = co_await server_statements(conn);
        CHECK(names.empty());
        co_await conn.close();
    }());
}

TEST_CASE("statement_mode=describe and unnamed keep no statement on the server and read a changed table right") {
    for (const auto* mode : {"describe", "unnamed"}) {
        DYNAMIC_SECTION(mode) {
            run([mode]() -> asio::awaitable<void> {
                auto cfg = config_of(test::tcp_conninfo("user=pgcoro_scram password=scram_pw sslmode=disable statement_mode=" +
                                                        std::string(mode)));
                auto conn = co_await pgcoro::connection::connect(cfg);
                CHECK(cfg.to_string().find(std::string("statement_mode=") + mode) != std::string::npos);
                co_await conn.simple_query("CREATE TEMP TABLE reshaped(a int4, b text)");
                co_await conn.execute("INSERT INTO reshaped VALUES ($1, $2)", 1, "one");
                auto before = co_await conn.query("SELECT * FROM reshaped WHERE a = $1", 1);
                CHECK(before[0].get<std::int32_t>(0) == 1);
                // Same size in binary, another type: only the portal's own
                // description tells int8 from the int4 described before.
                co_await conn.simple_query("ALTER TABLE reshaped ALTER COLUMN a TYPE int8, ALTER COLUMN b TYPE int4 USING 7");
                auto after = co_await conn.query("SELECT * FROM reshaped WHERE a = $1", 1);
                REQUIRE(after.size() == 1);
                CHECK(after.columns()[0].type_oid == pgcoro::oids::int8);
                CHECK(after[0].get<std::int64_t>(0) == 1);
                CHECK(after[0].get<std::int32_t>(1) == 7);
                CHECK((co_await server_statements(conn)).empty());
                co_await conn.close();
            }());
        }
    }
}

TEST_CASE("a statement whose result type changed is re-prepared transparently") {
    run([]() -> asio::awaitable<void> {
        auto conn = co_await connect();
        co_await conn.simple_query("CREATE TEMP TABLE shape(a int)");
        co_await conn.execute("INSERT INTO shape VALUES ($1)", 1);
        auto before = co_await conn.query("SELECT * FROM shape");
        CHECK(before.columns().size() == 1);
        co_await conn.simple_query("ALTER TABLE shape ADD COLUMN b text DEFAULT 'new'");
        auto after = co_await conn.query("SELECT * FROM shape");  // 0A000 "cached plan must not change result type", retried
        REQUIRE(after.columns().size() == 2);
        CHECK(after[0].get<std::string>("b") == "new");

        // Inside a transaction the error stands: the transaction is already aborted.
        co_await conn.simple_query("BEGIN");
        co_await conn.query("SELECT * FROM shape");
        co_await conn.simple_query("ALTER TABLE shape DROP COLUMN b");
        std::string state;
        try { co_await conn.query("SELECT * FROM shape"); } catch (const pgcoro::server_error& e) { state = e.sqlstate(); }
        CHECK(state == "0A000");
        co_await conn.simple_query("ROLLBACK");
        co_await conn.close();
    }());
}

TEST_CASE("statements dropped by DISCARD ALL are prepared again") {
    run([]() -> asio::awaitable<void> {
        auto conn = co_await connect();
        CHECK((co_await conn.query("SELECT $1::text", "a"))[0].get<std::string>(0) == "a");
        co_await conn.simple_query("DISCARD ALL");
        CHECK((co_await conn.query("SELECT $1::text", "b"))[0].get<std::string>(0) == "b");
        co_await conn.close();
    }());
}

TEST_CASE("client-side errors name what was wrong and leave the connection usable") {
    run([]() -> asio::awaitable<void> {
        auto conn = co_await connect();
        auto expect = [&](pgcoro::errc code, std::string fragment, auto&& op) -> asio::awaitable<void> {
            bool thrown = false;
            try {
                co_await op();
            } catch (const pgcoro::error& e) {
                thrown = true;
                CHECK(e.code() == code);
                CHECK_THAT(e.what(), Catch::Contains(fragment));
            }
            CHECK(thrown);
            CHECK(conn.is_usable());
        };
        co_await expect(pgcoro::errc::invalid_value, "2 parameters but 1 argument", [&] { return conn.query("SELECT $1::int4 + $2::int4", 1); });
        auto r = co_await conn.query("SELECT 'x'::text AS word, 70000 AS big, NULL::int4 AS nothing");
        CHECK_THROWS_WITH(r[0].get<int>(0), Catch::Contains("column \"word\"") && Catch::Contains("text"));
        CHECK_THROWS_WITH(r[0].get<std::int16_t>("big"), Catch::Contains("out of range") && Catch::Contains("big"));
        CHECK_THROWS_WITH(r[0].get<int>("nothing"), Catch::Contains("NULL") && Catch::Contains("nothing"));
        CHECK_THROWS_WITH(r[0].get<int>("absent"), Catch::Contains("no column named \"absent\""));
        CHECK(r[0].get<std::int64_t>("big") == 70000);  // widening is fine
        CHECK((co_await conn.query("SELECT 5"))[0].get<int>(0) == 5);
        co_await conn.close();
    }());
}

TEST_CASE("a server error in the extended protocol leaves the connection at ReadyForQuery") {
    run([]() -> asio::awaitable<void> {
        auto conn = co_await connect();
        std::string state;
        try { co_await conn.query("SELECT $1::int4 / 0", 1); } catch (const pgcoro::server_error& e) { state = e.sqlstate(); }
        CHECK(state == "22012");
        try { co_await conn.query("SELEC 1"); } catch (const pgcoro::server_error& e) { state = e.sqlstate(); CHECK(e.position() == 1u); }
        CHECK(state == "42601");
        CHECK(conn.is_usable());
        CHECK((co_await conn.query("SELECT $1::int4", 9))[0].get<int>(0) == 9);
        co_await conn.close();
    }());
}

TEST_CASE("prepare() gives a handle outside the cache; deallocate() closes it") {
    run([]() -> asio::awaitable<void> {
        auto cfg = config_of(test::tcp_conninfo("user=pgcoro_scram password=scram_pw sslmode=disable"));
        cfg.statement_cache_size = 0;  // explicit statements do not need the cache
        auto conn = co_await pgcoro::connection::connect(cfg);
        auto doubled = co_await conn.prepare("SELECT $1::int8 * 2 AS doubled, $2::text AS label");
        CHECK(doubled.valid());
        CHECK(doubled.parameter_types() == std::vector<std::uint32_t>{pgcoro::oids::int8, pgcoro::oids::text});
        REQUIRE(doubled.columns().size() == 2);
        CHECK(doubled.columns()[0].name == "doubled");
        auto listed = co_await server_statements(conn);
        CHECK(listed == std::vector<std::string>{doubled.name()});

        auto r = co_await conn.query(doubled, std::int64_t{21}, "x");
        CHECK(r[0].get<std::int64_t>("doubled") == 42);
        CHECK(r[0].get<std::string>("label") == "x");
        // Also usable from SQL under its name.
        auto via_sql = co_await conn.simple_query("EXECUTE " + doubled.name() + "(5, 'y')");
        CHECK(via_sql.at(0).at(0).text(0) == "10");

        co_await conn.simple_query("CREATE TEMP TABLE t(n int4)");
        const std::vector<std::uint32_t> types{pgcoro::oids::int4};  // GCC 12: no braced list inside co_await
        auto insert = co_await conn.prepare("INSERT INTO t VALUES ($1), ($1 + 1)", types);
        CHECK(insert.parameter_types() == std::vector<std::uint32_t>{pgcoro::oids::int4});
        CHECK(insert.columns().empty());
        const auto inserted = co_await conn.execute(insert, 7);  // outside CHECK: evaluated once
        CHECK(inserted == 2u);
        auto count = co_await conn.query("SELECT count(*) FROM t");
        CHECK(count[0].get<std::int64_t>(0) == 2);
        pgcoro::result into;
        co_await conn.query_into(into, doubled, std::int64_t{1}, "z");
        CHECK(into[0].get<std::int64_t>(0) == 2);

        co_await conn.deallocate(doubled);
        CHECK_FALSE(doubled.valid());
        listed = co_await server_statements(conn);
        CHECK(listed == std::vector<std::string>{insert.name()});
        bool refused = false;
        try {
            co_await conn.query(doubled, std::int64_t{1}, "z");
        } catch (const pgcoro::error& e) {
            refused = e.code() == pgcoro::errc::invalid_state;
        }
        CHECK(refused);
        co_await conn.close();
    }());
}

TEST_CASE("a prepared statement refuses arguments of another type and statements of another connection") {
    run([]() -> asio::awaitable<void> {
        auto conn = co_await connect();
        auto other = co_await connect();
        auto statement = co_await conn.prepare("SELECT $1::int8");
        std::string message;
        try {
            co_await conn.query(statement, 42);  // an int: int4 in binary, which the statement cannot read
        } catch (const pgcoro::error& e) {
            CHECK(e.code() == pgcoro::errc::type_mismatch);
            message = e.what();
        }
        CHECK(message.find("$1") != std::string::npos);
        CHECK(message.find("int8") != std::string::npos);
        CHECK(message.find("int4") != std::string::npos);
        // Text is parsed by the server as whatever the parameter is.
        auto r = co_await conn.query(statement, "42");
        CHECK(r[0].get<std::int64_t>(0) == 42);
        CHECK(conn.is_usable());

        bool refused = false;
        try {
            co_await other.query(statement, std::int64_t{1});
        } catch (const pgcoro::error& e) {
            refused = e.code() == pgcoro::errc::invalid_state;
        }
        CHECK(refused);
        co_await other.close();
        co_await conn.close();
    }());
}

TEST_CASE("max_result_size bounds what a query keeps; the connection stays usable and stream() reads more") {
    run([]() -> asio::awaitable<void> {
        // 2,000 rows of 1,000 bytes: about 2 MB kept, against a limit of 1 MB.
        const std::string big = "SELECT repeat('x', 1000) FROM generate_series(1, 2000)";
        const std::string small = "SELECT repeat('x', 1000) FROM generate_series(1, 500)";
        auto conn = co_await connect();
        conn.set_query_timeout(std::chrono::seconds(30));
        auto check_refused = [](const pgcoro::error& e) {
            CHECK(e.code() == pgcoro::errc::result_too_large);
            // (A pipeline counts the rows of all its statements.)
            CHECK_THAT(e.what(), Catch::Contains("config::max_result_size (1048576 bytes) in 200") &&
                                     Catch::Contains("stream()"));
        };
        auto cfg = config_of(test::tcp_conninfo("user=pgcoro_scram password=scram_pw sslmode=disable"));
        cfg.max_result_size = 1 << 20;
        auto limited = co_await pgcoro::connection::connect(cfg);
        try {
            co_await limited.query(big);
            FAIL("query() kept 2 MB");
        } catch (const pgcoro::error& e) {
            check_refused(e);
        }
        CHECK(limited.is_usable());
        const auto kept = co_await limited.query(small);
        CHECK(kept.size() == 500);
        try {
            co_await limited.simple_query(big);
            FAIL("simple_query() kept 2 MB");
        } catch (const pgcoro::error& e) {
            check_refused(e);
        }
        CHECK(limited.is_usable());
        pgcoro::pipeline p;
        p.query(big).query("SELECT 7");
        try {
            co_await limited.run(p);
            FAIL("a pipeline kept 2 MB");
        } catch (const pgcoro::error& e) {
            check_refused(e);
        }
        CHECK(limited.is_usable());
        // execute() keeps no rows, and stream() keeps a chunk at a time.
        const auto counted = co_await limited.execute(big);
        CHECK(counted == 2000u);
        auto rows = co_await limited.stream(pgcoro::stream_options{.chunk_rows = 100}, big);
        std::size_t n = 0;
        while (auto row = co_await rows.next()) n += row->text(0).size() == 1000;
        CHECK(n == 2000);
        const auto after = co_await limited.query("SELECT 8");
        CHECK(after[0].get<int>(0) == 8);
        // The default (256 MiB) keeps it.
        const auto all = co_await conn.query(big);
        CHECK(all.size() == 2000);
        co_await limited.close();
        co_await conn.close();
    }());
}

}  // namespace integration_query
