// Fuzz target: the whole client side of a session, startup to the last
// query, against a "server" that sends the fuzz input. pgcoro's real code
// runs unchanged: pgcoro::connection::connect over a Unix socket (the
// connector, startup, every authentication kind the input asks for, the
// runner, the operations of session/, the result and type decoders), and an
// in-process peer on the other end of the socket that writes the input and
// hangs up. Whatever the client sends is read and dropped: the input decides
// what the server says, not what the client asked. A CancelRequest (a
// copy_out left early) connects again; that connection is read and closed,
// as PostgreSQL does.
//
// Input layout (a header, then the server's bytes):
//   byte 0  settings: bits 0-3 max_message_size = 2^(10 + n) (1 KiB..32 MiB);
//           bits 4-5 require_auth (none, scram-sha-256, md5,password, !none);
//           bit 6 channel_binding=require
//   byte 1  delivery: 0 all at once, else chunks of that many bytes (64 of
//           them, then each twice the last), the client reading between chunks
//   byte 2-5 operations, in order (op_count kinds, see run_operation below)
//   rest    what the server sends, from the first byte after StartupMessage
// When the bytes run out, the server hangs up: the client must end in a
// pgcoro::error (connection_closed), never wait. Anything else escaping
// (another exception type, a crash, a sanitizer report, a hang) is a finding.
//
// SESSION_EXCHANGE_VERBOSE=1 in the environment prints the pgcoro::error
// that ended each operation (how far an input gets).
//
// Built with -DPGCORO_SESSION_EXCHANGE_CLIENT it is instead a plain program
// that runs the same operations against a real server (capture_seeds.py
// records what that server answers, to make seeds): arguments conninfo and
// the header in hex.
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <pgcoro.hpp>

namespace {

namespace asio = boost::asio;
using namespace std::chrono;

constexpr std::size_t header_size = 6;

// --- what the client does ---------------------------------------------------

template <class T>
void try_get(const pgcoro::row& r, std::size_t i) {
    try {
        (void)r.template get<T>(i);
    } catch (const pgcoro::error&) {
    }
}

// The typed reads a user might try: get<T> of every codec, binary or text
// as the column came. Each cell gets the read its column's type OID calls
// for (so a hostile RowDescription picks the decoder) and two more that
// rotate over the table (mismatches, arrays of the wrong element type).
// Not all of them on every cell: a failed get<T> throws, and a thrown
// exception per type per cell would cost more than the rest of the exchange.
using getter = void (*)(const pgcoro::row&, std::size_t);
constexpr getter getters[] = {
    try_get<bool>, try_get<std::int16_t>, try_get<std::int32_t>, try_get<std::int64_t>, try_get<float>,
    try_get<double>, try_get<pgcoro::numeric>, try_get<std::string>, try_get<std::optional<std::string_view>>,
    try_get<pgcoro::bytea>, try_get<pgcoro::uuid>, try_get<std::chrono::sys_days>,
    try_get<std::chrono::local_time<std::chrono::microseconds>>, try_get<std::chrono::sys_time<std::chrono::microseconds>>,
    try_get<pgcoro::time_of_day>, try_get<pgcoro::interval>, try_get<pgcoro::json>, try_get<pgcoro::jsonb>,
    try_get<pgcoro::inet>, try_get<pgcoro::oid>, try_get<std::vector<std::optional<std::int32_t>>>,
    try_get<std::vector<std::int64_t>>, try_get<std::vector<std::optional<std::string>>>,
    try_get<std::vector<std::vector<std::int64_t>>>, try_get<std::vector<std::optional<pgcoro::numeric>>>,
    try_get<std::vector<std::chrono::sys_time<std::chrono::microseconds>>>,
};
constexpr std::size_t getter_count = sizeof getters / sizeof getters[0];

// The getters index for a column's type, or getter_count when none fits.
std::size_t getter_for(std::uint32_t type_oid) {
    switch (type_oid) {
    case 16: return 0;                           // bool
    case 21: return 1;                           // int2
    case 23: return 2;                           // int4
    case 20: return 3;                           // int8
    case 700: return 4;                          // float4
    case 701: return 5;                          // float8
    case 1700: return 6;                         // numeric
    case 25: case 1043: case 1042: case 19: return 7;  // text, varchar, bpchar, name
    case 17: return 9;                           // bytea
    case 2950: return 10;                        // uuid
    case 1082: return 11;                        // date
    case 1114: return 12;                        // timestamp
    case 1184: return 13;                        // timestamptz
    case 1083: return 14;                        // time
    case 1186: return 15;                        // interval
    case 114: return 16;                         // json
    case 3802: return 17;                        // jsonb
    case 869: case 650: return 18;               // inet, cidr
    case 26: return 19;                          // oid
    case 1007: return 20;                        // int4[]
    case 1016: return 21;                        // int8[]
    case 1009: case 1015: return 22;             // text[], varchar[]
    case 1231: return 24;                        // numeric[]
    case 1185: return 25;                        // timestamptz[]
    default: return getter_count;
    }
}

void read_row(const pgcoro::row& r, const std::vector<pgcoro::column>& columns, std::size_t index) {
    for (std::size_t i = 0; i < r.size(); ++i) {
        (void)r[i];
        if (i < columns.size())
            if (const auto g = getter_for(columns[i].type_oid); g < getter_count) getters[g](r, i);
        getters[(i + index) % getter_count](r, i);
        getters[(i * 7 + index * 3 + 11) % getter_count](r, i);
        try {
            (void)r.text(i);
        } catch (const pgcoro::error&) {
        }
    }
}

void read_result(const pgcoro::result& res) {
    for (const auto& c : res.columns()) (void)c.name;
    std::size_t index = 0;
    for (auto r : res) read_row(r, res.columns(), index++);
    if (!res.columns().empty() && res.size() > 0) {
        try {
            (void)res[0].get<std::optional<std::string>>(std::string_view(res.columns()[0].name));
        } catch (const pgcoro::error&) {
        }
    }
    try {
        (void)res.rows_affected();
    } catch (const pgcoro::error&) {
    }
}

// One row of several types, as the extended protocol returns them (binary
// where pgcoro has a codec).
constexpr std::string_view typed_select =
    "SELECT $1::int4 AS i, $2::text AS t, $3::numeric AS n, TIMESTAMP '2024-02-29 13:45:00.5' AS ts, "
    "now() AS tz, ARRAY[1, NULL, 3]::int4[] AS a, ARRAY['x', 'y z']::text[] AS ta, "
    "'{{1,2},{3,4}}'::int8[] AS m, NULL::int8 AS nothing, '1 year 2 mons 3 days 04:05:06'::interval AS iv, "
    "'12.5'::float8 AS f, DATE '2000-01-01' AS d, gen_random_uuid() AS u, '{\"k\": [1]}'::jsonb AS j, "
    "'10.0.0.1/8'::inet AS net, '\\x00ff'::bytea AS b FROM generate_series(1, 2)";

constexpr int op_count = 16;

asio::awaitable<void> run_operation(pgcoro::connection& conn, int op) {
    switch (op) {
    case 0: co_return;  // nothing
    case 1: {  // simple query, several statements, text results
        auto results = co_await conn.simple_query(
            "SELECT 1 AS one, 'two' AS two, NULL AS three; SELECT 12.5::numeric, now(), ARRAY[1,2]; SET application_name = 'x'");
        for (const auto& r : results) read_result(r);
        break;
    }
    case 2: {  // extended query with parameters, typed decoding
        auto r = co_await conn.query(typed_select, std::int32_t{42}, std::string("text"), pgcoro::numeric("-12.3400"));
        read_result(r);
        break;
    }
    case 3: {  // execute, rows affected
        (void)co_await conn.execute("SELECT $1::int8 FROM generate_series(1, 3)", std::int64_t{7});
        break;
    }
    case 4: {  // a prepared statement, queried and deallocated
        auto st = co_await conn.prepare("SELECT $1::int4 + 1 AS next, $2::text AS t");
        for (auto t : st.parameter_types()) (void)t;
        read_result(co_await conn.query(st, std::int32_t{1}, std::string("a")));
        co_await conn.deallocate(st);
        break;
    }
    case 5: {  // a pipeline of three statements, two sync segments, one failing
        pgcoro::pipeline p;
        p.query("SELECT $1::int4 AS a", std::int32_t{1}).query("SELECT 1 / $1::int4", std::int32_t{0}).sync();
        p.query("SELECT $1::text AS b, now() AS c", std::string("x"));
        for (const auto& o : co_await conn.run(p)) {
            if (o.ok()) read_result(o.rows);
            else if (o.error) (void)o.error->message;
        }
        break;
    }
    case 6: {  // a stream read to the end, one Execute of two rows a chunk
        auto rows = co_await conn.stream(pgcoro::stream_options{.chunk_rows = 2, .fetch = pgcoro::stream_fetch::per_chunk},
                                         typed_select, std::int32_t{3},
                                         std::string("s"), pgcoro::numeric("1"));
        std::size_t index = 0;
        while (auto r = co_await rows.next()) read_row(*r, rows.columns(), index++);
        break;
    }
    case 7: {  // a stream left after its first row (the next operation closes the portal)
        auto rows = co_await conn.stream(pgcoro::stream_options{.chunk_rows = 1, .fetch = pgcoro::stream_fetch::per_chunk},
                                         "SELECT g, g::text FROM generate_series(1, 5) g");
        if (auto r = co_await rows.next()) read_row(*r, rows.columns(), 0);
        break;
    }
    case 8: {  // COPY FROM STDIN
        (void)co_await conn.simple_query("CREATE TEMP TABLE IF NOT EXISTS fuzz_copy (i int4, t text)");
        auto in = co_await conn.copy_in("COPY fuzz_copy FROM STDIN");
        co_await in.write("1\tone\n2\t");
        co_await in.write("two\n");
        (void)co_await in.finish();
        break;
    }
    case 9: {  // COPY TO STDOUT, read to the end
        auto out = co_await conn.copy_out("COPY (SELECT g, 'row ' || g FROM generate_series(1, 3) g) TO STDOUT");
        (void)out.format();
        while (auto data = co_await out.read()) (void)data->size();
        (void)out.rows();
        break;
    }
    case 10: {  // COPY TO STDOUT left after one row: cancelled and drained by the next operation
        // 500 rows at once (the server's first 8 KB flush), then slow ones: the cancel lands mid-COPY.
        auto out = co_await conn.copy_out(
            "COPY (SELECT g, pg_sleep(CASE WHEN g > 500 THEN 0.05 ELSE 0 END) FROM generate_series(1, 600) g) "
            "TO STDOUT (FORMAT binary)");
        (void)co_await out.read();
        break;
    }
    case 11: {  // LISTEN, NOTIFY to ourselves, and the notification
        (void)co_await conn.simple_query("LISTEN fuzz_channel; NOTIFY fuzz_channel, 'payload'");
        auto n = co_await conn.wait_for_notification();
        (void)n.payload;
        break;
    }
    case 12: {  // a query the server fails (division by zero), then one that works
        try {
            (void)co_await conn.query("SELECT 1 / $1::int4", std::int32_t{0});
        } catch (const pgcoro::server_error& e) {
            (void)e.diag().sqlstate;
        }
        read_result(co_await conn.query("SELECT 'after' AS a"));
        break;
    }
    case 13: {  // a transaction with a savepoint
        auto tx = co_await conn.begin();
        (void)co_await conn.execute("SELECT $1::int4", std::int32_t{5});
        auto sp = co_await tx.savepoint();
        co_await sp.commit();
        co_await tx.commit();
        break;
    }
    case 14: {  // a stream with one Execute for every row, read to the end in chunks of what arrived
        auto rows = co_await conn.stream(pgcoro::stream_options{.chunk_rows = 2, .fetch = pgcoro::stream_fetch::continuous},
                                         typed_select, std::int32_t{3}, std::string("s"), pgcoro::numeric("1"));
        std::size_t index = 0;
        while (co_await rows.next_chunk())
            for (auto r : rows.chunk()) read_row(r, rows.columns(), index++);
        (void)rows.command_tag();
        break;
    }
    case 15: {  // a continuous stream left after its first row: the next operation cancels and drains it
        // Rows past the server's first 8 KB flush, then slow ones: the cancel lands mid-statement.
        auto rows = co_await conn.stream(pgcoro::stream_options{.chunk_rows = 1, .fetch = pgcoro::stream_fetch::continuous},
            "SELECT g, pg_sleep(CASE WHEN g > 1000 THEN 0.05 ELSE 0 END) FROM generate_series(1, 1100) g");
        if (auto r = co_await rows.next()) read_row(*r, rows.columns(), 0);
        break;
    }
    }
}

std::string conninfo_for(std::uint8_t settings, const std::string& base) {
    std::string c = base;
    static constexpr const char* require_auth[] = {"", "scram-sha-256", "md5,password", "!none"};
    if (const char* r = require_auth[(settings >> 4) & 3]; *r) c += std::string(" require_auth=") + r;
    if (settings & 0x40) c += " channel_binding=require";
    return c;
}

pgcoro::config config_for(std::uint8_t settings, const std::string& base) {
    auto cfg = pgcoro::config::parse(conninfo_for(settings, base), pgcoro::config::no_environment());
    cfg.max_message_size = std::size_t{1} << (10 + (settings & 15));
    // Each SCRAM round costs a PBKDF2 of this many iterations: kept small.
    cfg.max_scram_iterations = 4096;
    return cfg;
}

// Connects, runs the operations the header names, closes. Only a
// pgcoro::error may end it early.
asio::awaitable<void> run_client(pgcoro::config cfg, std::span<const std::uint8_t> ops, bool report) {
    std::optional<pgcoro::connection> conn;
    try {
        conn.emplace(co_await pgcoro::connection::connect(cfg));
    } catch (const pgcoro::error& e) {
        if (report) std::fprintf(stderr, "connect: %s\n", e.what());
        co_return;
    }
    (void)conn->parameter("server_version");
    (void)conn->backend_pid();
    (void)conn->authentication_method();
    for (auto op : ops) {
        try {
            co_await run_operation(*conn, op % op_count);
        } catch (const pgcoro::error& e) {
            if (report) std::fprintf(stderr, "operation %d: %s\n", op % op_count, e.what());
        }
    }
    try {
        co_await conn->close();
    } catch (const pgcoro::error&) {
    }
}

// Runs `a` (an awaitable, or a function returning one) and turns anything
// but a clean end into a crash with its message.
template <class Awaitable>
void spawn_checked(asio::io_context& io, Awaitable&& a, const char* what) {
    asio::co_spawn(io, std::forward<Awaitable>(a), [what](std::exception_ptr e) {
        if (!e) return;
        try {
            std::rethrow_exception(e);
        } catch (const std::exception& x) {
            std::fprintf(stderr, "session_exchange: %s threw %s: %s\n", what, typeid(x).name(), x.what());
        } catch (...) {
            std::fprintf(stderr, "session_exchange: %s threw a non-std exception\n", what);
        }
        std::abort();
    });
}

}  // namespace

#ifndef PGCORO_SESSION_EXCHANGE_CLIENT

#include <filesystem>
#include <unistd.h>

namespace {

using unix_socket = asio::local::stream_protocol::socket;

struct fake_server_dir {
    std::filesystem::path dir;
    fake_server_dir() {
        char tmpl[] = "/tmp/pgcoro-fuzz-XXXXXX";
        if (!::mkdtemp(tmpl)) std::abort();
        dir = tmpl;
    }
    ~fake_server_dir() {
        std::error_code ec;
        std::filesystem::remove_all(dir, ec);
    }
    std::string socket() const { return (dir / ".s.PGSQL.5432").string(); }
};

const fake_server_dir& server_dir() {
    static fake_server_dir d;
    return d;
}

// Reads and drops what the client sends until it closes its end.
asio::awaitable<void> drain(unix_socket& s) {
    char sink[4096];
    boost::system::error_code ec;
    while (!ec) co_await s.async_read_some(asio::buffer(sink), asio::redirect_error(asio::use_awaitable, ec));
}

// The first connection gets the input; later ones (CancelRequests) are
// read and closed.
asio::awaitable<void> serve(asio::local::stream_protocol::acceptor& acceptor, std::string_view bytes, std::size_t chunk,
                            bool& client_done) {
    const auto ex = co_await asio::this_coro::executor;
    bool first = true;
    for (;;) {
        boost::system::error_code ec;
        auto s = std::make_shared<unix_socket>(ex);
        co_await acceptor.async_accept(*s, asio::redirect_error(asio::use_awaitable, ec));
        if (ec || client_done) co_return;
        if (!first) {
            // As PostgreSQL does: reads the CancelRequest, then closes (the
            // client waits for that close).
            asio::co_spawn(ex, [s]() -> asio::awaitable<void> {
                char request[16];
                boost::system::error_code ec;
                co_await asio::async_read(*s, asio::buffer(request), asio::redirect_error(asio::use_awaitable, ec));
                s->close(ec);
            }, asio::detached);
            continue;
        }
        first = false;
        asio::co_spawn(ex, [s, bytes, chunk]() -> asio::awaitable<void> {
            // Reading concurrently: a client that writes much (COPY) must never block on us.
            asio::co_spawn(co_await asio::this_coro::executor, [s]() -> asio::awaitable<void> { co_await drain(*s); },
                           asio::detached);
            boost::system::error_code ec;
            std::size_t piece = chunk == 0 ? bytes.size() : chunk;
            for (std::size_t at = 0, pieces = 0; at < bytes.size() && !ec; ++pieces) {
                const auto n = std::min(piece, bytes.size() - at);
                co_await asio::async_write(*s, asio::buffer(bytes.data() + at, n), asio::redirect_error(asio::use_awaitable, ec));
                at += n;
                // After 64 pieces they double: splits reach the whole input
                // at a cost that grows with its logarithm, not its size.
                if (pieces >= 64) piece *= 2;
                // Let the client read this piece before the next one arrives.
                for (int i = 0; i < 3; ++i) co_await asio::post(co_await asio::this_coro::executor, asio::use_awaitable);
            }
            s->shutdown(unix_socket::shutdown_send, ec);  // the server hangs up
        }, asio::detached);
    }
}

}  // namespace

// SESSION_EXCHANGE_VERBOSE=1 prints the pgcoro::error that ended each
// operation: to see how far a seed gets.
const bool verbose = std::getenv("SESSION_EXCHANGE_VERBOSE") != nullptr;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < header_size) return 0;
    const std::uint8_t settings = data[0];
    const std::size_t chunk = data[1];
    const std::span<const std::uint8_t> ops(data + 2, 4);
    const std::string_view bytes(reinterpret_cast<const char*>(data) + header_size, size - header_size);

    const auto& dir = server_dir();
    const auto cfg = config_for(settings, "host=" + dir.dir.string() +
                                              " port=5432 user=u password=pencil dbname=db sslmode=disable "
                                              "passfile=/nonexistent application_name=fuzz");

    asio::io_context io(1);
    ::unlink(dir.socket().c_str());
    asio::local::stream_protocol::acceptor acceptor(io, asio::local::stream_protocol::endpoint(dir.socket()));
    bool client_done = false;
    spawn_checked(io, serve(acceptor, bytes, chunk, client_done), "the fake server");
    // co_spawn keeps the function object alive while its coroutine runs.
    spawn_checked(io, [&]() -> asio::awaitable<void> {
        co_await run_client(cfg, ops, verbose);
        client_done = true;
        acceptor.close();
    }, "the client");
    io.run();
    // The server has hung up and every socket is closed: a client still
    // waiting here waits on nothing, forever.
    if (!client_done) {
        std::fprintf(stderr, "session_exchange: the client is stuck after the server hung up\n");
        std::abort();
    }
    return 0;
}

#else  // PGCORO_SESSION_EXCHANGE_CLIENT: the same operations against a real server

int main(int argc, char** argv) {
    if (argc != 3 || std::string_view(argv[2]).size() != 2 * header_size) {
        std::fprintf(stderr, "usage: %s CONNINFO HEADER_HEX(%zu bytes)\n", argv[0], header_size);
        return 2;
    }
    std::uint8_t header[header_size];
    for (std::size_t i = 0; i < header_size; ++i) header[i] = static_cast<std::uint8_t>(std::stoi(std::string(argv[2] + 2 * i, 2), nullptr, 16));
    asio::io_context io(1);
    auto cfg = config_for(header[0], argv[1]);
    spawn_checked(io, run_client(cfg, std::span<const std::uint8_t>(header + 2, 4), true), "the client");
    io.run();
    return 0;
}

#endif
