#include "fakes/broker_process.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "fakes/http_client.h"

#ifndef BROKER_BINARY
#define BROKER_BINARY "mcp-auth-broker"
#endif

namespace broker::testing {

TempDir::TempDir() {
  std::string base = std::getenv("TMPDIR") ? std::getenv("TMPDIR") : "/tmp";
  std::string tmpl = base + "/broker-test.XXXXXX";
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  if (!mkdtemp(buf.data())) throw std::runtime_error("mkdtemp failed");
  path_ = buf.data();
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

uint16_t freePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

void writeFile(const std::string& path, const std::string& content) {
  std::ofstream out(path, std::ios::trunc);
  out << content;
}

std::string readFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string defaultTestPolicy() {
  return R"(# Test policy: one server alice and bob may use, one only bob may use.
default_scopes: [mcp:localhost:demo]
servers:
  localhost:
    demo:
      name: Demo server
      description: A demo <MCP> server & friends
      resource: http://127.0.0.1:9000/mcp
      allowed_users: [alice, bob]
      allowed_groups: [admins]
    admin:
      name: Admin tools
      resource: http://127.0.0.1:9001/mcp
      allowed_users: [bob]
)";
}

BrokerProcess::BrokerProcess(const TempDir& dir, BrokerConfig config)
    : dir_(dir), config_(std::move(config)), port_(config_.port ? config_.port : freePort()) {
  config_path_ = dir_.file("config-" + std::to_string(port_) + ".yaml");
  policy_path_ = dir_.file("policy.yaml");
  log_path_ = dir_.file("broker-" + std::to_string(port_) + ".log");
  rewriteConfig(config_);
}

void BrokerProcess::rewriteConfig(const BrokerConfig& config) {
  config_ = config;
  if (!std::filesystem::exists(policy_path_) || !config_.policy_yaml.empty()) {
    writeFile(policy_path_,
              config_.policy_yaml.empty() ? defaultTestPolicy() : config_.policy_yaml);
  }
  std::string storage =
      config_.storage.empty() ? "sqlite:" + dir_.file("broker.db") : config_.storage;
  std::string keys;
  for (const auto& k : config_.master_keys) keys += "    - \"" + k + "\"\n";
  std::string yaml =
      "issuer: " + (config_.issuer.empty() ? url() : config_.issuer) +
      "\nlisten: 127.0.0.1:" + std::to_string(port_) + "\nstorage: \"" + storage +
      "\"\npolicy: " + policy_path_ +
      "\ndev_mode: true\nlog_level: info\nsecrets:\n  master_keys:\n" + keys +
      config_.rate_limits_yaml + "upstreams:\n" +
      (config_.upstreams_yaml.empty() ? "  dev:\n    type: dev\n" : config_.upstreams_yaml) +
      config_.extra_yaml;
  writeFile(config_path_, yaml);
}

BrokerProcess::~BrokerProcess() {
  if (pid_ > 0) stop();
}

void BrokerProcess::signal(int sig) const {
  if (pid_ > 0) kill(pid_, sig);
}

std::string BrokerProcess::logs() const {
  return readFile(log_path_);
}

void BrokerProcess::start() {
  // Built before fork: the child of a threaded process should not allocate.
  std::vector<std::string> args = config_.launcher;
  args.insert(args.end(), {BROKER_BINARY, "--config", config_path_, "serve"});
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = fork();
  if (pid == 0) {
    int fd = open(log_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    dup2(fd, 1);
    dup2(fd, 2);
    close(fd);
    // The broker must not inherit secrets from the test environment.
    unsetenv("DATABASE_URL");
    unsetenv("BROKER_MASTER_KEYS");
    unsetenv("ISSUER_URL");
    execv(argv[0], argv.data());
    _exit(127);
  }
  pid_ = pid;
  HttpClient client;
  for (int i = 0; i < 300; ++i) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      throw std::runtime_error("broker exited during start-up:\n" + logs());
    }
    auto r = client.get(url() + "/health");
    if (r.status == 200) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  stop();
  throw std::runtime_error("broker did not become healthy:\n" + logs());
}

int BrokerProcess::stop() {
  if (pid_ <= 0) return -1;
  kill(pid_, SIGTERM);
  int status = 0;
  for (int i = 0; i < 300; ++i) {
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  kill(pid_, SIGKILL);
  waitpid(pid_, &status, 0);
  pid_ = -1;
  return -1;
}

void BrokerProcess::kill9() {
  if (pid_ <= 0) return;
  kill(pid_, SIGKILL);
  int status = 0;
  waitpid(pid_, &status, 0);
  pid_ = -1;
}

CommandResult runCommand(const std::vector<std::string>& argv) {
  int pipefd[2];
  if (pipe(pipefd) != 0) throw std::runtime_error("pipe failed");
  pid_t pid = fork();
  if (pid == 0) {
    dup2(pipefd[1], 1);
    dup2(pipefd[1], 2);
    close(pipefd[0]);
    close(pipefd[1]);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execv(args[0], args.data());
    _exit(127);
  }
  close(pipefd[1]);
  CommandResult r;
  char buf[4096];
  ssize_t n;
  while ((n = read(pipefd[0], buf, sizeof buf)) > 0) r.output.append(buf, static_cast<size_t>(n));
  close(pipefd[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

CommandResult BrokerProcess::cli(const std::vector<std::string>& args) const {
  std::vector<std::string> argv = {BROKER_BINARY, "--config", config_path_};
  argv.insert(argv.end(), args.begin(), args.end());
  return runCommand(argv);
}

}  // namespace broker::testing
