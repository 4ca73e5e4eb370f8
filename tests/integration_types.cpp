// Every type codec against the real server, both ways:
//   - sent: the C++ value bound as a parameter, and what the server makes of
//     it (SELECT $1::TYPE::text, or a comparison the server computes);
//   - read: the value the server produces from a literal, read with
//     row.get<T> once in binary (extended protocol) and once in text (simple
//     protocol), compared with the C++ value.
// Then format_text against the server's own text output, and the
// pgcoro-query example against psql.
// GCC 12 inlines Boost.Asio's recycling allocator for coroutine frames
// (std::aligned_alloc, released with std::free) into read_until_ready here,
// then takes the frame's class operator delete for a mismatched deallocation:
// a known false positive of -Wmismatched-new-delete with Boost.Asio's
// awaitable frames.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

#include "support/test_server.hpp"

#include "support/catch.hpp"

#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <bit>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <limits>
#include <random>
#include <type_traits>

extern char** environ;

// --- a user type: an enum through pg_traits ------------------------------------------

namespace itest {

// CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy'). Its OID is assigned when
// it is created, so it is sent with OID 0 (the server infers the type from
// the context) and read from any user-defined type, whose fields come in text.
enum class mood { sad, ok, happy };

}  // namespace itest

template <>
struct pgcoro::pg_traits<itest::mood> {
    static constexpr std::uint32_t oid = 0;
    static constexpr format param_format = format::text;
    static constexpr std::string_view name = "itest::mood";

    static constexpr std::string_view labels[] = {"sad", "ok", "happy"};
    static void encode(itest::mood m, std::string& out) { out += labels[static_cast<int>(m)]; }
    static constexpr bool accepts(std::uint32_t type) noexcept { return type == 0 || type >= oids::first_normal_object_id; }
    static itest::mood decode(std::string_view bytes, const field_type&) {
        for (int i = 0; i < 3; ++i)
            if (bytes == labels[i]) return static_cast<itest::mood>(i);
        throw pgcoro::error(errc::invalid_value, "invalid itest::mood label \"" + std::string(bytes) + "\"");
    }
};

namespace integration_types {

using test::config_of;
namespace asio = boost::asio;
namespace chr = std::chrono;
using namespace std::literals;
using pgcoro::errc;
using local_us = chr::local_time<chr::microseconds>;
using sys_us = chr::sys_time<chr::microseconds>;

namespace {

// --- a connection driven synchronously -------------------------------------------------

// Each call runs its coroutine to completion on the session's own
// io_context, so test bodies are plain code and Catch's macros never sit
// inside a coroutine (GCC 12 miscompiles some co_await expressions there).
class session {
public:
    explicit session(const std::string& extra = "") {
        conn_ = wait(pgcoro::connection::connect(
            config_of(test::tcp_conninfo("user=pgcoro_scram password=scram_pw sslmode=disable " + extra))));
    }
    session(const session&) = delete;
    session& operator=(const session&) = delete;
    ~session() {
        try {
            wait(conn_.close());
        } catch (...) {
        }
    }

    template <class... Args>
    pgcoro::result query(std::string_view sql, const Args&... args) {
        return wait(conn_.query(sql, args...));
    }
    std::vector<pgcoro::result> simple(std::string_view sql) { return wait(conn_.simple_query(sql)); }
    bool usable() const { return conn_.is_usable(); }

private:
    template <class T>
    T wait(asio::awaitable<T> op) {
        std::exception_ptr failure;
        std::optional<T> value;
        asio::co_spawn(io_, std::move(op), [&](std::exception_ptr e, T v) {
            failure = e;
            if (!e) value.emplace(std::move(v));
        });
        io_.restart();
        io_.run();
        if (failure) std::rethrow_exception(failure);
        return std::move(*value);
    }
    void wait(asio::awaitable<void> op) {
        std::exception_ptr failure;
        asio::co_spawn(io_, std::move(op), [&](std::exception_ptr e) { failure = e; });
        io_.restart();
        io_.run();
        if (failure) std::rethrow_exception(failure);
    }

    asio::io_context io_;  // declared first: the connection's socket lives on it
    pgcoro::connection conn_;
};

// --- comparing values ----------------------------------------------------------------------

template <class T> struct is_vector : std::false_type {};
template <class T> struct is_vector<std::vector<T>> : std::true_type {};
template <class T> struct is_optional : std::false_type {};
template <class T> struct is_optional<std::optional<T>> : std::true_type {};

// Equal, with floats compared bit for bit (so -0 is not 0) and NaN equal to NaN.
template <class T>
bool same(const T& a, const T& b) {
    if constexpr (std::is_same_v<T, double>) {
        return (std::isnan(a) && std::isnan(b)) || std::bit_cast<std::uint64_t>(a) == std::bit_cast<std::uint64_t>(b);
    } else if constexpr (std::is_same_v<T, float>) {
        return (std::isnan(a) && std::isnan(b)) || std::bit_cast<std::uint32_t>(a) == std::bit_cast<std::uint32_t>(b);
    } else if constexpr (is_vector<T>::value) {
        if (a.size() != b.size()) return false;
        for (std::size_t i = 0; i < a.size(); ++i)
            if (!same(a[i], b[i])) return false;
        return true;
    } else if constexpr (is_optional<T>::value) {
        return a.has_value() == b.has_value() && (!a || same(*a, *b));
    } else {
        return a == b;
    }
}

// A value as PostgreSQL would print it (pgcoro's encoding, then format_text), for messages.
template <class T>
std::string shown(const T& v) {
    std::string bytes, text;
    try {
        const auto info = pgcoro::encode_param(v, bytes);
        if (info.is_null) return "NULL";
        text = info.fmt == pgcoro::format::text
                   ? bytes
                   : pgcoro::format_text(bytes, pgcoro::field_type{info.oid, -1, pgcoro::format::binary});
    } catch (const pgcoro::error& e) {
        return std::string("(cannot be shown: ") + e.what() + ")";
    }
    if (text.size() > 200) text = text.substr(0, 200) + "... (" + std::to_string(text.size()) + " bytes)";
    return text;
}

template <class T>
void check_same(const T& got, const T& want, const std::string& what) {
    INFO(what);
    INFO("got:  " << shown(got));
    INFO("want: " << shown(want));
    CHECK(same(got, want));
}

// 'text'::type, the quotes in text doubled.
std::string literal(std::string_view text, std::string_view type) {
    std::string s = "'";
    for (char c : text) {
        if (c == '\'') s += '\'';
        s += c;
    }
    s += "'::";
    s.append(type);
    return s;
}

// --- the two directions ---------------------------------------------------------------------

// The value sent as a parameter, as the server prints it: format('%s')
// applies the type's output function, as ::text does for most types but
// not inet (which the cast shows with its mask) or char(n) (unpadded).
template <class T>
std::string sent_as(session& s, const T& v, std::string_view type) {
    const std::string sql = "SELECT format('%s', $1::" + std::string(type) + ")";
    const auto r = s.query(sql, v);
    return std::string(r.at(0).text(0));
}

template <class T>
struct read_back {
    T binary;  // extended protocol
    T text;    // simple protocol
};

// SELECT expr, read as T over both protocols. `binary` says whether the
// extended protocol is expected to bring the column in binary.
template <class T>
read_back<T> read_both(session& s, const std::string& expr, bool binary = true) {
    const std::string sql = "SELECT " + expr + " AS v";
    const auto b = s.query(sql);
    const auto t = s.simple(sql);
    REQUIRE(b.size() == 1);
    REQUIRE(t.size() == 1);
    REQUIRE(t[0].size() == 1);
    CHECK(b.columns().at(0).format == (binary ? 1 : 0));
    CHECK(t[0].columns().at(0).format == 0);
    return {b[0].get<T>(0), t[0][0].get<T>(0)};
}

// Both directions for one value: sent as a parameter the server prints
// `text`, and 'text'::type reads back as the value, in binary and in text.
template <class T>
void round_trip(session& s, std::string_view type, std::string_view text, const T& value, bool binary = true) {
    const std::string what = literal(text.substr(0, 200), type);
    INFO(what);
    CHECK(sent_as(s, value, type) == text);
    const auto r = read_both<T>(s, literal(text, type), binary);
    check_same(r.binary, value, what + ", read in binary");
    check_same(r.text, value, what + ", read in text");
}

// The error reading the first field of `sql` as T throws, over one protocol.
struct caught {
    errc code{};
    std::string message;
};

template <class T>
caught read_error(const pgcoro::result& r) {
    try {
        (void)r.at(0).get<T>(0);
    } catch (const pgcoro::error& e) {
        REQUIRE(e.code().category() == pgcoro::error_category());
        return {static_cast<errc>(e.code().value()), e.what()};
    }
    FAIL("no error thrown");
    return {};
}

// The same error from both protocols; returns the binary one's.
template <class T>
caught read_error_both(session& s, const std::string& expr) {
    const std::string sql = "SELECT " + expr + " AS v";
    const caught b = read_error<T>(s.query(sql));
    const caught t = read_error<T>(s.simple(sql).at(0));
    CHECK(b.code == t.code);
    CHECK(b.message == t.message);
    return b;
}

template <class F>
std::string server_error_of(F&& f) {
    try {
        f();
    } catch (const pgcoro::server_error& e) {
        return e.sqlstate();
    }
    FAIL("no server error");
    return {};
}

chr::sys_days days(std::int64_t y, int m, int d) {
    return chr::sys_days(chr::days(pgcoro::detail::days_from_civil({y, m, d})));
}
local_us local_at(std::int64_t y, int m, int d, chr::microseconds t) { return local_us(days(y, m, d).time_since_epoch() + t); }
sys_us utc_at(std::int64_t y, int m, int d, chr::microseconds t) { return sys_us(days(y, m, d).time_since_epoch() + t); }

}  // namespace

// --- bool and integers --------------------------------------------------------------------------

TEST_CASE("types: bool and the limits of int2, int4 and int8", "[types]") {
    session s;
    round_trip(s, "bool", "t", true);
    round_trip(s, "bool", "f", false);
    CHECK(s.query("SELECT $1::bool AND NOT $2::bool", true, false)[0].get<bool>(0));
    round_trip(s, "int2", "-32768", std::int16_t{-32768});
    round_trip(s, "int2", "32767", std::int16_t{32767});
    round_trip(s, "int2", "0", std::int16_t{0});
    round_trip(s, "int4", "-2147483648", std::int32_t{-2147483647 - 1});
    round_trip(s, "int4", "2147483647", std::int32_t{2147483647});
    round_trip(s, "int8", "-9223372036854775808", std::numeric_limits<std::int64_t>::min());
    round_trip(s, "int8", "9223372036854775807", std::numeric_limits<std::int64_t>::max());
    round_trip(s, "int8", "-1", std::int64_t{-1});
    // long long is int8 too.
    round_trip(s, "int8", "-9223372036854775808", std::numeric_limits<long long>::min());
    CHECK(s.query("SELECT $1::int8 = -9223372036854775808", std::numeric_limits<std::int64_t>::min())[0].get<bool>(0));
}

TEST_CASE("types: integers narrow when the value fits and fail with value_out_of_range when not", "[types]") {
    session s;
    // In range: any width reads into any other.
    auto small = read_both<std::int16_t>(s, "7::int8");
    CHECK(small.binary == 7);
    CHECK(small.text == 7);
    small = read_both<std::int16_t>(s, "(-32768)::int4");
    CHECK(small.binary == -32768);
    CHECK(small.text == -32768);
    auto mid = read_both<std::int32_t>(s, "(-2147483648)::int8");
    CHECK(mid.binary == std::numeric_limits<std::int32_t>::min());
    CHECK(mid.text == std::numeric_limits<std::int32_t>::min());
    const auto wide = read_both<std::int64_t>(s, "(-32768)::int2");
    CHECK(wide.binary == -32768);
    CHECK(wide.text == -32768);

    // Out of range, by one.
    auto e = read_error_both<std::int16_t>(s, "32768::int4");
    CHECK(e.code == errc::value_out_of_range);
    CHECK(e.message == "column \"v\": value 32768 is out of range for std::int16_t (PostgreSQL type int4 (oid 23))");
    e = read_error_both<std::int16_t>(s, "(-32769)::int8");
    CHECK(e.code == errc::value_out_of_range);
    e = read_error_both<std::int32_t>(s, "2147483648::int8");
    CHECK(e.code == errc::value_out_of_range);
    CHECK(e.message == "column \"v\": value 2147483648 is out of range for std::int32_t (PostgreSQL type int8 (oid 20))");
    e = read_error_both<std::int32_t>(s, "(-9223372036854775808)::int8");
    CHECK(e.code == errc::value_out_of_range);

    // Sent out of the parameter type's range: the server refuses it (22003),
    // and the connection stays usable.
    CHECK(server_error_of([&] { s.query("SELECT $1::int2", std::int64_t{32768}); }) == "22003");
    CHECK(server_error_of([&] { s.query("SELECT $1::int4", std::int64_t{-2147483649}); }) == "22003");
    CHECK(s.usable());
    CHECK(s.query("SELECT $1::int2", std::int64_t{-32768})[0].get<std::int16_t>(0) == -32768);
}

// --- floats -------------------------------------------------------------------------------------

TEST_CASE("types: float8 NaN, infinities, -0, denormals and the extremes", "[types]") {
    session s;
    const double inf = std::numeric_limits<double>::infinity();
    round_trip(s, "float8", "NaN", std::numeric_limits<double>::quiet_NaN());
    round_trip(s, "float8", "Infinity", inf);
    round_trip(s, "float8", "-Infinity", -inf);
    round_trip(s, "float8", "-0", -0.0);
    round_trip(s, "float8", "0", 0.0);
    round_trip(s, "float8", "5e-324", std::numeric_limits<double>::denorm_min());
    round_trip(s, "float8", "2.225073858507201e-308", std::nextafter(std::numeric_limits<double>::min(), 0.0));  // largest denormal
    round_trip(s, "float8", "2.2250738585072014e-308", std::numeric_limits<double>::min());
    round_trip(s, "float8", "1.7976931348623157e+308", std::numeric_limits<double>::max());
    round_trip(s, "float8", "0.1", 0.1);
    round_trip(s, "float8", "-1.5e-300", -1.5e-300);
    round_trip(s, "float8", "1e+15", 1e15);

    // Comparisons the server computes: PostgreSQL's NaN equals NaN.
    const auto r = s.query("SELECT $1::float8 = 'NaN'::float8, $2::float8 = '-Infinity'::float8, $3::float8 = 0, "
                           "$3::float8::text, $4::float8 = '5e-324'::float8, $4::float8 > 0",
                           std::numeric_limits<double>::quiet_NaN(), -inf, -0.0, std::numeric_limits<double>::denorm_min());
    CHECK(r[0].get<bool>(0));
    CHECK(r[0].get<bool>(1));
    CHECK(r[0].get<bool>(2));
    CHECK(r[0].get<std::string>(3) == "-0");
    CHECK(r[0].get<bool>(4));
    CHECK(r[0].get<bool>(5));
    // The sign of -0 survives reading, in both formats.
    const auto zero = read_both<double>(s, "'-0'::float8");
    CHECK(std::signbit(zero.binary));
    CHECK(std::signbit(zero.text));
    CHECK(zero.binary == 0.0);
    const auto positive = read_both<double>(s, "'0'::float8");
    CHECK_FALSE(std::signbit(positive.binary));
    CHECK_FALSE(std::signbit(positive.text));
}

TEST_CASE("types: float4 NaN, infinities, -0, denormals; double reads float4 exactly, float never reads float8", "[types]") {
    session s;
    const float inf = std::numeric_limits<float>::infinity();
    round_trip(s, "float4", "NaN", std::numeric_limits<float>::quiet_NaN());
    round_trip(s, "float4", "Infinity", inf);
    round_trip(s, "float4", "-Infinity", -inf);
    round_trip(s, "float4", "-0", -0.0f);
    round_trip(s, "float4", "1e-45", std::numeric_limits<float>::denorm_min());
    round_trip(s, "float4", "1.1754942e-38", std::nextafter(std::numeric_limits<float>::min(), 0.0f));  // largest denormal
    round_trip(s, "float4", "3.4028235e+38", std::numeric_limits<float>::max());
    round_trip(s, "float4", "0.1", 0.1f);
    round_trip(s, "float4", "1e+06", 1e6f);
    CHECK(s.query("SELECT $1::float4 = 'NaN'::float4", std::numeric_limits<float>::quiet_NaN())[0].get<bool>(0));

    const auto wide = read_both<double>(s, "'0.1'::float4");
    CHECK(wide.binary == double{0.1f});
    CHECK(wide.text == double{0.1f});
    const auto e = read_error_both<float>(s, "'0.1'::float8");
    CHECK(e.code == errc::type_mismatch);
    CHECK(e.message == "column \"v\": cannot read PostgreSQL type float8 (oid 701) as float");
}

// --- numeric ------------------------------------------------------------------------------------

TEST_CASE("types: numeric exactly, with 1000 digits, NaN, infinities, zeros and tiny values", "[types]") {
    session s;
    using pgcoro::numeric;
    round_trip(s, "numeric", "0", numeric("0"));
    round_trip(s, "numeric", "0.000", numeric("0.000"));
    round_trip(s, "numeric", "-0.5", numeric("-0.5"));
    round_trip(s, "numeric", "0.000000000000000000000000000001", numeric("1e-30"));
    round_trip(s, "numeric", "NaN", numeric("NaN"));
    round_trip(s, "numeric", "Infinity", numeric("Infinity"));
    round_trip(s, "numeric", "-Infinity", numeric("-inf"));
    round_trip(s, "numeric", "123456789012345678901234567890.0123456789", numeric("123456789012345678901234567890.0123456789"));
    round_trip(s, "numeric", "-10000", numeric(-10000));
    round_trip(s, "numeric", "1500", numeric("1.5e3"));

    // 1000 significant digits, before and after the point.
    std::string digits;
    for (int i = 0; i < 1000; ++i) digits += static_cast<char>('0' + (i * 7 + 3) % 10);
    round_trip(s, "numeric", digits, numeric(digits));
    const std::string fraction = "-0." + digits;
    round_trip(s, "numeric", fraction, numeric(fraction));
    const std::string mixed = digits.substr(0, 500) + "." + digits.substr(500);
    round_trip(s, "numeric", mixed, numeric(mixed));

    // The server's arithmetic agrees with the value sent.
    const auto r = s.query("SELECT $1::numeric = 1e-30, $2::numeric * 2, $3::numeric = 'NaN'", numeric("1e-30"),
                           numeric(mixed), numeric("NaN"));
    CHECK(r[0].get<bool>(0));
    CHECK(r[0].get<numeric>(1) == s.query("SELECT " + mixed + " * 2")[0].get<numeric>(0));
    CHECK(r[0].get<bool>(2));
    // Integers and sums of them read as numeric exactly.
    const auto sum = read_both<numeric>(s, "(SELECT sum(x) FROM (VALUES (9223372036854775807::int8), (1)) AS t(x))");
    CHECK(sum.binary.str() == "9223372036854775808");
    CHECK(sum.text.str() == "9223372036854775808");
    const auto big = read_both<numeric>(s, "(-9223372036854775808)::int8");
    CHECK(big.binary.str() == "-9223372036854775808");
    CHECK(big.text.str() == "-9223372036854775808");
}

// --- character types ----------------------------------------------------------------------------

TEST_CASE("types: text with multi-byte UTF-8, empty, 1 MB; varchar, char(n), name", "[types]") {
    session s;
    const std::string utf8 = "h\xC3\xA9llo w\xC3\xB6rld \xF0\x9F\x98\x80 \xF0\x9D\x84\x9E \xE2\x9C\x93";  // héllo wörld 😀 𝄞 ✓
    round_trip(s, "text", utf8, utf8, false);  // character types come as text
    round_trip(s, "text", "", std::string(), false);
    round_trip(s, "text", "it's \"quoted\" \\ back\tslash", std::string("it's \"quoted\" \\ back\tslash"), false);
    // The server sees one character of four bytes.
    const std::string emoji = "\xF0\x9F\x98\x80";
    const auto r = s.query("SELECT length($1::text), octet_length($1::text), $1::text = U&'\\+01F600', $2::text IS NULL, "
                           "length($2::text)",
                           emoji, std::string());
    CHECK(r[0].get<std::int32_t>(0) == 1);
    CHECK(r[0].get<std::int32_t>(1) == 4);
    CHECK(r[0].get<bool>(2));
    CHECK_FALSE(r[0].get<bool>(3));  // empty is not NULL
    CHECK(r[0].get<std::int32_t>(4) == 0);
    const auto empty = s.query("SELECT ''::text");
    REQUIRE(empty[0][0].has_value());
    CHECK(empty[0][0]->empty());

    // 1 MB, both ways.
    const std::string unit = "ab\xF0\x9F\x98\x80\xC3\xA9\t\"'\\";
    std::string big;
    const int repeats = (1 << 20) / static_cast<int>(unit.size()) + 1;
    for (int i = 0; i < repeats; ++i) big += unit;
    REQUIRE(big.size() >= (1u << 20));
    const std::string repeat_sql = "repeat(" + literal(unit, "text") + ", " + std::to_string(repeats) + ")";
    const auto sent = s.query("SELECT $1::text = " + repeat_sql + ", octet_length($1::text)", big);
    CHECK(sent[0].get<bool>(0));
    CHECK(sent[0].get<std::int32_t>(1) == static_cast<std::int32_t>(big.size()));
    // Character types come as text over the extended protocol too (type_table.hpp).
    const auto read = read_both<std::string>(s, repeat_sql, false);
    CHECK(read.binary.size() == big.size());
    CHECK(read.binary == big);
    CHECK(read.text == big);

    // Other character types read as strings; char(n) keeps its padding.
    auto padded = read_both<std::string>(s, "'ab'::char(4)", false);
    CHECK(padded.binary == "ab  ");
    CHECK(padded.text == "ab  ");
    auto varchar = read_both<std::string>(s, literal(utf8, "varchar(40)"), false);
    CHECK(varchar.binary == utf8);
    CHECK(varchar.text == utf8);
    auto name = read_both<std::string>(s, "'pg_class'::name", false);
    CHECK(name.binary == "pg_class");
    CHECK(name.text == "pg_class");
    // string_view reads in place.
    const auto v = s.query("SELECT " + literal(utf8, "text"));
    CHECK(v[0].get<std::string_view>(0) == utf8);
}

// --- bytea, uuid, oid ---------------------------------------------------------------------------

TEST_CASE("types: bytea with all 256 byte values, in hex and escape output", "[types]") {
    session s;
    pgcoro::bytea all;
    std::string hex_text = "\\x";
    constexpr char hex[] = "0123456789abcdef";
    for (int i = 0; i < 256; ++i) {
        all.push_back(static_cast<std::byte>(i));
        hex_text += hex[i >> 4];
        hex_text += hex[i & 15];
    }
    round_trip(s, "bytea", hex_text, all);
    round_trip(s, "bytea", "\\x", pgcoro::bytea{});
    CHECK(s.query("SELECT $1::bytea = decode(" + literal(hex_text.substr(2), "text") + ", 'hex'), length($1::bytea)", all)[0]
              .as<bool, std::int32_t>() == std::tuple{true, 256});

    // bytea_output = escape: text results in the old escape form read the same.
    s.simple("SET bytea_output = escape");
    const auto escaped = s.simple("SELECT " + literal(hex_text, "bytea"));
    CHECK(escaped[0][0].text(0).substr(0, 8) == "\\000\\001");
    check_same(escaped[0][0].get<pgcoro::bytea>(0), all, "bytea_output = escape");
    s.simple("RESET bytea_output");
}

TEST_CASE("types: uuid and oid", "[types]") {
    session s;
    round_trip(s, "uuid", "00000000-0000-0000-0000-000000000000", pgcoro::uuid{});
    round_trip(s, "uuid", "ffffffff-ffff-ffff-ffff-ffffffffffff", pgcoro::uuid::parse("FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF"));
    round_trip(s, "uuid", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", pgcoro::uuid::parse("{a0eebc999c0b4ef8bb6d6bb9bd380a11}"));
    CHECK(s.query("SELECT $1 = 'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11'::uuid",
                  pgcoro::uuid::parse("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"))[0].get<bool>(0));

    round_trip(s, "oid", "4294967295", pgcoro::oid{4294967295u});
    round_trip(s, "oid", "0", pgcoro::oid{0});
    const auto pg_class = read_both<pgcoro::oid>(s, "'pg_class'::regclass::oid");
    CHECK(pg_class.binary.value == 1259);
    CHECK(pg_class.text.value == 1259);
}

// --- dates and times ----------------------------------------------------------------------------

TEST_CASE("types: date at the infinities, the epochs and both ends of the range", "[types]") {
    session s;
    round_trip(s, "date", "infinity", chr::sys_days::max());
    round_trip(s, "date", "-infinity", chr::sys_days::min());
    round_trip(s, "date", "1969-12-31", days(1969, 12, 31));
    round_trip(s, "date", "1970-01-01", days(1970, 1, 1));
    round_trip(s, "date", "1999-12-31", days(1999, 12, 31));
    round_trip(s, "date", "2000-01-01", days(2000, 1, 1));
    round_trip(s, "date", "2024-02-29", days(2024, 2, 29));
    round_trip(s, "date", "0001-01-01", days(1, 1, 1));
    round_trip(s, "date", "0001-12-31 BC", days(0, 12, 31));
    round_trip(s, "date", "4713-01-01 BC", days(-4712, 1, 1));
    round_trip(s, "date", "4714-11-24 BC", days(-4713, 11, 24));  // the first date
    round_trip(s, "date", "10000-01-01", days(10000, 1, 1));
    round_trip(s, "date", "5874897-12-31", days(5874897, 12, 31));  // the last
    CHECK(s.query("SELECT $1::date - '2000-01-01'::date", days(1970, 1, 1))[0].get<int>(0) == -10957);

    // A day past either end cannot be sent.
    for (auto d : {days(5874898, 1, 1), days(-4713, 11, 23)}) {
        try {
            s.query("SELECT $1::date", d);
            FAIL("no error");
        } catch (const pgcoro::error& e) {
            CHECK(e.code() == errc::value_out_of_range);
            CHECK_THAT(e.what(), Catch::Contains("out of range for PostgreSQL date"));
        }
    }
    CHECK(s.usable());
}

TEST_CASE("types: timestamp at the infinities, before 1970 and 2000, with microseconds, BC", "[types]") {
    session s;
    round_trip(s, "timestamp", "infinity", local_us::max());
    round_trip(s, "timestamp", "-infinity", local_us::min());
    round_trip(s, "timestamp", "1969-12-31 23:59:59.999999", local_at(1969, 12, 31, 86'399'999'999us));
    round_trip(s, "timestamp", "1970-01-01 00:00:00", local_at(1970, 1, 1, 0us));
    round_trip(s, "timestamp", "1999-12-31 23:59:59.5", local_at(1999, 12, 31, 86'399'500'000us));
    round_trip(s, "timestamp", "2000-01-01 00:00:00.000001", local_at(2000, 1, 1, 1us));
    round_trip(s, "timestamp", "2024-02-29 13:45:00.123456", local_at(2024, 2, 29, 13h + 45min + 123'456us));
    round_trip(s, "timestamp", "0044-03-15 12:00:00 BC", local_at(-43, 3, 15, 12h));
    round_trip(s, "timestamp", "4714-11-24 00:00:00 BC", local_at(-4713, 11, 24, 0us));  // the first
    round_trip(s, "timestamp", "292277-01-01 00:00:00", local_at(292277, 1, 1, 0us));

    // PostgreSQL goes to 294276 AD; int64 microseconds from 1970 only to 292277.
    const auto e = read_error_both<local_us>(s, "'294276-12-31 23:59:59.999999'::timestamp");
    CHECK(e.code == errc::value_out_of_range);
    CHECK_THAT(e.message, Catch::Contains("294276-12-31 23:59:59.999999") && Catch::Contains("column \"v\""));
    // A timestamp is not an instant: it does not read as sys_time.
    const auto m = read_error_both<sys_us>(s, "'2000-01-01'::timestamp");
    CHECK(m.code == errc::type_mismatch);
}

TEST_CASE("types: timestamptz in UTC and in other time zones", "[types]") {
    session s("options='-c TimeZone=UTC'");
    round_trip(s, "timestamptz", "infinity", sys_us::max());
    round_trip(s, "timestamptz", "-infinity", sys_us::min());
    round_trip(s, "timestamptz", "1969-12-31 23:59:59.999999+00", utc_at(1969, 12, 31, 86'399'999'999us));
    round_trip(s, "timestamptz", "1999-12-31 23:59:59.5+00", utc_at(1999, 12, 31, 86'399'500'000us));
    round_trip(s, "timestamptz", "2000-01-01 00:00:00+00", utc_at(2000, 1, 1, 0us));
    round_trip(s, "timestamptz", "2024-02-29 13:45:00.123456+00", utc_at(2024, 2, 29, 13h + 45min + 123'456us));
    round_trip(s, "timestamptz", "4714-11-24 00:00:00+00 BC", utc_at(-4713, 11, 24, 0us));
    CHECK(s.query("SELECT $1::timestamptz = '2024-02-29 19:15:00.5+05:30'", utc_at(2024, 2, 29, 13h + 45min + 500ms))[0]
              .get<bool>(0));

    // Text results carry the session's offset, which the reader applies.
    session kolkata("options='-c TimeZone=Asia/Kolkata'");
    const auto instant = utc_at(2024, 2, 29, 13h + 45min + 500ms);
    CHECK(sent_as(kolkata, instant, "timestamptz") == "2024-02-29 19:15:00.5+05:30");
    auto r = read_both<sys_us>(kolkata, "'2024-02-29 13:45:00.5+00'::timestamptz");
    check_same(r.binary, instant, "Asia/Kolkata, binary");
    check_same(r.text, instant, "Asia/Kolkata, text");
    // Local mean time before 1900 has offsets in seconds: +00:19:32, -03:30:52.
    session amsterdam("options='-c TimeZone=Europe/Amsterdam'");
    CHECK(sent_as(amsterdam, utc_at(1900, 1, 1, 0us), "timestamptz") == "1900-01-01 00:19:32+00:19:32");
    r = read_both<sys_us>(amsterdam, "'1900-01-01 00:00:00+00'::timestamptz");
    check_same(r.text, utc_at(1900, 1, 1, 0us), "Europe/Amsterdam, LMT");
    session st_johns("options='-c TimeZone=America/St_Johns'");
    CHECK(sent_as(st_johns, utc_at(-4713, 11, 24, 0us), "timestamptz") == "4714-11-23 20:29:08-03:30:52 BC");
    r = read_both<sys_us>(st_johns, "'4714-11-24 00:00:00+00 BC'::timestamptz");
    check_same(r.binary, utc_at(-4713, 11, 24, 0us), "America/St_Johns, BC, binary");
    check_same(r.text, utc_at(-4713, 11, 24, 0us), "America/St_Johns, BC, text");
}

TEST_CASE("types: time of day from 00:00 to 24:00:00", "[types]") {
    session s;
    using pgcoro::time_of_day;
    round_trip(s, "time", "00:00:00", time_of_day{});
    round_trip(s, "time", "24:00:00", time_of_day{24h});
    round_trip(s, "time", "12:34:56.789", time_of_day{12h + 34min + 56s + 789ms});
    round_trip(s, "time", "23:59:59.999999", time_of_day{24h - 1us});
    auto midnight = read_both<time_of_day>(s, "'00:00'::time");
    CHECK(midnight.binary == time_of_day{});
    CHECK(midnight.text == time_of_day{});
}

TEST_CASE("types: interval keeps months, days and microseconds apart, negative parts included", "[types]") {
    session s;
    using pgcoro::interval;
    constexpr std::int64_t hour = 3'600'000'000, minute = 60'000'000, second = 1'000'000;
    round_trip(s, "interval", "1 year 2 mons 3 days 04:05:06.5", interval{14, 3, 4 * hour + 5 * minute + 6 * second + 500'000});
    round_trip(s, "interval", "-1 days +02:03:00", interval{0, -1, 2 * hour + 3 * minute});
    round_trip(s, "interval", "-1 years -2 mons +3 days -04:05:06", interval{-14, 3, -(4 * hour + 5 * minute + 6 * second)});
    round_trip(s, "interval", "1 mon", interval{1, 0, 0});
    round_trip(s, "interval", "00:00:00", interval{});
    round_trip(s, "interval", "-00:00:00.000001", interval{0, 0, -1});
    round_trip(s, "interval", "178000000 years", interval{2'136'000'000, 0, 0});
    round_trip(s, "interval", "-2147483648 days", interval{0, std::numeric_limits<std::int32_t>::min(), 0});
    round_trip(s, "interval", "2562047788:00:54.775807", interval{0, 0, std::numeric_limits<std::int64_t>::max()});
    // The smallest interval is not valid input, but arithmetic reaches it.
    const interval min{0, 0, std::numeric_limits<std::int64_t>::min()};
    CHECK(sent_as(s, min, "interval") == "-2562047788:00:54.775808");
    const auto r = read_both<interval>(s, "'-2562047788:00:54.775807'::interval - '1 microsecond'::interval");
    CHECK(r.binary == min);
    CHECK(r.text == min);
    // A month is not 30 days: the server keeps them apart too.
    CHECK(s.query("SELECT '2024-01-31'::date + $1::interval", interval{1, 0, 0})[0].get<local_us>(0) ==
          local_at(2024, 2, 29, 0us));
}

// Values whose text differs most between the IntervalStyles: zero, each field
// alone with either sign, the signs of months, days and time in every
// combination, fractions down to 1 µs, many hours, and the ends of each
// field's range. Built in C++ and sent in binary, so no style parses them.
std::vector<pgcoro::interval> intervals_for_styles() {
    using pgcoro::interval;
    constexpr std::int32_t min32 = std::numeric_limits<std::int32_t>::min(), max32 = std::numeric_limits<std::int32_t>::max();
    constexpr std::int64_t min64 = std::numeric_limits<std::int64_t>::min(), max64 = std::numeric_limits<std::int64_t>::max();
    constexpr std::int64_t hour = 3'600'000'000, minute = 60'000'000, second = 1'000'000;
    std::vector<interval> v = {
        {},
        {12, 0, 0}, {-12, 0, 0}, {1, 0, 0}, {-1, 0, 0}, {14, 0, 0}, {-14, 0, 0},
        {0, 1, 0}, {0, -1, 0},
        {0, 0, hour}, {0, 0, -hour}, {0, 0, minute}, {0, 0, -minute}, {0, 0, second}, {0, 0, -second},
        {0, 0, 1}, {0, 0, -1}, {0, 0, 500'000}, {0, 0, -500'000}, {0, 0, minute - 1}, {0, 0, -(hour + 1)},
        {0, 0, 1000 * hour + 1}, {0, 0, -(100'000 * hour + 59 * minute)},
        {-2'136'000'000, 0, 0}, {2'136'000'000, 0, 0},  // -178000000 years, 178000000 years
        {max32, 0, 0}, {min32, 0, 0}, {0, max32, 0}, {0, min32, 0}, {0, 0, max64}, {0, 0, -max64}, {0, 0, min64},
        {max32, max32, max64}, {min32, min32, min64}, {0, min32, 1}, {min32, 0, max64},
    };
    // Every combination of the signs of months, days and time, zero included.
    for (int m : {-1, 0, 1})
        for (int d : {-1, 0, 1})
            for (int t : {-1, 0, 1}) v.push_back({m * 14, d * 3, t * (4 * hour + 5 * minute + 6 * second + 500'000)});
    return v;
}

constexpr std::string_view interval_styles[] = {"postgres", "postgres_verbose", "sql_standard", "iso_8601"};

TEST_CASE("types: intervals read in text as in binary under every IntervalStyle", "[types][interval]") {
    using pgcoro::interval;
    session s;
    const auto values = intervals_for_styles();
    REQUIRE(values.size() >= 40);
    s.simple("CREATE TEMP TABLE styled (i int8, v interval)");
    s.query("INSERT INTO styled SELECT i, v FROM unnest($1::interval[]) WITH ORDINALITY AS t(v, i)", values);
    // What each style prints for one year (values[1]): the SET took.
    const std::string_view one_year[] = {"1 year", "@ 1 year", "1-0", "P1Y"};
    for (std::size_t k = 0; k < std::size(interval_styles); ++k) {
        const std::string style(interval_styles[k]);
        INFO("IntervalStyle " << style);
        s.simple("SET IntervalStyle = " + style);
        const auto text = s.simple("SELECT v, v::text FROM styled ORDER BY i").at(0);
        const auto binary = s.query("SELECT v FROM styled ORDER BY i");
        REQUIRE(text.size() == values.size());
        REQUIRE(binary.size() == values.size());
        CHECK(text.columns().at(0).format == 0);
        CHECK(binary.columns().at(0).format == 1);
        CHECK(text[1].text(1) == one_year[k]);
        for (std::size_t i = 0; i < values.size(); ++i) {
            INFO("printed " << text[i].text(1));
            const auto from_binary = binary[i].get<interval>(0);
            check_same(from_binary, values[i], "read in binary");
            check_same(text[i].get<interval>(0), from_binary, "read in text");
        }
    }
}

// The session settings a role has in a database (ALTER ROLE ... IN DATABASE
// ... SET) apply when it logs in. The test makes a database of its own for
// them, so that they reach no other test and go with it; a role of its own
// could not log in, pg_hba.conf naming the test server's roles one by one.
TEST_CASE("types: a role's IntervalStyle and DateStyle change nothing pgcoro reads", "[types][interval]") {
    using pgcoro::interval;
    constexpr std::int64_t hour = 3'600'000'000, minute = 60'000'000, second = 1'000'000;
    session admin("user=pgcoro_admin");
    admin.simple("DROP DATABASE IF EXISTS pgcoro_role_styles WITH (FORCE)");
    admin.simple("CREATE DATABASE pgcoro_role_styles");
    const std::string login = "user=pgcoro_trust dbname=pgcoro_role_styles";

    // pgcoro no longer sends IntervalStyle, so the role's is in force.
    admin.simple("ALTER ROLE pgcoro_trust IN DATABASE pgcoro_role_styles SET IntervalStyle = 'iso_8601'");
    {
        session s(login);
        const auto who = s.simple("SELECT current_user, current_database(), current_setting('IntervalStyle')").at(0);
        CHECK(who[0].text(0) == "pgcoro_trust");
        CHECK(who[0].text(1) == "pgcoro_role_styles");
        CHECK(who[0].text(2) == "iso_8601");
        const std::pair<std::string, interval> cases[] = {
            {"make_interval(1, 2, 0, 3, 4, 5, 6.5)", {14, 3, 4 * hour + 5 * minute + 6 * second + 500'000}},
            {"make_interval(-1, -2, 0, 3, -4, -5, -6)", {-14, 3, -(4 * hour + 5 * minute + 6 * second)}},
            {"make_interval(secs => -0.000001)", {0, 0, -1}},
            {"make_interval()", {}},
        };
        for (const auto& [expr, value] : cases) {
            INFO(expr);
            const auto r = read_both<interval>(s, expr);
            check_same(r.binary, value, "read in binary");
            check_same(r.text, value, "read in text");
        }
        CHECK(s.simple("SELECT make_interval(1, 2, 0, 3, 4, 5, 6.5)").at(0)[0].text(0) == "P1Y2M3DT4H5M6.5S");
    }

    // DateStyle is still sent, and a client's setting outranks the role's.
    admin.simple("ALTER ROLE pgcoro_trust IN DATABASE pgcoro_role_styles SET DateStyle = 'SQL, DMY'");
    {
        session s(login + " options='-c TimeZone=UTC'");
        CHECK(s.simple("SHOW DateStyle").at(0)[0].text(0).starts_with("ISO"));
        const auto date = read_both<chr::sys_days>(s, "'2024-02-29'::date");
        CHECK(date.binary == days(2024, 2, 29));
        CHECK(date.text == days(2024, 2, 29));
        const auto stamp = read_both<local_us>(s, "'2024-02-29 13:45:00.5'::timestamp");
        CHECK(stamp.binary == local_at(2024, 2, 29, 13h + 45min + 500ms));
        CHECK(stamp.text == local_at(2024, 2, 29, 13h + 45min + 500ms));
        const auto instant = read_both<sys_us>(s, "'2024-02-29 13:45:00.5+00'::timestamptz");
        CHECK(instant.binary == utc_at(2024, 2, 29, 13h + 45min + 500ms));
        CHECK(instant.text == utc_at(2024, 2, 29, 13h + 45min + 500ms));
        CHECK(s.simple("SELECT '2024-02-29'::date, '2024-02-29 13:45:00.5+00'::timestamptz").at(0)[0].text(1) ==
              "2024-02-29 13:45:00.5+00");
    }
    admin.simple("DROP DATABASE pgcoro_role_styles WITH (FORCE)");
}

// --- json, network ------------------------------------------------------------------------------

TEST_CASE("types: json kept verbatim, jsonb as the server normalises it", "[types]") {
    session s;
    const std::string raw = "{\"b\": 1,  \"a\": [1, 2], \"u\": \"\xC3\xA9\xF0\x9F\x98\x80\"}";
    round_trip(s, "json", raw, pgcoro::json{raw}, false);  // json comes as text, its binary form
    const std::string normalised = "{\"a\": [1, 2], \"b\": 1, \"u\": \"\xC3\xA9\xF0\x9F\x98\x80\"}";
    CHECK(sent_as(s, pgcoro::jsonb{raw}, "jsonb") == normalised);
    const auto r = read_both<pgcoro::jsonb>(s, literal(raw, "jsonb"));
    CHECK(r.binary.text == normalised);
    CHECK(r.text.text == normalised);
    round_trip(s, "jsonb", normalised, pgcoro::jsonb{normalised});
    // Either C++ type reads either column type.
    const auto as_json = read_both<pgcoro::json>(s, literal(raw, "jsonb"));
    CHECK(as_json.binary.text == normalised);
    CHECK(as_json.text.text == normalised);
    // jsonb is sent as jsonb: its operators apply without a cast.
    CHECK(s.query("SELECT $1 @> '{\"a\": [2]}'", pgcoro::jsonb{raw})[0].get<bool>(0));
    round_trip(s, "jsonb", "null", pgcoro::jsonb{"null"});
}

TEST_CASE("types: inet and cidr, IPv4 and IPv6, with and without masks", "[types]") {
    session s;
    for (const char* text : {"192.168.0.1", "192.168.0.1/24", "0.0.0.0/0", "::1", "::", "2001:db8::1/64", "::ffff:1.2.3.4",
                             "::1.2.3.4", "fe80::1:0:0:1", "1:0:0:1::/64", "1::1:0:0:1"}) {
        round_trip(s, "inet", text, pgcoro::inet{text});
    }
    for (const char* text : {"10.0.0.0/8", "192.168.0.0/24", "1.2.3.4/32", "0.0.0.0/0", "2001:db8::/32", "::ffff:1.2.3.0/120",
                             "::/0", "::1/128"}) {
        round_trip(s, "cidr", text, pgcoro::inet{text});
    }
    // The server's canonical form, whatever was sent.
    CHECK(sent_as(s, pgcoro::inet{"2001:DB8:0:0:0:0:0:1/128"}, "inet") == "2001:db8::1");
    CHECK(sent_as(s, pgcoro::inet{"10.0.0.0/8"}, "cidr") == "10.0.0.0/8");
    CHECK(server_error_of([&] { s.query("SELECT $1::inet", pgcoro::inet{"300.1.1.1"}); }) == "22P02");
}

// --- arrays ---------------------------------------------------------------------------------------

TEST_CASE("types: arrays, empty, with NULLs, 2-D, quoted text, numeric, timestamptz, lower bounds", "[types]") {
    session s("options='-c TimeZone=UTC'");
    round_trip(s, "int4[]", "{}", std::vector<int>{});
    round_trip(s, "int4[]", "{1,NULL,3}", std::vector<std::optional<int>>{1, std::nullopt, 3});
    round_trip(s, "int8[]", "{{1,2},{3,4},{5,6}}", std::vector<std::vector<std::int64_t>>{{1, 2}, {3, 4}, {5, 6}});
    round_trip(s, "int2[]", "{{{1},{2}},{{3},{4}}}", std::vector<std::vector<std::vector<std::int16_t>>>{{{1}, {2}}, {{3}, {4}}});
    round_trip(s, "text[]", R"({"a,b","q\"x","back\\slash","","NULL"," sp ","{br}",é😀,plain,NULL})",
               std::vector<std::optional<std::string>>{"a,b", "q\"x", "back\\slash", "", "NULL", " sp ", "{br}", "é😀",
                                                       "plain", std::nullopt});
    round_trip(s, "text[]", R"({{a,"b c"},{"",NULL}})",
               std::vector<std::vector<std::optional<std::string>>>{{"a", "b c"}, {"", std::nullopt}});
    round_trip(s, "numeric[]", "{1.50,NaN,-0.5,0.000000000000000000000000000001,Infinity}",
               std::vector<pgcoro::numeric>{pgcoro::numeric("1.50"), pgcoro::numeric("NaN"), pgcoro::numeric("-0.5"),
                                            pgcoro::numeric("1e-30"), pgcoro::numeric("Infinity")});
    round_trip(s, "timestamptz[]", R"({"2000-01-01 00:00:00+00",infinity,NULL,"1969-12-31 23:59:59.999999+00"})",
               std::vector<std::optional<sys_us>>{utc_at(2000, 1, 1, 0us), sys_us::max(), std::nullopt,
                                                  utc_at(1969, 12, 31, 86'399'999'999us)});
    round_trip(s, "float8[]", "{NaN,-0,Infinity,5e-324,0.1}",
               std::vector<double>{std::numeric_limits<double>::quiet_NaN(), -0.0, std::numeric_limits<double>::infinity(),
                                   std::numeric_limits<double>::denorm_min(), 0.1});
    round_trip(s, "bytea[]", R"({"\\x00ff","\\x"})",
               std::vector<pgcoro::bytea>{pgcoro::bytea{std::byte{0}, std::byte{0xff}}, pgcoro::bytea{}});
    round_trip(s, "date[]", "{2000-01-01,-infinity,\"4714-11-24 BC\"}",
               std::vector<chr::sys_days>{days(2000, 1, 1), chr::sys_days::min(), days(-4713, 11, 24)});
    round_trip(s, "interval[]", R"({"1 day","-1 years +00:00:01"})",
               std::vector<pgcoro::interval>{{0, 1, 0}, {-12, 0, 1'000'000}});
    round_trip(s, "uuid[]", "{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}",
               std::vector<pgcoro::uuid>{pgcoro::uuid::parse("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11")});
    round_trip(s, "bool[]", "{t,f,NULL}", std::vector<std::optional<bool>>{true, false, std::nullopt});
    // A JSON null is no SQL NULL: array_out quotes it.
    round_trip(s, "jsonb[]", R"({"{\"a\": 1}","null"})", std::vector<pgcoro::jsonb>{{"{\"a\": 1}"}, {"null"}});
    round_trip(s, "jsonb[]", R"({"{\"a\": 1}",NULL})",
               std::vector<std::optional<pgcoro::jsonb>>{pgcoro::jsonb{"{\"a\": 1}"}, std::nullopt});
    round_trip(s, "inet[]", "{10.0.0.1/8,::1}", std::vector<pgcoro::inet>{{"10.0.0.1/8"}, {"::1"}});

    // Lower bounds other than 1 are dropped.
    const auto bounded = read_both<std::vector<int>>(s, "'[0:1]={1,2}'::int4[]");
    CHECK(bounded.binary == std::vector<int>{1, 2});
    CHECK(bounded.text == std::vector<int>{1, 2});
    // What a vector cannot hold.
    auto e = read_error_both<std::vector<int>>(s, "'{1,NULL}'::int4[]");
    CHECK(e.code == errc::unexpected_null);
    e = read_error_both<std::vector<int>>(s, "'{{1},{2}}'::int4[]");
    CHECK(e.code == errc::type_mismatch);
    // An array parameter the server can use as such.
    CHECK(s.query("SELECT $1::int4[] @> ARRAY[3], cardinality($1)", std::vector<int>{1, 2, 3})[0].as<bool, int>() ==
          std::tuple{true, 3});
    CHECK(s.query("SELECT array_length($1::text[], 1)", std::vector<std::string>{"a", "b"})[0].get<int>(0) == 2);
}

// --- NULL -----------------------------------------------------------------------------------------

TEST_CASE("types: SQL NULL through std::optional and std::nullopt", "[types]") {
    session s;
    const auto r = s.query("SELECT $1::int4 IS NULL, $2::text IS NULL, $3::int8 IS NULL, $4::text IS NULL, $5::float8",
                           std::optional<int>{}, std::nullopt, nullptr, std::optional<std::string>{"x"},
                           std::optional<double>{2.5});
    CHECK(r[0].get<bool>(0));
    CHECK(r[0].get<bool>(1));
    CHECK(r[0].get<bool>(2));
    CHECK_FALSE(r[0].get<bool>(3));
    CHECK(r[0].get<double>(4) == 2.5);

    const auto null = read_both<std::optional<int>>(s, "NULL::int4");
    CHECK_FALSE(null.binary.has_value());
    CHECK_FALSE(null.text.has_value());
    const auto present = read_both<std::optional<std::string>>(s, "''::text", false);
    CHECK(present.binary == std::optional<std::string>(""));
    CHECK(present.text == std::optional<std::string>(""));
    const auto e = read_error_both<int>(s, "NULL::int4");
    CHECK(e.code == errc::unexpected_null);
    CHECK(e.message == "column \"v\": NULL cannot be read as std::int32_t (PostgreSQL type int4 (oid 23)); read it as "
                       "std::optional<std::int32_t>");
}

// --- user types and mismatches -----------------------------------------------------------------------

TEST_CASE("types: a user enum through a pg_traits specialization", "[types]") {
    session s;
    s.simple("CREATE TYPE pg_temp.mood AS ENUM ('sad', 'ok', 'happy'); CREATE TEMP TABLE diary(day int, m mood, ms mood[])");
    using itest::mood;
    CHECK(sent_as(s, mood::happy, "mood") == "happy");
    round_trip(s, "mood", "ok", mood::ok, false);
    CHECK(s.query("INSERT INTO diary VALUES ($1, $2, $3)", 1, mood::sad, std::vector<mood>{mood::happy, mood::sad})
              .rows_affected() == 1u);
    const auto r = s.query("SELECT m, ms FROM diary WHERE m = $1", mood::sad);
    REQUIRE(r.size() == 1);
    CHECK(r[0].get<mood>(0) == mood::sad);
    CHECK(r[0].get<std::vector<mood>>(1) == std::vector<mood>{mood::happy, mood::sad});
    const auto t = s.simple("SELECT m, ms FROM diary");
    CHECK(t[0][0].get<mood>("m") == mood::sad);
    CHECK(t[0][0].get<std::vector<mood>>("ms") == std::vector<mood>{mood::happy, mood::sad});
    CHECK(sent_as(s, std::vector<mood>{mood::ok, mood::happy}, "mood[]") == "{ok,happy}");
    // Ordered as declared, by the server.
    CHECK(s.query("SELECT $1::mood < $2::mood", mood::sad, mood::happy)[0].get<bool>(0));
    // The enum's OID is no built-in type: the message says so.
    const auto e = read_error_both<int>(s, "'ok'::mood");
    CHECK(e.code == errc::type_mismatch);
    const auto oid = s.query("SELECT 'mood'::regtype::oid")[0].get<pgcoro::oid>(0).value;
    CHECK(e.message == "column \"v\": cannot read PostgreSQL type with oid " + std::to_string(oid) + " as std::int32_t");
}

TEST_CASE("types: a type mismatch names the column, the C++ type and the PostgreSQL type", "[types]") {
    session s;
    const std::string sql = "SELECT 'x'::text AS word, 1.5::numeric AS price, now() AS at, 42 AS answer";
    for (const auto& r : {s.query(sql), s.simple(sql).at(0)}) {
        CHECK_THROWS_WITH(r[0].get<int>("word"), "column \"word\": cannot read PostgreSQL type text (oid 25) as std::int32_t");
        CHECK_THROWS_WITH(r[0].get<double>("price"), "column \"price\": cannot read PostgreSQL type numeric (oid 1700) as double");
        CHECK_THROWS_WITH(r[0].get<local_us>("at"), "column \"at\": cannot read PostgreSQL type timestamptz (oid 1184) as "
                                                    "std::chrono::local_time<std::chrono::microseconds>");
        CHECK_THROWS_WITH(r[0].get<std::string>("answer"), "column \"answer\": cannot read PostgreSQL type int4 (oid 23) as std::string");
        CHECK_THROWS_WITH((r[0].as<std::string, pgcoro::numeric, sys_us, pgcoro::uuid>()),
                          "column \"answer\": cannot read PostgreSQL type int4 (oid 23) as pgcoro::uuid");
        try {
            (void)r[0].get<int>("word");
        } catch (const pgcoro::error& e) {
            CHECK(e.code() == errc::type_mismatch);
        }
        const auto [word, price, at, answer] = r[0].as<std::string, pgcoro::numeric, sys_us, int>();
        CHECK(word == "x");
        CHECK(price.str() == "1.5");
        CHECK(at > sys_us(days(2024, 1, 1).time_since_epoch()));
        CHECK(answer == 42);
    }
}

// --- format_text against the server's own output --------------------------------------------------

namespace {

struct type_samples {
    std::string type;
    std::vector<std::string> literals;
};

// Values of every type pgcoro receives in binary, edge values first.
const std::vector<type_samples>& samples() {
    static const std::vector<type_samples> all = {
        {"bool", {"true", "false"}},
        {"int2", {"-32768", "32767", "0"}},
        {"int4", {"-2147483648", "2147483647", "-1"}},
        {"int8", {"-9223372036854775808", "9223372036854775807", "7"}},
        {"oid", {"0", "4294967295"}},
        {"float4", {"NaN", "Infinity", "-Infinity", "-0", "0", "1e-45", "1.1754942e-38", "3.4028235e38", "0.1", "1e6", "123456",
                    "1234567", "12345.678", "-2.5e-7", "0.0001"}},
        {"float8", {"NaN", "Infinity", "-Infinity", "-0", "0", "5e-324", "2.225073858507201e-308", "1.7976931348623157e308",
                    "0.1", "1e15", "1e14", "999999999999999", "1e-5", "0.0001", "123456789012345678", "-2.5e-7", "1e100",
                    "0.30000000000000004"}},
        {"numeric", {"NaN", "Infinity", "-Infinity", "0", "0.000", "-0.5", "1e-30", "123456789012345678901234567890.0123456789",
                     "1e100", "-99999999.99990000", "10000", "0.0001", "1e-16383"}},
        {"text", {"", "h\xC3\xA9 \xF0\x9F\x98\x80", "a\"b\\c", "NULL", "tab\there"}},
        {"varchar(5)", {"ab", ""}},
        {"char(4)", {"ab", ""}},
        {"name", {"pg_class"}},
        {"bytea", {"\\x", "\\x00ff10", "hello"}},
        {"uuid", {"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "00000000-0000-0000-0000-000000000000"}},
        {"date", {"infinity", "-infinity", "1969-12-31", "1970-01-01", "1999-12-31", "2000-01-01", "4714-11-24 BC", "4713-01-01 BC",
                  "0001-01-01 BC", "10000-01-01", "5874897-12-31"}},
        {"time", {"00:00", "24:00:00", "12:34:56.789", "23:59:59.999999", "00:00:00.000001"}},
        {"timestamp", {"infinity", "-infinity", "1969-12-31 23:59:59.999999", "1999-12-31 23:59:59.5", "2024-02-29 13:45:00.123456",
                       "4714-11-24 00:00:00 BC", "294276-12-31 23:59:59.999999", "0044-03-15 12:00 BC", "2000-01-01"}},
        {"timestamptz", {"infinity", "-infinity", "1969-12-31 23:59:59.999999+00", "2024-02-29 13:45:00.5+05:30",
                         "4714-11-24 00:00:00+00 BC", "294276-12-31 23:59:59.999999+00", "1900-01-01 00:00:00+00:19:32"}},
        {"interval", {"1 year 2 mons 3 days 04:05:06.5", "-1 days +02:03:00", "-1 years -2 mons +3 days -04:05:06", "00:00:00",
                      "-00:00:00.000001", "178000000 years", "-2147483648 days", "2562047788:00:54.775807", "1 day -1 sec",
                      "-1 mon -1 day 1 sec", "1 year", "100 hours"}},
        {"json", {"{\"b\": 1,  \"a\": [1, 2]}", "[]", "\"\xC3\xA9\xF0\x9F\x98\x80\""}},
        {"jsonb", {"{\"b\": 1,  \"a\": [1, 2]}", "[]", "null", "{\"x\": {\"y\": [true, 1.50]}}"}},
        {"inet", {"192.168.0.1", "192.168.0.1/24", "::1", "2001:db8::1/64", "::ffff:1.2.3.4", "::1.2.3.4", "fe80::1:0:0:1"}},
        {"cidr", {"10.0.0.0/8", "0.0.0.0/0", "2001:db8::/32", "::ffff:1.2.3.0/120", "::/0", "::1/128"}},
        {"int4[]", {"{}", "{1,NULL,3}", "{{1,2},{3,4}}", "[0:1]={1,2}", "[0:1][2:3]={{1,2},{3,4}}", "[-5:-4]={7,8}"}},
        {"int2[]", {"{{{1},{2}},{{3},{4}}}"}},
        {"int8[]", {"{9223372036854775807,NULL}"}},
        {"oid[]", {"{0,4294967295}"}},
        {"text[]", {"{\"a,b\",\"q\\\"x\",\"back\\\\slash\",\"\",\"NULL\",\"null\",\" sp \",\"{br}\",\"\xC3\xA9\",plain,NULL}",
                    "{{a,\"b c\"},{\"\",NULL}}", "{\"tab\there\",\"new\nline\"}"}},
        {"varchar[]", {"{a,\"b c\"}"}},
        {"char(3)[]", {"{a,bc}"}},
        {"name[]", {"{pg_class,\"a b\"}"}},
        {"numeric[]", {"{1.50,NaN,-0.5,1e-30,Infinity}"}},
        {"float4[]", {"{NaN,-0,1e-45,0.1}"}},
        {"float8[]", {"{NaN,-0,Infinity,5e-324,0.1,1e15}"}},
        {"bool[]", {"{t,f,NULL}"}},
        {"bytea[]", {"{\"\\\\x00ff\",\"\\\\x\"}"}},
        {"uuid[]", {"{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}"}},
        {"date[]", {"{2000-01-01,-infinity,\"4714-11-24 BC\"}"}},
        {"time[]", {"{00:00,24:00}"}},
        {"timestamp[]", {"{\"2000-01-01 00:00:00\",infinity}"}},
        {"timestamptz[]", {"{\"2000-01-01 00:00:00+00\",infinity,NULL}"}},
        {"interval[]", {"{\"1 day\",\"-1 years +00:00:01\",00:00:00}"}},
        {"json[]", {"{\"{\\\"a\\\": 1}\",null}"}},
        {"jsonb[]", {"{\"{\\\"b\\\": 1,  \\\"a\\\": 2}\"}"}},
        {"inet[]", {"{10.0.0.1/8,::1}"}},
        {"cidr[]", {"{10.0.0.0/8,::/0}"}},
    };
    return all;
}

}  // namespace

TEST_CASE("types: format_text prints binary fields exactly as the server's output functions do", "[types]") {
    session s("options='-c TimeZone=UTC'");
    for (const auto& [type, literals] : samples()) {
        for (const auto& text : literals) {
            // The type's output function: the same query over the simple protocol.
            const std::string sql = "SELECT " + literal(text, type);
            const auto r = s.query(sql);
            const auto t = s.simple(sql);
            REQUIRE(r.size() == 1);
            const auto& c = r.columns().at(0);
            INFO(sql);
            // Binary, but for the character types and json, which come as text (type_table.hpp).
            CHECK(c.format == (pgcoro::detail::receives_binary(c.type_oid) ? 1 : 0));
            const std::string got = pgcoro::format_text(*r[0][0], {c.type_oid, c.type_modifier, static_cast<pgcoro::format>(c.format)});
            CHECK(got == t.at(0).at(0).text(0));
        }
    }
}

TEST_CASE("types: format_text prints random floats, timestamps and intervals as the server does", "[types]") {
    session s("options='-c TimeZone=UTC'");
    std::mt19937_64 rng(20240229);
    const double inf = std::numeric_limits<double>::infinity();
    // Random bit patterns: every exponent, denormals, NaNs and infinities included.
    std::vector<double> doubles;
    std::vector<float> floats;
    for (int i = 0; i < 3000; ++i) {
        doubles.push_back(std::bit_cast<double>(rng()));
        floats.push_back(std::bit_cast<float>(static_cast<std::uint32_t>(rng())));
    }
    // And "round" decimal values, whose shortest digits are few.
    for (int i = 0; i < 500; ++i) {
        const double mantissa = static_cast<double>(rng() % 100000) / 100;
        const int exponent = static_cast<int>(rng() % 60) - 30;
        doubles.push_back(mantissa * std::pow(10.0, exponent));
        floats.push_back(static_cast<float>(mantissa * std::pow(10.0, exponent % 20)));
    }
    // Powers of two and their neighbours, where the rounding interval is lopsided.
    for (int e = -1074; e < 1024; e += 7) {
        const double p = std::ldexp(1.0, e);
        doubles.insert(doubles.end(), {p, std::nextafter(p, 0.0), std::nextafter(p, inf)});
    }
    for (int e = -149; e < 128; e += 3) {
        const float p = std::ldexp(1.0f, e);
        floats.insert(floats.end(), {p, std::nextafter(p, 0.0f), std::nextafter(p, std::numeric_limits<float>::infinity())});
    }
    std::vector<local_us> stamps;
    std::vector<pgcoro::interval> intervals;
    for (int i = 0; i < 2000; ++i) {
        // From 4714 BC to 292277 AD, anywhere within the day.
        constexpr std::int64_t lo = -210'866'803'200'000'000, hi = 9'223'372'036'854'775'806;
        constexpr std::uint64_t span = static_cast<std::uint64_t>(hi) - static_cast<std::uint64_t>(lo);
        stamps.push_back(local_us(chr::microseconds(static_cast<std::int64_t>(static_cast<std::uint64_t>(lo) + rng() % span))));
        const auto bits = rng();
        intervals.push_back({static_cast<std::int32_t>(bits >> 32) >> (bits % 31), static_cast<std::int32_t>(bits) >> (bits % 29),
                             static_cast<std::int64_t>(rng()) >> (bits % 61)});
    }
    std::vector<pgcoro::numeric> numerics;
    for (int i = 0; i < 1000; ++i) {
        std::string t = rng() % 2 ? "-" : "";
        const int int_digits = static_cast<int>(rng() % 30), frac_digits = static_cast<int>(rng() % 30);
        for (int k = 0; k < int_digits; ++k) t += static_cast<char>('0' + rng() % 10);
        if (int_digits == 0) t += '0';
        if (frac_digits) t += '.';
        for (int k = 0; k < frac_digits; ++k) t += static_cast<char>('0' + rng() % 10);
        numerics.emplace_back(t);
    }

    auto compare = [&](const pgcoro::result& r, const char* what) {
        REQUIRE(r.size() > 100);
        const auto& c = r.columns().at(0);
        REQUIRE(c.format == 1);
        std::size_t mismatches = 0;
        for (auto row : r) {
            const std::string got = pgcoro::format_text(*row[0], {c.type_oid, c.type_modifier, pgcoro::format::binary});
            if (got != row.text(1) && ++mismatches <= 5) {
                INFO(what);
                CHECK(got == row.text(1));
            }
        }
        CHECK(mismatches == 0u);
    };
    compare(s.query("SELECT x, x::text FROM unnest($1::float8[]) AS x", doubles), "float8");
    compare(s.query("SELECT x, x::text FROM unnest($1::float4[]) AS x", floats), "float4");
    compare(s.query("SELECT x, x::text FROM unnest($1::timestamp[]) AS x", stamps), "timestamp");
    compare(s.query("SELECT x::timestamptz, x::timestamptz::text FROM unnest($1::timestamp[]) AS x", stamps), "timestamptz");
    compare(s.query("SELECT x::date, x::date::text FROM unnest($1::timestamp[]) AS x", stamps), "date");
    compare(s.query("SELECT x::time, x::time::text FROM unnest($1::timestamp[]) AS x", stamps), "time");
    compare(s.query("SELECT x, x::text FROM unnest($1::interval[]) AS x", intervals), "interval");
    compare(s.query("SELECT x, x::text FROM unnest($1::numeric[]) AS x", numerics), "numeric");
    // And the same values read back exactly through the codecs.
    const auto back = s.query("SELECT $1::float8[], $2::float4[], $3::timestamp[], $4::interval[], $5::numeric[]", doubles,
                              floats, stamps, intervals, numerics);
    check_same(back[0].get<std::vector<double>>(0), doubles, "float8[]");
    check_same(back[0].get<std::vector<float>>(1), floats, "float4[]");
    CHECK(back[0].get<std::vector<local_us>>(2) == stamps);
    CHECK(back[0].get<std::vector<pgcoro::interval>>(3) == intervals);
    CHECK(back[0].get<std::vector<pgcoro::numeric>>(4) == numerics);
}

// --- the pgcoro-query example against psql -----------------------------------------------------------

namespace {

struct process_output {
    int status = -1;  // exit status, or -1 if it did not exit normally
    std::string out, err;
};

// Runs a program with extra environment variables, collecting its stdout and stderr.
process_output run_process(const std::vector<std::string>& args, const std::vector<std::string>& extra_env = {}) {
    std::vector<char*> argv;
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    std::vector<std::string> env_strings;
    for (char** e = environ; *e; ++e) {
        const std::string_view entry(*e);
        bool overridden = false;
        for (const auto& x : extra_env)
            overridden = overridden || entry.substr(0, entry.find('=') + 1) == std::string_view(x).substr(0, x.find('=') + 1);
        if (!overridden) env_strings.emplace_back(entry);
    }
    env_strings.insert(env_strings.end(), extra_env.begin(), extra_env.end());
    std::vector<char*> envp;
    for (auto& e : env_strings) envp.push_back(e.data());
    envp.push_back(nullptr);

    int out_pipe[2], err_pipe[2];
    REQUIRE(pipe(out_pipe) == 0);
    REQUIRE(pipe(err_pipe) == 0);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, out_pipe[1], 1);
    posix_spawn_file_actions_adddup2(&actions, err_pipe[1], 2);
    posix_spawn_file_actions_addclose(&actions, out_pipe[0]);
    posix_spawn_file_actions_addclose(&actions, err_pipe[0]);
    pid_t pid = 0;
    const int spawned = posix_spawnp(&pid, argv[0], &actions, nullptr, argv.data(), envp.data());
    posix_spawn_file_actions_destroy(&actions);
    close(out_pipe[1]);
    close(err_pipe[1]);
    process_output result;
    if (spawned != 0) {
        close(out_pipe[0]);
        close(err_pipe[0]);
        FAIL("cannot run " << args[0] << ": " << std::strerror(spawned));
        return result;
    }
    pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
    std::string* sinks[2] = {&result.out, &result.err};
    int open_fds = 2;
    while (open_fds > 0) {
        if (poll(fds, 2, -1) < 0) break;
        for (int i = 0; i < 2; ++i) {
            if (fds[i].fd < 0 || fds[i].revents == 0) continue;
            char buf[65536];
            const ssize_t n = read(fds[i].fd, buf, sizeof buf);
            if (n > 0) {
                sinks[i]->append(buf, static_cast<std::size_t>(n));
            } else {
                close(fds[i].fd);
                fds[i].fd = -1;
                --open_fds;
            }
        }
    }
    int status = 0;
    waitpid(pid, &status, 0);
    result.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return result;
}

// The example program, built next to the tests (build/examples/pgcoro-query)
// or where PGCORO_QUERY_PROGRAM says: scripts/run-tests points the sanitizer
// build's tests at the plain build's, which it has built anyway.
std::string pgcoro_query_path() {
    if (const char* given = std::getenv("PGCORO_QUERY_PROGRAM"); given && *given) {
        INFO("PGCORO_QUERY_PROGRAM=" << given);
        REQUIRE(std::filesystem::exists(given));
        return given;
    }
    const auto self = std::filesystem::read_symlink("/proc/self/exe");
    const auto path = self.parent_path().parent_path() / "examples" / "pgcoro-query";
    INFO("build it with: ninja -C " << self.parent_path().parent_path().string() << " examples/pgcoro-query");
    REQUIRE(std::filesystem::exists(path));
    return path.string();
}

std::string pgcoro_conninfo() {
    return test::tcp_conninfo("user=pgcoro_scram password=scram_pw sslmode=disable options='-c TimeZone=UTC'");
}

process_output psql(const std::string& sql) {
    return run_process({"psql", "-X", "-q", "-At", "-F", "\t", "-v", "ON_ERROR_STOP=1", "-c", sql},
                       {"PGOPTIONS=-c DateStyle=ISO -c IntervalStyle=postgres -c TimeZone=UTC"});
}

std::vector<std::string> lines_of(const std::string& text) {
    std::vector<std::string> lines;
    std::size_t at = 0;
    while (at < text.size()) {
        const std::size_t end = text.find('\n', at);
        lines.push_back(text.substr(at, end - at));
        at = end == std::string::npos ? text.size() : end + 1;
    }
    return lines;
}

void compare_outputs(const process_output& ours, const process_output& theirs, const std::string& sql) {
    INFO(sql);
    INFO("pgcoro-query stderr: " << ours.err);
    INFO("psql stderr: " << theirs.err);
    REQUIRE(theirs.status == 0);
    CHECK(ours.status == 0);
    const auto a = lines_of(ours.out), b = lines_of(theirs.out);
    CHECK(a.size() == b.size());
    for (std::size_t i = 0; i < std::min(a.size(), b.size()); ++i) {
        INFO("line " << i + 1);
        CHECK(a[i] == b[i]);
    }
}

}  // namespace

TEST_CASE("types: pgcoro-query --binary prints what psql prints, type by type", "[types]") {
    const std::string program = pgcoro_query_path();
    const std::string conninfo = pgcoro_conninfo();
    std::size_t lines = 0;
    for (const auto& [type, literals] : samples()) {
        std::string sql = "SELECT v FROM (VALUES ";
        for (const auto& text : literals) sql += "(" + literal(text, type) + "), ";
        sql += "(NULL::" + type + ")) AS t(v)";
        const auto theirs = psql(sql);
        compare_outputs(run_process({program, "--binary", conninfo, sql}), theirs, sql);
        lines += lines_of(theirs.out).size();
    }
    CHECK(lines > 200);
    // One wide row: fields separated by tabs, NULL empty.
    std::string wide = "SELECT ";
    for (const auto& [type, literals] : samples()) wide += literal(literals.front(), type) + ", NULL::" + type + ", ";
    wide += "'end'";
    compare_outputs(run_process({program, "--binary", conninfo, wide}), psql(wide), wide);
}

TEST_CASE("types: pgcoro-query binds PARAMs as text, runs several statements without them, reports errors", "[types]") {
    const std::string program = pgcoro_query_path();
    const std::string conninfo = pgcoro_conninfo();
    // Parameters: untyped text, the server infers each type.
    auto ours = run_process({program, conninfo, "SELECT $1::int4 + 1, $2::text, $3::date, $4::numeric * 2, $5::float8[], $6",
                             "41", "h\xC3\xA9 \xF0\x9F\x98\x80", "2024-02-29", "0.5", "{1.5,NaN}", "untyped"});
    CHECK(ours.status == 0);
    CHECK(ours.out == "42\th\xC3\xA9 \xF0\x9F\x98\x80\t2024-02-29\t1.0\t{1.5,NaN}\tuntyped\n");
    const std::string sql = "SELECT 42, 'h\xC3\xA9 \xF0\x9F\x98\x80'::text, '2024-02-29'::date, 0.5 * 2, '{1.5,NaN}'::float8[], 'untyped'";
    compare_outputs(ours, psql(sql), sql);
    // No parameters and no --binary: the simple protocol, several statements.
    const std::string several = "SELECT 1, 'a b'; SELECT NULL::int4, '2000-01-01 01:02:03.5+00'::timestamptz; SELECT '{1,NULL}'::int4[]";
    compare_outputs(run_process({program, conninfo, several}), psql(several), several);

    // A query error: exit status 1, SQLSTATE and message on stderr.
    ours = run_process({program, "--binary", conninfo, "SELECT 1/0"});
    CHECK(ours.status == 1);
    CHECK_THAT(ours.err, Catch::Contains("22012") && Catch::Contains("division by zero"));
    CHECK(ours.out.empty());
    ours = run_process({program, conninfo, "SELECT $1::int4", "not a number"});
    CHECK(ours.status == 1);
    CHECK_THAT(ours.err, Catch::Contains("22P02"));
    ours = run_process({program, conninfo, "SELEC 1"});
    CHECK(ours.status == 1);
    CHECK_THAT(ours.err, Catch::Contains("42601"));
    // A connection error: exit status 2.
    ours = run_process({program, test::tcp_conninfo("user=pgcoro_scram password=wrong sslmode=disable"), "SELECT 1"});
    CHECK(ours.status == 2);
    CHECK_THAT(ours.err, Catch::Contains("28P01"));
    ours = run_process({program, "host=127.0.0.1 port=1 connect_timeout=5 sslmode=disable", "SELECT 1"});
    CHECK(ours.status == 2);
    CHECK_FALSE(ours.err.empty());
    // Usage.
    ours = run_process({program, "--binary"});
    CHECK(ours.status == 2);
    CHECK_THAT(ours.err, Catch::Contains("usage"));
}

}  // namespace integration_types
