#pragma once
// A fake GitHub on 127.0.0.1 for unit and integration tests. It answers like github.com / GitHub
// Enterprise Server: the OAuth web flow (/login/oauth/authorize redirects back with a code or with
// error=access_denied; /login/oauth/access_token answers errors as HTTP 200 + {"error": ...} and
// form-encodes unless asked for JSON), and the REST API under /api/v3 (the GHES layout): /user,
// /user/emails, /user/orgs, /user/teams with per_page/page and Link headers, "Bad credentials" 401s
// and a 403 without User-Agent. With expiring_tokens it behaves like a GitHub App: 8 h user tokens
// with single-use refresh tokens. Users and memberships may change between requests.
//
//   FakeGitHub gh;
//   gh.upsertUser({42, "alice", "Alice", {{"alice@example.com", true, true}}, {"acme"},
//                  {{"acme", "platform"}}});
//   gh.signIn("alice");   // who the "browser" is signed in as at GitHub
//   web_url = gh.webUrl(); api_url = gh.apiUrl();

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "fakes/fake_upstream.h"

namespace broker::testing {

struct FakeGitHubUser {
  struct Email {
    std::string email;
    bool primary = false;
    bool verified = false;
  };
  int64_t id = 0;
  std::string login;
  std::string name;
  std::vector<Email> emails;
  std::vector<std::string> orgs;                           // org logins
  std::vector<std::pair<std::string, std::string>> teams;  // {org login, team slug}
};

struct FakeGitHubOptions {
  std::string client_id = "fake-github-client";
  std::string client_secret = "fake-github-secret";
  bool expiring_tokens = false;  // GitHub App user tokens
  int64_t token_ttl = 8 * 3600;
  int64_t refresh_token_ttl = 184 * 86400;
  int max_per_page = 100;  // GitHub's cap; lower it to force pagination
  Clock* clock = nullptr;  // token and code expiry; nullptr = the system clock
};

class FakeGitHub : public FakeUpstreamServer {
 public:
  explicit FakeGitHub(FakeGitHubOptions options = {});
  ~FakeGitHub();

  std::string webUrl() const { return baseUrl(); }
  std::string apiUrl() const { return baseUrl() + "/api/v3"; }
  const FakeGitHubOptions& options() const { return options_; }

  void upsertUser(FakeGitHubUser user);
  void setOrgs(const std::string& login, std::vector<std::string> orgs);
  void setTeams(const std::string& login, std::vector<std::pair<std::string, std::string>> teams);
  // The account the browser is signed in as when it reaches /login/oauth/authorize.
  void signIn(const std::string& login);
  // The user presses "Cancel" on GitHub's authorization page.
  void setDenyAuthorization(bool deny);
  // Every token of this user answers 401 from now on (the user revoked the app).
  void revokeTokens(const std::string& login);
  // The token endpoint answers {"error": error} (HTTP 200, like GitHub) until set back to "".
  void setTokenError(const std::string& error);
  // Every endpoint answers 200 with a body that is not JSON.
  void setGarbage(bool garbage);
  // The REST API answers 403 "API rate limit exceeded" with x-ratelimit-remaining: 0.
  void setRateLimited(bool limited);

  // Query parameters of the last /login/oauth/authorize request.
  std::map<std::string, std::string> lastAuthorizeParams() const;
  int refreshGrants() const;

 private:
  struct Code {
    int64_t user_id;
    std::string redirect_uri, challenge, scope;
    int64_t expires_at;
  };
  struct Token {
    int64_t user_id;
    int64_t expires_at;  // 0 = never
  };

  http::Response authorize(const http::Request& req);
  http::Response accessToken(const http::Request& req);
  http::Response tokenAnswer(const http::Request& req, const nlohmann::json& body) const;
  nlohmann::json issueTokens(int64_t user_id, const std::string& scope);
  // The signed-in user behind the bearer token, or nullptr (the caller answers 401).
  const FakeGitHubUser* authenticated(const http::Request& req) const;
  // A REST answer for the token's user; arrays are paginated like GitHub does.
  http::Response api(const http::Request& req,
                     const std::function<nlohmann::json(const FakeGitHubUser&)>& body);
  http::Response page(const http::Request& req, const nlohmann::json& all) const;

  FakeGitHubOptions options_;
  mutable std::mutex state_mutex_;
  std::map<int64_t, FakeGitHubUser> users_;
  std::string signed_in_;
  bool deny_ = false;
  bool garbage_ = false;
  bool rate_limited_ = false;
  std::string token_error_;
  std::map<std::string, std::string> last_authorize_;
  std::map<std::string, Code> codes_;
  std::map<std::string, Token> tokens_, refresh_tokens_;
  int refresh_grants_ = 0;
  uint64_t serial_ = 0;
};

}  // namespace broker::testing
