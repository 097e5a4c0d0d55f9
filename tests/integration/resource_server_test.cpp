// The broker protecting MCP servers: /forward-auth as a reverse proxy calls it, in each header
// contract of forward_auth.proxy (nginx auth_request sends X-Original-URL/-Method, Traefik
// forwardAuth X-Forwarded-*, Envoy ext_authz the request itself), a client smuggling the other
// contracts' headers, the shipped nginx locations in front of it, and the RFC 9728
// protected-resource metadata, all against the real binary.

#include <gtest/gtest.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <thread>

#include "fakes/broker_process.h"
#include "fakes/nginx_process.h"
#include "fakes/oauth_driver.h"
#include "fakes/token_mutations.h"
#include "mcp_auth/jwt.h"

namespace broker::testing {
namespace {

using nlohmann::json;

constexpr char kDemo[] = "http://127.0.0.1:9000/mcp";
constexpr char kDemoMetadata[] = "http://127.0.0.1:9000/.well-known/oauth-protected-resource/mcp";

constexpr char kAdmin[] = "http://127.0.0.1:9001/mcp";

// The default test policy, with a sub-scope on the demo server.
std::string policyWithSubScope(const std::string& demo_resource = kDemo) {
  return "servers:\n  localhost:\n    demo:\n      name: Demo server\n      resource: " +
         demo_resource +
         "\n      allowed_users: [alice, bob]\n      scopes:\n        read: {}\n"
         "    admin:\n      name: Admin tools\n      resource: " +
         std::string(kAdmin) + "\n      allowed_users: [alice, bob]\n";
}

class ResourceServer : public ::testing::Test {
 protected:
  void SetUp() override { start(BrokerConfig{}); }

  void start(const BrokerConfig& cfg) {
    broker_ = std::make_unique<BrokerProcess>(dir_, cfg);
    broker_->start();
    driver_ = std::make_unique<OAuthDriver>(broker_->url());
  }

  // A broker that reads the header contract of `proxy` (forward_auth.proxy).
  void startBehind(const std::string& proxy) {
    BrokerConfig cfg;
    cfg.extra_yaml = "forward_auth:\n  proxy: " + proxy + "\n";
    start(cfg);
  }

  // A sign-in of `user` through `client` for `resource` ("" = none; scope: that server, or
  // `scope`): its code, with the verifier, and the tokens of the code's first exchange.
  struct SignIn {
    std::string code;
    PkcePair pkce;
    TokenResponse tokens;
  };
  SignIn signIn(const RegisteredClient& client, const std::string& resource,
                const std::string& user = "alice", const std::string& scope = "") {
    AuthorizeRequest req;
    req.user = user;
    req.scope = scope;
    req.resource = resource;
    SignIn out;
    auto a = driver_->authorize(client, req, &out.pkce);
    EXPECT_FALSE(a.code.empty()) << a.error << a.page;
    out.code = a.code;
    out.tokens = driver_->exchange(client, a.code, out.pkce.verifier, resource);
    EXPECT_EQ(out.tokens.status, 200) << out.tokens.body;
    return out;
  }

  // alice's access token for `resource` (scope: that server, or `scope`).
  std::string tokenFor(const std::string& resource, const std::string& user = "alice",
                       const std::string& scope = "") {
    auto client = driver_->registerClient();
    client_id_ = client.client_id;
    return signIn(client, resource, user, scope).tokens.access_token;
  }

  // /forward-auth<path> as `method`, with `headers` and the bearer `token` (none when empty).
  HttpResult ask(const std::string& method, const std::string& path, const std::string& token,
                 std::vector<std::string> headers) {
    if (!token.empty()) headers.push_back("Authorization: Bearer " + token);
    return http_.request(method, broker_->url() + "/forward-auth" + path, "", headers);
  }

  // What nginx's auth_request sends: X-Original-URL (X-Original-Method is left to `extra`).
  HttpResult forwardAuth(const std::string& url, const std::string& token,
                         std::vector<std::string> extra = {}) {
    if (!url.empty()) extra.push_back("X-Original-URL: " + url);
    return ask("GET", "", token, std::move(extra));
  }

  // The header set Traefik's forwardAuth sends, plus the client's own `client` headers.
  HttpResult traefik(const std::string& method, const std::string& host, const std::string& uri,
                     const std::string& token, std::vector<std::string> client = {}) {
    client.insert(client.end(), {"X-Forwarded-Method: " + method, "X-Forwarded-Proto: http",
                                 "X-Forwarded-Host: " + host, "X-Forwarded-Uri: " + uri});
    return ask("GET", "", token, std::move(client));
  }

  // The request Envoy's ext_authz HTTP service sends (path_prefix /forward-auth).
  HttpResult envoy(const std::string& method, const std::string& host, const std::string& path,
                   const std::string& token, std::vector<std::string> client = {}) {
    client.insert(client.end(), {"Host: " + host, "X-Forwarded-Proto: http"});
    return ask(method, path, token, std::move(client));
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
}

// The token's claims, read without verification (the broker has just issued it).
json claimsOf(const std::string& token) {
  const size_t a = token.find('.'), b = token.find('.', a + 1);
  return json::parse(*mcp_auth::base64urlDecode(token.substr(a + 1, b - a - 1)));
}

// RFC 8707 and the MCP authorization spec: a resource server accepts only tokens issued for it as
// audience. A token requested without `resource` names the granted mcp:<domain>:<server>
// identifiers only; /forward-auth refuses it like the mcp_token_verifier library does, and the
// client gets a usable token by asking for the resource at refresh (RFC 8707 §2.2).
TEST_F(ResourceServer, ForwardAuthRefusesATokenIssuedWithoutAResourceLikeTheLibrary) {
  auto client = driver_->registerClient();
  const auto t = signIn(client, "").tokens;
  ASSERT_EQ(t.status, 200) << t.body;
  EXPECT_EQ(claimsOf(t.access_token)["aud"], "mcp:localhost:demo");

  auto r = forwardAuth(kDemo, t.access_token);
  EXPECT_EQ(r.status, 401) << r.body;
  EXPECT_NE(r.header("www-authenticate").find("error=\"invalid_token\""), std::string::npos);
  EXPECT_EQ(r.header("x-auth-subject"), "");

  auto bound = driver_->refresh(client, t.refresh_token, "", kDemo);
  ASSERT_EQ(bound.status, 200) << bound.body;
  EXPECT_EQ(claimsOf(bound.access_token)["aud"], json::array({kDemo, "mcp:localhost:demo"}));
  auto ok = forwardAuth(kDemo, bound.access_token);
  EXPECT_EQ(ok.status, 200) << ok.body;
  EXPECT_EQ(ok.header("x-auth-subject"), "dev:alice");
}

// RFC 6749 §4.1.2 / OAuth 2.1 §4.1.3: a replayed code is refused and the grant it started is
// revoked. What the client sees: invalid_grant for the replay, invalid_grant for the first
// exchange's refresh token, and its access token refused by /forward-auth, /introspect and
// /validate (at once on this instance, within tokens.revocation_sync on the others).
TEST_F(ResourceServer, ReplayingACodeEndsTheFirstExchangesTokensEverywhere) {
  auto client = driver_->registerClient("client_secret_basic");
  const auto signed_in = signIn(client, kDemo);
  const auto& first = signed_in.tokens;
  ASSERT_EQ(first.status, 200) << first.body;
  ASSERT_EQ(forwardAuth(kDemo, first.access_token).status, 200);

  auto replay = driver_->exchange(client, signed_in.code, signed_in.pkce.verifier, kDemo);
  EXPECT_EQ(replay.status, 400) << replay.body;
  EXPECT_EQ(replay.error, "invalid_grant");
  EXPECT_EQ(replay.access_token, "");

  EXPECT_EQ(driver_->refresh(client, first.refresh_token).error, "invalid_grant");
  auto fa = forwardAuth(kDemo, first.access_token);
  EXPECT_EQ(fa.status, 401) << fa.body;
  EXPECT_NE(fa.header("www-authenticate").find("error=\"invalid_token\""), std::string::npos);
  EXPECT_EQ(
      json::parse(driver_->clientPost(client, "/introspect", {{"token", first.access_token}}).body),
      json({{"active", false}}));
  auto v = json::parse(http_
                           .post(broker_->url() + "/validate",
                                 json{{"token", first.access_token}}.dump(), "application/json")
                           .body);
  EXPECT_EQ(v["valid"], false);
  EXPECT_EQ(v["error"], "revoked");
}

// forward_auth.proxy defaults to nginx: Traefik's headers alone describe no request to it (they
// used to be read as a fallback, which let a client choose the URL behind nginx configs that pass
// client headers on).
TEST_F(ResourceServer, ForwardAuthReadsOnlyTheNginxContractByDefault) {
  const std::string token = tokenFor(kDemo);
  auto r = http_.get(broker_->url() + "/forward-auth",
                     {"X-Forwarded-Proto: http", "X-Forwarded-Host: 127.0.0.1:9000",
                      "X-Forwarded-Uri: /mcp", "Authorization: Bearer " + token});
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_NE(r.body.find("X-Original-URL"), std::string::npos) << r.body;
}

// A client behind an nginx that passes its headers on adds the Traefik contract's headers: when
// they describe another request, the answer is a refusal, never the nginx contract's decision.
TEST_F(ResourceServer, ForwardAuthRefusesNginxRequestsWhoseTraefikHeadersDisagree) {
  const std::string token = tokenFor(kDemo);
  struct Row {
    std::vector<std::string> extra;
    const char* reason;
  };
  const Row rows[] = {
      {{"X-Forwarded-Host: 127.0.0.1:9001"}, "X-Forwarded-Proto/-Host/-Uri disagrees"},
      {{"X-Forwarded-Proto: https"}, "X-Forwarded-Proto/-Host/-Uri disagrees"},
      {{"X-Forwarded-Uri: /admin"}, "X-Forwarded-Proto/-Host/-Uri disagrees"},
      {{"X-Original-Method: POST", "X-Forwarded-Method: OPTIONS"},
       "X-Forwarded-Method disagrees with X-Original-Method"},
  };
  for (const auto& row : rows) {
    auto r = forwardAuth(kDemo, token, row.extra);
    EXPECT_EQ(r.status, 400) << row.extra.front() << " " << r.body;
    EXPECT_NE(r.body.find(row.reason), std::string::npos) << r.body;
    EXPECT_EQ(r.header("x-auth-subject"), "");
  }
  // Headers that agree with X-Original-URL are no contradiction.
  EXPECT_EQ(
      forwardAuth(kDemo, token,
                  {"X-Forwarded-Proto: http", "X-Forwarded-Host: 127.0.0.1:9000",
                   "X-Forwarded-Uri: /mcp", "X-Original-Method: GET", "X-Forwarded-Method: GET"})
          .status,
      200);
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

// The required scope is the policy server's; a request header cannot lower it (it used to come
// from X-Required-Scope, which any client could send through a proxy that did not clear it).
TEST(ForwardAuthScope, RequiredScopeIsThePolicyServersNeverARequestHeader) {
  TempDir dir;
  BrokerConfig cfg;
  cfg.policy_yaml = policyWithSubScope();
  BrokerProcess broker(dir, cfg);
  broker.start();
  OAuthDriver driver(broker.url());
  auto client = driver.registerClient();
  AuthorizeRequest req;
  req.scope = "mcp:localhost:demo:read";
  req.resource = kDemo;
  PkcePair pkce;
  auto a = driver.authorize(client, req, &pkce);
  ASSERT_FALSE(a.code.empty()) << a.error << a.page;
  auto t = driver.exchange(client, a.code, pkce.verifier, kDemo);
  ASSERT_EQ(t.status, 200) << t.body;
  ASSERT_EQ(t.scope, "mcp:localhost:demo:read");
  HttpClient http;
  auto ask = [&](std::vector<std::string> extra) {
    extra.push_back("X-Original-URL: " + std::string(kDemo));
    extra.push_back("Authorization: Bearer " + t.access_token);
    return http.get(broker.url() + "/forward-auth", extra);
  };
  for (const std::vector<std::string>& extra : {std::vector<std::string>{},
                                                {"X-Required-Scope: mcp:localhost:demo:read"},
                                                {"X-Required-Scope: "}}) {
    auto r = ask(extra);
    EXPECT_EQ(r.status, 403) << (extra.empty() ? "-" : extra.front()) << " " << r.body;
    EXPECT_NE(r.header("www-authenticate").find("error=\"insufficient_scope\""), std::string::npos);
    EXPECT_NE(r.header("www-authenticate").find("scope=\"mcp:localhost:demo\""), std::string::npos);
  }
}

TEST_F(ResourceServer, ForwardAuthIgnoresARequiredScopeHeaderAboveTheServersScope) {
  const std::string token = tokenFor(kDemo);
  EXPECT_EQ(forwardAuth(kDemo, token, {"X-Required-Scope: mcp:localhost:admin"}).status, 200);
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

// The broker behind a proxy other than nginx: each test starts it with startBehind(proxy).
class ForwardAuthContract : public ResourceServer {
 protected:
  void SetUp() override {}
};

// forward_auth.proxy: traefik. Traefik's forwardAuth sends GET /forward-auth with
// X-Forwarded-Method, -Proto, -Host and -Uri of the request it protects (set by Traefik itself
// while trustForwardHeader is off), and passes the client's other headers along; Traefik is not
// available here, so these are the header sets it sends, straight to the broker.

TEST_F(ForwardAuthContract, TraefikPassesAValidTokenForTheForwardedUrl) {
  startBehind("traefik");
  const std::string token = tokenFor(kDemo);
  for (const char* uri : {"/mcp", "/mcp/", "/mcp/messages?session=1"}) {
    auto r = traefik("POST", "127.0.0.1:9000", uri, token);
    ASSERT_EQ(r.status, 200) << uri << " " << r.body;
    EXPECT_EQ(r.header("x-auth-subject"), "dev:alice");
  }
  auto none = traefik("POST", "127.0.0.1:9000", "/mcp", "");
  EXPECT_EQ(none.status, 401);
  EXPECT_NE(none.header("www-authenticate").find("oauth-protected-resource/mcp"),
            std::string::npos);
  // X-Original-URL is not this contract's: alone it describes nothing.
  auto nginx_only = forwardAuth(kDemo, token);
  EXPECT_EQ(nginx_only.status, 400) << nginx_only.body;
}

// A token for one server used to open another: X-Original-URL (the client's, passed on by
// Traefik) won over the X-Forwarded-* that Traefik set.
TEST_F(ForwardAuthContract, TraefikClientsXOriginalUrlNeverChoosesTheServer) {
  startBehind("traefik");
  const std::string token = tokenFor(kDemo);
  auto r =
      traefik("POST", "127.0.0.1:9001", "/mcp", token, {"X-Original-URL: " + std::string(kDemo)});
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_NE(r.body.find("X-Original-URL disagrees"), std::string::npos) << r.body;
  EXPECT_EQ(r.header("x-auth-subject"), "");
  // Without the smuggled header the token is simply for another server.
  EXPECT_EQ(traefik("POST", "127.0.0.1:9001", "/mcp", token).status, 401);
}

TEST_F(ForwardAuthContract, TraefikOnlyItsOwnMethodMakesACorsPreflight) {
  startBehind("traefik");
  auto preflight = traefik("OPTIONS", "127.0.0.1:9000", "/mcp", "");
  EXPECT_EQ(preflight.status, 200);
  EXPECT_EQ(preflight.header("www-authenticate"), "");
  // The client adds X-Original-Method: OPTIONS beside Traefik's POST: refused, not let through.
  auto smuggled = traefik("POST", "127.0.0.1:9000", "/mcp", "", {"X-Original-Method: OPTIONS"});
  EXPECT_EQ(smuggled.status, 400) << smuggled.body;
  EXPECT_NE(smuggled.body.find("X-Original-Method disagrees with X-Forwarded-Method"),
            std::string::npos)
      << smuggled.body;
}

// forward_auth.proxy: envoy. Envoy's ext_authz HTTP service asks with the original method, at
// path_prefix (/forward-auth) + the original path, with the original Host and Authorization.
TEST_F(ForwardAuthContract, EnvoyJudgesTheRequestItForwards) {
  startBehind("envoy");
  const std::string token = tokenFor(kDemo);
  for (const char* method : {"POST", "GET", "DELETE"}) {
    auto r = envoy(method, "127.0.0.1:9000", "/mcp", token);
    ASSERT_EQ(r.status, 200) << method << " " << r.body;
    EXPECT_EQ(r.header("x-auth-subject"), "dev:alice");
  }
  EXPECT_EQ(envoy("POST", "127.0.0.1:9000", "/mcp/messages?session=1", token).status, 200);
  EXPECT_EQ(envoy("POST", "127.0.0.1:9000", "/mcp", "").status, 401);
  EXPECT_EQ(envoy("POST", "127.0.0.1:9001", "/mcp", token).status, 401);
  EXPECT_EQ(envoy("POST", "127.0.0.1:9000", "/mcp/../admin", token).status, 403);
  auto preflight = envoy("OPTIONS", "127.0.0.1:9000", "/mcp", "");
  EXPECT_EQ(preflight.status, 200);
  EXPECT_EQ(preflight.header("www-authenticate"), "");
}

TEST_F(ForwardAuthContract, EnvoyRefusesOtherContractsHeadersThatDisagree) {
  startBehind("envoy");
  const std::string token = tokenFor(kDemo);
  for (const std::string& header :
       {"X-Original-URL: " + std::string(kAdmin), std::string("X-Original-Method: OPTIONS"),
        std::string("X-Forwarded-Host: 127.0.0.1:9001"),
        std::string("X-Forwarded-Method: OPTIONS")}) {
    auto r = envoy("POST", "127.0.0.1:9000", "/mcp", token, {header});
    EXPECT_EQ(r.status, 400) << header << " " << r.body;
    EXPECT_EQ(r.header("x-auth-subject"), "") << header;
  }
}

// The shipped config/nginx/mcp-locations.conf in front of the broker (forward_auth.proxy: nginx)
// and a stand-in MCP server that echoes the identity nginx passes on. A client tries to smuggle
// the headers the broker reads, or used to read, through nginx's auth subrequest.
class ForwardAuthBehindNginx : public ::testing::Test {
 protected:
  void SetUp() override {
    if (findProgram("nginx").empty()) GTEST_SKIP() << "needs nginx (scripts/deps --test)";
    port_ = freePort();
    const uint16_t mcp_port = freePort();
    BrokerConfig cfg;
    cfg.policy_yaml = policyWithSubScope(mcpUrl());
    configure(cfg);
    broker_ = std::make_unique<BrokerProcess>(dir_, cfg);
    broker_->start();
    driver_ = std::make_unique<OAuthDriver>(broker_->url());
    const std::string p = std::to_string(port_), m = std::to_string(mcp_port);
    nginx_ = std::make_unique<NginxProcess>(
        dir_, "  upstream mcp_auth_broker { server 127.0.0.1:" + std::to_string(broker_->port()) +
                  "; }\n  upstream mcp_server { server 127.0.0.1:" + m +
                  "; }\n  server { listen 127.0.0.1:" + p +
                  "; set $mcp_origin http://127.0.0.1:" + p + "; include " + BROKER_SOURCE_DIR +
                  "/config/nginx/mcp-locations.conf; }\n"
                  "  server { listen 127.0.0.1:" +
                  m + "; location / { return 200 \"mcp $http_x_auth_subject\"; } }\n");
    ASSERT_TRUE(nginx_->waitFor("http://127.0.0.1:" + m + "/")) << nginx_->log();
  }

  virtual void configure(BrokerConfig&) {}

  std::string mcpUrl() const { return "http://127.0.0.1:" + std::to_string(port_) + "/mcp"; }

  std::string token(const std::string& scope = "") {
    auto client = driver_->registerClient();
    AuthorizeRequest req;
    req.scope = scope;
    req.resource = mcpUrl();
    PkcePair pkce;
    auto a = driver_->authorize(client, req, &pkce);
    EXPECT_FALSE(a.code.empty()) << a.error << a.page;
    auto t = driver_->exchange(client, a.code, pkce.verifier, mcpUrl());
    EXPECT_EQ(t.status, 200) << t.body;
    return t.access_token;
  }

  HttpResult post(const std::string& token, std::vector<std::string> headers = {}) {
    if (!token.empty()) headers.push_back("Authorization: Bearer " + token);
    return http_.post(mcpUrl(), "{}", "application/json", headers);
  }

  TempDir dir_;
  uint16_t port_ = 0;
  std::unique_ptr<BrokerProcess> broker_;
  std::unique_ptr<OAuthDriver> driver_;
  std::unique_ptr<NginxProcess> nginx_;
  HttpClient http_;
};

TEST_F(ForwardAuthBehindNginx, PassesAValidTokenAndIgnoresSmuggledRequestHeaders) {
  const std::string t = token();
  auto ok = post(t);
  ASSERT_EQ(ok.status, 200) << ok.body << nginx_->log();
  EXPECT_EQ(ok.body, "mcp dev:alice");
  // Headers that describe another request never reach the broker: the same answer.
  for (const std::string& h :
       {std::string("X-Original-URL: http://127.0.0.1:9001/mcp"),
        std::string("X-Original-Method: OPTIONS"), std::string("X-Forwarded-Method: OPTIONS"),
        std::string("X-Forwarded-Host: 127.0.0.1:9001"), std::string("X-Forwarded-Uri: /admin"),
        std::string("X-Forwarded-Proto: https"),
        std::string("X-Required-Scope: mcp:localhost:admin")}) {
    auto r = post(t, {h});
    EXPECT_EQ(r.status, 200) << h << " " << r.body;
    EXPECT_EQ(r.body, "mcp dev:alice") << h;
  }
}

// The subrequest carries the client's address (X-Forwarded-For), so rate_limits.validate counts
// each client on its own: one client's flood of token-less requests does not lock out the rest,
// which nginx would otherwise see as 500s.
class ForwardAuthBehindNginxRateLimited : public ForwardAuthBehindNginx {
 protected:
  void configure(BrokerConfig& cfg) override {
    cfg.rate_limits_yaml = "rate_limits:\n  validate: {burst: 5, per_second: 0.01}\n";
    cfg.extra_yaml = "server:\n  trusted_proxies: [127.0.0.1]\n";
  }
};

TEST_F(ForwardAuthBehindNginxRateLimited, OneClientsFloodLeavesOthersTheirOwnBucket) {
  const std::string t = token();
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(post("", {"X-Forwarded-For: 198.51.100.1"}).status, 401) << i;
  }
  EXPECT_NE(post("", {"X-Forwarded-For: 198.51.100.1"}).status, 401);  // its bucket is empty
  auto other = post(t, {"X-Forwarded-For: 198.51.100.2"});
  EXPECT_EQ(other.status, 200) << other.body << nginx_->log();
  EXPECT_EQ(other.body, "mcp dev:alice");
}

TEST_F(ForwardAuthBehindNginx, ASmuggledPreflightMethodLetsNoRequestThroughWithoutAToken) {
  for (const char* h : {"X-Original-Method: OPTIONS", "X-Forwarded-Method: OPTIONS"}) {
    auto r = post("", {h});
    EXPECT_EQ(r.status, 401) << h << " " << r.body;
    EXPECT_NE(r.header("www-authenticate").find("resource_metadata="), std::string::npos) << h;
  }
}

// auth_request copies the subrequest's WWW-Authenticate into a 401 itself; the error page must
// not add a second copy (clients read only the first challenge, or fail on duplicates). A 403 is
// not copied by auth_request, so there the error page sends the one challenge.
TEST_F(ForwardAuthBehindNginx, SendsExactlyOneChallengeOnEveryRefusal) {
  const std::string narrow = token("mcp:localhost:demo:read");
  struct Row {
    const char* what;
    std::string token;
    int status;
    const char* error;
  };
  for (const Row& row : {Row{"no token", "", 401, nullptr},
                         Row{"a forged token", "forged", 401, "error=\"invalid_token\""},
                         Row{"a sub-scope token", narrow, 403, "error=\"insufficient_scope\""}}) {
    auto r = post(row.token);
    EXPECT_EQ(r.status, row.status) << row.what << " " << r.body;
    const auto challenges = r.headerValues("www-authenticate");
    ASSERT_EQ(challenges.size(), 1u) << row.what << " " << ::testing::PrintToString(challenges);
    EXPECT_EQ(challenges[0].rfind("Bearer resource_metadata=\"" + std::string("http://127.0.0.1:") +
                                      std::to_string(port_) +
                                      "/.well-known/oauth-protected-resource/mcp\"",
                                  0),
              0u)
        << challenges[0];
    if (row.error) {
      EXPECT_NE(challenges[0].find(row.error), std::string::npos) << challenges[0];
    }
    EXPECT_EQ(r.headerValues("access-control-expose-headers").size(), 1u) << row.what;
  }
}

TEST_F(ForwardAuthBehindNginx, ASmuggledRequiredScopeCannotLowerTheServersScope) {
  const std::string narrow = token("mcp:localhost:demo:read");
  for (const std::vector<std::string>& headers :
       {std::vector<std::string>{}, {"X-Required-Scope: mcp:localhost:demo:read"}}) {
    auto r = post(narrow, headers);
    EXPECT_EQ(r.status, 403) << (headers.empty() ? "-" : headers.front()) << " " << r.body;
    EXPECT_NE(r.header("www-authenticate").find("error=\"insufficient_scope\""), std::string::npos);
  }
}

TEST_F(ResourceServer, ProtectedResourceMetadataNamesTheIssuerByteForByte) {
  // What the shipped nginx locations send (forward_auth.proxy: nginx, the default).
  const std::vector<std::string> origin = {"X-Original-URL: http://127.0.0.1:9000/"};
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

// The answer is cached publicly, so its origin comes only from the configured proxy's contract:
// another proxy's headers, which a client may have added, choose nothing.
TEST_F(ResourceServer, ProtectedResourceMetadataTakesTheOriginOnlyFromTheProxysContract) {
  const std::string path = "/.well-known/oauth-protected-resource/mcp";
  const std::string traefik_origin[] = {"X-Forwarded-Proto: http",
                                        "X-Forwarded-Host: 127.0.0.1:9000"};
  // nginx contract: Traefik's headers alone leave the broker's own origin (no server there).
  EXPECT_EQ(http_.get(broker_->url() + path, {traefik_origin[0], traefik_origin[1]}).status, 404);
  // ... and beside X-Original-URL, when they name another origin, the request is refused.
  auto contradicted = http_.get(broker_->url() + path, {"X-Original-URL: http://127.0.0.1:9001/",
                                                        traefik_origin[0], traefik_origin[1]});
  EXPECT_EQ(contradicted.status, 400) << contradicted.body;
  EXPECT_NE(contradicted.body.find("disagrees"), std::string::npos) << contradicted.body;
}

TEST_F(ForwardAuthContract, TraefikNamesTheOriginOfTheProtectedResourceMetadata) {
  startBehind("traefik");
  const std::string path = "/.well-known/oauth-protected-resource/mcp";
  auto r = http_.get(broker_->url() + path,
                     {"X-Forwarded-Proto: http", "X-Forwarded-Host: 127.0.0.1:9000"});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(json::parse(r.body)["resource"], kDemo);
  // X-Original-URL is not Traefik's: alone it names nothing here.
  EXPECT_EQ(http_.get(broker_->url() + path, {"X-Original-URL: http://127.0.0.1:9000/"}).status,
            404);
}

}  // namespace
}  // namespace broker::testing
