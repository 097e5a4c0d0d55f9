// Fake GitHub (see fake_github.h): OAuth web flow, GitHub App expiring tokens, REST API with
// Link-header pagination, and GitHub's error shapes.

#include "fakes/fake_github.h"

#include <algorithm>

#include "broker/core/encoding.h"

namespace broker::testing {
namespace {

using nlohmann::json;

constexpr const char* kErrorDocs =
    "https://docs.github.com/apps/managing-oauth-apps/"
    "troubleshooting-oauth-app-access-token-request-errors";

json oauthError(const std::string& error, const std::string& description) {
  return {{"error", error}, {"error_description", description}, {"error_uri", kErrorDocs}};
}

std::string queryValue(const http::Request& req, const std::string& name) {
  auto it = req.query.find(name);
  return it == req.query.end() ? std::string() : it->second;
}

std::string appendQuery(const std::string& url, const std::string& query) {
  return url + (url.find('?') == std::string::npos ? "?" : "&") + query;
}

int64_t orgId(const std::string& login) {
  return 1000 + static_cast<int64_t>(std::hash<std::string>{}(login) % 100000);
}

}  // namespace

FakeGitHub::FakeGitHub(FakeGitHubOptions options)
    : FakeUpstreamServer(options.clock), options_(std::move(options)) {
  route("GET", "/login/oauth/authorize", [this](const http::Request& r) { return authorize(r); });
  route("POST", "/login/oauth/access_token",
        [this](const http::Request& r) { return accessToken(r); });
  route("GET", "/api/v3/user", [this](const http::Request& r) {
    return api(r, [](const FakeGitHubUser& u) {
      return json{{"login", u.login},
                  {"id", u.id},
                  {"node_id", "U_fake" + std::to_string(u.id)},
                  {"type", "User"},
                  {"site_admin", false},
                  {"name", u.name.empty() ? json(nullptr) : json(u.name)},
                  {"email", nullptr}};
    });
  });
  route("GET", "/api/v3/user/emails", [this](const http::Request& r) {
    return api(r, [](const FakeGitHubUser& u) {
      json out = json::array();
      for (const auto& e : u.emails) {
        out.push_back({{"email", e.email},
                       {"primary", e.primary},
                       {"verified", e.verified},
                       {"visibility", e.primary ? json("private") : json(nullptr)}});
      }
      return out;
    });
  });
  route("GET", "/api/v3/user/orgs", [this](const http::Request& r) {
    return api(r, [this](const FakeGitHubUser& u) {
      json out = json::array();
      for (const auto& org : u.orgs) {
        out.push_back({{"login", org},
                       {"id", orgId(org)},
                       {"url", apiUrl() + "/orgs/" + org},
                       {"description", nullptr}});
      }
      return out;
    });
  });
  route("GET", "/api/v3/user/teams", [this](const http::Request& r) {
    return api(r, [this](const FakeGitHubUser& u) {
      json out = json::array();
      for (const auto& [org, slug] : u.teams) {
        out.push_back({{"id", orgId(org + "/" + slug)},
                       {"slug", slug},
                       {"name", slug},
                       {"privacy", "closed"},
                       {"permission", "pull"},
                       {"organization",
                        {{"login", org}, {"id", orgId(org)}, {"url", apiUrl() + "/orgs/" + org}}}});
      }
      return out;
    });
  });
  start();
}

FakeGitHub::~FakeGitHub() {
  stop();
}

void FakeGitHub::upsertUser(FakeGitHubUser user) {
  std::lock_guard<std::mutex> lock(state_mutex_);
  users_[user.id] = std::move(user);
}

void FakeGitHub::setOrgs(const std::string& login, std::vector<std::string> orgs) {
  std::lock_guard<std::mutex> lock(state_mutex_);
  for (auto& [id, u] : users_) {
    if (u.login == login) u.orgs = orgs;
  }
}

void FakeGitHub::setTeams(const std::string& login,
                          std::vector<std::pair<std::string, std::string>> teams) {
  std::lock_guard<std::mutex> lock(state_mutex_);
  for (auto& [id, u] : users_) {
    if (u.login == login) u.teams = teams;
  }
}

void FakeGitHub::signIn(const std::string& login) {
  std::lock_guard<std::mutex> lock(state_mutex_);
  signed_in_ = login;
}

void FakeGitHub::setDenyAuthorization(bool deny) {
  std::lock_guard<std::mutex> lock(state_mutex_);
  deny_ = deny;
}

void FakeGitHub::revokeTokens(const std::string& login) {
  std::lock_guard<std::mutex> lock(state_mutex_);
  for (auto* table : {&tokens_, &refresh_tokens_}) {
    for (auto it = table->begin(); it != table->end();) {
      auto user = users_.find(it->second.user_id);
      it = user != users_.end() && user->second.login == login ? table->erase(it) : std::next(it);
    }
  }
}

void FakeGitHub::setTokenError(const std::string& error) {
  std::lock_guard<std::mutex> lock(state_mutex_);
  token_error_ = error;
}

void FakeGitHub::setGarbage(bool garbage) {
  std::lock_guard<std::mutex> lock(state_mutex_);
  garbage_ = garbage;
}

void FakeGitHub::setRateLimited(bool limited) {
  std::lock_guard<std::mutex> lock(state_mutex_);
  rate_limited_ = limited;
}

std::map<std::string, std::string> FakeGitHub::lastAuthorizeParams() const {
  std::lock_guard<std::mutex> lock(state_mutex_);
  return last_authorize_;
}

int FakeGitHub::refreshGrants() const {
  std::lock_guard<std::mutex> lock(state_mutex_);
  return refresh_grants_;
}

http::Response FakeGitHub::authorize(const http::Request& req) {
  std::lock_guard<std::mutex> lock(state_mutex_);
  last_authorize_ = req.query;
  if (queryValue(req, "client_id") != options_.client_id) {
    return http::Response::html(404, "<h1>404</h1><p>Unknown OAuth application</p>");
  }
  const std::string redirect_uri = queryValue(req, "redirect_uri");
  const std::string state = queryValue(req, "state");
  if (redirect_uri.empty()) {
    return http::Response::html(400, "<h1>redirect_uri is required</h1>");
  }
  if (deny_) {
    return http::Response::redirect(appendQuery(
        redirect_uri, "error=access_denied&error_description=" +
                          urlEncode("The user has denied your application access.") +
                          "&error_uri=" + urlEncode(kErrorDocs) + "&state=" + urlEncode(state)));
  }
  const FakeGitHubUser* user = nullptr;
  for (const auto& [id, u] : users_) {
    if (u.login == signed_in_) user = &u;
  }
  if (!user) return http::Response::html(400, "<h1>nobody is signed in at the fake GitHub</h1>");
  const std::string challenge = queryValue(req, "code_challenge");
  if (!challenge.empty() && queryValue(req, "code_challenge_method") != "S256") {
    return http::Response::html(400, "<h1>code_challenge_method must be S256</h1>");
  }
  std::string code = "fakecode" + std::to_string(++serial_) + "x" + std::to_string(user->id);
  codes_[code] = {user->id, redirect_uri, challenge, queryValue(req, "scope"), now() + 600};
  return http::Response::redirect(
      appendQuery(redirect_uri, "code=" + urlEncode(code) + "&state=" + urlEncode(state)));
}

json FakeGitHub::issueTokens(int64_t user_id, const std::string& scope) {
  const std::string n = std::to_string(++serial_);
  std::string granted = scope;
  std::replace(granted.begin(), granted.end(), ' ', ',');  // GitHub lists scopes with commas
  if (!options_.expiring_tokens) {
    std::string at = "gho_fake" + n;
    tokens_[at] = {user_id, 0};
    return {{"access_token", at}, {"token_type", "bearer"}, {"scope", granted}};
  }
  std::string at = "ghu_fake" + n, rt = "ghr_fake" + n;
  tokens_[at] = {user_id, now() + options_.token_ttl};
  refresh_tokens_[rt] = {user_id, now() + options_.refresh_token_ttl};
  return {{"access_token", at},     {"expires_in", options_.token_ttl},
          {"refresh_token", rt},    {"refresh_token_expires_in", options_.refresh_token_ttl},
          {"token_type", "bearer"}, {"scope", ""}};
}

// GitHub answers application/x-www-form-urlencoded unless the client accepts JSON.
http::Response FakeGitHub::tokenAnswer(const http::Request& req, const json& body) const {
  if (req.header("accept").value_or("").find("json") != std::string::npos)
    return jsonReply(200, body);
  std::string text;
  for (const auto& [k, v] : body.items()) {
    if (!text.empty()) text += '&';
    text += k + "=" + urlEncode(v.is_string() ? v.get<std::string>() : v.dump());
  }
  auto r = http::Response::text(200, text);
  r.headers.clear();
  r.header("Content-Type", "application/x-www-form-urlencoded; charset=utf-8");
  return r;
}

http::Response FakeGitHub::accessToken(const http::Request& req) {
  std::lock_guard<std::mutex> lock(state_mutex_);
  if (garbage_) return http::Response::html(200, "<html><body>Unicorn!</body></html>");
  auto f = form(req);
  std::string client_id = f["client_id"], client_secret = f["client_secret"];
  if (auto basic = basicAuth(req)) std::tie(client_id, client_secret) = *basic;
  if (!token_error_.empty()) {
    return tokenAnswer(req, oauthError(token_error_, "Injected by the test."));
  }
  if (client_id != options_.client_id || client_secret != options_.client_secret) {
    return tokenAnswer(req, oauthError("incorrect_client_credentials",
                                       "The client_id and/or client_secret passed are incorrect."));
  }
  if (f["grant_type"] == "refresh_token") {
    auto it = refresh_tokens_.find(f["refresh_token"]);
    if (it == refresh_tokens_.end() || it->second.expires_at <= now()) {
      return tokenAnswer(req, oauthError("bad_refresh_token",
                                         "The refresh token passed is incorrect or expired."));
    }
    int64_t user_id = it->second.user_id;
    refresh_tokens_.erase(it);  // single use
    ++refresh_grants_;
    return tokenAnswer(req, issueTokens(user_id, ""));
  }
  auto it = codes_.find(f["code"]);
  if (it == codes_.end() || it->second.expires_at <= now()) {
    return tokenAnswer(
        req, oauthError("bad_verification_code", "The code passed is incorrect or expired."));
  }
  Code code = it->second;
  codes_.erase(it);  // single use
  if (!f["redirect_uri"].empty() && f["redirect_uri"] != code.redirect_uri) {
    return tokenAnswer(req, oauthError("redirect_uri_mismatch",
                                       "The redirect_uri MUST match the registered callback URL "
                                       "for this application."));
  }
  if (!code.challenge.empty() && !pkceMatches(code.challenge, f["code_verifier"])) {
    return tokenAnswer(
        req, oauthError("bad_verification_code", "The code passed is incorrect or expired."));
  }
  return tokenAnswer(req, issueTokens(code.user_id, code.scope));
}

const FakeGitHubUser* FakeGitHub::authenticated(const http::Request& req) const {
  auto token = tokens_.find(bearer(req));
  if (token == tokens_.end()) return nullptr;
  if (token->second.expires_at != 0 && token->second.expires_at <= now()) return nullptr;
  auto user = users_.find(token->second.user_id);
  return user == users_.end() ? nullptr : &user->second;
}

http::Response FakeGitHub::api(const http::Request& req,
                               const std::function<json(const FakeGitHubUser&)>& body) {
  std::lock_guard<std::mutex> lock(state_mutex_);
  if (garbage_) return http::Response::html(200, "<html><body>Unicorn!</body></html>");
  if (!req.header("user-agent")) {
    return jsonReply(403,
                     {{"message",
                       "Request forbidden by administrative rules. Please make sure your request "
                       "has a User-Agent header."}});
  }
  if (rate_limited_) {
    auto r = jsonReply(403, {{"message", "API rate limit exceeded for user."},
                             {"documentation_url", "https://docs.github.com/rest/rate-limit"}});
    r.header("x-ratelimit-remaining", "0");
    r.header("x-ratelimit-reset", std::to_string(now() + 3600));
    return r;
  }
  const FakeGitHubUser* user = authenticated(req);
  if (!user) {
    return jsonReply(401, {{"message", "Bad credentials"},
                           {"documentation_url", "https://docs.github.com/rest"},
                           {"status", "401"}});
  }
  json out = body(*user);
  return out.is_array() ? page(req, out) : jsonReply(200, out);
}

http::Response FakeGitHub::page(const http::Request& req, const json& all) const {
  auto number = [&](const char* name, int fallback) {
    std::string v = queryValue(req, name);
    if (v.empty() || v.size() > 6 || !std::all_of(v.begin(), v.end(), ::isdigit)) return fallback;
    return std::stoi(v);
  };
  const int per_page = std::clamp(number("per_page", 30), 1, std::min(100, options_.max_per_page));
  const int pages = std::max<int>(1, (static_cast<int>(all.size()) + per_page - 1) / per_page);
  const int current = std::max(1, number("page", 1));
  json slice = json::array();
  for (int i = (current - 1) * per_page; i < current * per_page && i < int(all.size()); ++i) {
    slice.push_back(all[i]);
  }
  auto r = jsonReply(200, slice);
  auto link = [&](int p, const char* rel) {
    return "<" + baseUrl() + req.path + "?per_page=" + std::to_string(per_page) +
           "&page=" + std::to_string(p) + ">; rel=\"" + rel + "\"";
  };
  std::vector<std::string> links;
  if (current < pages) {
    links.push_back(link(current + 1, "next"));
    links.push_back(link(pages, "last"));
  }
  if (current > 1) {
    links.push_back(link(1, "first"));
    links.push_back(link(current - 1, "prev"));
  }
  if (!links.empty()) {
    std::string header;
    for (const auto& l : links) header += (header.empty() ? "" : ", ") + l;
    r.header("Link", header);
  }
  return r;
}

}  // namespace broker::testing
