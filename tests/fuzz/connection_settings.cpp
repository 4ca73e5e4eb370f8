// Fuzz target: the text a user or an administrator writes to configure a
// connection, which an application may take from less trusted hands: the
// first input byte picks what the rest is read as
//   0  a conninfo string or postgresql:// URI (config::parse, with no
//      environment so that only the input counts); what parses must print
//      (config::to_string) as text that parses to the same settings;
//   1  a line of a password file, matched as lookup_passfile matches it;
//   2  a connection service file, searched for the section [svc].
// Malformed input must end in a pgcoro::error.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include <pgcoro/config.hpp>
#include <pgcoro/settings/passfile.hpp>
#include <pgcoro/settings/service_file.hpp>

namespace {

void parse_conninfo(std::string_view text) {
    const auto none = pgcoro::config::no_environment();
    const pgcoro::config parsed = pgcoro::config::parse(text, none);
    const std::string printed = parsed.to_string();
    if (pgcoro::config::parse(printed, none).to_string() != printed) __builtin_trap();
}

void match_passfile_line(std::string_view line) {
    using namespace pgcoro::detail;
    // The fields lookup_passfile matches, in order: host, port, database, user.
    auto pos = passfile_field_matches(line, 0, passfile_local_host);
    if (pos) pos = passfile_field_matches(line, *pos, "5432");
    if (pos) pos = passfile_field_matches(line, *pos, "db");
    if (pos) pos = passfile_field_matches(line, *pos, "user");
    if (pos) (void)passfile_password(line, *pos);
}

void read_service(std::string_view text) {
    const auto section = pgcoro::detail::read_service_section(text, "svc", "fuzz.conf");
    if (!section.found && !section.settings.empty()) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 1) return 0;
    const std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
    try {
        switch (data[0] % 3) {
        case 0: parse_conninfo(text); break;
        case 1: match_passfile_line(text); break;
        case 2: read_service(text); break;
        }
    } catch (const pgcoro::error&) {
    }
    return 0;
}
