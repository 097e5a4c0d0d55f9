// keys.algorithm: ES256 end to end: the broker signs with P-256, publishes the key and the
// algorithm, the example MCP server (mcp_token_verifier) accepts its tokens, and a switch from
// RS256 keeps the tokens already issued valid while the JWKS carries both keys.

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "fakes/broker_process.h"
#include "fakes/child_process.h"
#include "fakes/jwks_verify.h"
#include "fakes/oauth_driver.h"
#include "fakes/token_mutations.h"
#include "mcp_auth/jwt.h"

namespace broker::testing {
namespace {

using nlohmann::json;

std::string algOf(const std::string& jwt) {
  mcp_auth::DecodedJwt d;
  return mcp_auth::decodeJwt(jwt, d) == mcp_auth::JwtStatus::kOk ? d.alg : "";
}

json getJson(HttpClient& http, const std::string& url) {
  return json::parse(http.get(url).body, nullptr, false);
}

std::vector<std::string> jwksKtys(HttpClient& http, const std::string& base) {
  std::vector<std::string> out;
  const json doc = getJson(http, base + "/.well-known/jwks.json");
  for (const auto& k : doc["keys"]) {
    out.push_back(k["kty"].get<std::string>() + "/" + k["alg"].get<std::string>());
  }
  return out;
}

json signingAlgs(HttpClient& http, const std::string& base) {
  return getJson(
      http,
      base +
          "/.well-known/oauth-authorization-server")["access_token_signing_alg_values_supported"];
}

TEST(Es256Flow, SignInRefreshAndTheExampleMcpServerAcceptTheTokens) {
  TempDir dir;
  const uint16_t port = freePort();
  const std::string resource = "http://127.0.0.1:" + std::to_string(port) + "/mcp";
  BrokerConfig cfg;
  cfg.policy_yaml =
      "servers:\n  localhost:\n    demo:\n      name: Demo\n      resource: " + resource +
      "\n      allowed_users: [alice]\n";
  cfg.extra_yaml = "keys:\n  algorithm: ES256\n";
  BrokerProcess broker(dir, cfg);
  broker.start();
  HttpClient http;
  EXPECT_EQ(signingAlgs(http, broker.url()), json::array({"ES256"}));
  EXPECT_EQ(jwksKtys(http, broker.url()), std::vector<std::string>{"EC/ES256"});

  ChildProcess server(
      {EXAMPLE_MCP_SERVER, "--listen", "127.0.0.1:" + std::to_string(port), "--issuer",
       broker.url(), "--resource", resource, "--scope", "mcp:localhost:demo"},
      dir.file("example.log"));
  ASSERT_TRUE(server.waitForHttp("http://127.0.0.1:" + std::to_string(port) +
                                 "/.well-known/oauth-protected-resource"))
      << server.log();
  auto call = [&](const std::string& token) {
    json rpc = {{"jsonrpc", "2.0"},
                {"id", 1},
                {"method", "tools/call"},
                {"params", {{"name", "whoami"}, {"arguments", json::object()}}}};
    return http.post(
        resource, rpc.dump(), "application/json",
        {"Accept: application/json, text/event-stream", "Authorization: Bearer " + token});
  };

  OAuthDriver driver(broker.url());
  auto client = driver.registerClient();
  AuthorizeRequest req;
  req.resource = resource;
  req.user = "alice";
  PkcePair pkce;
  auto a = driver.authorize(client, req, &pkce);
  ASSERT_FALSE(a.code.empty()) << a.error << a.page;
  auto t = driver.exchange(client, a.code, pkce.verifier, resource);
  ASSERT_EQ(t.status, 200) << t.body;
  EXPECT_EQ(algOf(t.access_token), "ES256");
  EXPECT_EQ(verifyWithJwks(http, broker.url(), t.access_token), token::JwtStatus::kOk);
  auto who = call(t.access_token);
  ASSERT_EQ(who.status, 200) << who.body << server.log();
  EXPECT_NE(who.body.find("You are alice (dev:alice)"), std::string::npos) << who.body;

  // The MCP server refuses the token with any one bit of its signature flipped (a sample: the
  // whole sweep runs in the unit tests) or its signature in DER form.
  const size_t dot = t.access_token.rfind('.');
  const std::string raw = *mcp_auth::base64urlDecode(t.access_token.substr(dot + 1));
  for (size_t i : {size_t{0}, size_t{31}, size_t{32}, size_t{63}}) {
    std::string sig = raw;
    sig[i] = static_cast<char>(sig[i] ^ 0x01);
    EXPECT_EQ(call(t.access_token.substr(0, dot + 1) + mcp_auth::base64urlEncode(sig)).status, 401)
        << "byte " << i;
  }
  const std::string der = *mcp_auth::es256RawToDer(raw);
  EXPECT_EQ(call(t.access_token.substr(0, dot + 1) + mcp_auth::base64urlEncode(der)).status, 401);

  auto r = driver.refresh(client, t.refresh_token);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(algOf(r.access_token), "ES256");
  EXPECT_EQ(call(r.access_token).status, 200);
  server.stop();
  EXPECT_EQ(broker.stop(), 0);
}

TEST(Es256Flow, SwitchingFromRs256PublishesBothAndKeepsIssuedTokensValid) {
  TempDir dir;
  BrokerProcess broker(dir, {});
  broker.start();
  HttpClient http;
  OAuthDriver driver(broker.url());
  auto client = driver.registerClient();
  auto before = driver.login(client, "alice", "mcp:localhost:demo");
  ASSERT_EQ(before.status, 200) << before.body;
  EXPECT_EQ(algOf(before.access_token), "RS256");
  EXPECT_EQ(signingAlgs(http, broker.url()), json::array({"RS256"}));
  ASSERT_EQ(broker.stop(), 0);

  // keys.algorithm: ES256. publish_ahead 0 stands for the hour in which the P-256 key is
  // published before it signs (the unit tests cover that wait); the RS256 key stays in the JWKS,
  // so the token issued before the switch still verifies.
  BrokerConfig es;
  es.extra_yaml = "keys:\n  algorithm: ES256\n  publish_ahead: 0s\n";
  broker.rewriteConfig(es);
  broker.start();
  EXPECT_EQ(jwksKtys(http, broker.url()), (std::vector<std::string>{"EC/ES256", "RSA/RS256"}));
  EXPECT_EQ(signingAlgs(http, broker.url()), json::array({"ES256", "RS256"}));
  auto after = driver.login(client, "alice", "mcp:localhost:demo");
  ASSERT_EQ(after.status, 200) << after.body;
  EXPECT_EQ(algOf(after.access_token), "ES256");
  EXPECT_EQ(verifyWithJwks(http, broker.url(), after.access_token), token::JwtStatus::kOk);
  EXPECT_EQ(verifyWithJwks(http, broker.url(), before.access_token), token::JwtStatus::kOk);
  auto refreshed = driver.refresh(client, before.refresh_token);
  ASSERT_EQ(refreshed.status, 200) << refreshed.body;
  EXPECT_EQ(algOf(refreshed.access_token), "ES256");
  EXPECT_EQ(broker.stop(), 0);
}

}  // namespace
}  // namespace broker::testing
