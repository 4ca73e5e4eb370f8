// Connection strings and URIs as libpq reads them: parsing, defaults and
// environment, validation, secrecy of passwords, to_string, password file.
// Cases marked "libpq" come from libpq's documentation or its URI regression
// tests (src/interfaces/libpq/t/001_uri.pl).
#include <pgcoro/config.hpp>
#include "support/catch.hpp"

#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <string>
#include <vector>

using pgcoro::auth_method;
using pgcoro::channel_binding_mode;
using pgcoro::config;
using pgcoro::session_target;
using pgcoro::ssl_mode;
using Catch::Matchers::Contains;

namespace {

pgcoro::environment environment_of(std::map<std::string, std::string> vars) {
    return [vars = std::move(vars)](std::string_view name) -> std::optional<std::string> {
        const auto it = vars.find(std::string(name));
        if (it == vars.end()) return std::nullopt;
        return it->second;
    };
}

config parse_alone(std::string_view s) { return config::parse(s, config::no_environment()); }

std::string os_user_name() {
    const passwd* pw = ::getpwuid(::geteuid());
    REQUIRE(pw != nullptr);
    return pw->pw_name;
}

std::string default_host() {
    struct stat st {};
    return ::stat("/var/run/postgresql", &st) == 0 && S_ISDIR(st.st_mode) ? "/var/run/postgresql" : "/tmp";
}

// The message of the invalid_config error that parsing s throws.
std::string parse_error(std::string_view s, const pgcoro::environment& env = config::no_environment()) {
    try {
        (void)config::parse(s, env);
    } catch (const pgcoro::error& e) {
        CHECK(e.code() == pgcoro::errc::invalid_config);
        return e.what();
    }
    FAIL("no error parsing: " << s);
    return {};
}

// Sets (or unsets) a process environment variable for one scope.
class scoped_env_var {
public:
    scoped_env_var(const char* name, const char* value) : name_(name) {
        if (const char* old = std::getenv(name)) old_ = old;
        if (value)
            ::setenv(name, value, 1);
        else
            ::unsetenv(name);
    }
    ~scoped_env_var() {
        if (old_)
            ::setenv(name_.c_str(), old_->c_str(), 1);
        else
            ::unsetenv(name_.c_str());
    }
    scoped_env_var(const scoped_env_var&) = delete;
    scoped_env_var& operator=(const scoped_env_var&) = delete;

private:
    std::string name_;
    std::optional<std::string> old_;
};

class temp_dir {
public:
    temp_dir() {
        std::string pattern = (std::filesystem::temp_directory_path() / "pgcoro-conninfo-XXXXXX").string();
        REQUIRE(::mkdtemp(pattern.data()) != nullptr);
        path_ = pattern;
    }
    ~temp_dir() {
        std::error_code ec;
        std::filesystem::remove_all(path_, ec);
    }
    temp_dir(const temp_dir&) = delete;
    temp_dir& operator=(const temp_dir&) = delete;
    std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

private:
    std::filesystem::path path_;
};

std::string write_file(const std::filesystem::path& path, const std::string& text, mode_t mode) {
    std::ofstream(path, std::ios::binary) << text;
    REQUIRE(::chmod(path.c_str(), mode) == 0);
    return path.string();
}

// Expected outcome of a string; empty members mean "the default".
struct expected {
    std::vector<std::string> hosts{};
    std::vector<std::uint16_t> ports{};
    std::string dbname{};
    std::string user{};
    std::string password{};
    std::vector<std::string> hostaddrs{};
};

void check_parsed(std::string_view input, const expected& want) {
    INFO("input: " << input);
    const auto c = parse_alone(input);
    const auto user = want.user.empty() ? os_user_name() : want.user;
    CHECK(c.hosts == (want.hosts.empty() ? std::vector<std::string>{default_host()} : want.hosts));
    CHECK(c.ports == (want.ports.empty() ? std::vector<std::uint16_t>{5432} : want.ports));
    CHECK(c.user == user);
    CHECK(c.dbname == (want.dbname.empty() ? user : want.dbname));
    CHECK(c.password == want.password);
    CHECK(c.hostaddrs == want.hostaddrs);
}

}  // namespace

TEST_CASE("libpq's URI regression cases parse to libpq's results", "[conninfo][uri]") {
    const std::vector<std::pair<std::string_view, expected>> cases = {
        {"postgresql://uri-user:secret@host:12345/db", {{"host"}, {12345}, "db", "uri-user", "secret"}},
        {"postgresql://uri-user@host:12345/db", {{"host"}, {12345}, "db", "uri-user"}},
        {"postgresql://uri-user@host/db", {{"host"}, {}, "db", "uri-user"}},
        {"postgresql://host:12345/db", {{"host"}, {12345}, "db"}},
        {"postgresql://host/db", {{"host"}, {}, "db"}},
        {"postgresql://uri-user@host:12345/", {{"host"}, {12345}, "", "uri-user"}},
        {"postgresql://uri-user@host/", {{"host"}, {}, "", "uri-user"}},
        {"postgresql://uri-user@", {{}, {}, "", "uri-user"}},
        {"postgresql://host:12345/", {{"host"}, {12345}}},
        {"postgresql://host:12345", {{"host"}, {12345}}},
        {"postgresql://host/", {{"host"}}},
        {"postgresql://host", {{"host"}}},
        {"postgresql://", {}},
        {"postgresql://?hostaddr=127.0.0.1", {{"127.0.0.1"}, {}, "", "", "", {"127.0.0.1"}}},
        {"postgresql://example.com?hostaddr=63.1.2.4", {{"example.com"}, {}, "", "", "", {"63.1.2.4"}}},
        {"postgresql://%68ost/", {{"host"}}},
        {"postgresql://host/db?user=uri-user", {{"host"}, {}, "db", "uri-user"}},
        {"postgresql://host/db?user=uri-user&port=12345", {{"host"}, {12345}, "db", "uri-user"}},
        {"postgresql://host/db?u%73er=someotheruser&port=12345", {{"host"}, {12345}, "db", "someotheruser"}},
        {"postgresql://host:12345?user=uri-user", {{"host"}, {12345}, "", "uri-user"}},
        {"postgresql://host?user=uri-user", {{"host"}, {}, "", "uri-user"}},
        {"postgresql://host?", {{"host"}}},
        {"postgresql://[::1]:12345/db", {{"::1"}, {12345}, "db"}},
        {"postgresql://[::1]/db", {{"::1"}, {}, "db"}},
        {"postgresql://[2001:db8::1234]/", {{"2001:db8::1234"}}},
        {"postgresql://[200z:db8::1234]/", {{"200z:db8::1234"}}},
        {"postgresql://[::1]", {{"::1"}}},
        {"postgres://", {}},
        {"postgres:///", {}},
        {"postgres:///db", {{}, {}, "db"}},
        {"postgres://uri-user@/db", {{}, {}, "db", "uri-user"}},
        {"postgres://?host=/path/to/socket/dir", {{"/path/to/socket/dir"}}},
        {"postgres://@host", {{"host"}}},
        {"postgres://host:/", {{"host"}}},
        {"postgres://:12345/", {{}, {12345}}},
        {"postgres://otheruser@?host=/no/such/directory", {{"/no/such/directory"}, {}, "", "otheruser"}},
        {"postgres://otheruser@/?host=/no/such/directory", {{"/no/such/directory"}, {}, "", "otheruser"}},
        {"postgres://otheruser@:12345?host=/no/such/socket/path", {{"/no/such/socket/path"}, {12345}, "", "otheruser"}},
        {"postgres://otheruser@:12345/db?host=/path/to/socket", {{"/path/to/socket"}, {12345}, "db", "otheruser"}},
        {"postgres://:12345/db?host=/path/to/socket", {{"/path/to/socket"}, {12345}, "db"}},
        {"postgres://:12345?host=/path/to/socket", {{"/path/to/socket"}, {12345}}},
        {"postgres://%2Fvar%2Flib%2Fpostgresql/dbname", {{"/var/lib/postgresql"}, {}, "dbname"}},
    };
    for (const auto& [input, want] : cases) check_parsed(input, want);
}

TEST_CASE("URIs from libpq's documentation and multi-host URIs", "[conninfo][uri]") {
    const std::vector<std::pair<std::string_view, expected>> cases = {
        {"postgresql://localhost", {{"localhost"}}},
        {"postgresql://localhost:5433", {{"localhost"}, {5433}}},
        {"postgresql://localhost/mydb", {{"localhost"}, {}, "mydb"}},
        {"postgresql://user@localhost", {{"localhost"}, {}, "", "user"}},
        {"postgresql://user:secret@localhost", {{"localhost"}, {}, "", "user", "secret"}},
        {"postgresql://other@localhost/otherdb?connect_timeout=10&application_name=myapp",
         {{"localhost"}, {}, "otherdb", "other"}},
        {"postgresql://localhost/mydb?user=other&password=secret", {{"localhost"}, {}, "mydb", "other", "secret"}},
        {"postgresql:///mydb?host=localhost&port=5433", {{"localhost"}, {5433}, "mydb"}},
        {"postgresql://[2001:db8::1234]/database", {{"2001:db8::1234"}, {}, "database"}},
        {"postgresql:///dbname?host=/var/lib/postgresql", {{"/var/lib/postgresql"}, {}, "dbname"}},
        {"postgresql://host1:123,host2:456/somedb?target_session_attrs=any&application_name=myapp",
         {{"host1", "host2"}, {123, 456}, "somedb"}},
        // A host without a port in a list gets the default port.
        {"postgresql://a,b:5433", {{"a", "b"}, {5432, 5433}}},
        {"postgresql://[::1]:5433,[fe80::1]/d", {{"::1", "fe80::1"}, {5433, 5432}, "d"}},
        {"postgresql://a:1,[::1]:2,c:3", {{"a", "::1", "c"}, {1, 2, 3}}},
        // Percent-decoding in every part; '+' is not a space.
        {"postgresql://us%40er:p%40ss%3Aw+rd@h%6Fst/d%20b", {{"host"}, {}, "d b", "us@er", "p@ss:w+rd"}},
        // The query overrides the parts before it.
        {"postgresql://u1@host/db1?user=u2&dbname=db2", {{"host"}, {}, "db2", "u2"}},
        {"postgres://h?password=p%26w", {{"h"}, {}, "", "", "p&w"}},
    };
    for (const auto& [input, want] : cases) check_parsed(input, want);
}

TEST_CASE("URI query parameters take conninfo keywords and libpq's aliases", "[conninfo][uri]") {
    auto c = parse_alone("postgresql://h/d?sslmode=verify-ca&application_name=my%20app&connect_timeout=5"
                         "&target_session_attrs=read-write&channel_binding=require&options=-c%20geqo%3Doff");
    CHECK(c.sslmode == ssl_mode::verify_ca);
    CHECK(c.application_name == "my app");
    CHECK(c.connect_timeout == std::chrono::seconds{5});
    CHECK(c.target_session_attrs == session_target::read_write);
    CHECK(c.channel_binding == channel_binding_mode::require);
    CHECK(c.options == "-c geqo=off");

    CHECK(parse_alone("postgresql://h?ssl=true").sslmode == ssl_mode::require);
    CHECK(parse_alone("postgresql://h?requiressl=1").sslmode == ssl_mode::require);
    CHECK(parse_alone("requiressl=0 sslmode=disable requiressl=0").sslmode == ssl_mode::prefer);
    // Only ssl=true is an alias; anything else is an unknown parameter, as in libpq.
    CHECK_THAT(parse_error("postgresql://h?ssl=false"), Contains("invalid URI query parameter: \"ssl\""));
}

TEST_CASE("libpq's URI error cases fail with libpq's messages", "[conninfo][uri]") {
    const std::vector<std::pair<std::string_view, std::string_view>> cases = {
        {"postgresql://host/db?u%7aer=someotheruser&port=12345", "invalid URI query parameter: \"uzer\""},
        {"postgresql://host?uzer=", "invalid URI query parameter: \"uzer\""},
        {"postgre://", "missing \"=\" after \"postgre://\" in connection info string"},
        {"postgres://[::1",
         "end of string reached when looking for matching \"]\" in IPv6 host address in URI: \"postgres://[::1\""},
        {"postgres://[]", "IPv6 host address may not be empty in URI: \"postgres://[]\""},
        {"postgres://[::1]z",
         "unexpected character \"z\" at position 17 in URI (expected \":\" or \"/\"): \"postgres://[::1]z\""},
        {"postgresql://host?zzz", "missing key/value separator \"=\" in URI query parameter: \"zzz\""},
        {"postgresql://host?value1&value2", "missing key/value separator \"=\" in URI query parameter: \"value1\""},
        {"postgresql://host?key=key=value", "extra key/value separator \"=\" in URI query parameter: \"key\""},
        {"postgres://host?dbname=%XXfoo", "invalid percent-encoded token: \"%XXfoo\""},
        {"postgresql://a%00b", "forbidden value %00 in percent-encoded value: \"a%00b\""},
        {"postgresql://%zz", "invalid percent-encoded token: \"%zz\""},
        {"postgresql://%1", "invalid percent-encoded token: \"%1\""},
        {"postgresql://%", "invalid percent-encoded token: \"%\""},
        {"postgresql://h:port/", "invalid integer value \"port\" for connection option \"port\""},
        {"postgresql://h:70000/", "invalid port number: \"70000\""},
    };
    for (const auto& [input, message] : cases) {
        INFO("input: " << input);
        CHECK_THAT(parse_error(input), Contains(std::string(message)));
    }
}

TEST_CASE("sslrootcert=system raises the default sslmode and refuses weaker ones (libpq 16)", "[conninfo]") {
    const auto system_roots = environment_of({{"PGSSLROOTCERT", "system"}});
    CHECK(config::parse("postgresql://host", system_roots).sslmode == ssl_mode::verify_full);
    CHECK(config::parse("postgresql://host?sslmode=verify-full", system_roots).sslmode == ssl_mode::verify_full);
    CHECK_THAT(parse_error("postgresql://host?sslmode=disable", system_roots),
               Contains("weak sslmode \"disable\" may not be used with sslrootcert=system"));
    CHECK_THAT(parse_error("sslrootcert=system", environment_of({{"PGSSLMODE", "require"}})),
               Contains("weak sslmode \"require\"") && Contains("PGSSLMODE"));
    CHECK(parse_alone("sslrootcert=/etc/root.crt").sslmode == ssl_mode::prefer);
}

TEST_CASE("keyword=value strings follow libpq's lexical rules", "[conninfo]") {
    const std::vector<std::pair<std::string_view, expected>> cases = {
        {"", {}},
        {"   \t\n ", {}},
        {"host=localhost port=5432 dbname=mydb connect_timeout=10", {{"localhost"}, {5432}, "mydb"}},
        {"  host = localhost\tport=\n5433  ", {{"localhost"}, {5433}}},
        {"user=alice password='it\\'s a \\\\secret'", {{}, {}, "", "alice", "it's a \\secret"}},
        {"user=al\\ ice password=a\\'b", {{}, {}, "", "al ice", "a'b"}},
        {"dbname='' host=''", {}},
        {"dbname='my db'", {{}, {}, "my db"}},
        {"host=/tmp", {{"/tmp"}}},
        {"host='/var/run/my sockets'", {{"/var/run/my sockets"}}},
        // The last non-empty value wins.
        {"port=1 port=2", {{}, {2}}},
        {"host=a host=''", {{"a"}}},
        {"user=x password=p password=", {{}, {}, "", "x", "p"}},
        // A value may contain '=' (but a dbname with one is a connection string).
        {"user=a\\=b", {{}, {}, "", "a=b"}},
        // libpq skips whitespace after '=', so an empty unquoted value takes the next word.
        {"host= port=5", {{"port=5"}}},
        {"host=a,b,c port=5432,5433,5434", {{"a", "b", "c"}, {5432, 5433, 5434}}},
        {"host=a,b port=5433", {{"a", "b"}, {5433}}},
        {"host=a,,c port=1,,3", {{"a", default_host(), "c"}, {1, 5432, 3}}},
        {"hostaddr=127.0.0.1", {{"127.0.0.1"}, {}, "", "", "", {"127.0.0.1"}}},
        {"host=example.com hostaddr=192.0.2.1", {{"example.com"}, {}, "", "", "", {"192.0.2.1"}}},
        {"host=a,b hostaddr=192.0.2.1,", {{"a", "b"}, {}, "", "", "", {"192.0.2.1", ""}}},
        {"hostaddr=::1,192.0.2.7 port=1,2", {{"::1", "192.0.2.7"}, {1, 2}, "", "", "", {"::1", "192.0.2.7"}}},
        {"hostaddr=,192.0.2.7", {{default_host(), "192.0.2.7"}, {}, "", "", "", {"", "192.0.2.7"}}},
        {"hostaddr=fe80::1%eth0", {{"fe80::1%eth0"}, {}, "", "", "", {"fe80::1%eth0"}}},
    };
    for (const auto& [input, want] : cases) check_parsed(input, want);
}

TEST_CASE("every keyword reaches its field", "[conninfo]") {
    const auto c = parse_alone(
        "host=h port=6000 dbname=d user=u password=pw passfile=/pf connect_timeout=30 application_name=app "
        "fallback_application_name=fb options='-c work_mem=64MB' sslmode=verify-full sslrootcert=/ca.crt "
        "sslcert=/c.crt sslkey=/c.key sslpassword=kp sslsni=0 channel_binding=disable require_auth=scram-sha-256 "
        "target_session_attrs=standby keepalives=0 keepalives_idle=60 keepalives_interval=5 keepalives_count=4");
    CHECK(c.hosts == std::vector<std::string>{"h"});
    CHECK(c.ports == std::vector<std::uint16_t>{6000});
    CHECK(c.dbname == "d");
    CHECK(c.user == "u");
    CHECK(c.password == "pw");
    CHECK(c.passfile == "/pf");
    CHECK(c.connect_timeout == std::chrono::seconds{30});
    CHECK(c.application_name == "app");
    CHECK(c.fallback_application_name == "fb");
    CHECK(c.options == "-c work_mem=64MB");
    CHECK(c.sslmode == ssl_mode::verify_full);
    CHECK(c.sslrootcert == "/ca.crt");
    CHECK(c.sslcert == "/c.crt");
    CHECK(c.sslkey == "/c.key");
    CHECK(c.sslpassword == "kp");
    CHECK_FALSE(c.sslsni);
    CHECK(c.channel_binding == channel_binding_mode::disable);
    CHECK(c.require_auth.mask == static_cast<std::uint8_t>(auth_method::scram_sha_256));
    CHECK(c.target_session_attrs == session_target::standby);
    CHECK_FALSE(c.keepalives);
    CHECK(c.keepalives_idle == 60);
    CHECK(c.keepalives_interval == 5);
    CHECK(c.keepalives_count == 4);
}

TEST_CASE("defaults when nothing is given", "[conninfo]") {
    const auto c = parse_alone("");
    const config defaults;
    CHECK(c.hosts == std::vector<std::string>{default_host()});
    CHECK(c.ports == std::vector<std::uint16_t>{5432});
    CHECK(c.user == os_user_name());
    CHECK(c.dbname == os_user_name());
    CHECK(c.password.empty());
    CHECK(c.sslmode == ssl_mode::prefer);
    CHECK(c.channel_binding == channel_binding_mode::prefer);
    CHECK(c.require_auth == pgcoro::auth_methods::all());
    CHECK(c.connect_timeout == std::chrono::seconds{0});
    CHECK(c.sslsni);
    CHECK(c.keepalives);
    // Apart from the resolved host, port, user and dbname, nothing changes.
    auto rest = c;
    rest.hosts.clear();
    rest.ports.clear();
    rest.user.clear();
    rest.dbname.clear();
    CHECK(rest == defaults);
}

TEST_CASE("values follow libpq's semantics", "[conninfo]") {
    SECTION("connect_timeout: at most 0 waits forever, 1 becomes 2") {
        CHECK(parse_alone("connect_timeout=0").connect_timeout == std::chrono::seconds{0});
        CHECK(parse_alone("connect_timeout=-5").connect_timeout == std::chrono::seconds{0});
        CHECK(parse_alone("connect_timeout=1").connect_timeout == std::chrono::seconds{2});
        CHECK(parse_alone("connect_timeout=2").connect_timeout == std::chrono::seconds{2});
        CHECK(parse_alone("connect_timeout=' 15 '").connect_timeout == std::chrono::seconds{15});
    }
    SECTION("keepalives: any non-zero integer is on; negative intervals are the system default") {
        CHECK(parse_alone("keepalives=1").keepalives);
        CHECK(parse_alone("keepalives=7").keepalives);
        CHECK_FALSE(parse_alone("keepalives=0").keepalives);
        const auto c = parse_alone("keepalives_idle=-1 keepalives_interval=-2 keepalives_count=-3");
        CHECK(c.keepalives_idle == 0);
        CHECK(c.keepalives_interval == 0);
        CHECK(c.keepalives_count == 0);
    }
    SECTION("every sslmode, channel_binding and target_session_attrs") {
        CHECK(parse_alone("sslmode=disable").sslmode == ssl_mode::disable);
        CHECK(parse_alone("sslmode=allow").sslmode == ssl_mode::allow);
        CHECK(parse_alone("sslmode=prefer").sslmode == ssl_mode::prefer);
        CHECK(parse_alone("sslmode=require").sslmode == ssl_mode::require);
        CHECK(parse_alone("sslmode=verify-ca").sslmode == ssl_mode::verify_ca);
        CHECK(parse_alone("sslmode=verify-full").sslmode == ssl_mode::verify_full);
        CHECK(parse_alone("channel_binding=prefer").channel_binding == channel_binding_mode::prefer);
        CHECK(parse_alone("channel_binding=require").channel_binding == channel_binding_mode::require);
        CHECK(parse_alone("target_session_attrs=any").target_session_attrs == session_target::any);
        CHECK(parse_alone("target_session_attrs=read-only").target_session_attrs == session_target::read_only);
        CHECK(parse_alone("target_session_attrs=primary").target_session_attrs == session_target::primary);
        CHECK(parse_alone("target_session_attrs=prefer-standby").target_session_attrs ==
              session_target::prefer_standby);
    }
    SECTION("a host starting with '/' is a socket directory, kept as given") {
        CHECK(parse_alone("host=/run/pg,db,/tmp").hosts == std::vector<std::string>{"/run/pg", "db", "/tmp"});
    }
}

TEST_CASE("require_auth lists allowed or forbidden methods (libpq 16)", "[conninfo][require_auth]") {
    using pgcoro::auth_methods;
    const auto bits = [](std::initializer_list<auth_method> ms) {
        std::uint8_t m = 0;
        for (auto x : ms) m |= static_cast<std::uint8_t>(x);
        return m;
    };
    CHECK(parse_alone("require_auth=password").require_auth.mask == bits({auth_method::password}));
    CHECK(parse_alone("require_auth=scram-sha-256,none").require_auth.mask ==
          bits({auth_method::scram_sha_256, auth_method::none}));
    CHECK(parse_alone("require_auth=md5,gss,sspi").require_auth.mask ==
          bits({auth_method::md5, auth_method::gss, auth_method::sspi}));
    const auto negative = parse_alone("require_auth=!password,!md5").require_auth;
    CHECK(negative.mask == static_cast<std::uint8_t>(auth_methods::all().mask & ~bits({auth_method::password, auth_method::md5})));
    CHECK(negative.allows(auth_method::scram_sha_256));
    CHECK(negative.allows(auth_method::none));
    CHECK_FALSE(negative.allows(auth_method::md5));
    const auto authenticate = parse_alone("require_auth=!none").require_auth;
    CHECK_FALSE(authenticate.allows(auth_method::none));
    CHECK(authenticate.allows(auth_method::password));

    const std::vector<std::pair<std::string_view, std::string_view>> errors = {
        {"require_auth=password,!md5", "negative require_auth method \"!md5\" cannot be mixed with non-negative methods"},
        {"require_auth=!md5,password", "require_auth method \"password\" cannot be mixed with negative methods"},
        {"require_auth=md5,md5", "require_auth method \"md5\" is specified more than once"},
        {"require_auth=!md5,!md5", "require_auth method \"!md5\" is specified more than once"},
        {"require_auth=none,none", "require_auth method \"none\" is specified more than once"},
        {"require_auth=kerberos", "invalid require_auth value: \"kerberos\""},
        {"require_auth=md5,", "invalid require_auth value: \"\""},
        {"require_auth=SCRAM-SHA-256", "invalid require_auth value: \"SCRAM-SHA-256\""},
    };
    for (const auto& [input, message] : errors) {
        INFO("input: " << input);
        CHECK_THAT(parse_error(input), Contains(std::string(message)));
    }
}

TEST_CASE("malformed strings and invalid values fail, naming the keyword", "[conninfo][errors]") {
    const std::vector<std::pair<std::string_view, std::string_view>> cases = {
        {"foo", "missing \"=\" after \"foo\" in connection info string at offset 0"},
        {"host=a port", "missing \"=\" after \"port\" in connection info string at offset 7"},
        {"host=a foo=bar", "invalid connection option \"foo\" at offset 7"},
        {"=x", "invalid connection option \"\""},
        {"host='abc", "unterminated quoted string in connection info string"},
        {"sslmode=maybe", "invalid sslmode value: \"maybe\""},
        {"sslmode=REQUIRE", "invalid sslmode value: \"REQUIRE\""},
        {"channel_binding=yes", "invalid channel_binding value: \"yes\""},
        {"target_session_attrs=master", "invalid target_session_attrs value: \"master\""},
        {"sslsni=yes", "invalid sslsni value: \"yes\""},
        {"sslsni=2", "invalid sslsni value: \"2\""},
        {"keepalives=on", "invalid integer value \"on\" for connection option \"keepalives\""},
        {"keepalives_idle=1e3", "invalid integer value \"1e3\" for connection option \"keepalives_idle\""},
        {"keepalives_interval=x", "connection option \"keepalives_interval\""},
        {"keepalives_count=99999999999", "connection option \"keepalives_count\""},
        {"connect_timeout=10s", "invalid integer value \"10s\" for connection option \"connect_timeout\""},
        {"port=0", "invalid port number: \"0\""},
        {"port=65536", "invalid port number: \"65536\""},
        {"port=abc", "invalid integer value \"abc\" for connection option \"port\""},
        {"host=a,b port=5432,x", "invalid integer value \"x\" for connection option \"port\""},
        {"host=a,b,c port=1,2", "could not match 2 port numbers to 3 hosts"},
        {"port=1,2", "could not match 2 port numbers to 1 hosts"},
        {"host=a,b hostaddr=192.0.2.1", "could not match 2 host names to 1 hostaddr values"},
        {"hostaddr=db.example.com", "could not parse network address \"db.example.com\" in hostaddr"},
        {"hostaddr=192.0.2.1,300.1.1.1", "could not parse network address \"300.1.1.1\""},
        {"hostaddr=fe80::1%", "could not parse network address \"fe80::1%\""},
        {"hostaddr=192.0.2.1%eth0", "could not parse network address \"192.0.2.1%eth0\""},
        {"tcp_user_timeout=soon", "invalid integer value \"soon\" for connection option \"tcp_user_timeout\""},
        {"client_encoding=LATIN1", "connection option \"client_encoding\" is not supported by pgcoro"},
        {"gssencmode=require", "connection option \"gssencmode\" is not supported by pgcoro"},
        {"load_balance_hosts=sometimes", "invalid load_balance_hosts value: \"sometimes\""},
        {"statement_mode=always", "invalid statement_mode value: \"always\""},
        {"dbname='host=a foo=1'", "invalid connection option \"foo\""},
        {"dbname='postgresql://h:0/d'", "invalid port number: \"0\""},
        {std::string_view("host=a\0b", 8), "NUL byte at offset 6"},
    };
    for (const auto& [input, message] : cases) {
        INFO("input: " << input);
        CHECK_THAT(parse_error(input), Contains(std::string(message)));
    }
    CHECK_THAT(parse_error("dbname='host=a foo=1'"), Contains("in the connection string given as dbname"));
}

TEST_CASE("load_balance_hosts and statement_mode are read, written back and checked", "[conninfo]") {
    const auto cfg = parse_alone("host=a,b load_balance_hosts=random statement_mode=describe");
    CHECK(cfg.load_balance_hosts == pgcoro::load_balance::random);
    CHECK(cfg.statements == pgcoro::statement_mode::describe);
    CHECK(parse_alone(cfg.to_string()) == cfg);
    CHECK(parse_alone("host=h load_balance_hosts=disable statement_mode=auto") == parse_alone("host=h"));
    CHECK(parse_alone("host=h statement_mode=unnamed").statements == pgcoro::statement_mode::unnamed);
    CHECK(parse_alone("host=h statement_mode=prepare").statements == pgcoro::statement_mode::prepare);
}

TEST_CASE("libpq keywords pgcoro lacks are accepted with the values that change nothing", "[conninfo]") {
    const auto plain = parse_alone("host=h");
    CHECK(parse_alone("host=h client_encoding=UTF8 gssencmode=disable") == plain);
    CHECK(parse_alone("postgresql://h?gssencmode=prefer&client_encoding=utf8&sslcompression=0") == plain);
}

TEST_CASE("a dbname that is a connection string is expanded, once", "[conninfo][dbname]") {
    const auto from_conninfo = parse_alone("dbname='host=h2 port=5433 dbname=real user=u'");
    CHECK(from_conninfo.hosts == std::vector<std::string>{"h2"});
    CHECK(from_conninfo.ports == std::vector<std::uint16_t>{5433});
    CHECK(from_conninfo.dbname == "real");
    CHECK(from_conninfo.user == "u");

    const auto from_uri = parse_alone("dbname=postgresql://u@h3:6000/d3 application_name=x");
    CHECK(from_uri.hosts == std::vector<std::string>{"h3"});
    CHECK(from_uri.ports == std::vector<std::uint16_t>{6000});
    CHECK(from_uri.dbname == "d3");
    CHECK(from_uri.user == "u");
    CHECK(from_uri.application_name == "x");

    // Its settings override earlier ones and are overridden by later ones.
    CHECK(parse_alone("host=before dbname='host=inside'").hosts == std::vector<std::string>{"inside"});
    CHECK(parse_alone("dbname='host=inside' host=after").hosts == std::vector<std::string>{"after"});
    // Only the first dbname is expanded; a later one, and one inside, are names.
    const auto twice = parse_alone("dbname='host=first' dbname='host=second'");
    CHECK(twice.hosts == std::vector<std::string>{"first"});
    CHECK(twice.dbname == "host=second");
    CHECK(parse_alone("dbname='dbname=a=b'").dbname == "a=b");
    // Expansion is only for dbname.
    CHECK(parse_alone("application_name='host=x'").application_name == "host=x");
    // A URI's path is a database name, whatever it contains; its query is not exempt.
    CHECK(parse_alone("postgresql://h/db%3Dx").dbname == "db=x");
    CHECK(parse_alone("postgresql://h/?dbname=host%3Dinner").hosts == std::vector<std::string>{"inner"});
    CHECK_THAT(parse_error("dbname=a\\=b"), Contains("invalid connection option \"a\""));
}

TEST_CASE("environment variables fill what the string leaves unset", "[conninfo][env]") {
    const auto env = environment_of({
        {"PGHOST", "envhost"},
        {"PGPORT", "6543"},
        {"PGDATABASE", "envdb"},
        {"PGUSER", "envuser"},
        {"PGPASSWORD", "envpw"},
        {"PGPASSFILE", "/env/pgpass"},
        {"PGOPTIONS", "-c geqo=off"},
        {"PGAPPNAME", "envapp"},
        {"PGSSLMODE", "require"},
        {"PGSSLCERT", "/env/c.crt"},
        {"PGSSLKEY", "/env/c.key"},
        {"PGSSLROOTCERT", "/env/root.crt"},
        {"PGSSLSNI", "0"},
        {"PGCHANNELBINDING", "disable"},
        {"PGREQUIREAUTH", "md5"},
        {"PGTARGETSESSIONATTRS", "read-only"},
        {"PGCONNECT_TIMEOUT", "9"},
    });
    SECTION("all of them") {
        const auto c = config::parse("", env);
        CHECK(c.hosts == std::vector<std::string>{"envhost"});
        CHECK(c.ports == std::vector<std::uint16_t>{6543});
        CHECK(c.dbname == "envdb");
        CHECK(c.user == "envuser");
        CHECK(c.password == "envpw");
        CHECK(c.passfile == "/env/pgpass");
        CHECK(c.options == "-c geqo=off");
        CHECK(c.application_name == "envapp");
        CHECK(c.sslmode == ssl_mode::require);
        CHECK(c.sslcert == "/env/c.crt");
        CHECK(c.sslkey == "/env/c.key");
        CHECK(c.sslrootcert == "/env/root.crt");
        CHECK_FALSE(c.sslsni);
        CHECK(c.channel_binding == channel_binding_mode::disable);
        CHECK(c.require_auth.mask == static_cast<std::uint8_t>(auth_method::md5));
        CHECK(c.target_session_attrs == session_target::read_only);
        CHECK(c.connect_timeout == std::chrono::seconds{9});
    }
    SECTION("explicit values win, also from a URI") {
        const auto c = config::parse("host=h port=1 dbname=d user=u password=p sslmode=disable", env);
        CHECK(c.hosts == std::vector<std::string>{"h"});
        CHECK(c.ports == std::vector<std::uint16_t>{1});
        CHECK(c.dbname == "d");
        CHECK(c.user == "u");
        CHECK(c.password == "p");
        CHECK(c.sslmode == ssl_mode::disable);
        CHECK(c.application_name == "envapp");
        const auto u = config::parse("postgresql://uu@hh:2/dd", env);
        CHECK(u.hosts == std::vector<std::string>{"hh"});
        CHECK(u.user == "uu");
        CHECK(u.dbname == "dd");
        CHECK(u.password == "envpw");
    }
    SECTION("an empty value counts as not set") {
        CHECK(config::parse("host='' port=''", env).hosts == std::vector<std::string>{"envhost"});
        CHECK(config::parse("postgresql:///", env).dbname == "envdb");
        const auto c = config::parse("", environment_of({{"PGHOST", ""}, {"PGUSER", ""}, {"PGSSLMODE", ""}}));
        CHECK(c.hosts == std::vector<std::string>{default_host()});
        CHECK(c.user == os_user_name());
        CHECK(c.sslmode == ssl_mode::prefer);
    }
    SECTION("dbname defaults to the user, wherever the user came from") {
        CHECK(config::parse("", environment_of({{"PGUSER", "envuser"}})).dbname == "envuser");
        CHECK(config::parse("user=u", environment_of({{"PGUSER", "envuser"}})).dbname == "u");
    }
    SECTION("host lists and hostaddr from the environment") {
        const auto c = config::parse("host=a,b", environment_of({{"PGPORT", "5433"}, {"PGHOSTADDR", "192.0.2.1,192.0.2.2"}}));
        CHECK(c.hosts == std::vector<std::string>{"a", "b"});
        CHECK(c.hostaddrs == std::vector<std::string>{"192.0.2.1", "192.0.2.2"});
        CHECK(c.ports == std::vector<std::uint16_t>{5433});
    }
    SECTION("invalid environment values fail, naming the variable") {
        CHECK_THAT(parse_error("", environment_of({{"PGSSLMODE", "bogus"}})),
                   Contains("invalid sslmode value: \"bogus\"") && Contains("PGSSLMODE"));
        CHECK_THAT(parse_error("", environment_of({{"PGCONNECT_TIMEOUT", "soon"}})),
                   Contains("connect_timeout") && Contains("PGCONNECT_TIMEOUT"));
        CHECK_THAT(parse_error("host=a,b,c", environment_of({{"PGPORT", "1,2"}})),
                   Contains("could not match 2 port numbers to 3 hosts") && Contains("PGPORT"));
        CHECK_THAT(parse_error("", environment_of({{"PGREQUIREAUTH", "md5,!gss"}})), Contains("PGREQUIREAUTH"));
        CHECK_THAT(parse_error("", environment_of({{"PGTARGETSESSIONATTRS", "x"}})), Contains("PGTARGETSESSIONATTRS"));
        CHECK_THAT(parse_error("", environment_of({{"PGSSLSNI", "on"}})), Contains("PGSSLSNI"));
        CHECK_THAT(parse_error("", environment_of({{"PGCHANNELBINDING", "on"}})), Contains("PGCHANNELBINDING"));
        // An explicit value is not blamed on the environment.
        CHECK_THAT(parse_error("sslmode=bogus", environment_of({{"PGSSLMODE", "require"}})),
                   !Contains("PGSSLMODE"));
    }
    SECTION("variables of features pgcoro lacks are ignored") {
        CHECK(config::parse("host=h", environment_of({{"PGCLIENTENCODING", "LATIN1"}, {"PGGSSENCMODE", "require"}})) ==
              parse_alone("host=h"));
    }
}

TEST_CASE("the process environment is read through std::getenv", "[conninfo][env]") {
    scoped_env_var app("PGAPPNAME", "from-process-env");
    scoped_env_var host("PGHOST", "process-host");
    CHECK(config::process_environment()("PGAPPNAME") == std::optional<std::string>("from-process-env"));
    CHECK_FALSE(config::no_environment()("PGAPPNAME").has_value());
    const auto c = config::parse("");
    CHECK(c.application_name == "from-process-env");
    CHECK(c.hosts == std::vector<std::string>{"process-host"});
    CHECK(config::parse("", config::no_environment()).application_name.empty());
}

TEST_CASE("passwords never appear in error messages", "[conninfo][secrets]") {
    const std::vector<std::string_view> inputs = {
        "password=hunter2 sslmode=bogus",
        "password=hunter2 foo=bar",
        "password=hunter2 hunter2-more words host=x",  // a password with a space, unquoted
        "password=hunter2 hunter2tail=x",
        "password=hunter2 hunter2 service=x",
        "sslpassword=hunter2 hunter2rest",
        "password='hunter2",
        "password='hunter2' port=hunter2x",  // the port is not a secret; its value is shown
        "postgresql://user:hunter2@[::1",
        "postgresql://user:hunter2@[]",
        "postgresql://user:hunter2@[::1]x",
        "postgresql://user:hunter2@h?zzz",
        "postgresql://user:hunter2%zz@host",
        "postgresql://user:hunter2%00@host",
        "postgresql://host?password=hunter2%zz",
        "postgresql://host?sslpassword=hunter2%00",
        "postgresql://[::1?password=hunter2",
        "postgresql://[::1?sslpassword=hunter2&x=1",
        "postgresql://[::1?pass%77ord=hunter2",
        "dbname='postgresql://u:hunter2@[::1'",
        "dbname='password=hunter2 hunter2oops'",
    };
    for (const auto input : inputs) {
        INFO("input: " << input);
        const auto message = parse_error(input);
        if (input.find("hunter2x") != std::string_view::npos) {
            CHECK_THAT(message, Contains("\"hunter2x\""));
            continue;
        }
        CHECK_THAT(message, !Contains("hunter2"));
    }
    // The URI is still quoted, with the password masked.
    CHECK_THAT(parse_error("postgresql://user:hunter2@[::1"), Contains("\"postgresql://user:********@[::1\""));
    CHECK_THAT(parse_error("postgresql://[::1?password=hunter2"), Contains("password=********"));
}

TEST_CASE("to_string writes the non-default settings, masking secrets", "[conninfo][to_string]") {
    CHECK(parse_alone("host=h port=5433 dbname=d user=u password=p sslmode=require").to_string() ==
          "host=h port=5433 dbname=d user=u password=******** sslmode=require");
    CHECK(parse_alone("host=h dbname=d user=u application_name='my app' options='-c a=\\'b\\''").to_string() ==
          "host=h port=5432 dbname=d user=u application_name='my app' options='-c a=\\'b\\''");
    CHECK(parse_alone("host=h user=u dbname=d require_auth=!password,!md5 sslsni=0 keepalives=0").to_string() ==
          "host=h port=5432 dbname=d user=u sslsni=0 require_auth=!password,!md5 keepalives=0");
    CHECK(config{}.to_string().empty());

    const auto secret = parse_alone("postgresql://u:s3cr3t-pw@h/d?sslpassword=k3y-pw");
    CHECK_THAT(secret.to_string(), !Contains("s3cr3t-pw") && !Contains("k3y-pw"));
    CHECK_THAT(secret.to_string(), Contains("password=********") && Contains("sslpassword=********"));
}

TEST_CASE("to_string round-trips through parse", "[conninfo][to_string]") {
    const std::vector<std::string_view> inputs = {
        "",
        "host=a,b,c port=5432,5433,5434 dbname=d user=u",
        "host=a,b hostaddr=192.0.2.1, port=6000",
        "hostaddr=::1,192.0.2.7",
        "password=p sslpassword=q user=u",
        "application_name='it\\'s' options='-c search_path=a\\\\b' fallback_application_name=' '",
        "dbname='dbname=a=b'",
        "dbname='dbname=postgresql://not-a-uri'",
        "dbname='my db' user='x y'",
        "connect_timeout=1 keepalives=0 keepalives_idle=10 keepalives_interval=3 keepalives_count=2",
        "sslmode=verify-ca sslrootcert=/r sslcert=/c sslkey=/k sslsni=0 channel_binding=require",
        "sslrootcert=system",
        "require_auth=password",
        "require_auth=scram-sha-256,none",
        "require_auth=!none",
        "require_auth=!password,!md5,!gss,!sspi,!scram-sha-256,!none",
        "require_auth=password,md5,gss,sspi",
        "target_session_attrs=prefer-standby passfile=/p",
        "postgresql://u:pw@[::1]:5433,h2/db?application_name=x%20y",
    };
    for (const auto input : inputs) {
        INFO("input: " << input);
        const auto c = parse_alone(input);
        const auto text = c.to_string();
        INFO("to_string: " << text);
        auto again = parse_alone(text);
        CHECK(again.password == (c.password.empty() ? "" : "********"));
        CHECK(again.sslpassword == (c.sslpassword.empty() ? "" : "********"));
        again.password = c.password;
        again.sslpassword = c.sslpassword;
        CHECK(again == c);
    }
}

TEST_CASE("password file lookup follows libpq's rules", "[conninfo][passfile]") {
    temp_dir dir;
    const auto path = write_file(dir / "pgpass",
                                 "# comment *:*:*:alice:from-comment\n"
                                 "db.example.com:5432:mydb:alice:pw1\n"
                                 "\n"
                                 "db.example.com:*:*:bob:pw2\n"
                                 "*:5433:*:*:pw3\n"
                                 "localhost:5432:*:carol:pw4\n"
                                 "/tmp/sock:5432:*:dave:pw5\n"
                                 "host\\:with\\:colons:5432:*:erin:pw\\:with\\\\backslash\n"
                                 "*:*:*:frank:first\n"
                                 "*:*:*:frank:second\n"
                                 "*:*:*:grace:pw7:ignored\n"
                                 "*:*:*:heidi\n"
                                 "\\*:*:*:ivan:literal-star\n"
                                 "*:*:*:ivan:any-host\n",
                                 0600);
    struct lookup_case {
        std::string_view host;
        std::uint16_t port;
        std::string_view dbname, user;
        std::optional<std::string> password;
    };
    const std::vector<lookup_case> cases = {
        {"db.example.com", 5432, "mydb", "alice", "pw1"},
        {"db.example.com", 5432, "otherdb", "alice", std::nullopt},
        {"db.example.com", 5432, "mydb", "ALICE", std::nullopt},
        {"DB.example.com", 5432, "mydb", "alice", std::nullopt},
        {"db.example.com", 9999, "any", "bob", "pw2"},
        {"elsewhere", 5432, "any", "bob", std::nullopt},
        {"anything", 5433, "x", "y", "pw3"},
        {"localhost", 5432, "x", "carol", "pw4"},
        // A missing host and a socket directory look up "localhost".
        {"", 5432, "x", "carol", "pw4"},
        {"/var/run/postgresql", 5432, "x", "carol", "pw4"},
        {"/tmp", 5432, "x", "carol", "pw4"},
        {"/tmp/sock", 5432, "x", "carol", "pw4"},
        {"db.example.com", 5432, "x", "carol", std::nullopt},
        // ... and a socket directory also matches its own path.
        {"/tmp/sock", 5432, "x", "dave", "pw5"},
        {"host:with:colons", 5432, "x", "erin", "pw:with\\backslash"},
        {"host", 5432, "x", "erin", std::nullopt},
        {"h", 1, "x", "frank", "first"},
        {"h", 1, "x", "grace", "pw7"},
        // A line with no password field does not match.
        {"h", 1, "x", "heidi", std::nullopt},
        {"*", 1, "x", "ivan", "literal-star"},
        {"h", 1, "x", "ivan", "any-host"},
        {"h", 1, "", "frank", std::nullopt},
        {"h", 1, "x", "", std::nullopt},
    };
    for (const auto& c : cases) {
        INFO("host=" << c.host << " port=" << c.port << " dbname=" << c.dbname << " user=" << c.user);
        CHECK(pgcoro::lookup_passfile(path, c.host, c.port, c.dbname, c.user) == c.password);
    }

    SECTION("CRLF line endings") {
        const auto crlf = write_file(dir / "crlf", "h:5432:d:u:pw\r\n*:*:*:v:last\r\n", 0600);
        CHECK(pgcoro::lookup_passfile(crlf, "h", 5432, "d", "u") == std::optional<std::string>("pw"));
        CHECK(pgcoro::lookup_passfile(crlf, "h", 5432, "d", "v") == std::optional<std::string>("last"));
    }
    SECTION("a file the group or others may access is ignored") {
        for (mode_t mode : {0644, 0640, 0604, 0660, 0601}) {
            const auto open_file = write_file(dir / "open", "*:*:*:*:pw\n", mode);
            INFO("mode " << std::oct << mode);
            CHECK_FALSE(pgcoro::lookup_passfile(open_file, "h", 5432, "d", "u").has_value());
        }
        const auto private_file = write_file(dir / "private", "*:*:*:*:pw\n", 0400);
        CHECK(pgcoro::lookup_passfile(private_file, "h", 5432, "d", "u") == std::optional<std::string>("pw"));
    }
    SECTION("a missing file or a directory is ignored") {
        CHECK_FALSE(pgcoro::lookup_passfile((dir / "missing").string(), "h", 5432, "d", "u").has_value());
        std::filesystem::create_directory(dir / "a-directory");
        REQUIRE(::chmod((dir / "a-directory").c_str(), 0700) == 0);
        CHECK_FALSE(pgcoro::lookup_passfile((dir / "a-directory").string(), "h", 5432, "d", "u").has_value());
        CHECK_FALSE(pgcoro::lookup_passfile("", "h", 5432, "d", "u").has_value());
    }
}

TEST_CASE("default_passfile_path: PGPASSFILE, else ~/.pgpass", "[conninfo][passfile]") {
    {
        scoped_env_var file("PGPASSFILE", "/somewhere/pgpass");
        CHECK(pgcoro::default_passfile_path() == "/somewhere/pgpass");
    }
    {
        scoped_env_var file("PGPASSFILE", nullptr);
        scoped_env_var home("HOME", "/home/tester");
        CHECK(pgcoro::default_passfile_path() == "/home/tester/.pgpass");
    }
    {
        // Without HOME, the home directory from the password database.
        scoped_env_var file("PGPASSFILE", "");
        scoped_env_var home("HOME", nullptr);
        const passwd* pw = ::getpwuid(::geteuid());
        REQUIRE(pw != nullptr);
        CHECK(pgcoro::default_passfile_path() == std::string(pw->pw_dir) + "/.pgpass");
    }
}

TEST_CASE("tcp_user_timeout is read in milliseconds, negative as the system default", "[conninfo]") {
    CHECK(parse_alone("host=h tcp_user_timeout=2500").tcp_user_timeout == std::chrono::milliseconds(2500));
    CHECK(parse_alone("host=h tcp_user_timeout=-5").tcp_user_timeout == std::chrono::milliseconds(0));
    CHECK(parse_alone("host=h tcp_user_timeout=0") == parse_alone("host=h"));
    const auto c = parse_alone("host=h tcp_user_timeout=10000");
    CHECK_THAT(c.to_string(), Contains("tcp_user_timeout=10000"));
    CHECK(parse_alone(c.to_string()) == c);
    CHECK(parse_alone("postgresql://h?tcp_user_timeout=7").tcp_user_timeout == std::chrono::milliseconds(7));
}

TEST_CASE("connection service files follow libpq's rules", "[conninfo][service]") {
    temp_dir dir;
    const auto user_file = write_file(dir / "user-services",
                                      "# a comment line\n"
                                      "\n"
                                      "[other]\n"
                                      "host=not-this-one\n"
                                      "[main]   \n"
                                      "   host=db.example.com  \n"
                                      "port=5433\n"
                                      "dbname=appdb\n"
                                      "user=app\n"
                                      "#port=1\n"
                                      "application_name=from service\n"
                                      "[first-wins]\n"
                                      "host=first\r\n"
                                      "host=second\r\n"
                                      "[main-suffix]\n"
                                      "host=wrong-section\n"
                                      "[translated]x\n"
                                      "requiressl=1\n"
                                      "client_encoding=UTF8\n"
                                      "[empty]\n",
                                      0644);
    std::filesystem::create_directory(dir / "sysconf");
    write_file(dir / "sysconf" / "pg_service.conf",
               "[main]\nhost=system-main\n[system-only]\nhost=system-host\nport=6000\n", 0644);
    std::map<std::string, std::string> vars = {{"PGSERVICEFILE", user_file},
                                               {"PGSYSCONFDIR", (dir / "sysconf").string()}};
    const auto with = [&](std::map<std::string, std::string> more) {
        auto all = vars;
        for (auto& [k, v] : more) all[k] = v;
        return environment_of(all);
    };
    const auto parse = [&](std::string_view s, std::map<std::string, std::string> more = {}) {
        return config::parse(s, with(std::move(more)));
    };

    SECTION("the section's settings fill what the string left unset") {
        const auto c = parse("service=main");
        CHECK(c.hosts == std::vector<std::string>{"db.example.com"});
        CHECK(c.ports == std::vector<std::uint16_t>{5433});
        CHECK(c.dbname == "appdb");
        CHECK(c.user == "app");
        CHECK(c.application_name == "from service");
        CHECK(parse("service=main host=explicit port=1").hosts == std::vector<std::string>{"explicit"});
        CHECK(parse("service=main host=explicit port=1").dbname == "appdb");
        CHECK(parse("postgresql://explicit?service=main").ports == std::vector<std::uint16_t>{5433});
        // The service's settings come before the environment's...
        CHECK(parse("service=main", {{"PGHOST", "from-env"}, {"PGPORT", "1"}}).hosts ==
              std::vector<std::string>{"db.example.com"});
        // ... which fills what neither set.
        CHECK(parse("service=main", {{"PGCONNECT_TIMEOUT", "9"}}).connect_timeout == std::chrono::seconds(9));
        // The result no longer depends on the file.
        CHECK(parse_alone(parse("service=main").to_string()) == parse("service=main"));
    }
    SECTION("PGSERVICE names the service when the string does not") {
        CHECK(parse("", {{"PGSERVICE", "main"}}).hosts == std::vector<std::string>{"db.example.com"});
        CHECK(parse("service=system-only", {{"PGSERVICE", "main"}}).hosts == std::vector<std::string>{"system-host"});
    }
    SECTION("the first line of a keyword wins; sections end at the next; names match whole") {
        CHECK(parse("service=first-wins").hosts == std::vector<std::string>{"first"});
        CHECK(parse("service=other").hosts == std::vector<std::string>{"not-this-one"});
        CHECK(parse("service=main-suffix").hosts == std::vector<std::string>{"wrong-section"});
        CHECK(parse("service=empty") == parse(""));
    }
    SECTION("libpq's old spellings and harmless unsupported keywords are read as in a string") {
        CHECK(parse("service=translated").sslmode == ssl_mode::require);
    }
    SECTION("the system file is read when the user's lacks the service, and only then") {
        CHECK(parse("service=main").hosts == std::vector<std::string>{"db.example.com"});
        const auto c = parse("service=system-only");
        CHECK(c.hosts == std::vector<std::string>{"system-host"});
        CHECK(c.ports == std::vector<std::uint16_t>{6000});
        CHECK_THAT(parse_error("service=nowhere", with({})), Contains("definition of service \"nowhere\" not found"));
    }
    SECTION("without PGSERVICEFILE, ~/.pg_service.conf when it exists") {
        std::filesystem::create_directory(dir / "home");
        const std::map<std::string, std::string> home_only = {{"HOME", (dir / "home").string()},
                                                              {"PGSYSCONFDIR", (dir / "sysconf").string()}};
        CHECK(config::parse("service=main", environment_of(home_only)).hosts == std::vector<std::string>{"system-main"});
        write_file(dir / "home" / ".pg_service.conf", "[main]\nhost=home-main\n", 0600);
        CHECK(config::parse("service=main", environment_of(home_only)).hosts == std::vector<std::string>{"home-main"});
    }
    SECTION("errors name the file and the line") {
        const auto bad = [&](const std::string& text) {
            const auto path = write_file(dir / "bad", text, 0644);
            return parse_error("service=s", with({{"PGSERVICEFILE", path}}));
        };
        const auto where = [&](int line) { return "service file \"" + (dir / "bad").string() + "\", line " + std::to_string(line); };
        CHECK_THAT(bad("[s]\nhost=h\njust words\n"), Contains("syntax error in " + where(3)));
        CHECK_THAT(bad("[s]\nhots=h\n"), Contains("syntax error in " + where(2)) && Contains("\"hots\""));
        CHECK_THAT(bad("[s]\nhost = h\n"), Contains("syntax error in " + where(2)));
        CHECK_THAT(bad("\n[s]\nservice=t\n"), Contains("nested service specifications not supported in " + where(3)));
        CHECK_THAT(bad("[s]\nport=abc\n"), Contains("invalid integer value \"abc\"") && Contains(where(2)));
        CHECK_THAT(bad("[s]\nsslmode=sometimes\n"), Contains("invalid sslmode value") && Contains(where(2)));
        CHECK_THAT(bad("[s]\ngssencmode=require\n"), Contains("\"gssencmode\" is not supported") && Contains(where(2)));
        CHECK_THAT(bad("[s]\nldap://ldap.example.com/dc=example?uniqueMember?one?(cn=s)\n"),
                   Contains("LDAP lookups") && Contains(where(2)));
        // Errors in other sections are not looked at, as in libpq.
        CHECK(parse_error("service=s", with({{"PGSERVICEFILE", write_file(dir / "bad", "[t]\nnonsense\n", 0644)}})) ==
              "definition of service \"s\" not found");
        CHECK_THAT(parse_error("service=main", with({{"PGSERVICEFILE", (dir / "missing").string()}})),
                   Contains("service file \"" + (dir / "missing").string() + "\" not found") && Contains("PGSERVICEFILE"));
    }
    SECTION("a password from a service file is a secret like any other") {
        const auto path = write_file(dir / "secret", "[s]\npassword=hunter2\n", 0600);
        const auto c = parse("service=s", {{"PGSERVICEFILE", path}});
        CHECK(c.password == "hunter2");
        CHECK_THAT(c.to_string(), !Contains("hunter2"));
        const auto bad = write_file(dir / "secret-bad", "[s]\npassword=hunter2\nport=x\n", 0600);
        CHECK_THAT(parse_error("service=s", with({{"PGSERVICEFILE", bad}})), Contains("\"x\"") && !Contains("hunter2"));
    }
}

TEST_CASE("TLS settings of libpq 16/17: defaults when nothing is given", "[conninfo][tls]") {
    const auto c = parse_alone("host=h");
    CHECK(c.sslcrl.empty());
    CHECK(c.sslcrldir.empty());
    CHECK(c.sslcertmode == pgcoro::ssl_cert_mode::allow);
    CHECK(c.ssl_min_protocol_version == pgcoro::tls_protocol::tls1_2);
    CHECK_FALSE(c.ssl_max_protocol_version.has_value());
    CHECK_THAT(c.to_string(), !Contains("ssl"));
}

TEST_CASE("TLS settings reach their fields, from the string and from PG* variables", "[conninfo][tls][env]") {
    SECTION("from the string") {
        const auto c = parse_alone("host=h sslcrl=/c.crl sslcrldir=/crls sslcertmode=require "
                                   "ssl_min_protocol_version=TLSv1.3 ssl_max_protocol_version=TLSv1.3 sslnegotiation=postgres");
        CHECK(c.sslcrl == "/c.crl");
        CHECK(c.sslcrldir == "/crls");
        CHECK(c.sslcertmode == pgcoro::ssl_cert_mode::require);
        CHECK(c.ssl_min_protocol_version == pgcoro::tls_protocol::tls1_3);
        CHECK(c.ssl_max_protocol_version == pgcoro::tls_protocol::tls1_3);
    }
    SECTION("from the environment, the string winning") {
        const auto env = environment_of({
            {"PGSSLCRL", "/env.crl"},
            {"PGSSLCRLDIR", "/env-crls"},
            {"PGSSLCERTMODE", "disable"},
            {"PGSSLMINPROTOCOLVERSION", "TLSv1"},
            {"PGSSLMAXPROTOCOLVERSION", "TLSv1.1"},
            {"PGSSLNEGOTIATION", "postgres"},
        });
        const auto c = config::parse("host=h", env);
        CHECK(c.sslcrl == "/env.crl");
        CHECK(c.sslcrldir == "/env-crls");
        CHECK(c.sslcertmode == pgcoro::ssl_cert_mode::disable);
        CHECK(c.ssl_min_protocol_version == pgcoro::tls_protocol::tls1_0);
        CHECK(c.ssl_max_protocol_version == pgcoro::tls_protocol::tls1_1);
        const auto d = config::parse("host=h sslcrl=/mine.crl sslcertmode=allow ssl_max_protocol_version=TLSv1.2", env);
        CHECK(d.sslcrl == "/mine.crl");
        CHECK(d.sslcertmode == pgcoro::ssl_cert_mode::allow);
        CHECK(d.ssl_max_protocol_version == pgcoro::tls_protocol::tls1_2);
    }
    SECTION("protocol versions are read without regard to case, as libpq does") {
        CHECK(parse_alone("ssl_min_protocol_version=tlsv1.1").ssl_min_protocol_version == pgcoro::tls_protocol::tls1_1);
        CHECK(parse_alone("ssl_max_protocol_version=TLSV1.3").ssl_max_protocol_version == pgcoro::tls_protocol::tls1_3);
    }
    SECTION("a CRL may be given as PEM text") {
        const auto pem = std::string("-----BEGIN X509 CRL-----\nMIIB\n-----END X509 CRL-----\n");
        auto c = parse_alone("host=h");
        c.sslcrl = pem;
        CHECK(parse_alone(c.to_string()).sslcrl == pem);
    }
}

TEST_CASE("TLS settings refuse bad values, naming the keyword", "[conninfo][tls][errors]") {
    const std::vector<std::pair<std::string_view, std::string_view>> cases = {
        {"sslcertmode=always", "invalid sslcertmode value: \"always\""},
        {"ssl_min_protocol_version=TLSv1.4", "invalid ssl_min_protocol_version value: \"TLSv1.4\""},
        {"ssl_max_protocol_version=SSLv3", "invalid ssl_max_protocol_version value: \"SSLv3\""},
        {"ssl_min_protocol_version=1.2", "invalid ssl_min_protocol_version value: \"1.2\""},
        {"ssl_min_protocol_version=TLSv1.3 ssl_max_protocol_version=TLSv1.2", "invalid SSL protocol version range"},
        // The default minimum is TLSv1.2, so a lower maximum alone is an empty range (as in libpq).
        {"ssl_max_protocol_version=TLSv1.1", "invalid SSL protocol version range"},
        {"sslnegotiation=direct", "PostgreSQL 17"},
        {"sslnegotiation=direct", "libpq 17"},
        {"sslnegotiation=fast", "invalid sslnegotiation value: \"fast\""},
        {"sslcertmode=require sslmode=disable", "sslcertmode=require needs TLS"},
    };
    for (const auto& [input, message] : cases) {
        INFO("input: " << input);
        CHECK_THAT(parse_error(input), Contains(std::string(message)));
    }
    CHECK_THAT(parse_error("", environment_of({{"PGSSLMAXPROTOCOLVERSION", "TLSv2"}})),
               Contains("invalid ssl_max_protocol_version value: \"TLSv2\" (from environment variable PGSSLMAXPROTOCOLVERSION)"));
    CHECK_THAT(parse_error("", environment_of({{"PGSSLNEGOTIATION", "direct"}})),
               Contains("(from environment variable PGSSLNEGOTIATION)"));
    // The range check covers the limits that are set; the equal ends are a valid range.
    CHECK(parse_alone("ssl_min_protocol_version=TLSv1 ssl_max_protocol_version=TLSv1").ssl_max_protocol_version ==
          pgcoro::tls_protocol::tls1_0);
    CHECK(parse_alone("sslcertmode=require sslmode=require").sslcertmode == pgcoro::ssl_cert_mode::require);
    CHECK(parse_alone("sslcertmode=disable sslmode=disable").sslcertmode == pgcoro::ssl_cert_mode::disable);
}

TEST_CASE("TLS settings are written by to_string when not default and read back", "[conninfo][tls][to_string]") {
    CHECK(parse_alone("host=h user=u dbname=d sslcrl=/c.crl sslcrldir=/d sslcertmode=disable "
                      "ssl_min_protocol_version=TLSv1.1 ssl_max_protocol_version=TLSv1.2")
              .to_string() == "host=h port=5432 dbname=d user=u sslcrl=/c.crl sslcrldir=/d sslcertmode=disable "
                              "ssl_min_protocol_version=TLSv1.1 ssl_max_protocol_version=TLSv1.2");
    // Defaults (and sslnegotiation=postgres, what pgcoro always does) are not written.
    CHECK(parse_alone("host=h user=u dbname=d sslcertmode=allow ssl_min_protocol_version=TLSv1.2 sslnegotiation=postgres")
              .to_string() == "host=h port=5432 dbname=d user=u");
    for (const std::string_view input : {"sslcrl='/my crls/root.crl' sslcrldir=/crls",
                                         "sslcertmode=require ssl_min_protocol_version=TLSv1.3",
                                         "ssl_min_protocol_version=TLSv1 ssl_max_protocol_version=TLSv1.1",
                                         "postgresql://h/d?sslcertmode=disable&ssl_max_protocol_version=TLSv1.3"}) {
        INFO("input: " << input);
        const auto c = parse_alone(input);
        CHECK(parse_alone(c.to_string()) == c);
        CHECK(c != parse_alone(""));
    }
}
