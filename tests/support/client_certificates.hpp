// Minting client certificates signed by the test server's client CA, for
// tests that rotate a certificate on disk.
#pragma once

#include "test_server.hpp"

#include <cstdlib>
#include <stdexcept>
#include <string>

namespace test {

// Runs a shell command (openssl) and throws when it fails.
inline void shell(const std::string& cmd) {
    if (std::system(cmd.c_str()) != 0) throw std::runtime_error("command failed: " + cmd);
}

// Writes a fresh key and a certificate for CN=pgcoro_cert with the given
// serial, replacing both files atomically (mv), key mode 0600.
inline void mint_client_cert(const std::string& cert, const std::string& key, int serial) {
    const auto ca_cert = env("PGCORO_TEST_CLIENT_CA_CERT");
    const auto ca_key = env("PGCORO_TEST_CLIENT_CA_KEY");
    shell("openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=pgcoro_cert -keyout " + key +
          ".new -out " + cert + ".csr 2>/dev/null");
    shell("openssl x509 -req -in " + cert + ".csr -CA " + ca_cert + " -CAkey " + ca_key + " -set_serial " +
          std::to_string(serial) + " -days 1 -out " + cert + ".new 2>/dev/null");
    shell("chmod 600 " + key + ".new && mv " + key + ".new " + key + " && mv " + cert + ".new " + cert);
}

}  // namespace test
