#pragma once
// Drives the broker like an MCP client plus a browser: registration, PKCE, the authorize ->
// consent -> dev login -> callback steps, and the token endpoint.

#include <string>
#include <vector>

#include "fakes/http_client.h"

namespace broker::testing {

struct RegisteredClient {
  std::string client_id;
  std::string client_secret;
  std::string redirect_uri;
  std::string auth_method;
};

struct TokenResponse {
  long status = 0;
  std::string access_token;
  std::string refresh_token;
  std::string scope;
  long long expires_in = 0;
  std::string error;
  std::string body;
  std::string cache_control;
};

struct AuthorizeOutcome {
  long status = 0;           // of the last response
  std::string redirect;      // Location sent to the client's redirect URI ("" if none)
  std::string page;          // last HTML page
  std::string code;          // from the redirect
  std::string error;         // from the redirect
  std::string iss;           // from the redirect
  std::string state;         // from the redirect
  std::string next;          // startLogin: the upstream authorization URL the browser goes to next
  std::string content_type;  // of the last response
};

struct PkcePair {
  std::string verifier;
  std::string challenge;
};
PkcePair makePkce();

struct AuthorizeRequest {
  std::string user = "alice";
  std::string groups;
  std::string scope;     // "" = omit
  std::string resource;  // "" = omit
  std::string state = "client-state-123";
  std::string challenge;  // set by authorize() when empty
  std::string extra_query;
};

class OAuthDriver {
 public:
  explicit OAuthDriver(std::string base_url) : base_(std::move(base_url)) {}

  RegisteredClient registerClient(
      const std::string& auth_method = "none",
      const std::string& redirect_uri = "http://127.0.0.1:7777/callback", bool refresh = true);
  // The browser up to the upstream hop: GET /authorize and, on the consent page, the button of
  // `upstream` ("" = submit without choosing). On success `next` is where the broker sent the
  // browser (the upstream's authorization URL); otherwise the outcome is final.
  AuthorizeOutcome startLogin(const RegisteredClient& client, const AuthorizeRequest& req,
                              const std::string& upstream, PkcePair* pkce);
  // The browser follows redirects from `url` (across hosts) until it reaches the client's
  // redirect URI or a page. An error page's "continue" link is read as the client's redirect.
  AuthorizeOutcome follow(const RegisteredClient& client, const std::string& url,
                          int max_hops = 10);
  // startLogin + follow: a login at an upstream that signs the browser in without a form (the
  // fake GitHub and the fake OIDC provider).
  AuthorizeOutcome authorizeVia(const RegisteredClient& client, const AuthorizeRequest& req,
                                const std::string& upstream, PkcePair* pkce);
  // authorizeVia + the code exchange.
  TokenResponse loginVia(const RegisteredClient& client, const std::string& upstream,
                         const std::string& scope = "");

  // Runs the browser part with the dev upstream. `pkce` receives the verifier that matches the
  // challenge sent.
  AuthorizeOutcome authorize(const RegisteredClient& client, const AuthorizeRequest& req,
                             PkcePair* pkce);
  TokenResponse exchange(const RegisteredClient& client, const std::string& code,
                         const std::string& verifier, const std::string& resource = "");
  TokenResponse refresh(const RegisteredClient& client, const std::string& refresh_token,
                        const std::string& scope = "", const std::string& resource = "");
  // Full login for `user`, returning the first tokens.
  TokenResponse login(const RegisteredClient& client, const std::string& user,
                      const std::string& scope = "");
  // POST with the client's authentication method applied.
  HttpResult clientPost(const RegisteredClient& client, const std::string& path,
                        std::vector<std::pair<std::string, std::string>> fields);

  HttpClient& browser() { return browser_; }
  HttpClient& api() { return api_; }
  const std::string& base() const { return base_; }

 private:
  std::string base_;
  HttpClient browser_;
  HttpClient api_;
};

TokenResponse parseTokenResponse(const HttpResult& r);

}  // namespace broker::testing
