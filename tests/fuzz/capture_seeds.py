#!/usr/bin/env python3
"""Records what a real PostgreSQL server sends and keeps it as fuzz seeds.

Run inside the test server (from the repository root):

    scripts/test-server run -- python3 tests/fuzz/capture_seeds.py

It builds session_exchange.cpp as a plain client (-DPGCORO_SESSION_EXCHANGE_CLIENT,
g++, no sanitizers) into build-fuzz/, and for each scenario below runs it
through a TCP relay in front of the server ($PGCORO_TEST_HOST:$PGCORO_TEST_PORT,
plaintext: sslmode=disable). The relay records the bytes the server sends on
the client's first connection (a CancelRequest's connection is relayed, not
recorded). Each recording becomes
  corpus/session_exchange/captured_NAME   the scenario's 6-byte header, then the bytes
  corpus/backend_messages/captured_NAME   one byte (limit 2^21), then the bytes
The client runs exactly the operations the fuzz target runs for that
header, so a captured seed replays: the fuzz target reads the same answers
in the same order (except SCRAM, whose nonces differ on every run: those
seeds end in an authentication error, and still feed the SCRAM parser).
Rerun after changing the operations or the header layout of session_exchange.cpp.
The VARIANTS (a recording under another header) and EDITS (a recording with
messages a real server seldom sends spliced in: NegotiateProtocolVersion,
errors during startup, other authentication requests, a notification that
arrives while idle) are written after each capture, or alone with
--variants-only (from the recordings already in corpus/).
"""
import os
import socket
import struct
import subprocess
import sys
import threading

root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
corpus = os.path.join(root, "tests", "fuzz", "corpus")
client = os.path.join(root, "build-fuzz", "session_exchange_client")

# name, user, password, header: settings (0x0f: 32 MiB limit, no
# require_auth), delivery (0 all at once, else chunk size), four operations
# (numbers as in session_exchange.cpp's run_operation).
SCENARIOS = [
    ("trust_queries", "pgcoro_trust", "", [0x0f, 0, 1, 2, 12, 3]),
    ("trust_queries_chunked", "pgcoro_trust", "", [0x0f, 5, 1, 2, 0, 0]),
    ("cleartext_stream", "pgcoro_password", "cleartext_pw", [0x0f, 0, 6, 7, 13, 0]),
    ("md5_pipeline", "pgcoro_md5", "md5_pw", [0x2f, 0, 5, 4, 0, 0]),
    ("scram_copy", "pgcoro_scram", "scram_pw", [0x1f, 0, 8, 9, 0, 0]),
    ("trust_copy", "pgcoro_trust", "", [0x0f, 0, 8, 9, 10, 1]),
    ("trust_listen", "pgcoro_trust", "", [0x0f, 0, 11, 12, 0, 0]),
    ("trust_transaction", "pgcoro_trust", "", [0x0f, 0, 13, 5, 6, 0]),
    ("trust_stream_continuous", "pgcoro_trust", "", [0x0f, 0, 14, 15, 2, 0]),
]

# More seeds from a recording, with another header: the same bytes one at a
# time, and under a 1 KiB max_message_size (which the typed rows exceed).
VARIANTS = [
    ("trust_queries", "trust_queries_bytewise", [0x0f, 1, 1, 2, 12, 3]),
    ("trust_queries", "trust_queries_1k_limit", [0x00, 0, 1, 2, 12, 3]),
    ("cleartext_stream", "cleartext_stream_chunked", [0x0f, 3, 6, 7, 13, 0]),
]



# --- edited recordings: what a real server seldom sends, spliced into one
def parse(data):
    out, i = [], 0
    while i + 5 <= len(data):
        n = struct.unpack(">i", data[i + 1:i + 5])[0]
        out.append((data[i:i + 1], data[i + 5:i + 1 + n]))
        i += 1 + n
    return out


def serialize(messages):
    return b"".join(t + struct.pack(">i", len(b) + 4) + b for t, b in messages)


def cstr(s):
    return s.encode() + b"\0"


def fields(severity, code, message):
    return b"".join(cstr(f) for f in ["S" + severity, "V" + severity, "C" + code, "M" + message]) + b"\0"


def after_startup(messages):
    """The index of the first message after startup's ReadyForQuery."""
    return next(i for i, (t, _) in enumerate(messages) if t == b"Z") + 1


def insert_at(messages, i, extra):
    return messages[:i] + extra + messages[i:]


def negotiate_and_noise(m):
    # NegotiateProtocolVersion first; a notice, a notification and a
    # ParameterStatus inside the first query's answer.
    m = [(b"v", struct.pack(">ii", 0, 1) + cstr("_pq_.x"))] + m
    i = after_startup(m) + 1
    return insert_at(m, i, [(b"N", fields("WARNING", "01000", "careful")),
                            (b"A", struct.pack(">i", 7) + cstr("chan") + cstr("early")),
                            (b"S", cstr("in_hot_standby") + cstr("on"))])


def startup_error(severity):
    def edit(m):
        i = after_startup(m) - 1
        return m[:1] + [(b"E", fields(severity, "28000", "no pg_hba.conf entry"))] + m[1:i] + m[i:]
    return edit


def auth_request(code, payload=b""):
    return lambda m: [(b"R", struct.pack(">i", code) + payload)] + m[1:]


def notification_after_ready(m):
    # The notification arrives after LISTEN's ReadyForQuery: wait_for_notification reads it.
    i = next(i for i, (t, _) in enumerate(m) if t == b"A")
    a = m.pop(i)
    j = next(j for j in range(i, len(m)) if m[j][0] == b"Z")
    return insert_at(m, j + 1, [(b"N", fields("NOTICE", "00000", "idle")), a])


EDITS = [
    ("trust_queries", "edited_negotiate_and_noise", [0x0f, 0, 1, 2, 12, 3], negotiate_and_noise),
    ("trust_queries", "edited_startup_error", [0x0f, 0, 1, 2, 0, 0], startup_error("ERROR")),
    ("trust_queries", "edited_startup_fatal", [0x0f, 0, 1, 2, 0, 0], startup_error("FATAL")),
    ("trust_queries", "edited_auth_gss", [0x0f, 0, 1, 0, 0, 0], auth_request(7)),
    ("trust_queries", "edited_sasl_plus_only", [0x0f, 0, 1, 0, 0, 0],
     auth_request(10, cstr("SCRAM-SHA-256-PLUS") + b"\0")),
    ("trust_queries", "edited_cleartext_then_ok", [0x0f, 0, 1, 2, 0, 0],
     lambda m: [(b"R", struct.pack(">i", 3))] + m),
    ("trust_queries", "edited_md5_required_scram", [0x1f, 0, 1, 0, 0, 0],
     lambda m: [(b"R", struct.pack(">i", 5) + b"salt")] + m),
    ("trust_listen", "edited_listen_wait", [0x0f, 0, 11, 12, 0, 0], notification_after_ready),
]


def build_client():
    src = os.path.join(root, "tests", "fuzz", "session_exchange.cpp")
    if os.path.exists(client) and os.path.getmtime(client) >= os.path.getmtime(src):
        return
    os.makedirs(os.path.dirname(client), exist_ok=True)
    cxx = os.environ.get("CXX", "g++")
    print("capture: building", client, flush=True)
    subprocess.run([cxx, "-std=c++20", "-O1", "-DPGCORO_SESSION_EXCHANGE_CLIENT", "-DBOOST_ASIO_NO_DEPRECATED",
                    "-I" + os.path.join(root, "include"), src, "-o", client, "-lssl", "-lcrypto"], check=True)


class Relay:
    """Accepts on 127.0.0.1, relays each connection to the server, and
    records what the server sends on the first one."""

    def __init__(self, upstream):
        self.upstream = upstream
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.recorded = bytearray()
        self.connections = 0
        self.threads = []
        self.closing = False
        t = threading.Thread(target=self.accept_loop, daemon=True)
        t.start()

    def accept_loop(self):
        while True:
            try:
                down, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            record = self.connections == 1
            up = socket.create_connection(self.upstream)
            for src, dst, rec in ((down, up, False), (up, down, record)):
                t = threading.Thread(target=self.pump, args=(src, dst, rec), daemon=True)
                t.start()
                self.threads.append(t)

    def pump(self, src, dst, record):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if record:
                    self.recorded += data
                dst.sendall(data)
        except OSError:
            pass
        try:
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def close(self):
        self.listener.close()
        for t in list(self.threads):
            t.join(timeout=10)


def write(target, name, data):
    d = os.path.join(corpus, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def main():
    host = os.environ.get("PGCORO_TEST_HOST")
    port = os.environ.get("PGCORO_TEST_PORT")
    if not host or not port:
        sys.exit("capture: run inside scripts/test-server run -- ...")
    build_client()
    for name, user, password, header in SCENARIOS:
        relay = Relay((host, int(port)))
        conninfo = f"host=127.0.0.1 port={relay.port} dbname=pgcoro user={user} sslmode=disable application_name=fuzz"
        if password:
            conninfo += f" password={password}"
        run = subprocess.run([client, conninfo, bytes(header).hex()], capture_output=True, text=True, timeout=60)
        relay.close()
        data = bytes(relay.recorded)
        write("session_exchange", "captured_" + name, bytes(header) + data)
        write("backend_messages", "captured_" + name, bytes([15]) + data)
        notes = run.stderr.strip().replace("\n", "; ")
        print(f"capture: {name}: {len(data)} bytes from the server, {relay.connections} connection(s)"
              + (f"; client said: {notes}" if notes else ""), flush=True)
    write_variants()


def write_variants():
    for source, name, header in VARIANTS:
        with open(os.path.join(corpus, "session_exchange", "captured_" + source), "rb") as f:
            data = f.read()[6:]
        write("session_exchange", "captured_" + name, bytes(header) + data)
    for source, name, header, edit in EDITS:
        with open(os.path.join(corpus, "session_exchange", "captured_" + source), "rb") as f:
            data = serialize(edit(parse(f.read()[6:])))
        write("session_exchange", name, bytes(header) + data)
        write("backend_messages", name, bytes([15]) + data)


if __name__ == "__main__":
    if sys.argv[1:] == ["--variants-only"]:
        write_variants()  # from the recordings already in corpus/
    else:
        main()
