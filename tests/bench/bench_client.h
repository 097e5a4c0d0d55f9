#pragma once
// A lean HTTP/1.1 client for the load generator: one libcurl easy handle (so its connection is
// kept alive between requests), no redirects followed, only the response headers a client or a
// browser acts on (Location, Set-Cookie). On top of it, the steps an MCP client and a browser make
// against the broker: registration, the authorization-code flow with PKCE, refresh, validate.

#include <map>
#include <string>
#include <vector>

namespace broker::bench {

struct Reply {
  long status = 0;  // 0 when the transfer failed; `body` then says why
  std::string body;
  std::string location;
  std::vector<std::pair<std::string, std::string>> set_cookies;  // name, value
};

// A browser's cookie jar, reduced to what the broker sets: name -> value, no attributes.
using CookieJar = std::map<std::string, std::string>;

class HttpConnection {
 public:
  explicit HttpConnection(long timeout_ms);
  ~HttpConnection();
  HttpConnection(const HttpConnection&) = delete;
  HttpConnection& operator=(const HttpConnection&) = delete;

  // GET when `content_type` is empty, else POST `body`. Cookies in `jar` are sent, and cookies the
  // answer sets or deletes are applied to it.
  Reply send(const std::string& url, const std::string& content_type = "",
             const std::string& body = "", CookieJar* jar = nullptr);

 private:
  void* curl_;
};

struct Client {
  std::string client_id;
  std::string redirect_uri;
};

struct Tokens {
  std::string access_token;
  std::string refresh_token;
};

// Why a step failed: the step, its HTTP status and the start of the answer.
struct StepError {
  std::string what;
  void set(const std::string& step, const Reply& r);
};

class OAuthClient {
 public:
  OAuthClient(std::string base_url, long timeout_ms)
      : base_(std::move(base_url)), http_(timeout_ms) {}

  // POST /register: a public client (no secret) allowed the authorization_code and refresh_token
  // grants. False (with `error` set) unless the answer is 201 with a client_id.
  bool registerClient(Client& out, StepError& error);
  // Every step of one authorization-code flow with a fresh cookie jar (so the consent page is
  // shown): GET /authorize, POST /authorize/consent, GET the dev login page, POST the dev
  // callback, POST /token. True only when the token endpoint answers 200.
  bool login(const Client& client, const std::string& user, Tokens& out, StepError& error);
  // The same flow against the reference provider (tests/oidc-provider/server.mjs, whose login
  // step grants the requested scopes): GET /auth, GET its login form, POST the login, GET the
  // resume URL (the redirect with the code), POST /token. `client` is one of its static clients.
  bool loginReference(const Client& client, const std::string& user, Tokens& out, StepError& error);
  // POST /token with grant_type=refresh_token; on 200 `tokens` becomes the rotated pair.
  bool refresh(const Client& client, Tokens& tokens, StepError& error);
  // POST /validate with {"token": ...}; true on 200 with "valid": true.
  bool validate(const std::string& access_token, StepError& error);

 private:
  bool tokenRequest(const std::string& form, Tokens& out, StepError& error);

  std::string base_;
  HttpConnection http_;
};

// application/x-www-form-urlencoded body from name/value pairs.
std::string formBody(const std::vector<std::pair<std::string, std::string>>& fields);

}  // namespace broker::bench
