// pgcoro-query CONNINFO SQL
// Connects, runs SQL and prints the rows tab-separated, like `psql -At -F $'\t'`.
// Exit status as psql: 0 success, 1 query error, 2 connection error.
#include <pgcoro.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

#include <iostream>

namespace asio = boost::asio;

static void print_rows(const pgcoro::result& r) {
    for (auto row : r) {
        for (std::size_t i = 0; i < row.size(); ++i) {
            if (i) std::cout << '\t';
            if (auto v = row[i]) std::cout << *v;  // NULL prints as an empty field, as psql -A does
        }
        std::cout << '\n';
    }
}

static asio::awaitable<int> run(std::string conninfo, std::string sql) {
    pgcoro::connection conn;
    try {
        conn = co_await pgcoro::connection::connect(pgcoro::config::parse(conninfo));
    } catch (const std::exception& e) {
        std::cerr << "pgcoro-query: error: " << e.what() << '\n';
        co_return 2;
    }
    int status = 0;
    try {
        for (const auto& r : co_await conn.simple_query(sql)) print_rows(r);
    } catch (const pgcoro::server_error& e) {
        std::cerr << "ERROR:  " << e.sqlstate() << ": " << e.message() << '\n';
        if (!e.detail().empty()) std::cerr << "DETAIL:  " << e.detail() << '\n';
        if (!e.hint().empty()) std::cerr << "HINT:  " << e.hint() << '\n';
        status = 1;
    } catch (const std::exception& e) {
        std::cerr << "pgcoro-query: error: " << e.what() << '\n';
        co_return 2;
    }
    co_await conn.close();
    co_return status;
}

int main(int argc, char** argv) {
    if (argc != 3) {
        std::cerr << "usage: pgcoro-query CONNINFO SQL\n";
        return 2;
    }
    asio::io_context io;
    int status = 2;
    asio::co_spawn(io, run(argv[1], argv[2]), [&](std::exception_ptr e, int s) {
        status = e ? 2 : s;
    });
    io.run();
    return status;
}
