// The exchanges with the server, sans-I/O: each algorithm is started on a
// session with no socket, its output checked byte by byte, and the server's
// answers fed to the runner (detail::consume) as a script. Sweeps over each
// script: fed one byte at a time; with asynchronous messages at every point;
// with a message no algorithm should take now at every point (a protocol
// violation, never a wrong result); cut short at every point (never done,
// never in sync).
#include <pgcoro.hpp>

#include "support/catch.hpp"

#include <boost/asio/io_context.hpp>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace {

using namespace std::string_literals;
using pgcoro::detail::next_step;
using pgcoro::protocol::message_type;
namespace detail = pgcoro::detail;
namespace protocol = pgcoro::protocol;

// --- backend messages --------------------------------------------------------
std::string be32(std::uint32_t v) {
    return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8), static_cast<char>(v)};
}
std::string be16(std::uint16_t v) { return {static_cast<char>(v >> 8), static_cast<char>(v)}; }
std::string cstr(std::string_view s) { return std::string(s) + '\0'; }

std::string message(message_type t, std::string_view body) {
    return static_cast<char>(t) + be32(static_cast<std::uint32_t>(body.size() + 4)) + std::string(body);
}
std::string ready(char status = 'I') { return message(message_type::ready_for_query, std::string(1, status)); }
std::string empty(message_type t) { return message(t, ""); }
std::string command_complete(std::string_view tag) { return message(message_type::command_complete, cstr(tag)); }
std::string parameter_description(std::vector<std::uint32_t> oids) {
    std::string b = be16(static_cast<std::uint16_t>(oids.size()));
    for (auto o : oids) b += be32(o);
    return message(message_type::parameter_description, b);
}
// One int4 column named "n" in `format` (0 text, 1 binary).
std::string row_description_int4(std::uint16_t format) {
    return message(message_type::row_description,
                   be16(1) + cstr("n") + be32(0) + be16(0) + be32(pgcoro::oids::int4) + be16(4) + be32(0xffffffff) +
                       be16(format));
}
std::string data_row_int4_binary(std::int32_t v) {
    return message(message_type::data_row, be16(1) + be32(4) + be32(static_cast<std::uint32_t>(v)));
}
std::string data_row_text(std::string_view v) {
    return message(message_type::data_row, be16(1) + be32(static_cast<std::uint32_t>(v.size())) + std::string(v));
}
std::string error_response(std::string_view sqlstate, std::string_view text, std::string_view severity = "ERROR") {
    return message(message_type::error_response, "S" + cstr(severity) + "V" + cstr(severity) + "C" + cstr(sqlstate) +
                                                     "M" + cstr(text) + '\0');
}
std::string notice() { return message(message_type::notice_response, "SNOTICE\0VNOTICE\0C00000\0Mhello\0\0"s); }
std::string parameter_status() { return message(message_type::parameter_status, cstr("TimeZone") + cstr("UTC")); }
std::string notification() {
    return message(message_type::notification_response, be32(7) + cstr("chan") + cstr("payload"));
}
std::string copy_response(message_type t) { return message(t, "\0"s + be16(1) + be16(0)); }
std::string copy_data(std::string_view d) { return message(message_type::copy_data, d); }
std::string authentication(std::uint32_t code) { return message(message_type::authentication, be32(code)); }
std::string backend_key_data() { return message(message_type::backend_key_data, be32(42) + be32(4242)); }

// Messages no exchange of a session at work takes: each must be refused.
std::vector<std::string> intruders() {
    return {empty(message_type::parse_complete), copy_data("x"), authentication(0), backend_key_data(),
            message(static_cast<message_type>('x'), "?"), empty(message_type::portal_suspended)};
}

// --- a session with no socket ------------------------------------------------
struct scripted {
    boost::asio::io_context io;
    detail::session s;

    explicit scripted(pgcoro::config cfg = {}) : s(io.get_executor(), std::move(cfg)) {}

    // What the algorithm wrote since last asked.
    std::string written() {
        std::string out = s.out();
        s.out().clear();
        return out;
    }
};

// Feeds `script` one message at a time; the step after each.
template <class Algorithm>
std::vector<next_step> feed(detail::session& s, Algorithm& a, const std::vector<std::string>& script) {
    std::vector<next_step> steps;
    for (const auto& m : script) {
        s.feed(m);
        steps.push_back(detail::consume(s, a));
    }
    return steps;
}

bool throws_protocol_violation(const std::function<void()>& f) {
    try {
        f();
    } catch (const pgcoro::error& e) {
        return e.code() == pgcoro::errc::protocol_violation;
    }
    return false;
}

// A prepared statement: one int4 parameter, one int4 result column in binary.
detail::statement_ptr int4_statement(std::string name = "s1") {
    auto d = std::make_shared<detail::statement_description>();
    d->name = std::move(name);
    d->param_types = {pgcoro::oids::int4};
    d->columns.push_back({"n", 0, 0, pgcoro::oids::int4, 4, -1, 1});
    d->result_formats = {1};
    return d;
}

// One execution of int4_statement with 41, into `r`.
struct int4_execution {
    pgcoro::result r;
    detail::statement_ptr statement = int4_statement();
    detail::prepared_execution<decltype(detail::bind_parameters(41)), detail::result_sink> op{
        &statement, detail::bind_parameters(41), detail::result_sink(r)};
};

const std::vector<std::string> execution_answer = {empty(message_type::bind_complete), data_row_int4_binary(42),
                                                   command_complete("SELECT 1"), ready()};

}  // namespace

TEST_CASE("runner: an execution sends Bind, Execute and Sync and takes its answer in order", "[runner]") {
    scripted t;
    int4_execution e;
    REQUIRE(e.op.start(t.s) == next_step::write);
    const auto out = t.written();
    CHECK(out.substr(0, 1) == "B");
    CHECK(out.find(cstr("s1")) != std::string::npos);
    CHECK(out.ends_with(protocol::execute_all_and_sync));
    CHECK(t.s.readies_owed() == 1);
    CHECK_FALSE(t.s.in_sync());

    CHECK(feed(t.s, e.op, execution_answer) ==
          std::vector<next_step>{next_step::read, next_step::read, next_step::read, next_step::done});
    REQUIRE(e.r.size() == 1);
    CHECK(e.r[0].get<std::int32_t>(0) == 42);
    CHECK(e.r.command_tag() == "SELECT 1");
    CHECK(t.s.in_sync());
}

TEST_CASE("runner: the same answer fed one byte at a time", "[runner]") {
    scripted t;
    int4_execution e;
    e.op.start(t.s);
    std::string bytes;
    for (const auto& m : execution_answer) bytes += m;
    for (std::size_t i = 0; i < bytes.size(); ++i) {
        t.s.feed(bytes.substr(i, 1));
        const auto step = detail::consume(t.s, e.op);
        if (i + 1 < bytes.size()) {
            REQUIRE(step == next_step::read);  // never done early: a cut-short answer leaves it waiting
            REQUIRE_FALSE(t.s.in_sync());
        } else {
            REQUIRE(step == next_step::done);
        }
    }
    CHECK(e.r[0].get<std::int32_t>(0) == 42);
}

TEST_CASE("runner: notices, ParameterStatus and notifications may come anywhere", "[runner]") {
    for (const auto& async : {notice(), parameter_status(), notification()}) {
        for (std::size_t k = 0; k <= execution_answer.size() - 1; ++k) {
            scripted t;
            int notices = 0;
            t.s.on_notice = [&](const pgcoro::diagnostics&) { ++notices; };
            int4_execution e;
            e.op.start(t.s);
            auto script = execution_answer;
            script.insert(script.begin() + static_cast<std::ptrdiff_t>(k), async);
            const auto steps = feed(t.s, e.op, script);
            INFO("asynchronous message before answer " << k);
            CHECK(steps.back() == next_step::done);
            CHECK(e.r[0].get<std::int32_t>(0) == 42);
            CHECK(notices == (async == notice() ? 1 : 0));
            CHECK(t.s.notifications.size() == (async == notification() ? 1u : 0u));
            if (async == parameter_status()) CHECK(t.s.parameters().at("TimeZone") == "UTC");
        }
    }
}

TEST_CASE("runner: a message the execution cannot take now is a protocol violation", "[runner]") {
    auto out_of_place = intruders();
    out_of_place.push_back(ready());  // before CommandComplete: the answer to someone else's request
    out_of_place.push_back(row_description_int4(1));
    for (std::size_t k = 0; k + 1 < execution_answer.size(); ++k) {
        for (const auto& intruder : out_of_place) {
            scripted t;
            int4_execution e;
            e.op.start(t.s);
            std::vector<std::string> script(execution_answer.begin(), execution_answer.begin() + static_cast<std::ptrdiff_t>(k));
            script.push_back(intruder);
            INFO("intruder " << protocol::describe_message_type(static_cast<message_type>(intruder[0])) << " at " << k);
            CHECK(throws_protocol_violation([&] { feed(t.s, e.op, script); }));
        }
    }
    SECTION("a DataRow before BindComplete") {
        scripted t;
        int4_execution e;
        e.op.start(t.s);
        CHECK(throws_protocol_violation([&] { feed(t.s, e.op, {data_row_int4_binary(1)}); }));
    }
}

TEST_CASE("runner: a ReadyForQuery no request awaits breaks the exchange", "[runner]") {
    // A proxy that sends one ReadyForQuery twice: the second must not be
    // taken as the answer to the next request.
    scripted t;
    int4_execution first;
    first.op.start(t.s);
    auto script = execution_answer;
    script.push_back(ready());
    t.s.feed(script[0] + script[1] + script[2] + script[3] + script[4]);
    CHECK(detail::consume(t.s, first.op) == next_step::done);
    int4_execution second;
    second.op.start(t.s);
    CHECK(throws_protocol_violation([&] { detail::consume(t.s, second.op); }));

    SECTION("or with nothing sent at all") {
        scripted idle;
        detail::notification_wait wait;
        idle.s.feed(ready());
        CHECK(throws_protocol_violation([&] { detail::consume(idle.s, wait); }));
    }
}

TEST_CASE("runner: an error is thrown at ReadyForQuery, in sync; FATAL at once", "[runner]") {
    SECTION("ERROR after BindComplete") {
        scripted t;
        int4_execution e;
        e.op.start(t.s);
        t.written();  // as if sent
        const auto steps = feed(t.s, e.op, {empty(message_type::bind_complete), error_response("22012", "division by zero")});
        CHECK(steps.back() == next_step::read);
        t.s.feed(ready('I'));
        try {
            detail::consume(t.s, e.op);
            FAIL("no error");
        } catch (const pgcoro::server_error& err) {
            CHECK(err.diag().sqlstate == "22012");
            CHECK(err.diag().message == "division by zero");
        }
        CHECK(t.s.in_sync());
    }
    SECTION("a second ErrorResponse before ReadyForQuery: the first is reported") {
        scripted t;
        int4_execution e;
        e.op.start(t.s);
        feed(t.s, e.op, {error_response("22012", "first"), error_response("XX000", "second")});
        t.s.feed(ready());
        CHECK_THROWS_WITH(detail::consume(t.s, e.op), Catch::Contains("first"));
    }
    SECTION("FATAL ends the session without waiting for a ReadyForQuery") {
        scripted t;
        int4_execution e;
        e.op.start(t.s);
        t.s.feed(error_response("57P01", "terminating connection", "FATAL"));
        CHECK_THROWS_AS(detail::consume(t.s, e.op), pgcoro::server_error);
        CHECK(t.s.readies_owed() == 1);  // run_operation breaks such a session
    }
}

TEST_CASE("runner: simple query results, errors and a refused COPY FROM STDIN", "[runner]") {
    SECTION("two result sets and an empty query") {
        scripted t;
        std::vector<pgcoro::result> results;
        detail::simple_query_exchange q(results);
        q.start(t.s, "SELECT 1; ; SELECT 2");
        CHECK(t.written() == message(static_cast<message_type>('Q'), cstr("SELECT 1; ; SELECT 2")));
        const auto steps = feed(t.s, q, {row_description_int4(0), data_row_text("1"), command_complete("SELECT 1"),
                                         empty(message_type::empty_query_response), row_description_int4(0),
                                         data_row_text("2"), command_complete("SELECT 1"), ready()});
        CHECK(steps.back() == next_step::done);
        REQUIRE(results.size() == 3);
        CHECK(results[0][0].get<std::int32_t>(0) == 1);
        CHECK(results[1].columns().empty());
        CHECK(results[2][0].get<std::int32_t>(0) == 2);
        CHECK(t.s.in_sync());
    }
    SECTION("COPY FROM STDIN is answered with CopyFail") {
        scripted t;
        std::vector<pgcoro::result> results;
        detail::simple_query_exchange q(results);
        q.start(t.s, "COPY t FROM STDIN");
        t.written();
        t.s.feed(copy_response(message_type::copy_in_response));
        CHECK(detail::consume(t.s, q) == next_step::write);
        CHECK(t.written().substr(0, 1) == "f");
        feed(t.s, q, {error_response("57014", "COPY from stdin failed")});
        t.s.feed(ready());
        CHECK_THROWS_AS(detail::consume(t.s, q), pgcoro::server_error);
        CHECK(t.s.in_sync());
    }
    SECTION("out of place") {
        for (const auto& intruder : {data_row_text("1"), empty(message_type::bind_complete), intruders()[0]}) {
            scripted t;
            std::vector<pgcoro::result> results;
            detail::simple_query_exchange q(results);
            q.start(t.s, "SELECT 1");
            CHECK(throws_protocol_violation([&] { feed(t.s, q, {intruder}); }));
        }
    }
}

TEST_CASE("runner: describing statements, CloseComplete of evicted ones first", "[runner]") {
    scripted t;
    detail::describe_exchange d;
    d.expect_closes(1);
    protocol::encode_close(t.s.out(), protocol::object_kind::statement, "old");
    auto first = std::make_shared<detail::statement_description>();
    first->name = "s1";
    auto second = std::make_shared<detail::statement_description>();
    second->name = "s2";
    const std::vector<std::uint32_t> none;
    d.add(t.s, first, "SELECT $1::int4", none);
    d.add(t.s, second, "SELECT bad", none);
    const auto out = t.written();
    CHECK(out.substr(0, 1) == "C");
    CHECK(t.s.readies_owed() == 2);
    const std::vector<std::string> answer = {empty(message_type::close_complete), empty(message_type::parse_complete),
                                             parameter_description({pgcoro::oids::int4}), row_description_int4(0),
                                             ready(), error_response("42703", "column \"bad\" does not exist"),
                                             ready()};
    CHECK(feed(t.s, d, answer).back() == next_step::done);
    CHECK(first->param_types == std::vector<std::uint32_t>{pgcoro::oids::int4});
    REQUIRE(first->columns.size() == 1);
    CHECK(first->result_formats == std::vector<std::int16_t>{1});  // int4 is received in binary
    CHECK_FALSE(d.error_of(0));
    REQUIRE(d.error_of(1));
    CHECK(d.error_of(1)->sqlstate == "42703");
    CHECK(t.s.in_sync());

    SECTION("out of order") {
        for (const auto& script : std::vector<std::vector<std::string>>{
                 {empty(message_type::parse_complete), row_description_int4(0)},      // before ParameterDescription
                 {empty(message_type::parse_complete), parameter_description({}), ready()},  // neither columns nor NoData
                 {empty(message_type::parse_complete), empty(message_type::close_complete)},  // no Close was sent
                 {empty(message_type::bind_complete)}}) {
            scripted u;
            detail::describe_exchange e;
            auto s = std::make_shared<detail::statement_description>();
            e.add(u.s, s, "SELECT 1", none);
            CHECK(throws_protocol_violation([&] { feed(u.s, e, script); }));
        }
    }
}

TEST_CASE("runner: startup answers each authentication request and ends at ReadyForQuery", "[runner]") {
    pgcoro::config cfg;
    cfg.user = "u";
    cfg.dbname = "d";
    cfg.password = "pw";
    cfg.require_auth = pgcoro::auth_methods::all();
    SECTION("cleartext password") {
        scripted t(cfg);
        detail::startup_exchange st;
        st.start(t.s);
        const auto startup = t.written();
        CHECK(startup.find(cstr("user") + cstr("u")) != std::string::npos);
        CHECK(t.s.readies_owed() == 1);
        t.s.feed(authentication(3));
        CHECK(detail::consume(t.s, st) == next_step::write);
        CHECK(t.written() == "p" + be32(4 + 3) + cstr("pw"));
        CHECK(feed(t.s, st, {authentication(0), parameter_status(), backend_key_data(), ready()}).back() ==
              next_step::done);
        CHECK(t.s.key.process_id == 42);
        CHECK(t.s.key.secret_key == 4242);
        CHECK(t.s.authentication == "password");
        CHECK(t.s.in_sync());
    }
    SECTION("out of place") {
        for (const auto& script : std::vector<std::vector<std::string>>{
                 {ready()},                                  // before authentication
                 {backend_key_data()},                       // before AuthenticationOk
                 {authentication(0), authentication(0)},     // authenticated twice
                 {authentication(0), data_row_text("1")}}) {
            scripted t(cfg);
            detail::startup_exchange st;
            st.start(t.s);
            CHECK(throws_protocol_violation([&] { feed(t.s, st, script); }));
        }
    }
    SECTION("an error fails the startup") {
        scripted t(cfg);
        detail::startup_exchange st;
        st.start(t.s);
        t.s.feed(error_response("28P01", "password authentication failed", "FATAL"));
        CHECK_THROWS_AS(detail::consume(t.s, st), pgcoro::server_error);
    }
}

TEST_CASE("runner: a pipeline's segments, a failed statement aborting its segment", "[runner]") {
    scripted t;
    pgcoro::pipeline p;
    p.query("SELECT $1::int4", 1).query("SELECT $1::int4", 2).sync().query("SELECT $1::int4", 3);
    const std::vector<std::uint32_t> types = {pgcoro::oids::int4};
    t.s.statements.insert("SELECT $1::int4", types, int4_statement("p1"));
    std::vector<pgcoro::pipeline_outcome> outcomes;
    detail::pipeline_execution run(p, outcomes);
    REQUIRE(run.ready(t.s));
    CHECK(run.start(t.s) == next_step::write);
    CHECK(t.s.readies_owed() == 2);
    t.written();
    const std::vector<std::string> answer = {empty(message_type::bind_complete), error_response("22012", "boom"),
                                             ready(), empty(message_type::bind_complete), data_row_int4_binary(3),
                                             command_complete("SELECT 1"), ready()};
    CHECK(feed(t.s, run, answer).back() == next_step::done);
    REQUIRE(outcomes.size() == 3);
    CHECK(outcomes[0].state == pgcoro::pipeline_outcome::status::failed);
    CHECK(outcomes[0].error->sqlstate == "22012");
    CHECK(outcomes[1].state == pgcoro::pipeline_outcome::status::aborted);
    CHECK(outcomes[2].ok());
    CHECK(outcomes[2].rows[0].get<std::int32_t>(0) == 3);
    CHECK(t.s.in_sync());

    SECTION("a ReadyForQuery before its segment's statements were answered") {
        scripted u;
        u.s.statements.insert("SELECT $1::int4", types, int4_statement("p1"));
        detail::pipeline_execution again(p, outcomes);
        again.ready(u.s);
        again.start(u.s);
        CHECK(throws_protocol_violation(
            [&] { feed(u.s, again, {empty(message_type::bind_complete), command_complete("SELECT 1"), ready()}); }));
    }
}

TEST_CASE("runner: draining reads up to the last ReadyForQuery owed", "[runner]") {
    scripted t;
    t.s.expect_ready();
    t.s.expect_ready();
    detail::drain_exchange drain("cancelled");
    const auto steps = feed(t.s, drain, {data_row_text("1"), error_response("57014", "canceling statement"), ready(),
                                         empty(message_type::bind_complete), ready()});
    CHECK(steps == std::vector<next_step>{next_step::read, next_step::read, next_step::read, next_step::read,
                                          next_step::done});
    REQUIRE(drain.errors.failure);
    CHECK(drain.errors.failure->sqlstate == "57014");
    CHECK(t.s.in_sync());
}

TEST_CASE("runner: COPY TO STDOUT suspends at each CopyData", "[runner]") {
    scripted t;
    t.s.expect_ready();  // the Query that started it
    t.s.enter_exchange(detail::open_exchange::copy_out);
    detail::copy_out_exchange copy;
    t.s.feed(copy_data("a\n") + copy_data("b\n"));
    CHECK(detail::consume(t.s, copy) == next_step::suspend);
    CHECK(*copy.data == "a\n");
    CHECK(detail::consume(t.s, copy) == next_step::suspend);
    CHECK(*copy.data == "b\n");
    CHECK(feed(t.s, copy, {empty(message_type::copy_done), command_complete("COPY 2"), ready()}).back() == next_step::done);
    CHECK_FALSE(copy.data);
    CHECK(copy.tag == "COPY 2");
    CHECK(t.s.in_sync());

    SECTION("CopyData after CopyDone") {
        scripted u;
        u.s.expect_ready();
        u.s.enter_exchange(detail::open_exchange::copy_out);
        detail::copy_out_exchange c;
        CHECK(throws_protocol_violation([&] { feed(u.s, c, {empty(message_type::copy_done), copy_data("late")}); }));
    }
}

TEST_CASE("runner: starting a COPY suspends at the response it asked for", "[runner]") {
    SECTION("COPY FROM STDIN") {
        scripted t;
        t.s.expect_ready();  // the Query
        detail::copy_start_exchange start(message_type::copy_in_response);
        t.s.feed(copy_response(message_type::copy_in_response));
        CHECK(detail::consume(t.s, start) == next_step::suspend);
        CHECK_FALSE(start.format.binary);
        CHECK(start.format.column_formats == std::vector<std::int16_t>{0});
        CHECK(t.s.exchange() == detail::open_exchange::copy_in);
        CHECK_FALSE(t.s.in_sync());
    }
    SECTION("the other direction is entered, to be drained") {
        scripted t;
        t.s.expect_ready();
        detail::copy_start_exchange start(message_type::copy_in_response);
        t.s.feed(copy_response(message_type::copy_out_response));
        CHECK(detail::consume(t.s, start) == next_step::done);
        CHECK(t.s.exchange() == detail::open_exchange::copy_out);
    }
    SECTION("not a COPY: read up to ReadyForQuery, the statement's error kept") {
        scripted t;
        t.s.expect_ready();
        detail::copy_start_exchange start(message_type::copy_out_response);
        feed(t.s, start, {error_response("42601", "syntax error")});
        t.s.feed(ready());
        CHECK_THROWS_AS(detail::consume(t.s, start), pgcoro::server_error);
        CHECK(t.s.exchange() == detail::open_exchange::none);
        CHECK(t.s.in_sync());
    }
    SECTION("not a COPY, and no error") {
        scripted t;
        t.s.expect_ready();
        detail::copy_start_exchange start(message_type::copy_out_response);
        CHECK(feed(t.s, start, {command_complete("SELECT 0"), ready()}).back() == next_step::done);
        CHECK(t.s.in_sync());
    }
    SECTION("a ReadyForQuery that answers nothing, or a DataRow out of place") {
        for (const auto& m : {ready(), data_row_text("1")}) {
            scripted u;
            u.s.expect_ready();
            detail::copy_start_exchange start(message_type::copy_in_response);
            CHECK(throws_protocol_violation([&] { feed(u.s, start, {m}); }));
        }
    }
    SECTION("out of place") {
        scripted t;
        t.s.expect_ready();
        detail::copy_start_exchange start(message_type::copy_in_response);
        CHECK(throws_protocol_violation([&] { feed(t.s, start, {copy_data("x")}); }));
    }
}

TEST_CASE("runner: CopyDone is answered with the rows copied", "[runner]") {
    scripted t;
    t.s.expect_ready();
    detail::copy_done_exchange done;
    CHECK(feed(t.s, done, {command_complete("COPY 3"), ready()}).back() == next_step::done);
    CHECK(done.rows == 3);
    CHECK(t.s.in_sync());
    scripted u;
    u.s.expect_ready();
    detail::copy_done_exchange early;
    CHECK(throws_protocol_violation([&] { feed(u.s, early, {ready()}); }));  // no CommandComplete
}

TEST_CASE("runner: closing a statement", "[runner]") {
    scripted t;
    detail::close_statement_exchange close;
    close.start(t.s, "s1");
    CHECK(t.written() == message(static_cast<message_type>('C'), "S" + cstr("s1")) + message(static_cast<message_type>('S'), ""));
    CHECK(feed(t.s, close, {empty(message_type::close_complete), ready()}).back() == next_step::done);
    CHECK(t.s.in_sync());
    scripted u;
    detail::close_statement_exchange twice;
    twice.start(u.s, "s1");
    CHECK(throws_protocol_violation(
        [&] { feed(u.s, twice, {empty(message_type::close_complete), empty(message_type::close_complete)}); }));
}

TEST_CASE("runner: a row_stream chunk suspends at PortalSuspended and syncs at the end", "[runner]") {
    pgcoro::result chunk;
    const auto statement = int4_statement();
    chunk.set_columns(std::shared_ptr<const std::vector<pgcoro::column>>(statement, &statement->columns));
    std::string tag;
    SECTION("a first chunk, then the last") {
        scripted t;
        t.s.enter_exchange(detail::open_exchange::suspended_portal);
        detail::portal_exchange first(chunk, tag, true);
        first.start(t.s, 2);
        CHECK(t.written() == "E" + be32(4 + 1 + 4) + cstr("") + be32(2) + "H" + be32(4));
        CHECK(feed(t.s, first, {empty(message_type::bind_complete), data_row_int4_binary(1), data_row_int4_binary(2),
                                empty(message_type::portal_suspended)})
                  .back() == next_step::suspend);
        CHECK(first.rows() == 2);
        CHECK(first.suspended());
        CHECK(t.s.readies_owed() == 0);

        detail::portal_exchange last(chunk, tag, false);
        last.start(t.s, 2);
        t.written();
        t.s.feed(data_row_int4_binary(3) + command_complete("SELECT 1"));
        CHECK(detail::consume(t.s, last) == next_step::write);  // the Sync
        CHECK(t.written() == "S" + be32(4));
        t.s.feed(ready());
        CHECK(detail::consume(t.s, last) == next_step::done);
        CHECK(tag == "SELECT 1");
        CHECK_FALSE(last.suspended());
        REQUIRE(chunk.size() == 3);
        CHECK(chunk[2].get<std::int32_t>(0) == 3);
        CHECK(t.s.in_sync());
    }
    SECTION("an error ends it with a Sync, and is thrown at ReadyForQuery") {
        scripted t;
        t.s.enter_exchange(detail::open_exchange::suspended_portal);
        detail::portal_exchange c(chunk, tag, false);
        c.start(t.s, 10);
        t.written();
        t.s.feed(error_response("22012", "division by zero"));
        CHECK(detail::consume(t.s, c) == next_step::write);
        t.written();
        t.s.feed(ready());
        CHECK_THROWS_AS(detail::consume(t.s, c), pgcoro::server_error);
        CHECK(t.s.in_sync());
    }
    SECTION("out of place") {
        for (const auto& script : std::vector<std::vector<std::string>>{
                 {empty(message_type::bind_complete)},  // not the first chunk
                 {ready()},                             // no Sync was sent
                 {data_row_int4_binary(1), copy_data("x")}}) {
            scripted t;
            t.s.enter_exchange(detail::open_exchange::suspended_portal);
            detail::portal_exchange c(chunk, tag, false);
            c.start(t.s, 10);
            CHECK(throws_protocol_violation([&] { feed(t.s, c, script); }));
        }
    }
}

TEST_CASE("runner: a continuous row_stream suspends at a full chunk and ends at its ReadyForQuery", "[runner]") {
    pgcoro::result chunk;
    const auto statement = int4_statement();
    chunk.set_columns(std::shared_ptr<const std::vector<pgcoro::column>>(statement, &statement->columns));
    std::string tag;
    using detail::portal_fetch;
    SECTION("Execute for every row and Sync; full chunks suspend; the tag counts every row") {
        scripted t;
        t.s.enter_exchange(detail::open_exchange::streaming_portal);
        detail::portal_exchange first(chunk, tag, true, portal_fetch::continuous);
        first.start(t.s, 2);
        CHECK(t.written() == "E" + be32(4 + 1 + 4) + cstr("") + be32(0) + "S" + be32(4));
        CHECK(t.s.readies_owed() == 1);
        t.s.feed(empty(message_type::bind_complete) + data_row_int4_binary(1) + data_row_int4_binary(2) +
                 data_row_int4_binary(3));
        CHECK(detail::consume(t.s, first) == next_step::suspend);  // two rows: full
        CHECK(first.rows() == 2);
        CHECK(first.has_rows_to_hand_out());

        chunk.clear();
        chunk.set_columns(std::shared_ptr<const std::vector<pgcoro::column>>(statement, &statement->columns));
        detail::portal_exchange rest(chunk, tag, false, portal_fetch::continuous, first.rows());
        rest.start(t.s, 2, true);
        CHECK(t.written().empty());
        CHECK(detail::consume(t.s, rest) == next_step::read);  // one row so far: may be handed out
        CHECK(rest.has_rows_to_hand_out());
        t.s.feed(command_complete("SELECT 3"));
        CHECK(detail::consume(t.s, rest) == next_step::read);  // ReadyForQuery still owed
        CHECK_FALSE(rest.has_rows_to_hand_out());
        CHECK(t.s.exchange() == detail::open_exchange::streaming_portal);
        t.s.feed(ready());
        CHECK(detail::consume(t.s, rest) == next_step::done);
        CHECK(tag == "SELECT 3");
        CHECK(t.s.in_sync());
    }
    SECTION("a tag that miscounts the rows of every chunk is a protocol violation") {
        scripted t;
        t.s.enter_exchange(detail::open_exchange::streaming_portal);
        detail::portal_exchange rest(chunk, tag, false, portal_fetch::continuous, 5);
        rest.start(t.s, 2, true);
        CHECK(throws_protocol_violation([&] { feed(t.s, rest, {data_row_int4_binary(6), command_complete("SELECT 5")}); }));
    }
    SECTION("an error is thrown at ReadyForQuery, with no Sync of its own") {
        scripted t;
        t.s.enter_exchange(detail::open_exchange::streaming_portal);
        detail::portal_exchange c(chunk, tag, false, portal_fetch::continuous);
        c.start(t.s, 10);
        t.written();
        t.s.feed(data_row_int4_binary(1) + error_response("22012", "division by zero"));
        CHECK(detail::consume(t.s, c) == next_step::read);
        CHECK_FALSE(c.has_rows_to_hand_out());
        CHECK(t.written().empty());
        t.s.feed(ready());
        CHECK_THROWS_AS(detail::consume(t.s, c), pgcoro::server_error);
        CHECK(t.s.in_sync());
    }
    SECTION("out of place") {
        for (const auto& script : std::vector<std::vector<std::string>>{
                 {empty(message_type::portal_suspended)},  // no row limit was asked for
                 {data_row_int4_binary(1), ready()},       // ReadyForQuery before the end of the rows
                 {empty(message_type::bind_complete)}}) {  // not the first chunk
            scripted t;
            t.s.enter_exchange(detail::open_exchange::streaming_portal);
            detail::portal_exchange c(chunk, tag, false, portal_fetch::continuous);
            c.start(t.s, 10);
            CHECK(throws_protocol_violation([&] { feed(t.s, c, script); }));
        }
    }
}

TEST_CASE("runner: whether a stream's end is already buffered, so that leaving it needs no cancel", "[runner]") {
    scripted t;
    t.s.expect_ready();
    t.s.feed(data_row_int4_binary(1) + command_complete("SELECT 1"));
    CHECK_FALSE(detail::end_is_buffered(t.s));  // read and dropped, still owed
    CHECK(t.s.buffered().empty());
    const auto rfq = ready();
    t.s.feed(rfq.substr(0, 3));
    CHECK_FALSE(detail::end_is_buffered(t.s));  // half a ReadyForQuery
    t.s.feed(rfq.substr(3));
    CHECK(detail::end_is_buffered(t.s));
    CHECK(t.s.readies_owed() == 0);
}

TEST_CASE("runner: waiting for a notification takes only asynchronous messages", "[runner]") {
    scripted t;
    detail::notification_wait wait;
    t.s.feed(notice());
    CHECK(detail::consume(t.s, wait) == next_step::read);
    t.s.feed(notification());
    CHECK(detail::consume(t.s, wait) == next_step::done);
    REQUIRE(t.s.notifications.size() == 1);
    CHECK(t.s.notifications.front().channel == "chan");
    t.s.feed(data_row_text("1"));
    CHECK(throws_protocol_violation([&] { detail::consume(t.s, wait); }));
}

TEST_CASE("message types are named as the protocol chapter names them", "[runner][protocol]") {
    CHECK(protocol::describe_message_type(message_type::ready_for_query) == "ReadyForQuery ('Z')");
    CHECK(protocol::describe_message_type(message_type::data_row) == "DataRow ('D')");
    CHECK(protocol::describe_message_type(static_cast<message_type>('x')) == "unknown message type 'x'");
    CHECK(protocol::describe_message_type(static_cast<message_type>(0)) == "unknown message type 0x00");
}

TEST_CASE("session: whether the server still fits target_session_attrs, from ParameterStatus and a refused write", "[runner]") {
    auto status = [](std::string_view name, std::string_view value) {
        return message(message_type::parameter_status, cstr(name) + cstr(value));
    };
    auto with_target = [](pgcoro::session_target t) {
        pgcoro::config cfg;
        cfg.target_session_attrs = t;
        return cfg;
    };
    using pgcoro::session_target;
    struct verdict {
        session_target target;
        std::string in_hot_standby, read_only;  // "" when never reported
        bool fits;
    };
    const std::vector<verdict> table = {
        {session_target::read_write, "off", "off", true},  {session_target::read_write, "on", "off", false},
        {session_target::read_write, "off", "on", false},  {session_target::read_write, "", "", true},
        {session_target::primary, "off", "on", true},      {session_target::primary, "on", "", false},
        {session_target::standby, "on", "", true},         {session_target::standby, "off", "", false},
        {session_target::read_only, "off", "on", true},    {session_target::read_only, "off", "off", false},
        {session_target::read_only, "on", "off", true},    {session_target::any, "on", "on", true},
        {session_target::prefer_standby, "off", "off", true},
    };
    for (const auto& v : table) {
        scripted t(with_target(v.target));
        int4_execution e;
        e.op.start(t.s);
        std::vector<std::string> script = execution_answer;
        if (!v.in_hot_standby.empty()) script.insert(script.begin() + 1, status("in_hot_standby", v.in_hot_standby));
        if (!v.read_only.empty()) script.insert(script.begin() + 1, status("default_transaction_read_only", v.read_only));
        INFO("target " << static_cast<int>(v.target) << ", in_hot_standby " << v.in_hot_standby << ", read-only "
                       << v.read_only);
        CHECK(feed(t.s, e.op, script).back() == next_step::done);
        CHECK(t.s.fits_target() == v.fits);
    }
    // A write refused as read-only (25006) says the same for read-write and
    // primary targets, and nothing for others.
    for (auto target : {session_target::read_write, session_target::primary, session_target::any}) {
        scripted t(with_target(target));
        int4_execution e;
        e.op.start(t.s);
        const std::vector<std::string> refused = {empty(message_type::bind_complete),
                                                  error_response("25006", "cannot execute INSERT in a read-only transaction"),
                                                  ready()};
        CHECK_THROWS_AS(feed(t.s, e.op, refused), pgcoro::server_error);
        CHECK(t.s.fits_target() == (target == session_target::any));
    }
}

// Asio resumes a coroutine straight from the reactor only when the socket's
// executor equals the coroutine's; otherwise every read's completion goes
// through the coroutine's executor, type-erased. The pool connects on its
// strand with blocking.never, and its connections then serve coroutines on
// the plain executor: the socket must get the plain one.
TEST_CASE("session: a socket's executor is the plain one under a strand and blocking.never", "[runner]") {
    namespace asio = boost::asio;
    asio::io_context io;
    const asio::any_io_executor plain = io.get_executor();
    const auto strand = asio::make_strand(plain);
    CHECK(detail::io_object_executor(plain) == plain);
    CHECK(detail::io_object_executor(asio::any_io_executor(strand)) == plain);
    CHECK(detail::io_object_executor(asio::any_io_executor(asio::require(strand, asio::execution::blocking.never))) == plain);
    CHECK(detail::io_object_executor(asio::require(plain, asio::execution::blocking.never)) == plain);
    CHECK(detail::io_object_executor(asio::make_strand(io)) == plain);
    // Still the pool's own context, never another one.
    asio::io_context other;
    CHECK(detail::io_object_executor(other.get_executor()) != plain);
}
