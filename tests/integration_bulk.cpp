// Large data against the real server: COPY in both directions, bulk_load,
// and results streamed in chunks with back-pressure.
#include "support/fault_proxy.hpp"
#include "support/test_server.hpp"

#include <boost/asio/experimental/awaitable_operators.hpp>
#include "support/catch.hpp"

#include <pgcoro/auth/crypto.hpp>

#include <array>
#include <ranges>

namespace integration_bulk {

using test::config_of;
using test::run;
using test::sleep_for;
namespace asio = boost::asio;
using namespace asio::experimental::awaitable_operators;
using namespace std::chrono_literals;

namespace {

asio::awaitable<pgcoro::connection> connect() {
    co_return co_await pgcoro::connection::connect(
        config_of(test::tcp_conninfo("user=pgcoro_scram password=scram_pw sslmode=disable")));
}

asio::awaitable<std::int64_t> count_rows(pgcoro::connection& conn, std::string table) {
    auto r = co_await conn.query("SELECT count(*) FROM " + table);
    co_return r[0].get<std::int64_t>(0);
}

// Reads until a read takes longer than `patience`: `||` then cancels the
// read, which cancels the statement on the server and drains the connection.
struct stalled_reading {
    int items = 0;
    bool stalled = false;  // the timer won, rather than the end of the data
};
template <class Read>
asio::awaitable<stalled_reading> read_until_stalled(Read read, std::chrono::milliseconds patience) {
    stalled_reading r;
    for (;;) {
        auto next = co_await (read() || sleep_for(patience));
        if (next.index() == 1) {
            r.stalled = true;
            co_return r;
        }
        if (!std::get<0>(next)) co_return r;
        ++r.items;
    }
}

template <class F>
asio::awaitable<pgcoro::errc> error_code_of(F f) {
    try {
        (void)co_await f();
    } catch (const pgcoro::error& e) {
        co_return static_cast<pgcoro::errc>(e.code().value());
    }
    co_return pgcoro::errc{};
}

}  // namespace

// --- COPY FROM STDIN ------------------------------------------------------------

TEST_CASE("copy_in streams data split anywhere and reports the rows copied") {
    run([]() -> asio::awaitable<void> {
        auto conn = co_await connect();
        co_await conn.simple_query("CREATE TEMP TABLE person(id int PRIMARY KEY, name text, born date)");
        auto in = co_await conn.copy_in("COPY person (id, name, born) FROM STDIN (FORMAT csv)");
        CHECK_FALSE(in.format().binary);
        CHECK(in.format().column_formats.size() == 3);
        CHECK_FALSE(conn.is_usable());  // the COPY has the connection
        // Rows cut mid-field: the server reassembles them.
        co_await in.write("1,Ada,1815-1");
        co_await in.write("2-10\n2,\"Grace, Rear Admiral\",1906-12-09\n3,Edsger,");
        co_await in.write("\n");
        const auto copied = co_await in.finish();
        CHECK(copied == 3u);
        CHECK(conn.is_usable());
        auto r = co_await conn.query("SELECT name, born IS NULL FROM person ORDER BY id");
        REQUIRE(r.size() == 3);
        CHECK(r[1].get<std::string>(0) == "Grace, Rear Admiral");
        CHECK(r[2].get<bool>(1));
        co_await conn.close();
    }());
}

TEST_CASE("copy_in: a bad row fails finish() with the server's error and the connection stays usable") {
    run([]() -> asio::awaitable<void> {
        auto conn = co_await connect();
        co_await conn.simple_query("CREATE TEMP TABLE numbers(n int)");
        auto in = co_await conn.copy_in("COPY numbers FROM STDIN");
        co_await in.write("1\n2\nthree\n4\n");
        std::optional<pgcoro::server_error> failure;
        try {
            co_await in.finish();
        } catch (const pgcoro::server_error& e) {
            failure = e;
        }
        REQUIRE(failure);
        CHECK(failure->sqlstate() == "22P02");                                      // invalid_text_representation
        CHECK(failure->diag().where.find("COPY numbers, line 3") != std::string::npos);  // names the row
        CHECK(co_await count_rows(conn, "numbers") == 0);
        CHECK(conn.is_usable());
        co_await conn.close();
    }());
}

TEST_CASE("copy_in: abort() sends CopyFail and nothing is copied") {
    run([]() -> asio::awaitable<void> {
        auto conn = co_await connect();
        co_await conn.simple_query("CREATE TEMP TABLE numbers(n int)");
        auto in = co_await conn.copy_in("COPY numbers FROM STDIN");
        co_await in.write("1\n2\n");
        co_await in.abort("the client changed its mind");
        CHECK_FALSE(in.is_open());
        CHECK(co_await count_rows(conn, "numbers") == 0);
        co_await conn.close();
    }());
}

TEST_CASE("copy_in: a writer left without finish() is failed before the next operation") {
    run([]() -> asio::awaitable<void> {
        auto conn = co_await connect();
        co_await conn.simple_query("CREATE TEMP TABLE numbers(n int)");
        try {
            auto in = co_await conn.copy_in("COPY numbers FROM STDIN");
            co_await in.write("1\n2\n");
            throw std::runtime_error("client-side failure while producing rows");
        } catch (const std::runtime_error&) {
        }
        CHECK(conn.is_usable());
        CHECK(co_await count_rows(conn, "numbers") == 0);  // CopyFail went first: the COPY rolled back
        co_await conn.execute("INSERT INTO numbers VALUES ($1)", 7);
        CHECK(co_await count_rows(conn, "numbers") == 1);
        co_await conn.close();
    }());
}

TEST_CASE("copy_in and copy_out refuse statements that are not the matching COPY") {
    run([]() -> asio::awaitable<void> {
        auto conn = co_await connect();
        co_await conn.simple_query("CREATE TEMP TABLE numbers(n int); INSERT INTO numbers VALUES (1), (2)");
        CHECK(co_await error_code_of([&] { return conn.copy_in("SELECT 1"); }) == pgcoro::errc::invalid_value);
        CHECK(co_await error_code_of([&] { return conn.copy_in("COPY numbers TO STDOUT"); }) ==
              pgcoro::errc::invalid_value);
        CHECK(co_await error_code_of([&] { return conn.copy_out("COPY numbers FROM STDIN"); }) ==
              pgcoro::errc::invalid_value);
        CHECK(co_await error_code_of([&] { return conn.copy_in("COPY no_such_table FROM STDIN"); }) ==
              pgcoro::errc::server_error);
        CHECK(co_await count_rows(conn, "numbers") == 2);
        co_await conn.close();
    }());
}

// --- COPY TO STDOUT --------------------------------------------------------------

TEST_CASE("copy_out delivers each row and the command tag") {
    run([]() -> asio::awaitable<void> {
        auto conn = co_await connect();
        auto out = co_await conn.copy_out("COPY (SELECT g, 'row ' || g FROM generate_series(1, 3) g) TO STDOUT");
        CHECK_FALSE(out.format().binary);
        std::string all;
        while (auto data = co_await out.read()) all += *data;
        CHECK(all == "1\trow 1\n2\trow 2\n3\trow 3\n");
        CHECK(out.rows() == 3u);
        CHECK(out.command_tag() == "COPY 3");
        CHECK(conn.is_usable());
        CHECK(co_await test::scalar_on(conn, "SELECT 'after'") == "after");
        co_await conn.close();
    }());
}

TEST_CASE("copy_out left early: the rest is cancelled and the connection stays usable") {
    run([]() -> asio::awaitable<void> {
        auto conn = co_await connect();
        const auto started = std::chrono::steady_clock::now();
        {
            // Ten million rows: left after the first, the rest is cancelled, not read.
            auto out = co_await conn.copy_out(
                "COPY (SELECT g FROM generate_series(1, 100000) a, generate_series(1, 100) g) TO STDOUT");
            auto first = co_await out.read();
            REQUIRE(first);
            CHECK(*first == "1\n");
        }
        CHECK(co_await test::scalar_on(conn, "SELECT 'next'") == "next");
        CHECK(std::chrono::steady_clock::now() - started < 5s);

        // close() does the same, explicitly.
        auto out = co_await conn.copy_out("COPY (SELECT g FROM generate_series(1, 1000000) g) TO STDOUT");
        REQUIRE(co_await out.read());
        co_await out.close();
        CHECK(co_await test::scalar_on(conn, "SELECT 'closed'") == "closed");
        co_await conn.close();
    }());
}

TEST_CASE("copy_out cancelled mid-stream: 57014 on the server, the connection usable") {
    run([]() -> asio::awaitable<void> {
        auto conn = co_await connect();
        // The server buffers COPY output and sends it 8 KiB at a time: rows of
        // 10 kB each reach the client as they are produced, until row 4 sleeps.
        auto out = co_await conn.copy_out(
            "COPY (SELECT g, repeat('x', 10000), pg_sleep(CASE WHEN g > 3 THEN 10 ELSE 0 END) FROM generate_series(1, 10) g) TO STDOUT");
        const auto started = std::chrono::steady_clock::now();
        const auto outcome = co_await read_until_stalled([&] { return out.read(); }, 300ms);
        const int rows = outcome.items;
        const bool timer_won = outcome.stalled;
        CHECK(rows >= 2);  // the third may still sit in the server's buffer
        CHECK(rows <= 3);
        CHECK(timer_won);
        CHECK(std::chrono::steady_clock::now() - started < 2s);
        CHECK_FALSE(out.is_open());
        CHECK(conn.is_usable());
        CHECK(co_await test::scalar_on(conn, "SELECT 'usable'") == "usable");
        co_await conn.close();
    }());
}

// --- bulk_load --------------------------------------------------------------------

TEST_CASE("bulk_load: a million rows in, copied out again, checksums equal") {
    run([]() -> asio::awaitable<void> {
        auto conn = co_await connect();
        co_await conn.simple_query("CREATE TEMP TABLE bulk(id int8 PRIMARY KEY, name text NOT NULL, v float8)");
        constexpr std::int64_t n = 1'000'000;
        // Rows made on the fly: nothing holds a million of them at once.
        auto rows = std::views::iota(std::int64_t{1}, n + 1) | std::views::transform([](std::int64_t i) {
            return std::tuple<std::int64_t, std::string, std::optional<double>>(
                i, "näme-" + std::to_string(i * 7919 % 100003), i % 10 == 0 ? std::nullopt : std::optional<double>(i * 0.5));
        });
        const auto copied = co_await conn.bulk_load("bulk (id, name, v)", rows);
        CHECK(copied == static_cast<std::uint64_t>(n));

        // What the server holds is what was sent.
        std::int64_t id_sum = 0, name_bytes = 0, nulls = 0;
        double v_sum = 0;
        for (auto row : rows) {
            id_sum += std::get<0>(row);
            name_bytes += static_cast<std::int64_t>(std::get<1>(row).size());
            if (std::get<2>(row)) v_sum += *std::get<2>(row);
            else ++nulls;
        }
        auto stats = co_await conn.query(
            "SELECT count(*), sum(id)::int8, sum(octet_length(name))::int8, count(*) FILTER (WHERE v IS NULL), sum(v) FROM bulk");
        CHECK(stats[0].get<std::int64_t>(0) == n);
        CHECK(stats[0].get<std::int64_t>(1) == id_sum);
        CHECK(stats[0].get<std::int64_t>(2) == name_bytes);
        CHECK(stats[0].get<std::int64_t>(3) == nulls);
        CHECK(stats[0].get<double>(4) == v_sum);

        // Out again through COPY TO STDOUT: the bytes match the server's own rendering.
        auto out = co_await conn.copy_out("COPY (SELECT id, name, v FROM bulk ORDER BY id) TO STDOUT");
        std::string all;
        std::int64_t lines = 0;
        while (auto data = co_await out.read()) {
            all += *data;
            ++lines;
        }
        CHECK(lines == n);
        CHECK(out.rows() == static_cast<std::uint64_t>(n));
        auto expected = co_await conn.query(
            "SELECT md5(string_agg(id || E'\\t' || name || E'\\t' || coalesce(v::text, '\\N') || E'\\n', '' ORDER BY id)) FROM bulk");
        CHECK(pgcoro::auth::md5_hex(all) == expected[0].get<std::string>(0));
        co_await conn.close();
    }());
}

TEST_CASE("bulk_load: NULLs, arrays, timestamps and the whole table as target") {
    run([]() -> asio::awaitable<void> {
        auto conn = co_await connect();
        co_await conn.simple_query("CREATE TEMP TABLE events(at timestamptz, tags text[], scores int4[], note varchar(20))");
        using namespace std::chrono;
        const sys_time<microseconds> t0 = sys_days{2024y / 2 / 29} + 12h + 30min;
        std::vector<std::tuple<sys_time<microseconds>, std::vector<std::string>, std::optional<std::vector<std::int32_t>>, std::string_view>> rows{
            {t0, {"a", "b"}, std::vector<std::int32_t>{1, 2, 3}, "first"},
            {t0 - years(60), {}, std::nullopt, "before 1970"},
        };
        // Outside CHECK: GCC 12 may evaluate a co_await inside it more than once.
        const auto copied = co_await conn.bulk_load("events", rows);
        CHECK(copied == 2u);
        auto r = co_await conn.query("SELECT at = $1, tags, scores IS NULL, note FROM events ORDER BY at DESC", t0);
        REQUIRE(r.size() == 2);
        CHECK(r[0].get<bool>(0));
        CHECK(r[0].get<std::vector<std::string>>(1) == std::vector<std::string>{"a", "b"});
        CHECK(r[1].get<std::vector<std::string>>(1).empty());
        CHECK(r[1].get<bool>(2));
        CHECK(r[1].get<std::string>(3) == "before 1970");
        co_await conn.close();
    }());
}

TEST_CASE("bulk_load: types that differ from the columns go through text COPY, parsed by the server") {
    run([]() -> asio::awaitable<void> {
        auto conn = co_await connect();
        co_await conn.simple_query("CREATE TEMP TABLE measures(id int8, x float4, at timestamptz, tags text[])");
        // int32 into int8, a string into timestamptz, strings into text[]: binary
        // COPY would misread or refuse them, text COPY converts them exactly.
        std::vector<std::tuple<std::int32_t, double, std::string, std::vector<std::string>>> rows{
            {1, 1.5, "2024-02-29 12:00:00+00", {"a\tb", "back\\slash", "new\nline"}},
            {-2147483647 - 1, -0.25, "infinity", {}},
        };
        const auto copied = co_await conn.bulk_load("measures", rows);
        CHECK(copied == 2u);
        auto r = co_await conn.query("SELECT id, x, at::text, tags FROM measures ORDER BY id DESC");
        REQUIRE(r.size() == 2);
        CHECK(r[0].get<std::int64_t>(0) == 1);
        CHECK(r[0].get<float>(1) == 1.5f);
        CHECK(r[0].get<std::string>(2) == "2024-02-29 12:00:00+00");
        CHECK(r[0].get<std::vector<std::string>>(3) == std::get<3>(rows[0]));
        CHECK(r[1].get<std::int64_t>(0) == -2147483648LL);
        CHECK(r[1].get<std::string>(2) == "infinity");

        // What the server cannot parse fails with its error, naming the row; nothing is loaded.
        std::vector<std::tuple<std::int64_t, std::string>> bad{{3, "1.5"}, {4, "not a number"}};
        std::string sqlstate, where;
        try {
            co_await conn.bulk_load("measures (id, x)", bad);
        } catch (const pgcoro::server_error& e) {
            sqlstate = e.sqlstate();
            where = e.diag().where;
        }
        CHECK(sqlstate == "22P02");
        CHECK(where.find("line 2") != std::string::npos);
        CHECK(co_await count_rows(conn, "measures") == 2);

        std::vector<std::tuple<std::int64_t>> too_few{{1}};
        CHECK(co_await error_code_of([&] { return conn.bulk_load("measures", too_few); }) == pgcoro::errc::invalid_value);
        CHECK(co_await error_code_of([&] { return conn.bulk_load("measures (id; DROP TABLE measures)", too_few); }) ==
              pgcoro::errc::invalid_value);
        CHECK(co_await count_rows(conn, "measures") == 2);
        CHECK(conn.is_usable());
        co_await conn.close();
    }());
}

TEST_CASE("bulk_load: strings into user-defined types (an enum, an array of it, a composite) go through text COPY") {
    run([]() -> asio::awaitable<void> {
        auto conn = co_await connect();
        co_await conn.simple_query(
            "CREATE TYPE pg_temp.mood AS ENUM ('sad', 'ok', 'happy'); CREATE TYPE pg_temp.pair AS (a int4, b text); "
            "CREATE TEMP TABLE feelings(m mood, ms mood[], p pair)");
        // The binary forms of an array and of a composite start with counts
        // (array_recv, record_recv), not the text: only the server's parsing
        // of text COPY reads these strings as what they spell.
        std::vector<std::tuple<std::string, std::vector<std::string>, std::string>> rows{
            {"ok", {"sad", "happy"}, "(1,\"x y\")"},
            {"happy", {}, "(-2,)"},
        };
        const auto copied = co_await conn.bulk_load("feelings", rows);
        CHECK(copied == 2u);
        auto r = co_await conn.query("SELECT m::text, ms::text, p::text FROM feelings ORDER BY (p).a DESC");
        REQUIRE(r.size() == 2);
        CHECK(r[0].get<std::string>(0) == "ok");
        CHECK(r[0].get<std::string>(1) == "{sad,happy}");
        CHECK(r[0].get<std::string>(2) == "(1,\"x y\")");
        CHECK(r[1].get<std::string>(1) == "{}");
        CHECK(r[1].get<std::string>(2) == "(-2,)");
        co_await conn.close();
    }());
}

TEST_CASE("bulk_load: a row that fails on the client aborts the whole COPY") {
    run([]() -> asio::awaitable<void> {
        auto conn = co_await connect();
        co_await conn.simple_query("CREATE TEMP TABLE numbers(n int4)");
        auto rows = std::views::iota(1, 200'001) | std::views::transform([](int i) {
            if (i == 150'000) throw std::runtime_error("row source failed at 150000");
            return std::tuple<int>(i);
        });
        std::string message;
        try {
            co_await conn.bulk_load("numbers", rows);
        } catch (const std::runtime_error& e) {
            message = e.what();
        }
        CHECK(message == "row source failed at 150000");  // the caller's own exception
        CHECK(co_await count_rows(conn, "numbers") == 0);  // rows already sent were rolled back
        CHECK(conn.is_usable());
        co_await conn.close();
    }());
}

// --- row_stream -------------------------------------------------------------------

namespace {

using pgcoro::stream_fetch;

pgcoro::stream_options fetched(stream_fetch how, std::int32_t chunk_rows) {
    return {.chunk_rows = chunk_rows, .fetch = how};
}
const char* name_of(stream_fetch how) { return how == stream_fetch::continuous ? "continuous" : "per chunk"; }

// The server's wait event for `pid` once it is `wanted`, looking again
// while it is not: on a loaded machine the backend gets there after we look.
asio::awaitable<std::optional<std::string>> wait_event_once(pgcoro::connection& observer, int pid, std::string wanted) {
    std::optional<std::string> event;
    for (int attempt = 0; attempt < 300 && event != wanted; ++attempt) {
        if (attempt > 0) co_await sleep_for(10ms);
        auto activity = co_await observer.query("SELECT state, wait_event FROM pg_stat_activity WHERE pid = $1", pid);
        REQUIRE(activity.size() == 1);
        CHECK(activity[0].get<std::string>(0) == "active");
        event = activity[0].get<std::optional<std::string>>(1);
    }
    co_return event;
}

// A sequence the statement advances once per row: how far it got tells
// whether the server ran the statement to its end, even one cancelled.
asio::awaitable<void> reset_counter(pgcoro::connection& conn) {
    co_await conn.simple_query("DROP SEQUENCE IF EXISTS stream_counter; CREATE SEQUENCE stream_counter");
}
asio::awaitable<std::int64_t> counter_value(pgcoro::connection& conn) {
    auto r = co_await conn.query("SELECT last_value FROM stream_counter");
    co_return r[0].get<std::int64_t>(0);
}
constexpr std::string_view counted_rows = "SELECT nextval('stream_counter') FROM generate_series(1, $1) g";

}  // namespace

TEST_CASE("stream: 300,000 rows in bounded chunks, either way of fetching") {
    for (const auto how : {stream_fetch::continuous, stream_fetch::per_chunk}) {
        DYNAMIC_SECTION(name_of(how)) {
            run([how]() -> asio::awaitable<void> {
                auto conn = co_await connect();
                auto rows = co_await conn.stream(fetched(how, 5000), "SELECT g, md5(g::text) FROM generate_series(1, $1) g",
                                                 std::int64_t{300'000});
                REQUIRE(rows.columns().size() == 2);
                CHECK(rows.columns()[1].name == "md5");
                std::int64_t sum = 0, count = 0;
                std::size_t largest_chunk = 0, chunks = 0;
                while (co_await rows.next_chunk()) {
                    ++chunks;
                    largest_chunk = std::max(largest_chunk, rows.chunk().size());
                    for (auto row : rows.chunk()) {
                        CHECK(row.get<std::int64_t>(0) == count + 1);
                        sum += row.get<std::int64_t>(0);
                        ++count;
                    }
                }
                CHECK(count == 300'000);
                CHECK(sum == std::int64_t{300'000} * 300'001 / 2);
                // Continuous, a chunk is what has arrived: never more than
                // chunk_rows, and fewer when the client reads faster.
                if (how == stream_fetch::per_chunk) {
                    CHECK(largest_chunk == 5000);
                    CHECK(chunks == 60);
                } else {
                    CHECK(largest_chunk <= 5000);
                    CHECK(chunks >= 60);
                }
                CHECK(rows.done());
                CHECK(rows.rows_read() == 300'000u);
                // One Execute for every row counts them all; per chunk, the
                // last Execute's tag counts only its own.
                CHECK(rows.command_tag() == (how == stream_fetch::continuous ? "SELECT 300000" : "SELECT 0"));
                CHECK(conn.is_usable());
                CHECK(co_await test::scalar_on(conn, "SELECT 'after'") == "after");
                co_await conn.close();
            }());
        }
    }
}

TEST_CASE("stream: automatic fetching is continuous outside a transaction block and per chunk inside one") {
    run([]() -> asio::awaitable<void> {
        auto conn = co_await connect();
        auto tag_of = [&](bool read_all) -> asio::awaitable<std::string> {
            auto rows = co_await conn.stream(pgcoro::stream_options{.chunk_rows = 10}, "SELECT g FROM generate_series(1, 25) g");
            if (read_all)
                while (co_await rows.next()) {}
            co_return rows.command_tag();
        };
        CHECK(co_await tag_of(true) == "SELECT 25");
        auto tx = co_await conn.begin();
        CHECK(co_await tag_of(true) == "SELECT 5");  // the third Execute's own five rows
        co_await tx.commit();
        co_await conn.close();
    }());
}

TEST_CASE("stream: the server waits for the client (back-pressure), between chunks or in the socket") {
    for (const auto how : {stream_fetch::continuous, stream_fetch::per_chunk}) {
        DYNAMIC_SECTION(name_of(how)) {
            run([how]() -> asio::awaitable<void> {
                auto conn = co_await connect();
                auto observer = co_await connect();
                // Continuous, enough rows to fill the sockets' buffers many times over.
                const std::int64_t total = how == stream_fetch::continuous ? 2'000'000 : 100'000;
                auto rows = co_await conn.stream(fetched(how, 100), "SELECT g FROM generate_series(1, $1) g", total);
                auto first = co_await rows.next();
                REQUIRE(first);
                CHECK(first->get<std::int64_t>(0) == 1);
                CHECK(rows.chunk().size() <= 100);
                // The busy connection can run nothing else meanwhile.
                const auto refused = co_await error_code_of([&] { return conn.query("SELECT 1"); });
                CHECK(refused == pgcoro::errc::operation_in_progress);

                // Per chunk, the backend waits for our next Execute,
                // mid-statement, having sent the chunk asked for ahead;
                // continuous, it waits for room in the socket.
                const std::string waiting = how == stream_fetch::continuous ? "ClientWrite" : "ClientRead";
                CHECK(co_await wait_event_once(observer, conn.backend_pid(), waiting) == std::optional<std::string>(waiting));

                // Per chunk, read to the end; continuous, some more in
                // order, then closed (a cancel: the rest is not read).
                const std::int64_t until = how == stream_fetch::continuous ? 10'000 : total;
                std::int64_t last = 1;
                while (last < until) {
                    auto row = co_await rows.next();
                    if (!row || row->get<std::int64_t>(0) != last + 1) break;
                    last = row->get<std::int64_t>(0);
                }
                CHECK(last == until);
                if (how == stream_fetch::continuous) co_await rows.close();
                else CHECK_FALSE(co_await rows.next());
                CHECK(rows.done());
                CHECK(co_await test::scalar_on(conn, "SELECT 'after'") == "after");
                co_await observer.close();
                co_await conn.close();
            }());
        }
    }
}

TEST_CASE("stream left early: continuous, the statement is cancelled; per chunk, or in a transaction, it runs no further than read") {
    SECTION("continuous, out of a transaction: closed or dropped, the server stops") {
        run([]() -> asio::awaitable<void> {
            // Through a proxy that counts connections: the cancel requests' too.
            test::fault_proxy proxy(co_await asio::this_coro::executor);
            auto conn = co_await pgcoro::connection::connect(config_of(proxy.conninfo("user=pgcoro_scram password=scram_pw")));
            co_await reset_counter(conn);
            const std::int64_t total = 50'000'000;  // minutes of rows, were they all sent
            {
                auto rows = co_await conn.stream(fetched(stream_fetch::continuous, 1000), counted_rows, total);
                REQUIRE(co_await rows.next_chunk());
                co_await rows.close();
                CHECK(rows.done());
                CHECK_FALSE(co_await rows.next_chunk());
            }
            CHECK(conn.is_usable());
            CHECK(proxy.links() == 2);  // the session and one cancel request
            const auto after_close = co_await counter_value(conn);
            CHECK(after_close < total);
            {
                auto rows = co_await conn.stream(fetched(stream_fetch::continuous, 1000), counted_rows, total);
                REQUIRE(co_await rows.next());
            }  // dropped: the next operation cancels and drains
            CHECK(co_await test::scalar_on(conn, "SELECT 'after'") == "after");
            CHECK(co_await counter_value(conn) - after_close < total);
            CHECK(proxy.links() == 3);
            CHECK(conn.is_usable());
            co_await conn.close();
        }());
    }
    SECTION("per chunk, out of a transaction: the portal is closed") {
        run([]() -> asio::awaitable<void> {
            auto conn = co_await connect();
            co_await reset_counter(conn);
            {
                auto rows = co_await conn.stream(fetched(stream_fetch::per_chunk, 10), counted_rows, std::int64_t{1'000'000});
                REQUIRE(co_await rows.next());
            }
            CHECK(conn.is_usable());
            CHECK(co_await test::scalar_on(conn, "SELECT 'after'") == "after");
            CHECK(co_await counter_value(conn) == 20);  // the chunk read and the one asked for ahead
            co_await conn.close();
        }());
    }
    SECTION("in a transaction, either way: the transaction is untouched") {
        run([]() -> asio::awaitable<void> {
            auto conn = co_await connect();
            co_await conn.simple_query("CREATE TEMP TABLE t(n int)");
            co_await reset_counter(conn);
            auto tx = co_await conn.begin();
            co_await conn.execute("INSERT INTO t VALUES (1)");
            {
                // automatic: per chunk here.
                auto rows = co_await conn.stream(pgcoro::stream_options{.chunk_rows = 10}, counted_rows, std::int64_t{1000});
                REQUIRE(co_await rows.next_chunk());
                co_await rows.close();
            }
            CHECK(co_await counter_value(conn) == 20);
            {
                // Continuous asked for: the rest is read, not cancelled.
                auto rows = co_await conn.stream(fetched(stream_fetch::continuous, 10), counted_rows, std::int64_t{100'000});
                REQUIRE(co_await rows.next_chunk());
                co_await rows.close();
            }
            CHECK(co_await counter_value(conn) == 100'020);
            co_await conn.execute("INSERT INTO t VALUES (2)");
            co_await tx.commit();
            CHECK(co_await count_rows(conn, "t") == 2);
            co_await conn.close();
        }());
    }
    SECTION("continuous, its end already arrived: closed or dropped without a cancel") {
        run([]() -> asio::awaitable<void> {
            test::fault_proxy proxy(co_await asio::this_coro::executor);
            auto conn = co_await pgcoro::connection::connect(config_of(proxy.conninfo("user=pgcoro_scram password=scram_pw")));
            co_await reset_counter(conn);
            for (const bool dropped : {false, true}) {
                auto rows = co_await conn.stream(fetched(stream_fetch::continuous, 1), counted_rows, std::int64_t{3});
                REQUIRE(co_await rows.next());
                // The three rows, the tag and ReadyForQuery arrive in one
                // read; the first chunk took one row of them.
                CHECK(rows.chunk().size() == 1);
                if (!dropped) co_await rows.close();
            }
            CHECK(co_await test::scalar_on(conn, "SELECT 'after'") == "after");
            CHECK(co_await counter_value(conn) == 6);
            CHECK(proxy.links() == 1);  // no cancel request
            co_await conn.close();
        }());
    }
}

TEST_CASE("stream: an error after some rows is reported and the connection stays usable") {
    for (const auto how : {stream_fetch::continuous, stream_fetch::per_chunk}) {
        DYNAMIC_SECTION(name_of(how)) {
            run([how]() -> asio::awaitable<void> {
                auto conn = co_await connect();
                auto rows = co_await conn.stream(fetched(how, 100), "SELECT 1 / (500 - g) FROM generate_series(1, 1000) g");
                int seen = 0;
                std::string sqlstate;
                try {
                    while (auto row = co_await rows.next()) {
                        ++seen;
                        if (row->get<std::int32_t>(0) != (seen == 499 ? 1 : 0)) break;
                    }
                } catch (const pgcoro::server_error& e) {
                    sqlstate = e.sqlstate();
                }
                CHECK(sqlstate == "22012");  // division_by_zero
                // Every whole chunk before the failing one. Per chunk, the
                // fifth Execute fails; continuous, the 499 rows and the error
                // come in one write of the server's (under its 8 KB buffer),
                // handed out a full chunk at a time until the error.
                CHECK(seen == 400);
                CHECK(conn.is_usable());
                CHECK(co_await test::scalar_on(conn, "SELECT 'usable'") == "usable");
                co_await conn.close();
            }());
        }
    }
}

TEST_CASE("stream cancelled while the server produces rows: the connection stays usable") {
    constexpr std::string_view slow_after_ten =
        "SELECT g, pg_sleep(CASE WHEN g > 10 THEN 10 ELSE 0 END) FROM generate_series(1, 20) g";
    SECTION("per chunk: two chunks read, the third cancelled") {
        run([slow_after_ten]() -> asio::awaitable<void> {
            auto conn = co_await connect();
            auto rows = co_await conn.stream(fetched(stream_fetch::per_chunk, 5), slow_after_ten);
            const auto started = std::chrono::steady_clock::now();
            const auto outcome = co_await read_until_stalled([&] { return rows.next(); }, 300ms);
            CHECK(outcome.stalled);
            CHECK(outcome.items == 10);  // the server sends each chunk as it ends
            CHECK(std::chrono::steady_clock::now() - started < 2s);
            CHECK(conn.is_usable());
            CHECK(co_await test::scalar_on(conn, "SELECT 'usable'") == "usable");
            co_await conn.close();
        }());
    }
    SECTION("continuous: the first rows wait in the server's buffer, and opening is cancelled") {
        run([slow_after_ten]() -> asio::awaitable<void> {
            auto conn = co_await connect();
            const auto started = std::chrono::steady_clock::now();
            auto opened = co_await (conn.stream(fetched(stream_fetch::continuous, 5), slow_after_ten) || sleep_for(300ms));
            CHECK(opened.index() == 1);  // the timer won
            CHECK(std::chrono::steady_clock::now() - started < 2s);
            CHECK(conn.is_usable());
            CHECK(co_await test::scalar_on(conn, "SELECT 'usable'") == "usable");
            co_await conn.close();
        }());
    }
}

}  // namespace integration_bulk
