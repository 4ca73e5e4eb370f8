// Fuzz target: bytes as the server would send them after startup. They are
// framed into messages exactly as the session frames its read buffer
// (protocol::next_frame, with a max_message_size taken from the first input
// byte so the size limit is exercised too), and each message goes to the
// decoder the connection hands its type to. Malformed input must end in a
// pgcoro::error; anything else (a crash, a sanitizer report, another
// exception, an allocation beyond -malloc_limit_mb) is a finding.
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <utility>
#include <vector>

#include <pgcoro/protocol/backend.hpp>
#include <pgcoro/protocol/framing.hpp>

namespace {

using namespace pgcoro::protocol;

// What the connection keeps between messages: the columns of the last
// RowDescription, against which each DataRow is checked.
struct decoding_state {
    std::vector<field_description> fields;
    bool have_fields = false;
    std::vector<std::uint32_t> parameter_types;
    std::uint64_t rows = 0;  // DataRows since the last CommandComplete, checked against its tag
};

void decode_message(const backend_message& m, decoding_state& state) {
    using enum message_type;
    switch (m.type) {
    case authentication: (void)decode_authentication(m.body); break;
    case parameter_status: (void)decode_parameter_status(m.body); break;
    case backend_key_data: (void)decode_backend_key_data(m.body); break;
    case ready_for_query: (void)decode_ready_for_query(m.body); break;
    case negotiate_protocol_version: (void)decode_negotiate_protocol_version(m.body); break;
    case error_response: (void)decode_error_fields(m.body); break;
    case notice_response: (void)decode_error_fields(m.body, "NoticeResponse"); break;
    case row_description:
        decode_row_description(m.body, state.fields);
        state.have_fields = true;
        break;
    case data_row: {
        // Before any RowDescription, take the row's own count so that the
        // field walk is reached at all.
        std::size_t expected = state.fields.size();
        if (!state.have_fields && m.body.size() >= 2)
            expected = static_cast<std::uint16_t>((static_cast<unsigned char>(m.body[0]) << 8) |
                                                  static_cast<unsigned char>(m.body[1]));
        std::size_t total = 0;
        decode_data_row(m.body, expected, [&](std::size_t, std::optional<std::string_view> v) {
            if (v) total += v->size();
        });
        ++state.rows;
        break;
    }
    case parameter_description: decode_parameter_description(m.body, state.parameter_types); break;
    case command_complete: {
        const auto tag = decode_command_complete(m.body);
        (void)rows_affected(tag);
        const auto rows = std::exchange(state.rows, 0);
        check_rows_returned(tag, rows);
        break;
    }
    case copy_in_response: (void)decode_copy_response(m.body); break;
    case copy_out_response: (void)decode_copy_response(m.body, "CopyOutResponse"); break;
    case copy_both_response: (void)decode_copy_response(m.body, "CopyBothResponse"); break;
    case notification_response: (void)decode_notification(m.body); break;
    case bind_complete: expect_empty_body(m.body, "BindComplete"); break;
    case close_complete: expect_empty_body(m.body, "CloseComplete"); break;
    case parse_complete: expect_empty_body(m.body, "ParseComplete"); break;
    case no_data: expect_empty_body(m.body, "NoData"); break;
    case empty_query_response: expect_empty_body(m.body, "EmptyQueryResponse"); break;
    case portal_suspended: expect_empty_body(m.body, "PortalSuspended"); break;
    case copy_done: expect_empty_body(m.body, "CopyDone"); break;
    case copy_data:               // raw bytes, handed to the user as they are
    case function_call_response:  // never requested by pgcoro
        break;
    default: (void)describe_message_type(m.type); break;  // the session's error text for it
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 1) return 0;
    // 2^6 .. 2^21 bytes: small limits make the message_too_large path reachable.
    const std::size_t max_message_size = std::size_t{1} << (6 + data[0] % 16);
    const bool starting = (data[0] & 0x80) != 0;  // the startup phase's limits
    std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
    decoding_state state;
    for (;;) {
        frame f;
        try {
            f = next_frame(input, max_message_size, starting);
        } catch (const pgcoro::error&) {
            return 0;  // a bad length: the connection is broken, nothing more is read
        }
        if (!f.complete) return 0;
        input.remove_prefix(f.needed);
        try {
            decode_message(f.message, state);
        } catch (const pgcoro::error&) {
            // The connection would be broken here; the fuzzer goes on to
            // the next message so that one input reaches several decoders.
        }
    }
}
