// The protocol layer byte by byte: each encoder's exact output, each decoder
// on good and malformed bodies, framing, and random input that must only ever
// produce a pgcoro::error.
#include <pgcoro/protocol.hpp>
#include <pgcoro/result.hpp>

#include "support/catch.hpp"

#include <random>

using namespace pgcoro::protocol;
using namespace std::string_literals;

namespace {

std::string be32(std::uint32_t v) {
    return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8), static_cast<char>(v)};
}

template <class F>
pgcoro::errc error_of(F&& f) {
    try {
        f();
    } catch (const pgcoro::error& e) {
        return static_cast<pgcoro::errc>(e.code().value());
    }
    FAIL("no error thrown");
    return {};
}

}  // namespace

TEST_CASE("startup-phase packets") {
    buffer b;
    SECTION("SSLRequest") {
        encode_ssl_request(b);
        CHECK(b == "\x00\x00\x00\x08\x04\xd2\x16\x2f"s);
    }
    SECTION("CancelRequest") {
        encode_cancel_request(b, 0x01020304, -1);
        CHECK(b == "\x00\x00\x00\x10\x04\xd2\x16\x2e\x01\x02\x03\x04\xff\xff\xff\xff"s);
    }
    SECTION("StartupMessage") {
        const startup_parameter params[] = {{"user", "bob"}, {"database", "db"}};
        encode_startup_message(b, params);
        const auto body = "\x00\x03\x00\x00"s + "user\0bob\0database\0db\0\0"s;
        CHECK(b == be32(static_cast<std::uint32_t>(body.size() + 4)) + body);
    }
}

TEST_CASE("frontend messages") {
    buffer b;
    SECTION("Query") {
        encode_query(b, "SELECT 1");
        CHECK(b == "Q\x00\x00\x00\x0dSELECT 1\0"s);
    }
    SECTION("PasswordMessage") {
        encode_password_message(b, "pw");
        CHECK(b == "p\x00\x00\x00\x07pw\0"s);
    }
    SECTION("SASLInitialResponse") {
        encode_sasl_initial_response(b, "SCRAM-SHA-256", "n,,n=,r=x");
        CHECK(b == "p"s + be32(4 + 14 + 4 + 9) + "SCRAM-SHA-256\0"s + be32(9) + "n,,n=,r=x");
    }
    SECTION("SASLResponse") {
        encode_sasl_response(b, "c=biws");
        CHECK(b == "p\x00\x00\x00\x0a" "c=biws"s);
    }
    SECTION("Terminate, Sync, Flush") {
        encode_terminate(b);
        encode_sync(b);
        encode_flush(b);
        CHECK(b == "X\0\0\0\4S\0\0\0\4H\0\0\0\4"s);
    }
    SECTION("Parse, Describe, Execute, Close") {
        const std::uint32_t types[] = {23, 25};
        encode_parse(b, "s1", "SELECT $1, $2", types);
        CHECK(b == "P"s + be32(4 + 3 + 14 + 2 + 8) + "s1\0SELECT $1, $2\0"s + "\0\2"s + be32(23) + be32(25));
        b.clear();
        encode_describe(b, object_kind::statement, "s1");
        CHECK(b == "D\0\0\0\x08Ss1\0"s);
        b.clear();
        encode_execute(b, "", 0);
        CHECK(b == "E\0\0\0\x09\0\0\0\0\0"s);
        b.clear();
        encode_execute(b, "", 0);
        encode_sync(b);
        CHECK(b == execute_all_and_sync);
        b.clear();
        encode_close(b, object_kind::portal, "p");
        CHECK(b == "C\0\0\0\x07Pp\0"s);
    }
    SECTION("Bind, with parameters written in place or already encoded") {
        const std::int16_t formats[] = {1, 0};
        const std::int16_t result_formats[] = {1};
        const auto expected = "B"s + be32(4 + 3 + 3 + 2 + 4 + 2 + (4 + 4) + 4 + 2 + 2) + "p1\0s1\0"s + "\0\2\0\1\0\0"s +
                              "\0\2"s + be32(4) + be32(42) + be32(0xffffffff) + "\0\1\0\1"s;
        encode_bind(b, "p1", "s1", formats, 2,
                    [](std::size_t i, std::string& out) {
                        if (i == 1) return false;  // NULL
                        out += be32(42);
                        return true;
                    },
                    result_formats);
        CHECK(b == expected);
        b.clear();
        encode_bind(b, "p1", "s1", formats, 2,
                    [](std::size_t i, std::string& out) {
                        if (i == 0) out += be32(42);
                        return i == 0;
                    },
                    result_formats, execute_all_and_sync);
        CHECK(b == expected + std::string(execute_all_and_sync));  // the Bind's length leaves `then` out
        b.clear();
        encode_bind_encoded(b, "p1", "s1", formats, 2, be32(4) + be32(42) + be32(0xffffffff), result_formats);
        CHECK(b == expected);
        b = "kept";
        encode_bind_encoded(b, "", "", {}, 0, "", {});
        CHECK(b == "kept"s + "B"s + be32(4 + 1 + 1 + 2 + 2 + 2) + "\0\0\0\0\0\0\0\0"s);
    }
    SECTION("COPY messages") {
        encode_copy_data(b, "1\t2\n");
        encode_copy_done(b);
        encode_copy_fail(b, "no");
        CHECK(b == "d\0\0\0\x08" "1\t2\nc\0\0\0\4f\0\0\0\x07no\0"s);
    }
}

TEST_CASE("framing splits the stream and bounds message sizes") {
    const auto two = "Z\0\0\0\5I"s + "S\0\0\0\x08" "a\0b\0"s;
    auto f = next_frame(two, 1 << 20);
    REQUIRE(f.complete);
    CHECK(f.message.type == message_type::ready_for_query);
    CHECK(f.message.body == "I");
    CHECK(f.needed == 6);
    auto g = next_frame(std::string_view(two).substr(6), 1 << 20);
    REQUIRE(g.complete);
    CHECK(g.message.type == message_type::parameter_status);
    CHECK(g.message.body == "a\0b\0"s);

    CHECK_FALSE(next_frame("Z\0\0"s, 100).complete);
    auto partial = next_frame("Z\0\0\0\x10xx"s, 100);
    CHECK_FALSE(partial.complete);
    CHECK(partial.needed == 17);
    CHECK(error_of([] { next_frame("Z\0\0\0\3"s, 100); }) == pgcoro::errc::protocol_violation);
    CHECK(error_of([] { next_frame("D\0\0\1\0"s, 100); }) == pgcoro::errc::message_too_large);
}

TEST_CASE("authentication requests") {
    CHECK(std::holds_alternative<auth_ok>(decode_authentication(be32(0))));
    CHECK(std::holds_alternative<auth_cleartext_password>(decode_authentication(be32(3))));
    const auto md5_body = be32(5) + "salt";
    auto md5 = decode_authentication(md5_body);
    REQUIRE(std::holds_alternative<auth_md5_password>(md5));
    CHECK(std::get<auth_md5_password>(md5).salt == "salt");
    const auto sasl_body = be32(10) + "SCRAM-SHA-256-PLUS\0SCRAM-SHA-256\0\0"s;
    auto sasl = decode_authentication(sasl_body);
    REQUIRE(std::holds_alternative<auth_sasl>(sasl));
    CHECK(std::get<auth_sasl>(sasl).mechanisms == std::vector<std::string_view>{"SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"});
    const auto continue_body = be32(11) + "r=abc";
    CHECK(std::get<auth_sasl_continue>(decode_authentication(continue_body)).data == "r=abc");
    const auto final_body = be32(12) + "v=xyz";
    CHECK(std::get<auth_sasl_final>(decode_authentication(final_body)).data == "v=xyz");
    CHECK(std::get<auth_unsupported>(decode_authentication(be32(7))).code == 7);

    CHECK(error_of([] { decode_authentication(be32(5) + "sal"); }) == pgcoro::errc::protocol_violation);
    CHECK(error_of([] { decode_authentication(be32(0) + "x"); }) == pgcoro::errc::protocol_violation);
    CHECK(error_of([] { decode_authentication(be32(10) + "\0"s); }) == pgcoro::errc::protocol_violation);
    CHECK(error_of([] { decode_authentication(be32(10) + "SCRAM"); }) == pgcoro::errc::protocol_violation);
    CHECK(error_of([] { decode_authentication(be32(42)); }) == pgcoro::errc::protocol_violation);
    CHECK(error_of([] { decode_authentication("\0\0"s); }) == pgcoro::errc::protocol_violation);
}

TEST_CASE("session messages") {
    const auto status_body = "TimeZone\0UTC\0"s;
    auto p = decode_parameter_status(status_body);
    CHECK(p.name == "TimeZone");
    CHECK(p.value == "UTC");
    CHECK(error_of([] { decode_parameter_status("TimeZone\0UTC"s); }) == pgcoro::errc::protocol_violation);

    auto k = decode_backend_key_data(be32(1234) + be32(0xdeadbeef));
    CHECK(k.process_id == 1234);
    CHECK(k.secret_key == static_cast<std::int32_t>(0xdeadbeef));
    CHECK(error_of([] { decode_backend_key_data(be32(1)); }) == pgcoro::errc::protocol_violation);

    CHECK(decode_ready_for_query("T") == transaction_status::in_transaction);
    CHECK(error_of([] { decode_ready_for_query("Q"); }) == pgcoro::errc::protocol_violation);
    CHECK(error_of([] { decode_ready_for_query("II"); }) == pgcoro::errc::protocol_violation);

    const auto negotiate_body = be32(0) + be32(1) + "_pq_.x\0"s;
    auto v = decode_negotiate_protocol_version(negotiate_body);
    CHECK(v.newest_minor == 0);
    CHECK(v.unrecognized == std::vector<std::string_view>{"_pq_.x"});

    const auto notification_body = be32(7) + "chan\0hello\0"s;
    auto n = decode_notification(notification_body);
    CHECK(n.process_id == 7);
    CHECK(n.channel == "chan");
    CHECK(n.payload == "hello");
}

TEST_CASE("error and notice fields") {
    const auto body = "SERROR\0VERROR\0C42P01\0Mrelation \"x\" does not exist\0P15\0Fparse_relation.c\0L1392\0Rparser\0Dd\0Hh\0"
                      "q iq\0p3\0Wctx\0ssch\0ttab\0ccol\0dtyp\0ncon\0Zunknown\0\0"s;
    auto d = decode_error_fields(body);
    CHECK(d.severity == "ERROR");
    CHECK(d.severity_nonlocalized == "ERROR");
    CHECK(d.sqlstate == "42P01");
    CHECK(d.message == "relation \"x\" does not exist");
    CHECK(d.position == 15u);
    CHECK(d.file == "parse_relation.c");
    CHECK(d.line == 1392u);
    CHECK(d.routine == "parser");
    CHECK(d.detail == "d");
    CHECK(d.hint == "h");
    CHECK(d.internal_query == " iq");
    CHECK(d.internal_position == 3u);
    CHECK(d.where == "ctx");
    CHECK(d.schema == "sch");
    CHECK(d.table == "tab");
    CHECK(d.column == "col");
    CHECK(d.datatype == "typ");
    CHECK(d.constraint == "con");

    pgcoro::server_error e(d);
    CHECK(e.sqlstate() == "42P01");
    CHECK_THAT(e.what(), Catch::Contains("relation \"x\" does not exist (SQLSTATE 42P01)"));
    CHECK(e.code() == pgcoro::errc::server_error);

    const auto bad_position = "Pnot a number\0\0"s;
    CHECK_FALSE(decode_error_fields(bad_position).position);
    CHECK(error_of([] { decode_error_fields("Mno terminator"s); }) == pgcoro::errc::protocol_violation);
    CHECK(error_of([] { decode_error_fields("Mok\0"s); }) == pgcoro::errc::protocol_violation);
}

TEST_CASE("an ErrorResponse or NoticeResponse with no fields is refused") {
    // Issue 17: it was taken as an error with no message ("ERROR:  : ").
    try {
        decode_error_fields("\0"s);
        FAIL("no error thrown");
    } catch (const pgcoro::error& e) {
        CHECK(e.code() == pgcoro::errc::protocol_violation);
        CHECK_THAT(e.what(), Catch::Contains("the server sent an empty error"));
    }
    CHECK(error_of([] { decode_error_fields("\0"s, "NoticeResponse"); }) == pgcoro::errc::protocol_violation);
    CHECK(error_of([] { decode_error_fields(""s); }) == pgcoro::errc::protocol_violation);
    // One unknown field is still a field: the protocol says to ignore it.
    CHECK(decode_error_fields("Zx\0\0"s).message.empty());
}

TEST_CASE("lists of names before authentication are bounded") {
    // Issue 17: each name costs a 16-byte view, so 16 MiB of one-byte names
    // cost 278 MB before authentication.
    std::string names;
    for (std::size_t i = 0; i < max_listed_names; ++i) names += "M\0"s;
    CHECK(std::get<auth_sasl>(decode_authentication(be32(10) + names + "\0"s)).mechanisms.size() == max_listed_names);
    CHECK(error_of([&] { decode_authentication(be32(10) + names + "N\0\0"s); }) == pgcoro::errc::protocol_violation);

    CHECK(decode_negotiate_protocol_version(be32(0) + be32(max_listed_names) + names).unrecognized.size() ==
          max_listed_names);
    CHECK(error_of([&] { decode_negotiate_protocol_version(be32(0) + be32(max_listed_names + 1) + names + "N\0"s); }) ==
          pgcoro::errc::protocol_violation);
    // A count far beyond the body is refused before anything is stored.
    CHECK(error_of([] { decode_negotiate_protocol_version(be32(0) + be32(0x7fffffff)); }) ==
          pgcoro::errc::protocol_violation);
}

TEST_CASE("row description and data rows") {
    const auto field = [](std::string name, std::uint32_t type, std::int16_t format) {
        return name + '\0' + be32(16384) + "\0\1"s + be32(type) + "\0\4"s + be32(0xffffffff) + std::string{0, static_cast<char>(format)};
    };
    const auto body = "\0\2"s + field("id", 23, 0) + field("name", 25, 1);
    std::vector<field_description> fields;
    decode_row_description(body, fields);
    REQUIRE(fields.size() == 2);
    CHECK(fields[0].name == "id");
    CHECK(fields[0].table_oid == 16384);
    CHECK(fields[0].column_attribute == 1);
    CHECK(fields[0].type_oid == 23);
    CHECK(fields[0].type_size == 4);
    CHECK(fields[0].type_modifier == -1);
    CHECK(fields[1].format == 1);
    CHECK(error_of([&] { decode_row_description("\0\3"s + field("id", 23, 0), fields); }) == pgcoro::errc::protocol_violation);
    CHECK(error_of([&] { decode_row_description("\0\1"s + field("id", 23, 7), fields); }) == pgcoro::errc::protocol_violation);

    std::vector<std::optional<std::string>> values;
    const auto row = "\0\3"s + be32(2) + "42" + be32(0xffffffff) + be32(0);
    decode_data_row(row, 3, [&](std::size_t, std::optional<std::string_view> v) {
        values.push_back(v ? std::optional<std::string>(*v) : std::nullopt);
    });
    CHECK(values == std::vector<std::optional<std::string>>{"42", std::nullopt, ""});
    auto ignore = [](std::size_t, std::optional<std::string_view>) {};
    CHECK(error_of([&] { decode_data_row(row, 2, ignore); }) == pgcoro::errc::protocol_violation);
    CHECK(error_of([&] { decode_data_row("\0\1"s + be32(5) + "abc", 1, ignore); }) == pgcoro::errc::protocol_violation);
    CHECK(error_of([&] { decode_data_row("\0\1"s + be32(0xfffffffe), 1, ignore); }) == pgcoro::errc::protocol_violation);

    const auto complete_body = "INSERT 0 5\0"s;
    CHECK(decode_command_complete(complete_body) == "INSERT 0 5");
    CHECK(rows_affected("INSERT 0 5") == 5u);
    CHECK(rows_affected("SELECT 12") == 12u);
    CHECK_FALSE(rows_affected("CREATE TABLE"));
    CHECK_FALSE(rows_affected("BEGIN"));

    // A SELECT's or FETCH's count against the rows received; other tags are not checked.
    CHECK(tag_ends_in_count("SELECT 1", 1));
    CHECK(tag_ends_in_count("SELECT 0", 0));
    CHECK(tag_ends_in_count("FETCH 120", 120));
    CHECK(tag_ends_in_count("SELECT 18446744073709551615", 18446744073709551615u));
    CHECK_FALSE(tag_ends_in_count("SELECT 11", 1));
    CHECK_FALSE(tag_ends_in_count("SELECT 1", 11));
    CHECK_FALSE(tag_ends_in_count("SELECT 01", 1));
    CHECK_FALSE(tag_ends_in_count("1", 1));
    CHECK_FALSE(tag_ends_in_count("", 0));
    CHECK_NOTHROW(check_rows_returned("SELECT 3", 3));
    CHECK_NOTHROW(check_rows_returned("SELECT 01", 1));
    CHECK_NOTHROW(check_rows_returned("INSERT 0 5", 1));  // RETURNING rewritten by a rule
    CHECK_NOTHROW(check_rows_returned("SELECT", 2));
    CHECK(error_of([] { check_rows_returned("SELECT 3", 2); }) == pgcoro::errc::protocol_violation);
    CHECK(error_of([] { check_rows_returned("FETCH 1", 10); }) == pgcoro::errc::protocol_violation);
    CHECK(error_of([] { check_rows_returned("SELECT 0", 1); }) == pgcoro::errc::protocol_violation);
}

TEST_CASE("a result keeps its rows across blocks, copies, moves, refills and malformed rows") {
    std::vector<field_description> fields(2);
    fields[0].type_oid = 23;  // int4, binary
    fields[0].format = 1;
    fields[1].type_oid = 25;  // text, may be NULL
    fields[1].format = 1;
    const auto data_row = [](std::int32_t i) {
        if (i % 7 == 0) return "\0\2"s + be32(4) + be32(static_cast<std::uint32_t>(i)) + be32(0xffffffff);
        const std::string text(static_cast<std::size_t>(i % 300), static_cast<char>('a' + i % 26));
        return "\0\2"s + be32(4) + be32(static_cast<std::uint32_t>(i)) + be32(static_cast<std::uint32_t>(text.size())) + text;
    };
    // Rows of up to 300 bytes fill many blocks of 1 KB and more, some rows
    // larger than what is left of a block.
    const auto fill = [&](pgcoro::result& r, std::int32_t from, std::int32_t count) {
        r.clear();
        r.set_columns(fields);
        for (std::int32_t i = from; i < from + count; ++i) r.append_row(data_row(i));
    };
    const auto holds = [&](const pgcoro::result& r, std::int32_t from, std::int32_t count) {
        if (static_cast<std::int32_t>(r.size()) != count) return false;
        for (std::int32_t k = 0; k < count; ++k) {
            const auto i = from + k;
            if (r[static_cast<std::size_t>(k)].get<std::int32_t>(0) != i) return false;
            const auto text = r[static_cast<std::size_t>(k)].get<std::optional<std::string_view>>(1);
            if (i % 7 == 0 ? text.has_value()
                           : text != std::string(static_cast<std::size_t>(i % 300), static_cast<char>('a' + i % 26)))
                return false;
        }
        return true;
    };
    pgcoro::result a;
    fill(a, 0, 3000);
    CHECK(holds(a, 0, 3000));

    pgcoro::result copy = a;
    CHECK(holds(copy, 0, 3000));
    fill(copy, 5000, 4000);  // refilled past the copied blocks' sizes
    CHECK(holds(copy, 5000, 4000));
    CHECK(holds(a, 0, 3000));

    pgcoro::result moved = std::move(a);
    CHECK(holds(moved, 0, 3000));
    fill(a, 100, 50);  // a moved-from result is empty and can be refilled
    CHECK(holds(a, 100, 50));
    a = std::move(copy);
    CHECK(holds(a, 5000, 4000));
    fill(copy, 7, 10);
    CHECK(holds(copy, 7, 10));

    // A malformed row is not stored, and the next one is.
    fill(a, 0, 10);
    CHECK(error_of([&] { a.append_row("\0\3"s + be32(0) + be32(0) + be32(0)); }) == pgcoro::errc::protocol_violation);
    CHECK(error_of([&] { a.append_row("\0\2"s + be32(4) + "ab"); }) == pgcoro::errc::protocol_violation);
    a.append_row(data_row(10));
    CHECK(holds(a, 0, 11));
}

TEST_CASE("COPY responses decode their formats and reject malformed ones") {
    const auto text = decode_copy_response("\0\0\2\0\0\0\0"s);
    CHECK(text.format == 0);
    CHECK(text.column_formats == std::vector<std::int16_t>{0, 0});
    const auto binary = decode_copy_response("\1\0\1\0\1"s, "CopyOutResponse");
    CHECK(binary.format == 1);
    CHECK(binary.column_formats == std::vector<std::int16_t>{1});
    CHECK(error_of([] { decode_copy_response("\2\0\0"s); }) == pgcoro::errc::protocol_violation);       // overall format 2
    CHECK(error_of([] { decode_copy_response("\0\0\1\0\1"s); }) == pgcoro::errc::protocol_violation);  // binary column in text COPY
    CHECK(error_of([] { decode_copy_response("\1\0\2\0\1"s); }) == pgcoro::errc::protocol_violation);  // truncated
    CHECK(error_of([] { decode_copy_response("\1\0\1\0\1\0"s); }) == pgcoro::errc::protocol_violation);  // trailing byte
}

TEST_CASE("random bytes never crash a decoder") {
    std::mt19937 rng(12345);
    std::vector<field_description> fields;
    int errors = 0;
    for (int i = 0; i < 20000; ++i) {
        std::string body(rng() % 40, '\0');
        for (auto& c : body) c = static_cast<char>(rng() % 4 == 0 ? 0 : rng());
        auto attempt = [&](auto&& f) {
            try {
                f();
            } catch (const pgcoro::error&) {
                ++errors;
            }
        };
        attempt([&] { decode_authentication(body); });
        attempt([&] { decode_parameter_status(body); });
        attempt([&] { decode_backend_key_data(body); });
        attempt([&] { decode_ready_for_query(body); });
        attempt([&] { decode_negotiate_protocol_version(body); });
        attempt([&] { decode_error_fields(body); });
        attempt([&] { decode_row_description(body, fields); });
        attempt([&] { decode_data_row(body, rng() % 4, [](std::size_t, std::optional<std::string_view>) {}); });
        attempt([&] { decode_command_complete(body); });
        attempt([&] { decode_notification(body); });
        attempt([&] { decode_copy_response(body); });
        attempt([&] { next_frame(body, 64); });
    }
    CHECK(errors > 100000);  // most random input is malformed, and each one was reported as an error
}

TEST_CASE("a refilled result's command tag is its own fill's, never the last one's") {
    pgcoro::result r;
    CHECK(r.command_tag().empty());
    r.set_command_tag("SELECT 1");
    CHECK(r.command_tag() == "SELECT 1");
    CHECK(r.rows_affected() == 1u);
    r.clear();  // the text is kept for the next fill to compare with, but not shown
    CHECK(r.command_tag().empty());
    CHECK(!r.rows_affected());
    r.set_command_tag("SELECT 1");
    CHECK(r.command_tag() == "SELECT 1");
    r.clear();
    r.set_command_tag("SELECT 2");  // as long, another text
    CHECK(r.command_tag() == "SELECT 2");
    r.set_command_tag("INSERT 0 12");
    CHECK(r.command_tag() == "INSERT 0 12");
    CHECK(r.rows_affected() == 12u);
    pgcoro::result copy = r;
    CHECK(copy.command_tag() == "INSERT 0 12");
    r.clear();
    copy = r;
    CHECK(copy.command_tag().empty());
}
