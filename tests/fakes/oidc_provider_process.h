#pragma once
// Runs tests/oidc-provider/server.mjs: the `oidc-provider` npm package (a certified OpenID
// Connect provider this project did not write) on a free loopback port, as the upstream of the
// OIDC integration tests. `npm ci` in tests/oidc-provider must have run (scripts/test does).

#include <sys/types.h>

#include <string>

#include <nlohmann/json.hpp>

#include "fakes/broker_process.h"
#include "fakes/http_client.h"

namespace broker::testing {

class OidcProviderProcess {
 public:
  // `setup`: {"clients": [...], "accounts": {"<login>": {claims}}} (see server.mjs).
  // Throws std::runtime_error when node or the package is missing or the provider does not start.
  OidcProviderProcess(const TempDir& dir, const nlohmann::json& setup);
  ~OidcProviderProcess();
  OidcProviderProcess(const OidcProviderProcess&) = delete;
  OidcProviderProcess& operator=(const OidcProviderProcess&) = delete;

  const std::string& issuer() const { return issuer_; }
  std::string output() const;  // what the provider printed (warnings, errors)

  // The user's step on the provider's login page reached at `page_html`: sign in as `login`, or
  // cancel. Returns the provider's answer (a redirect that resumes the authorization).
  HttpResult signIn(HttpClient& browser, const std::string& page_html, const std::string& login);
  HttpResult cancel(HttpClient& browser, const std::string& page_html);
  // Replaces the claims of `login` in the provider's directory.
  void setAccount(const std::string& login, const nlohmann::json& claims);

 private:
  std::string log_path_;
  std::string issuer_;
  pid_t pid_ = -1;
};

}  // namespace broker::testing
