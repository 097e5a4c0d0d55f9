#include "fakes/oauth_driver.h"

#include <nlohmann/json.hpp>

#include "broker/core/crypto.h"
#include "broker/core/encoding.h"
#include "broker/core/random.h"

namespace broker::testing {

PkcePair makePkce() {
  PkcePair p;
  p.verifier = Random::system().token(48);
  p.challenge = base64urlEncode(sha256(p.verifier));
  return p;
}

TokenResponse parseTokenResponse(const HttpResult& r) {
  TokenResponse t;
  t.status = r.status;
  t.body = r.body;
  t.cache_control = r.header("cache-control");
  auto j = nlohmann::json::parse(r.body, nullptr, false);
  if (j.is_object()) {
    t.access_token = j.value("access_token", "");
    t.refresh_token = j.value("refresh_token", "");
    t.scope = j.value("scope", "");
    t.error = j.value("error", "");
    if (j.contains("expires_in") && j["expires_in"].is_number()) t.expires_in = j["expires_in"];
  }
  return t;
}

RegisteredClient OAuthDriver::registerClient(const std::string& auth_method,
                                             const std::string& redirect_uri, bool refresh) {
  nlohmann::json body = {{"client_name", "Test <Client>"},
                         {"redirect_uris", {redirect_uri}},
                         {"token_endpoint_auth_method", auth_method}};
  body["grant_types"] = refresh ? std::vector<std::string>{"authorization_code", "refresh_token"}
                                : std::vector<std::string>{"authorization_code"};
  auto r = api_.post(base_ + "/register", body.dump(), "application/json");
  auto j = nlohmann::json::parse(r.body, nullptr, false);
  RegisteredClient c;
  if (r.status != 201 || !j.is_object()) return c;
  c.client_id = j.value("client_id", "");
  c.client_secret = j.value("client_secret", "");
  c.redirect_uri = redirect_uri;
  c.auth_method = auth_method;
  return c;
}

namespace {

// Records `r` in `out` when it ends the browser's part: a redirect to the client, or a page.
// False for a redirect elsewhere (the browser goes on).
bool finishOutcome(const RegisteredClient& client, const HttpResult& r, AuthorizeOutcome& out) {
  out.status = r.status;
  out.content_type = r.header("content-type");
  std::string loc = r.header("location");
  if (r.status >= 300 && r.status < 400 && loc.rfind(client.redirect_uri, 0) == 0) {
    out.redirect = loc;
    out.code = queryParam(loc, "code");
    out.error = queryParam(loc, "error");
    out.iss = queryParam(loc, "iss");
    out.state = queryParam(loc, "state");
    return true;
  }
  if (r.status < 300 || r.status >= 400 || loc.empty()) {
    out.page = r.body;
    // Error pages carry a link back to the client with the OAuth error.
    std::string href = linkHref(out.page, "continue");
    if (!href.empty()) {
      out.redirect = href;
      out.error = queryParam(href, "error");
      out.iss = queryParam(href, "iss");
      out.state = queryParam(href, "state");
    }
    return true;
  }
  return false;
}

// A Location relative to the request's origin ("/interaction/..."), made absolute.
std::string resolveLocation(const std::string& from, const std::string& location) {
  if (location.empty() || location[0] != '/') return location;
  auto scheme_end = from.find("://");
  auto path_start =
      scheme_end == std::string::npos ? std::string::npos : from.find('/', scheme_end + 3);
  return from.substr(0, path_start) + location;
}

}  // namespace

AuthorizeOutcome OAuthDriver::startLogin(const RegisteredClient& client,
                                         const AuthorizeRequest& req, const std::string& upstream,
                                         PkcePair* pkce) {
  AuthorizeOutcome out;
  PkcePair pair = makePkce();
  std::string challenge = req.challenge.empty() ? pair.challenge : req.challenge;
  if (pkce) *pkce = pair;
  std::vector<std::pair<std::string, std::string>> q = {{"response_type", "code"},
                                                        {"client_id", client.client_id},
                                                        {"redirect_uri", client.redirect_uri},
                                                        {"code_challenge", challenge},
                                                        {"code_challenge_method", "S256"},
                                                        {"state", req.state}};
  if (!req.scope.empty()) q.emplace_back("scope", req.scope);
  if (!req.resource.empty()) q.emplace_back("resource", req.resource);
  std::string url = base_ + "/authorize?" + formEncode(q) + req.extra_query;

  auto r = browser_.get(url);
  if (r.status == 200 && !inputValue(r.body, "request").empty()) {
    // Consent page: approve, choosing `upstream`.
    std::vector<std::pair<std::string, std::string>> f = {
        {"request", inputValue(r.body, "request")}, {"csrf", inputValue(r.body, "csrf")}};
    if (!upstream.empty()) f.emplace_back("upstream", upstream);
    r = browser_.post(base_ + "/authorize/consent", formEncode(f));
  }
  // Otherwise consent was remembered: straight to the upstream.
  if (finishOutcome(client, r, out)) return out;
  out.status = r.status;
  out.next = r.header("location");
  return out;
}

AuthorizeOutcome OAuthDriver::follow(const RegisteredClient& client, const std::string& url,
                                     int max_hops) {
  AuthorizeOutcome out;
  std::string next = url;
  for (int hop = 0; hop < max_hops; ++hop) {
    auto r = browser_.get(next);
    if (finishOutcome(client, r, out)) return out;
    next = resolveLocation(next, r.header("location"));
  }
  out.page = "too many redirects";
  return out;
}

AuthorizeOutcome OAuthDriver::authorizeVia(const RegisteredClient& client,
                                           const AuthorizeRequest& req, const std::string& upstream,
                                           PkcePair* pkce) {
  auto started = startLogin(client, req, upstream, pkce);
  if (started.next.empty()) return started;
  return follow(client, started.next);
}

TokenResponse OAuthDriver::loginVia(const RegisteredClient& client, const std::string& upstream,
                                    const std::string& scope) {
  AuthorizeRequest req;
  req.scope = scope;
  PkcePair pkce;
  auto a = authorizeVia(client, req, upstream, &pkce);
  if (a.code.empty()) {
    TokenResponse t;
    t.error = a.error.empty() ? "no_code" : a.error;
    return t;
  }
  return exchange(client, a.code, pkce.verifier);
}

AuthorizeOutcome OAuthDriver::authorize(const RegisteredClient& client, const AuthorizeRequest& req,
                                        PkcePair* pkce) {
  auto out = startLogin(client, req, "dev", pkce);
  if (out.next.empty()) return out;
  auto login_page = browser_.get(out.next);
  out.next.clear();
  if (finishOutcome(client, login_page, out) && login_page.status != 200) return out;
  auto state = inputValue(login_page.body, "state");
  auto cb =
      browser_.post(base_ + "/auth/dev/callback",
                    formEncode({{"state", state}, {"username", req.user}, {"groups", req.groups}}));
  out = AuthorizeOutcome{};
  finishOutcome(client, cb, out);
  return out;
}

HttpResult OAuthDriver::clientPost(const RegisteredClient& client, const std::string& path,
                                   std::vector<std::pair<std::string, std::string>> fields) {
  std::vector<std::string> headers;
  if (client.auth_method == "client_secret_basic") {
    headers.push_back("Authorization: Basic " + base64Encode(urlEncode(client.client_id) + ":" +
                                                             urlEncode(client.client_secret)));
  } else {
    fields.emplace_back("client_id", client.client_id);
    if (client.auth_method == "client_secret_post")
      fields.emplace_back("client_secret", client.client_secret);
  }
  return api_.post(base_ + path, formEncode(fields), "application/x-www-form-urlencoded", headers);
}

TokenResponse OAuthDriver::exchange(const RegisteredClient& client, const std::string& code,
                                    const std::string& verifier, const std::string& resource) {
  std::vector<std::pair<std::string, std::string>> f = {{"grant_type", "authorization_code"},
                                                        {"code", code},
                                                        {"code_verifier", verifier},
                                                        {"redirect_uri", client.redirect_uri}};
  if (!resource.empty()) f.emplace_back("resource", resource);
  return parseTokenResponse(clientPost(client, "/token", f));
}

TokenResponse OAuthDriver::refresh(const RegisteredClient& client, const std::string& refresh_token,
                                   const std::string& scope, const std::string& resource) {
  std::vector<std::pair<std::string, std::string>> f = {{"grant_type", "refresh_token"},
                                                        {"refresh_token", refresh_token}};
  if (!scope.empty()) f.emplace_back("scope", scope);
  if (!resource.empty()) f.emplace_back("resource", resource);
  return parseTokenResponse(clientPost(client, "/token", f));
}

TokenResponse OAuthDriver::login(const RegisteredClient& client, const std::string& user,
                                 const std::string& scope) {
  AuthorizeRequest req;
  req.user = user;
  req.scope = scope;
  PkcePair pkce;
  auto a = authorize(client, req, &pkce);
  if (a.code.empty()) {
    TokenResponse t;
    t.error = a.error.empty() ? "no_code" : a.error;
    return t;
  }
  return exchange(client, a.code, pkce.verifier);
}

}  // namespace broker::testing
