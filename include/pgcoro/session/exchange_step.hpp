// What an exchange algorithm answers each message with, and the first
// error it keeps for ReadyForQuery (see runner.hpp). Apart from the runner
// so that a public class can hold an exchange without the session.
#pragma once

#include <memory>
#include <optional>
#include <utility>

#include "../error.hpp"

namespace pgcoro::detail {

// What an algorithm wants after a message.
enum class next_step {
    read,        // the next message
    write,       // send what it appended, then read on
    done,        // its exchange is over
    suspend,     // stop here with the exchange still open (a chunk, a COPY): its owner continues it later
    unexpected,  // not a message it can take now: a protocol violation
};

// The first ErrorResponse of an exchange, reported once it is back at
// ReadyForQuery (the server skips to the Sync after an error, so the session
// is then in sync again).
// Held by pointer: an operation's frame carries one, and the diagnostics
// (a dozen strings) inline would push a query's frame past Asio's frame cache.
struct first_error {
    std::unique_ptr<diagnostics> failure;

    void keep(diagnostics&& d) {
        if (!failure) failure = std::make_unique<diagnostics>(std::move(d));
    }
    // At ReadyForQuery: throws what failed, if anything did.
    next_step finish() {
        if (failure) {
            auto d = std::move(*failure);
            failure.reset();
            throw server_error(std::move(d));
        }
        return next_step::done;
    }
};

}  // namespace pgcoro::detail
