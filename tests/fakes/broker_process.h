#pragma once
// Runs the real mcp-auth-broker binary for integration tests: writes a config and policy into a
// temp directory, starts `serve` on a free loopback port, waits for /health, stops with SIGTERM.

#include <sys/types.h>

#include <string>
#include <vector>

namespace broker::testing {

// A fresh directory under $TMPDIR, removed on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

uint16_t freePort();
void writeFile(const std::string& path, const std::string& content);
std::string readFile(const std::string& path);

struct BrokerConfig {
  std::string storage;  // empty: sqlite file in the temp dir
  std::string issuer;   // empty: this instance's own URL (several instances share one, a proxy's)
  std::vector<std::string> master_keys = {"integration-master-key-0123456789abcdefABCDEF"};
  std::string policy_yaml;  // empty: a default test policy (see broker_process.cpp)
  std::string extra_yaml;   // appended to the config (e.g. "tokens:\n  refresh_grace: 2s\n")
  // The `rate_limits:` section. Tests register clients and sign in far faster than people do,
  // so by default every group is raised far above the production defaults.
  std::string rate_limits_yaml =
      "rate_limits:\n"
      "  register: {burst: 100000, per_second: 100000}\n"
      "  browser: {burst: 100000, per_second: 100000}\n"
      "  token: {burst: 100000, per_second: 100000}\n"
      "  revoke: {burst: 100000, per_second: 100000}\n"
      "  validate: {burst: 100000, per_second: 100000}\n";
  // The `upstreams:` mapping's entries (indented by two spaces); empty: the dev upstream only.
  std::string upstreams_yaml;
  uint16_t port = 0;  // 0: pick a free port
  // Runs the broker through this command (e.g. a seccomp sandbox that then execs it).
  std::vector<std::string> launcher;
};

struct CommandResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr
};

class BrokerProcess {
 public:
  BrokerProcess(const TempDir& dir, BrokerConfig config);
  ~BrokerProcess();

  // Starts and waits until /health answers 200 (fails the test on timeout).
  void start();
  // SIGTERM, waits, returns the exit status (-1 if it had to be killed).
  int stop();
  // SIGKILL, as a crash or the OOM killer would end it: no shutdown code runs. Reaps the process;
  // start() runs it again on the same port and store.
  void kill9();
  bool running() const { return pid_ > 0; }
  // Sends `sig` (e.g. SIGHUP) to the running broker.
  void signal(int sig) const;

  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  uint16_t port() const { return port_; }
  const std::string& configPath() const { return config_path_; }
  const std::string& policyPath() const { return policy_path_; }
  std::string logs() const;
  // Rewrites the config file (e.g. new master keys) for the next start().
  void rewriteConfig(const BrokerConfig& config);

  // Runs `mcp-auth-broker --config <this config> args...`.
  CommandResult cli(const std::vector<std::string>& args) const;

 private:
  const TempDir& dir_;
  BrokerConfig config_;
  uint16_t port_;
  std::string config_path_;
  std::string policy_path_;
  std::string log_path_;
  pid_t pid_ = -1;
};

std::string defaultTestPolicy();
CommandResult runCommand(const std::vector<std::string>& argv);

}  // namespace broker::testing
