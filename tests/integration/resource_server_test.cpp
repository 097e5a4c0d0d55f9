// The broker protecting MCP servers: /forward-auth as a reverse proxy calls it (nginx
// auth_request sends X-Original-URL, Traefik sends X-Forwarded-*), and the RFC 9728
// protected-resource metadata, all against the real binary.

#include <gtest/gtest.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <thread>

#include "fakes/broker_process.h"
#include "fakes/oauth_driver.h"
#include "fakes/token_mutations.h"
#include "mcp_auth/jwt.h"

namespace broker::testing {
namespace {

using nlohmann::json;

constexpr char kDemo[] = "http://127.0.0.1:9000/mcp";
constexpr char kDemoMetadata[] = "http://127.0.0.1:9000/.well-known/oauth-protected-resource/mcp";

class ResourceServer : public ::testing::Test {
 protected:
  void SetUp() override {
    broker_ = std::make_unique<BrokerProcess>(dir_, BrokerConfig{});
    broker_->start();
    driver_ = std::make_unique<OAuthDriver>(broker_->url());
  }

  // alice's access token for `resource` (scope: that server).
  std::string tokenFor(const std::string& resource, const std::string& user = "alice") {
    auto client = driver_->registerClient();
    client_id_ = client.client_id;
    AuthorizeRequest req;
    req.user = user;
    req.resource = resource;
    PkcePair pkce;
    auto a = driver_->authorize(client, req, &pkce);
    EXPECT_FALSE(a.code.empty()) << a.error << a.page;
    auto t = driver_->exchange(client, a.code, pkce.verifier, resource);
    EXPECT_EQ(t.status, 200) << t.body;
    return t.access_token;
  }

  HttpResult forwardAuth(const std::string& url, const std::string& token,
                         std::vector<std::string> extra = {}) {
    std::vector<std::string> headers = std::move(extra);
    if (!url.empty()) headers.push_back("X-Original-URL: " + url);
    if (!token.empty()) headers.push_back("Authorization: Bearer " + token);
    return http_.get(broker_->url() + "/forward-auth", headers);
  }

  TempDir dir_;
  std::unique_ptr<BrokerProcess> broker_;
  std::unique_ptr<OAuthDriver> driver_;
  HttpClient http_;
  std::string client_id_;
};

TEST_F(ResourceServer, ForwardAuthPassesAValidTokenWithIdentityHeaders) {
  const std::string token = tokenFor(kDemo);
  for (const std::string& url :
       {std::string(kDemo), std::string(kDemo) + "/", std::string(kDemo) + "/messages?session=1"}) {
    auto r = forwardAuth(url, token);
    ASSERT_EQ(r.status, 200) << url << " " << r.body;
    EXPECT_EQ(r.header("x-auth-subject"), "dev:alice");
    EXPECT_EQ(r.header("x-auth-user"), "alice");
    EXPECT_EQ(r.header("x-auth-scopes"), "mcp:localhost:demo");
    EXPECT_EQ(r.header("x-auth-client-id"), client_id_);
  }
  // Traefik's forwardAuth describes the request with X-Forwarded-* instead.
  auto r = http_.get(broker_->url() + "/forward-auth",
                     {"X-Forwarded-Proto: http", "X-Forwarded-Host: 127.0.0.1:9000",
                      "X-Forwarded-Uri: /mcp", "Authorization: Bearer " + token});
  EXPECT_EQ(r.status, 200) << r.body;
}

TEST_F(ResourceServer, ForwardAuthWithoutATokenChallengesWithTheResourceMetadata) {
  auto r = forwardAuth(kDemo, "");
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(r.header("www-authenticate"), std::string("Bearer resource_metadata=\"") +
                                              kDemoMetadata + "\", scope=\"mcp:localhost:demo\"");
}

TEST_F(ResourceServer, ForwardAuthRefusesATamperedTokenAsInvalid) {
  const std::string token = tokenFor(kDemo);
  const size_t dot = token.rfind('.');
  auto sig = *mcp_auth::base64urlDecode(token.substr(dot + 1));
  sig[sig.size() / 2] ^= 0x01;
  auto r = forwardAuth(kDemo, token.substr(0, dot + 1) + mcp_auth::base64urlEncode(sig));
  EXPECT_EQ(r.status, 401);
  const std::string challenge = r.header("www-authenticate");
  EXPECT_EQ(challenge.rfind(std::string("Bearer resource_metadata=\"") + kDemoMetadata +
                                "\", scope=\"mcp:localhost:demo\", error=\"invalid_token\"",
                            0),
            0u)
      << challenge;
  EXPECT_EQ(forwardAuth(kDemo, "not-a-jwt").status, 401);
  auto basic = http_.get(broker_->url() + "/forward-auth",
                         {"X-Original-URL: " + std::string(kDemo), "Authorization: Basic YTpi"});
  EXPECT_EQ(basic.status, 401);
  EXPECT_NE(basic.header("www-authenticate").find("error=\"invalid_token\""), std::string::npos);
}

TEST_F(ResourceServer, ForwardAuthRefusesEveryBitFlipOfAnAcceptedTokensSignature) {
  const std::string token = tokenFor(kDemo);
  ASSERT_EQ(forwardAuth(kDemo, token).status, 200);  // now in the verified-token cache
  const size_t dot = token.rfind('.');
  const std::string input = token.substr(0, dot + 1);
  int accepted = 0;
  forEachBitFlip(*mcp_auth::base64urlDecode(token.substr(dot + 1)),
                 [&](const std::string& sig, size_t, int) {
                   if (forwardAuth(kDemo, input + mcp_auth::base64urlEncode(sig)).status != 401) {
                     ++accepted;
                   }
                 });
  EXPECT_EQ(accepted, 0);
  EXPECT_EQ(forwardAuth(kDemo, token).status, 200);
}

TEST(ForwardAuthCache, AnAcceptedTokenIsRefusedOnceItExpires) {
  TempDir dir;
  BrokerConfig cfg;
  cfg.extra_yaml = "tokens:\n  access_ttl: 1s\n";
  BrokerProcess broker(dir, cfg);
  broker.start();
  OAuthDriver driver(broker.url());
  auto client = driver.registerClient();
  AuthorizeRequest req;
  req.resource = kDemo;
  PkcePair pkce;
  auto a = driver.authorize(client, req, &pkce);
  auto t = driver.exchange(client, a.code, pkce.verifier, kDemo);
  ASSERT_EQ(t.status, 200) << t.body;
  HttpClient http;
  auto ask = [&] {
    return http.get(broker.url() + "/forward-auth", {"X-Original-URL: " + std::string(kDemo),
                                                     "Authorization: Bearer " + t.access_token});
  };
  ASSERT_EQ(ask().status, 200);
  // exp (1 s) plus the forward-auth leeway (5 s), and a second of margin.
  std::this_thread::sleep_for(std::chrono::seconds(7));
  auto r = ask();
  EXPECT_EQ(r.status, 401);
  EXPECT_NE(r.header("www-authenticate").find("error=\"invalid_token\""), std::string::npos);
}

// Revocation reaches the proxy at once when it is made at this broker: the revocation list
// reloads on the spot, and /forward-auth consults it without a database round trip.
TEST_F(ResourceServer, ForwardAuthRefusesARevokedToken) {
  auto client = driver_->registerClient();
  AuthorizeRequest req;
  req.resource = kDemo;
  PkcePair pkce;
  auto a = driver_->authorize(client, req, &pkce);
  auto t = driver_->exchange(client, a.code, pkce.verifier, kDemo);
  ASSERT_EQ(t.status, 200) << t.body;
  ASSERT_EQ(forwardAuth(kDemo, t.access_token).status, 200);  // verified and cached
  ASSERT_EQ(driver_->clientPost(client, "/revoke", {{"token", t.refresh_token}}).status, 200);
  auto r = forwardAuth(kDemo, t.access_token);
  EXPECT_EQ(r.status, 401);
  EXPECT_NE(r.header("www-authenticate").find("error=\"invalid_token\""), std::string::npos);
  EXPECT_NE(r.body.find("token revoked"), std::string::npos) << r.body;
}

TEST_F(ResourceServer, ForwardAuthRefusesATokenForAnotherServer) {
  const std::string token = tokenFor(kDemo, "bob");
  EXPECT_EQ(forwardAuth(kDemo, token).status, 200);
  auto r = forwardAuth("http://127.0.0.1:9001/mcp", token);
  EXPECT_EQ(r.status, 401);
  EXPECT_NE(r.header("www-authenticate").find("oauth-protected-resource/mcp"), std::string::npos);
  EXPECT_NE(r.header("www-authenticate").find("scope=\"mcp:localhost:admin\""), std::string::npos);
  EXPECT_NE(r.header("www-authenticate").find("error=\"invalid_token\""), std::string::npos);
}

TEST_F(ResourceServer, ForwardAuthAnswersInsufficientScopeWith403) {
  const std::string token = tokenFor(kDemo);
  auto r = forwardAuth(kDemo, token, {"X-Required-Scope: mcp:localhost:demo:write"});
  EXPECT_EQ(r.status, 200) << "the server scope is broader than its sub-scope";
  r = forwardAuth(kDemo, token, {"X-Required-Scope: mcp:localhost:admin"});
  EXPECT_EQ(r.status, 403);
  EXPECT_NE(r.header("www-authenticate").find("error=\"insufficient_scope\""), std::string::npos);
}

TEST_F(ResourceServer, ForwardAuthNeverChallengesACorsPreflight) {
  auto r = forwardAuth(kDemo, "", {"X-Original-Method: OPTIONS"});
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.header("www-authenticate"), "");
}

TEST_F(ResourceServer, ForwardAuthRefusesUrlsThatAreNoServerOfThePolicy) {
  const std::string token = tokenFor(kDemo);
  EXPECT_EQ(forwardAuth("http://127.0.0.1:9000/other", token).status, 403);
  EXPECT_EQ(forwardAuth("http://127.0.0.1:9000/mcpx", token).status, 403);
  EXPECT_EQ(forwardAuth("", token).status, 400);
  // The proxy routes on the normalised path: a token for /mcp must not open /admin through it.
  for (const char* path : {"/mcp/../admin", "/mcp/./x/../../admin", "/mcp/%2e%2e/admin",
                           "/mcp/..%2Fadmin", "/mcp/%2E./admin", "/mcp\\..\\admin", "/mcp/.."}) {
    EXPECT_EQ(forwardAuth(std::string("http://127.0.0.1:9000") + path, token).status, 403) << path;
  }
  EXPECT_EQ(forwardAuth("http://127.0.0.1:9000/mcp/a.b/..c/x", token).status, 200);
}

TEST_F(ResourceServer, ProtectedResourceMetadataNamesTheIssuerByteForByte) {
  const std::vector<std::string> origin = {"X-Forwarded-Proto: http",
                                           "X-Forwarded-Host: 127.0.0.1:9000"};
  for (const char* path :
       {"/.well-known/oauth-protected-resource/mcp", "/.well-known/oauth-protected-resource"}) {
    auto r = http_.get(broker_->url() + path, origin);
    ASSERT_EQ(r.status, 200) << path << r.body;
    EXPECT_EQ(r.header("access-control-allow-origin"), "*");
    auto doc = json::parse(r.body);
    EXPECT_EQ(doc["resource"], kDemo);
    EXPECT_EQ(doc["authorization_servers"], json::array({broker_->url()}));
    EXPECT_EQ(doc["scopes_supported"], json::array({"mcp:localhost:demo"}));
    EXPECT_EQ(doc["bearer_methods_supported"], json::array({"header"}));
    EXPECT_EQ(doc["resource_name"], "Demo server");
  }
  EXPECT_EQ(
      http_.get(broker_->url() + "/.well-known/oauth-protected-resource/other", origin).status,
      404);
  // Without the proxy's headers the broker's own origin has no protected resource.
  EXPECT_EQ(http_.get(broker_->url() + "/.well-known/oauth-protected-resource/mcp").status, 404);
}

}  // namespace
}  // namespace broker::testing
