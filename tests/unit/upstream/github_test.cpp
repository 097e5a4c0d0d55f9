// The GitHub upstream against the fake GitHub: the whole login, emails, org/team pagination, every
// failure mapped to access_denied / temporarily_unavailable / server_error without hanging, GitHub
// App token refresh, the membership cache, and settings parsing. A scripted HttpClient covers what
// the fake cannot be made to do (a Link header pointing at another host).

#include "broker/upstream/github.h"

#include <gtest/gtest.h>

#include <chrono>
#include <functional>

#include "fakes/fake_github.h"
#include "unit/upstream/upstream_fixture.h"

namespace broker::upstream {
namespace {

using broker::testing::browserCallback;
using broker::testing::configErrorOf;
using broker::testing::errorCode;
using broker::testing::FakeGitHub;
using broker::testing::FakeGitHubOptions;
using broker::testing::FakeGitHubUser;
using broker::testing::followAuthorize;
using nlohmann::json;

constexpr const char* kCallback = "https://broker.example.com/auth/github/callback";

FakeGitHubUser alice() {
  FakeGitHubUser u;
  u.id = 4242;
  u.login = "Alice";
  u.name = "Alice Example";
  u.emails = {{"alice@old.example.com", false, true}, {"alice@example.com", true, true}};
  u.orgs = {"acme", "open-source"};
  u.teams = {{"acme", "platform"}, {"acme", "sre"}};
  return u;
}

class GitHub : public UpstreamFixture<FakeGitHub, FakeGitHubOptions> {
 protected:
  explicit GitHub(FakeGitHubOptions fake = {})
      : UpstreamFixture(std::move(fake), "state-123", kCallback) {
    gh_.upsertUser(alice());
    gh_.signIn("Alice");
  }

  GitHubOptions options() const {
    GitHubOptions o;
    o.id = "github";
    o.client_id = gh_.options().client_id;
    o.client_secret = Secret(gh_.options().client_secret);
    o.web_url = gh_.webUrl();
    o.api_url = gh_.apiUrl();
    o.http.timeout_ms = 1000;
    o.http.connect_timeout_ms = 1000;
    return o;
  }
  std::shared_ptr<UpstreamProvider> make(GitHubOptions o) {
    return makeGitHubUpstream(std::move(o), nullptr, clock_, random_);
  }
  std::shared_ptr<UpstreamProvider> make() { return make(options()); }

  FakeGitHub& gh_ = fake_;
};

class GitHubApp : public GitHub {
 protected:
  GitHubApp()
      : GitHub([] {
          FakeGitHubOptions o;
          o.expiring_tokens = true;
          return o;
        }()) {}
};

TEST_F(GitHub, AllowedUserGetsStableIdVerifiedEmailAndMemberships) {
  auto p = make();
  auto r = login(*p);
  ASSERT_TRUE(r.ok()) << r.error().debug;
  const Identity& who = r->identity;
  EXPECT_EQ(who.upstream_id, "github");
  EXPECT_EQ(who.upstream_type, "github");
  EXPECT_EQ(who.subject, "4242");
  EXPECT_EQ(who.username, "Alice");
  EXPECT_EQ(who.name, "Alice Example");
  EXPECT_EQ(who.email, "alice@example.com");
  EXPECT_TRUE(who.email_verified);
  EXPECT_EQ(who.groups,
            (std::vector<std::string>{"acme", "open-source", "acme/platform", "acme/sre"}));
  // The session keeps the upstream token for refresh; it is sealed by the broker, never shown.
  EXPECT_NE(r->session_data.find("gho_fake"), std::string::npos);
}

TEST_F(GitHub, AuthorizeRequestCarriesStatePkceAndScopes) {
  auto p = make();
  auto begin = p->beginLogin({"state-123", kCallback});
  ASSERT_TRUE(begin.ok());
  EXPECT_EQ(begin->url.rfind(gh_.webUrl() + "/login/oauth/authorize?", 0), 0u);
  auto back = followAuthorize(begin->url);
  EXPECT_EQ(back["state"], "state-123");
  EXPECT_FALSE(back["code"].empty());
  auto q = gh_.lastAuthorizeParams();
  EXPECT_EQ(q["client_id"], gh_.options().client_id);
  EXPECT_EQ(q["redirect_uri"], kCallback);
  EXPECT_EQ(q["state"], "state-123");
  EXPECT_EQ(q["scope"], "read:user user:email read:org");
  EXPECT_EQ(q["code_challenge_method"], "S256");
  EXPECT_EQ(q["code_challenge"].size(), 43u);
  // The verifier stays in the sealed upstream data, never in the URL.
  auto data = json::parse(begin->upstream_data);
  EXPECT_EQ(begin->url.find(data["v"].get<std::string>()), std::string::npos);
}

// A policy without org, team or group rules for this upstream: the login asks GitHub for no
// read:org, and neither it nor its refreshes list memberships.
TEST_F(GitHub, LoginThatNeedsNoMembershipsAsksForNoOrgScopeAndReadsNone) {
  auto p = make();
  auto cb = browserCallback(*p, "state-123", kCallback, false);
  ASSERT_TRUE(cb.ok());
  EXPECT_EQ(gh_.lastAuthorizeParams()["scope"], "read:user user:email");
  auto r = p->completeLogin(cb.value());
  ASSERT_TRUE(r.ok()) << r.error().debug;
  EXPECT_TRUE(r->identity.groups.empty());
  clock_.advance(3600);  // past the membership cache
  auto again = p->refreshIdentity(r->identity, r->session_data);
  ASSERT_TRUE(again.ok()) << again.error().debug;
  EXPECT_TRUE(again->identity.groups.empty());
  EXPECT_EQ(gh_.requests("/api/v3/user/orgs"), 0);
  EXPECT_EQ(gh_.requests("/api/v3/user/teams"), 0);

  // The next login, under a policy that names orgs, asks for them.
  auto with = browserCallback(*p, "state-456", kCallback, true);
  ASSERT_TRUE(with.ok());
  EXPECT_EQ(gh_.lastAuthorizeParams()["scope"], "read:user user:email read:org");
  auto member = p->completeLogin(with.value());
  ASSERT_TRUE(member.ok()) << member.error().debug;
  EXPECT_FALSE(member->identity.groups.empty());
}

TEST_F(GitHub, WithoutMembershipNeedsNoOrgScopeAndNoOrgCalls) {
  auto o = options();
  o.needs_membership = false;
  auto p = make(o);
  auto r = login(*p);
  ASSERT_TRUE(r.ok()) << r.error().debug;
  EXPECT_EQ(gh_.lastAuthorizeParams()["scope"], "read:user user:email");
  EXPECT_TRUE(r->identity.groups.empty());
  EXPECT_EQ(gh_.requests("/api/v3/user/orgs"), 0);
  EXPECT_EQ(gh_.requests("/api/v3/user/teams"), 0);
}

TEST_F(GitHub, ConfiguredScopesGetReadOrgOnlyWhenNeeded) {
  auto o = options();
  o.scopes = {"read:user", "user:email", "admin:org"};
  auto p = make(o);
  ASSERT_TRUE(login(*p).ok());
  EXPECT_EQ(gh_.lastAuthorizeParams()["scope"], "read:user user:email admin:org");
}

TEST_F(GitHub, OnlyAPrimaryVerifiedEmailCounts) {
  auto u = alice();
  u.emails = {{"alice@example.com", true, false}, {"other@example.com", false, true}};
  gh_.upsertUser(u);
  auto p = make();
  auto r = login(*p);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->identity.email, "");
  EXPECT_FALSE(r->identity.email_verified);
}

TEST_F(GitHub, RequiredVerifiedEmailMissingIsAccessDenied) {
  auto u = alice();
  u.emails = {{"alice@example.com", true, false}};
  gh_.upsertUser(u);
  auto o = options();
  o.require_verified_email = true;
  auto p = make(o);
  auto r = login(*p);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, OAuthCode::kAccessDenied);
  EXPECT_NE(r.error().description.find("verified"), std::string::npos);
}

class GitHubPaged : public GitHub {
 protected:
  GitHubPaged()
      : GitHub([] {
          FakeGitHubOptions o;
          o.max_per_page = 2;
          return o;
        }()) {
    auto u = alice();
    u.orgs = {"o1", "o2", "o3", "o4", "o5"};
    u.teams = {{"o1", "t1"}, {"o1", "t2"}, {"o2", "t3"}, {"o6", "t4"}, {"o6", "t5"}};
    gh_.upsertUser(u);
  }
};

TEST_F(GitHubPaged, OrgsAndTeamsAreReadAcrossPages) {
  auto p = make();
  auto r = login(*p);
  ASSERT_TRUE(r.ok()) << r.error().debug;
  EXPECT_EQ(r->identity.groups,
            (std::vector<std::string>{"o1", "o2", "o3", "o4", "o5", "o1/t1", "o1/t2", "o2/t3", "o6",
                                      "o6/t4", "o6/t5"}));
  EXPECT_EQ(gh_.requests("/api/v3/user/orgs"), 3);
  EXPECT_EQ(gh_.requests("/api/v3/user/teams"), 3);
}

TEST_F(GitHubPaged, MoreThanThePageCapFailsClosed) {
  auto o = options();
  o.max_pages = 2;
  auto p = make(o);
  EXPECT_EQ(errorCode(login(*p)), OAuthCode::kServerError);
  EXPECT_EQ(gh_.requests("/api/v3/user/orgs"), 2);
}

TEST_F(GitHub, UserDenyingAtGitHubIsAccessDenied) {
  gh_.setDenyAuthorization(true);
  auto p = make();
  auto r = login(*p);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, OAuthCode::kAccessDenied);
  EXPECT_EQ(r.error().description, "Sign-in at GitHub was cancelled or refused.");
  EXPECT_EQ(gh_.requests("/login/oauth/access_token"), 0);
}

TEST_F(GitHub, ReplayedCodeIsAccessDenied) {
  auto p = make();
  auto pending = browserCallback(*p, "state-123", kCallback);
  ASSERT_TRUE(pending.ok());
  Callback cb = pending.value();
  ASSERT_TRUE(p->completeLogin(cb).ok());
  auto again = p->completeLogin(cb);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code, OAuthCode::kAccessDenied);
  EXPECT_NE(again.error().debug.find("bad_verification_code"), std::string::npos);
}

TEST_F(GitHub, WrongPkceVerifierIsRefusedByGitHub) {
  auto p = make();
  EXPECT_EQ(
      errorCode(login(*p, [](Callback& cb) { cb.upstream_data = R"({"v":"not-the-verifier"})"; })),
      OAuthCode::kAccessDenied);
}

TEST_F(GitHub, LostUpstreamDataOrMissingCodeIsServerError) {
  auto p = make();
  EXPECT_EQ(errorCode(login(*p, [](Callback& cb) { cb.upstream_data = ""; })),
            OAuthCode::kServerError);
  EXPECT_EQ(errorCode(login(*p, [](Callback& cb) { cb.params.erase("code"); })),
            OAuthCode::kServerError);
}

TEST_F(GitHub, WrongClientSecretIsServerError) {
  auto o = options();
  o.client_secret = Secret("not-the-secret");
  auto p = make(o);
  auto r = login(*p);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, OAuthCode::kServerError);
  EXPECT_NE(r.error().debug.find("incorrect_client_credentials"), std::string::npos);
  EXPECT_EQ(r.error().description.find("not-the-secret"), std::string::npos);
}

TEST_F(GitHub, TokenErrorJsonIsMapped) {
  auto p = make();
  const std::pair<const char*, OAuthCode> cases[] = {
      {"bad_verification_code", OAuthCode::kAccessDenied},
      {"unverified_user_email", OAuthCode::kAccessDenied},
      {"redirect_uri_mismatch", OAuthCode::kServerError},
      {"application_suspended", OAuthCode::kServerError},
  };
  for (const auto& [error, code] : cases) {
    gh_.setTokenError(error);
    auto r = login(*p);
    ASSERT_FALSE(r.ok()) << error;
    EXPECT_EQ(r.error().code, code) << error;
  }
}

TEST_F(GitHub, BodyThatIsNotJsonIsServerError) {
  gh_.setGarbage(true);
  auto p = make();
  EXPECT_EQ(errorCode(login(*p)), OAuthCode::kServerError);
}

TEST_F(GitHub, GitHubDownIsTemporarilyUnavailable) {
  auto p = make();
  auto pending = browserCallback(*p, "state-123", kCallback);
  ASSERT_TRUE(pending.ok());
  Callback cb = pending.value();
  gh_.setDown(true);
  EXPECT_EQ(errorCode(p->completeLogin(cb)), OAuthCode::kTemporarilyUnavailable);
}

TEST_F(GitHub, SlowGitHubTimesOutWithoutHanging) {
  auto p = make();
  auto pending = browserCallback(*p, "state-123", kCallback);
  ASSERT_TRUE(pending.ok());
  Callback cb = pending.value();
  gh_.setSlow(5000);
  auto started = std::chrono::steady_clock::now();
  auto r = p->completeLogin(cb);
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::milliseconds(3000));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, OAuthCode::kTemporarilyUnavailable);
}

TEST_F(GitHub, UnreachableGitHubIsTemporarilyUnavailable) {
  auto o = options();
  o.web_url = "http://127.0.0.1:9";  // discard port: nothing listens
  auto p = make(o);
  EXPECT_EQ(
      errorCode(p->completeLogin({{{"code", "c"}, {"state", "s"}}, kCallback, R"({"v":"x"})"})),
      OAuthCode::kTemporarilyUnavailable);
}

TEST_F(GitHub, RateLimitIsTemporarilyUnavailable) {
  auto p = make();
  auto pending = browserCallback(*p, "state-123", kCallback);
  ASSERT_TRUE(pending.ok());
  Callback cb = pending.value();
  gh_.setRateLimited(true);
  EXPECT_EQ(errorCode(p->completeLogin(cb)), OAuthCode::kTemporarilyUnavailable);
}

TEST_F(GitHub, MembershipChangeIsSeenOnRefreshAfterTheCacheTtl) {
  auto p = make();
  auto r = login(*p);
  ASSERT_TRUE(r.ok());
  ASSERT_TRUE(p->supportsRefresh());
  gh_.setTeams("Alice", {{"acme", "sre"}});
  gh_.resetCounts();

  auto cached = p->refreshIdentity(r->identity, r->session_data);
  ASSERT_TRUE(cached.ok());
  EXPECT_EQ(cached->identity.groups, r->identity.groups);
  EXPECT_EQ(cached->session_data, r->session_data);
  EXPECT_EQ(gh_.requests("/api/v3/user"), 0);

  clock_.advance(601);
  auto fresh = p->refreshIdentity(r->identity, r->session_data);
  ASSERT_TRUE(fresh.ok()) << fresh.error().debug;
  EXPECT_EQ(fresh->identity.groups, (std::vector<std::string>{"acme", "open-source", "acme/sre"}));
  EXPECT_EQ(gh_.requests("/api/v3/user/teams"), 1);
}

TEST_F(GitHub, CacheTtlIsConfigurable) {
  auto o = options();
  o.membership_cache_ttl = 0;
  auto p = make(o);
  auto r = login(*p);
  ASSERT_TRUE(r.ok());
  gh_.setOrgs("Alice", {});
  gh_.setTeams("Alice", {});
  auto fresh = p->refreshIdentity(r->identity, r->session_data);
  ASSERT_TRUE(fresh.ok());
  EXPECT_TRUE(fresh->identity.groups.empty());
}

TEST_F(GitHub, RevokedTokenDeniesTheRefresh) {
  auto p = make();
  auto r = login(*p);
  ASSERT_TRUE(r.ok());
  gh_.revokeTokens("Alice");
  clock_.advance(601);
  EXPECT_EQ(errorCode(p->refreshIdentity(r->identity, r->session_data)), OAuthCode::kAccessDenied);
}

TEST_F(GitHub, GitHubDownAtRefreshIsTemporarilyUnavailable) {
  auto p = make();
  auto r = login(*p);
  ASSERT_TRUE(r.ok());
  gh_.setDown(true);
  clock_.advance(601);
  EXPECT_EQ(errorCode(p->refreshIdentity(r->identity, r->session_data)),
            OAuthCode::kTemporarilyUnavailable);
}

TEST_F(GitHub, RefreshWithoutSessionOrForAnotherUserIsDenied) {
  auto p = make();
  auto r = login(*p);
  ASSERT_TRUE(r.ok());
  Identity other = r->identity;
  other.subject = "999";
  EXPECT_EQ(errorCode(p->refreshIdentity(other, r->session_data)), OAuthCode::kAccessDenied);
  Identity stranger = r->identity;
  stranger.subject = "777";
  EXPECT_EQ(errorCode(p->refreshIdentity(stranger, "")), OAuthCode::kAccessDenied);
}

TEST_F(GitHubApp, ExpiringTokenIsRefreshedAndKeptInTheSession) {
  auto p = make();
  auto r = login(*p);
  ASSERT_TRUE(r.ok()) << r.error().debug;
  auto session = json::parse(r->session_data);
  EXPECT_EQ(session["exp"], clock_.now() + 8 * 3600);
  EXPECT_FALSE(session["rt"].get<std::string>().empty());

  clock_.advance(8 * 3600);
  auto refreshed = p->refreshIdentity(r->identity, r->session_data);
  ASSERT_TRUE(refreshed.ok()) << refreshed.error().debug;
  EXPECT_EQ(gh_.refreshGrants(), 1);
  EXPECT_NE(refreshed->session_data, r->session_data);
  EXPECT_EQ(refreshed->identity.subject, "4242");
  EXPECT_EQ(refreshed->identity.groups, r->identity.groups);

  // The next refresh uses the rotated refresh token.
  clock_.advance(8 * 3600);
  auto again = p->refreshIdentity(refreshed->identity, refreshed->session_data);
  ASSERT_TRUE(again.ok()) << again.error().debug;
  EXPECT_EQ(gh_.refreshGrants(), 2);
}

TEST_F(GitHubApp, TokenStillValidIsNotRefreshed) {
  auto p = make();
  auto r = login(*p);
  ASSERT_TRUE(r.ok());
  clock_.advance(601);
  auto refreshed = p->refreshIdentity(r->identity, r->session_data);
  ASSERT_TRUE(refreshed.ok());
  EXPECT_EQ(gh_.refreshGrants(), 0);
  EXPECT_EQ(refreshed->session_data, r->session_data);
}

TEST_F(GitHubApp, TwoRefreshesOfOneSessionSpendTheRefreshTokenOnce) {
  // No membership cache, so both refreshes reach the token refresh, like two racing requests.
  auto o = options();
  o.membership_cache_ttl = 0;
  auto p = make(o);
  auto r = login(*p);
  ASSERT_TRUE(r.ok());
  clock_.advance(8 * 3600);
  auto a = p->refreshIdentity(r->identity, r->session_data);
  ASSERT_TRUE(a.ok()) << a.error().debug;
  auto b = p->refreshIdentity(r->identity, r->session_data);
  ASSERT_TRUE(b.ok()) << b.error().debug;
  EXPECT_EQ(gh_.refreshGrants(), 1);
  EXPECT_EQ(b->session_data, a->session_data);
}

TEST_F(GitHubApp, RevokedRefreshTokenDeniesTheRefresh) {
  auto p = make();
  auto r = login(*p);
  ASSERT_TRUE(r.ok());
  gh_.revokeTokens("Alice");
  clock_.advance(8 * 3600);
  auto refreshed = p->refreshIdentity(r->identity, r->session_data);
  ASSERT_FALSE(refreshed.ok());
  EXPECT_EQ(refreshed.error().code, OAuthCode::kAccessDenied);
  EXPECT_NE(refreshed.error().debug.find("bad_refresh_token"), std::string::npos);
}

TEST_F(GitHubApp, ExpiredRefreshTokenDeniesWithoutAskingGitHub) {
  auto p = make();
  auto r = login(*p);
  ASSERT_TRUE(r.ok());
  clock_.advance(200 * 86400);
  gh_.resetCounts();
  EXPECT_EQ(errorCode(p->refreshIdentity(r->identity, r->session_data)), OAuthCode::kAccessDenied);
  EXPECT_EQ(gh_.requests("/login/oauth/access_token"), 0);
}

// Answers from a script keyed by URL; records what was asked.
class ScriptedHttp : public HttpClient {
 public:
  std::map<std::string, HttpResponse> answers;
  std::vector<std::string> asked;
  Result<HttpResponse> send(const HttpRequest& req) override {
    asked.push_back(req.url);
    auto it = answers.find(req.url);
    if (it == answers.end()) return Error::unavailable("no answer scripted for " + req.url);
    return it->second;
  }
};

HttpResponse jsonAnswer(const json& body, std::multimap<std::string, std::string> headers = {}) {
  HttpResponse r;
  r.status = 200;
  r.body = body.dump();
  r.headers = std::move(headers);
  return r;
}

TEST(GitHubScripted, NextPageOnAnotherHostIsNeverFollowedWithTheToken) {
  auto http = std::make_shared<ScriptedHttp>();
  const std::string api = "https://api.github.test";
  http->answers["https://github.test/login/oauth/access_token"] =
      jsonAnswer({{"access_token", "gho_x"}, {"token_type", "bearer"}});
  http->answers[api + "/user"] = jsonAnswer({{"id", 1}, {"login", "bob"}});
  http->answers[api + "/user/emails?per_page=100"] = jsonAnswer(json::array());
  http->answers[api + "/user/orgs?per_page=100"] = jsonAnswer(
      {{{"login", "acme"}}}, {{"link", "<https://evil.test/user/orgs?page=2>; rel=\"next\""}});
  GitHubOptions o;
  o.client_id = "id";
  o.client_secret = Secret("secret");
  o.web_url = "https://github.test";
  o.api_url = api;
  FakeClock clock;
  FakeRandom random;
  auto p = makeGitHubUpstream(o, http, clock, random);
  EXPECT_EQ(errorCode(p->completeLogin(
                {{{"code", "c"}, {"state", "s"}}, kCallback, R"({"v":"verifier"})"})),
            OAuthCode::kServerError);
  for (const auto& url : http->asked) EXPECT_EQ(url.find("evil.test"), std::string::npos);
}

TEST(GitHubScripted, ListingsAGitHubAppMayNotReadAreEmptyNotFatal) {
  auto http = std::make_shared<ScriptedHttp>();
  const std::string api = "https://api.github.test";
  http->answers["https://github.test/login/oauth/access_token"] =
      jsonAnswer({{"access_token", "ghu_x"}, {"token_type", "bearer"}, {"expires_in", 28800}});
  http->answers[api + "/user"] = jsonAnswer({{"id", 1}, {"login", "bob"}, {"name", nullptr}});
  HttpResponse forbidden;
  forbidden.status = 403;
  forbidden.body = R"({"message":"Resource not accessible by integration"})";
  http->answers[api + "/user/emails?per_page=100"] = forbidden;
  GitHubOptions o;
  o.client_id = "id";
  o.client_secret = Secret("secret");
  o.web_url = "https://github.test";
  o.api_url = api;
  o.needs_membership = false;
  FakeClock clock;
  FakeRandom random;
  auto p = makeGitHubUpstream(o, http, clock, random);
  auto r = p->completeLogin({{{"code", "c"}, {"state", "s"}}, kCallback, R"({"v":"verifier"})"});
  ASSERT_TRUE(r.ok()) << r.error().debug;
  EXPECT_EQ(r->identity.username, "bob");
  EXPECT_EQ(r->identity.name, "");
  EXPECT_EQ(r->identity.email, "");
}

config::UpstreamSettings settings(const json& j) {
  config::UpstreamSettings s;
  s.id = "github";
  s.type = "github";
  s.display_name = "github";
  s.settings_json = j.dump();
  s.source = "broker.yaml:12";
  return s;
}

TEST(GitHubSettings, DefaultsAreGitHubDotCom) {
  auto o = parseGitHubSettings(settings({{"client_id", "Iv1.abc"}, {"client_secret", "s3"}}));
  EXPECT_EQ(o.client_id, "Iv1.abc");
  EXPECT_EQ(o.client_secret.reveal(), "s3");
  EXPECT_EQ(o.web_url, "https://github.com");
  EXPECT_EQ(o.api_url, "https://api.github.com");
  EXPECT_EQ(o.display_name, "GitHub");
  EXPECT_EQ(o.membership_cache_ttl, 600);
  EXPECT_TRUE(o.needs_membership);
  EXPECT_EQ(o.http.timeout_ms, 10000);
}

TEST(GitHubSettings, EnterpriseServerDerivesItsApiUrl) {
  auto o = parseGitHubSettings(settings({{"client_id", 12345},
                                         {"client_secret", "s"},
                                         {"web_url", "https://ghe.example.com/"},
                                         {"scopes", "read:user  user:email"},
                                         {"membership_cache_ttl", "15m"},
                                         {"timeout", "5s"}}),
                               false);
  EXPECT_EQ(o.client_id, "12345");
  EXPECT_EQ(o.web_url, "https://ghe.example.com");
  EXPECT_EQ(o.api_url, "https://ghe.example.com/api/v3");
  EXPECT_EQ(o.scopes, (std::vector<std::string>{"read:user", "user:email"}));
  EXPECT_EQ(o.membership_cache_ttl, 900);
  EXPECT_EQ(o.http.timeout_ms, 5000);
  EXPECT_FALSE(o.needs_membership);
}

TEST(GitHubSettings, BadSettingsNameTheSourceAndKey) {
  const std::pair<json, std::string> cases[] = {
      {{{"client_secret", "s"}}, "broker.yaml:12: upstreams.github.client_id: required"},
      {{{"client_id", "i"}}, "broker.yaml:12: upstreams.github.client_secret: required"},
      {{{"client_id", "i"}, {"client_secret", "s"}, {"web_uri", "https://x"}},
       "upstreams.github.web_uri: unknown key (did you mean 'web_url'?)"},
      {{{"client_id", "i"}, {"client_secret", "s"}, {"web_url", "http://ghe.example.com"}},
       "upstreams.github.web_url: must be https"},
      {{{"client_id", "i"}, {"client_secret", "s"}, {"api_url", "ftp://x"}},
       "upstreams.github.api_url"},
      {{{"client_id", "i"}, {"client_secret", "s"}, {"scopes", json::array({1})}},
       "upstreams.github.scopes"},
      {{{"client_id", "i"}, {"client_secret", "s"}, {"membership_cache_ttl", "soon"}},
       "upstreams.github.membership_cache_ttl"},
      {{{"client_id", "i"}, {"client_secret", "s"}, {"ca_file", "/nonexistent/ca.pem"}},
       "upstreams.github.ca_file: cannot read"},
      {{{"client_id", "i"}, {"client_secret", "s"}, {"require_verified_email", "yes"}},
       "upstreams.github.require_verified_email: expected true or false"},
      {{{"client_id", json::array()}, {"client_secret", "s"}}, "upstreams.github.client_id"},
  };
  for (const auto& [j, message] : cases) {
    std::string error = configErrorOf([&] { (void)parseGitHubSettings(settings(j)); });
    EXPECT_NE(error.find(message), std::string::npos) << j.dump() << ": " << error;
  }
}

TEST(GitHubSettings, LoopbackHttpIsAllowedForTests) {
  auto o = parseGitHubSettings(settings({{"client_id", "i"},
                                         {"client_secret", "s"},
                                         {"web_url", "http://127.0.0.1:8081"},
                                         {"api_url", "http://127.0.0.1:8081/api/v3"}}));
  EXPECT_EQ(o.api_url, "http://127.0.0.1:8081/api/v3");
}

}  // namespace
}  // namespace broker::upstream
