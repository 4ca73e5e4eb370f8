// What a session hands its user besides results: notifications (LISTEN/
// NOTIFY) and notices. Apart from session.hpp so that the public headers can
// name them without the session itself.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "../error.hpp"

namespace pgcoro {

// A NotificationResponse (LISTEN/NOTIFY), owning its strings.
struct notification {
    std::int32_t process_id = 0;
    std::string channel;
    std::string payload;
};

using notice_handler = std::function<void(const diagnostics&)>;

}  // namespace pgcoro
