// Checks one exchange of the public API three ways against a scripted server
// (exchange_script.hpp):
//   - as scripted: the client sends exactly the scripted messages, the calls
//     return what the script's answers say, and the connection is in sync
//     afterwards (a further simple query gets its own answer);
//   - with the network failing at every step (Boost.MySQL's
//     check_network_errors shape): the server hangs up, resets the
//     connection or tears a message there. The calls fail with
//     connection_closed and leave the connection broken, never usable but
//     out of sync; after a hang-up behind the last step they succeed, and
//     the next call finds the hang-up;
//   - with an unexpected message at every step: a stray ReadyForQuery, a
//     DataRow where none belongs, an unknown message type, a ReadyForQuery
//     sent twice. The calls fail with protocol_violation and leave the
//     connection broken, and a duplicate after the end is not taken as the
//     answer to the next query.
// A scenario lists the sites of the last sweep where the altered answer is
// one a real server could send for another statement, so that no client can
// tell (indistinguishable, with why); the sweep skips them.
#pragma once

#include "exchange_script.hpp"

#include "catch.hpp"

#include <functional>

namespace test::script {

// --- how a call ended ----------------------------------------------------------

// Long enough for any scripted exchange on a loaded machine, short enough
// that a hang fails its case quickly.
inline constexpr std::chrono::milliseconds operation_limit{3000};

struct attempt {
    enum class ending { returned, threw, hung };
    ending how = ending::hung;
    std::string value;    // returned: what the calls returned, as text
    std::error_code code; // threw a pgcoro::error: its code; empty for any other exception
    std::string what;     // threw: the message

    bool threw(pgcoro::errc e) const { return how == ending::threw && code == e; }
    bool returned(std::string_view v) const { return how == ending::returned && value == v; }
    std::string describe() const {
        switch (how) {
        case ending::returned: return "returned \"" + value + "\"";
        case ending::threw: {
            const auto first_line = what.substr(0, what.find('\n'));
            if (!code) return "threw " + first_line;
            return "threw " + code.message() + " (" + first_line + ")";
        }
        case ending::hung: return "hung (no outcome within " + std::to_string(operation_limit.count()) + " ms)";
        }
        return "?";
    }
};

// The attempt that returned `value`: what a check compares with.
inline attempt returning(std::string value) {
    attempt a;
    a.how = attempt::ending::returned;
    a.value = std::move(value);
    return a;
}

inline asio::awaitable<attempt> captured(asio::awaitable<std::string> calls) {
    attempt a;
    try {
        a.value = co_await std::move(calls);
        a.how = attempt::ending::returned;
    } catch (const pgcoro::error& e) {
        a.how = attempt::ending::threw;
        a.code = e.code();
        a.what = e.what();
    } catch (const std::exception& e) {
        a.how = attempt::ending::threw;
        a.what = std::string("an exception that is not a pgcoro::error: ") + e.what();
    }
    co_return a;
}

// Runs the calls against a timer, so that a hang fails a case instead of
// the whole test program. A cancelled call is left to pgcoro's own cleanup.
inline asio::awaitable<attempt> within(std::chrono::milliseconds limit, asio::awaitable<std::string> calls) {
    using namespace asio::experimental::awaitable_operators;
    auto outcome = co_await (captured(std::move(calls)) || test::sleep_for(limit));
    if (outcome.index() == 1) co_return attempt{};
    co_return std::get<0>(std::move(outcome));
}

inline asio::awaitable<std::optional<pgcoro::connection>> connect_or_explain(pgcoro::config cfg, std::string& failure) {
    try {
        co_return co_await pgcoro::connection::connect(std::move(cfg));
    } catch (const std::exception& e) {
        failure = e.what();
    }
    co_return std::nullopt;
}

inline asio::awaitable<std::optional<pgcoro::connection>> connect_to(const scripted_server& server, std::string& failure,
                                                                     std::string_view conninfo_extra = {}) {
    using namespace asio::experimental::awaitable_operators;
    auto cfg = test::config_of(server.conninfo() + " " + std::string(conninfo_extra));
    auto outcome = co_await (connect_or_explain(std::move(cfg), failure) || test::sleep_for(operation_limit));
    if (outcome.index() == 1) {
        failure = "the startup hung";
        co_return std::nullopt;
    }
    co_return std::move(std::get<0>(outcome));
}

// --- what calls return, as text ---------------------------------------------------

// One field as the column's C++ type: int4 and int8 as numbers, anything
// else as a string; binary or text, whichever the column came in.
inline std::string field_text(const pgcoro::row& r, std::size_t i, const pgcoro::column& c) {
    if (r.is_null(i)) return "NULL";
    if (c.type_oid == 23) return std::to_string(r.get<std::int32_t>(i));
    if (c.type_oid == 20) return std::to_string(r.get<std::int64_t>(i));
    return r.get<std::string>(i);
}

// "1|one, 2|two (SELECT 2)": the rows, fields separated by '|', and the tag.
inline std::string describe(const pgcoro::result& r) {
    std::string out;
    for (auto row : r) {
        if (!out.empty()) out += ", ";
        for (std::size_t i = 0; i < r.columns().size(); ++i) {
            if (i > 0) out += '|';
            out += field_text(row, i, r.columns()[i]);
        }
    }
    if (!out.empty()) out += ' ';
    return out + "(" + r.command_tag() + ")";
}

inline std::string describe(const std::vector<pgcoro::result>& results) {
    if (results.empty()) return "no results";
    std::string out;
    for (const auto& r : results) out += (out.empty() ? "" : " / ") + describe(r);
    return out;
}

// --- the follow-up that proves the session is in sync -----------------------------

inline script follow_up_exchange() {
    return {expect(frontend::query("SELECT 'in sync'")),
            send(backend::row_description({backend::text_column("?column?")})),
            send(backend::data_row({"in sync"})),
            send(backend::command_complete("SELECT 1")),
            send(backend::ready_for_query('I'))};
}
inline constexpr std::string_view follow_up_answer = "in sync (SELECT 1)";

inline asio::awaitable<std::string> follow_up(pgcoro::connection& conn) {
    co_return describe(co_await conn.simple_query("SELECT 'in sync'"));
}

// --- scenarios ---------------------------------------------------------------------

// The unexpected messages a protocol sweep puts in the server's place.
enum class mutation {
    ready_for_query_instead,    // a stray ReadyForQuery instead of the step's message
    data_row_instead,           // a DataRow where none belongs
    unknown_message_instead,    // a type byte PostgreSQL never sends
    ready_for_query_twice,      // the step's ReadyForQuery, then a duplicate of it
};
inline constexpr mutation all_mutations[] = {mutation::ready_for_query_instead, mutation::data_row_instead,
                                             mutation::unknown_message_instead, mutation::ready_for_query_twice};

// A (mutation, step) of a scenario that yields an answer a real server could
// give to another statement, so no client can tell: skipped, with why.
// `message` names the step's message, so that a script edited without its
// list is caught instead of skipping the wrong step.
struct indistinguishable_site {
    mutation what;
    std::size_t step;
    std::string_view message;
    std::string_view why;
};

using client_calls = std::function<asio::awaitable<std::string>(pgcoro::connection&)>;

struct scenario {
    std::string name;
    script exchange;        // what the server sees and says after the startup
    client_calls calls;     // public API calls; what they returned, as text
    std::string expected;   // what `calls` returns against the script as written
    std::vector<indistinguishable_site> indistinguishable = {};
    // Settings for the connection. Scripts name statements as prepare mode
    // does; automatic mode's question about a proxy has scenarios of its own.
    std::string conninfo_extra = "statement_mode=prepare";
};

// --- the checks ----------------------------------------------------------------------

inline std::string problems_of(const scripted_server& server) {
    std::string out;
    for (const auto& p : server.problems()) out += "; off script: " + p;
    return out;
}

// A connection that lost its session must say so: not usable, and the next
// call fails at once with connection_broken instead of touching the socket.
inline asio::awaitable<std::string> broken_verdict(pgcoro::connection& conn) {
    if (conn.is_usable()) co_return "the connection still says it is usable";
    const auto next = co_await within(operation_limit, follow_up(conn));
    if (!next.threw(pgcoro::errc::connection_broken))
        co_return "a further call " + next.describe() + " instead of failing with connection_broken";
    co_return "";
}

// The scenario as scripted, then a simple query that must get its own answer.
inline asio::awaitable<void> check_as_scripted(const scenario& sc) {
    // Built outside the co_await: GCC 12 cannot keep an initializer_list's
    // array alive across one ("array used as initializer").
    auto steps = concatenated({sc.exchange, follow_up_exchange(), {expect(frontend::terminate())}});
    auto server = co_await scripted_server::start(std::move(steps));
    std::string failure;
    auto conn = co_await connect_to(*server, failure, sc.conninfo_extra);
    INFO(failure);
    REQUIRE(conn);
    const auto outcome = co_await within(operation_limit, sc.calls(*conn));
    CHECK(outcome.describe() == returning(sc.expected).describe());
    CHECK(conn->is_usable());
    const auto next = co_await within(operation_limit, follow_up(*conn));
    CHECK(next.describe() == returning(std::string(follow_up_answer)).describe());
    co_await conn->close();
    const bool finished = co_await server->finished(operation_limit);
    CHECK(finished);
    CHECK(server->problems() == std::vector<std::string>{});
    CHECK(server->steps_played() == sc.exchange.size() + follow_up_exchange().size() + 1);
}

// A server playing `steps`, a connection to it, and the scenario's calls on it.
struct played {
    std::shared_ptr<scripted_server> server;
    std::optional<pgcoro::connection> conn;
    std::string connect_failure;
    attempt outcome;
};

inline asio::awaitable<played> play(const scenario& sc, script steps) {
    played run;
    run.server = co_await scripted_server::start(std::move(steps));
    run.conn = co_await connect_to(*run.server, run.connect_failure, sc.conninfo_extra);
    if (run.conn) run.outcome = co_await within(operation_limit, sc.calls(*run.conn));
    co_return run;
}

// The server plays the first `cut` steps, then `failure` (a hang-up, a reset
// or a torn message); "" when the calls and the connection end as they must.
inline asio::awaitable<std::string> lost_connection_verdict(const scenario& sc, std::size_t cut, step failure) {
    script steps(sc.exchange.begin(), sc.exchange.begin() + static_cast<std::ptrdiff_t>(cut));
    steps.push_back(failure);
    auto run = co_await play(sc, std::move(steps));
    if (!run.conn) co_return "could not connect: " + run.connect_failure;
    auto& server = run.server;
    auto& conn = run.conn;
    const auto& outcome = run.outcome;
    std::string verdict;
    if (cut < sc.exchange.size()) {
        if (!outcome.threw(pgcoro::errc::connection_closed))
            verdict = "the calls " + outcome.describe() + " instead of failing with connection_closed";
        else
            verdict = co_await broken_verdict(*conn);
    } else if (!outcome.returned(sc.expected)) {
        verdict = "the calls " + outcome.describe() + " although the whole exchange was played";
    } else if (!conn->is_usable()) {
        verdict = co_await broken_verdict(*conn);
    } else {
        // The hang-up is found by the next call: it must fail, and then say so.
        const auto next = co_await within(operation_limit, follow_up(*conn));
        if (!next.threw(pgcoro::errc::connection_closed))
            verdict = "after the hang-up the next call " + next.describe() + " instead of failing with connection_closed";
        else
            verdict = co_await broken_verdict(*conn);
    }
    co_return verdict + problems_of(*server);
}

// Every cut of the exchange, each way the network can fail there.
inline asio::awaitable<void> check_network_failures(const scenario& sc) {
    for (std::size_t cut = 0; cut <= sc.exchange.size(); ++cut) {
        std::vector<step> failures{hang_up(), reset()};
        if (cut < sc.exchange.size() && sc.exchange[cut].sent_by_server()) failures.push_back(torn(sc.exchange[cut].message));
        for (const auto& failure : failures) {
            INFO("after step " << cut << " of " << sc.exchange.size() << ", "
                               << (cut < sc.exchange.size() ? "before: " + sc.exchange[cut].describe() : std::string("at the end"))
                               << ": " << failure.describe());
            const auto verdict = co_await lost_connection_verdict(sc, cut, failure);
            CHECK(verdict == "");
        }
    }
}

// The first DataRow of the exchange, or a one-field one when it has none.
inline wire_message stray_data_row(const script& exchange) {
    for (const auto& st : exchange)
        if (st.sent_by_server() && st.message.type == 'D') return st.message;
    return backend::data_row({"stray"});
}

inline bool is_asynchronous(char type) { return type == 'N' || type == 'A' || type == 'S'; }

// Where a mutation applies. A DataRow in place of a DataRow, or of a
// message that may come anywhere (a notice between rows), is no protocol
// error, and neither is one ReadyForQuery in place of another.
inline bool applies(mutation m, const step& st) {
    if (!st.sent_by_server()) return false;
    const char t = st.message.type;
    switch (m) {
    case mutation::ready_for_query_instead: return t != 'Z';
    case mutation::data_row_instead: return t != 'D' && !is_asynchronous(t);
    case mutation::unknown_message_instead: return true;
    case mutation::ready_for_query_twice: return t == 'Z';
    }
    return false;
}

inline std::string describe(mutation m, const script& exchange, std::size_t k) {
    const auto what = "step " + std::to_string(k) + " (" + exchange[k].describe() + ")";
    switch (m) {
    case mutation::ready_for_query_instead: return what + " replaced by a stray ReadyForQuery";
    case mutation::data_row_instead: return what + " replaced by a DataRow";
    case mutation::unknown_message_instead: return what + " replaced by a message of unknown type";
    case mutation::ready_for_query_twice: return what + " followed by a duplicate";
    }
    return what;
}

inline script mutated(const script& exchange, mutation m, std::size_t k) {
    script out = exchange;
    switch (m) {
    case mutation::ready_for_query_instead: out[k] = send(backend::ready_for_query('I')); break;
    case mutation::data_row_instead: out[k] = send(stray_data_row(exchange)); break;
    case mutation::unknown_message_instead: out[k] = send(backend::unknown_message()); break;
    case mutation::ready_for_query_twice:
        out.insert(out.begin() + static_cast<std::ptrdiff_t>(k) + 1, exchange[k]);
        break;
    }
    return out;
}

// "" when calls that met an unexpected message rejected it (protocol_violation)
// and left the connection broken; else what they did instead.
inline asio::awaitable<std::string> rejection_verdict(const attempt& outcome, const scenario& sc, pgcoro::connection& conn) {
    if (!outcome.threw(pgcoro::errc::protocol_violation)) {
        auto verdict = outcome.returned(sc.expected) ? std::string("accepted: returned the scripted answer") : outcome.describe();
        if (conn.is_usable()) verdict += ", and the connection says it is usable";
        co_return verdict;
    }
    const auto broken = co_await broken_verdict(conn);
    co_return broken.empty() ? broken : "threw protocol violation, but " + broken;
}

// A duplicate of the exchange's last ReadyForQuery arrives after the calls
// are done: "" when the next query gets its own answer or rejects the
// duplicate, rather than taking it for its answer.
inline asio::awaitable<std::string> next_query_verdict(pgcoro::connection& conn) {
    const auto next = co_await within(operation_limit, follow_up(conn));
    if (next.returned(follow_up_answer)) co_return "";
    if (!next.threw(pgcoro::errc::protocol_violation)) co_return "the next query " + next.describe();
    const auto broken = co_await broken_verdict(conn);
    co_return broken.empty() ? broken : "the next query threw protocol violation, but " + broken;
}

// The exchange with mutation `m` at step `k`; "" when the client rejects it.
inline asio::awaitable<std::string> unexpected_message_verdict(const scenario& sc, mutation m, std::size_t k) {
    const bool after_the_end = m == mutation::ready_for_query_twice && k + 1 == sc.exchange.size();
    auto steps = mutated(sc.exchange, m, k);
    if (after_the_end) steps = concatenated({steps, follow_up_exchange()});
    auto run = co_await play(sc, std::move(steps));
    if (!run.conn) co_return "could not connect: " + run.connect_failure;
    auto& server = run.server;
    auto& conn = run.conn;
    const auto& outcome = run.outcome;
    std::string verdict;
    if (!after_the_end)
        verdict = co_await rejection_verdict(outcome, sc, *conn);
    else if (!outcome.returned(sc.expected))
        verdict = "the calls " + outcome.describe() + " although their own exchange was intact";
    else
        verdict = co_await next_query_verdict(*conn);
    co_return verdict + problems_of(*server);
}

inline bool is_indistinguishable(const scenario& sc, mutation m, std::size_t k) {
    for (const auto& site : sc.indistinguishable)
        if (site.what == m && site.step == k) return true;
    return false;
}

// Each indistinguishable site names a step the mutation applies to, by index and message.
inline void check_indistinguishable_sites_match(const scenario& sc) {
    for (const auto& site : sc.indistinguishable) {
        INFO("indistinguishable site at step " << site.step << " (" << site.message << ")");
        REQUIRE(site.step < sc.exchange.size());
        REQUIRE(sc.exchange[site.step].message.name == site.message);
        REQUIRE(applies(site.what, sc.exchange[site.step]));
    }
}

// Every mutation at every step it applies to, except the indistinguishable sites.
inline asio::awaitable<void> check_unexpected_messages(const scenario& sc) {
    check_indistinguishable_sites_match(sc);
    for (auto m : all_mutations) {
        for (std::size_t k = 0; k < sc.exchange.size(); ++k) {
            if (!applies(m, sc.exchange[k]) || is_indistinguishable(sc, m, k)) continue;
            INFO(describe(m, sc.exchange, k) << "; as scripted the calls return \"" << sc.expected << '"');
            const auto verdict = co_await unexpected_message_verdict(sc, m, k);
            CHECK(verdict == "");
        }
    }
}

// All three checks of a scenario (the indistinguishable sites aside), as sections.
inline void check_exchange(const scenario& sc) {
    SECTION("as scripted, byte by byte") { test::run(check_as_scripted(sc)); }
    SECTION("the network fails at every step") { test::run(check_network_failures(sc)); }
    SECTION("an unexpected message at every step") { test::run(check_unexpected_messages(sc)); }
}

}  // namespace test::script
