// How a pool holds a member, apart from what a member is (member.hpp), so
// that pooled_connection can hold one without the pool's internals.
#pragma once

#include <memory>

namespace pgcoro::detail {

struct pool_member;

// Destroys out of line: a member_ptr moves through every checkout several
// times, and each moved-from one should cost a null test, not a call into
// an inlined ~connection.
struct pool_member_delete {
    void operator()(pool_member* m) const noexcept;
};
using member_ptr = std::unique_ptr<pool_member, pool_member_delete>;

}  // namespace pgcoro::detail
