// Precompiled for the test programs: the heavy headers every test includes.
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include "../support/catch.hpp"
