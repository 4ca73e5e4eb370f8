// Every type codec: conversions between C++ values and PostgreSQL's binary
// and text wire formats, the pg_traits customization point, and the
// decode_field / encode_param entry points. Pure functions, no I/O.
#pragma once

#include "types/type_traits.hpp"
#include "types/oids.hpp"
#include "types/integers.hpp"
#include "types/floats.hpp"
#include "types/numeric.hpp"
#include "types/text.hpp"
#include "types/bytea.hpp"
#include "types/uuid.hpp"
#include "types/datetime.hpp"
#include "types/interval.hpp"
#include "types/json.hpp"
#include "types/network.hpp"
#include "types/object_id.hpp"
#include "types/optional.hpp"
#include "types/arrays.hpp"
#include "types/field_codec.hpp"
#include "types/text_output.hpp"
