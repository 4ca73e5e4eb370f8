// bulk_load [--rows N] [--out FILE] [CONNINFO]
//
// Loads N generated rows (default 100000) into the table bulk_load_demo with
// conn.bulk_load (binary COPY of typed rows), then copies the table back out
// as CSV into FILE (default bulk_load_demo.csv) with conn.copy_out. The table
// is made afresh on each run and left for you to look at.
//
// The rows come from a lazy view: nothing holds all of them in memory, and
// bulk_load streams them in 64 KiB CopyData messages. CONNINFO as libpq's
// (PG* variables too).
#include <pgcoro.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

#include <chrono>
#include <cstdint>
#include <fstream>
#include <iostream>
#include <ranges>
#include <string>
#include <tuple>

namespace asio = boost::asio;
using namespace std::chrono;

namespace {

constexpr std::string_view create_sql =
    "DROP TABLE IF EXISTS bulk_load_demo;"
    "CREATE TABLE bulk_load_demo (id bigint PRIMARY KEY, name text NOT NULL, cents bigint NOT NULL, day date NOT NULL)";
constexpr std::string_view load_target = "bulk_load_demo (id, name, cents, day)";
constexpr std::string_view copy_out_sql = "COPY (SELECT * FROM bulk_load_demo ORDER BY id) TO STDOUT (FORMAT csv)";

// Row i of the demo data: (id, name, cents, day).
std::tuple<std::int64_t, std::string, std::int64_t, sys_days> make_row(std::int64_t i) {
    const sys_days first_day = year{2024} / January / 1;
    return {i, "item " + std::to_string(i), i * 37 % 100'000, first_day + days{i % 366}};
}

asio::awaitable<void> run(std::string conninfo, std::int64_t rows, std::string out_path) {
    auto conn = co_await pgcoro::connection::connect(pgcoro::config::parse(conninfo));
    co_await conn.simple_query(create_sql);

    auto started = steady_clock::now();
    auto generated = std::views::iota(std::int64_t{1}, rows + 1) | std::views::transform(make_row);
    const auto loaded = co_await conn.bulk_load(load_target, generated);
    auto ms = duration_cast<milliseconds>(steady_clock::now() - started).count();
    std::cout << "loaded " << loaded << " rows in " << ms << " ms" << std::endl;

    // COPY TO STDOUT sends one CopyData message per row in text and CSV.
    started = steady_clock::now();
    std::ofstream out(out_path, std::ios::binary);
    std::int64_t lines = 0;
    auto reader = co_await conn.copy_out(copy_out_sql);
    while (auto data = co_await reader.read()) {
        out << *data;
        ++lines;
    }
    out.close();
    if (!out) throw std::runtime_error("cannot write " + out_path);
    ms = duration_cast<milliseconds>(steady_clock::now() - started).count();
    std::cout << "copied " << lines << " rows out to " << out_path << " in " << ms << " ms" << std::endl;
    co_await conn.close();
}

}  // namespace

int main(int argc, char** argv) {
    std::int64_t rows = 100'000;
    std::string out_path = "bulk_load_demo.csv", conninfo;
    try {
        for (int i = 1; i < argc; ++i) {
            const std::string arg = argv[i];
            if (arg == "--rows" && i + 1 < argc) rows = std::stoll(argv[++i]);
            else if (arg == "--out" && i + 1 < argc) out_path = argv[++i];
            else conninfo = arg;
        }
    } catch (const std::exception&) {  // a number that is not one
        std::cerr << "usage: bulk_load [--rows N] [--out FILE] [CONNINFO]\n";
        return 2;
    }
    asio::io_context io;
    int status = 0;
    asio::co_spawn(io, run(conninfo, rows, out_path), [&](std::exception_ptr e) {
        if (!e) return;
        status = 1;
        try {
            std::rethrow_exception(e);
        } catch (const pgcoro::server_error& err) {
            std::cerr << "bulk_load: error: " << err.sqlstate() << ": " << err.message() << '\n';
        } catch (const std::exception& err) {
            std::cerr << "bulk_load: error: " << err.what() << '\n';
        }
    });
    io.run();
    return status;
}
