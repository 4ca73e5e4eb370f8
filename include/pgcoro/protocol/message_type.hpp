// The type byte of every message the server may send (the protocol chapter,
// "Message Formats"), named, so that code says ready_for_query where the
// wire says 'Z'.
#pragma once

#include <string>
#include <string_view>

namespace pgcoro::protocol {

enum class message_type : char {
    authentication = 'R',
    backend_key_data = 'K',
    bind_complete = '2',
    close_complete = '3',
    command_complete = 'C',
    copy_data = 'd',
    copy_done = 'c',
    copy_in_response = 'G',
    copy_out_response = 'H',
    copy_both_response = 'W',
    data_row = 'D',
    empty_query_response = 'I',
    error_response = 'E',
    function_call_response = 'V',
    negotiate_protocol_version = 'v',
    no_data = 'n',
    notice_response = 'N',
    notification_response = 'A',
    parameter_description = 't',
    parameter_status = 'S',
    parse_complete = '1',
    portal_suspended = 's',
    ready_for_query = 'Z',
    row_description = 'T',
};

// The protocol chapter's name of the message; empty for a byte that names none.
constexpr std::string_view message_name(message_type t) noexcept {
    using enum message_type;
    switch (t) {
    case authentication: return "Authentication";
    case backend_key_data: return "BackendKeyData";
    case bind_complete: return "BindComplete";
    case close_complete: return "CloseComplete";
    case command_complete: return "CommandComplete";
    case copy_data: return "CopyData";
    case copy_done: return "CopyDone";
    case copy_in_response: return "CopyInResponse";
    case copy_out_response: return "CopyOutResponse";
    case copy_both_response: return "CopyBothResponse";
    case data_row: return "DataRow";
    case empty_query_response: return "EmptyQueryResponse";
    case error_response: return "ErrorResponse";
    case function_call_response: return "FunctionCallResponse";
    case negotiate_protocol_version: return "NegotiateProtocolVersion";
    case no_data: return "NoData";
    case notice_response: return "NoticeResponse";
    case notification_response: return "NotificationResponse";
    case parameter_description: return "ParameterDescription";
    case parameter_status: return "ParameterStatus";
    case parse_complete: return "ParseComplete";
    case portal_suspended: return "PortalSuspended";
    case ready_for_query: return "ReadyForQuery";
    case row_description: return "RowDescription";
    }
    return {};
}

// For error messages: "ReadyForQuery ('Z')", or "unknown message type 'x'".
inline std::string describe_message_type(message_type t) {
    const char byte = static_cast<char>(t);
    const bool printable = byte >= 0x20 && byte < 0x7f;
    const std::string shown = printable ? "'" + std::string(1, byte) + "'" : "0x" + [&] {
        static constexpr char digits[] = "0123456789abcdef";
        const auto u = static_cast<unsigned char>(byte);
        return std::string{digits[u >> 4], digits[u & 15]};
    }();
    const auto name = message_name(t);
    if (name.empty()) return "unknown message type " + shown;
    return std::string(name) + " (" + shown + ")";
}

}  // namespace pgcoro::protocol
