// SASLprep of SCRAM passwords: RFC 4013's own examples, NFKC, and the places
// where PostgreSQL (whose result the server's stored verifier depends on)
// differs from a literal reading of the RFC.
#include <pgcoro/auth/saslprep.hpp>

#include "support/catch.hpp"

#include <string>
#include <string_view>

using pgcoro::auth::prepare_scram_password;
using pgcoro::auth::saslprep;
using pgcoro::auth::saslprep_status;

namespace {

// Test expectations are written as code points so that they do not depend on
// the compiler's execution character set.
std::string utf8(std::u32string_view text) {
    std::string out;
    for (const char32_t c : text) {
        if (c < 0x80) {
            out += static_cast<char>(c);
        } else if (c < 0x800) {
            out += static_cast<char>(0xC0 | (c >> 6));
            out += static_cast<char>(0x80 | (c & 0x3F));
        } else if (c < 0x10000) {
            out += static_cast<char>(0xE0 | (c >> 12));
            out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
            out += static_cast<char>(0x80 | (c & 0x3F));
        } else {
            out += static_cast<char>(0xF0 | (c >> 18));
            out += static_cast<char>(0x80 | ((c >> 12) & 0x3F));
            out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
            out += static_cast<char>(0x80 | (c & 0x3F));
        }
    }
    return out;
}

std::string prepared(std::u32string_view text) {
    const auto result = saslprep(utf8(text));
    REQUIRE(result.status == saslprep_status::ok);
    return result.value;
}

saslprep_status status_of(std::string_view bytes) { return saslprep(bytes).status; }

}  // namespace

TEST_CASE("saslprep: RFC 4013 section 3 examples", "[saslprep]") {
    CHECK(prepared(U"I\u00ADX") == "IX");           // soft hyphen mapped to nothing
    CHECK(prepared(U"user") == "user");
    CHECK(prepared(U"USER") == "USER");             // no case folding
    CHECK(prepared(U"\u00AA") == "a");              // feminine ordinal indicator
    CHECK(prepared(U"\u2168") == "IX");             // roman numeral nine
    CHECK(status_of(utf8(U"\u0007")) == saslprep_status::prohibited);
    CHECK(status_of(utf8(U"\u0627\u0031")) == saslprep_status::prohibited);  // must end in RandALCat
}

TEST_CASE("saslprep: mapping step", "[saslprep]") {
    CHECK(prepared(U"a\u00A0b") == "a b");          // C.1.2 no-break space
    CHECK(prepared(U"a\u3000b") == "a b");          // C.1.2 ideographic space
    CHECK(prepared(U"a\uFEFFb\u200Dc") == "abc");   // B.1
    CHECK(prepared(U"a\uFE0Fb") == "ab");           // B.1 variation selector
    // U+200B is in both C.1.2 and B.1; libpq applies C.1.2 first.
    CHECK(prepared(U"a\u200Bb") == "a b");
}

TEST_CASE("saslprep: NFKC", "[saslprep]") {
    SECTION("composed and decomposed forms meet") {
        CHECK(prepared(U"e\u0301") == utf8(U"\u00E9"));
        CHECK(prepared(U"\u00E9") == utf8(U"\u00E9"));
        CHECK(prepared(U"A\u030A") == utf8(U"\u00C5"));
        CHECK(prepared(U"\u212B") == utf8(U"\u00C5"));  // angstrom sign: canonical singleton
    }
    SECTION("combining marks are reordered before composing") {
        // dot above (230) then dot below (220): the dot below composes first.
        CHECK(prepared(U"\u1E0B\u0323") == utf8(U"\u1E0D\u0307"));
        CHECK(prepared(U"q\u0307\u0323") == utf8(U"q\u0323\u0307"));
        // A mark of lower class between them does not block composition...
        CHECK(prepared(U"a\u0316\u0301") == utf8(U"\u00E1\u0316"));
        // ...one of the same class does.
        CHECK(prepared(U"a\u0305\u0301") == utf8(U"a\u0305\u0301"));
    }
    SECTION("Hangul") {
        CHECK(prepared(U"\u1100\u1161\u11A8") == utf8(U"\uAC01"));
        CHECK(prepared(U"\u1100\u1161") == utf8(U"\uAC00"));
        CHECK(prepared(U"\uAC01") == utf8(U"\uAC01"));
        CHECK(prepared(U"\u3131") == utf8(U"\u1100"));  // compatibility jamo
        CHECK(prepared(U"\u320E") == utf8(U"(\uAC00)"));  // decomposes through a syllable
    }
    SECTION("compatibility mappings") {
        CHECK(prepared(U"\uFB01") == "fi");
        CHECK(prepared(U"\uFF21\uFF42") == "Ab");       // fullwidth
        CHECK(prepared(U"\u2474") == "(1)");
        CHECK(prepared(U"x\u00B2") == "x2");
        CHECK(prepared(U"\U0001D400") == "A");           // mathematical bold capital A
        CHECK(prepared(U"\uFF76\uFF9E") == utf8(U"\u30AC"));  // halfwidth katakana + voiced mark
        CHECK(prepared(U"\uFDFA") ==                    // the longest decomposition
              utf8(U"\u0635\u0644\u0649 \u0627\u0644\u0644\u0647 \u0639\u0644\u064A\u0647 "
                   U"\u0648\u0633\u0644\u0645"));
    }
    SECTION("composition exclusions stay decomposed") {
        CHECK(prepared(U"\u0958") == utf8(U"\u0915\u093C"));
        CHECK(prepared(U"\u0915\u093C") == utf8(U"\u0915\u093C"));
    }
}

TEST_CASE("saslprep: prohibited output and bidi", "[saslprep]") {
    CHECK(status_of(utf8(U"a\u0080")) == saslprep_status::prohibited);        // C.2.2
    CHECK(status_of(utf8(U"a\uE000")) == saslprep_status::prohibited);        // C.3 private use
    CHECK(status_of(utf8(U"a\uFFFE")) == saslprep_status::prohibited);        // C.4
    CHECK(status_of(utf8(U"a\uFFFD")) == saslprep_status::prohibited);        // C.6
    CHECK(status_of(utf8(U"a\u2FF0")) == saslprep_status::prohibited);        // C.7
    CHECK(status_of(utf8(U"a\u202E")) == saslprep_status::prohibited);        // C.8
    CHECK(status_of(utf8(U"a\U000E0041")) == saslprep_status::prohibited);    // C.9
    CHECK(status_of(utf8(U"a\u0221")) == saslprep_status::prohibited);        // A.1: unassigned in 3.2
    CHECK(status_of(utf8(U"\U0001F600")) == saslprep_status::prohibited);     // newer than 3.2

    CHECK(prepared(U"\u0627\u0031\u0628") == utf8(U"\u0627\u0031\u0628"));
    CHECK(prepared(U"\u05D0 \u05D1") == utf8(U"\u05D0 \u05D1"));
    CHECK(status_of(utf8(U"\u0627a\u0628")) == saslprep_status::prohibited);  // RandALCat with LCat
    CHECK(status_of(utf8(U"1\u0627")) == saslprep_status::prohibited);        // must begin in RandALCat
}

TEST_CASE("saslprep: PostgreSQL's departures from the RFC", "[saslprep]") {
    // Prohibition is checked before NFKC: U+0340 (C.8) would normalise to
    // U+0300 and pass if the output were checked, as the RFC says.
    CHECK(status_of(utf8(U"a\u0340")) == saslprep_status::prohibited);
    CHECK(prepare_scram_password(utf8(U"a\u0340")) == utf8(U"a\u0340"));

    // A non-empty password that maps to nothing keeps its raw bytes...
    CHECK(status_of(utf8(U"\u00AD")) == saslprep_status::prohibited);
    CHECK(prepare_scram_password(utf8(U"\u00AD\u200C")) == utf8(U"\u00AD\u200C"));
    // ...while an empty one stays empty.
    CHECK(saslprep("").status == saslprep_status::ok);
    CHECK(prepare_scram_password("").empty());

    // Rejected passwords are used as they are, not refused.
    CHECK(prepare_scram_password(utf8(U"\u0627\u0031")) == utf8(U"\u0627\u0031"));
    CHECK(prepare_scram_password(utf8(U"\U0001F600pw")) == utf8(U"\U0001F600pw"));
}

TEST_CASE("saslprep: invalid UTF-8 is used unchanged", "[saslprep]") {
    const std::string invalid[] = {
        "\xC0\xAF",            // overlong '/'
        "\xE0\x80\xAF",        // overlong, three bytes
        "\xF0\x80\x80\xAF",    // overlong, four bytes
        "\xED\xA0\x80",        // surrogate U+D800
        "\xED\xBF\xBF",        // surrogate U+DFFF
        "\xF4\x90\x80\x80",    // above U+10FFFF
        "\xF5\x80\x80\x80",    // lead byte above U+10FFFF
        "\xE2\x82",            // truncated
        "ab\xC3",              // truncated at the end
        "\x80",                // lone continuation byte
        "\xC3\x28",            // bad continuation byte
        "caf\xE9",             // Latin-1
        "\xFF\xFE",
    };
    for (const auto& bytes : invalid) {
        INFO("bytes: " << bytes);
        CHECK(status_of(bytes) == saslprep_status::invalid_utf8);
        CHECK(prepare_scram_password(bytes) == bytes);
    }
    CHECK(status_of("\xF4\x8F\xBF\xBD") == saslprep_status::prohibited);  // U+10FFFD: valid, private use
    CHECK(status_of("\xEF\xBF\xBD") == saslprep_status::prohibited);      // U+FFFD: valid, C.6
}

TEST_CASE("saslprep: ASCII passes through", "[saslprep]") {
    std::string printable;
    for (char c = 0x20; c < 0x7F; ++c) printable += c;
    CHECK(saslprep(printable).value == printable);
    CHECK(prepare_scram_password(printable) == printable);
    CHECK(prepare_scram_password("  pass word  ") == "  pass word  ");

    // The RFC prohibits ASCII controls; libpq passes pure ASCII through
    // untouched. Both give the same bytes to SCRAM.
    for (const std::string_view bytes : {std::string_view("tab\there"), std::string_view("del\x7F"),
                                         std::string_view("nul\0!", 5)}) {
        CHECK(status_of(bytes) == saslprep_status::prohibited);
        CHECK(prepare_scram_password(bytes) == bytes);
    }
}
