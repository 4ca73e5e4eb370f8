#!/usr/bin/env python3
"""Writes the hand-made seeds of tests/fuzz/corpus/ (valid inputs in each
target's layout, shaped as PostgreSQL 15 sends them). Crash inputs kept as
regression seeds are not written here: they are committed as found."""
import os
import struct

here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")


def write(target, name, data):
    os.makedirs(os.path.join(here, target), exist_ok=True)
    with open(os.path.join(here, target, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def msg(kind, body=b""):
    return kind.encode() + struct.pack(">i", len(body) + 4) + body


def cstr(s):
    return s.encode() + b"\0"


# --- backend_messages: one byte for max_message_size (2^(6 + b % 16)), then messages
limit = bytes([15])  # 2^21
startup = b"".join([
    msg("R", struct.pack(">i", 10) + cstr("SCRAM-SHA-256-PLUS") + cstr("SCRAM-SHA-256") + b"\0"),
    msg("R", struct.pack(">i", 11) + b"r=abc,s=c2FsdA==,i=4096"),
    msg("R", struct.pack(">i", 12) + b"v=c2lnbmF0dXJl"),
    msg("R", struct.pack(">i", 0)),
    msg("S", cstr("server_version") + cstr("15.8")),
    msg("S", cstr("TimeZone") + cstr("UTC")),
    msg("K", struct.pack(">ii", 4242, 0x1234567)),
    msg("Z", b"I"),
])
write("backend_messages", "startup", limit + startup)
write("backend_messages", "md5_and_negotiate",
      limit + msg("v", struct.pack(">ii", 0, 1) + cstr("_pq_.x")) + msg("R", struct.pack(">i", 5) + b"salt")
      + msg("R", struct.pack(">i", 3)) + msg("R", struct.pack(">i", 7)))
row_description = msg("T", struct.pack(">h", 2)
                      + cstr("id") + struct.pack(">IhIhih", 16385, 1, 23, 4, -1, 1)
                      + cstr("name") + struct.pack(">IhIhih", 16385, 2, 25, -1, -1, 0))
data_row = msg("D", struct.pack(">hi", 2, 4) + struct.pack(">i", 7) + struct.pack(">i", -1))
write("backend_messages", "extended_query",
      limit + msg("1") + msg("t", struct.pack(">hII", 2, 23, 25)) + row_description + msg("2") + data_row
      + data_row + msg("C", cstr("SELECT 2")) + msg("3") + msg("Z", b"T"))
write("backend_messages", "errors_and_notices",
      limit + msg("N", cstr("SNOTICE") + cstr("VNOTICE") + cstr("C00000") + cstr("Mhello") + b"\0")
      + msg("E", b"".join(cstr(f) for f in ["SERROR", "VERROR", "C42P01", 'Mrelation "x" does not exist', "P15",
                                             "Fparse_relation.c", "L1392", "RparserOpenTable"]) + b"\0")
      + msg("A", struct.pack(">i", 99) + cstr("chan") + cstr("payload")) + msg("I") + msg("n") + msg("s")
      + msg("Z", b"E"))
write("backend_messages", "copy",
      limit + msg("G", struct.pack(">bhhh", 1, 2, 1, 1)) + msg("H", struct.pack(">bhhh", 0, 2, 0, 0))
      + msg("d", b"1\tone\n") + msg("c") + msg("C", cstr("COPY 1")) + msg("Z", b"I"))
write("backend_messages", "too_large_for_limit", bytes([0]) + msg("S", cstr("x" * 80) + cstr("y")))


# --- type_decoders: index into its `kinds` table, a format byte (1 binary), the value
kinds = ["bool", "int2", "int4", "int8", "oid", "float4", "float8", "numeric", "text", "varchar", "bytea",
         "uuid", "date", "time", "timestamp", "timestamptz", "interval", "json", "jsonb", "inet", "cidr",
         "int4?", "int8 as numeric", "bool[]", "int4[]", "int8[][]", "float8[]", "numeric[][][]", "text[]",
         "text[][]", "bytea[]", "uuid[]", "date[]", "timestamptz[]", "interval[]", "inet[]", "jsonb[]"]


def value(kind, binary, data):
    index = kinds.index(kind)
    return bytes([index, 1 if binary else 0]) + (data if isinstance(data, bytes) else data.encode())


def binary_array(element_oid, dims, elements):
    out = struct.pack(">iiI", len(dims), 1 if None in elements else 0, element_oid)
    for length, lower in dims:
        out += struct.pack(">ii", length, lower)
    for e in elements:
        out += struct.pack(">i", -1) if e is None else struct.pack(">i", len(e)) + e
    return out


text_seeds = {
    "bool": "t", "int2": "-32768", "int4": "2147483647", "int8": "-9223372036854775808", "oid": "4294967295",
    "float4": "3.4028235e+38", "float8": "-1.7976931348623157e+308", "numeric": "-12.3400", "text": "h\u00e9llo",
    "bytea": "\\x00ff", "uuid": "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "date": "2024-02-29",
    "time": "23:59:59.999999", "timestamp": "2024-02-29 13:45:00.5", "timestamptz": "0044-03-15 12:00:00+00 BC",
    "json": '{"a": [1, null]}', "inet": "2001:db8::1/64", "cidr": "10.0.0.0/8", "int4[]": "{1,NULL,3}",
    "int8[][]": "[0:1][1:1]={{1},{2}}", "numeric[][][]": "{{{1.5}}}", "text[]": '{"a b",NULL,"x\\"y"}',
    "date[]": "{2024-02-29,infinity}", "interval[]": '{"1 year 2 mons","-00:00:01"}',
}
for i, (kind, text) in enumerate(text_seeds.items()):
    write("type_decoders", f"text_{i:02d}", value(kind, False, text))
# interval in each IntervalStyle, as the server prints '1 year 2 mons -3 days 04:05:06.5'
for style, text in {"postgres": "1 year 2 mons -3 days +04:05:06.5",
                    "postgres_verbose": "@ 1 year 2 mons -3 days 4 hours 5 mins 6.5 secs",
                    "iso_8601": "P1Y2M-3DT4H5M6.5S", "sql_standard": "+1-2 -3 +4:05:06.5"}.items():
    write("type_decoders", f"interval_{style}", value("interval", False, text))
binary_seeds = [
    ("int8", struct.pack(">q", -2)), ("float8", struct.pack(">d", 0.1)), ("float4", struct.pack(">f", 1e-45)),
    ("numeric", bytes.fromhex("0002000040000004000c0d48")), ("uuid", bytes(range(16))),
    ("date", struct.pack(">i", -2451545)), ("time", struct.pack(">q", 86400000000)),
    ("timestamp", struct.pack(">q", 9223371331199999999)), ("timestamptz", struct.pack(">q", -211813488000000000)),
    ("interval", struct.pack(">qii", -3723000001, -3, 14)), ("jsonb", b"\x01{}"),
    ("inet", bytes([3, 64, 0, 16]) + bytes.fromhex("20010db8000000000000000000000001")),
    ("cidr", bytes([2, 8, 1, 4, 10, 0, 0, 0])),
    ("int4[]", binary_array(23, [(3, 1)], [struct.pack(">i", 1), None, struct.pack(">i", 3)])),
    ("int8[][]", binary_array(20, [(2, 0), (1, 1)], [struct.pack(">q", 1), struct.pack(">q", 2)])),
    ("text[]", binary_array(25, [(2, 1)], [b"a b", b'x"y'])),
    ("numeric[][][]", binary_array(1700, [(1, 1), (1, 1), (1, 1)], [bytes.fromhex("000100000000000000010005")])),
    ("timestamptz[]", binary_array(1184, [(1, 1)], [struct.pack(">q", 0)])),
    # an int4[] whose element type is int4[] again: arrays nested in arrays
    ("int4[]", binary_array(1007, [(1, 1)], [binary_array(23, [(1, 1)], [struct.pack(">i", 7)])])),
]
for i, (kind, data) in enumerate(binary_seeds):
    write("type_decoders", f"binary_{i:02d}", value(kind, True, data))


# --- scram_exchange: server-first, NUL, server-final (RFC 7677's example)
write("scram_exchange", "rfc7677",
      "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096\0"
      "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")
write("scram_exchange", "server_error",
      "r=rOprNGfwEbeRWgbNEkqOxyz,s=c2FsdA==,i=1\0e=invalid-proof")


# --- connection_settings: 0 conninfo or URI, 1 password file line, 2 service file
write("connection_settings", "conninfo",
      "\0host=h1,/tmp port=5432,5433 dbname='my db' user=u password=p\\'w sslmode=verify-full "
      "target_session_attrs=read-write connect_timeout=10 application_name=app options='-c x=y'")
write("connection_settings", "uri",
      "\0postgresql://u:p%40ss@[::1]:5432,h2/db?sslmode=require&keepalives=0&load_balance_hosts=random")
write("connection_settings", "uri_socket", "\0postgres://%2Fvar%2Frun%2Fpostgresql/db?host=/tmp&port=5433")
write("connection_settings", "passfile_line", "\1localhost:5432:db:user:se\\:cret\\\\")
write("connection_settings", "passfile_wildcards", "\1*:*:db:*:pw")
write("connection_settings", "service_file",
      "\2# comment\n[other]\nhost=x\n[svc]\nhost = db.example.com\nport=5433\n  dbname=app  \n[next]\n")


# --- inputs of the defects issue 17 §0 reported, kept as regression seeds
# binary int4[] nested 7 deep (one level more than PostgreSQL's 6 dimensions)
nested = binary_array(23, [(1, 1)], [struct.pack(">i", 7)])
for _ in range(6):
    nested = binary_array(1007, [(1, 1)], [nested])
write("type_decoders", "issue17_nested_arrays", value("int4[]", True, nested))
# timestamp_send bytes near INT64_MIN, whose day arithmetic overflowed
write("type_decoders", "issue17_timestamp_int64_min", value("timestamp", True, bytes.fromhex("80000002ffffffff")))
write("type_decoders", "issue17_timestamptz_int64_min", value("timestamptz", True, bytes.fromhex("8000000000000001")))
# an ErrorResponse with no fields; 65 SASL mechanisms; 65 unrecognized options
write("backend_messages", "issue17_empty_error", limit + msg("E", b"\0") + msg("N", b"\0"))
write("backend_messages", "issue17_long_name_lists",
      limit + msg("R", struct.pack(">i", 10) + b"M\0" * 65 + b"\0")
      + msg("v", struct.pack(">ii", 0, 65) + b"N\0" * 65))
