// The sign-in pages in a real browser: Debian's Chromium, headless, driven by puppeteer-core
// (tests/browser/drive.mjs) through the real broker binary, with every upstream on another origin
// than the broker: the fake GitHub on `localhost` (another site), the real OpenID Connect
// provider (`oidc-provider`) on another port. An HTTP client ignores CSP, cookie rules and where
// redirects go; a browser does not, so these tests are the ones that show a person can sign in.
//
// Every page the browser shows is saved as a PNG under browser-screenshots/ in the build
// directory. Every test checks that the console shows no refused request (CSP, mixed content) and
// no script error, and that each broker page works on a phone.

#include <gtest/gtest.h>

#include <filesystem>
#include <memory>

#include <nlohmann/json.hpp>

#include "broker/core/encoding.h"
#include "fakes/broker_process.h"
#include "fakes/fake_github.h"
#include "fakes/oauth_driver.h"
#include "fakes/oidc_provider_process.h"

#ifndef BROKER_SOURCE_DIR
#define BROKER_SOURCE_DIR "."
#endif

namespace broker::testing {
namespace {

using nlohmann::json;

const std::string kDriverDir = std::string(BROKER_SOURCE_DIR) + "/tests/browser";
constexpr const char* kOidcSecret = "browser-test-secret-0123456789abcdef";

struct Upstreams {
  bool dev = true;
  bool github = false;
  bool oidc = false;
};

// Users of the enabled upstreams: alice at the dev login and at GitHub, erin (group engineering)
// at the OpenID Connect provider.
std::string policyFor(const Upstreams& up) {
  std::string users;
  if (up.dev) users += "dev:alice, ";
  if (up.github) users += "github:alice, ";
  std::string rules = "      allowed_users: [" + users + "]\n";
  if (up.oidc) rules += "      allowed_groups: [corp:engineering]\n";
  return "default_scopes: [mcp:localhost:demo]\nservers:\n  localhost:\n    demo:\n"
         "      name: Demo server\n      description: A demo <MCP> server & friends\n"
         "      resource: http://127.0.0.1:9000/mcp\n" +
         rules +
         "    admin:\n      name: Admin tools\n      resource: http://127.0.0.1:9001/mcp\n" + rules;
}

class BrowserTest : public ::testing::Test {
 protected:
  void start(Upstreams up) {
    BrokerConfig cfg;
    cfg.port = freePort();
    const std::string broker_url = "http://127.0.0.1:" + std::to_string(cfg.port);
    cfg.policy_yaml = policyFor(up);
    if (up.dev) cfg.upstreams_yaml += "  dev:\n    type: dev\n";
    if (up.github) {
      github_ = std::make_unique<FakeGitHub>();
      github_->upsertUser({42, "alice", "Alice", {{"alice@example.com", true, true}}, {}, {}});
      github_->signIn("alice");
      // The browser meets GitHub on another site (localhost, not 127.0.0.1), as it meets
      // github.com: cookies that only work same-site would show here.
      cfg.upstreams_yaml +=
          "  github:\n    type: github\n    client_id: " + github_->options().client_id +
          "\n    client_secret: " + github_->options().client_secret +
          "\n    web_url: " + githubWebUrl() + "\n    timeout: 5s\n";
    }
    if (up.oidc) {
      json client = {{"client_id", "broker"},
                     {"client_secret", kOidcSecret},
                     {"grant_types", {"authorization_code", "refresh_token"}},
                     {"response_types", {"code"}},
                     {"redirect_uris", {broker_url + "/auth/corp/callback"}},
                     {"token_endpoint_auth_method", "client_secret_basic"}};
      json erin = {{"sub", "e-1001"}, {"preferred_username", "erin"}, {"groups", {"engineering"}}};
      oidc_ = std::make_unique<OidcProviderProcess>(
          dir_, json{{"clients", {client}}, {"accounts", {{"erin", erin}}}});
      cfg.upstreams_yaml +=
          "  corp:\n    type: oidc\n    display_name: Example SSO\n    issuer: " + oidc_->issuer() +
          "\n    client_id: broker\n    client_secret: " + kOidcSecret +
          "\n    scopes: openid profile groups\n    userinfo: true\n"
          "    timeout: 5s\n";
    }
    broker_ = std::make_unique<BrokerProcess>(dir_, cfg);
    broker_->start();
    driver_ = std::make_unique<OAuthDriver>(broker_->url());
    client_port_ = freePort();
    // Confidential, so that remembered consent applies to it (RFC 8252 §8.6 keeps public loopback
    // clients on the consent page: PublicLoopbackClientSeesTheConsentPageEveryTime).
    client_ = driver_->registerClient("client_secret_basic", clientRedirect(client_port_));
    ASSERT_FALSE(client_.client_id.empty());
  }

  void TearDown() override {
    if (HasFailure() && broker_) std::cerr << "broker log:\n" << broker_->logs();
    if (HasFailure() && oidc_) std::cerr << "oidc-provider output:\n" << oidc_->output();
  }

  static std::string clientRedirect(uint16_t port) {
    return "http://127.0.0.1:" + std::to_string(port) + "/callback";
  }
  std::string githubWebUrl() const {
    std::string url = github_->webUrl();
    return "http://localhost" + url.substr(url.rfind(':'));
  }

  // A fresh authorization request of the client (a new PKCE pair each time).
  std::string authorizeUrl(const std::string& scope = "", const std::string& extra = "") {
    pkce_ = makePkce();
    std::string url =
        broker_->url() + "/authorize?response_type=code&client_id=" + urlEncode(client_.client_id) +
        "&redirect_uri=" + urlEncode(client_.redirect_uri) + "&code_challenge=" + pkce_.challenge +
        "&code_challenge_method=S256&state=browser-state-7";
    if (!scope.empty()) url += "&scope=" + urlEncode(scope);
    return url + extra;
  }

  // Runs the browser ("chrome" or "firefox") through `sessions` (see drive.mjs) and returns its
  // report.
  json drive(const json& sessions, const json& viewport = nullptr,
             const std::string& browser = "chrome") {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    const std::string shots =
        std::filesystem::absolute(std::string("browser-screenshots/") + info->test_suite_name() +
                                  "." + info->name())
            .string();
    std::filesystem::remove_all(shots);
    json scenario = {{"browser", browser},
                     {"clientPort", client_port_},
                     {"screenshots", shots},
                     {"sessions", sessions}};
    if (!viewport.is_null()) scenario["viewport"] = viewport;
    const std::string path = dir_.file("scenario.json");
    writeFile(path, scenario.dump());
    auto run = runCommand({"/usr/bin/env", "node", kDriverDir + "/drive.mjs", path});
    EXPECT_EQ(run.exit_code, 0) << run.output;
    // The report is the last line that is a JSON object; anything before it is the driver's log.
    const size_t start = run.output.rfind("\n{");
    json report = json::parse(
        start == std::string::npos ? run.output : run.output.substr(start + 1), nullptr, false);
    EXPECT_TRUE(report.is_object() && report.contains("sessions")) << run.output;
    if (!report.is_object() || !report.contains("sessions"))
      return json{{"sessions", json::array()}};
    for (const auto& session : report["sessions"]) {
      for (const auto& round : session["rounds"]) expectCleanRound(round);
    }
    return report;
  }

  // No refused request, no script error, and every broker page usable on a phone and by a
  // screen reader.
  void expectCleanRound(const json& round) {
    for (const auto& problem : round["problems"]) ADD_FAILURE() << problem.get<std::string>();
    for (const auto& page : round["pages"]) {
      const std::string url = page["url"];
      if (url.rfind(broker_->url(), 0) != 0) continue;
      const auto& c = page["checks"];
      EXPECT_EQ(c["lang"], "en") << url;
      EXPECT_NE(c["viewportMeta"].get<std::string>().find("width=device-width"), std::string::npos)
          << url;
      EXPECT_FALSE(c["horizontalScroll"].get<bool>()) << url << " scrolls sideways";
      EXPECT_TRUE(c["unlabeled"].empty()) << url << ": " << c["unlabeled"];
      EXPECT_TRUE(c["emptyButtons"].empty()) << url << ": " << c["emptyButtons"];
      EXPECT_TRUE(std::filesystem::exists(page["screenshot"].get<std::string>())) << url;
    }
  }

  static std::vector<std::string> kinds(const json& round) {
    std::vector<std::string> out;
    for (const auto& page : round["pages"]) out.push_back(page["kind"]);
    return out;
  }

  // The client got a code for its state with the broker's issuer, and the code buys tokens with
  // the PKCE verifier of that request.
  void expectCodeAtClient(const json& round) {
    ASSERT_TRUE(round["client"].is_object()) << round.dump(2);
    const auto& q = round["client"];
    EXPECT_EQ(q.value("state", ""), "browser-state-7");
    EXPECT_EQ(q.value("iss", ""), broker_->url());
    ASSERT_FALSE(q.value("code", "").empty()) << q.dump();
    auto tokens = driver_->exchange(client_, q["code"], pkce_.verifier);
    EXPECT_EQ(tokens.status, 200) << tokens.body;
    EXPECT_FALSE(tokens.access_token.empty());
  }

  TempDir dir_;
  std::unique_ptr<FakeGitHub> github_;
  std::unique_ptr<OidcProviderProcess> oidc_;
  std::unique_ptr<BrokerProcess> broker_;
  std::unique_ptr<OAuthDriver> driver_;
  uint16_t client_port_ = 0;
  RegisteredClient client_;
  PkcePair pkce_;
};

json oneRound(json round) {
  return json::array({{{"rounds", json::array({std::move(round)})}}});
}

TEST_F(BrowserTest, DevLoginCompletesThroughConsent) {
  start({});
  auto report = drive(oneRound({{"url", authorizeUrl()}, {"user", "alice"}}));
  const auto& round = report["sessions"][0]["rounds"][0];
  EXPECT_EQ(kinds(round), (std::vector<std::string>{"consent", "dev-login", "client"}));
  expectCodeAtClient(round);
}

TEST_F(BrowserTest, GitHubLoginOnAnotherSiteCompletesThroughConsent) {
  start({.dev = false, .github = true});
  auto report = drive(oneRound({{"url", authorizeUrl()}}));
  const auto& round = report["sessions"][0]["rounds"][0];
  EXPECT_EQ(kinds(round), (std::vector<std::string>{"consent", "client"}));
  expectCodeAtClient(round);
  EXPECT_EQ(github_->lastAuthorizeParams().count("state"), 1u);
}

TEST_F(BrowserTest, OpenIdConnectLoginCompletesThroughConsent) {
  start({.dev = false, .oidc = true});
  auto report = drive(oneRound({{"url", authorizeUrl()}, {"user", "erin"}}));
  const auto& round = report["sessions"][0]["rounds"][0];
  EXPECT_EQ(kinds(round), (std::vector<std::string>{"consent", "oidc-login", "client"}));
  expectCodeAtClient(round);
}

TEST_F(BrowserTest, ChooserOffersEveryUpstreamAndSignsInWithTheChosenOne) {
  start({.dev = true, .github = true, .oidc = true});
  json sessions = json::array();
  sessions.push_back(
      {{"rounds", {{{"url", authorizeUrl()}, {"choose", "corp"}, {"user", "erin"}}}}});
  auto report = drive(sessions);
  const auto& round = report["sessions"][0]["rounds"][0];
  ASSERT_FALSE(round["pages"].empty());
  const std::string chooser = round["pages"][0]["text"];
  for (const char* name : {"dev", "GitHub", "Example SSO"}) {
    EXPECT_NE(chooser.find(std::string("Continue with ") + name), std::string::npos) << chooser;
  }
  EXPECT_EQ(kinds(round), (std::vector<std::string>{"consent", "oidc-login", "client"}));
  expectCodeAtClient(round);

  // The same chooser, GitHub this time, in a fresh browser.
  report = drive(oneRound({{"url", authorizeUrl()}, {"choose", "github"}}));
  const auto& second = report["sessions"][0]["rounds"][0];
  EXPECT_EQ(kinds(second), (std::vector<std::string>{"consent", "client"}));
  expectCodeAtClient(second);
}

TEST_F(BrowserTest, DenyReturnsAccessDeniedToTheClient) {
  start({.dev = false, .github = true});
  auto report = drive(oneRound({{"url", authorizeUrl()}, {"choose", "deny"}}));
  const auto& round = report["sessions"][0]["rounds"][0];
  EXPECT_EQ(kinds(round), (std::vector<std::string>{"consent", "client"}));
  ASSERT_TRUE(round["client"].is_object());
  EXPECT_EQ(round["client"].value("error", ""), "access_denied");
  EXPECT_EQ(round["client"].value("state", ""), "browser-state-7");
  EXPECT_EQ(round["client"].value("iss", ""), broker_->url());
  EXPECT_FALSE(round["client"].contains("code"));
}

TEST_F(BrowserTest, RememberedConsentSkipsThePageUntilTheRequestAsksForMore) {
  start({.dev = false, .github = true});
  json rounds = json::array({
      {{"url", authorizeUrl("mcp:localhost:demo mcp:localhost:admin")}},
      {{"url", authorizeUrl("mcp:localhost:demo")}},  // no more than approved: no page
  });
  auto report = drive(json::array({{{"rounds", rounds}}}));
  const auto& session = report["sessions"][0]["rounds"];
  EXPECT_EQ(kinds(session[0]), (std::vector<std::string>{"consent", "client"}));
  EXPECT_EQ(kinds(session[1]), (std::vector<std::string>{"client"}));
  expectCodeAtClient(session[1]);
}

// Any program on this machine can listen on a public client's loopback port: a remembered
// approval does not skip the page for such a client, so a code never leaves without a click.
TEST_F(BrowserTest, PublicLoopbackClientSeesTheConsentPageEveryTime) {
  start({.dev = false, .github = true});
  client_ = driver_->registerClient("none", clientRedirect(client_port_));
  ASSERT_FALSE(client_.client_id.empty());
  json rounds = json::array({
      {{"url", authorizeUrl("mcp:localhost:demo")}},
      {{"url", authorizeUrl("mcp:localhost:demo")}},
  });
  auto report = drive(json::array({{{"rounds", rounds}}}));
  const auto& session = report["sessions"][0]["rounds"];
  EXPECT_EQ(kinds(session[0]), (std::vector<std::string>{"consent", "client"}));
  EXPECT_EQ(kinds(session[1]), (std::vector<std::string>{"consent", "client"}));
  expectCodeAtClient(session[1]);
}

TEST_F(BrowserTest, RememberedConsentDoesNotCoverWiderScopesOrAnotherRedirectUri) {
  start({.dev = false, .github = true});
  // The client's other loopback port (RFC 8252 §7.3 lets it vary) is another redirect URI.
  const uint16_t other_port = freePort();
  std::string other = authorizeUrl("mcp:localhost:demo");
  const std::string from = urlEncode(client_.redirect_uri);
  other.replace(other.find(from), from.size(), urlEncode(clientRedirect(other_port)));
  json rounds = json::array({
      {{"url", authorizeUrl("mcp:localhost:demo")}},
      {{"url", authorizeUrl("mcp:localhost:demo mcp:localhost:admin")}},  // wider: page again
      {{"url", other}, {"stopAt", clientRedirect(other_port)}},           // other port: page again
  });
  auto report = drive(json::array({{{"rounds", rounds}}}));
  const auto& session = report["sessions"][0]["rounds"];
  EXPECT_EQ(kinds(session[0]), (std::vector<std::string>{"consent", "client"}));
  EXPECT_EQ(kinds(session[1]), (std::vector<std::string>{"consent", "client"}));
  expectCodeAtClient(session[1]);
  ASSERT_FALSE(session[2]["pages"].empty());
  EXPECT_EQ(session[2]["pages"][0]["kind"], "consent");
}

TEST_F(BrowserTest, UpstreamFailureEndsOnAPageThatLeadsBackToTheClient) {
  start({.dev = false, .github = true});
  // GitHub refuses the broker's own credentials: the upstream's side failed (502).
  github_->setTokenError("incorrect_client_credentials");
  auto report = drive(oneRound({{"url", authorizeUrl()}}));
  const auto& round = report["sessions"][0]["rounds"][0];
  EXPECT_EQ(kinds(round), (std::vector<std::string>{"consent", "error"}));
  ASSERT_EQ(round["pages"].size(), 2u);
  EXPECT_EQ(round["pages"][1]["status"], 502);
  EXPECT_NE(round["pages"][1]["text"].get<std::string>().find("Return to the application"),
            std::string::npos);
  EXPECT_TRUE(round["client"].is_null());
}

// An attacker consents for their own client and sends the upstream login URL (carrying the
// broker's state) to a victim. Finished in the victim's browser, it must not deliver a code.
TEST_F(BrowserTest, GitHubLoginFinishedInAnotherBrowserDeliversNoCode) {
  start({.dev = false, .github = true});
  json sessions = json::array({
      {{"rounds", {{{"url", authorizeUrl()}, {"stopAt", githubWebUrl() + "/login/oauth/"}}}}},
      {{"rounds", {{{"url", "@stopped"}}}}},
  });
  auto report = drive(sessions);
  const auto& attacker = report["sessions"][0]["rounds"][0];
  ASSERT_TRUE(attacker["stoppedAt"].is_string()) << attacker.dump(2);
  const auto& victim = report["sessions"][1]["rounds"][0];
  EXPECT_EQ(kinds(victim), (std::vector<std::string>{"error"}));
  ASSERT_FALSE(victim["pages"].empty());
  EXPECT_EQ(victim["pages"][0]["status"], 403);
  EXPECT_NE(victim["pages"][0]["text"].get<std::string>().find("another browser"),
            std::string::npos);
  EXPECT_TRUE(victim["client"].is_null()) << victim["client"];
}

TEST_F(BrowserTest, DevLoginFinishedInAnotherBrowserDeliversNoCode) {
  start({});
  json sessions = json::array({
      {{"rounds", {{{"url", authorizeUrl()}, {"stopAt", broker_->url() + "/auth/dev/login"}}}}},
      {{"rounds", {{{"url", "@stopped"}, {"user", "alice"}}}}},
  });
  auto report = drive(sessions);
  ASSERT_TRUE(report["sessions"][0]["rounds"][0]["stoppedAt"].is_string());
  const auto& victim = report["sessions"][1]["rounds"][0];
  EXPECT_EQ(kinds(victim), (std::vector<std::string>{"error"}));
  EXPECT_TRUE(victim["client"].is_null()) << victim["client"];
}

// Firefox has CSP rules of its own (it reports a refused favicon, for one): the same sign-ins in
// Debian's firefox-esr.
TEST_F(BrowserTest, FirefoxSignsInThroughEveryUpstreamKindAndDenies) {
  start({.dev = true, .github = true, .oidc = true});
  json sessions = json::array({
      {{"rounds", {{{"url", authorizeUrl()}, {"choose", "dev"}, {"user", "alice"}}}}},
      {{"rounds", {{{"url", authorizeUrl()}, {"choose", "github"}}}}},
      {{"rounds", {{{"url", authorizeUrl()}, {"choose", "corp"}, {"user", "erin"}}}}},
      {{"rounds", {{{"url", authorizeUrl()}, {"choose", "deny"}}}}},
  });
  auto report = drive(sessions, nullptr, "firefox");
  ASSERT_EQ(report["sessions"].size(), 4u);
  EXPECT_EQ(kinds(report["sessions"][0]["rounds"][0]),
            (std::vector<std::string>{"consent", "dev-login", "client"}));
  EXPECT_EQ(kinds(report["sessions"][1]["rounds"][0]),
            (std::vector<std::string>{"consent", "client"}));
  EXPECT_EQ(kinds(report["sessions"][2]["rounds"][0]),
            (std::vector<std::string>{"consent", "oidc-login", "client"}));
  for (int s = 0; s < 3; ++s) {
    const auto& client = report["sessions"][s]["rounds"][0]["client"];
    ASSERT_TRUE(client.is_object()) << s;
    EXPECT_FALSE(client.value("code", "").empty()) << s << client;
    EXPECT_EQ(client.value("iss", ""), broker_->url());
  }
  const auto& denied = report["sessions"][3]["rounds"][0]["client"];
  ASSERT_TRUE(denied.is_object());
  EXPECT_EQ(denied.value("error", ""), "access_denied");
}

TEST_F(BrowserTest, PagesWorkOnAPhoneScreen) {
  start({.dev = true, .github = true, .oidc = true});
  const json phone = {{"width", 375}, {"height", 740}};
  json sessions = json::array({
      // The chooser with three upstreams, the dev login, and back at the client.
      {{"rounds", {{{"url", authorizeUrl()}, {"choose", "dev"}, {"user", "alice"}}}}},
      // An error page: an unknown client.
      {{"rounds",
        {{{"url", broker_->url() + "/authorize?response_type=code&client_id=" +
                      "no-such-client-with-a-rather-long-identifier-0123456789"}}}}},
  });
  auto report = drive(sessions, phone);
  EXPECT_EQ(kinds(report["sessions"][0]["rounds"][0]),
            (std::vector<std::string>{"consent", "dev-login", "client"}));
  EXPECT_EQ(kinds(report["sessions"][1]["rounds"][0]), (std::vector<std::string>{"error"}));
}

}  // namespace
}  // namespace broker::testing
