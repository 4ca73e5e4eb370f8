// PostgreSQL's md5 password response: "md5" || md5hex(md5hex(password || user) || salt).
#pragma once

#include <string>
#include <string_view>

#include "crypto.hpp"

namespace pgcoro::auth {

inline std::string md5_password_response(std::string_view user, std::string_view password, std::string_view salt) {
    std::string inner(password);
    inner += user;
    std::string outer = md5_hex(inner);
    outer += salt;
    return "md5" + md5_hex(outer);
}

}  // namespace pgcoro::auth
