// Fuzz target: the server's two SCRAM-SHA-256 messages, as a hostile server
// would send them in AuthenticationSASLContinue and AuthenticationSASLFinal.
// Input: server-first-message, a NUL, server-final-message. The client is the
// one of RFC 7677's example (user "user", password "pencil", its client
// nonce), so the seed of that example reaches a verified exchange. Malformed
// messages must end in a pgcoro::error.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include <pgcoro/auth/scram_client.hpp>

namespace {

// RFC 7677's example asks for 4096 iterations; a larger limit would only
// slow the fuzzer down (a salted password costs one PBKDF2 each).
constexpr std::uint32_t max_iterations = 4096;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view input(reinterpret_cast<const char*>(data), size);
    const auto nul = input.find('\0');
    const std::string_view server_first = input.substr(0, nul);
    const std::string_view server_final = nul == std::string_view::npos ? std::string_view{} : input.substr(nul + 1);

    pgcoro::auth::scram_client client("pencil", pgcoro::auth::channel_binding_use::unsupported, {}, max_iterations,
                                      "rOprNGfwEbeRWgbNEkqO", "user");
    (void)client.client_first_message();
    try {
        (void)client.client_final_message(server_first);
        client.verify_server_final(server_final);
    } catch (const pgcoro::error&) {
    }
    return 0;
}
