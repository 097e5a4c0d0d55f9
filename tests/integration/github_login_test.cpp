// GitHub as the upstream of the real broker binary: a fake GitHub (GitHub Enterprise Server
// layout, so only `web_url` is configured) on a loopback port, the broker driven over HTTP like
// an MCP client and a browser. Covers sign-in by team membership, re-checks on refresh (and their
// cache), GitHub App expiring user tokens, and every way the GitHub hop can fail.

#include <gtest/gtest.h>

#include <chrono>
#include <csignal>
#include <functional>
#include <memory>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "broker/core/encoding.h"

#include "fakes/broker_process.h"
#include "fakes/fake_github.h"
#include "fakes/jwks_verify.h"
#include "fakes/nginx_process.h"
#include "fakes/oauth_driver.h"
#include "integration/upstream_login.h"

namespace broker::testing {
namespace {

using nlohmann::json;

const std::string kPolicy = upstreamPolicy("github", "allowed_teams: [acme/platform]",
                                           "    admin:\n      name: Admin tools\n"
                                           "      resource: http://127.0.0.1:9001/mcp\n"
                                           "      allowed_teams: [acme/admins]\n");

constexpr const char* kBothScopes = "mcp:localhost:demo mcp:localhost:admin";

struct GitHubSetup {
  FakeGitHubOptions github;
  std::string settings;        // more keys of the github upstream (indented by four spaces)
  std::string more_upstreams;  // more entries of `upstreams:`
  std::string policy;          // empty: kPolicy
  std::string web_url;         // empty: the fake's own URL
  // Runs once the fake GitHub listens and before the broker starts (a proxy in front of it).
  std::function<void(const FakeGitHub&)> before_broker;
};

class GitHubLogin : public UpstreamLoginTest {
 protected:
  void start(GitHubSetup setup = {}) {
    gh_ = std::make_unique<FakeGitHub>(setup.github);
    gh_->upsertUser({42,
                     "alice",
                     "Alice",
                     {{"alice@old.example", false, true}, {"alice@example.com", true, true}},
                     {"acme"},
                     {{"acme", "platform"}}});
    gh_->upsertUser({43,
                     "bob",
                     "Bob",
                     {{"bob@example.com", true, true}},
                     {"acme"},
                     {{"acme", "platform"}, {"acme", "admins"}}});
    // Outside the org; a login with markup, to see that pages escape it.
    gh_->upsertUser({66, "eve<i>x</i>", "", {{"eve@example.net", true, false}}, {"evilcorp"}, {}});
    gh_->signIn("alice");
    if (setup.settings.find("membership_cache_ttl") == std::string::npos) {
      setup.settings += "    membership_cache_ttl: 0s\n";
    }
    if (setup.settings.find("timeout") == std::string::npos) setup.settings += "    timeout: 1s\n";
    if (setup.before_broker) setup.before_broker(*gh_);
    BrokerConfig cfg;
    cfg.policy_yaml = setup.policy.empty() ? kPolicy : setup.policy;
    cfg.upstreams_yaml =
        "  github:\n    type: github\n    client_id: " + gh_->options().client_id +
        "\n    client_secret: " + gh_->options().client_secret +
        "\n    web_url: " + (setup.web_url.empty() ? gh_->webUrl() : setup.web_url) + "\n" +
        setup.settings + setup.more_upstreams;
    startBroker(cfg);
  }

  // The broker's callback URL as GitHub redirects the browser to it, without following it.
  // `web_url`: where the broker sends the browser when that is not the fake itself (a proxy in
  // front of it); the test's browser then visits the fake directly.
  std::string callbackFromGitHub(const std::string& scope = "mcp:localhost:demo",
                                 const std::string& web_url = "") {
    AuthorizeRequest req;
    req.scope = scope;
    auto started = driver_->startLogin(client_, req, "github", &pkce_);
    const std::string sent_to = web_url.empty() ? gh_->webUrl() : web_url;
    EXPECT_EQ(started.next.rfind(sent_to + "/login/oauth/authorize?", 0), 0u)
        << started.next << started.page;
    auto at_github = driver_->browser().get(gh_->webUrl() + started.next.substr(sent_to.size()));
    EXPECT_EQ(at_github.status, 302) << at_github.body;
    return at_github.header("location");
  }
  AuthorizeOutcome login(const std::string& scope = "mcp:localhost:demo") {
    return loginAt("github", scope);
  }
  TokenResponse loginAndExchange(const std::string& scope = "mcp:localhost:demo") {
    auto a = login(scope);
    EXPECT_FALSE(a.code.empty()) << a.page << a.error;
    return driver_->exchange(client_, a.code, pkce_.verifier);
  }
  int tokenRequests() const { return gh_->requests("/login/oauth/access_token"); }

  std::unique_ptr<FakeGitHub> gh_;
};

TEST_F(GitHubLogin, TeamMemberSignsInWithPkceAndGetsATokenForHerGitHubIdentity) {
  start();
  auto a = login();
  ASSERT_FALSE(a.code.empty()) << a.page << a.error;
  EXPECT_EQ(a.iss, base());
  EXPECT_EQ(a.state, "client-state-123");

  // The hop to GitHub: its own state (not the client's), PKCE S256, the broker's callback, and
  // read:org because the policy names teams.
  auto hop = gh_->lastAuthorizeParams();
  EXPECT_EQ(hop["client_id"], gh_->options().client_id);
  EXPECT_EQ(hop["redirect_uri"], base() + "/auth/github/callback");
  EXPECT_EQ(hop["code_challenge_method"], "S256");
  EXPECT_GE(hop["code_challenge"].size(), 43u);
  EXPECT_GE(hop["state"].size(), 32u);
  EXPECT_NE(hop["state"], "client-state-123");
  EXPECT_EQ(hop["scope"], "read:user user:email read:org");

  auto t = driver_->exchange(client_, a.code, pkce_.verifier);
  ASSERT_EQ(t.status, 200) << t.body;
  EXPECT_EQ(t.scope, "mcp:localhost:demo");
  // The subject is the numeric id (stable across renames); the email the primary verified one.
  expectTokenFor(base(), t.access_token, "github:42", "alice", "alice@example.com", "github");

  // GitHub's token and the codes never reach the logs.
  auto logs = broker_->logs();
  EXPECT_EQ(logs.find("gho_fake"), std::string::npos);
  EXPECT_EQ(logs.find("fakecode"), std::string::npos);
  EXPECT_EQ(logs.find(a.code), std::string::npos);
}

TEST_F(GitHubLogin, TeamMembershipsBecomeScopes) {
  start();
  gh_->signIn("bob");
  auto t = loginAndExchange(kBothScopes);
  ASSERT_EQ(t.status, 200) << t.body;
  EXPECT_EQ(t.scope, kBothScopes);

  gh_->signIn("alice");
  driver_ = std::make_unique<OAuthDriver>(base());  // a new browser
  auto narrowed = loginAndExchange(kBothScopes);
  ASSERT_EQ(narrowed.status, 200) << narrowed.body;
  EXPECT_EQ(narrowed.scope, "mcp:localhost:demo");
}

TEST_F(GitHubLogin, MembershipsOnLaterPagesCount) {
  FakeGitHubOptions paged;
  paged.max_per_page = 1;  // every org and team on its own page, linked by Link headers
  start({paged, "", "", "", "", {}});
  gh_->signIn("bob");
  auto t = loginAndExchange(kBothScopes);
  ASSERT_EQ(t.status, 200) << t.body;
  EXPECT_EQ(t.scope, kBothScopes);  // acme/admins is on the second page
  EXPECT_EQ(gh_->requests("/api/v3/user/teams"), 2);
}

TEST_F(GitHubLogin, SlowGitHubDoesNotHoldUpOtherRequests) {
  start({{}, "    timeout: 4s\n", "", "", "", {}});
  auto callback = callbackFromGitHub();
  gh_->setSlow(2500);
  AuthorizeOutcome slow;
  std::thread login([&] { slow = driver_->follow(client_, callback); });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // the callback waits on GitHub
  HttpClient other;
  auto t0 = std::chrono::steady_clock::now();
  auto meta = other.get(base() + "/.well-known/oauth-authorization-server");
  auto health = other.get(base() + "/health");
  auto took = std::chrono::steady_clock::now() - t0;
  gh_->setSlow(0);  // the token request is still waiting; the calls after it are fast
  login.join();
  EXPECT_EQ(meta.status, 200);
  EXPECT_EQ(health.status, 200);
  EXPECT_LT(took, std::chrono::milliseconds(1500));  // GitHub holds the login for 2.5 s
  EXPECT_FALSE(slow.code.empty()) << slow.page;      // slow, but within the timeout
}

TEST_F(GitHubLogin, UserOutsideTheOrgIsDeniedOnAnEscapedPageAndTheClientGetsAccessDenied) {
  start();
  gh_->signIn("eve<i>x</i>");
  auto a = login();
  expectFailedLogin(a, base(), 403, "access_denied", "eve&lt;i&gt;x&lt;/i&gt;", "<i>x</i>");
  EXPECT_NE(a.page.find("does not allow"), std::string::npos) << a.page;
}

TEST_F(GitHubLogin, RemovalFromATeamTakesEffectOnTheNextRefresh) {
  start();
  gh_->signIn("bob");
  auto t = loginAndExchange(kBothScopes);
  ASSERT_EQ(t.status, 200) << t.body;
  auto same = driver_->refresh(client_, t.refresh_token);
  ASSERT_EQ(same.status, 200) << same.body;
  EXPECT_EQ(same.scope, kBothScopes);

  // Out of acme/admins: the next refresh is narrower, and its token no longer names admin.
  gh_->setTeams("bob", {{"acme", "platform"}});
  auto narrower = driver_->refresh(client_, same.refresh_token);
  ASSERT_EQ(narrower.status, 200) << narrower.body;
  EXPECT_EQ(narrower.scope, "mcp:localhost:demo");
  HttpClient http;
  json claims;
  ASSERT_EQ(verifyWithJwks(http, base(), narrower.access_token, &claims), token::JwtStatus::kOk);
  EXPECT_EQ(claims["aud"].dump().find("admin"), std::string::npos) << claims["aud"];

  // Out of every team: no more tokens.
  gh_->setTeams("bob", {});
  auto refused = driver_->refresh(client_, narrower.refresh_token);
  EXPECT_EQ(refused.status, 400);
  EXPECT_EQ(refused.error, "invalid_grant") << refused.body;
}

TEST_F(GitHubLogin, MembershipReadAtRefreshIsCachedForTheConfiguredTtl) {
  start({{}, "    membership_cache_ttl: 10m\n", "", "", "", {}});
  gh_->signIn("bob");
  auto t = loginAndExchange(kBothScopes);
  ASSERT_EQ(t.status, 200) << t.body;
  const int reads = gh_->requests("/api/v3/user/teams");
  EXPECT_EQ(reads, 1);

  gh_->setTeams("bob", {{"acme", "platform"}});
  auto cached = driver_->refresh(client_, t.refresh_token);
  ASSERT_EQ(cached.status, 200) << cached.body;
  EXPECT_EQ(cached.scope, kBothScopes);  // within the TTL: the membership read at login stands
  EXPECT_EQ(gh_->requests("/api/v3/user/teams"), reads);
}

TEST_F(GitHubLogin, GitHubAppUserTokensAreRenewedWithTheirSingleUseRefreshTokens) {
  FakeGitHubOptions app;
  app.expiring_tokens = true;
  app.token_ttl = 30;  // inside the broker's renewal margin: every refresh renews it
  start({app, "", "", "", "", {}});
  auto t = loginAndExchange();
  ASSERT_EQ(t.status, 200) << t.body;
  EXPECT_EQ(gh_->refreshGrants(), 0);

  auto first = driver_->refresh(client_, t.refresh_token);
  ASSERT_EQ(first.status, 200) << first.body;
  EXPECT_EQ(gh_->refreshGrants(), 1);
  // The fake refuses a spent GitHub refresh token: a second renewal works only if the broker kept
  // the rotated one.
  auto second = driver_->refresh(client_, first.refresh_token);
  ASSERT_EQ(second.status, 200) << second.body;
  EXPECT_EQ(gh_->refreshGrants(), 2);
  auto logs = broker_->logs();
  EXPECT_EQ(logs.find("ghu_fake"), std::string::npos);
  EXPECT_EQ(logs.find("ghr_fake"), std::string::npos);
}

TEST_F(GitHubLogin, RevokingTheAppAtGitHubEndsTheBrokerGrantAtTheNextRefresh) {
  start();
  auto t = loginAndExchange();
  ASSERT_EQ(t.status, 200) << t.body;
  gh_->revokeTokens("alice");
  auto refused = driver_->refresh(client_, t.refresh_token);
  EXPECT_EQ(refused.error, "invalid_grant") << refused.body;
}

TEST_F(GitHubLogin, GitHubDownAtRefreshIsTemporaryAndTheGrantSurvives) {
  start();
  auto t = loginAndExchange();
  ASSERT_EQ(t.status, 200) << t.body;
  gh_->setDown(true);
  auto later = driver_->refresh(client_, t.refresh_token);
  EXPECT_EQ(later.status, 503) << later.body;
  EXPECT_EQ(later.error, "temporarily_unavailable");
  gh_->setDown(false);
  auto again = driver_->refresh(client_, t.refresh_token);
  EXPECT_EQ(again.status, 200) << again.body;
}

TEST_F(GitHubLogin, UserWhoCancelsAtGitHubIsShownAPageAndTheClientGetsAccessDenied) {
  start();
  gh_->setDenyAuthorization(true);
  auto a = login();
  expectFailedLogin(a, base(), 403, "access_denied");
  EXPECT_EQ(tokenRequests(), 0);
}

TEST_F(GitHubLogin, GitHubDownGivesTemporarilyUnavailable) {
  start();
  auto callback = callbackFromGitHub();
  gh_->setDown(true);
  auto a = driver_->follow(client_, callback);
  expectFailedLogin(a, base(), 503, "temporarily_unavailable", "GitHub");
}

TEST_F(GitHubLogin, SlowGitHubIsCutOffByTheTimeout) {
  start();
  auto callback = callbackFromGitHub();
  gh_->setSlow(5000);
  auto t0 = std::chrono::steady_clock::now();
  auto a = driver_->follow(client_, callback);
  auto took = std::chrono::steady_clock::now() - t0;
  gh_->setSlow(0);
  expectFailedLogin(a, base(), 503, "temporarily_unavailable");
  EXPECT_LT(took, std::chrono::milliseconds(3500));  // timeout: 1s, not GitHub's 5 s
}

// GitHub Enterprise Server behind TLS with a private CA (nginx in front of the fake): the broker
// trusts it through `ca_file`, and without it refuses the server's certificate and ends the
// sign-in on a page, with no code.
TEST_F(GitHubLogin, EnterpriseServerWithAPrivateCaIsTrustedOnlyThroughCaFile) {
  if (findProgram("nginx").empty()) GTEST_SKIP() << "needs nginx (scripts/deps --test installs it)";
  const auto [cert, key] = loopbackCertificate(dir_, "ghes");
  std::unique_ptr<NginxProcess> nginx;
  for (bool trusted : {true, false}) {
    SCOPED_TRACE(trusted ? "with ca_file" : "without ca_file");
    nginx.reset();  // each round has its own fake GitHub, and so its own proxy
    const uint16_t tls_port = freePort();
    const uint16_t ready_port = freePort();
    const std::string tls_url = "https://127.0.0.1:" + std::to_string(tls_port);
    GitHubSetup setup;
    setup.web_url = tls_url;
    if (trusted) setup.settings = "    ca_file: " + cert + "\n";
    setup.before_broker = [&](const FakeGitHub& gh) {
      nginx = std::make_unique<NginxProcess>(
          dir_, "  server { listen 127.0.0.1:" + std::to_string(tls_port) +
                    " ssl; ssl_certificate " + cert + "; ssl_certificate_key " + key +
                    "; location / { proxy_pass " + gh.webUrl() +
                    "; } }\n  server { listen 127.0.0.1:" + std::to_string(ready_port) +
                    "; return 200; }\n");
      ASSERT_TRUE(nginx->waitFor("http://127.0.0.1:" + std::to_string(ready_port) + "/"))
          << nginx->log();
    };
    start(setup);
    auto a = driver_->follow(client_, callbackFromGitHub("mcp:localhost:demo", tls_url));
    if (trusted) {
      ASSERT_FALSE(a.code.empty()) << a.page << a.error << broker_->logs();
      EXPECT_EQ(driver_->exchange(client_, a.code, pkce_.verifier).status, 200);
    } else {
      expectFailedLogin(a, base(), 502, "server_error");
      EXPECT_NE(broker_->logs().find("certificate"), std::string::npos) << broker_->logs();
    }
  }
}

// Least privilege: read:org only while the policy in force has rules on orgs, teams or groups.
// The policy is reloaded between logins, so the choice is made per login.
TEST_F(GitHubLogin, ReadOrgIsAskedForOnlyWhileThePolicyNamesMemberships) {
  GitHubSetup setup;
  setup.policy = upstreamPolicy("github", "allowed_users: [alice]");
  start(setup);
  auto a = login();
  ASSERT_FALSE(a.code.empty()) << a.page << a.error;
  EXPECT_EQ(gh_->lastAuthorizeParams()["scope"], "read:user user:email");
  EXPECT_EQ(gh_->requests("/api/v3/user/orgs"), 0);
  EXPECT_EQ(gh_->requests("/api/v3/user/teams"), 0);

  writeFile(broker_->policyPath(), kPolicy);
  broker_->signal(SIGHUP);
  bool reloaded = false;
  for (int i = 0; i < 100 && !reloaded; ++i) {
    reloaded = broker_->logs().find("policy_reloaded") != std::string::npos;
    if (!reloaded) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_TRUE(reloaded) << broker_->logs();
  driver_ = std::make_unique<OAuthDriver>(base());
  auto b = login();
  ASSERT_FALSE(b.code.empty()) << b.page << b.error;
  EXPECT_EQ(gh_->lastAuthorizeParams()["scope"], "read:user user:email read:org");
  EXPECT_GE(gh_->requests("/api/v3/user/teams"), 1);
}

TEST_F(GitHubLogin, ErrorJsonFromTheTokenEndpointEndsTheLoginCleanly) {
  start();
  auto callback = callbackFromGitHub();
  gh_->setTokenError("bad_verification_code");
  auto a = driver_->follow(client_, callback);
  expectFailedLogin(a, base(), 403, "access_denied", "GitHub no longer accepts this sign-in");

  driver_ = std::make_unique<OAuthDriver>(base());
  callback = callbackFromGitHub();
  gh_->setTokenError("incorrect_client_credentials");
  a = driver_->follow(client_, callback);
  expectFailedLogin(a, base(), 502, "server_error", "misconfigured");
}

TEST_F(GitHubLogin, GarbageFromGitHubIsAServerError) {
  start();
  auto callback = callbackFromGitHub();
  gh_->setGarbage(true);
  auto a = driver_->follow(client_, callback);
  expectFailedLogin(a, base(), 502, "server_error");
}

TEST_F(GitHubLogin, RateLimitedApiIsTemporarilyUnavailable) {
  start();
  auto callback = callbackFromGitHub();
  gh_->setRateLimited(true);
  auto a = driver_->follow(client_, callback);
  expectFailedLogin(a, base(), 503, "temporarily_unavailable", "limiting requests");
}

TEST_F(GitHubLogin, TamperedStateIsRefusedBeforeGitHubIsAsked) {
  start();
  auto callback = callbackFromGitHub();
  std::string state = queryParam(callback, "state");
  ASSERT_FALSE(state.empty());
  std::string tampered = callback;
  tampered.replace(tampered.find(state), state.size(), state.substr(0, state.size() - 1) + "A");
  if (tampered == callback) tampered.replace(tampered.find(state), state.size(), state + "A");
  expectOrphanCallback(driver_->follow(client_, tampered));
  auto missing = driver_->follow(client_, base() + "/auth/github/callback?code=x");
  EXPECT_EQ(missing.status, 400);
  EXPECT_TRUE(missing.redirect.empty());
  EXPECT_EQ(tokenRequests(), 0);  // GitHub's code was never spent on a forged state
}

TEST_F(GitHubLogin, ForgedErrorInTheCallbackIsNeitherShownNorAbleToBreakTheLog) {
  start();
  auto state = queryParam(callbackFromGitHub(), "state");
  ASSERT_FALSE(state.empty());
  auto a = driver_->follow(
      client_, base() + "/auth/github/callback?" +
                   formEncode({{"state", state},
                               {"error", "<script>alert(1)</script>"},
                               {"error_description", "x\n{\"level\":\"error\"}<img src=x>"}}));
  expectFailedLogin(a, base(), 502, "server_error", "GitHub", "<img");
  EXPECT_EQ(tokenRequests(), 0);
  // Every log line stays one JSON object: the forged text is escaped, not a line of its own.
  std::istringstream lines(broker_->logs());
  std::string line;
  int failures = 0;
  while (std::getline(lines, line)) {
    if (line.find("login_failed") == std::string::npos) continue;
    ++failures;
    EXPECT_FALSE(json::parse(line, nullptr, false).is_discarded()) << line;
  }
  EXPECT_EQ(failures, 1);
  EXPECT_EQ(broker_->logs().find("\n{\"level\":\"error\"}<img"), std::string::npos);
}

TEST_F(GitHubLogin, ReplayedCallbackIsRefusedAndTheCodeStaysSingleUse) {
  start();
  auto callback = callbackFromGitHub();
  auto first = driver_->follow(client_, callback);
  ASSERT_FALSE(first.code.empty()) << first.page;
  expectOrphanCallback(driver_->follow(client_, callback));
  EXPECT_EQ(tokenRequests(), 1);
  auto t = driver_->exchange(client_, first.code, pkce_.verifier);
  EXPECT_EQ(t.status, 200) << t.body;
  auto again = driver_->exchange(client_, first.code, pkce_.verifier);
  EXPECT_EQ(again.error, "invalid_grant");
}

TEST_F(GitHubLogin, CallbackAtAnotherUpstreamIsRefusedAndEndsThatLogin) {
  start({{}, "", "  dev:\n    type: dev\n", "", "", {}});
  auto callback = callbackFromGitHub();
  std::string wrong = callback;
  auto at = wrong.find("/auth/github/callback");
  ASSERT_NE(at, std::string::npos) << callback;
  wrong.replace(at, 21, "/auth/dev/callback");
  auto a = driver_->follow(client_, wrong);
  expectFailedLogin(a, base(), 400, "access_denied", "wrong identity provider");
  // The pending login is spent: the genuine callback no longer completes it.
  expectOrphanCallback(driver_->follow(client_, callback));
  EXPECT_EQ(tokenRequests(), 0);
}

// ---- several upstreams: the chooser on the consent page, and idp= ----

class UpstreamChooser : public GitHubLogin {
 protected:
  void SetUp() override { start({{}, "", "  dev:\n    type: dev\n", "", "", {}}); }
  HttpResult authorizePage(const std::string& extra_query = "") {
    std::string url = base() + "/authorize?" +
                      formEncode({{"response_type", "code"},
                                  {"client_id", client_.client_id},
                                  {"redirect_uri", client_.redirect_uri},
                                  {"code_challenge", makePkce().challenge},
                                  {"code_challenge_method", "S256"},
                                  {"state", "client-state-123"}}) +
                      extra_query;
    return driver_->browser().get(url);
  }
  static bool offers(const HttpResult& page, const std::string& upstream) {
    return page.body.find("name=\"upstream\" value=\"" + upstream + "\"") != std::string::npos;
  }
};

TEST_F(UpstreamChooser, ConsentPageOffersEveryEnabledUpstreamDefaultFirst) {
  auto page = authorizePage();
  ASSERT_EQ(page.status, 200) << page.body;
  EXPECT_TRUE(offers(page, "github"));
  EXPECT_TRUE(offers(page, "dev"));
  EXPECT_NE(page.body.find("Sign in with"), std::string::npos);
  EXPECT_LT(page.body.find("value=\"github\""), page.body.find("value=\"dev\""));

  // The user's pick decides where the browser goes.
  auto started = driver_->startLogin(client_, {}, "dev", nullptr);
  EXPECT_EQ(started.next.rfind(base() + "/auth/dev/login?", 0), 0u) << started.next;
}

TEST_F(UpstreamChooser, IdpParameterPreselectsOneUpstreamAndWinsOverTheButton) {
  auto page = authorizePage("&idp=github");
  ASSERT_EQ(page.status, 200) << page.body;
  EXPECT_TRUE(offers(page, "github"));
  EXPECT_FALSE(offers(page, "dev"));

  AuthorizeRequest req;
  req.extra_query = "&idp=github";
  auto started = driver_->startLogin(client_, req, "dev", nullptr);  // a forged button value
  EXPECT_EQ(started.next.rfind(gh_->webUrl() + "/login/oauth/authorize?", 0), 0u) << started.next;
}

TEST_F(UpstreamChooser, RememberedConsentSkipsThePageOnlyWhenTheUpstreamIsKnown) {
  AuthorizeRequest req;
  req.extra_query = "&idp=github";
  auto first = driver_->authorizeVia(client_, req, "github", nullptr);
  ASSERT_FALSE(first.code.empty()) << first.page;

  auto direct = authorizePage("&idp=github");
  EXPECT_EQ(direct.status, 302);
  EXPECT_EQ(direct.header("location").rfind(gh_->webUrl() + "/login/oauth/authorize?", 0), 0u);
  auto choose = authorizePage();
  EXPECT_EQ(choose.status, 200);
  EXPECT_TRUE(offers(choose, "github"));
  EXPECT_TRUE(offers(choose, "dev"));
}

// A server the policy limits to one upstream (`upstreams: [github]`) is not offered elsewhere.
class RestrictedChooser : public UpstreamChooser {
 protected:
  void SetUp() override {
    GitHubSetup setup;
    setup.more_upstreams = "  dev:\n    type: dev\n";
    setup.policy =
        upstreamPolicy("github", "allowed_teams: [acme/platform]\n      upstreams: [github]",
                       "    open:\n      name: Open tools\n"
                       "      resource: http://127.0.0.1:9003/mcp\n"
                       "      allowed_users: [bob, dev:bob]\n");
    start(setup);
  }
};

TEST_F(RestrictedChooser, OnlyTheUpstreamsThatCanReachTheServersAreOffered) {
  auto github_only = authorizePage("&scope=mcp:localhost:demo");
  ASSERT_EQ(github_only.status, 200) << github_only.body;
  EXPECT_TRUE(offers(github_only, "github"));
  EXPECT_FALSE(offers(github_only, "dev"));
  EXPECT_EQ(github_only.body.find("Sign in with"), std::string::npos);

  auto both = authorizePage("&scope=mcp:localhost:open");
  EXPECT_TRUE(offers(both, "github"));
  EXPECT_TRUE(offers(both, "dev"));
  auto mixed = authorizePage("&scope=" + urlEncode("mcp:localhost:demo mcp:localhost:open"));
  EXPECT_TRUE(offers(mixed, "github"));
  EXPECT_TRUE(offers(mixed, "dev"));
}

TEST_F(UpstreamChooser, UnknownIdpIsAnInvalidRequestForTheClient) {
  auto r = authorizePage("&idp=nope");
  ASSERT_EQ(r.status, 302);
  std::string loc = r.header("location");
  EXPECT_EQ(loc.rfind(client_.redirect_uri, 0), 0u) << loc;
  EXPECT_EQ(queryParam(loc, "error"), "invalid_request");
  EXPECT_EQ(queryParam(loc, "state"), "client-state-123");
  EXPECT_EQ(queryParam(loc, "iss"), base());
}

}  // namespace
}  // namespace broker::testing
