#include "fakes/oidc_provider_process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <sstream>
#include <stdexcept>
#include <thread>

#ifndef BROKER_SOURCE_DIR
#define BROKER_SOURCE_DIR "."
#endif

namespace broker::testing {
namespace {

const std::string kProviderDir = std::string(BROKER_SOURCE_DIR) + "/tests/oidc-provider";

}  // namespace

OidcProviderProcess::OidcProviderProcess(const TempDir& dir, const nlohmann::json& setup) {
  if (!std::filesystem::exists(kProviderDir + "/node_modules/oidc-provider/package.json")) {
    throw std::runtime_error("oidc-provider is not installed: run `npm ci` in " + kProviderDir +
                             " (scripts/test does)");
  }
  std::string setup_path = dir.file("oidc-provider-setup.json");
  log_path_ = dir.file("oidc-provider.log");
  writeFile(setup_path, setup.dump());
  const std::string script = kProviderDir + "/server.mjs";
  pid_t pid = fork();
  if (pid == 0) {
    int fd = open(log_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(fd, 1);
    dup2(fd, 2);
    close(fd);
    execlp("node", "node", script.c_str(), setup_path.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  if (pid < 0) throw std::runtime_error("fork failed");
  pid_ = pid;
  // RSA key generation and loading the package take a few seconds on a busy machine.
  for (int i = 0; i < 600 && issuer_.empty(); ++i) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      throw std::runtime_error("oidc-provider exited during start-up:\n" + output());
    }
    std::istringstream lines(output());
    std::string line;
    while (std::getline(lines, line)) {
      auto j = nlohmann::json::parse(line, nullptr, false);
      if (j.is_object() && j.contains("issuer")) issuer_ = j["issuer"].get<std::string>();
    }
    if (issuer_.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  if (issuer_.empty()) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    pid_ = -1;
    throw std::runtime_error("oidc-provider did not start:\n" + output());
  }
}

OidcProviderProcess::~OidcProviderProcess() {
  if (pid_ <= 0) return;
  kill(pid_, SIGTERM);
  for (int i = 0; i < 100; ++i) {
    if (waitpid(pid_, nullptr, WNOHANG) == pid_) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  kill(pid_, SIGKILL);
  waitpid(pid_, nullptr, 0);
}

std::string OidcProviderProcess::output() const {
  return readFile(log_path_);
}

HttpResult OidcProviderProcess::signIn(HttpClient& browser, const std::string& page_html,
                                       const std::string& login) {
  return browser.post(issuer_ + "/interaction/" + inputValue(page_html, "uid") + "/login",
                      formEncode({{"login", login}}));
}

HttpResult OidcProviderProcess::cancel(HttpClient& browser, const std::string& page_html) {
  return browser.post(issuer_ + "/interaction/" + inputValue(page_html, "uid") + "/abort", "");
}

void OidcProviderProcess::setAccount(const std::string& login, const nlohmann::json& claims) {
  HttpClient http;
  auto r = http.request("PUT", issuer_ + "/test/accounts/" + login, claims.dump(),
                        {"Content-Type: application/json"});
  if (r.status != 204) throw std::runtime_error("setAccount failed: " + r.body);
}

}  // namespace broker::testing
