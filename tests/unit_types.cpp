// The type codecs byte by byte. Every expected binary value below is what
// PostgreSQL 15 itself sends, observed with the SQL in the comment next to it
// (run through scripts/test-server and psql, e.g. SELECT int8send(42)).
#include <pgcoro/types.hpp>
#include <pgcoro/types/type_table.hpp>

#include "support/catch.hpp"

#include <algorithm>

using namespace std::literals;
namespace chr = std::chrono;
using pgcoro::errc;
using pgcoro::field_type;
using pgcoro::format;
namespace oids = pgcoro::oids;

namespace {

// "0001ffff" -> the four bytes 00 01 ff ff.
std::string unhex(std::string_view hex) {
    std::string out;
    for (std::size_t i = 0; i + 1 < hex.size(); i += 2)
        out += static_cast<char>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16));
    return out;
}

std::string hex(std::string_view bytes) {
    constexpr char digits[] = "0123456789abcdef";
    std::string out;
    for (unsigned char c : bytes) {
        out += digits[c >> 4];
        out += digits[c & 0xF];
    }
    return out;
}

// The parameter's bytes, as hex; checks the OID and format it is sent with.
template <class T>
std::string encoded_hex(const T& v, std::uint32_t oid, format fmt = format::binary) {
    std::string out = "prefix";
    const pgcoro::param_info info = pgcoro::encode_param(v, out);
    CHECK(info.oid == oid);
    CHECK(info.fmt == fmt);
    CHECK_FALSE(info.is_null);
    REQUIRE(out.substr(0, 6) == "prefix");  // appended, not overwritten
    return hex(out.substr(6));
}

template <class T>
std::string encoded_text(const T& v) {
    std::string out;
    pgcoro::encode_param(v, out);
    return out;
}

template <class T>
T from_binary(std::string_view hex_bytes, std::uint32_t oid) {
    const std::string bytes = unhex(hex_bytes);
    return pgcoro::decode_field<T>(std::string_view(bytes), field_type{oid, -1, format::binary}, "c");
}

template <class T>
T from_text(std::string_view text, std::uint32_t oid) {
    return pgcoro::decode_field<T>(text, field_type{oid, -1, format::text}, "c");
}

struct caught {
    errc code{};
    std::string message;
};

template <class F>
caught error_of(F&& f) {
    try {
        f();
    } catch (const pgcoro::error& e) {
        REQUIRE(e.code().category() == pgcoro::error_category());
        return {static_cast<errc>(e.code().value()), e.what()};
    }
    FAIL("no error thrown");
    return {};
}

}  // namespace

// --- user types: the extension point -------------------------------------------

namespace app {

// CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy'): its OID is assigned at
// creation, so it is sent with OID 0 (the server infers it) and read from any
// user-defined type or from text.
enum class mood { sad, ok, happy };

// The built-in point type: binary is float8 x, float8 y; text "(x,y)".
struct point {
    double x = 0, y = 0;
    friend bool operator==(const point&, const point&) = default;
};

}  // namespace app

template <>
struct pgcoro::pg_traits<app::mood> {
    static constexpr std::uint32_t oid = 0;
    static constexpr format param_format = format::text;
    static constexpr std::string_view name = "app::mood";

    static constexpr std::string_view labels[] = {"sad", "ok", "happy"};
    static void encode(app::mood m, std::string& out) { out += labels[static_cast<int>(m)]; }
    static constexpr bool accepts(std::uint32_t type) noexcept {
        return type == 0 || type >= oids::first_normal_object_id || type == oids::text;
    }
    // An enum's binary and text forms are both its label.
    static app::mood decode(std::string_view bytes, const field_type&) {
        for (int i = 0; i < 3; ++i)
            if (bytes == labels[i]) return static_cast<app::mood>(i);
        throw pgcoro::error(errc::invalid_value, "invalid app::mood label " + std::string(bytes));
    }
};

template <>
struct pgcoro::pg_traits<app::point> {
    static constexpr std::uint32_t oid = oids::point;
    static constexpr format param_format = format::binary;
    static constexpr std::string_view name = "app::point";

    static void encode(const app::point& p, std::string& out) {
        pg_traits<double>::encode(p.x, out);
        pg_traits<double>::encode(p.y, out);
    }
    static constexpr bool accepts(std::uint32_t type) noexcept { return type == oids::point; }
    static app::point decode(std::string_view bytes, const field_type& t) {
        const field_type f8{oids::float8, -1, t.fmt};
        if (t.fmt == format::binary) {
            if (bytes.size() != 16) throw pgcoro::error(errc::invalid_value, "binary point is 16 bytes");
            return {pg_traits<double>::decode(bytes.substr(0, 8), f8), pg_traits<double>::decode(bytes.substr(8), f8)};
        }
        const auto comma = bytes.find(',');
        if (bytes.size() < 5 || bytes.front() != '(' || bytes.back() != ')' || comma == std::string_view::npos)
            throw pgcoro::error(errc::invalid_value, "invalid point text");
        return {pg_traits<double>::decode(bytes.substr(1, comma - 1), f8),
                pg_traits<double>::decode(bytes.substr(comma + 1, bytes.size() - comma - 2), f8)};
    }
};

static_assert(pgcoro::pg_type<app::mood> && pgcoro::pg_encodable<app::mood> && pgcoro::pg_decodable<app::mood>);
static_assert(!pgcoro::pg_type<unsigned>);  // PostgreSQL has no unsigned integers
static_assert(!pgcoro::pg_type<char>);
static_assert(pgcoro::pg_encodable<const char*> && !pgcoro::pg_decodable<const char*>);

// --- the catalogue ----------------------------------------------------------------

TEST_CASE("error codes for type errors") {
    CHECK(make_error_code(errc::type_mismatch).message() == "type mismatch");
    CHECK(make_error_code(errc::value_out_of_range).message() == "value out of range");
    CHECK(make_error_code(errc::unexpected_null).message() == "unexpected NULL");
    CHECK(make_error_code(errc::invalid_value).message() == "invalid value");
}

TEST_CASE("type names and array OIDs") {
    CHECK(pgcoro::type_name(23) == "int4");
    CHECK(pgcoro::type_name(25) == "text");
    CHECK(pgcoro::type_name(1007) == "int4[]");
    CHECK(pgcoro::type_name(3807) == "jsonb[]");
    CHECK(pgcoro::type_name(1184) == "timestamptz");
    CHECK(pgcoro::type_name(705) == "unknown");
    CHECK(pgcoro::type_name(16385).empty());
    // SELECT 'json[]'::regtype::oid, 'jsonb[]'::..., 'uuid[]', 'inet[]', 'cidr[]', 'interval[]', 'time[]', 'date[]',
    //        'numeric[]', 'oid[]', 'name[]', 'bool[]', 'bytea[]', 'float4[]', 'float8[]', 'timestamp[]',
    //        'timestamptz[]', 'varchar[]', 'bpchar[]', 'timetz[]', 'xml[]'
    const std::pair<std::uint32_t, std::uint32_t> arrays[] = {
        {oids::json, 199},      {oids::jsonb, 3807},     {oids::uuid, 2951},     {oids::inet, 1041},
        {oids::cidr, 651},      {oids::interval, 1187},  {oids::time, 1183},     {oids::date, 1182},
        {oids::numeric, 1231},  {oids::oid, 1028},       {oids::name, 1003},     {oids::bool_, 1000},
        {oids::bytea, 1001},    {oids::float4, 1021},    {oids::float8, 1022},   {oids::timestamp, 1115},
        {oids::timestamptz, 1185}, {oids::varchar, 1015}, {oids::bpchar, 1014},  {oids::timetz, 1270},
        {oids::xml, 143},       {oids::int2, 1005},      {oids::int4, 1007},     {oids::int8, 1016},
        {oids::text, 1009},     {oids::char_, 1002},
    };
    for (auto [element, array] : arrays) {
        CHECK(pgcoro::array_oid_of(element) == array);
        CHECK(pgcoro::element_oid_of(array) == element);
    }
    CHECK(pgcoro::array_oid_of(oids::unknown) == 0);
    CHECK(pgcoro::element_oid_of(oids::int4) == 0);
    static_assert(pgcoro::pg_traits<std::vector<int>>::oid == 1007);
    static_assert(pgcoro::pg_traits<std::vector<std::optional<std::int64_t>>>::oid == 1016);
    static_assert(pgcoro::pg_traits<std::vector<std::vector<double>>>::oid == 1022);
    static_assert(pgcoro::pg_traits<std::vector<pgcoro::uuid>>::oid == 2951);
    static_assert(pgcoro::pg_traits<std::vector<std::string>>::oid == 0);
    static_assert(pgcoro::pg_traits<std::vector<pgcoro::jsonb>>::oid == 3807);
    static_assert(pgcoro::pg_traits<std::vector<std::vector<std::optional<int>>>>::name ==
                  "std::vector<std::vector<std::optional<std::int32_t>>>");
}

// --- bool and integers ------------------------------------------------------------

TEST_CASE("bool") {
    CHECK(encoded_hex(true, oids::bool_) == "01");   // SELECT boolsend(true)
    CHECK(encoded_hex(false, oids::bool_) == "00");  // SELECT boolsend(false)
    CHECK(from_binary<bool>("01", oids::bool_));
    CHECK_FALSE(from_binary<bool>("00", oids::bool_));
    CHECK(from_text<bool>("t", oids::bool_));
    CHECK_FALSE(from_text<bool>("f", oids::bool_));
    CHECK(error_of([] { from_text<bool>("true", oids::bool_); }).code == errc::invalid_value);
    CHECK(error_of([] { from_binary<bool>("0100", oids::bool_); }).code == errc::invalid_value);
    CHECK(error_of([] { from_binary<bool>("00000001", oids::int4); }).message ==
          "column \"c\": cannot read PostgreSQL type int4 (oid 23) as bool");
}

TEST_CASE("integers: exact bytes at the limits") {
    CHECK(encoded_hex(std::int16_t{-32768}, oids::int2) == "8000");  // SELECT int2send((-32768)::int2)
    CHECK(encoded_hex(std::int16_t{32767}, oids::int2) == "7fff");   // SELECT int2send(32767::int2)
    CHECK(encoded_hex(std::int32_t{-2147483647 - 1}, oids::int4) == "80000000");  // SELECT int4send(-2147483648)
    CHECK(encoded_hex(std::int32_t{42}, oids::int4) == "0000002a");               // SELECT int4send(42)
    CHECK(encoded_hex(std::numeric_limits<std::int64_t>::min(), oids::int8) == "8000000000000000");  // int8send(-9223372036854775808)
    CHECK(encoded_hex(std::int64_t{42}, oids::int8) == "000000000000002a");  // SELECT int8send(42)
    CHECK(encoded_hex(42LL, oids::int8) == "000000000000002a");

    CHECK(from_binary<std::int16_t>("8000", oids::int2) == -32768);
    CHECK(from_binary<std::int32_t>("80000000", oids::int4) == std::numeric_limits<std::int32_t>::min());
    CHECK(from_binary<std::int64_t>("8000000000000000", oids::int8) == std::numeric_limits<std::int64_t>::min());
    CHECK(from_binary<std::int64_t>("7fffffffffffffff", oids::int8) == std::numeric_limits<std::int64_t>::max());
    CHECK(from_text<std::int64_t>("-9223372036854775808", oids::int8) == std::numeric_limits<std::int64_t>::min());
    CHECK(from_text<std::int64_t>("9223372036854775807", oids::int8) == std::numeric_limits<std::int64_t>::max());
    CHECK(from_text<std::int16_t>("-32768", oids::int2) == -32768);
    CHECK(from_text<int>("0", oids::int4) == 0);
}

TEST_CASE("integers: widening always, narrowing when the value fits") {
    CHECK(from_binary<std::int64_t>("fffe", oids::int2) == -2);
    CHECK(from_binary<std::int64_t>("ffffffff", oids::int4) == -1);
    CHECK(from_binary<std::int16_t>("000000000000002a", oids::int8) == 42);
    CHECK(from_binary<std::int16_t>("ffffffffffff8000", oids::int8) == -32768);
    CHECK(from_text<std::int16_t>("32767", oids::int8) == 32767);

    auto e = error_of([] { from_binary<std::int16_t>("00011170", oids::int4); });
    CHECK(e.code == errc::value_out_of_range);
    CHECK(e.message == "column \"c\": value 70000 is out of range for std::int16_t (PostgreSQL type int4 (oid 23))");
    e = error_of([] { from_text<std::int16_t>("-32769", oids::int4); });
    CHECK(e.message == "column \"c\": value -32769 is out of range for std::int16_t (PostgreSQL type int4 (oid 23))");
    e = error_of([] { from_binary<std::int32_t>("0000000080000000", oids::int8); });
    CHECK(e.message == "column \"c\": value 2147483648 is out of range for std::int32_t (PostgreSQL type int8 (oid 20))");
    e = error_of([] { from_text<std::int64_t>("9223372036854775808", oids::int8); });
    CHECK(e.code == errc::value_out_of_range);
}

TEST_CASE("integers: malformed fields and wrong types") {
    auto e = error_of([] { from_binary<std::int32_t>("000000", oids::int4); });
    CHECK(e.code == errc::invalid_value);
    CHECK(e.message == "column \"c\": invalid binary int4 value: expected 4 bytes, got 3 "
                       "(PostgreSQL type int4 (oid 23), read as std::int32_t)");
    e = error_of([] { from_text<std::int32_t>("12a", oids::int4); });
    CHECK(e.message == "column \"c\": invalid integer text \"12a\" (PostgreSQL type int4 (oid 23), read as std::int32_t)");
    CHECK(error_of([] { from_text<std::int32_t>("", oids::int4); }).code == errc::invalid_value);
    CHECK(error_of([] { from_text<std::int32_t>("-", oids::int4); }).code == errc::invalid_value);
    e = error_of([] { pgcoro::decode_field<std::int16_t>("1"sv, field_type{oids::float8, -1, format::text}, "id"); });
    CHECK(e.code == errc::type_mismatch);
    CHECK(e.message == "column \"id\": cannot read PostgreSQL type float8 (oid 701) as std::int16_t");
    e = error_of([] { from_text<std::int32_t>("1.5", oids::numeric); });
    CHECK(e.message == "column \"c\": cannot read PostgreSQL type numeric (oid 1700) as std::int32_t");
    e = error_of([] { from_text<std::int32_t>("1", 16999); });
    CHECK(e.message == "column \"c\": cannot read PostgreSQL type with oid 16999 as std::int32_t");
}

// --- floating point ---------------------------------------------------------------

TEST_CASE("floats: NaN, infinities and -0 bit for bit") {
    const float f_inf = std::numeric_limits<float>::infinity();
    const double d_inf = std::numeric_limits<double>::infinity();
    CHECK(encoded_hex(std::numeric_limits<float>::quiet_NaN(), oids::float4) == "7fc00000");  // float4send('NaN')
    CHECK(encoded_hex(f_inf, oids::float4) == "7f800000");    // float4send('Infinity')
    CHECK(encoded_hex(-f_inf, oids::float4) == "ff800000");   // float4send('-Infinity')
    CHECK(encoded_hex(-0.0f, oids::float4) == "80000000");    // float4send('-0')
    CHECK(encoded_hex(1.5f, oids::float4) == "3fc00000");     // float4send(1.5)
    CHECK(encoded_hex(std::numeric_limits<double>::quiet_NaN(), oids::float8) == "7ff8000000000000");  // float8send('NaN')
    CHECK(encoded_hex(-0.0, oids::float8) == "8000000000000000");  // float8send('-0')
    CHECK(encoded_hex(0.1, oids::float8) == "3fb999999999999a");   // float8send(0.1)
    CHECK(encoded_hex(1e308, oids::float8) == "7fe1ccf385ebc8a0");  // float8send(1e308)

    CHECK(std::isnan(from_binary<float>("7fc00000", oids::float4)));
    CHECK(std::isnan(from_binary<double>("7ff8000000000000", oids::float8)));
    CHECK(from_binary<double>("ff800000", oids::float4) == -d_inf);
    const double negative_zero = from_binary<double>("8000000000000000", oids::float8);
    CHECK((negative_zero == 0 && std::signbit(negative_zero)));
    CHECK(from_binary<double>("3fb999999999999a", oids::float8) == 0.1);

    // The text forms of SELECT 0.1::float4, 'Infinity'::float4, '-0'::float8, 1e100::float8,
    // 1.5e-7::float8, 3.4028235e38::float4, float4 '1e-45', float8 '5e-324', float8 '1.7976931348623157e308'
    CHECK(from_text<float>("0.1", oids::float4) == 0.1f);
    CHECK(from_text<float>("Infinity", oids::float4) == f_inf);
    CHECK(from_text<double>("-Infinity", oids::float8) == -d_inf);
    CHECK(std::isnan(from_text<double>("NaN", oids::float8)));
    const double text_negative_zero = from_text<double>("-0", oids::float8);
    CHECK((text_negative_zero == 0 && std::signbit(text_negative_zero)));
    CHECK(from_text<double>("1e+100", oids::float8) == 1e100);
    CHECK(from_text<double>("1.5e-07", oids::float8) == 1.5e-7);
    CHECK(from_text<float>("3.4028235e+38", oids::float4) == std::numeric_limits<float>::max());
    CHECK(from_text<float>("1e-45", oids::float4) == std::numeric_limits<float>::denorm_min());
    CHECK(from_text<double>("5e-324", oids::float8) == std::numeric_limits<double>::denorm_min());
    CHECK(from_text<double>("1.7976931348623157e+308", oids::float8) == std::numeric_limits<double>::max());
    CHECK(from_text<double>("1.2345678901234568e+20", oids::float8) == 1.2345678901234568e+20);
}

TEST_CASE("floats: float4 widens to double the same from text and binary; float8 never narrows") {
    CHECK(from_text<double>("0.1", oids::float4) == static_cast<double>(0.1f));
    CHECK(from_binary<double>("3dcccccd", oids::float4) == static_cast<double>(0.1f));
    const auto e = error_of([] { from_binary<float>("3fb999999999999a", oids::float8); });
    CHECK(e.code == errc::type_mismatch);
    CHECK(e.message == "column \"c\": cannot read PostgreSQL type float8 (oid 701) as float");
    CHECK(error_of([] { from_text<double>("1.5x", oids::float8); }).code == errc::invalid_value);
    CHECK(error_of([] { from_binary<double>("3fb9", oids::float8); }).code == errc::invalid_value);
}

// --- numeric ------------------------------------------------------------------------

TEST_CASE("numeric: binary layouts the server sends and reads") {
    // {text, numeric_send(text) as PostgreSQL 15 sends it}
    const std::pair<const char*, const char*> cases[] = {
        {"0", "0000000000000000"},                                       // numeric_send(0)
        {"0.000", "0000000000000003"},                                   // numeric_send(0.000)
        {"-0.5", "0001ffff400000011388"},                                // numeric_send(-0.5)
        {"1.50", "000200000000000200011388"},                            // numeric_send(1.50)
        {"-12.3400", "0002000040000004000c0d48"},                        // numeric_send(-12.3400)
        {"NaN", "00000000c0000000"},                                     // numeric_send('NaN')
        {"123456789.000001", "0005000200000006000109291a8500000064"},    // numeric_send(123456789.000001)
        {"0.0001", "0001ffff000000040001"},                              // numeric_send(0.0001)
        {"10000", "00010001000000000001"},                               // numeric_send(10000)
        {"0.00000000000000000001", "0001fffb000000140001"},              // numeric_send(1e-20)
        {"99999999", "0002000100000000270f270f"},                        // numeric_send(99999999)
        {"100000000000000000000", "00010005000000000001"},               // numeric_send(1e20)
        {"0.00001230", "0001fffe0000000804ce"},                          // numeric_send(0.00001230)
    };
    for (auto [text, bytes] : cases) {
        INFO(text);
        CHECK(encoded_hex(pgcoro::numeric(text), oids::numeric) == bytes);
        CHECK(from_binary<pgcoro::numeric>(bytes, oids::numeric).str() == text);
        CHECK(from_text<pgcoro::numeric>(text, oids::numeric).str() == text);
    }
    // numeric_send('Infinity') and ('-Infinity') carry dscale 0x0020, a by-product of the
    // server's header bits that numeric_recv ignores; pgcoro sends 0 there.
    CHECK(from_binary<pgcoro::numeric>("00000000d0000020", oids::numeric).str() == "Infinity");
    CHECK(from_binary<pgcoro::numeric>("00000000f0000020", oids::numeric).str() == "-Infinity");
    CHECK(encoded_hex(pgcoro::numeric("Infinity"), oids::numeric) == "00000000d0000000");
    CHECK(encoded_hex(pgcoro::numeric("-Infinity"), oids::numeric) == "00000000f0000000");
    // Digits the sender did not strip still print right.
    CHECK(from_binary<pgcoro::numeric>("0003000000000002000100000000", oids::numeric).str() == "1.00");
    CHECK(from_binary<pgcoro::numeric>("00020001000000000000000c", oids::numeric).str() == "12");
    // Found by tests/fuzz/type_decoders (corpus numeric_binary_*): a zero sent with a weight or a sign
    // (no digits, weight 65) printed 264 zeros, and "-0.0" for a negative
    // one; it reads as the server's zero, equal to what it encodes to.
    CHECK(from_binary<pgcoro::numeric>("000000410000001e", oids::numeric).str() == "0." + std::string(30, '0'));
    CHECK(from_binary<pgcoro::numeric>("0001fffe400000020000", oids::numeric).str() == "0.00");
    // Digits past the display scale are cut off, as numeric_recv does, and a
    // negative value they leave at zero is the unsigned zero.
    CHECK(from_binary<pgcoro::numeric>("000281004000000c002e0d48", oids::numeric).str() == "0.000000000000");
    CHECK(from_binary<pgcoro::numeric>("0002ffff4000000104570d48", oids::numeric).str() == "-0.1");
}

TEST_CASE("numeric: text fields in any shape but numeric_out's are refused") {
    // Found by tests/fuzz/type_decoders: "00" was kept as sent and differed
    // from the 0 it encodes to. The server prints no leading zeros and no
    // sign on zero.
    for (const char* text : {"00", "007", "-0", "-0.000", "00.5", "+1", "1.", ".5", " 1", "1e3"}) {
        INFO(text);
        CHECK(error_of([&] { from_text<pgcoro::numeric>(text, oids::numeric); }).code == errc::invalid_value);
    }
    for (const char* text : {"0", "0.000", "-0.5", "10", "-12.3400", "NaN", "-Infinity"})
        CHECK(from_text<pgcoro::numeric>(text, oids::numeric).str() == text);
}

TEST_CASE("numeric: text is kept in the server's canonical form") {
    // SELECT '1.5e-3'::numeric, '1e3', '-0.000', ' 12 ', '.5', '5.', 'inf', '+1.0'
    CHECK(pgcoro::numeric("1.5e-3").str() == "0.0015");
    CHECK(pgcoro::numeric("1e3").str() == "1000");
    CHECK(pgcoro::numeric("-0.000").str() == "0.000");
    CHECK(pgcoro::numeric(" 12 ").str() == "12");
    CHECK(pgcoro::numeric(".5").str() == "0.5");
    CHECK(pgcoro::numeric("5.").str() == "5");
    CHECK(pgcoro::numeric("inf").str() == "Infinity");
    CHECK(pgcoro::numeric("+1.0").str() == "1.0");
    CHECK(pgcoro::numeric("nan").str() == "NaN");
    CHECK(pgcoro::numeric("-INF").str() == "-Infinity");
    CHECK(pgcoro::numeric("00012.3400").str() == "12.3400");
    CHECK(pgcoro::numeric("1.23E+2").str() == "123");
    CHECK(pgcoro::numeric("-1.2345e2").str() == "-123.45");
    CHECK(pgcoro::numeric().str() == "0");
    CHECK(pgcoro::numeric(std::int64_t{-9223372036854775807 - 1}).str() == "-9223372036854775808");
    CHECK(pgcoro::numeric("NaN").is_nan());
    CHECK(pgcoro::numeric("-Infinity").is_infinite());
    CHECK(pgcoro::numeric("1.0") != pgcoro::numeric("1.00"));
    CHECK(pgcoro::numeric("1e1") == pgcoro::numeric("10"));
}

TEST_CASE("numeric: 1000 digits and the largest scales, exactly") {
    std::string digits;
    for (int i = 0; i < 1000; ++i) digits += static_cast<char>('1' + i % 9);
    for (const std::string& text : {digits, "-" + digits, digits.substr(0, 400) + "." + digits.substr(400),
                                    "0." + std::string(500, '0') + digits, digits + "." + std::string(37, '0')}) {
        const pgcoro::numeric n(text);
        CHECK(n.str() == text);
        std::string bytes;
        pgcoro::encode_param(n, bytes);
        CHECK(pgcoro::decode_field<pgcoro::numeric>(std::string_view(bytes), field_type{oids::numeric, -1, format::binary}, "n")
                  .str() == text);
    }
    // The display scale's limit is 16383 digits; 131072 digits may precede the point.
    const std::string max_scale = "0." + std::string(16382, '0') + "1";
    CHECK(pgcoro::numeric(max_scale).str() == max_scale);
    const std::string max_integer = std::string(131072, '9');
    CHECK(pgcoro::numeric(max_integer).str() == max_integer);
    auto e = error_of([&] { pgcoro::numeric("0." + std::string(16384, '0')); });
    CHECK(e.code == errc::value_out_of_range);
    e = error_of([] { pgcoro::numeric("1e131072"); });
    CHECK(e.code == errc::value_out_of_range);
    CHECK(e.message == "value \"1e131072\" is out of range for numeric (more than 131072 digits before the point)");
    CHECK(pgcoro::numeric("1e131071").str() == "1" + std::string(131071, '0'));
}

TEST_CASE("numeric: malformed text and bytes") {
    for (const char* bad : {"", " ", "abc", "1.2.3", "-NaN", "1e", "1e+", "--1", "1 2", "+", ".", "e5", "0x10", "1_000"}) {
        INFO(bad);
        const auto e = error_of([&] { pgcoro::numeric{std::string_view(bad)}; });
        CHECK(e.code == errc::invalid_value);
    }
    CHECK(error_of([] { pgcoro::numeric("12x"); }).message == "invalid numeric text \"12x\"");
    CHECK(error_of([] { from_binary<pgcoro::numeric>("000100000000000027", oids::numeric); }).code == errc::invalid_value);
    CHECK(error_of([] { from_binary<pgcoro::numeric>("0001000000000000" "2710", oids::numeric); }).message ==
          "column \"c\": invalid binary numeric value: digit above 9999 (PostgreSQL type numeric (oid 1700), read as pgcoro::numeric)");
    CHECK(error_of([] { from_binary<pgcoro::numeric>("0000000080000000", oids::numeric); }).code == errc::invalid_value);
    CHECK(error_of([] { from_text<pgcoro::numeric>("1e5", oids::numeric); }).code == errc::invalid_value);
    // Integer columns read exactly too.
    CHECK(from_binary<pgcoro::numeric>("8000000000000000", oids::int8).str() == "-9223372036854775808");
    CHECK(from_text<pgcoro::numeric>("42", oids::int4).str() == "42");
}

// --- character types --------------------------------------------------------------

TEST_CASE("text: strings are sent as text with OID 0") {
    CHECK(encoded_hex("héllo"s, 0, format::text) == "68c3a96c6c6f");  // SELECT textsend('héllo')
    CHECK(encoded_hex("héllo"sv, 0, format::text) == "68c3a96c6c6f");
    CHECK(encoded_hex("héllo", 0, format::text) == "68c3a96c6c6f");
    const char* c_string = "a\tb";
    CHECK(encoded_hex(c_string, 0, format::text) == "610962");
    CHECK(encoded_hex(""s, 0, format::text).empty());

    std::string out;
    const char* null_string = nullptr;
    CHECK(pgcoro::encode_param(null_string, out).is_null);
    CHECK(out.empty());

    for (std::uint32_t type : {oids::text, oids::varchar, oids::bpchar, oids::name, oids::unknown}) {
        CHECK(from_binary<std::string>("68c3a96c6c6f", type) == "héllo");
        CHECK(from_text<std::string>("héllo", type) == "héllo");
    }
    CHECK(from_text<std::string>("ab  ", oids::bpchar) == "ab  ");  // SELECT 'ab'::char(4): padding is the value's
    const std::string field = "zero\0byte"s;
    const auto view = pgcoro::decode_field<std::string_view>(std::string_view(field), field_type{oids::text, -1, format::binary}, "c");
    CHECK(view.data() == field.data());  // a view of the field, no copy
    CHECK(view.size() == field.size());
    CHECK(error_of([] { from_text<std::string>("1", oids::int4); }).code == errc::type_mismatch);
}

// --- bytea --------------------------------------------------------------------------

TEST_CASE("bytea: binary, hex and escape text") {
    const pgcoro::bytea bytes{std::byte{0x00}, std::byte{0xff}};
    CHECK(encoded_hex(bytes, oids::bytea) == "00ff");  // SELECT byteasend('\x00ff'::bytea)
    CHECK(encoded_hex(pgcoro::bytea{}, oids::bytea).empty());
    CHECK(from_binary<pgcoro::bytea>("00ff", oids::bytea) == bytes);
    CHECK(from_text<pgcoro::bytea>("\\x00ff", oids::bytea) == bytes);  // SELECT '\x00ff'::bytea
    CHECK(from_text<pgcoro::bytea>("\\x00FF", oids::bytea) == bytes);
    CHECK(from_text<pgcoro::bytea>("\\x", oids::bytea).empty());
    // SET bytea_output = escape; SELECT '\x5c00ff410a'::bytea  -> \\\000\377A\012
    const pgcoro::bytea escaped{std::byte{0x5c}, std::byte{0x00}, std::byte{0xff}, std::byte{0x41}, std::byte{0x0a}};
    CHECK(from_text<pgcoro::bytea>("\\\\\\000\\377A\\012", oids::bytea) == escaped);
    CHECK(from_text<pgcoro::bytea>("", oids::bytea).empty());
    for (const char* bad : {"\\x0", "\\x0g", "\\9", "a\\", "\\01"}) {
        INFO(bad);
        CHECK(error_of([&] { from_text<pgcoro::bytea>(bad, oids::bytea); }).code == errc::invalid_value);
    }
}

// --- uuid ---------------------------------------------------------------------------

TEST_CASE("uuid") {
    const auto u = pgcoro::uuid::parse("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11");
    CHECK(encoded_hex(u, oids::uuid) == "a0eebc999c0b4ef8bb6d6bb9bd380a11");  // uuid_send('a0eebc99-...')
    CHECK(u.to_string() == "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11");
    CHECK(from_binary<pgcoro::uuid>("a0eebc999c0b4ef8bb6d6bb9bd380a11", oids::uuid) == u);
    CHECK(from_text<pgcoro::uuid>("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", oids::uuid) == u);
    // Forms uuid_in accepts: SELECT '{A0EEBC99-9C0B4EF8-BB6D6BB9-BD380A11}'::uuid, 'a0eebc999c0b4ef8bb6d6bb9bd380a11'::uuid
    CHECK(pgcoro::uuid::parse("{A0EEBC99-9C0B4EF8-BB6D6BB9-BD380A11}") == u);
    CHECK(pgcoro::uuid::parse("a0eebc999c0b4ef8bb6d6bb9bd380a11") == u);
    CHECK(pgcoro::uuid{}.to_string() == "00000000-0000-0000-0000-000000000000");
    for (const char* bad : {"", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a1", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a111",
                            "a0eebc9-99c0b-4ef8-bb6d-6bb9bd380a11", "{a0eebc999c0b4ef8bb6d6bb9bd380a11", "g0eebc999c0b4ef8bb6d6bb9bd380a11"}) {
        INFO(bad);
        CHECK(error_of([&] { pgcoro::uuid::parse(bad); }).code == errc::invalid_value);
    }
    CHECK(error_of([] { from_binary<pgcoro::uuid>("a0eebc99", oids::uuid); }).code == errc::invalid_value);
}

// --- dates and times ------------------------------------------------------------------

namespace {
constexpr chr::sys_days ymd(int y, unsigned m, unsigned d) { return chr::sys_days(chr::year(y) / m / d); }
using local_us = chr::local_time<chr::microseconds>;
using sys_us = chr::sys_time<chr::microseconds>;
}  // namespace

TEST_CASE("date: epochs, infinities and the ends of the range") {
    const auto date_max = chr::sys_days::max();
    const auto date_min = chr::sys_days::min();
    CHECK(encoded_hex(ymd(2000, 1, 1), oids::date) == "00000000");    // date_send('2000-01-01')
    CHECK(encoded_hex(ymd(1970, 1, 1), oids::date) == "ffffd533");    // date_send('1970-01-01')
    CHECK(encoded_hex(ymd(1969, 12, 31), oids::date) == "ffffd532");  // date_send('1969-12-31')
    CHECK(encoded_hex(date_max, oids::date) == "7fffffff");           // date_send('infinity')
    CHECK(encoded_hex(date_min, oids::date) == "80000000");           // date_send('-infinity')
    CHECK(encoded_hex(ymd(0, 1, 1), oids::date) == "fff4da8b");       // date_send('0001-01-01 BC')
    CHECK(encoded_hex(ymd(-4712, 1, 1), oids::date) == "ffda97cd");   // date_send('4713-01-01 BC')

    CHECK(from_binary<chr::sys_days>("00000000", oids::date) == ymd(2000, 1, 1));
    CHECK(from_binary<chr::sys_days>("ffffd532", oids::date) == ymd(1969, 12, 31));
    CHECK(from_binary<chr::sys_days>("7fffffff", oids::date) == date_max);
    CHECK(from_binary<chr::sys_days>("80000000", oids::date) == date_min);
    CHECK(from_binary<chr::sys_days>("fff4da8b", oids::date) == ymd(0, 1, 1));
    // date_send('5874897-12-31'), the last date: beyond year_month_day's range, so counted in days.
    const auto last = from_binary<chr::sys_days>("7fda970c", oids::date);
    CHECK(last.time_since_epoch().count() == 2145031948 + 10957);
    CHECK(encoded_hex(last, oids::date) == "7fda970c");
    CHECK(from_text<chr::sys_days>("5874897-12-31", oids::date) == last);

    CHECK(from_text<chr::sys_days>("2024-02-29", oids::date) == ymd(2024, 2, 29));
    CHECK(from_text<chr::sys_days>("1969-12-31", oids::date) == ymd(1969, 12, 31));
    CHECK(from_text<chr::sys_days>("0001-01-01 BC", oids::date) == ymd(0, 1, 1));  // SELECT '0001-01-01 BC'::date
    CHECK(from_text<chr::sys_days>("4713-01-01 BC", oids::date) == ymd(-4712, 1, 1));
    CHECK(from_text<chr::sys_days>("10000-03-01", oids::date) == ymd(10000, 3, 1));  // SELECT '10000-03-01'::date
    CHECK(from_text<chr::sys_days>("infinity", oids::date) == date_max);
    CHECK(from_text<chr::sys_days>("-infinity", oids::date) == date_min);
    for (const char* bad : {"2023-02-29", "2024-13-01", "2024-1-01", "0000-01-01", "2024-01-01 AD", "24-01-01", "Infinity"}) {
        INFO(bad);
        CHECK(error_of([&] { from_text<chr::sys_days>(bad, oids::date); }).code == errc::invalid_value);
    }

    // One day past each end of PostgreSQL's range.
    auto e = error_of([&] { encoded_text(last + chr::days(1)); });
    CHECK(e.code == errc::value_out_of_range);
    CHECK(e.message == "value 5874898-01-01 is out of range for PostgreSQL date");
    e = error_of([] { encoded_text(ymd(-4713, 11, 23)); });
    CHECK(e.message == "value 4714-11-23 BC is out of range for PostgreSQL date");
    CHECK(encoded_hex(ymd(-4713, 11, 24), oids::date) == "ffda97a7");  // date_send('4714-11-24 BC'), the first date
}

TEST_CASE("timestamp and timestamptz: epochs, infinities, before 1970 and 2000") {
    const auto at = [](chr::sys_days d, chr::microseconds t) { return local_us(d.time_since_epoch() + t); };
    CHECK(encoded_hex(at(ymd(2000, 1, 1), 1s), oids::timestamp) == "00000000000f4240");  // timestamp_send('2000-01-01 00:00:01')
    CHECK(encoded_hex(sys_us(ymd(2000, 1, 1).time_since_epoch() + 1s), oids::timestamptz) ==
          "00000000000f4240");  // timestamptz_send('2000-01-01 00:00:01+00')
    CHECK(encoded_hex(at(ymd(1970, 1, 1), 0us), oids::timestamp) == "fffca2fec4c82000");  // timestamp_send('1970-01-01')
    CHECK(encoded_hex(at(ymd(1969, 12, 31), 86'399'999'999us), oids::timestamp) ==
          "fffca2fec4c81fff");  // timestamp_send('1969-12-31 23:59:59.999999')
    CHECK(encoded_hex(local_us::max(), oids::timestamp) == "7fffffffffffffff");  // timestamp_send('infinity')
    CHECK(encoded_hex(local_us::min(), oids::timestamp) == "8000000000000000");  // timestamp_send('-infinity')
    CHECK(encoded_hex(sys_us::max(), oids::timestamptz) == "7fffffffffffffff");
    CHECK(encoded_hex(at(ymd(-4712, 1, 1), 0us), oids::timestamp) == "fd0f7fbdaf17e000");  // timestamp_send('4713-01-01 00:00:00 BC')

    CHECK(from_binary<local_us>("00000000000f4240", oids::timestamp) == at(ymd(2000, 1, 1), 1s));
    CHECK(from_binary<local_us>("fffca2fec4c81fff", oids::timestamp) == at(ymd(1969, 12, 31), 86'399'999'999us));
    CHECK(from_binary<local_us>("7fffffffffffffff", oids::timestamp) == local_us::max());
    CHECK(from_binary<sys_us>("8000000000000000", oids::timestamptz) == sys_us::min());
    CHECK(from_binary<local_us>("fd0f7fbdaf17e000", oids::timestamp) == at(ymd(-4712, 1, 1), 0us));

    // timestamptz_send('294276-12-31 23:59:59.999999+00'): PostgreSQL's last instant is past
    // what int64 microseconds since 1970 can hold (year 292277).
    const auto e = error_of([] { from_binary<sys_us>("7fffff5bb3b29fff", oids::timestamptz); });
    CHECK(e.code == errc::value_out_of_range);
    CHECK(e.message == "column \"c\": value 294276-12-31 23:59:59.999999 is out of range for "
                       "std::chrono::sys_time<std::chrono::microseconds> (PostgreSQL type timestamptz (oid 1184))");
    CHECK(error_of([] { from_text<sys_us>("294276-12-31 23:59:59.999999+00", oids::timestamptz); }).code ==
          errc::value_out_of_range);
    // The far future that fits, both ways.
    const auto far = sys_us(ymd(200000, 6, 30).time_since_epoch() + 12h);
    CHECK(pgcoro::decode_field<sys_us>(std::string_view(unhex(encoded_hex(far, oids::timestamptz))),
                                       field_type{oids::timestamptz, -1, format::binary}, "c") == far);
    CHECK(error_of([] { encoded_text(local_us(ymd(-4713, 11, 23).time_since_epoch())); }).message ==
          "value 4714-11-23 00:00:00 BC is out of range for PostgreSQL timestamp");
}

TEST_CASE("timestamp and timestamptz: ISO text") {
    const auto t = [](chr::sys_days d, chr::microseconds tod) { return sys_us(d.time_since_epoch() + tod); };
    // SELECT '2024-02-29 13:45:00.123456+00'::timestamptz (TimeZone UTC)
    CHECK(from_text<sys_us>("2024-02-29 13:45:00.123456+00", oids::timestamptz) ==
          t(ymd(2024, 2, 29), 13h + 45min + 123456us));
    CHECK(from_text<sys_us>("2024-02-29 13:45:00.1+00", oids::timestamptz) == t(ymd(2024, 2, 29), 13h + 45min + 100ms));
    // The same instant printed in other zones: Asia/Kolkata, and an LMT offset with seconds (Europe/Amsterdam, 1900).
    CHECK(from_text<sys_us>("2024-02-29 19:15:00+05:30", oids::timestamptz) == t(ymd(2024, 2, 29), 13h + 45min));
    CHECK(from_text<sys_us>("1900-01-01 00:19:32+00:19:32", oids::timestamptz) == t(ymd(1900, 1, 1), 0us));
    CHECK(from_text<sys_us>("2023-12-31 20:30:00-03:30", oids::timestamptz) == t(ymd(2024, 1, 1), 0us));
    CHECK(from_text<sys_us>("1969-07-20 20:17:40.000001+00", oids::timestamptz) == t(ymd(1969, 7, 20), 20h + 17min + 40s + 1us));
    CHECK(from_text<sys_us>("0044-03-15 12:00:00+00 BC", oids::timestamptz) == t(ymd(-43, 3, 15), 12h));
    CHECK(from_text<sys_us>("infinity", oids::timestamptz) == sys_us::max());
    CHECK(from_text<local_us>("-infinity", oids::timestamp) == local_us::min());
    CHECK(from_text<local_us>("0044-03-15 12:00:00 BC", oids::timestamp) == local_us(ymd(-43, 3, 15).time_since_epoch() + 12h));
    CHECK(from_text<local_us>("0001-12-31 23:59:59.5 BC", oids::timestamp) ==
          local_us(ymd(0, 12, 31).time_since_epoch() + 23h + 59min + 59s + 500ms));
    CHECK(from_text<local_us>("12345-06-07 08:09:10", oids::timestamp) ==
          local_us(ymd(12345, 6, 7).time_since_epoch() + 8h + 9min + 10s));
    for (const char* bad : {"2024-02-29 13:45:00", "2024-02-29T13:45:00+00", "2024-02-29 24:00:00+00",
                            "2024-02-29 13:45:00.1234567+00", "2024-02-29 13:45+00", "2024-02-29 13:45:00+0"}) {
        INFO(bad);
        CHECK(error_of([&] { from_text<sys_us>(bad, oids::timestamptz); }).code == errc::invalid_value);
    }
    CHECK(error_of([] { from_text<local_us>("2024-02-29 13:45:00+00", oids::timestamp); }).code == errc::invalid_value);
    // A timestamp is not an instant, nor a timestamptz a wall-clock reading.
    CHECK(error_of([] { from_text<sys_us>("2024-02-29 13:45:00", oids::timestamp); }).code == errc::type_mismatch);
    CHECK(error_of([] { from_text<local_us>("2024-02-29 13:45:00+00", oids::timestamptz); }).code == errc::type_mismatch);
}

TEST_CASE("time of day") {
    const pgcoro::time_of_day t{13h + 45min + 500ms};
    CHECK(encoded_hex(t, oids::time) == "0000000b8675b020");                              // time_send('13:45:00.5')
    CHECK(encoded_hex(pgcoro::time_of_day{24h}, oids::time) == "000000141dd76000");       // time_send('24:00:00')
    CHECK(from_binary<pgcoro::time_of_day>("0000000b8675b020", oids::time) == t);
    CHECK(from_text<pgcoro::time_of_day>("13:45:00.5", oids::time) == t);
    CHECK(from_text<pgcoro::time_of_day>("24:00:00", oids::time).since_midnight == 24h);
    CHECK(from_text<pgcoro::time_of_day>("00:00:00", oids::time).since_midnight == 0us);
    CHECK(error_of([] { from_text<pgcoro::time_of_day>("24:00:01", oids::time); }).code == errc::invalid_value);
    CHECK(error_of([] { encoded_text(pgcoro::time_of_day{-1us}); }).code == errc::value_out_of_range);
    CHECK(error_of([] { encoded_text(pgcoro::time_of_day{24h + 1us}); }).code == errc::value_out_of_range);
    CHECK(error_of([] { from_binary<pgcoro::time_of_day>("000000141dd76001", oids::time); }).code == errc::invalid_value);
}

TEST_CASE("interval: months, days and microseconds kept apart", "[interval]") {
    const pgcoro::interval v{14, 3, 14'706'789'000};
    CHECK(encoded_hex(v, oids::interval) == "000000036c97ca88000000030000000e");  // interval_send('1 year 2 months 3 days 04:05:06.789')
    CHECK(from_binary<pgcoro::interval>("000000036c97ca88000000030000000e", oids::interval) == v);
    CHECK(from_binary<pgcoro::interval>("7fffffffffffffff0000000000000000", oids::interval) ==
          pgcoro::interval{0, 0, std::numeric_limits<std::int64_t>::max()});  // interval_send('2562047788:00:54.775807')
    // The text IntervalStyle=postgres prints for each (SELECT '...'::interval);
    // the other styles are in the next test.
    const std::pair<const char*, pgcoro::interval> cases[] = {
        {"1 year 2 mons 3 days 04:05:06.789", v},
        {"-1 years -2 mons +3 days -04:05:06", {-14, 3, -14'706'000'000}},
        {"00:00:00", {}},
        {"-00:00:01", {0, 0, -1'000'000}},
        {"1 day -00:00:01", {0, 1, -1'000'000}},
        {"100:00:00", {0, 0, 360'000'000'000}},
        {"1 mon", {1, 0, 0}},
        {"-1 days", {0, -1, 0}},
        {"11 mons", {11, 0, 0}},
        {"-1 years +1 day", {-12, 1, 0}},
        {"1 day 00:00:00.000001", {0, 1, 1}},
        {"-00:00:00.5", {0, 0, -500'000}},
        {"1 mon -1 days +00:00:01", {1, -1, 1'000'000}},
        {"-178956970 years -8 mons", {std::numeric_limits<std::int32_t>::min(), 0, 0}},
        {"178956970 years 7 mons 2147483647 days 2562047788:00:54.775807",
         {std::numeric_limits<std::int32_t>::max(), std::numeric_limits<std::int32_t>::max(),
          std::numeric_limits<std::int64_t>::max()}},
        {"-2147483648 days", {0, std::numeric_limits<std::int32_t>::min(), 0}},
        {"-2562047788:00:54.775808", {0, 0, std::numeric_limits<std::int64_t>::min()}},
    };
    for (const auto& [text, expected] : cases) {
        INFO(text);
        CHECK(from_text<pgcoro::interval>(text, oids::interval) == expected);
    }
    for (const char* bad : {"", "1 week", "1", "2562047788:00:54.775808", "1:2:3", "00:00:00 1 day", "-178956970 years -9 mons"}) {
        INFO(bad);
        CHECK(error_of([&] { from_text<pgcoro::interval>(bad, oids::interval); }).code == errc::invalid_value);
    }
}

// The text each IntervalStyle prints for one value, observed with
// SET IntervalStyle = ...; SELECT v (PostgreSQL 15).
struct interval_in_styles {
    pgcoro::interval value;
    const char* postgres;
    const char* postgres_verbose;
    const char* sql_standard;
    const char* iso_8601;
};

TEST_CASE("interval: the text of every IntervalStyle", "[interval]") {
    using pgcoro::interval;
    constexpr std::int32_t min32 = std::numeric_limits<std::int32_t>::min(), max32 = std::numeric_limits<std::int32_t>::max();
    constexpr std::int64_t min64 = std::numeric_limits<std::int64_t>::min(), max64 = std::numeric_limits<std::int64_t>::max();
    constexpr std::int64_t hour = 3'600'000'000, minute = 60'000'000, second = 1'000'000;
    const interval_in_styles cases[] = {
        {{}, "00:00:00", "@ 0", "0", "PT0S"},
        {{14, 3, 4 * hour + 5 * minute + 6 * second + 500'000}, "1 year 2 mons 3 days 04:05:06.5",
         "@ 1 year 2 mons 3 days 4 hours 5 mins 6.5 secs", "+1-2 +3 +4:05:06.5", "P1Y2M3DT4H5M6.5S"},
        {{-14, 3, -(4 * hour + 5 * minute + 6 * second)}, "-1 years -2 mons +3 days -04:05:06",
         "@ 1 year 2 mons -3 days 4 hours 5 mins 6 secs ago", "-1-2 +3 -4:05:06", "P-1Y-2M3DT-4H-5M-6S"},
        {{0, 0, -1}, "-00:00:00.000001", "@ 0.000001 secs ago", "-0:00:00.000001", "PT-0.000001S"},
        {{0, 0, 1}, "00:00:00.000001", "@ 0.000001 secs", "0:00:00.000001", "PT0.000001S"},
        {{0, 0, 500'000}, "00:00:00.5", "@ 0.5 secs", "0:00:00.5", "PT0.5S"},
        {{0, 0, minute - 1}, "00:00:59.999999", "@ 59.999999 secs", "0:00:59.999999", "PT59.999999S"},
        {{0, 0, second}, "00:00:01", "@ 1 sec", "0:00:01", "PT1S"},
        {{0, 0, -second}, "-00:00:01", "@ 1 sec ago", "-0:00:01", "PT-1S"},
        {{0, 0, -minute}, "-00:01:00", "@ 1 min ago", "-0:01:00", "PT-1M"},
        {{0, 0, -(minute + second)}, "-00:01:01", "@ 1 min 1 sec ago", "-0:01:01", "PT-1M-1S"},
        {{0, 0, hour}, "01:00:00", "@ 1 hour", "1:00:00", "PT1H"},
        {{0, 0, -(hour + 500'000)}, "-01:00:00.5", "@ 1 hour 0.5 secs ago", "-1:00:00.5", "PT-1H-0.5S"},
        {{0, 0, 100 * hour}, "100:00:00", "@ 100 hours", "100:00:00", "PT100H"},
        {{0, 0, max64}, "2562047788:00:54.775807", "@ 2562047788 hours 54.775807 secs", "2562047788:00:54.775807",
         "PT2562047788H54.775807S"},
        {{0, 0, -max64}, "-2562047788:00:54.775807", "@ 2562047788 hours 54.775807 secs ago", "-2562047788:00:54.775807",
         "PT-2562047788H-54.775807S"},
        {{0, 0, min64}, "-2562047788:00:54.775808", "@ 2562047788 hours 54.775808 secs ago", "-2562047788:00:54.775808",
         "PT-2562047788H-54.775808S"},
        {{0, 1, 0}, "1 day", "@ 1 day", "1 0:00:00", "P1D"},
        {{0, 3, 4 * hour}, "3 days 04:00:00", "@ 3 days 4 hours", "3 4:00:00", "P3DT4H"},
        {{0, -1, -second}, "-1 days -00:00:01", "@ 1 day 1 sec ago", "-1 0:00:01", "P-1DT-1S"},
        {{0, -1, 2 * hour + 3 * minute}, "-1 days +02:03:00", "@ 1 day -2 hours -3 mins ago", "+0-0 -1 +2:03:00", "P-1DT2H3M"},
        {{0, 1, -hour}, "1 day -01:00:00", "@ 1 day -1 hours", "+0-0 +1 -1:00:00", "P1DT-1H"},
        {{0, max32, 0}, "2147483647 days", "@ 2147483647 days", "2147483647 0:00:00", "P2147483647D"},
        {{0, min32, 0}, "-2147483648 days", "@ 2147483648 days ago", "-2147483648 0:00:00", "P-2147483648D"},
        {{0, min32, second}, "-2147483648 days +00:00:01", "@ 2147483648 days -1 sec ago", "+0-0 -2147483648 +0:00:01",
         "P-2147483648DT1S"},
        {{0, min32, -second}, "-2147483648 days -00:00:01", "@ 2147483648 days 1 sec ago", "-2147483648 0:00:01",
         "P-2147483648DT-1S"},
        {{0, min32, -1}, "-2147483648 days -00:00:00.000001", "@ 2147483648 days 0.000001 secs ago",
         "-2147483648 0:00:00.000001", "P-2147483648DT-0.000001S"},
        {{-1, 0, 0}, "-1 mons", "@ 1 mon ago", "-0-1", "P-1M"},
        {{-12, 0, 0}, "-1 years", "@ 1 year ago", "-1-0", "P-1Y"},
        {{24, 0, 0}, "2 years", "@ 2 years", "2-0", "P2Y"},
        {{14, 0, 0}, "1 year 2 mons", "@ 1 year 2 mons", "1-2", "P1Y2M"},
        {{-14, 0, 0}, "-1 years -2 mons", "@ 1 year 2 mons ago", "-1-2", "P-1Y-2M"},
        {{-2'136'000'000, 0, 0}, "-178000000 years", "@ 178000000 years ago", "-178000000-0", "P-178000000Y"},
        {{max32, 0, 0}, "178956970 years 7 mons", "@ 178956970 years 7 mons", "178956970-7", "P178956970Y7M"},
        {{min32, 0, 0}, "-178956970 years -8 mons", "@ 178956970 years 8 mons ago", "-178956970-8", "P-178956970Y-8M"},
        {{1, 1, 0}, "1 mon 1 day", "@ 1 mon 1 day", "+0-1 +1 +0:00:00", "P1M1D"},
        {{1, 0, -second}, "1 mon -00:00:01", "@ 1 mon -1 sec", "+0-1 +0 -0:00:01", "P1MT-1S"},
        {{12, 0, second}, "1 year 00:00:01", "@ 1 year 1 sec", "+1-0 +0 +0:00:01", "P1YT1S"},
        {{12, -1, 0}, "1 year -1 days", "@ 1 year -1 days", "+1-0 -1 +0:00:00", "P1Y-1D"},
        {{-1, -1, -second}, "-1 mons -1 days -00:00:01", "@ 1 mon 1 day 1 sec ago", "-0-1 -1 -0:00:01", "P-1M-1DT-1S"},
        {{0, 0, 4 * hour + 5 * minute + 6 * second}, "04:05:06", "@ 4 hours 5 mins 6 secs", "4:05:06", "PT4H5M6S"},
        {{max32, max32, max64}, "178956970 years 7 mons 2147483647 days 2562047788:00:54.775807",
         "@ 178956970 years 7 mons 2147483647 days 2562047788 hours 54.775807 secs",
         "+178956970-7 +2147483647 +2562047788:00:54.775807", "P178956970Y7M2147483647DT2562047788H54.775807S"},
        {{min32, min32, min64}, "-178956970 years -8 mons -2147483648 days -2562047788:00:54.775808",
         "@ 178956970 years 8 mons 2147483648 days 2562047788 hours 54.775808 secs ago",
         "-178956970-8 -2147483648 -2562047788:00:54.775808", "P-178956970Y-8M-2147483648DT-2562047788H-54.775808S"},
    };
    for (const auto& c : cases) {
        for (const char* text : {c.postgres, c.postgres_verbose, c.sql_standard, c.iso_8601}) {
            INFO(text);
            CHECK(from_text<interval>(text, oids::interval) == c.value);
        }
    }
    // sql_standard's day-time form, which it prints only with days.
    CHECK(from_text<interval>("3 4:05:06", oids::interval) == interval{0, 3, 4 * hour + 5 * minute + 6 * second});
    CHECK(from_text<interval>("-3 4:05:06", oids::interval) == interval{0, -3, -(4 * hour + 5 * minute + 6 * second)});
}

TEST_CASE("interval: malformed and out-of-range text is an error naming it", "[interval]") {
    for (const char* bad : {
             // nothing, or a style's frame without fields
             "", " ", "@", "@ ", "P", "PT", "P1YT", "-", "+",
             // sql_standard's forms half written, doubly signed, or with signs on some parts only
             "1-", "-1-", "1 2", "--1", "-+1-2", "--1-2", "1-12", "-0", "+1-2", "+4:05:06", "+1-2 3 +4:05:06",
             "+1-2 +3", "+1-2 +3 +4:05:06 +5", "1 -2:00:00", "-1 +0:00:01", "1-2 3 4:00:00", "0:60:00", "0:00:60", "1:2:3",
             // units unknown, repeated, out of order, fractional, or a count without one
             "1 week", "1 months", "1 day 1 day", "1 mon 1 year", "1 day 1 hour", "1.5 days", "1", "1 day 1",
             "00:00:00 1 day", "1 day 00:00:00 00:00:01", "@ 1 sec 1 min", "@ 1 min 1 min", "@ 1.5 mins", "@ 1", "@1 day",
             "@ 0 ago", "P1D1M", "P1M1M", "PT1S1S", "PT1.5H", "P1.5D", "PTT1S", "PT1", "P1", "P-Y", "p1y", "pt0s",
             // trailing garbage or stray spaces
             "1 day x", "1 day ", " 1 day", "1  day", "00:00:00x", "00:00:00 ", "1-2 ", " 1-2", "0 ", "P1Yx", "PT1S ",
             "@ 1 day ago ago", "@ 1 day  ago", "@ 0 0",
             // past the fields' ranges: months int32, days int32, microseconds int64
             "999999999999 years", "@ 999999999999 years", "P999999999999Y", "999999999999-0", "9223372036854775807 years",
             "178956970 years 8 mons", "@ 178956970 years 8 mons", "-178956970 years -9 mons", "-178956971-0",
             "178956971-0", "2147483648 days", "-2147483649 days", "P2147483648D", "@ 2147483649 days ago",
             "+0-0 +2147483648 +0:00:00", "2562047788:00:54.775808", "-2562047788:00:54.775809",
             "@ 2562047788 hours 54.775808 secs", "PT2562047788H54.775808S", "PT2562047789H", "+0-0 +0 +2562047788:00:54.775808",
             "2562047789:00:00", "@ 9999999999999 secs", "PT9999999999999S", "@ 1000000000000000000 hours"}) {
        INFO('"' << bad << '"');
        const auto e = error_of([&] { from_text<pgcoro::interval>(bad, oids::interval); });
        CHECK(e.code == errc::invalid_value);
        CHECK_THAT(e.message, Catch::Contains("invalid interval text \"" + std::string(bad) + "\""));
    }
}

// --- json, oid, inet --------------------------------------------------------------------

TEST_CASE("json and jsonb") {
    CHECK(encoded_hex(pgcoro::json{R"({"a": 1})"}, oids::json, format::text) == "7b2261223a20317d");  // json_send('{"a": 1}')
    CHECK(encoded_hex(pgcoro::jsonb{R"({"a": 1})"}, oids::jsonb, format::text) == "7b2261223a20317d");
    CHECK(from_binary<pgcoro::json>("7b2261223a20317d", oids::json).text == R"({"a": 1})");
    CHECK(from_binary<pgcoro::jsonb>("017b2261223a20317d", oids::jsonb).text == R"({"a": 1})");  // jsonb_send('{"a": 1}')
    CHECK(from_binary<pgcoro::json>("017b2261223a20317d", oids::jsonb).text == R"({"a": 1})");
    CHECK(from_text<pgcoro::jsonb>(R"({"a": 1})", oids::jsonb).text == R"({"a": 1})");
    CHECK(from_text<pgcoro::jsonb>(R"({"é": "𝄞"})", oids::json).text == R"({"é": "𝄞"})");
    const auto e = error_of([] { from_binary<pgcoro::jsonb>("027b7d", oids::jsonb); });
    CHECK(e.message == "column \"c\": invalid binary jsonb value: unsupported version 2 "
                       "(PostgreSQL type jsonb (oid 3802), read as pgcoro::jsonb)");
    CHECK(error_of([] { from_text<pgcoro::json>("{}", oids::text); }).code == errc::type_mismatch);
}

TEST_CASE("oid") {
    CHECK(encoded_hex(pgcoro::oid{4294967295u}, oids::oid) == "ffffffff");  // oidsend(4294967295)
    CHECK(from_binary<pgcoro::oid>("ffffffff", oids::oid).value == 4294967295u);
    CHECK(from_text<pgcoro::oid>("4294967295", oids::oid).value == 4294967295u);
    CHECK(error_of([] { from_text<pgcoro::oid>("4294967296", oids::oid); }).code == errc::invalid_value);
    CHECK(error_of([] { from_text<pgcoro::oid>("-1", oids::oid); }).code == errc::invalid_value);
}

TEST_CASE("inet and cidr: binary read as the server prints it") {
    CHECK(from_binary<pgcoro::inet>("02180004c0a80001", oids::inet).text == "192.168.0.1/24");  // inet_send('192.168.0.1/24')
    CHECK(from_binary<pgcoro::inet>("020801040a000000", oids::cidr).text == "10.0.0.0/8");      // cidr_send('10.0.0.0/8')
    CHECK(from_binary<pgcoro::inet>("0380001000000000000000000000000000000001", oids::inet).text == "::1");  // inet_send('::1')
    CHECK(from_binary<pgcoro::inet>("0380001000000000000000000000ffff01020304", oids::inet).text ==
          "::ffff:1.2.3.4");  // inet_send('::ffff:1.2.3.4')

    // {family, bits, is_cidr, address} -> the output function's text (SELECT concat('...'::inet)).
    struct sample {
        bool v6;
        int bits;
        bool cidr;
        const char* address_hex;
        const char* text;
    };
    const sample samples[] = {
        {false, 32, false, "c0a80001", "192.168.0.1"},
        {false, 32, true, "c0a80001", "192.168.0.1/32"},
        {false, 0, true, "00000000", "0.0.0.0/0"},
        {true, 128, true, "00000000000000000000000000000001", "::1/128"},
        {true, 128, false, "000000000000000000000000010203 04", "::1.2.3.4"},
        {true, 128, false, "00010000000000000000000000000000", "1::"},
        {true, 128, false, "00010000000000010000000000000001", "1:0:0:1::1"},
        {true, 128, false, "00010000000100000001000000010000", "1:0:1:0:1:0:1:0"},
        {true, 128, false, "00000000000000000000000000000000", "::"},
        {true, 0, true, "00000000000000000000000000000000", "::/0"},
        {true, 10, true, "fe800000000000000000000000000000", "fe80::/10"},
        {true, 128, false, "00000000000000000000000000000002", "::2"},
        {true, 128, false, "00000000000000000000ffff00000000", "::ffff:0.0.0.0"},
        {true, 128, false, "00000000000000000001000000000000", "::1:0:0:0"},
        {true, 120, false, "00000000000000000000000001020304", "::1.2.3.4/120"},
        {true, 128, false, "00010002000300040005000600070008", "1:2:3:4:5:6:7:8"},
        {true, 128, true, "00000000000000000000ffff01020304", "::ffff:1.2.3.4/128"},
        {true, 32, false, "20010db8000000000000000000000000", "2001:db8::/32"},
    };
    for (const auto& s : samples) {
        INFO(s.text);
        std::string address = s.address_hex;
        std::erase(address, ' ');
        char header[9];
        std::snprintf(header, sizeof header, "%02x%02x%02x%02x", s.v6 ? 3 : 2, s.bits, s.cidr ? 1 : 0, s.v6 ? 16 : 4);
        CHECK(from_binary<pgcoro::inet>(header + address, s.cidr ? oids::cidr : oids::inet).text == s.text);
    }
    CHECK(encoded_hex(pgcoro::inet{"::1/128"}, oids::inet, format::text) == hex("::1/128"));
    CHECK(from_text<pgcoro::inet>("10.0.0.0/8", oids::cidr).text == "10.0.0.0/8");
    CHECK(error_of([] { from_binary<pgcoro::inet>("0721000400000000", oids::inet); }).code == errc::invalid_value);
    CHECK(error_of([] { from_binary<pgcoro::inet>("02210004c0a80001", oids::inet); }).code == errc::invalid_value);
    CHECK(error_of([] { from_binary<pgcoro::inet>("02200010c0a80001", oids::inet); }).code == errc::invalid_value);
}

// --- NULL -------------------------------------------------------------------------------

TEST_CASE("NULL: std::optional both ways, nullptr and std::nullopt as parameters") {
    const field_type int4_binary{oids::int4, -1, format::binary};
    CHECK(pgcoro::decode_field<std::optional<int>>(std::nullopt, int4_binary, "c") == std::nullopt);
    CHECK(pgcoro::decode_field<std::optional<int>>(std::string_view(unhex("0000002a")), int4_binary, "c") == 42);
    const auto e = error_of([&] { pgcoro::decode_field<int>(std::nullopt, int4_binary, "id"); });
    CHECK(e.code == errc::unexpected_null);
    CHECK(e.message == "column \"id\": NULL cannot be read as std::int32_t (PostgreSQL type int4 (oid 23)); "
                       "read it as std::optional<std::int32_t>");
    CHECK(error_of([&] { pgcoro::decode_field<std::optional<std::string>>(std::nullopt, int4_binary, "c"); }).code ==
          errc::type_mismatch);

    std::string out = "x";
    auto info = pgcoro::encode_param(std::optional<std::int64_t>{}, out);
    CHECK((info.is_null && info.oid == oids::int8 && info.fmt == format::binary && out == "x"));
    info = pgcoro::encode_param(std::nullopt, out);
    CHECK((info.is_null && info.oid == 0 && out == "x"));
    info = pgcoro::encode_param(nullptr, out);
    CHECK((info.is_null && info.oid == 0 && out == "x"));
    CHECK(encoded_hex(std::optional<std::int16_t>{7}, oids::int2) == "0007");
    CHECK(encoded_hex(std::optional<std::string>{"a"}, 0, format::text) == "61");
}

// --- arrays -------------------------------------------------------------------------------

TEST_CASE("arrays: binary layouts") {
    // array_send('{1,NULL}'::int4[])
    const char* one_null = "00000001000000010000001700000002000000010000000400000001ffffffff";
    CHECK(encoded_hex(std::vector<std::optional<int>>{1, std::nullopt}, 1007) == one_null);
    CHECK(from_binary<std::vector<std::optional<int>>>(one_null, 1007) == std::vector<std::optional<int>>{1, std::nullopt});
    // array_send('{}'::int4[])
    CHECK(encoded_hex(std::vector<int>{}, 1007) == "000000000000000000000017");
    CHECK(from_binary<std::vector<int>>("000000000000000000000017", 1007).empty());
    CHECK(from_binary<std::vector<std::vector<int>>>("000000000000000000000017", 1007).empty());
    // array_send('{{1,2},{3,4}}'::int4[])
    const char* square = "000000020000000000000017000000020000000100000002000000010000000400000001000000040000000200000004"
                         "000000030000000400000004";
    const std::vector<std::vector<int>> matrix{{1, 2}, {3, 4}};
    CHECK(encoded_hex(matrix, 1007) == square);
    CHECK(from_binary<std::vector<std::vector<int>>>(square, 1007) == matrix);
    // array_send('{{1,2},{3,NULL}}'::int4[])
    const char* with_null = "00000002000000010000001700000002000000010000000200000001000000040000000100000004000000020000"
                            "000400000003ffffffff";
    const std::vector<std::vector<std::optional<int>>> matrix_null{{1, 2}, {3, std::nullopt}};
    CHECK(encoded_hex(matrix_null, 1007) == with_null);
    CHECK(from_binary<std::vector<std::vector<std::optional<int>>>>(with_null, 1007) == matrix_null);
    // array_send('[0:1]={1,2}'::int4[]): the lower bound is not kept.
    CHECK(from_binary<std::vector<int>>("000000010000000000000017000000020000000000000004000000010000000400000002", 1007) ==
          std::vector<int>{1, 2});
    // array_send('{"a b","c"}'::text[]), array_send('{}'::text[]), array_send('{NULL}'::text[])
    CHECK(from_binary<std::vector<std::string>>("0000000100000000000000190000000200000001000000036120620000000163", 1009) ==
          std::vector<std::string>{"a b", "c"});
    const std::string text_array = unhex("0000000100000000000000190000000200000001000000036120620000000163");
    const auto views = pgcoro::decode_field<std::vector<std::string_view>>(std::string_view(text_array),
                                                                           field_type{1009, -1, format::binary}, "c");
    CHECK(views == std::vector<std::string_view>{"a b", "c"});
    CHECK(views[0].data() == text_array.data() + 24);  // views of the field's bytes
    CHECK(from_binary<std::vector<std::string>>("000000000000000000000019", 1009).empty());
    CHECK(from_binary<std::vector<std::optional<std::string>>>("0000000100000001000000190000000100000001ffffffff", 1009) ==
          std::vector<std::optional<std::string>>{std::nullopt});
    // array_send('{"{\"a\": 1}"}'::jsonb[]): elements carry jsonb's version byte.
    CHECK(from_binary<std::vector<pgcoro::jsonb>>("000000010000000000000eda000000010000000100000009017b2261223a20317d", 3807) ==
          std::vector<pgcoro::jsonb>{{R"({"a": 1})"}});
    // array_send('{{{1,2}},{{3,4}}}'::int2[])
    using cube_t = std::vector<std::vector<std::vector<std::int16_t>>>;
    const cube_t cube{{{1, 2}}, {{3, 4}}};
    const char* cube_bytes = "000000030000000000000015000000020000000100000001000000010000000200000001000000020001000000020002"
                             "000000020003000000020004";
    CHECK(encoded_hex(cube, 1005) == cube_bytes);
    CHECK(from_binary<cube_t>(cube_bytes, 1005) == cube);
    // array_send('{1.50,NaN}'::numeric[])
    const std::vector<pgcoro::numeric> numerics{pgcoro::numeric("1.50"), pgcoro::numeric("NaN")};
    const char* numeric_bytes = "0000000100000000000006a400000002000000010000000c0002000000000002000113880000000800000000c0000000";
    CHECK(encoded_hex(numerics, 1231) == numeric_bytes);
    CHECK(from_binary<std::vector<pgcoro::numeric>>(numeric_bytes, 1231) == numerics);
    // array_send('{t,f,t}'::bool[])
    const std::vector<bool> bools{true, false, true};
    CHECK(encoded_hex(bools, 1000) == "0000000100000000000000100000000300000001000000010100000001000000000101");
    CHECK(from_binary<std::vector<bool>>("0000000100000000000000100000000300000001000000010100000001000000000101", 1000) == bools);
    // array_send(ARRAY['\x01'::bytea, '\x'::bytea])
    const std::vector<pgcoro::bytea> blobs{{std::byte{1}}, {}};
    CHECK(encoded_hex(blobs, 1001) == "0000000100000000000000110000000200000001000000010100000000");
    CHECK(from_binary<std::vector<pgcoro::bytea>>("0000000100000000000000110000000200000001000000010100000000", 1001) == blobs);
    // array_send(ARRAY['1999-01-08'::date, 'infinity'])
    const std::vector<chr::sys_days> dates{ymd(1999, 1, 8), chr::sys_days::max()};
    CHECK(encoded_hex(dates, 1182) == "00000001000000000000043a000000020000000100000004fffffe9a000000047fffffff");
    CHECK(from_binary<std::vector<chr::sys_days>>(encoded_hex(dates, 1182), 1182) == dates);
    // A user struct with its built-in OID gets the built-in array type:
    // array_send(ARRAY[point(1.5,2), point(0,3)])
    const std::vector<app::point> points{{1.5, 2}, {0, 3}};
    const char* point_bytes = "0000000100000000000002580000000200000001000000103ff80000000000004000000000000000000000100000000000"
                              "0000004008000000000000";
    CHECK(encoded_hex(points, oids::point_array) == point_bytes);
    CHECK(from_binary<std::vector<app::point>>(point_bytes, oids::point_array) == points);
}

TEST_CASE("arrays: text form") {
    // SELECT '{"a b",NULL,"","NULL","q\"x","back\\slash","{x}"," lead","é"}'::text[]
    const auto strings = from_text<std::vector<std::optional<std::string>>>(
        R"({"a b",NULL,"","NULL","q\"x","back\\slash","{x}"," lead",é})", 1009);
    const std::vector<std::optional<std::string>> expected{"a b", std::nullopt, "", "NULL", "q\"x", "back\\slash", "{x}", " lead", "é"};
    CHECK(strings == expected);
    CHECK(from_text<std::vector<std::vector<int>>>("{{1,2},{3,4}}", 1007) == std::vector<std::vector<int>>{{1, 2}, {3, 4}});
    CHECK(from_text<std::vector<std::vector<std::vector<int>>>>("{{{1,2}},{{3,4}}}", 1007) ==
          std::vector<std::vector<std::vector<int>>>{{{1, 2}}, {{3, 4}}});
    CHECK(from_text<std::vector<int>>("[0:1]={1,2}", 1007) == std::vector<int>{1, 2});
    CHECK(from_text<std::vector<int>>("{}", 1007).empty());
    CHECK(from_text<std::vector<std::vector<int>>>("{}", 1007).empty());
    // Found by tests/fuzz/type_decoders (corpus array_text_empty_rows): "{{}}"
    // read as one empty row, which encodes as the empty array and reads back
    // as no row. It holds no element: the empty array, as array_in reads it.
    CHECK(from_text<std::vector<std::vector<int>>>("{{}}", 1007).empty());
    CHECK(from_text<std::vector<std::vector<int>>>("{{},{}}", 1007).empty());
    CHECK(from_text<std::vector<std::vector<std::vector<int>>>>("{{{}},{{}}}", 1007).empty());
    // The same in binary (corpus array_binary_zero_length_dimension): a
    // dimension of length 0 after one of length 1 read as one empty row.
    CHECK(from_binary<std::vector<std::vector<int>>>("00000002000000000000001700000001000000010000000000000001", 1007)
              .empty());
    CHECK(from_text<std::vector<int>>(" { 1 , -2 } ", 1007) == std::vector<int>{1, -2});
    CHECK(from_text<std::vector<bool>>("{t,f}", 1000) == std::vector<bool>{true, false});
    // SELECT '{"\\x00ff"}'::bytea[], '{"2024-01-01 00:00:00+00"}'::timestamptz[], '{"{\"a\": 1}"}'::jsonb[]
    CHECK(from_text<std::vector<pgcoro::bytea>>(R"({"\\x00ff"})", 1001) ==
          std::vector<pgcoro::bytea>{{std::byte{0}, std::byte{0xff}}});
    CHECK(from_text<std::vector<sys_us>>(R"({"2024-01-01 00:00:00+00"})", 1185) ==
          std::vector<sys_us>{sys_us(ymd(2024, 1, 1).time_since_epoch())});
    CHECK(from_text<std::vector<pgcoro::jsonb>>(R"({"{\"a\": 1}"})", 3807) == std::vector<pgcoro::jsonb>{{R"({"a": 1})"}});
    // SELECT array['a,b','c;d',E'\t','x y']::text[]
    CHECK(from_text<std::vector<std::string>>("{\"a,b\",c;d,\"\t\",\"x y\"}", 1009) ==
          std::vector<std::string>{"a,b", "c;d", "\t", "x y"});
    // A view into the field where the element has no escapes.
    const std::string field = R"({abc,"d e"})";
    const auto views = pgcoro::decode_field<std::vector<std::string_view>>(field, field_type{1009, -1, format::text}, "c");
    REQUIRE(views.size() == 2);
    CHECK((views[0] == "abc" && views[0].data() == field.data() + 1));
    CHECK(views[1] == "d e");
    CHECK(error_of([] { from_text<std::vector<std::string_view>>(R"({"q\"x"})", 1009); }).code == errc::type_mismatch);
}

TEST_CASE("arrays: text-format parameters") {
    // Strings have OID 0, so their arrays go as a text literal with OID 0 for the server to infer.
    CHECK(encoded_text(std::vector<std::string>{"a b", "q\"x", "back\\slash", "", "NULL", "é"}) ==
          R"({"a b","q\"x","back\\slash","","NULL","é"})");
    CHECK(encoded_hex(std::vector<std::string>{"x"}, 0, format::text) == hex(R"({"x"})"));
    CHECK(encoded_text(std::vector<std::optional<std::string_view>>{"a", std::nullopt}) == R"({"a",NULL})");
    CHECK(encoded_text(std::vector<std::vector<const char*>>{{"a", "b"}, {"c", nullptr}}) == R"({{"a","b"},{"c",NULL}})");
    CHECK(encoded_text(std::vector<std::string>{}) == "{}");
    CHECK(encoded_text(std::vector<std::vector<std::string>>{{}, {}}) == "{}");
    CHECK(encoded_hex(std::vector<pgcoro::json>{{R"({"k": "v"})"}}, 199, format::text) == hex(R"({"{\"k\": \"v\"}"})"));
    CHECK(encoded_hex(std::vector<pgcoro::inet>{{"::1"}}, 1041, format::text) == hex(R"({"::1"})"));
    CHECK(encoded_hex(std::vector<app::mood>{app::mood::happy, app::mood::sad}, 0, format::text) == hex(R"({"happy","sad"})"));
    // And read back through the text decoder.
    const std::string literal = encoded_text(std::vector<std::string>{"a b", "q\"x", "back\\slash", "", "NULL", "é"});
    CHECK(from_text<std::vector<std::string>>(literal, 1009) ==
          std::vector<std::string>{"a b", "q\"x", "back\\slash", "", "NULL", "é"});
}

TEST_CASE("arrays: mismatches and malformed arrays") {
    const char* square = "000000020000000000000017000000020000000100000002000000010000000400000001000000040000000200000004"
                         "000000030000000400000004";
    auto e = error_of([&] { from_binary<std::vector<int>>(square, 1007); });
    CHECK(e.code == errc::type_mismatch);
    CHECK(e.message == "column \"c\": cannot read a 2-dimensional array as std::vector<std::int32_t> (1 dimension) "
                       "(PostgreSQL type int4[] (oid 1007))");
    e = error_of([] { from_text<std::vector<int>>("{{1,2},{3,4}}", 1007); });
    CHECK(e.code == errc::type_mismatch);
    e = error_of([] { from_text<std::vector<std::vector<int>>>("{1,2}", 1007); });
    CHECK(e.message == "column \"c\": cannot read a 1-dimensional array as std::vector<std::vector<std::int32_t>> "
                       "(2 dimensions) (PostgreSQL type int4[] (oid 1007))");
    e = error_of([] { from_binary<std::vector<int>>("00000001000000010000001700000002000000010000000400000001ffffffff", 1007); });
    CHECK(e.code == errc::unexpected_null);
    CHECK(e.message == "column \"c\": array element 2 is NULL, which std::int32_t cannot hold; use std::optional "
                       "elements (PostgreSQL type int4[] (oid 1007), read as std::vector<std::int32_t>)");
    CHECK(error_of([] { from_text<std::vector<int>>("{1,NULL}", 1007); }).code == errc::unexpected_null);
    e = error_of([] { from_text<std::vector<std::int16_t>>("{1,70000}", 1007); });
    CHECK(e.code == errc::value_out_of_range);
    CHECK(e.message == "column \"c\": array element 2: value 70000 is out of range for std::int16_t "
                       "(PostgreSQL type int4[] (oid 1007), read as std::vector<std::int16_t>)");
    e = error_of([] { from_text<std::vector<int>>("{1,2}", 1009); });
    CHECK(e.message == "column \"c\": cannot read PostgreSQL type text[] (oid 1009) as std::vector<std::int32_t>");
    CHECK(error_of([] { from_text<std::vector<int>>("1", oids::int4); }).code == errc::type_mismatch);
    // The element OID in a binary header is checked too.
    e = error_of([] { from_binary<std::vector<int>>("0000000100000000000000190000000100000001000000016120", 1007); });
    CHECK(e.message == "column \"c\": cannot read array elements of PostgreSQL type text (oid 25) as std::int32_t "
                       "(PostgreSQL type int4[] (oid 1007), read as std::vector<std::int32_t>)");
    for (const char* bad : {"{1,2", "{1,,2}", "{1,2}}", "1,2", "{\"a}", "{1,2} x", "[0:1]{1,2}", "{{1},2}", "{1,{2}}"}) {
        INFO(bad);
        CHECK(error_of([&] { from_text<std::vector<int>>(bad, 1007); }).code != errc{});
    }
    for (const char* bad : {"00000001", "00000007000000000000001700", "000000010000000200000017",
                            "00000001000000000000001700000002000000010000000400000001",
                            "0000000100000000000000177fffffff00000001", "00000001000000000000001700000001000000010000000400000001ff"}) {
        INFO(bad);
        CHECK(error_of([&] { from_binary<std::vector<int>>(bad, 1007); }).code == errc::invalid_value);
    }
    // Ragged vectors are refused, and the caller's buffer is left as it was.
    std::string out = "kept";
    CHECK(error_of([&] { pgcoro::encode_param(std::vector<std::vector<int>>{{1, 2}, {3}}, out); }).code == errc::invalid_value);
    CHECK(out == "kept");
    CHECK(error_of([&] { pgcoro::encode_param(std::vector<std::vector<std::string>>{{"a"}, {}}, out); }).code ==
          errc::invalid_value);
    CHECK(out == "kept");
}

// --- user types -------------------------------------------------------------------------------

TEST_CASE("user types through pg_traits: an enum in text, a struct in binary") {
    CHECK(encoded_hex(app::mood::happy, 0, format::text) == hex("happy"));
    CHECK(from_text<app::mood>("ok", 16390) == app::mood::ok);
    CHECK(from_binary<app::mood>(hex("sad"), 16390) == app::mood::sad);
    CHECK(from_text<std::vector<app::mood>>("{sad,happy}", 16391) == std::vector<app::mood>{app::mood::sad, app::mood::happy});
    CHECK(from_text<std::optional<app::mood>>("ok", oids::text) == app::mood::ok);
    auto e = error_of([] { from_text<app::mood>("meh", 16390); });
    CHECK(e.message == "column \"c\": invalid app::mood label meh (PostgreSQL type with oid 16390)");
    CHECK(error_of([] { from_text<app::mood>("ok", oids::int4); }).code == errc::type_mismatch);

    const app::point p{1.5, -2};
    CHECK(encoded_hex(p, oids::point) == "3ff8000000000000c000000000000000");  // point_send(point(1.5,-2))
    CHECK(from_binary<app::point>("3ff8000000000000c000000000000000", oids::point) == p);
    CHECK(from_text<app::point>("(1.5,-2)", oids::point) == p);
}

// --- robustness -------------------------------------------------------------------------------

namespace {

// Feeds `bytes` to T's decoder in both formats: it may succeed or throw
// pgcoro::error, nothing else (no crash, no other exception, no overread
// under the sanitizers).
template <class T>
void decode_anything(std::string_view bytes, std::uint32_t oid) {
    for (format fmt : {format::binary, format::text}) {
        try {
            (void)pgcoro::decode_field<T>(bytes, field_type{oid, -1, fmt}, "fuzz");
        } catch (const pgcoro::error&) {
        }
    }
}

struct xorshift {
    std::uint64_t state = 0x9E3779B97F4A7C15u;
    std::uint64_t next() {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        return state;
    }
};

}  // namespace

TEST_CASE("decoders reject random and mutated input with pgcoro::error only") {
    // Valid encodings to mutate, so that most inputs get past the first checks.
    const std::string seeds[] = {
        unhex("00000001000000010000001700000002000000010000000400000001ffffffff"),
        unhex("000000020000000000000017000000020000000100000002000000010000000400000001000000040000000200000004"
              "000000030000000400000004"),
        unhex("0005000200000006000109291a8500000064"),
        unhex("0380001000000000000000000000ffff01020304"),
        unhex("000000036c97ca88000000030000000e"),
        R"({"a b",NULL,"","NULL","q\"x","back\\slash"})",
        "{{1,2},{3,4}}",
        "[0:1]={1,2}",
        "2024-02-29 13:45:00.123456+05:30",
        "1 year 2 mons 3 days 04:05:06.789",
        "-12.3400",
        "\\x00ff",
    };
    xorshift rng;
    for (int round = 0; round < 3000; ++round) {
        std::string bytes = seeds[rng.next() % std::size(seeds)];
        const int edits = 1 + static_cast<int>(rng.next() % 4);
        for (int i = 0; i < edits; ++i) {
            const std::uint64_t r = rng.next();
            if (bytes.empty() || r % 3 == 0) bytes.insert(bytes.begin() + static_cast<std::ptrdiff_t>(r % (bytes.size() + 1)), static_cast<char>(r >> 8));
            else if (r % 3 == 1) bytes[r % bytes.size()] = static_cast<char>(r >> 8);
            else bytes.erase(r % bytes.size(), 1 + (r >> 8) % 4);
        }
        decode_anything<std::vector<std::optional<int>>>(bytes, 1007);
        decode_anything<std::vector<std::vector<std::optional<std::int64_t>>>>(bytes, 1016);
        decode_anything<std::vector<std::optional<std::string>>>(bytes, 1009);
        decode_anything<std::vector<std::string_view>>(bytes, 1009);
        decode_anything<pgcoro::numeric>(bytes, oids::numeric);
        decode_anything<pgcoro::inet>(bytes, oids::inet);
        decode_anything<pgcoro::interval>(bytes, oids::interval);
        decode_anything<sys_us>(bytes, oids::timestamptz);
        decode_anything<local_us>(bytes, oids::timestamp);
        decode_anything<chr::sys_days>(bytes, oids::date);
        decode_anything<pgcoro::time_of_day>(bytes, oids::time);
        decode_anything<pgcoro::bytea>(bytes, oids::bytea);
        decode_anything<pgcoro::uuid>(bytes, oids::uuid);
        decode_anything<pgcoro::jsonb>(bytes, oids::jsonb);
        decode_anything<double>(bytes, oids::float8);
        decode_anything<std::int16_t>(bytes, oids::int8);
        decode_anything<pgcoro::oid>(bytes, oids::oid);
        decode_anything<bool>(bytes, oids::bool_);
    }
    // Numeric text too: whatever numeric_in-like text comes in, numeric() either
    // accepts it or throws pgcoro::error.
    for (int round = 0; round < 3000; ++round) {
        std::string text;
        const std::size_t length = rng.next() % 12;
        for (std::size_t i = 0; i < length; ++i) text += "0123456789.eE+- nNaIiF"[rng.next() % 22];
        try {
            const pgcoro::numeric n(text);
            CHECK(pgcoro::numeric(n.str()) == n);  // the canonical form reads back as itself
        } catch (const pgcoro::error&) {
        }
    }
}

// --- format_text: PostgreSQL's own text output ------------------------------------------------
// Every expected string below is what PostgreSQL 15 prints for the value
// (psql, DateStyle=ISO, IntervalStyle=postgres, TimeZone=UTC), e.g.
// SELECT '1e15'::float8 gives 1e+15.

namespace {

// The value encoded by pgcoro (binary), then printed by format_text.
template <class T>
std::string shown(const T& v, std::uint32_t oid) {
    std::string bytes;
    const pgcoro::param_info info = pgcoro::encode_param(v, bytes);
    REQUIRE(info.fmt == format::binary);
    return pgcoro::format_text(bytes, field_type{oid, -1, format::binary});
}

std::string shown_hex(std::string_view hex_bytes, std::uint32_t oid) {
    const std::string bytes = unhex(hex_bytes);
    return pgcoro::format_text(bytes, field_type{oid, -1, format::binary});
}

std::string int64_hex(std::int64_t v) {
    std::string bytes;
    pgcoro::detail::append_i64(bytes, v);
    return hex(bytes);
}

}  // namespace

TEST_CASE("format_text: text fields as they came, bool, integers, oid, character types") {
    CHECK(pgcoro::format_text("whatever the server sent", field_type{oids::int4, -1, format::text}) == "whatever the server sent");
    CHECK(pgcoro::format_text("", field_type{oids::text, -1, format::text}).empty());
    CHECK(shown(true, oids::bool_) == "t");
    CHECK(shown(false, oids::bool_) == "f");
    CHECK(shown(std::int16_t{-32768}, oids::int2) == "-32768");
    CHECK(shown(std::int32_t{2147483647}, oids::int4) == "2147483647");
    CHECK(shown(std::numeric_limits<std::int64_t>::min(), oids::int8) == "-9223372036854775808");
    CHECK(shown(pgcoro::oid{4294967295u}, oids::oid) == "4294967295");
    CHECK(shown_hex(hex("a b\"c"), oids::text) == "a b\"c");
    CHECK(shown_hex(hex("x  "), oids::bpchar) == "x  ");
    CHECK(shown_hex(hex("é😀"), oids::varchar) == "é😀");
    CHECK(shown_hex(hex("pg_class"), oids::name) == "pg_class");
}

TEST_CASE("format_text: floats as PostgreSQL 12+ prints them, its Ryu digits in a %g layout") {
    const std::pair<double, std::string_view> doubles[] = {
        {0.1, "0.1"},
        {1e15, "1e+15"},
        {1e14, "100000000000000"},
        {999999999999999, "999999999999999"},
        {1e16, "1e+16"},
        {1e-5, "1e-05"},
        {1e-4, "0.0001"},
        {0.000123, "0.000123"},
        {0.00001234, "1.234e-05"},
        {123456789012345678.0, "1.2345678901234568e+17"},
        {5e-324, "5e-324"},  // the smallest denormal
        {2.2250738585072014e-308, "2.2250738585072014e-308"},
        {std::numeric_limits<double>::max(), "1.7976931348623157e+308"},
        {-2.5e-7, "-2.5e-07"},
        {123.456, "123.456"},
        {100, "100"},
        {1.5e300, "1.5e+300"},
        {1e100, "1e+100"},
        // PostgreSQL's Ryu excludes the ends of the rounding interval, so
        // where the shortest digits lie exactly half way to the next double
        // (std::to_chars: 7.85e+21, 1e+23), it prints more of them.
        {7.85e21, "7.849999999999999e+21"},
        {6.2829e20, "6.282899999999999e+20"},
        {6.1595e20, "6.159500000000001e+20"},
        {1e23, "9.999999999999999e+22"},
        {1e22, "1e+22"},
        {9007199254740991.0, "9.007199254740991e+15"},
        {0.0, "0"},
        {-0.0, "-0"},
        {std::numeric_limits<double>::quiet_NaN(), "NaN"},
        {std::numeric_limits<double>::infinity(), "Infinity"},
        {-std::numeric_limits<double>::infinity(), "-Infinity"},
    };
    for (auto [v, text] : doubles) {
        INFO(text);
        CHECK(shown(v, oids::float8) == text);
    }
    const std::pair<float, std::string_view> floats[] = {
        {1e6f, "1e+06"},
        {123456.f, "123456"},
        {999999.f, "999999"},
        {1234567.f, "1.234567e+06"},
        {0.1f, "0.1"},
        {12345.678f, "12345.678"},
        {1e-45f, "1e-45"},  // the smallest denormal
        {1.17549435e-38f, "1.1754944e-38"},
        {std::numeric_limits<float>::max(), "3.4028235e+38"},
        {1e-5f, "1e-05"},
        {-5.366323e7f, "-5.3663232e+07"},  // to_chars: -5.366323e+07, on the interval's end
        {1.21636864e8f, "1.21636864e+08"},
        {5.708139e7f, "5.7081392e+07"},
        {16777215.f, "1.6777215e+07"},
        {1e7f, "1e+07"},
        {-0.0f, "-0"},
        {std::numeric_limits<float>::quiet_NaN(), "NaN"},
        {-std::numeric_limits<float>::infinity(), "-Infinity"},
    };
    for (auto [v, text] : floats) {
        INFO(text);
        CHECK(shown(v, oids::float4) == text);
    }
}

TEST_CASE("format_text: numeric, bytea, uuid, json, jsonb") {
    for (const char* text : {"0", "0.000", "-0.5", "1e-30", "NaN", "Infinity", "-Infinity", "12345678.90123", "-10000"}) {
        INFO(text);
        CHECK(shown(pgcoro::numeric(text), oids::numeric) == pgcoro::numeric(text).str());
    }
    CHECK(shown(pgcoro::numeric("1e-30"), oids::numeric) == "0.000000000000000000000000000001");
    CHECK(shown_hex("0000000000000000", oids::numeric) == "0");
    CHECK(shown(pgcoro::bytea{}, oids::bytea) == "\\x");
    CHECK(shown(pgcoro::bytea{std::byte{0}, std::byte{0xAB}, std::byte{0xff}}, oids::bytea) == "\\x00abff");
    CHECK(shown(pgcoro::uuid::parse("A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11"), oids::uuid) ==
          "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11");
    CHECK(shown_hex(hex("{\"a\": 1}"), oids::json) == "{\"a\": 1}");
    CHECK(shown_hex("01" + hex("{\"a\": [1, 2]}"), oids::jsonb) == "{\"a\": [1, 2]}");
    CHECK(error_of([] { shown_hex("02" + hex("{}"), oids::jsonb); }).code == errc::invalid_value);
}

TEST_CASE("format_text: dates, times and timestamps in ISO form") {
    const auto days = [](std::int64_t y, int m, int d) {
        return chr::sys_days(chr::days(pgcoro::detail::days_from_civil({y, m, d})));
    };
    CHECK(shown(days(2000, 1, 1), oids::date) == "2000-01-01");
    CHECK(shown(days(1969, 12, 31), oids::date) == "1969-12-31");
    CHECK(shown(days(0, 1, 1), oids::date) == "0001-01-01 BC");
    CHECK(shown(days(-4713, 11, 24), oids::date) == "4714-11-24 BC");  // the first date
    CHECK(shown(days(10000, 3, 1), oids::date) == "10000-03-01");
    CHECK(shown(days(5874897, 12, 31), oids::date) == "5874897-12-31");  // the last
    CHECK(shown(chr::sys_days::max(), oids::date) == "infinity");
    CHECK(shown(chr::sys_days::min(), oids::date) == "-infinity");

    const auto at = [&](std::int64_t y, int m, int d, chr::microseconds t) { return local_us(days(y, m, d).time_since_epoch() + t); };
    CHECK(shown(at(1969, 12, 31, 86'399'999'999us), oids::timestamp) == "1969-12-31 23:59:59.999999");
    CHECK(shown(at(1999, 12, 31, 86'399'500'000us), oids::timestamp) == "1999-12-31 23:59:59.5");
    CHECK(shown(at(2024, 2, 29, 13h + 45min + 123'450us), oids::timestamp) == "2024-02-29 13:45:00.12345");
    CHECK(shown(at(2000, 1, 1, 0us), oids::timestamp) == "2000-01-01 00:00:00");
    CHECK(shown(at(-43, 3, 15, 12h), oids::timestamp) == "0044-03-15 12:00:00 BC");
    CHECK(shown(local_us::max(), oids::timestamp) == "infinity");
    CHECK(shown(local_us::min(), oids::timestamp) == "-infinity");
    // Past year 292277 a C++ time_point cannot hold it, but the text can:
    // timestamp_send('294276-12-31 23:59:59.999999'), the last timestamp.
    CHECK(shown_hex(int64_hex(pgcoro::detail::pg_timestamp_end - 1), oids::timestamp) == "294276-12-31 23:59:59.999999");

    const auto utc = [&](std::int64_t y, int m, int d, chr::microseconds t) { return sys_us(days(y, m, d).time_since_epoch() + t); };
    CHECK(shown(utc(2000, 1, 1, 0us), oids::timestamptz) == "2000-01-01 00:00:00+00");
    CHECK(shown(utc(1969, 12, 31, 86'399'999'999us), oids::timestamptz) == "1969-12-31 23:59:59.999999+00");
    CHECK(shown(utc(-4713, 11, 24, 0us), oids::timestamptz) == "4714-11-24 00:00:00+00 BC");  // zone before era
    CHECK(shown(sys_us::max(), oids::timestamptz) == "infinity");
    CHECK(shown(sys_us::min(), oids::timestamptz) == "-infinity");

    CHECK(shown(pgcoro::time_of_day{}, oids::time) == "00:00:00");
    CHECK(shown(pgcoro::time_of_day{24h}, oids::time) == "24:00:00");
    CHECK(shown(pgcoro::time_of_day{12h + 34min + 56s + 789ms}, oids::time) == "12:34:56.789");
    CHECK(shown(pgcoro::time_of_day{1us}, oids::time) == "00:00:00.000001");
}

TEST_CASE("format_text: intervals in IntervalStyle=postgres") {
    using pgcoro::interval;
    constexpr std::int64_t hour = 3'600'000'000, minute = 60'000'000, second = 1'000'000;
    const std::pair<interval, std::string_view> cases[] = {
        {{}, "00:00:00"},
        {{14, 3, 4 * hour + 5 * minute + 6 * second + 500'000}, "1 year 2 mons 3 days 04:05:06.5"},
        {{-12, 0, 0}, "-1 years"},
        {{10, 0, 0}, "10 mons"},
        {{1, 1, 0}, "1 mon 1 day"},
        {{0, -1, 2 * hour + 3 * minute}, "-1 days +02:03:00"},
        {{-14, 3, -(4 * hour + 5 * minute + 6 * second)}, "-1 years -2 mons +3 days -04:05:06"},
        {{-1, -1, second}, "-1 mons -1 days +00:00:01"},
        {{0, 1, -second}, "1 day -00:00:01"},
        {{0, 0, -1}, "-00:00:00.000001"},
        {{2'136'000'000, 0, 0}, "178000000 years"},
        {{-2'136'000'000, 0, 0}, "-178000000 years"},
        {{0, std::numeric_limits<std::int32_t>::min(), 0}, "-2147483648 days"},
        {{0, 0, std::numeric_limits<std::int64_t>::max()}, "2562047788:00:54.775807"},
        {{0, 0, std::numeric_limits<std::int64_t>::min()}, "-2562047788:00:54.775808"},
    };
    for (const auto& [v, text] : cases) {
        INFO(text);
        CHECK(shown(v, oids::interval) == text);
    }
}

TEST_CASE("format_text: inet and cidr") {
    CHECK(shown_hex("0220000401020304", oids::inet) == "1.2.3.4");                  // inet_send('1.2.3.4')
    CHECK(shown_hex("02180004c0a80001", oids::inet) == "192.168.0.1/24");           // inet_send('192.168.0.1/24')
    CHECK(shown_hex("020801040a000000", oids::cidr) == "10.0.0.0/8");               // cidr_send('10.0.0.0/8')
    CHECK(shown_hex("0380001000000000000000000000ffff01020304", oids::inet) == "::ffff:1.2.3.4");
    CHECK(shown_hex("0340001020010db8000000000000000000000001", oids::inet) == "2001:db8::1/64");
}

TEST_CASE("format_text: arrays with array_out's quoting, NULLs, dimensions and lower bounds") {
    CHECK(shown(std::vector<int>{}, oids::int4_array) == "{}");
    CHECK(shown(std::vector<std::optional<int>>{1, std::nullopt, 3}, oids::int4_array) == "{1,NULL,3}");
    CHECK(shown(std::vector<std::vector<std::int64_t>>{{1, 2}, {3, 4}, {5, 6}}, oids::int8_array) == "{{1,2},{3,4},{5,6}}");
    CHECK(shown(std::vector<std::vector<std::vector<bool>>>{{{true}, {false}}, {{false}, {true}}}, oids::bool_array) ==
          "{{{t},{f}},{{f},{t}}}");
    // array_send('[0:1]={1,2}'::int4[]) and array_send('[0:1][2:3]={{1,2},{3,4}}'::int4[])
    CHECK(shown_hex("000000010000000000000017000000020000000000000004000000010000000400000002", oids::int4_array) ==
          "[0:1]={1,2}");
    CHECK(shown_hex("000000020000000000000017000000020000000000000002000000020000000400000001000000040000000200000004"
                    "000000030000000400000004",
                    oids::int4_array) == "[0:1][2:3]={{1,2},{3,4}}");
    // array_send('{{"a b",NULL},{"x\"y","NULL"}}'::text[])
    CHECK(shown_hex("0000000200000001000000190000000200000001000000020000000100000003612062ffffffff00000003782279000000044e554c4c",
                    oids::text_array) == R"({{"a b",NULL},{"x\"y","NULL"}})");
    // Quoted: empty, NULL in any case, braces, the delimiter, backslashes, whitespace. Not: other bytes.
    std::string text_array;
    pgcoro::detail::append_i32(text_array, 1);
    pgcoro::detail::append_i32(text_array, 0);
    pgcoro::detail::append_u32(text_array, oids::text);
    const std::string_view elements[] = {"", "null", "{}", "a,b", "back\\slash", " ", "tab\there", "é😀", "plain"};
    pgcoro::detail::append_i32(text_array, static_cast<std::int32_t>(std::size(elements)));
    pgcoro::detail::append_i32(text_array, 1);
    for (auto e : elements) {
        pgcoro::detail::append_i32(text_array, static_cast<std::int32_t>(e.size()));
        text_array += e;
    }
    CHECK(pgcoro::format_text(text_array, field_type{oids::text_array, -1, format::binary}) ==
          "{\"\",\"null\",\"{}\",\"a,b\",\"back\\\\slash\",\" \",\"tab\there\",é😀,plain}");
    // Elements printed by their own output function, then quoted as needed.
    CHECK(shown(std::vector<pgcoro::bytea>{{std::byte{0}, std::byte{0xff}}}, oids::bytea_array) == R"({"\\x00ff"})");
    CHECK(shown(std::vector<sys_us>{sys_us(ymd(2000, 1, 1).time_since_epoch()), sys_us::max()}, oids::timestamptz_array) ==
          R"({"2000-01-01 00:00:00+00",infinity})");
    CHECK(shown(std::vector<pgcoro::numeric>{pgcoro::numeric("1.50"), pgcoro::numeric("NaN")}, oids::numeric_array) ==
          "{1.50,NaN}");
    CHECK(shown(std::vector<pgcoro::interval>{{0, 1, 0}}, oids::interval_array) == R"({"1 day"})");
    CHECK(shown(std::vector<double>{0.1, -0.0, std::numeric_limits<double>::infinity()}, oids::float8_array) ==
          "{0.1,-0,Infinity}");
}

TEST_CASE("format_text: types without a binary text form and malformed bytes are errors") {
    auto e = error_of([] { pgcoro::format_text("\x01\x02", field_type{oids::point, -1, format::binary}); });
    CHECK(e.code == errc::type_mismatch);
    CHECK(e.message == "pgcoro has no text output for binary values of PostgreSQL type point (oid 600)");
    CHECK(error_of([] { shown_hex("000000", oids::int4); }).code == errc::invalid_value);
    CHECK(error_of([] { shown_hex("0000000100000000000000170000000200000001", oids::int4_array); }).code ==
          errc::invalid_value);
    CHECK(error_of([] { shown_hex("0000000700000000000000170000000100000001", oids::int4_array); }).code ==
          errc::invalid_value);
    // append_text_output leaves the buffer as it was on an error.
    std::string out = "kept";
    const std::string bad = unhex("00000001000000000000001700000002000000010000000400000001000000030000");
    CHECK_THROWS(pgcoro::append_text_output(out, bad, field_type{oids::int4_array, -1, format::binary}));
    CHECK(out == "kept");
}

namespace {

// A one-dimensional binary array of one element, whose type is `element_oid`.
std::string binary_array_of_one(std::uint32_t element_oid, const std::string& element) {
    std::string bytes;
    pgcoro::detail::append_i32(bytes, 1);  // dimensions
    pgcoro::detail::append_i32(bytes, 0);  // no NULLs
    pgcoro::detail::append_u32(bytes, element_oid);
    pgcoro::detail::append_i32(bytes, 1);  // length
    pgcoro::detail::append_i32(bytes, 1);  // lower bound
    pgcoro::detail::append_i32(bytes, static_cast<std::int32_t>(element.size()));
    return bytes + element;
}

// int4[] of [7], wrapped `levels - 1` times in arrays whose element type is int4[].
std::string nested_int4_arrays(int levels) {
    std::string four;
    pgcoro::detail::append_i32(four, 7);
    std::string bytes = binary_array_of_one(oids::int4, four);
    for (int i = 1; i < levels; ++i) bytes = binary_array_of_one(oids::int4_array, bytes);
    return bytes;
}

}  // namespace

TEST_CASE("format_text: arrays nested in arrays stop at 6 dimensions in all") {
    // Issue 17: a binary array whose element type is an array type again,
    // 30,000 levels deep, recursed until the stack overflowed. PostgreSQL
    // allows 6 dimensions; nested arrays count theirs together.
    const field_type int4_array{oids::int4_array, -1, format::binary};
    CHECK(pgcoro::format_text(nested_int4_arrays(1), int4_array) == "{7}");
    // An element's text is quoted as any element with braces is.
    CHECK(pgcoro::format_text(nested_int4_arrays(2), int4_array) == "{\"{7}\"}");
    CHECK_NOTHROW(pgcoro::format_text(nested_int4_arrays(6), int4_array));
    auto e = error_of([&] { pgcoro::format_text(nested_int4_arrays(7), int4_array); });
    CHECK(e.code == errc::invalid_value);
    CHECK_THAT(e.message, Catch::Contains("more than 6 dimensions"));
    // The depth is refused before the nesting is walked further.
    std::string deep = nested_int4_arrays(1);
    for (int i = 1; i < 30'000; ++i) {
        std::string wrapper;
        pgcoro::detail::append_i32(wrapper, 1);
        pgcoro::detail::append_i32(wrapper, 0);
        pgcoro::detail::append_u32(wrapper, oids::int4_array);
        pgcoro::detail::append_i32(wrapper, 1);
        pgcoro::detail::append_i32(wrapper, 1);
        pgcoro::detail::append_i32(wrapper, static_cast<std::int32_t>(deep.size()));
        deep.insert(0, wrapper);
    }
    CHECK(error_of([&] { pgcoro::format_text(deep, int4_array); }).code == errc::invalid_value);
}

TEST_CASE("format_text: timestamps near the ends of int64 print without overflow") {
    // Issue 17: pg_days * microseconds_per_day overflowed (UBSan) for
    // timestamp_send bytes 0x80000002ffffffff, far before the first timestamp
    // a server sends; the day and time are split without that product now.
    for (const std::int64_t us : {std::numeric_limits<std::int64_t>::min() + 1, std::int64_t{-0x7ffffffd00000001},
                                  std::int64_t{-1}, std::int64_t{0}, std::numeric_limits<std::int64_t>::max() - 1}) {
        const auto [days, time_of_day] = pgcoro::detail::split_days(us);
        CHECK(time_of_day >= 0);
        CHECK(time_of_day < pgcoro::detail::microseconds_per_day);
        __extension__ typedef __int128 wide;  // the product checked needs more than 64 bits
        CHECK(static_cast<wide>(days) * pgcoro::detail::microseconds_per_day + time_of_day == us);
    }
    CHECK(shown_hex("80000002ffffffff", oids::timestamp) == "290279-12-22 23:33:50.126079 BC");
    CHECK(shown_hex("80000002ffffffff", oids::timestamptz) == "290279-12-22 23:33:50.126079+00 BC");
    CHECK(shown_hex("8000000000000001", oids::timestamp) == "290279-12-22 19:59:05.224193 BC");
}

// --- the type table: what is received in binary and what prints it ----------------------

namespace {

using pgcoro::detail::text_output_routine;

// Every OID of PostgreSQL's catalogue that oids.hpp names, arrays included.
std::vector<std::uint32_t> catalogue_oids() {
    std::vector<std::uint32_t> all;
    for (const auto& t : pgcoro::detail::builtin_types) {
        all.push_back(t.oid);
        all.push_back(t.array_oid);
    }
    for (const auto& t : pgcoro::detail::other_builtin_types) all.push_back(t.oid);
    return all;
}

const pgcoro::detail::type_entry* row_of(std::uint32_t oid) {
    for (const auto& e : pgcoro::detail::type_table)
        if (e.oid == oid) return &e;
    return nullptr;
}

template <class T>
std::string binary_of(const T& v) {
    std::string bytes;
    REQUIRE(pgcoro::encode_param(v, bytes).fmt == format::binary);
    return bytes;
}

// A value of one type as the server sends it in binary, and as it prints it.
struct printed_sample {
    std::uint32_t oid;
    std::string bytes;
    std::string text;
};

std::vector<printed_sample> printed_samples() {
    constexpr std::int64_t hour = 3'600'000'000, minute = 60'000'000, second = 1'000'000;
    return {
        {oids::bool_, binary_of(true), "t"},
        {oids::bytea, binary_of(pgcoro::bytea{std::byte{0}, std::byte{0xAB}}), "\\x00ab"},
        {oids::name, "pg_class", "pg_class"},
        {oids::int8, binary_of(std::numeric_limits<std::int64_t>::min()), "-9223372036854775808"},
        {oids::int2, binary_of(std::int16_t{-32768}), "-32768"},
        {oids::int4, binary_of(std::int32_t{2147483647}), "2147483647"},
        {oids::text, "a b\"c", "a b\"c"},
        {oids::oid, binary_of(pgcoro::oid{4294967295u}), "4294967295"},
        {oids::json, "{\"a\": 1}", "{\"a\": 1}"},
        {oids::cidr, unhex("020801040a000000"), "10.0.0.0/8"},  // cidr_send('10.0.0.0/8')
        {oids::float4, binary_of(0.1f), "0.1"},
        {oids::float8, binary_of(7.85e21), "7.849999999999999e+21"},
        {oids::unknown, "what", "what"},
        {oids::inet, unhex("02180004c0a80001"), "192.168.0.1/24"},  // inet_send('192.168.0.1/24')
        {oids::bpchar, "x  ", "x  "},
        {oids::varchar, "é😀", "é😀"},
        {oids::date, binary_of(ymd(1969, 7, 20)), "1969-07-20"},
        {oids::time, binary_of(pgcoro::time_of_day{12h + 34min + 56s + 789ms}), "12:34:56.789"},
        {oids::timestamp, binary_of(local_us(ymd(2024, 2, 29).time_since_epoch() + 13h + 45min + 123'450us)),
         "2024-02-29 13:45:00.12345"},
        {oids::timestamptz, binary_of(sys_us(ymd(2000, 1, 1).time_since_epoch())), "2000-01-01 00:00:00+00"},
        {oids::interval, binary_of(pgcoro::interval{14, 3, 4 * hour + 5 * minute + 6 * second + 500'000}),
         "1 year 2 mons 3 days 04:05:06.5"},
        {oids::numeric, binary_of(pgcoro::numeric("-12.50")), "-12.50"},
        {oids::uuid, binary_of(pgcoro::uuid::parse("A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11")),
         "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"},
        {oids::jsonb, "\1{\"a\": [1, 2]}", "{\"a\": [1, 2]}"},
    };
}

// array_send of a one-element array, and what array_out prints for it: the
// element quoted when it is empty, reads as NULL, or holds a quote, a
// backslash, a brace, a comma or whitespace.
printed_sample one_element_array(const printed_sample& element) {
    std::string bytes;
    pgcoro::detail::append_i32(bytes, 1);
    pgcoro::detail::append_i32(bytes, 0);
    pgcoro::detail::append_u32(bytes, element.oid);
    pgcoro::detail::append_i32(bytes, 1);
    pgcoro::detail::append_i32(bytes, 1);
    pgcoro::detail::append_i32(bytes, static_cast<std::int32_t>(element.bytes.size()));
    bytes += element.bytes;
    const bool quoted = element.text.empty() || element.text == "NULL" ||
                        element.text.find_first_of("\"\\{}, \t\n\r\v\f") != std::string::npos;
    std::string text = "{";
    if (quoted) text += '"';
    for (char c : element.text) {
        if (quoted && (c == '"' || c == '\\')) text += '\\';
        text += c;
    }
    if (quoted) text += '"';
    text += '}';
    return {pgcoro::array_oid_of(element.oid), bytes, text};
}

template <class... Ts>
struct type_list {};

// Every codec of types/ whose type is built in. A new codec goes here too.
using builtin_codecs = type_list<bool, std::int16_t, std::int32_t, std::int64_t, float, double, pgcoro::numeric,
                                 std::string, std::string_view, pgcoro::bytea, pgcoro::uuid, chr::sys_days, local_us,
                                 sys_us, pgcoro::time_of_day, pgcoro::interval, pgcoro::json, pgcoro::jsonb,
                                 pgcoro::inet, pgcoro::oid>;

// What a codec sends and every built-in type it reads are received in
// binary, and print; the exceptions are the types whose binary form is
// their text (the character types, json, unknown), which come as text.
template <class T>
void check_codec_against_type_table() {
    using traits = pgcoro::pg_traits<T>;
    using pgcoro::detail::binary_form_is_text;
    using pgcoro::detail::receives_binary;
    using pgcoro::detail::text_output_of;
    INFO(pgcoro::detail::cpp_name_v<T>);
    if constexpr (traits::oid != 0) {
        INFO("sends " << pgcoro::type_name(traits::oid));
        CHECK((receives_binary(traits::oid) || binary_form_is_text(traits::oid)));
        CHECK(text_output_of(traits::oid) != text_output_routine::none);
        const auto element = pgcoro::element_oid_of(traits::oid);
        const auto* row = row_of(element != 0 ? element : traits::oid);
        REQUIRE(row != nullptr);
        CHECK(row->received == (row->text_output == text_output_routine::verbatim ? format::text : format::binary));
    }
    for (const std::uint32_t oid : catalogue_oids()) {
        if (!traits::accepts(oid)) continue;
        INFO("reads " << pgcoro::type_name(oid));
        CHECK(receives_binary(oid) != binary_form_is_text(oid));
        CHECK(text_output_of(oid) != text_output_routine::none);
    }
}

template <class... Ts>
void check_codecs_against_type_table(type_list<Ts...>) {
    (check_codec_against_type_table<Ts>(), ...);
    (check_codec_against_type_table<std::optional<Ts>>(), ...);
    (check_codec_against_type_table<std::vector<Ts>>(), ...);
}

}  // namespace

TEST_CASE("type table: every row prints a value as PostgreSQL does, and so does an array of it") {
    const auto samples = printed_samples();
    for (const auto& row : pgcoro::detail::type_table) {
        INFO(pgcoro::type_name(row.oid));
        CHECK(row.text_output != text_output_routine::none);
        const auto has_sample = [&](const printed_sample& s) { return s.oid == row.oid; };
        CHECK(std::any_of(samples.begin(), samples.end(), has_sample));
    }
    for (const auto& s : samples) {
        INFO(pgcoro::type_name(s.oid) << ": " << s.text);
        CHECK(pgcoro::format_text(s.bytes, field_type{s.oid, -1, format::binary}) == s.text);
        if (pgcoro::array_oid_of(s.oid) == 0) continue;
        const auto array = one_element_array(s);
        CHECK(pgcoro::format_text(array.bytes, field_type{array.oid, -1, format::binary}) == array.text);
    }
}

TEST_CASE("type table: every built-in codec's types are received in binary, or as text where that is their binary form") {
    check_codecs_against_type_table(builtin_codecs{});
}

TEST_CASE("type table: arrays are received as their elements are; other types and unknown OIDs as text") {
    using pgcoro::detail::receives_binary;
    using pgcoro::detail::text_output_of;
    static_assert(receives_binary(oids::int4) && receives_binary(oids::int4_array));
    for (const auto& t : pgcoro::detail::builtin_types) {
        INFO(pgcoro::type_name(t.array_oid));
        // Arrays of the types whose binary form is their text come in binary.
        CHECK(receives_binary(t.array_oid) == (receives_binary(t.oid) || pgcoro::detail::binary_form_is_text(t.oid)));
        CHECK(text_output_of(t.array_oid) == text_output_routine::array);
    }
    const std::uint32_t text_received[] = {
        oids::unspecified, oids::char_, oids::xml, oids::point, oids::money, oids::macaddr, oids::timetz,
        oids::bit, oids::record, oids::void_, oids::jsonpath, oids::unknown, oids::xml_array, oids::point_array,
        oids::money_array, oids::timetz_array, oids::char_array, oids::first_normal_object_id, 16385, 3808, 99999,
        0xFFFFFFFF,
    };
    for (auto oid : text_received) {
        INFO(oid);
        CHECK_FALSE(receives_binary(oid));
    }
    for (auto oid : {std::uint32_t{16385}, std::uint32_t{3808}, std::uint32_t{0xFFFFFFFF}, oids::timetz}) {
        INFO(oid);
        CHECK(text_output_of(oid) == text_output_routine::none);
        CHECK(error_of([&] { pgcoro::format_text("\1", field_type{oid, -1, format::binary}); }).code == errc::type_mismatch);
    }
    CHECK(error_of([] { pgcoro::format_text("\1", field_type{16385, -1, format::binary}); }).message ==
          "pgcoro has no text output for binary values of PostgreSQL type with oid 16385");
    // Binary COPY takes a string as the value of exactly these: their binary form is the text.
    std::vector<std::uint32_t> binary_is_text;
    for (auto oid : catalogue_oids())
        if (pgcoro::detail::binary_form_is_text(oid)) binary_is_text.push_back(oid);
    std::sort(binary_is_text.begin(), binary_is_text.end());
    CHECK(binary_is_text == std::vector<std::uint32_t>{oids::name, oids::text, oids::json, oids::unknown, oids::bpchar, oids::varchar});
}

// --- binary COPY encoding ------------------------------------------------------------
#include <pgcoro/types/copy_encoding.hpp>
#include <pgcoro/session/copy_target.hpp>

TEST_CASE("binary COPY: header, tuples with NULLs, trailer") {
    using namespace pgcoro::detail;
    CHECK(hex(binary_copy_header) == "5047434f50590aff0d0a00" "00000000" "00000000");
    CHECK(hex(binary_copy_trailer) == "ffff");
    std::string out = "x";
    encode_binary_copy_tuple(std::tuple<std::int32_t, std::optional<std::int64_t>, std::string>(7, std::nullopt, "ab"), out);
    CHECK(hex(out) == "78" "0003" "00000004" "00000007" "ffffffff" "00000002" "6162");
    // A failing field leaves the buffer as it was.
    std::string before = out;
    const auto after_midnight = std::tuple<std::int32_t, pgcoro::time_of_day>(1, pgcoro::time_of_day{25h});
    CHECK_THROWS_AS(encode_binary_copy_tuple(after_midnight, out), pgcoro::error);
    CHECK(out == before);
}

TEST_CASE("binary COPY only for exact type matches, text only into text-like columns") {
    using pgcoro::detail::binary_copy_fits;
    CHECK(binary_copy_fits<std::int64_t>(oids::int8));
    CHECK(binary_copy_fits<std::optional<std::int32_t>>(oids::int4));
    CHECK(binary_copy_fits<std::string>(oids::varchar));
    CHECK(binary_copy_fits<pgcoro::json>(oids::json));
    // A user-defined type (an enum, an array of one, a composite): its binary form may not be its text.
    CHECK_FALSE(binary_copy_fits<std::string_view>(16500));
    CHECK_FALSE(binary_copy_fits<std::vector<std::string>>(16501));
    CHECK_FALSE(binary_copy_fits<app::mood>(16500));
    CHECK(binary_copy_fits<std::nullopt_t>(oids::uuid));
    CHECK_FALSE(binary_copy_fits<std::int32_t>(oids::int8));    // narrower: would be misread
    CHECK_FALSE(binary_copy_fits<std::int32_t>(oids::float4));  // same width, different meaning
    CHECK_FALSE(binary_copy_fits<std::string>(oids::jsonb));    // jsonb's binary form has a version byte
    CHECK_FALSE(binary_copy_fits<std::vector<std::string>>(oids::text_array));
}

TEST_CASE("text COPY rows: tabs, \\N, escapes, PostgreSQL's text output for binary values") {
    using namespace pgcoro::detail;
    std::string out, scratch;
    encode_text_copy_tuple(std::tuple<std::int32_t, std::optional<double>, std::string, std::vector<std::string>>(
                               -7, std::nullopt, "a\tb\\c\nd\re", {"x y", "z"}),
                           out, scratch);
    CHECK(out == "-7\t\\N\ta\\tb\\\\c\\nd\\re\t{\"x y\",\"z\"}\n");
    out.clear();
    const std::chrono::sys_days day = std::chrono::year{1969} / 7 / 20;
    encode_text_copy_tuple(std::tuple<std::chrono::sys_days, double, bool>(day, 0.1, true), out, scratch);
    CHECK(out == "1969-07-20\t0.1\tt\n");
    const std::string before = out;
    const auto after_midnight = std::tuple<std::int32_t, pgcoro::time_of_day>(1, pgcoro::time_of_day{25h});
    CHECK_THROWS_AS(encode_text_copy_tuple(after_midnight, out, scratch), pgcoro::error);
    CHECK(out == before);
}

TEST_CASE("bulk_load targets: table, schema-qualified, with columns, quoted names") {
    using pgcoro::detail::parse_copy_target;
    auto t = parse_copy_target("person");
    CHECK(t.select_sql() == "SELECT * FROM person");
    CHECK(t.copy_sql(true) == "COPY person FROM STDIN (FORMAT binary)");
    CHECK(t.copy_sql(false) == "COPY person FROM STDIN");
    t = parse_copy_target("  sales.orders ( id, \"Total (EUR)\" ) ");
    CHECK(t.table == "sales.orders");
    CHECK(t.columns == "id, \"Total (EUR)\"");
    CHECK(t.copy_sql(true) == "COPY sales.orders (id, \"Total (EUR)\") FROM STDIN (FORMAT binary)");
    CHECK(parse_copy_target("\"odd;name\"").table == "\"odd;name\"");
    for (auto bad : {"", "  ", "(a)", "t (a", "t ()", "t; DROP TABLE t", "\"unterminated", "t (a)) x"}) {
        INFO(bad);
        CHECK_THROWS_AS(parse_copy_target(bad), pgcoro::error);
    }
}
