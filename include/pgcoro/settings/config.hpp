// The connection settings, pgcoro::config. The names, defaults and meaning follow libpq's
// connection parameters (conninfo keywords and PG* environment variables).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "../tracer.hpp"

namespace pgcoro {

enum class ssl_mode { disable, allow, prefer, require, verify_ca, verify_full };
enum class channel_binding_mode { disable, prefer, require };
// libpq 16's sslcertmode: whether a client certificate is offered when the
// server asks for one.
enum class ssl_cert_mode { disable, allow, require };
// TLS protocol versions, in order (ssl_min/max_protocol_version).
enum class tls_protocol : std::uint8_t { tls1_0, tls1_1, tls1_2, tls1_3 };
enum class session_target { any, read_write, read_only, primary, standby, prefer_standby };
// libpq 16's load_balance_hosts: hosts in the order given, or shuffled for
// every connect (and the addresses of each host too).
enum class load_balance { disable, random };

// How queries given as SQL text reach the server (pgcoro's statement_mode
// keyword; libpq has none). Each mode keeps one round trip per cached query.
enum class statement_mode : std::uint8_t {
    // prepare, until the server shows that it lost a statement this
    // connection prepared and the connection turns out to go through a proxy
    // (its backend is not the one BackendKeyData named): a transaction-pooling
    // PgBouncer hands each transaction another server session. The connection
    // then switches to describe, and the query that found out is run again
    // when nothing of it ran (outside a transaction).
    automatic,
    // Named statements, prepared once per connection and cached: the least
    // work for the server. For a direct connection, session pooling, or
    // PgBouncer 1.21+ with max_prepared_statements.
    prepare,
    // Descriptions cached, statements not: each execution sends Parse of the
    // unnamed statement with its Bind, so any server session can run it. For
    // transaction pooling (PgBouncer before 1.21, other poolers).
    describe,
    // Nothing cached: a Describe round trip before every execution, which
    // again sends its own Parse. Sees schema changes at once.
    unnamed,
};

// Authentication methods, as named by libpq's require_auth.
enum class auth_method : std::uint8_t {
    none = 1,           // the server asked for no authentication (trust)
    password = 2,       // cleartext
    md5 = 4,
    scram_sha_256 = 8,
    gss = 16,
    sspi = 32,
};

// The set of methods require_auth allows. By default every method is allowed.
struct auth_methods {
    std::uint8_t mask = 0x3f;
    constexpr bool allows(auth_method m) const noexcept { return (mask & static_cast<std::uint8_t>(m)) != 0; }
    constexpr bool operator==(const auth_methods&) const = default;
    static constexpr auth_methods all() noexcept { return {}; }
};

// Looks up an environment variable; std::nullopt when unset. Lets tests and
// embedders control which PG* variables config::parse sees.
using environment = std::function<std::optional<std::string>(std::string_view name)>;

struct config {
    // One entry per host to try, in order. A name or IP address for TCP, or an
    // absolute path (starting with '/') naming the directory of a Unix socket.
    std::vector<std::string> hosts;
    // Numeric addresses parallel to hosts (libpq's hostaddr); an empty string
    // at a position means "resolve hosts[i]". Empty vector when not given.
    std::vector<std::string> hostaddrs;
    // Either one port for every host or one per host.
    std::vector<std::uint16_t> ports;

    std::string dbname;
    std::string user;
    std::string password;      // empty: none given (the password file may supply one)
    std::string passfile;      // empty: ~/.pgpass
    std::chrono::seconds connect_timeout{0};  // per host attempt; 0 = wait indefinitely
    std::string application_name;
    std::string fallback_application_name;
    std::string options;       // command-line options sent to the server

    ssl_mode sslmode = ssl_mode::prefer;
    // Each of these is a file path, or the PEM text itself when it contains
    // "-----BEGIN". Files are read afresh for every new connection. Empty means
    // libpq's default path under ~/.postgresql/ (used when the file exists).
    std::string sslrootcert;
    std::string sslcert;
    std::string sslkey;
    std::string sslpassword;   // passphrase of an encrypted sslkey
    bool sslsni = true;
    // Certificate revocation lists checked against the server's chain whenever
    // it is verified (a root certificate is in use): sslcrl is a PEM file (or
    // the PEM text itself), sslcrldir a directory of hashed CRL files as
    // `openssl rehash` makes them. Both empty: libpq's ~/.postgresql/root.crl
    // when it exists. Unlike libpq, which silently ignores a CRL it cannot
    // load, one named here that is missing or unreadable fails the connection:
    // a revocation check that quietly does not happen is worse than none.
    std::string sslcrl;
    std::string sslcrldir;
    // disable: never send a client certificate, even one that is configured;
    // allow: send one when the server asks and one is there; require: fail
    // unless the server asked for one (checked at AuthenticationOk, as libpq).
    ssl_cert_mode sslcertmode = ssl_cert_mode::allow;
    // The TLS versions the handshake may use. libpq's default minimum is
    // TLSv1.2 (older versions have known weaknesses); no maximum by default
    // so that newer versions are used as soon as both sides have them.
    tls_protocol ssl_min_protocol_version = tls_protocol::tls1_2;
    std::optional<tls_protocol> ssl_max_protocol_version;
    channel_binding_mode channel_binding = channel_binding_mode::prefer;
    auth_methods require_auth;
    session_target target_session_attrs = session_target::any;
    load_balance load_balance_hosts = load_balance::disable;

    bool keepalives = true;
    int keepalives_idle = 0;     // seconds; 0 = system default
    int keepalives_interval = 0; // seconds; 0 = system default
    int keepalives_count = 0;    // 0 = system default
    // How long sent data may stay unacknowledged before the kernel drops the
    // TCP connection (TCP_USER_TIMEOUT); 0 = system default. Bounds the
    // wait on a peer that vanished behind a proxy that keeps the socket
    // open. Unlike libpq, it applies with keepalives=0 too.
    std::chrono::milliseconds tcp_user_timeout{0};

    // pgcoro's own limits (not conninfo keywords).
    // They bound what a broken or hostile server can make the client spend;
    // docs/limits.md lists them with the fixed ones.
    // The largest message of a type that carries user data (DataRow,
    // RowDescription, CopyData, ErrorResponse, NoticeResponse,
    // ParameterDescription). Memory follows the bytes that arrive, not the
    // length a header announces. Other types are held to 30,000 bytes, an
    // authentication request to 2,000, everything before the session
    // starts to 30,000.
    std::size_t max_message_size = 1u << 30;
    // The memory one query(), simple_query() or pipeline may keep of its rows
    // (DataRow bytes plus 8 bytes per row and per value). Past it the rows are
    // read and dropped, and the call fails with errc::result_too_large with
    // the connection still usable; stream() reads any size in chunks.
    std::size_t max_result_size = std::size_t{256} << 20;
    // Notifications received and not yet taken. Further ones are dropped
    // and counted, and the next wait_for_notification() reports how many
    // (errc::notifications_dropped) before going on.
    std::size_t max_pending_notifications = 10'000;
    // A SCRAM iteration count above this is refused before any work (it
    // costs the client CPU, 4,096 being PostgreSQL's default).
    std::uint32_t max_scram_iterations = 100'000;
    // See statement_mode; conninfo keyword statement_mode=auto|prepare|describe|unnamed.
    statement_mode statements = statement_mode::automatic;
    // Statements (or, in describe mode, descriptions) kept per connection,
    // LRU. 0 caches nothing, which makes prepare and describe act as unnamed.
    std::size_t statement_cache_size = 256;
    // Client-side limit for each query, 0 for none. When it expires the query
    // is cancelled on the server and the connection drained back to
    // ReadyForQuery; the caller gets the server's 57014 error.
    std::chrono::milliseconds query_timeout{0};
    // Concurrent query()/execute() calls on one connection are pipelined
    // (docs/pipelining.md): at most this many answers owed at once, and at
    // most this many bytes written but not yet sent. A request beyond
    // either waits for room, in order.
    std::size_t max_pipelined_requests = 256;
    std::size_t max_pipelined_bytes = std::size_t{1} << 20;
    // Told when queries, pipelines, COPYs and connects start and end, and,
    // for a pool made with these settings, acquires (see tracer.hpp). Not a
    // conninfo keyword; shared by every connection opened with these settings.
    std::shared_ptr<pgcoro::tracer> tracer;

    // Parses a conninfo string ("host=... port=...") or a postgresql:// /
    // postgres:// URI, then fills what it left unset from the PG* environment
    // variables and libpq's built-in defaults. Throws pgcoro::error
    // (errc::invalid_config) naming the keyword or the offset at fault.
    static config parse(std::string_view conninfo);
    static config parse(std::string_view conninfo, const environment& env);

    // The process environment (std::getenv) and an empty one.
    static environment process_environment();
    static environment no_environment();

    // The settings as a conninfo string; the password, sslpassword and an
    // sslkey given as PEM text are written as "********", so the result is
    // safe to log.
    std::string to_string() const;

    // The port for host i (the single port, or the i-th).
    std::uint16_t port_for(std::size_t i) const { return ports.size() == 1 ? ports[0] : ports.at(i); }

    bool operator==(const config&) const = default;
};

// Looks up the password for one host in a libpq password file (~/.pgpass
// format): host:port:database:user:password with '*' wildcards and '\' escapes.
// Returns std::nullopt when the file is missing, has group/world permissions
// (as libpq, it is then ignored), or has no matching line. `host` is the host
// as given (a socket directory matches the entry "localhost", as in libpq).
std::optional<std::string> lookup_passfile(const std::string& path, std::string_view host, std::uint16_t port,
                                           std::string_view dbname, std::string_view user);

// The password file to use: cfg.passfile, else $PGPASSFILE (when the config
// was parsed it already took that), else $HOME/.pgpass.
std::string default_passfile_path();

}  // namespace pgcoro
