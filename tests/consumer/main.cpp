// The consumer that scripts/check-consumer builds five ways (CMake
// find_package, CMake add_subdirectory, meson subproject, pkg-config, and
// separate compilation with pgcoro_src.cpp): it
// includes pgcoro like a user would, checks that the build system's idea of
// pgcoro's version is PGCORO_VERSION_STRING, and runs SELECT 40 + 2 through
// a pool. Exits 0 only if the answer is 42.
//
//   pgcoro-consumer [CONNINFO]
// Without CONNINFO: host/port from PGCORO_TEST_HOST/PGCORO_TEST_PORT
// (scripts/test-server run), role pgcoro_trust, database postgres, no TLS.
#include <pgcoro.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

#include <cstdlib>
#include <exception>
#include <iostream>
#include <string>

#ifndef PGCORO_CONSUMER_EXPECTED_VERSION
#error "the build passes PGCORO_CONSUMER_EXPECTED_VERSION, the version its build system found"
#endif
static_assert(PGCORO_VERSION == PGCORO_VERSION_MAJOR * 10000 + PGCORO_VERSION_MINOR * 100 + PGCORO_VERSION_PATCH);

namespace asio = boost::asio;

namespace {

std::string env(const char* name, const char* fallback) {
    const char* v = std::getenv(name);
    return v && *v ? v : fallback;
}

asio::awaitable<int> answer(pgcoro::pool& pool) {
    int value = 0;
    {
        auto conn = co_await pool.acquire();
        auto rows = co_await conn->query("SELECT 40 + 2");
        value = rows[0].get<int>(0);
    }
    co_await pool.close();
    co_return value;
}

}  // namespace

int main(int argc, char** argv) {
    if (std::string(PGCORO_CONSUMER_EXPECTED_VERSION) != PGCORO_VERSION_STRING) {
        std::cerr << "pgcoro-consumer: the build system found pgcoro " << PGCORO_CONSUMER_EXPECTED_VERSION
                  << ", but PGCORO_VERSION_STRING is " << PGCORO_VERSION_STRING << '\n';
        return 1;
    }
    const std::string conninfo = argc > 1 ? argv[1]
                                          : "host=" + env("PGCORO_TEST_HOST", "127.0.0.1") +
                                                " port=" + env("PGCORO_TEST_PORT", "5432") +
                                                " user=pgcoro_trust dbname=postgres sslmode=disable";
    try {
        asio::io_context io;
        pgcoro::pool pool(io.get_executor(), conninfo, {.max_size = 1});
        int value = 0;
        std::exception_ptr error;
        asio::co_spawn(io, answer(pool), [&](std::exception_ptr e, int v) {
            error = e;
            value = v;
        });
        io.run();
        if (error) std::rethrow_exception(error);
        std::cout << "pgcoro " << PGCORO_VERSION_STRING << ": SELECT 40 + 2 = " << value << '\n';
        return value == 42 ? 0 : 1;
    } catch (const std::exception& e) {
        std::cerr << "pgcoro-consumer: " << e.what() << '\n';
        return 1;
    }
}
