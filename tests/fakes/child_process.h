#pragma once
// A helper process for integration tests (nginx, a Node.js MCP server, the example C++ server):
// started with fork/exec, output to a log file, stopped with SIGTERM by its own pid.

#include <sys/types.h>

#include <string>
#include <vector>

namespace broker::testing {

class ChildProcess {
 public:
  // argv[0] is resolved on PATH when it has no '/'.
  ChildProcess(std::vector<std::string> argv, std::string log_path);
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  // Polls `url` until it answers (any HTTP status) or `timeout_ms` passes.
  bool waitForHttp(const std::string& url, int timeout_ms = 10000) const;
  bool running() const;
  void stop();  // SIGTERM, then SIGKILL after 5 s
  std::string log() const;

 private:
  mutable pid_t pid_ = -1;
  std::string log_path_;
};

// The absolute path of `program` on PATH, or "" when it is not installed.
std::string findProgram(const std::string& program);

}  // namespace broker::testing
