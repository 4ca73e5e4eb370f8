#include "support/test_server.hpp"
#include <catch2/catch.hpp>
