// GitHub upstream: the OAuth web application flow with PKCE (RFC 7636), the token exchange at
// /login/oauth/access_token (which answers errors with HTTP 200 and an "error" member), and the
// REST API for the identity: /user, /user/emails, /user/orgs and /user/teams, paginated by RFC
// 8288 Link headers. GitHub Apps issue user tokens that expire (8 h) with single-use refresh
// tokens; those are refreshed when a broker refresh needs the identity re-read.

#include <algorithm>

#include <nlohmann/json.hpp>

#include "broker/core/crypto.h"
#include "broker/core/log.h"
#include "broker/oauth/uri.h"
#include "broker/upstream/github.h"
#include "upstream/oidc/oauth_client.h"

namespace broker::upstream {
namespace {

using nlohmann::json;
namespace oc = oauth_client;

constexpr const char* kWho = "GitHub";
constexpr int kPerPage = 100;
// An access token this close to its expiry is refreshed first: a call must not race the expiry.
constexpr int64_t kExpirySlack = 60;

// What is kept between login and refresh (sealed by the broker, never shown to clients).
// Whether sealed login or session data asks for memberships. Data written before the choice was
// made per login carries no "m": those logins asked for them.
bool asksForMemberships(const json& data) {
  return !data.contains("m") || data["m"] == true;
}

struct Session {
  std::string access_token;
  int64_t expires_at = 0;  // 0: an OAuth App token, which does not expire
  std::string refresh_token;
  int64_t refresh_expires_at = 0;
  bool memberships = true;  // the login asked for them (read:org); refreshes read them too

  static Session fromToken(const oc::TokenResponse& t, int64_t now, bool memberships) {
    Session s;
    s.memberships = memberships;
    s.access_token = t.access_token;
    s.expires_at = t.expires_in > 0 ? now + t.expires_in : 0;
    s.refresh_token = t.refresh_token;
    s.refresh_expires_at = t.refresh_token_expires_in > 0 ? now + t.refresh_token_expires_in : 0;
    return s;
  }
  std::string toJson() const {
    json j = {{"at", access_token}, {"exp", expires_at}, {"m", memberships}};
    if (!refresh_token.empty()) j.update({{"rt", refresh_token}, {"rexp", refresh_expires_at}});
    return j.dump();
  }
  static std::optional<Session> fromJson(const std::string& text) {
    auto j = oc::parseJson(text);
    if (!j || !j->is_object()) return std::nullopt;
    Session s;
    s.access_token = oc::stringMember(*j, "at");
    s.refresh_token = oc::stringMember(*j, "rt");
    s.expires_at = j->value("exp", int64_t{0});
    s.refresh_expires_at = j->value("rexp", int64_t{0});
    s.memberships = asksForMemberships(*j);
    if (s.access_token.empty()) return std::nullopt;
    return s;
  }
};

// A member that is the JSON boolean true. GitHub's flags are booleans; anything else (absent, the
// string "true", 1) is not taken as true, and never throws.
bool isTrue(const json& object, const char* key) {
  if (!object.is_object()) return false;
  auto it = object.find(key);
  return it != object.end() && it->is_boolean() && it->get<bool>();
}

std::string origin(const std::string& url) {
  return oauth::originOf(url).value_or("");
}

OAuthError signInAgain(const std::string& debug) {
  return {OAuthCode::kAccessDenied, "Your GitHub sign-in has expired. Sign in again.", debug};
}

class GitHubUpstream final : public UpstreamProvider {
 public:
  GitHubUpstream(GitHubOptions o, std::shared_ptr<HttpClient> http, Clock& clock, Random& random)
      : o_(std::move(o)),
        type_("github"),
        http_(http ? std::move(http) : HttpClient::create(o_.http)),
        clock_(clock),
        random_(random),
        api_origin_(origin(o_.api_url)) {
    if (o_.scopes.empty()) o_.scopes = {"read:user", "user:email"};
  }

  const std::string& id() const override { return o_.id; }
  const std::string& type() const override { return type_; }
  std::string displayName() const override { return o_.display_name; }
  bool supportsRefresh() const override { return true; }

  std::string loginUrl() override { return o_.web_url + "/login/oauth/authorize"; }

  Result<LoginRedirect, OAuthError> beginLogin(const BeginLogin& request) override {
    oc::Pkce pkce = oc::makePkce(random_);
    const bool memberships = o_.needs_membership && request.memberships;
    std::vector<std::string> scopes = o_.scopes;
    auto has = [&](const char* s) {
      return std::find(scopes.begin(), scopes.end(), s) != scopes.end();
    };
    // write:org and admin:org include read:org.
    if (memberships && !has("read:org") && !has("write:org") && !has("admin:org")) {
      scopes.push_back("read:org");
    }
    std::string scope;
    for (const auto& s : scopes) scope += (scope.empty() ? "" : " ") + s;
    LoginRedirect out;
    out.url = oc::withQuery(loginUrl(), {{"client_id", o_.client_id},
                                         {"redirect_uri", request.callback_url},
                                         {"scope", scope},
                                         {"state", request.state},
                                         {"code_challenge", pkce.challenge},
                                         {"code_challenge_method", "S256"}});
    out.upstream_data = json{{"v", pkce.verifier}, {"m", memberships}}.dump();
    return out;
  }

  Result<LoginResult, OAuthError> completeLogin(const Callback& cb) override {
    if (auto e = oc::callbackError(kWho, cb.params)) return *e;
    auto code = cb.params.find("code");
    if (code == cb.params.end() || code->second.empty()) {
      return oc::malformedResponse(kWho, "authorization response without code");
    }
    auto data = oc::parseJson(cb.upstream_data);
    std::string verifier = data ? oc::stringMember(*data, "v") : "";
    if (verifier.empty()) {
      return OAuthError{OAuthCode::kServerError, "The sign-in data was lost. Start again.",
                        "upstream_data without PKCE verifier"};
    }
    auto token = oc::requestToken(*http_, kWho,
                                  {o_.web_url + "/login/oauth/access_token",
                                   {{"grant_type", "authorization_code"},
                                    {"code", code->second},
                                    {"redirect_uri", cb.callback_url},
                                    {"code_verifier", verifier}},
                                   o_.client_id,
                                   o_.client_secret,
                                   oc::ClientAuth::kSecretPost});
    if (!token.ok()) return token.error();
    const int64_t now = clock_.now();
    const bool memberships = o_.needs_membership && asksForMemberships(*data);
    Session session = Session::fromToken(token.value(), now, memberships);
    auto who = readIdentity(session.access_token, memberships);
    if (!who.ok()) return who.error();
    if (o_.require_verified_email && who->email.empty()) {
      return OAuthError{OAuthCode::kAccessDenied,
                        "Your GitHub account has no verified primary email address. Verify one "
                        "at GitHub and sign in again.",
                        "no primary verified email"};
    }
    cache_.put(who->subject, who.value(), now + o_.membership_cache_ttl, now);
    log::info("github_identity_read", {{"upstream", o_.id},
                                       {"github_id", who->subject},
                                       {"groups", static_cast<int64_t>(who->groups.size())},
                                       {"expiring_token", session.expires_at != 0}});
    return LoginResult{std::move(who.value()), session.toJson()};
  }

  Result<LoginResult, OAuthError> refreshIdentity(const Identity& current,
                                                  const std::string& session_data) override {
    const int64_t now = clock_.now();
    if (auto cached = cache_.get(current.subject, now)) {
      return LoginResult{std::move(*cached), session_data};
    }
    auto session = Session::fromJson(session_data);
    if (!session) return signInAgain("no stored GitHub session");
    if (session->expires_at != 0 && now >= session->expires_at - kExpirySlack) {
      auto renewed = renew(*session, now);
      if (!renewed.ok()) return renewed.error();
      session = renewed.value();
    }
    auto who = readIdentity(session->access_token, o_.needs_membership && session->memberships);
    if (!who.ok()) return who.error();
    if (who->subject != current.subject) {
      return signInAgain("GitHub token belongs to user " + who->subject + ", expected " +
                         current.subject);
    }
    if (o_.require_verified_email && who->email.empty()) {
      return OAuthError{OAuthCode::kAccessDenied,
                        "Your GitHub account no longer has a verified primary email address.",
                        "no primary verified email"};
    }
    cache_.put(who->subject, who.value(), now + o_.membership_cache_ttl, now);
    return LoginResult{std::move(who.value()), session->toJson()};
  }

 private:
  using TokenResult = Result<oc::TokenResponse, OAuthError>;

  // GitHub App user tokens: refresh_token grant; the refresh token is single use.
  Result<Session, OAuthError> renew(const Session& s, int64_t now) {
    if (s.refresh_token.empty()) return signInAgain("GitHub token expired, no refresh token");
    if (s.refresh_expires_at != 0 && now >= s.refresh_expires_at) {
      return signInAgain("GitHub refresh token expired");
    }
    TokenResult token = flights_.run(
        sha256Hex(s.refresh_token), now,
        [&]() -> TokenResult {
          return oc::requestToken(
              *http_, kWho,
              {o_.web_url + "/login/oauth/access_token",
               {{"grant_type", "refresh_token"}, {"refresh_token", s.refresh_token}},
               o_.client_id,
               o_.client_secret,
               oc::ClientAuth::kSecretPost});
        },
        [](const TokenResult& r) { return r.ok(); });
    if (!token.ok()) return token.error();
    Session next = Session::fromToken(token.value(), now, s.memberships);
    if (next.refresh_token.empty()) {
      next.refresh_token = s.refresh_token;
      next.refresh_expires_at = s.refresh_expires_at;
    }
    return next;
  }

  oc::Params apiHeaders(const std::string& access_token) const {
    return {{"Accept", "application/vnd.github+json"},
            {"Authorization", "Bearer " + access_token},
            {"X-GitHub-Api-Version", "2022-11-28"}};
  }

  // One REST call. 401: the token is revoked; 403/429 with rate-limit headers: GitHub asks us to
  // wait, which is the upstream being unavailable rather than misbehaving.
  Result<HttpResponse, OAuthError> call(const std::string& url, const std::string& what,
                                        const std::string& access_token) {
    HttpRequest req;
    req.url = url;
    req.headers = apiHeaders(access_token);
    auto sent = http_->send(req);
    if (!sent.ok()) return oc::transportFailure(kWho, what, sent.error());
    const HttpResponse& r = sent.value();
    if (r.status == 401) return signInAgain(what + ": HTTP 401 (token revoked or expired)");
    if ((r.status == 403 || r.status == 429) &&
        (r.header("x-ratelimit-remaining") == std::optional<std::string>("0") ||
         r.header("retry-after"))) {
      return OAuthError{OAuthCode::kTemporarilyUnavailable,
                        "GitHub is limiting requests right now. Try again in a few minutes.",
                        what + ": rate limited (HTTP " + std::to_string(r.status) + ")"};
    }
    return std::move(sent.value());
  }

  // Every page of a listing. `optional`: 403/404 mean "not granted" (a GitHub App without the
  // permission) and give an empty list instead of failing the sign-in.
  Result<std::vector<json>, OAuthError> listAll(const std::string& path, const std::string& what,
                                                const std::string& access_token, bool optional) {
    std::vector<json> items;
    std::string url = o_.api_url + path + "?per_page=" + std::to_string(kPerPage);
    for (int page = 0; !url.empty(); ++page) {
      if (page == o_.max_pages) {
        return OAuthError{OAuthCode::kServerError,
                          "Your GitHub account lists more entries than the broker reads.",
                          what + ": more than " + std::to_string(o_.max_pages) + " pages"};
      }
      auto r = call(url, what, access_token);
      if (!r.ok()) return r.error();
      if (optional && (r->status == 403 || r->status == 404)) {
        log::warn(
            "github_listing_not_granted",
            {{"upstream", o_.id}, {"what", what}, {"status", static_cast<int64_t>(r->status)}});
        return items;
      }
      if (r->status != 200) return oc::statusFailure(kWho, what, r->status);
      auto body = oc::parseJson(r->body);
      if (!body || !body->is_array()) return oc::malformedResponse(kWho, what);
      for (auto& item : *body) items.push_back(std::move(item));
      url = nextLink(r->header("link").value_or(""));
      // The token goes only to the API it was issued for, whatever a Link header says.
      if (!url.empty() && origin(url) != api_origin_) {
        return OAuthError{OAuthCode::kServerError, "GitHub gave an unexpected answer.",
                          what + ": next page on another origin"};
      }
    }
    return items;
  }

  Result<Identity, OAuthError> readIdentity(const std::string& access_token, bool memberships) {
    auto user_resp = call(o_.api_url + "/user", "GET /user", access_token);
    if (!user_resp.ok()) return user_resp.error();
    if (user_resp->status != 200) return oc::statusFailure(kWho, "GET /user", user_resp->status);
    auto user = oc::parseJson(user_resp->body);
    if (!user || !user->is_object() || !(*user)["id"].is_number_integer() ||
        oc::stringMember(*user, "login").empty()) {
      return oc::malformedResponse(kWho, "GET /user");
    }
    Identity who;
    who.upstream_id = o_.id;
    who.upstream_type = type_;
    who.subject = std::to_string((*user)["id"].get<int64_t>());
    who.username = oc::stringMember(*user, "login");
    who.name = oc::stringMember(*user, "name");

    auto emails = listAll("/user/emails", "GET /user/emails", access_token, true);
    if (!emails.ok()) return emails.error();
    for (const auto& e : emails.value()) {
      // Only the primary address, and only once GitHub has verified it: a secondary verified
      // address can be added by anyone and says nothing about who controls the account.
      if (isTrue(e, "primary") && isTrue(e, "verified") && !oc::stringMember(e, "email").empty()) {
        who.email = oc::stringMember(e, "email");
        who.email_verified = true;
      }
    }
    if (!memberships) return who;

    auto add_group = [&](const std::string& g) {
      if (std::find(who.groups.begin(), who.groups.end(), g) == who.groups.end()) {
        who.groups.push_back(g);
      }
    };
    auto orgs = listAll("/user/orgs", "GET /user/orgs", access_token, false);
    if (!orgs.ok()) return orgs.error();
    for (const auto& org : orgs.value()) {
      std::string login = oc::stringMember(org, "login");
      if (login.empty()) return oc::malformedResponse(kWho, "GET /user/orgs");
      add_group(login);
    }
    auto teams = listAll("/user/teams", "GET /user/teams", access_token, false);
    if (!teams.ok()) return teams.error();
    for (const auto& team : teams.value()) {
      std::string slug = oc::stringMember(team, "slug");
      std::string org = team.is_object() && team.contains("organization")
                            ? oc::stringMember(team["organization"], "login")
                            : std::string();
      if (slug.empty() || org.empty()) return oc::malformedResponse(kWho, "GET /user/teams");
      // A team member is a member of the team's org, even where /user/orgs hides the org.
      add_group(org);
      add_group(org + "/" + slug);
    }
    return who;
  }

  GitHubOptions o_;
  const std::string type_;
  std::shared_ptr<HttpClient> http_;
  Clock& clock_;
  Random& random_;
  const std::string api_origin_;
  oc::TtlCache<Identity> cache_;
  oc::SingleFlight<TokenResult> flights_;
};

}  // namespace

GitHubOptions parseGitHubSettings(const config::UpstreamSettings& settings, bool needs_membership) {
  oc::SettingsReader r(settings,
                       {"client_id", "client_secret", "web_url", "api_url", "scopes",
                        "require_verified_email", "membership_cache_ttl", "ca_file", "timeout"});
  GitHubOptions o;
  o.id = settings.id;
  if (!settings.display_name.empty() && settings.display_name != settings.id) {
    o.display_name = settings.display_name;
  }
  o.client_id = r.requiredString("client_id");
  o.client_secret = r.clientSecret(true);
  o.web_url = r.url("web_url", o.web_url, true);
  // GitHub Enterprise Server serves its API under the web host.
  const bool enterprise = o.web_url != "https://github.com";
  o.api_url = r.url("api_url", enterprise ? o.web_url + "/api/v3" : o.api_url, true);
  o.scopes = r.words("scopes", {});
  o.require_verified_email = r.boolean("require_verified_email", false);
  o.membership_cache_ttl = r.membershipCacheTtl(o.membership_cache_ttl);
  o.http = r.httpOptions();
  o.needs_membership = needs_membership;
  r.finish();
  return o;
}

std::shared_ptr<UpstreamProvider> makeGitHubUpstream(GitHubOptions options,
                                                     std::shared_ptr<HttpClient> http, Clock& clock,
                                                     Random& random) {
  return std::make_shared<GitHubUpstream>(std::move(options), std::move(http), clock, random);
}

}  // namespace broker::upstream
