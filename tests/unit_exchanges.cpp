// Every exchange the public API has with the server, against a scripted
// server on loopback (tests/support/exchange_script.hpp): the messages the
// client sends, byte for byte, and what the calls return; then the same
// exchange with the network failing at every step and with an unexpected
// message at every step (tests/support/exchange_sweep.hpp). Written against
// the public API only, so it holds whatever runs the exchanges inside.
#include "support/exchange_sweep.hpp"

#include "support/catch.hpp"

#include <memory>
#include <string>
#include <tuple>
#include <vector>

namespace asio = boost::asio;
namespace fe = test::script::frontend;
namespace be = test::script::backend;
using test::script::expect;
using test::script::int4_binary;
using test::script::int8_binary;
using test::script::mutation;
using test::script::scenario;
using test::script::send;
using test::script::describe;

namespace {

// --- the data the scenarios share --------------------------------------------------

constexpr std::string_view people = "SELECT id, name FROM person";
constexpr std::string_view people_up_to = "SELECT id, name FROM person WHERE id <= $1";
constexpr std::int16_t binary = 1;
constexpr std::int16_t text = 0;
constexpr std::uint32_t int4_oid = 23;
constexpr std::uint32_t text_oid = 25;

be::column_spec id_column() { return be::int4_column("id"); }
be::column_spec name_column() { return be::text_column("name"); }
test::script::wire_message person_columns() { return be::row_description({id_column(), name_column()}); }
// A row as the extended protocol sends it when Bind asked for binary int4 and text.
test::script::wire_message person_row(std::int32_t id, std::string name) {
    return be::data_row({int4_binary(id), std::move(name)});
}
// The same row in the simple protocol: text.
test::script::wire_message person_text_row(std::string id, std::string name) {
    return be::data_row({std::move(id), std::move(name)});
}

std::string state_name(pgcoro::transaction_status s) {
    switch (s) {
    case pgcoro::transaction_status::idle: return "idle";
    case pgcoro::transaction_status::in_transaction: return "in a transaction";
    case pgcoro::transaction_status::failed: return "in a failed transaction";
    }
    return "?";
}

// A statement's Parse, Describe and Sync, then the server's description.
test::script::script prepared(std::string_view name, std::string_view sql, std::vector<std::uint32_t> sent_types,
                              std::vector<std::uint32_t> resolved_types, test::script::wire_message columns) {
    return {expect(fe::parse(name, sql, std::move(sent_types))),
            expect(fe::describe_statement(name)),
            expect(fe::sync()),
            send(be::parse_complete()),
            send(be::parameter_description(std::move(resolved_types))),
            send(std::move(columns)),
            send(be::ready_for_query())};
}

// --- extended protocol: query, execute, query_into, errors -------------------------

scenario query_with_a_parameter() {
    return {
        "query() with a parameter",
        test::script::concatenated({
            prepared("pgcoro_1", people_up_to, {int4_oid}, {int4_oid}, person_columns()),
            {expect(fe::bind("", "pgcoro_1", {binary}, {int4_binary(2)}, {binary, text})),
             expect(fe::execute("", 0)),
             expect(fe::sync()),
             send(be::bind_complete()),
             send(person_row(1, "one")),
             send(person_row(2, "two")),
             send(be::command_complete("SELECT 2")),
             send(be::ready_for_query())},
        }),
        [](pgcoro::connection& conn) -> asio::awaitable<std::string> {
            co_return describe(co_await conn.query(people_up_to, 2));
        },
        "1|one, 2|two (SELECT 2)",
        {
        },
    };
}

scenario execute_counts_rows() {
    constexpr std::string_view update = "UPDATE person SET name = $1 WHERE id = $2";
    return {
        "execute() returns the rows affected",
        test::script::concatenated({
            prepared("pgcoro_1", update, {0, int4_oid}, {text_oid, int4_oid}, be::no_data()),
            {expect(fe::bind("", "pgcoro_1", {text, binary}, {"uno", int4_binary(1)}, {})),
             expect(fe::execute("", 0)),
             expect(fe::sync()),
             send(be::bind_complete()),
             send(be::command_complete("UPDATE 1")),
             send(be::ready_for_query())},
        }),
        [](pgcoro::connection& conn) -> asio::awaitable<std::string> {
            co_return std::to_string(co_await conn.execute("UPDATE person SET name = $1 WHERE id = $2", "uno", 1));
        },
        "1",
        {
        },
    };
}

scenario query_into_twice() {
    auto execution = [](std::vector<test::script::wire_message> rows, std::string tag) {
        test::script::script s{expect(fe::bind("", "pgcoro_1", {}, {}, {binary, text})),
                               expect(fe::execute("", 0)),
                               expect(fe::sync()),
                               send(be::bind_complete())};
        for (auto& r : rows) s.push_back(send(std::move(r)));
        s.push_back(send(be::command_complete(tag)));
        s.push_back(send(be::ready_for_query()));
        return s;
    };
    return {
        "query_into() twice: prepared once, then from the statement cache",
        test::script::concatenated({
            prepared("pgcoro_1", people, {}, {}, person_columns()),
            execution({person_row(1, "one"), person_row(2, "two")}, "SELECT 2"),
            execution({person_row(3, "three")}, "SELECT 1"),
        }),
        [](pgcoro::connection& conn) -> asio::awaitable<std::string> {
            pgcoro::result r;
            co_await conn.query_into(r, people);
            auto first = describe(r);
            co_await conn.query_into(r, people);
            co_return first + " / " + describe(r);
        },
        "1|one, 2|two (SELECT 2) / 3|three (SELECT 1)",
        {
        },
    };
}

scenario query_fails_on_the_server() {
    constexpr std::string_view division = "SELECT 10 / $1";
    return {
        "query() the server fails while executing",
        test::script::concatenated({
            prepared("pgcoro_1", division, {int4_oid}, {int4_oid}, be::row_description({be::int4_column("?column?")})),
            {expect(fe::bind("", "pgcoro_1", {binary}, {int4_binary(0)}, {binary})),
             expect(fe::execute("", 0)),
             expect(fe::sync()),
             send(be::bind_complete()),
             send(be::error_response("22012", "division by zero")),
             send(be::ready_for_query())},
        }),
        [](pgcoro::connection& conn) -> asio::awaitable<std::string> {
            try {
                co_await conn.query("SELECT 10 / $1", 0);
            } catch (const pgcoro::server_error& e) {
                co_return e.sqlstate() + " " + e.message();
            }
            co_return "no error";
        },
        "22012 division by zero",
        {
        },
    };
}

scenario asynchronous_messages_mid_query() {
    return {
        "query() with a notice, a notification and a parameter change among its answers",
        {
            expect(fe::parse("pgcoro_1", people, {})),
            expect(fe::describe_statement("pgcoro_1")),
            expect(fe::sync()),
            send(be::parse_complete()),
            send(be::parameter_status("application_name", "renamed")),
            send(be::parameter_description({})),
            send(person_columns()),
            send(be::ready_for_query()),
            expect(fe::bind("", "pgcoro_1", {}, {}, {binary, text})),
            expect(fe::execute("", 0)),
            expect(fe::sync()),
            send(be::bind_complete()),
            send(person_row(1, "one")),
            send(be::notice_response("careful", "WARNING")),
            send(person_row(2, "two")),
            send(be::notification_response(4243, "jobs", "job 8")),
            send(be::command_complete("SELECT 2")),
            send(be::ready_for_query()),
        },
        [](pgcoro::connection& conn) -> asio::awaitable<std::string> {
            // Shared, not captured by reference: the handler outlives this call.
            auto notices = std::make_shared<std::string>();
            conn.on_notice([notices](const pgcoro::diagnostics& d) { *notices += d.severity + ": " + d.message; });
            auto rows = co_await conn.query(people);
            const auto& queued = conn.notifications();
            co_return describe(rows) + "; notice " + *notices + "; notification " +
                (queued.empty() ? std::string("none") : queued.front().channel + ":" + queued.front().payload) +
                "; application_name " + std::string(conn.parameter("application_name"));
        },
        "1|one, 2|two (SELECT 2); notice WARNING: careful; notification jobs:job 8; application_name renamed",
        {
        },
    };
}

// --- simple protocol -----------------------------------------------------------------

scenario simple_query_with_two_statements() {
    constexpr std::string_view sql = "SELECT id, name FROM person; UPDATE person SET name = name";
    return {
        "simple_query() with two statements",
        {
            expect(fe::query(sql)),
            send(person_columns()),
            send(person_text_row("1", "one")),
            send(person_text_row("2", "two")),
            send(be::command_complete("SELECT 2")),
            send(be::command_complete("UPDATE 2")),
            send(be::ready_for_query()),
        },
        [](pgcoro::connection& conn) -> asio::awaitable<std::string> {
            co_return describe(co_await conn.simple_query("SELECT id, name FROM person; UPDATE person SET name = name"));
        },
        "1|one, 2|two (SELECT 2) / (UPDATE 2)",
        {
            {mutation::ready_for_query_instead, 5, "CommandComplete",
             "a first statement whose answer ends the query: no client can tell it from a one-statement query"},
            {mutation::data_row_instead, 4, "CommandComplete",
             "one more row in the first result, then the second statement's CommandComplete: "
             "indistinguishable from one statement returning three rows"},
        },
    };
}

scenario empty_simple_query() {
    return {
        "simple_query() of an empty string",
        {expect(fe::query("")), send(be::empty_query_response()), send(be::ready_for_query())},
        [](pgcoro::connection& conn) -> asio::awaitable<std::string> { co_return describe(co_await conn.simple_query("")); },
        "()",
        {
        },
    };
}

// --- prepared statements ------------------------------------------------------------------

scenario prepare_run_deallocate() {
    constexpr std::string_view by_id = "SELECT id, name FROM person WHERE id = $1";
    return {
        "prepare(), query(prepared) and deallocate()",
        test::script::concatenated({
            prepared("pgcoro_p1", by_id, {}, {int4_oid}, person_columns()),
            {expect(fe::bind("", "pgcoro_p1", {binary}, {int4_binary(1)}, {binary, text})),
             expect(fe::execute("", 0)),
             expect(fe::sync()),
             send(be::bind_complete()),
             send(person_row(1, "one")),
             send(be::command_complete("SELECT 1")),
             send(be::ready_for_query()),
             expect(fe::close_statement("pgcoro_p1")),
             expect(fe::sync()),
             send(be::close_complete()),
             send(be::ready_for_query())},
        }),
        [](pgcoro::connection& conn) -> asio::awaitable<std::string> {
            auto statement = co_await conn.prepare("SELECT id, name FROM person WHERE id = $1");
            std::string out = test::script::without_name_tags(statement.name());
            for (std::size_t i = 0; i < statement.parameter_types().size(); ++i)
                out += " $" + std::to_string(i + 1) + ":" + std::to_string(statement.parameter_types()[i]);
            out += ", " + std::to_string(statement.columns().size()) + " columns";
            out += " / " + describe(co_await conn.query(statement, 1));
            co_await conn.deallocate(statement);
            co_return out + (statement.valid() ? " / still valid" : " / deallocated");
        },
        "pgcoro_p1 $1:23, 2 columns / 1|one (SELECT 1) / deallocated",
        {
        },
    };
}

// --- pipelines -------------------------------------------------------------------------------

std::string describe_outcomes(const std::vector<pgcoro::pipeline_outcome>& outcomes) {
    std::string out;
    for (const auto& o : outcomes) {
        if (!out.empty()) out += " / ";
        switch (o.state) {
        case pgcoro::pipeline_outcome::status::ok: out += describe(o.rows); break;
        case pgcoro::pipeline_outcome::status::failed: out += "failed " + (o.error ? o.error->sqlstate : std::string("?")); break;
        case pgcoro::pipeline_outcome::status::aborted: out += "aborted"; break;
        }
    }
    return out;
}

scenario pipeline_with_a_failure() {
    constexpr std::string_view insert = "INSERT INTO t VALUES ($1)";
    constexpr std::string_view count = "SELECT count(*) FROM t";
    auto bind_insert = [](std::int32_t v) { return expect(fe::bind("", "pgcoro_1", {binary}, {int4_binary(v)}, {})); };
    return {
        "run() of a pipeline of two segments, the first failing in its second statement",
        test::script::concatenated({
            // One round trip prepares both statements, each with its own Sync.
            prepared("pgcoro_1", insert, {int4_oid}, {int4_oid}, be::no_data()),
            prepared("pgcoro_2", count, {}, {}, be::row_description({be::int8_column("count")})),
            {bind_insert(1), expect(fe::execute("", 0)),
             bind_insert(2), expect(fe::execute("", 0)),
             bind_insert(3), expect(fe::execute("", 0)),
             expect(fe::sync()),
             expect(fe::bind("", "pgcoro_2", {}, {}, {binary})), expect(fe::execute("", 0)),
             expect(fe::sync()),
             send(be::bind_complete()),
             send(be::command_complete("INSERT 0 1")),
             send(be::bind_complete()),
             send(be::error_response("23505", "duplicate key value violates unique constraint \"t_pkey\"")),
             send(be::ready_for_query()),
             send(be::bind_complete()),
             send(be::data_row({int8_binary(1)})),
             send(be::command_complete("SELECT 1")),
             send(be::ready_for_query())},
        }),
        [](pgcoro::connection& conn) -> asio::awaitable<std::string> {
            pgcoro::pipeline p;
            p.query("INSERT INTO t VALUES ($1)", 1).query("INSERT INTO t VALUES ($1)", 2).query("INSERT INTO t VALUES ($1)", 3).sync();
            p.query("SELECT count(*) FROM t");
            co_return describe_outcomes(co_await conn.run(p));
        },
        "(INSERT 0 1) / failed 23505 / aborted / 1 (SELECT 1)",
        {
        },
    };
}

// --- streams --------------------------------------------------------------------------------

std::string id_and_name(const pgcoro::row& r) { return std::to_string(r.get<std::int32_t>(0)) + "|" + r.get<std::string>(1); }

pgcoro::stream_options per_chunk(std::int32_t rows) { return {.chunk_rows = rows, .fetch = pgcoro::stream_fetch::per_chunk}; }
pgcoro::stream_options continuous(std::int32_t rows) { return {.chunk_rows = rows, .fetch = pgcoro::stream_fetch::continuous}; }

// Reads a stream to its end (or its error), a chunk per line.
asio::awaitable<std::string> read_chunks(pgcoro::row_stream& rows) {
    std::string out;
    try {
        while (co_await rows.next_chunk()) {
            for (auto row : rows.chunk()) out += id_and_name(row) + " ";
            out += "/ ";
        }
    } catch (const pgcoro::server_error& e) {
        co_return out + "failed " + std::string(e.sqlstate());
    }
    co_return out + rows.command_tag() + ", " + std::to_string(rows.rows_read()) + " read" + (rows.done() ? ", done" : ", not done");
}

// The people statement prepared, then its Bind, one Execute for every row and Sync.
test::script::script executed_for_every_row() {
    return test::script::concatenated({
        prepared("pgcoro_1", people, {}, {}, person_columns()),
        {expect(fe::bind("", "pgcoro_1", {}, {}, {binary, text})), expect(fe::execute("", 0)), expect(fe::sync())},
    });
}

scenario stream_continuously() {
    return {
        "stream() with one Execute for every row: chunks of what has arrived, at most two rows",
        test::script::concatenated({
            executed_for_every_row(),
            {send(be::bind_complete()),
             send(person_row(1, "one")),
             send(person_row(2, "two")),
             send(person_row(3, "three")),
             send(be::command_complete("SELECT 3")),
             send(be::ready_for_query())},
        }),
        [](pgcoro::connection& conn) -> asio::awaitable<std::string> {
            auto rows = co_await conn.stream(continuous(2), people);
            co_return co_await read_chunks(rows);
        },
        // The server's messages arrive in one read: a full chunk, then the rest.
        "1|one 2|two / 3|three / SELECT 3, 3 read, done",
    };
}

scenario stream_continuously_fails() {
    return {
        "stream() with one Execute for every row, failing after its first row",
        test::script::concatenated({
            executed_for_every_row(),
            {send(be::bind_complete()),
             send(person_row(1, "one")),
             send(be::error_response("22012", "division by zero")),
             send(be::ready_for_query())},
        }),
        [](pgcoro::connection& conn) -> asio::awaitable<std::string> {
            std::string out;
            try {
                auto rows = co_await conn.stream(continuous(2), people);
                out = co_await read_chunks(rows);
            } catch (const pgcoro::server_error& e) {  // the first chunk's: stream() itself throws
                out = "failed " + std::string(e.sqlstate());
            }
            co_return out + (conn.is_usable() ? ", usable" : ", not usable");
        },
        // The row arrives with the error, and goes with it.
        "failed 22012, usable",
    };
}

scenario stream_in_chunks() {
    return {
        "stream() read to the end in chunks of two rows",
        test::script::concatenated({
            prepared("pgcoro_1", people, {}, {}, person_columns()),
            {expect(fe::bind("", "pgcoro_1", {}, {}, {binary, text})),
             expect(fe::execute("", 2)),
             expect(fe::flush()),
             send(be::bind_complete()),
             send(person_row(1, "one")),
             send(person_row(2, "two")),
             send(be::portal_suspended()),
             expect(fe::execute("", 2)),
             expect(fe::flush()),
             send(person_row(3, "three")),
             send(be::command_complete("SELECT 1")),
             expect(fe::sync()),
             send(be::ready_for_query())},
        }),
        [](pgcoro::connection& conn) -> asio::awaitable<std::string> {
            auto rows = co_await conn.stream(per_chunk(2), people);
            std::string out;
            while (auto row = co_await rows.next()) out += id_and_name(*row) + ", ";
            co_return out + rows.command_tag() + ", " + std::to_string(rows.rows_read()) + " read" +
                (rows.done() ? ", done" : ", not done");
        },
        "1|one, 2|two, 3|three, SELECT 1, 3 read, done",
        {
            {mutation::data_row_instead, 17, "CommandComplete",
             "a second row in a chunk of two is what Execute allows; the client then rightly waits for "
             "PortalSuspended or CommandComplete (query_timeout bounds it)"},
        },
    };
}

// The first chunk of a one-row-per-chunk stream, suspended after its row.
test::script::script first_chunk_of_one() {
    return test::script::concatenated({
        prepared("pgcoro_1", people, {}, {}, person_columns()),
        {expect(fe::bind("", "pgcoro_1", {}, {}, {binary, text})),
         expect(fe::execute("", 1)),
         expect(fe::flush()),
         send(be::bind_complete()),
         send(person_row(1, "one")),
         send(be::portal_suspended())},
    });
}

// The next chunk's Execute, sent as soon as the first chunk arrived, and
// its one row: unread when the stream ends early, then Close and Sync.
test::script::script read_ahead_then_closed() {
    return {expect(fe::execute("", 1)), expect(fe::flush()),
            send(person_row(2, "two")), send(be::portal_suspended()),
            expect(fe::close_portal("")), expect(fe::sync()),
            send(be::close_complete()), send(be::ready_for_query())};
}

// A one-row-per-chunk stream closed after its first row.
asio::awaitable<std::string> first_row_then_close(pgcoro::connection& conn) {
    auto rows = co_await conn.stream(per_chunk(1), people);
    auto first = co_await rows.next();
    std::string out = first ? id_and_name(*first) : "no row";
    co_await rows.close();
    co_return out + (conn.is_usable() ? ", closed, usable" : ", closed, not usable");
}

scenario stream_closed_early() {
    return {
        "stream() closed after its first row, with the next chunk asked for ahead",
        test::script::concatenated({
            first_chunk_of_one(),
            read_ahead_then_closed(),
        }),
        first_row_then_close,
        "1|one, closed, usable",
        {
        },
    };
}

scenario stream_closed_while_the_chunk_ahead_fails() {
    return {
        "stream() closed after its first row while the chunk asked for ahead fails: the error is not the caller's",
        test::script::concatenated({
            first_chunk_of_one(),
            {expect(fe::execute("", 1)), expect(fe::flush()),
             send(be::error_response("22012", "division by zero")),
             expect(fe::close_portal("")), expect(fe::sync()),
             // The server skips the Close after an error, up to the Sync.
             send(be::ready_for_query())},
        }),
        first_row_then_close,
        "1|one, closed, usable",
        {
        },
    };
}

// A simple query after an exchange some object left open.
test::script::script simple_query_after() {
    return {expect(fe::query("SELECT 'after'")),
            send(be::row_description({be::text_column("?column?")})),
            send(be::data_row({"after"})),
            send(be::command_complete("SELECT 1")),
            send(be::ready_for_query())};
}
asio::awaitable<std::string> run_simple_query_after(pgcoro::connection& conn) {
    co_return describe(co_await conn.simple_query("SELECT 'after'"));
}

scenario stream_dropped_early() {
    return {
        "stream() dropped after its first row: the next query closes the portal first",
        test::script::concatenated({
            first_chunk_of_one(),
            read_ahead_then_closed(),
            simple_query_after(),
        }),
        [](pgcoro::connection& conn) -> asio::awaitable<std::string> {
            std::string out;
            {
                auto rows = co_await conn.stream(per_chunk(1), people);
                auto first = co_await rows.next();
                out = first ? id_and_name(*first) : "no row";
            }
            co_return out + " / " + co_await run_simple_query_after(conn);
        },
        "1|one / after (SELECT 1)",
        {
        },
    };
}

// --- COPY ------------------------------------------------------------------------------------

constexpr std::string_view copy_people_in = "COPY person (id, name) FROM STDIN";

scenario copy_in_finished() {
    return {
        "copy_in(), two writes and finish()",
        {
            expect(fe::query(copy_people_in)),
            send(be::copy_in_response(0, {text, text})),
            expect(fe::copy_data("1\tone\n")),
            expect(fe::copy_data("2\ttwo\n")),
            expect(fe::copy_done()),
            send(be::command_complete("COPY 2")),
            send(be::ready_for_query()),
        },
        [](pgcoro::connection& conn) -> asio::awaitable<std::string> {
            auto in = co_await conn.copy_in(copy_people_in);
            co_await in.write("1\tone\n");
            co_await in.write("2\ttwo\n");
            const auto copied = co_await in.finish();
            co_return std::string(in.format().binary ? "binary" : "text") + ", " +
                std::to_string(in.format().column_formats.size()) + " columns, " + std::to_string(copied) + " copied";
        },
        "text, 2 columns, 2 copied",
        {
        },
    };
}

scenario copy_in_aborted() {
    return {
        "copy_in() aborted after a write",
        {
            expect(fe::query(copy_people_in)),
            send(be::copy_in_response(0, {text, text})),
            expect(fe::copy_data("1\tone\n")),
            expect(fe::copy_fail("changed my mind")),
            send(be::error_response("57014", "COPY from stdin failed: changed my mind")),
            send(be::ready_for_query()),
        },
        [](pgcoro::connection& conn) -> asio::awaitable<std::string> {
            auto in = co_await conn.copy_in(copy_people_in);
            co_await in.write("1\tone\n");
            co_await in.abort("changed my mind");
            co_return in.is_open() ? "still open" : "aborted";
        },
        "aborted",
        {
        },
    };
}

scenario copy_in_dropped() {
    return {
        "copy_in() dropped after a write: the next query sends CopyFail first",
        test::script::concatenated({
            {expect(fe::query(copy_people_in)),
             send(be::copy_in_response(0, {text, text})),
             expect(fe::copy_data("1\tone\n")),
             expect(fe::copy_fail("COPY abandoned by the client")),
             send(be::error_response("57014", "COPY from stdin failed: COPY abandoned by the client")),
             send(be::ready_for_query())},
            simple_query_after(),
        }),
        [](pgcoro::connection& conn) -> asio::awaitable<std::string> {
            {
                auto in = co_await conn.copy_in(copy_people_in);
                co_await in.write("1\tone\n");
            }
            co_return co_await run_simple_query_after(conn);
        },
        "after (SELECT 1)",
        {
        },
    };
}

scenario copy_out_read_to_the_end() {
    return {
        "copy_out() read to the end",
        {
            expect(fe::query("COPY person TO STDOUT")),
            send(be::copy_out_response(0, {text, text})),
            send(be::copy_data("1\tone\n")),
            send(be::copy_data("2\ttwo\n")),
            send(be::copy_done()),
            send(be::command_complete("COPY 2")),
            send(be::ready_for_query()),
        },
        [](pgcoro::connection& conn) -> asio::awaitable<std::string> {
            auto out = co_await conn.copy_out("COPY person TO STDOUT");
            std::string data;
            while (auto piece = co_await out.read()) data += *piece;
            co_return test::script::printable(data) + " (" + out.command_tag() + ", " + std::to_string(out.rows()) + " rows)";
        },
        "1\\x09one\\x0a2\\x09two\\x0a (COPY 2, 2 rows)",
        {
        },
    };
}

// COPY's binary format ("COPY", "Binary Format"): signature, flags, header
// extension length; per tuple a field count and length-prefixed fields; -1.
std::string binary_copy_of_people() {
    using test::script::int16;
    std::string out("PGCOPY\n\xff\r\n\0", 11);
    out += test::int32(0) + test::int32(0);
    out += int16(2) + test::int32(4) + int4_binary(1) + test::int32(3) + "one";
    out += int16(2) + test::int32(4) + int4_binary(2) + test::int32(3) + "two";
    out += int16(-1);
    return out;
}

scenario bulk_load_binary() {
    return {
        "bulk_load() of (int4, text) tuples: the column types first, then binary COPY",
        test::script::concatenated({
            prepared("pgcoro_1", people, {}, {}, person_columns()),
            {expect(fe::query("COPY person (id, name) FROM STDIN (FORMAT binary)")),
             send(be::copy_in_response(1, {binary, binary})),
             expect(fe::copy_data(binary_copy_of_people())),
             expect(fe::copy_done()),
             send(be::command_complete("COPY 2")),
             send(be::ready_for_query())},
        }),
        [](pgcoro::connection& conn) -> asio::awaitable<std::string> {
            const std::vector<std::tuple<std::int32_t, std::string>> rows{{1, "one"}, {2, "two"}};
            co_return std::to_string(co_await conn.bulk_load("person (id, name)", rows)) + " loaded";
        },
        "2 loaded",
        {
        },
    };
}

// --- transactions ------------------------------------------------------------------------------

test::script::script simple_command(std::string_view sql, std::string_view tag, char status) {
    return {expect(fe::query(sql)), send(be::command_complete(tag)), send(be::ready_for_query(status))};
}

scenario transaction_committed() {
    return {
        "begin() and commit()",
        test::script::concatenated({simple_command("BEGIN", "BEGIN", 'T'), simple_command("COMMIT", "COMMIT", 'I')}),
        [](pgcoro::connection& conn) -> asio::awaitable<std::string> {
            auto tx = co_await conn.begin();
            auto out = state_name(conn.transaction_state());
            co_await tx.commit();
            co_return out + " / " + state_name(conn.transaction_state());
        },
        "in a transaction / idle",
        {
        },
    };
}

scenario savepoint_rolled_back() {
    return {
        "begin(serializable), savepoint(), and both rolled back",
        test::script::concatenated({
            simple_command("BEGIN ISOLATION LEVEL SERIALIZABLE", "BEGIN", 'T'),
            simple_command("SAVEPOINT pgcoro_savepoint_1", "SAVEPOINT", 'T'),
            {expect(fe::query("ROLLBACK TO SAVEPOINT pgcoro_savepoint_1; RELEASE SAVEPOINT pgcoro_savepoint_1")),
             send(be::command_complete("ROLLBACK")),
             send(be::command_complete("RELEASE")),
             send(be::ready_for_query('T'))},
            simple_command("ROLLBACK", "ROLLBACK", 'I'),
        }),
        [](pgcoro::connection& conn) -> asio::awaitable<std::string> {
            const pgcoro::transaction_options serializable{.isolation = pgcoro::isolation_level::serializable};
            auto tx = co_await conn.begin(serializable);
            auto sp = co_await tx.savepoint();
            co_await sp.rollback();
            auto out = state_name(conn.transaction_state());
            co_await tx.rollback();
            co_return out + " / " + state_name(conn.transaction_state());
        },
        "in a transaction / idle",
        {
        },
    };
}

scenario commit_of_a_failed_transaction() {
    return {
        "commit() of a transaction a statement failed in reports the server's rollback",
        test::script::concatenated({
            simple_command("BEGIN", "BEGIN", 'T'),
            {expect(fe::query("INSERT INTO person VALUES (1, 'one')")),
             send(be::error_response("23505", "duplicate key value violates unique constraint \"person_pkey\"")),
             send(be::ready_for_query('E'))},
            simple_command("COMMIT", "ROLLBACK", 'I'),
        }),
        [](pgcoro::connection& conn) -> asio::awaitable<std::string> {
            auto tx = co_await conn.begin();
            std::string out;
            try {
                co_await conn.simple_query("INSERT INTO person VALUES (1, 'one')");
                out = "inserted";
            } catch (const pgcoro::server_error& e) {
                out = e.sqlstate() + ", " + state_name(conn.transaction_state());
            }
            try {
                co_await tx.commit();
                out += " / committed";
            } catch (const pgcoro::error& e) {
                if (e.code() != pgcoro::errc::transaction_rolled_back) throw;
                out += " / rolled back by the server";
            }
            co_return out + ", " + state_name(conn.transaction_state());
        },
        "23505, in a failed transaction / rolled back by the server, idle",
        {
        },
    };
}

scenario transaction_dropped() {
    return {
        "begin() dropped without commit: the next query sends ROLLBACK first",
        test::script::concatenated({
            simple_command("BEGIN", "BEGIN", 'T'),
            simple_command("ROLLBACK;", "ROLLBACK", 'I'),
            simple_query_after(),
        }),
        [](pgcoro::connection& conn) -> asio::awaitable<std::string> {
            { auto tx = co_await conn.begin(); }
            auto out = co_await run_simple_query_after(conn);
            co_return out + ", " + state_name(conn.transaction_state());
        },
        "after (SELECT 1), idle",
        {
        },
    };
}

// --- notifications ---------------------------------------------------------------------------------

scenario listen_and_wait_for_notification() {
    return {
        "LISTEN, then wait_for_notification()",
        test::script::concatenated({
            simple_command("LISTEN jobs", "LISTEN", 'I'),
            {send(be::notification_response(4243, "jobs", "job 7"))},
        }),
        [](pgcoro::connection& conn) -> asio::awaitable<std::string> {
            co_await conn.simple_query("LISTEN jobs");
            auto n = co_await conn.wait_for_notification();
            co_return std::to_string(n.process_id) + " " + n.channel + " " + n.payload;
        },
        "4243 jobs job 7",
        {
        },
    };
}

}  // namespace

// --- one test case per exchange: as scripted, the network failing, unexpected messages ---

namespace {
// --- statement modes -------------------------------------------------------------------------

// The person columns as a portal reports them: both asked for in binary.
test::script::wire_message portal_person_columns() {
    return be::row_description({be::sent_in_binary(id_column()), name_column()});
}

// An unnamed statement's execution: Parse again, Bind, Describe of the
// portal, Execute, Sync; the server's answers up to the portal's columns.
test::script::script parsed_execution(std::string_view sql, std::vector<std::uint32_t> types, test::script::wire_message bind,
                                      test::script::wire_message columns) {
    return {expect(fe::parse("", sql, std::move(types))),
            expect(std::move(bind)),
            expect(fe::describe_portal("")),
            expect(fe::execute("", 0)),
            expect(fe::sync()),
            send(be::parse_complete()),
            send(be::bind_complete()),
            send(std::move(columns))};
}

scenario describe_mode_parses_with_each_execution() {
    auto bind = [](std::int32_t v) { return fe::bind("", "", {binary}, {int4_binary(v)}, {binary, text}); };
    return {
        "statement_mode=describe: described once, parsed with every execution",
        test::script::concatenated({
            prepared("", people_up_to, {int4_oid}, {int4_oid}, person_columns()),
            parsed_execution(people_up_to, {int4_oid}, bind(1), portal_person_columns()),
            {send(person_row(1, "one")), send(be::command_complete("SELECT 1")), send(be::ready_for_query())},
            parsed_execution(people_up_to, {int4_oid}, bind(2), portal_person_columns()),
            {send(person_row(1, "one")), send(person_row(2, "two")), send(be::command_complete("SELECT 2")),
             send(be::ready_for_query())},
        }),
        [](pgcoro::connection& conn) -> asio::awaitable<std::string> {
            auto first = describe(co_await conn.query(people_up_to, 1));
            co_return first + " / " + describe(co_await conn.query(people_up_to, 2));
        },
        "1|one (SELECT 1) / 1|one, 2|two (SELECT 2)",
        {},
        "statement_mode=describe",
    };
}

scenario describe_mode_reads_the_columns_reported() {
    // The table changed since the description: the portal reports id as int8,
    // which Bind asked for in binary by position, and name as text.
    auto changed = be::row_description({be::sent_in_binary(be::int8_column("id")), be::text_column("name")});
    return {
        "statement_mode=describe: rows are read by the columns the portal reports, not the cached ones",
        test::script::concatenated({
            prepared("", people, {}, {}, person_columns()),
            parsed_execution(people, {}, fe::bind("", "", {}, {}, {binary, text}), std::move(changed)),
            {send(be::data_row({int8_binary(7), std::string("seven")})), send(be::command_complete("SELECT 1")),
             send(be::ready_for_query())},
        }),
        [](pgcoro::connection& conn) -> asio::awaitable<std::string> {
            auto r = co_await conn.query(people);
            co_return std::to_string(r[0].get<std::int64_t>(0)) + "|" + r[0].get<std::string>(1) + " " +
                std::to_string(r.columns()[0].type_oid);
        },
        "7|seven 20",
        {},
        "statement_mode=describe",
    };
}

scenario unnamed_mode_describes_every_time() {
    auto execution = [](std::int32_t v) {
        return test::script::concatenated({
            prepared("", people_up_to, {int4_oid}, {int4_oid}, person_columns()),
            parsed_execution(people_up_to, {int4_oid}, fe::bind("", "", {binary}, {int4_binary(v)}, {binary, text}),
                             portal_person_columns()),
            {send(be::command_complete("SELECT 0")), send(be::ready_for_query())},
        });
    };
    return {
        "statement_mode=unnamed: a Describe round trip before each execution, which parses again",
        test::script::concatenated({execution(0), execution(-1)}),
        [](pgcoro::connection& conn) -> asio::awaitable<std::string> {
            auto first = describe(co_await conn.query(people_up_to, 0));
            co_return first + " / " + describe(co_await conn.query(people_up_to, -1));
        },
        "(SELECT 0) / (SELECT 0)",
        {},
        "statement_mode=unnamed",
    };
}

// What pg_backend_pid() answers, over the simple protocol.
test::script::script backend_pid_query(std::int32_t pid) {
    return {expect(fe::query("SELECT pg_catalog.pg_backend_pid()")),
            send(be::row_description({be::int4_column("pg_backend_pid")})),
            send(be::data_row({std::to_string(pid)})),
            send(be::command_complete("SELECT 1")),
            send(be::ready_for_query())};
}

// Automatic mode asks whether it talks to the server itself with its first
// preparation, sent together. Here it does; the second execution then finds
// the named statement gone (26000, nothing of it run), and the mode asks
// again, then goes on as `then` says.
test::script::script lost_statement(test::script::script then) {
    auto bind = [](std::int32_t v) { return expect(fe::bind("", "pgcoro_1", {binary}, {int4_binary(v)}, {binary, text})); };
    return test::script::concatenated({
        prepared("pgcoro_1", people_up_to, {int4_oid}, {int4_oid}, person_columns()),
        backend_pid_query(test::script::fake_process_id),
        {bind(1), expect(fe::execute("", 0)), expect(fe::sync()), send(be::bind_complete()), send(person_row(1, "one")),
         send(be::command_complete("SELECT 1")), send(be::ready_for_query())},
        {bind(2), expect(fe::execute("", 0)), expect(fe::sync()),
         send(be::error_response("26000", "prepared statement \"pgcoro_1\" does not exist")), send(be::ready_for_query())},
        std::move(then),
    });
}

asio::awaitable<std::string> query_twice_and_say_the_mode(pgcoro::connection& conn) {
    auto first = describe(co_await conn.query(people_up_to, 1));
    auto second = describe(co_await conn.query(people_up_to, 2));
    co_return first + " / " + second + " / " + (conn.server_session_shared() ? "shared" : "own") + " " +
        std::to_string(static_cast<int>(conn.current_statement_mode()));
}

scenario automatic_mode_finds_a_proxy() {
    // Another backend than BackendKeyData named answers: a proxy. The
    // description stands; executions parse the statement themselves.
    auto execution = [](std::int32_t v) {
        return parsed_execution(people_up_to, {int4_oid}, fe::bind("", "", {binary}, {int4_binary(v)}, {binary, text}),
                                portal_person_columns());
    };
    return {
        "statement_mode=auto: a proxy found with the first preparation turns the connection to describe",
        test::script::concatenated({
            prepared("pgcoro_1", people_up_to, {int4_oid}, {int4_oid}, person_columns()),
            backend_pid_query(test::script::fake_process_id + 1),
            execution(1),
            {send(person_row(1, "one")), send(be::command_complete("SELECT 1")), send(be::ready_for_query())},
            execution(2),
            {send(person_row(2, "two")), send(be::command_complete("SELECT 1")), send(be::ready_for_query())},
        }),
        query_twice_and_say_the_mode,
        "1|one (SELECT 1) / 2|two (SELECT 1) / shared 2",
        {},
        "statement_mode=auto",
    };
}

scenario automatic_mode_re_prepares_on_its_own_session() {
    return {
        "statement_mode=auto: a statement lost on the connection's own backend (DISCARD) is prepared again, named",
        lost_statement(test::script::concatenated({
            backend_pid_query(test::script::fake_process_id),
            // The lost name is closed too, harmless when the server has none.
            {expect(fe::close_statement("pgcoro_1")), expect(fe::parse("pgcoro_2", people_up_to, {int4_oid})),
             expect(fe::describe_statement("pgcoro_2")), expect(fe::sync()), send(be::close_complete()),
             send(be::parse_complete()), send(be::parameter_description({int4_oid})), send(person_columns()),
             send(be::ready_for_query())},
            {expect(fe::bind("", "pgcoro_2", {binary}, {int4_binary(2)}, {binary, text})), expect(fe::execute("", 0)),
             expect(fe::sync()), send(be::bind_complete()), send(person_row(2, "two")),
             send(be::command_complete("SELECT 1")), send(be::ready_for_query())},
        })),
        query_twice_and_say_the_mode,
        "1|one (SELECT 1) / 2|two (SELECT 1) / own 1",
        {},
        "statement_mode=auto",
    };
}

scenario describe_mode_pipeline() {
    constexpr std::string_view insert = "INSERT INTO t VALUES ($1)";
    constexpr std::string_view count = "SELECT count(*) FROM t";
    auto insert_execution = [&](std::int32_t v) -> test::script::script {
        return {expect(fe::parse("", insert, {int4_oid})), expect(fe::bind("", "", {binary}, {int4_binary(v)}, {})),
                expect(fe::describe_portal("")), expect(fe::execute("", 0))};
    };
    return {
        "statement_mode=describe: a pipeline parses each statement with its Bind",
        test::script::concatenated({
            prepared("", insert, {int4_oid}, {int4_oid}, be::no_data()),
            prepared("", count, {}, {}, be::row_description({be::int8_column("count")})),
            insert_execution(1),
            insert_execution(2),
            {expect(fe::sync()),
             expect(fe::parse("", count, {})), expect(fe::bind("", "", {}, {}, {binary})),
             expect(fe::describe_portal("")), expect(fe::execute("", 0)), expect(fe::sync()),
             send(be::parse_complete()), send(be::bind_complete()), send(be::no_data()), send(be::command_complete("INSERT 0 1")),
             send(be::parse_complete()), send(be::bind_complete()), send(be::no_data()),
             send(be::error_response("23505", "duplicate key value violates unique constraint \"t_pkey\"")),
             send(be::ready_for_query()),
             send(be::parse_complete()), send(be::bind_complete()),
             send(be::row_description({be::sent_in_binary(be::int8_column("count"))})),
             send(be::data_row({int8_binary(1)})), send(be::command_complete("SELECT 1")), send(be::ready_for_query())},
        }),
        [](pgcoro::connection& conn) -> asio::awaitable<std::string> {
            pgcoro::pipeline p;
            p.query("INSERT INTO t VALUES ($1)", 1).query("INSERT INTO t VALUES ($1)", 2).sync();
            p.query("SELECT count(*) FROM t");
            co_return describe_outcomes(co_await conn.run(p));
        },
        "(INSERT 0 1) / failed 23505 / 1 (SELECT 1)",
        {},
        "statement_mode=describe",
    };
}

scenario describe_mode_continuous_stream() {
    return {
        "statement_mode=describe: a continuous stream parses, binds, describes and executes its portal once",
        test::script::concatenated({
            prepared("", people, {}, {}, person_columns()),
            {expect(fe::parse("", people, {})), expect(fe::bind("", "", {}, {}, {binary, text})),
             expect(fe::describe_portal("")), expect(fe::execute("", 0)), expect(fe::sync()),
             send(be::parse_complete()), send(be::bind_complete()), send(portal_person_columns()),
             send(person_row(1, "one")), send(person_row(2, "two")), send(be::command_complete("SELECT 2")),
             send(be::ready_for_query())},
        }),
        [](pgcoro::connection& conn) -> asio::awaitable<std::string> {
            auto rows = co_await conn.stream(continuous(10), people);
            co_return co_await read_chunks(rows);
        },
        "1|one 2|two / SELECT 2, 2 read, done",
        {},
        "statement_mode=describe",
    };
}

scenario describe_mode_stream() {
    return {
        "statement_mode=describe: stream()'s first chunk parses, binds and describes its portal",
        test::script::concatenated({
            prepared("", people, {}, {}, person_columns()),
            {expect(fe::parse("", people, {})), expect(fe::bind("", "", {}, {}, {binary, text})),
             expect(fe::describe_portal("")), expect(fe::execute("", 2)), expect(fe::flush()),
             send(be::parse_complete()), send(be::bind_complete()), send(portal_person_columns()),
             send(person_row(1, "one")), send(person_row(2, "two")), send(be::portal_suspended()),
             expect(fe::execute("", 2)), expect(fe::flush()),
             // PostgreSQL counts the rows of the last Execute only.
             send(person_row(3, "three")), send(be::command_complete("SELECT 1")),
             expect(fe::sync()), send(be::ready_for_query())},
        }),
        [](pgcoro::connection& conn) -> asio::awaitable<std::string> {
            auto rows = co_await conn.stream(per_chunk(2), people);
            std::string out;
            while (auto row = co_await rows.next()) out += id_and_name(*row) + ", ";
            co_return out + rows.command_tag();
        },
        "1|one, 2|two, 3|three, SELECT 1",
        {
            {mutation::data_row_instead, 21, "CommandComplete",
             "a second row in a chunk of two is what Execute allows; the client then rightly waits for "
             "PortalSuspended or CommandComplete (query_timeout bounds it)"},
        },
        "statement_mode=describe",
    };
}

}  // namespace

TEST_CASE("exchange: query() with a parameter", "[exchange]") { test::script::check_exchange(query_with_a_parameter()); }
TEST_CASE("exchange: execute()", "[exchange]") { test::script::check_exchange(execute_counts_rows()); }
TEST_CASE("exchange: query_into() twice", "[exchange]") { test::script::check_exchange(query_into_twice()); }
TEST_CASE("exchange: a query the server fails", "[exchange]") { test::script::check_exchange(query_fails_on_the_server()); }
TEST_CASE("exchange: asynchronous messages mid-query", "[exchange]") { test::script::check_exchange(asynchronous_messages_mid_query()); }
TEST_CASE("exchange: simple_query() with two statements", "[exchange]") { test::script::check_exchange(simple_query_with_two_statements()); }
TEST_CASE("exchange: an empty simple_query()", "[exchange]") { test::script::check_exchange(empty_simple_query()); }
TEST_CASE("exchange: prepare(), query(prepared), deallocate()", "[exchange]") { test::script::check_exchange(prepare_run_deallocate()); }
TEST_CASE("exchange: a pipeline", "[exchange]") { test::script::check_exchange(pipeline_with_a_failure()); }
TEST_CASE("exchange: stream() in chunks", "[exchange]") { test::script::check_exchange(stream_in_chunks()); }
TEST_CASE("exchange: stream() closed early", "[exchange]") { test::script::check_exchange(stream_closed_early()); }
TEST_CASE("exchange: stream() dropped early", "[exchange]") { test::script::check_exchange(stream_dropped_early()); }
TEST_CASE("exchange: stream() continuously", "[exchange]") { test::script::check_exchange(stream_continuously()); }
TEST_CASE("exchange: stream() continuously, failing", "[exchange]") { test::script::check_exchange(stream_continuously_fails()); }
TEST_CASE("exchange: stream() closed while the chunk ahead fails", "[exchange]") {
    test::script::check_exchange(stream_closed_while_the_chunk_ahead_fails());
}
TEST_CASE("exchange: copy_in() finished", "[exchange]") { test::script::check_exchange(copy_in_finished()); }
TEST_CASE("exchange: copy_in() aborted", "[exchange]") { test::script::check_exchange(copy_in_aborted()); }
TEST_CASE("exchange: copy_in() dropped", "[exchange]") { test::script::check_exchange(copy_in_dropped()); }
TEST_CASE("exchange: copy_out()", "[exchange]") { test::script::check_exchange(copy_out_read_to_the_end()); }
TEST_CASE("exchange: bulk_load()", "[exchange]") { test::script::check_exchange(bulk_load_binary()); }
TEST_CASE("exchange: begin() and commit()", "[exchange]") { test::script::check_exchange(transaction_committed()); }
TEST_CASE("exchange: a savepoint and a transaction rolled back", "[exchange]") { test::script::check_exchange(savepoint_rolled_back()); }
TEST_CASE("exchange: commit() of a failed transaction", "[exchange]") { test::script::check_exchange(commit_of_a_failed_transaction()); }
TEST_CASE("exchange: a transaction dropped without commit", "[exchange]") { test::script::check_exchange(transaction_dropped()); }
TEST_CASE("exchange: LISTEN and wait_for_notification()", "[exchange]") { test::script::check_exchange(listen_and_wait_for_notification()); }
TEST_CASE("exchange: describe mode parses with each execution", "[exchange][statement_mode]") { test::script::check_exchange(describe_mode_parses_with_each_execution()); }
TEST_CASE("exchange: describe mode reads the columns the portal reports", "[exchange][statement_mode]") { test::script::check_exchange(describe_mode_reads_the_columns_reported()); }
TEST_CASE("exchange: unnamed mode describes every time", "[exchange][statement_mode]") { test::script::check_exchange(unnamed_mode_describes_every_time()); }
TEST_CASE("exchange: automatic mode finds a proxy", "[exchange][statement_mode]") { test::script::check_exchange(automatic_mode_finds_a_proxy()); }
TEST_CASE("exchange: automatic mode re-prepares on its own session", "[exchange][statement_mode]") { test::script::check_exchange(automatic_mode_re_prepares_on_its_own_session()); }
TEST_CASE("exchange: describe mode pipeline", "[exchange][statement_mode]") { test::script::check_exchange(describe_mode_pipeline()); }
TEST_CASE("exchange: describe mode stream", "[exchange][statement_mode]") { test::script::check_exchange(describe_mode_stream()); }
TEST_CASE("exchange: describe mode continuous stream", "[exchange][statement_mode]") {
    test::script::check_exchange(describe_mode_continuous_stream());
}

// --- close() -----------------------------------------------------------------------------------------

namespace {

// close() sends Terminate; whatever the server does meanwhile, it neither
// throws nor hangs, and the connection is closed for good afterwards.
asio::awaitable<std::string> close_verdict(test::script::script steps) {
    using test::script::attempt;
    auto server = co_await test::script::scripted_server::start(std::move(steps));
    std::string failure;
    auto conn = co_await test::script::connect_to(*server, failure);
    if (!conn) co_return "could not connect: " + failure;
    auto close = [](pgcoro::connection& c) -> asio::awaitable<std::string> {
        co_await c.close();
        co_return "closed";
    };
    const auto outcome = co_await test::script::within(test::script::operation_limit, close(*conn));
    if (!outcome.returned("closed")) co_return "close() " + outcome.describe();
    if (conn->is_open()) co_return "the connection is still open";
    const auto next = co_await test::script::within(test::script::operation_limit, test::script::follow_up(*conn));
    if (!next.threw(pgcoro::errc::connection_broken)) co_return "a call after close() " + next.describe();
    const bool finished = co_await server->finished(test::script::operation_limit);
    if (!finished) co_return "the server did not see the connection end";
    co_return test::script::problems_of(*server);
}

}  // namespace

TEST_CASE("exchange: close() sends Terminate and never throws or hangs, whatever the server does", "[exchange]") {
    using namespace test::script;
    SECTION("as scripted") { CHECK(test::run(close_verdict({expect(fe::terminate())})) == ""); }
    SECTION("the server hangs up first") { CHECK(test::run(close_verdict({hang_up()})) == ""); }
    SECTION("the server resets the connection first") { CHECK(test::run(close_verdict({reset()})) == ""); }
    SECTION("the server hangs up after Terminate") { CHECK(test::run(close_verdict({expect(fe::terminate()), hang_up()})) == ""); }
}

TEST_CASE("the statement cache finds each statement, the one used last or another") {
    using pgcoro::detail::statement_description;
    pgcoro::detail::statement_cache cache(4);
    const auto named = [](std::string name) {
        auto d = std::make_shared<statement_description>();
        d->name = std::move(name);
        return pgcoro::detail::statement_ptr(std::move(d));
    };
    const std::vector<std::uint32_t> int4{pgcoro::oids::int4}, int8{pgcoro::oids::int8}, none{};
    cache.insert("SELECT $1", int4, named("a"));
    cache.insert("SELECT $1", int8, named("b"));  // the same text, other types
    cache.insert("SELECT $2", int4, named("c"));  // as long, another text
    cache.insert("", none, named("e"));           // the empty query
    for (int round = 0; round < 2; ++round) {
        CHECK(cache.find("SELECT $1", int4)->name == "a");
        CHECK(cache.find("SELECT $1", int4)->name == "a");  // now the one used last
        CHECK(cache.find("SELECT $1", int8)->name == "b");
        CHECK(cache.find("SELECT $2", int4)->name == "c");
        CHECK(cache.find("", none)->name == "e");
        CHECK(cache.find("SELECT $1", none) == nullptr);
        CHECK(cache.find("SELECT $3", int4) == nullptr);
        CHECK(cache.find("SELECT $1 ", int4) == nullptr);
    }
    cache.erase("SELECT $1", int8);
    CHECK(cache.find("SELECT $1", int8) == nullptr);
    CHECK(cache.find("SELECT $1", int4)->name == "a");
    CHECK(cache.pending_close() == std::vector<std::string>{"b"});
}
