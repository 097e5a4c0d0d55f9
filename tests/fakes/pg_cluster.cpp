#include "fakes/pg_cluster.h"

#include <pwd.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <stdexcept>

#include "fakes/broker_process.h"

namespace broker::testing {
namespace {

// The bin directory of the newest installed server version, or "".
std::string serverBinaries() {
  std::vector<std::filesystem::path> found;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/usr/lib/postgresql", ec)) {
    if (std::filesystem::exists(entry.path() / "bin" / "pg_ctl")) found.push_back(entry.path());
  }
  if (found.empty()) return "";
  std::sort(found.begin(), found.end(), [](const auto& a, const auto& b) {
    return std::stoi(a.filename().string()) < std::stoi(b.filename().string());
  });
  return (found.back() / "bin").string();
}

}  // namespace

PgCluster::PgCluster() {
  bin_ = serverBinaries();
  if (bin_.empty()) return;
  std::string tmpl = "/tmp/broker-pgc.XXXXXX";  // short: the socket path must fit in 107 bytes
  if (!mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
  dir_ = tmpl;
  if (geteuid() == 0) {
    const passwd* pg = getpwnam("postgres");
    if (!pg || chown(dir_.c_str(), pg->pw_uid, pg->pw_gid) != 0) {
      error_ = "running as root, and there is no postgres user to run the server as";
      return;
    }
    as_postgres_ = true;
  }
  port_ = freePort();
  url_ = "postgresql://broker@127.0.0.1:" + std::to_string(port_) + "/broker_test";
  if (!run(
          {bin_ + "/initdb", "-D", dir_ + "/data", "-U", "broker", "--auth=trust", "-E", "UTF8"}) ||
      !start() ||
      !run({bin_ + "/createdb", "-h", "127.0.0.1", "-p", std::to_string(port_), "-U", "broker",
            "broker_test"})) {
    url_.clear();
  }
}

PgCluster::~PgCluster() {
  if (dir_.empty()) return;
  if (std::filesystem::exists(dir_ + "/data/postmaster.pid")) (void)stop();
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

bool PgCluster::stop() {
  return run({bin_ + "/pg_ctl", "-D", dir_ + "/data", "-m", "fast", "-w", "stop"});
}

bool PgCluster::start() {
  return run({bin_ + "/pg_ctl", "-D", dir_ + "/data", "-l", dir_ + "/server.log", "-w", "-t", "60",
              "-o",
              "-p " + std::to_string(port_) + " -k " + dir_ +
                  " -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=100",
              "start"});
}

bool PgCluster::run(std::vector<std::string> argv) {
  if (as_postgres_) argv.insert(argv.begin(), {"/usr/sbin/runuser", "-u", "postgres", "--"});
  CommandResult r = runCommand(argv);
  if (r.exit_code == 0) return true;
  error_ = argv[as_postgres_ ? 4 : 0] + " failed: " + r.output;
  return false;
}

}  // namespace broker::testing
