#pragma once
// Debian's nginx on loopback for integration tests: the given `http { }` body in a config under a
// private prefix in a temp directory (logs and temp paths there, in the foreground, as root only
// when the tests run as root), run as a ChildProcess and stopped by its pid.

#include <memory>
#include <string>

#include "fakes/broker_process.h"
#include "fakes/child_process.h"

namespace broker::testing {

class NginxProcess {
 public:
  // Starts nginx; `ready_url` is polled until it answers (false: see log()).
  NginxProcess(const TempDir& dir, const std::string& http_body);
  bool waitFor(const std::string& ready_url) const;
  std::string log() const;  // nginx's output and error log

 private:
  std::string prefix_;
  std::unique_ptr<ChildProcess> process_;
};

// A self-signed certificate for 127.0.0.1 (openssl req), as `<name>-cert.pem` and `<name>-key.pem`
// in `dir`. Returns {certificate path, key path}; fails the test when openssl does.
std::pair<std::string, std::string> loopbackCertificate(const TempDir& dir,
                                                        const std::string& name);

}  // namespace broker::testing
