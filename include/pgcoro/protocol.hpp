// The sans-I/O protocol layer: encode and decode over byte buffers only.
#pragma once
#include "protocol/backend.hpp"
#include "protocol/framing.hpp"
#include "protocol/frontend.hpp"
#include "protocol/message_reader.hpp"
#include "protocol/message_type.hpp"
#include "protocol/message_writer.hpp"
