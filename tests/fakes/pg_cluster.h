#pragma once
// A PostgreSQL cluster of a test's own, in a fresh directory on a free loopback port, for tests
// that stop and start the server. The shared cluster at TEST_DATABASE_URL must stay up for every
// other test running meanwhile. Runs the server as `postgres` when the test runs as root (initdb
// refuses root). Stopped and removed on destruction.

#include <cstdint>
#include <string>
#include <vector>

namespace broker::testing {

class PgCluster {
 public:
  PgCluster();  // initdb, start, createdb; see available()
  ~PgCluster();
  PgCluster(const PgCluster&) = delete;
  PgCluster& operator=(const PgCluster&) = delete;

  // False when the PostgreSQL server binaries are not installed; error() says why otherwise.
  bool available() const { return !bin_.empty(); }
  const std::string& error() const { return error_; }
  const std::string& url() const { return url_; }

  // `pg_ctl stop -m fast`: sessions are ended and the server is gone when this returns.
  bool stop();
  // Starts the server again on the same port; true once it accepts connections.
  bool start();

 private:
  bool run(std::vector<std::string> argv);

  std::string bin_;
  std::string dir_;
  uint16_t port_ = 0;
  std::string url_;
  std::string error_;
  bool as_postgres_ = false;
};

}  // namespace broker::testing
