// pgcoro-query [--binary] CONNINFO SQL [PARAM...]
//
// Connects, runs SQL and prints the rows tab-separated, like `psql -At -F $'\t'`
// (a NULL prints as an empty field).
//
//   - Without PARAMs or --binary: the simple protocol, so SQL may hold several
//     statements; results come in text, printed as the server sent them.
//   - With PARAMs or --binary: one statement over the extended protocol. Each
//     PARAM is bound to $1, $2, ... as text with no type (the server infers
//     it, as for a quoted literal). Results come in binary for every type
//     pgcoro has a binary codec for and are printed with pgcoro::format_text,
//     exactly as the server prints them (DateStyle=ISO, IntervalStyle=postgres;
//     timestamptz in UTC whatever the session's TimeZone).
//
// Errors go to stderr (SQLSTATE and message for a server error). Exit status
// as psql: 0 success, 1 query error, 2 connection error or bad usage.
#include <pgcoro.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

#include <cstring>
#include <iostream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace asio = boost::asio;

namespace {

// The extended protocol binds a fixed number of arguments per call: one
// instantiation per count, up to this many.
constexpr std::size_t max_params = 32;

void print_rows(const pgcoro::result& r, bool exact_text) {
    const auto& columns = r.columns();
    std::string line;
    for (auto row : r) {
        line.clear();
        for (std::size_t i = 0; i < row.size(); ++i) {
            if (i) line += '\t';
            const auto v = row[i];
            if (!v) continue;  // NULL prints as an empty field, as psql -A does
            if (exact_text) {
                const auto& c = columns[i];
                pgcoro::append_text_output(line, *v,
                                           {c.type_oid, c.type_modifier, static_cast<pgcoro::format>(c.format)});
            } else {
                line += *v;
            }
        }
        line += '\n';
        std::cout << line;
    }
}

template <std::size_t... I>
asio::awaitable<pgcoro::result> query_with(pgcoro::connection& conn, std::string_view sql,
                                           const std::vector<std::string_view>& params, std::index_sequence<I...>) {
    co_return co_await conn.query(sql, params[I]...);
}

// conn.query(sql, params[0], ..., params[N-1]) for N = params.size().
template <std::size_t N = 0>
asio::awaitable<pgcoro::result> query_params(pgcoro::connection& conn, std::string_view sql,
                                             const std::vector<std::string_view>& params) {
    if constexpr (N < max_params) {
        if (params.size() != N) return query_params<N + 1>(conn, sql, params);
    }
    return query_with(conn, sql, params, std::make_index_sequence<N>{});
}

void report(const std::exception& e) {
    if (const auto* s = dynamic_cast<const pgcoro::server_error*>(&e)) {
        std::cerr << "ERROR:  " << s->sqlstate() << ": " << s->message() << '\n';
        if (!s->detail().empty()) std::cerr << "DETAIL:  " << s->detail() << '\n';
        if (!s->hint().empty()) std::cerr << "HINT:  " << s->hint() << '\n';
    } else {
        std::cerr << "pgcoro-query: error: " << e.what() << '\n';
    }
}

asio::awaitable<int> run(std::string conninfo, std::string sql, std::vector<std::string_view> params, bool extended) {
    pgcoro::connection conn;
    try {
        conn = co_await pgcoro::connection::connect(pgcoro::config::parse(conninfo));
    } catch (const std::exception& e) {
        report(e);
        co_return 2;
    }
    int status = 0;
    try {
        if (extended) {
            print_rows(co_await query_params(conn, sql, params), true);
        } else {
            for (const auto& r : co_await conn.simple_query(sql)) print_rows(r, false);
        }
    } catch (const std::exception& e) {
        report(e);
        // A query error leaves the session usable; a lost connection does not.
        status = conn.is_usable() ? 1 : 2;
    }
    co_await conn.close();
    co_return status;
}

}  // namespace

int main(int argc, char** argv) {
    int first = 1;
    bool binary = false;
    if (argc > 1 && std::strcmp(argv[1], "--binary") == 0) {
        binary = true;
        ++first;
    }
    if (argc - first < 2) {
        std::cerr << "usage: pgcoro-query [--binary] CONNINFO SQL [PARAM...]\n";
        return 2;
    }
    std::vector<std::string_view> params(argv + first + 2, argv + argc);
    if (params.size() > max_params) {
        std::cerr << "pgcoro-query: at most " << max_params << " parameters\n";
        return 2;
    }
    const bool extended = binary || !params.empty();
    asio::io_context io;
    int status = 2;
    asio::co_spawn(io, run(argv[first], argv[first + 1], std::move(params), extended),
                   [&](std::exception_ptr e, int s) { status = e ? 2 : s; });
    io.run();
    std::cout.flush();
    return status;
}
