// The C++ example MCP server (examples/mcp_server) with the real broker: it fetches the broker's
// JWKS through mcp_token_verifier, accepts the broker's token for it and refuses a tampered one.

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "fakes/broker_process.h"
#include "fakes/child_process.h"
#include "fakes/oauth_driver.h"
#include "fakes/token_mutations.h"
#include "mcp_auth/jwt.h"

namespace broker::testing {
namespace {

using nlohmann::json;

class ExampleMcpServer : public ::testing::Test {
 protected:
  void SetUp() override {
    port_ = freePort();
    resource_ = "http://127.0.0.1:" + std::to_string(port_) + "/mcp";
    BrokerConfig cfg;
    cfg.policy_yaml =
        "servers:\n  localhost:\n    demo:\n      name: Demo\n      resource: " + resource_ +
        "\n      allowed_users: [alice]\n";
    broker_ = std::make_unique<BrokerProcess>(dir_, cfg);
    broker_->start();
    server_ = std::make_unique<ChildProcess>(
        std::vector<std::string>{EXAMPLE_MCP_SERVER, "--listen",
                                 "127.0.0.1:" + std::to_string(port_), "--issuer", broker_->url(),
                                 "--resource", resource_, "--scope", "mcp:localhost:demo"},
        dir_.file("example.log"));
    ASSERT_TRUE(server_->waitForHttp(url("/.well-known/oauth-protected-resource")))
        << server_->log();
    OAuthDriver driver(broker_->url());
    auto client = driver.registerClient();
    AuthorizeRequest req;
    req.resource = resource_;
    PkcePair pkce;
    auto a = driver.authorize(client, req, &pkce);
    ASSERT_FALSE(a.code.empty()) << a.error << a.page;
    token_ = driver.exchange(client, a.code, pkce.verifier, resource_).access_token;
    ASSERT_FALSE(token_.empty());
  }

  HttpResult call(const std::string& token, const std::string& method,
                  json params = json::object()) {
    json rpc = {{"jsonrpc", "2.0"}, {"id", 1}, {"method", method}, {"params", params}};
    std::vector<std::string> headers = {"Accept: application/json, text/event-stream"};
    if (!token.empty()) headers.push_back("Authorization: Bearer " + token);
    return http_.post(url("/mcp"), rpc.dump(), "application/json", headers);
  }

  std::string url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }

  TempDir dir_;
  uint16_t port_ = 0;
  std::string resource_;
  std::unique_ptr<BrokerProcess> broker_;
  std::unique_ptr<ChildProcess> server_;
  std::string token_;
  HttpClient http_;
};

TEST_F(ExampleMcpServer, AcceptsTheBrokersTokenForIt) {
  auto init = call(token_, "initialize", {{"protocolVersion", "2025-06-18"}});
  ASSERT_EQ(init.status, 200) << init.body;
  auto list = call(token_, "tools/list");
  ASSERT_EQ(list.status, 200) << list.body;
  EXPECT_EQ(json::parse(list.body)["result"]["tools"][0]["name"], "whoami");
  auto who = call(token_, "tools/call", {{"name", "whoami"}, {"arguments", json::object()}});
  ASSERT_EQ(who.status, 200);
  EXPECT_NE(who.body.find("You are alice (dev:alice)"), std::string::npos) << who.body;
}

TEST_F(ExampleMcpServer, ChallengesWithoutATokenAndServesItsResourceMetadata) {
  auto r = call("", "tools/list");
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(r.header("www-authenticate"),
            "Bearer resource_metadata=\"http://127.0.0.1:" + std::to_string(port_) +
                "/.well-known/oauth-protected-resource/mcp\", scope=\"mcp:localhost:demo\"");
  auto prm = http_.get(url("/.well-known/oauth-protected-resource/mcp"));
  ASSERT_EQ(prm.status, 200);
  EXPECT_EQ(json::parse(prm.body)["authorization_servers"], json::array({broker_->url()}));
}

// The library and /forward-auth judge audience alike: a token requested without `resource` (aud:
// the mcp:<domain>:<server> identifier only) is refused, and a refresh that names the resource
// gives one that is accepted.
TEST_F(ExampleMcpServer, RefusesATokenIssuedWithoutAResourceUntilRefreshedForIt) {
  OAuthDriver driver(broker_->url());
  auto client = driver.registerClient();
  AuthorizeRequest req;
  req.scope = "mcp:localhost:demo";  // and no resource
  PkcePair pkce;
  auto a = driver.authorize(client, req, &pkce);
  ASSERT_FALSE(a.code.empty()) << a.error << a.page;
  auto t = driver.exchange(client, a.code, pkce.verifier);
  ASSERT_EQ(t.status, 200) << t.body;
  auto r = call(t.access_token, "tools/list");
  EXPECT_EQ(r.status, 401) << r.body;
  EXPECT_NE(r.header("www-authenticate").find("error=\"invalid_token\""), std::string::npos);
  EXPECT_NE(r.header("www-authenticate").find("wrong_audience"), std::string::npos)
      << r.header("www-authenticate");

  auto bound = driver.refresh(client, t.refresh_token, "", resource_);
  ASSERT_EQ(bound.status, 200) << bound.body;
  EXPECT_EQ(call(bound.access_token, "tools/list").status, 200);
}

TEST_F(ExampleMcpServer, RefusesEveryBitFlipOfTheSignature) {
  ASSERT_EQ(call(token_, "tools/list").status, 200);
  const size_t dot = token_.rfind('.');
  const std::string input = token_.substr(0, dot + 1);
  int accepted = 0;
  forEachBitFlip(*mcp_auth::base64urlDecode(token_.substr(dot + 1)), [&](const std::string& sig,
                                                                         size_t i, int bit) {
    auto r = call(input + mcp_auth::base64urlEncode(sig), "tools/list");
    if (r.status != 401) ++accepted;
    EXPECT_EQ(r.status, 401) << "byte " << i << " bit " << bit;
    if (i == 0 && bit == 0) {
      EXPECT_NE(r.header("www-authenticate").find("error=\"invalid_token\""), std::string::npos);
    }
  });
  EXPECT_EQ(accepted, 0);
  EXPECT_EQ(call(token_, "tools/list").status, 200) << "the good token still works";
}

}  // namespace
}  // namespace broker::testing
