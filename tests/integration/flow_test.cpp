// End-to-end tests: the real broker binary on a loopback port, a real SQLite file (and a real
// PostgreSQL database where noted), driven over HTTP with libcurl like an MCP client and a browser.

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <thread>

#include <nlohmann/json.hpp>

#include "broker/core/encoding.h"
#include "broker/token/access_token.h"
#include "fakes/broker_process.h"
#include "fakes/jwks_verify.h"
#include "fakes/oauth_driver.h"
#include "fakes/pg_database.h"

namespace broker::testing {
namespace {

using nlohmann::json;

json parse(const std::string& s) {
  return json::parse(s, nullptr, false);
}

class BrokerFlow : public ::testing::Test {
 protected:
  void SetUp() override { startBroker({}); }
  void startBroker(BrokerConfig cfg) {
    broker_ = std::make_unique<BrokerProcess>(dir_, std::move(cfg));
    broker_->start();
    driver_ = std::make_unique<OAuthDriver>(broker_->url());
  }
  std::string base() const { return broker_->url(); }

  TempDir dir_;
  std::unique_ptr<BrokerProcess> broker_;
  std::unique_ptr<OAuthDriver> driver_;
};

// An authorization request of `client` for its default scopes, as a browser would follow it.
std::string plainAuthorizeUrl(const std::string& base, const RegisteredClient& client) {
  return base + "/authorize?" +
         formEncode({{"response_type", "code"},
                     {"client_id", client.client_id},
                     {"redirect_uri", client.redirect_uri},
                     {"code_challenge", makePkce().challenge},
                     {"code_challenge_method", "S256"}});
}

TEST_F(BrokerFlow, DiscoveryDocumentsAgreeOnTheIssuer) {
  HttpClient http;
  for (const char* path :
       {"/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"}) {
    auto r = http.get(base() + path);
    ASSERT_EQ(r.status, 200) << path;
    EXPECT_EQ(r.header("access-control-allow-origin"), "*");
    auto m = parse(r.body);
    EXPECT_EQ(m["issuer"], base());
    EXPECT_EQ(m["code_challenge_methods_supported"], json::array({"S256"}));
    EXPECT_EQ(m["token_endpoint_auth_methods_supported"],
              json::array({"none", "client_secret_basic", "client_secret_post"}));
    EXPECT_EQ(m["authorization_response_iss_parameter_supported"], true);
    EXPECT_EQ(m["registration_endpoint"], base() + "/register");
    EXPECT_EQ(m["revocation_endpoint"], base() + "/revoke");
    EXPECT_EQ(m["introspection_endpoint"], base() + "/introspect");
    EXPECT_EQ(m["jwks_uri"], base() + "/.well-known/jwks.json");
    EXPECT_NE(m["scopes_supported"].dump().find("mcp:localhost:demo"), std::string::npos);
  }
  auto jwks = http.get(base() + "/.well-known/jwks.json");
  ASSERT_EQ(jwks.status, 200);
  EXPECT_EQ(jwks.header("access-control-allow-origin"), "*");
  ASSERT_GE(parse(jwks.body)["keys"].size(), 1u);
  EXPECT_EQ(parse(jwks.body)["keys"][0]["alg"], "RS256");
}

TEST_F(BrokerFlow, UnknownWellKnownPathIsA404WithCors) {
  HttpClient http;
  auto r = http.get(base() + "/.well-known/oauth-protected-resource/nothing");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.header("access-control-allow-origin"), "*");
  EXPECT_EQ(parse(r.body)["error"], "not_found");
}

TEST_F(BrokerFlow, PreflightAllowsMcpProtocolVersionHeader) {
  HttpClient http;
  for (const char* path :
       {"/token", "/register", "/revoke", "/.well-known/oauth-authorization-server"}) {
    auto r = http.request("OPTIONS", base() + path, "",
                          {"Origin: https://app.example", "Access-Control-Request-Method: POST",
                           "Access-Control-Request-Headers: mcp-protocol-version, content-type"});
    EXPECT_TRUE(r.status == 204 || r.status == 200) << path << " " << r.status;
    EXPECT_EQ(r.header("access-control-allow-origin"), "*") << path;
    std::string allowed = r.header("access-control-allow-headers");
    std::transform(allowed.begin(), allowed.end(), allowed.begin(), ::tolower);
    EXPECT_NE(allowed.find("mcp-protocol-version"), std::string::npos) << path;
    EXPECT_EQ(r.header("access-control-allow-credentials"), "") << path;
  }
}

TEST_F(BrokerFlow, RegistrationHonoursAuthMethodAndRejectsUnsafeRedirects) {
  HttpClient http;
  auto pub = http.post(
      base() + "/register",
      R"({"redirect_uris":["http://127.0.0.1:5555/cb"],"token_endpoint_auth_method":"none","application_type":"native","client_name":"CLI"})",
      "application/json");
  ASSERT_EQ(pub.status, 201) << pub.body;
  auto j = parse(pub.body);
  EXPECT_FALSE(j.contains("client_secret"));
  EXPECT_TRUE(j["client_id_issued_at"].is_number_integer());
  EXPECT_EQ(j["application_type"], "native");
  EXPECT_EQ(pub.header("cache-control"), "no-store");

  auto conf = http.post(base() + "/register", R"({"redirect_uris":["https://app.example/cb"]})",
                        "application/json");
  ASSERT_EQ(conf.status, 201);
  auto c = parse(conf.body);
  EXPECT_EQ(c["token_endpoint_auth_method"], "client_secret_basic");
  EXPECT_TRUE(c["client_secret"].is_string());
  EXPECT_EQ(c["client_secret_expires_at"], 0);

  auto native = http.post(
      base() + "/register",
      R"({"redirect_uris":["cursor://anysphere.cursor-retrieval/oauth/callback"],"token_endpoint_auth_method":"none"})",
      "application/json");
  EXPECT_EQ(native.status, 201) << native.body;

  for (const char* bad :
       {"javascript:alert(1)", "data:text/html,hi", "file:///etc/passwd",
        "https://app.example/cb#frag", "https://user:pw@app.example/cb", "http://app.example/cb"}) {
    json body = {{"redirect_uris", {bad}}};
    auto r = http.post(base() + "/register", body.dump(), "application/json");
    EXPECT_EQ(r.status, 400) << bad;
    EXPECT_EQ(parse(r.body)["error"], "invalid_redirect_uri") << bad;
  }
  auto garbage = http.post(base() + "/register", "{not json", "application/json");
  EXPECT_EQ(garbage.status, 400);
  EXPECT_EQ(parse(garbage.body)["error"], "invalid_client_metadata");
}

TEST_F(BrokerFlow, FullFlowIssuesAnRfc9068TokenVerifiableFromJwks) {
  auto client = driver_->registerClient();
  ASSERT_FALSE(client.client_id.empty());
  AuthorizeRequest req;
  req.resource = "http://127.0.0.1:9000/mcp";
  PkcePair pkce;
  auto a = driver_->authorize(client, req, &pkce);
  ASSERT_FALSE(a.code.empty()) << a.page << a.error;
  EXPECT_EQ(a.iss, base());
  EXPECT_EQ(a.state, "client-state-123");
  auto t = driver_->exchange(client, a.code, pkce.verifier);
  ASSERT_EQ(t.status, 200) << t.body;
  EXPECT_EQ(t.cache_control, "no-store");
  EXPECT_EQ(parse(t.body)["token_type"], "Bearer");
  EXPECT_TRUE(parse(t.body)["expires_in"].is_number_integer());
  EXPECT_EQ(t.scope, "mcp:localhost:demo");
  EXPECT_FALSE(t.refresh_token.empty());

  HttpClient http;
  json claims;
  ASSERT_EQ(verifyWithJwks(http, base(), t.access_token, &claims), token::JwtStatus::kOk);
  EXPECT_EQ(claims["iss"], base());
  EXPECT_EQ(claims["sub"], "dev:alice");
  EXPECT_EQ(claims["client_id"], client.client_id);
  EXPECT_EQ(claims["scope"], "mcp:localhost:demo");
  EXPECT_EQ(claims["preferred_username"], "alice");
  EXPECT_EQ(claims["idp"], "dev");
  EXPECT_TRUE(claims["jti"].is_string());
  ASSERT_TRUE(claims["aud"].is_array());
  EXPECT_EQ(claims["aud"][0], "http://127.0.0.1:9000/mcp");
  EXPECT_EQ(claims["aud"][1], "mcp:localhost:demo");
  auto header = parse(*base64urlDecode(t.access_token.substr(0, t.access_token.find('.'))));
  EXPECT_EQ(header["typ"], "at+jwt");
  EXPECT_EQ(header["alg"], "RS256");
}

TEST_F(BrokerFlow, ConsentPageEscapesPolicyTextAndIsNotFramable) {
  auto client = driver_->registerClient();
  const std::string url = plainAuthorizeUrl(base(), client);
  auto r = driver_->browser().get(url);
  ASSERT_EQ(r.status, 200);
  EXPECT_NE(r.body.find("Test &lt;Client&gt;"), std::string::npos);
  EXPECT_EQ(r.body.find("<Client>"), std::string::npos);
  EXPECT_NE(r.body.find("A demo &lt;MCP&gt; server &amp; friends"), std::string::npos);
  EXPECT_NE(r.body.find("127.0.0.1"), std::string::npos);  // redirect host shown
  EXPECT_EQ(r.header("x-frame-options"), "DENY");
  EXPECT_NE(r.header("content-security-policy").find("frame-ancestors 'none'"), std::string::npos);
  EXPECT_EQ(r.header("cache-control"), "no-store");
}

TEST_F(BrokerFlow, ConsentWithoutTheCsrfCookieIsRejected) {
  auto client = driver_->registerClient();
  const std::string url = plainAuthorizeUrl(base(), client);
  auto page = driver_->browser().get(url);
  HttpClient attacker;  // no cookies
  auto r = attacker.post(base() + "/authorize/consent",
                         formEncode({{"request", inputValue(page.body, "request")},
                                     {"csrf", inputValue(page.body, "csrf")},
                                     {"upstream", "dev"}}));
  EXPECT_EQ(r.status, 403);
  EXPECT_EQ(r.header("location"), "");
}

TEST_F(BrokerFlow, RememberedConsentSkipsThePage) {
  auto client = driver_->registerClient("client_secret_basic");
  ASSERT_FALSE(driver_->login(client, "alice").access_token.empty());
  const std::string url = plainAuthorizeUrl(base(), client);
  auto r = driver_->browser().get(url);
  EXPECT_EQ(r.status, 302);
  EXPECT_NE(r.header("location").find("/auth/dev/login"), std::string::npos);
}

// RFC 8252 §8.6: a public client's loopback redirect can be claimed by any local program, so its
// remembered approval never skips the page (a confidential client's does, above).
TEST_F(BrokerFlow, PublicLoopbackClientSeesConsentEveryTime) {
  auto client = driver_->registerClient();
  ASSERT_FALSE(driver_->login(client, "alice").access_token.empty());
  const std::string url = plainAuthorizeUrl(base(), client);
  auto r = driver_->browser().get(url);
  EXPECT_EQ(r.status, 200);
  EXPECT_FALSE(inputValue(r.body, "request").empty()) << "the consent page is shown again";
}

TEST_F(BrokerFlow, RememberedConsentDoesNotCoverMoreServers) {
  auto client = driver_->registerClient("client_secret_basic");
  ASSERT_FALSE(driver_->login(client, "bob", "mcp:localhost:demo").access_token.empty());
  std::string url = base() + "/authorize?" +
                    formEncode({{"response_type", "code"},
                                {"client_id", client.client_id},
                                {"redirect_uri", client.redirect_uri},
                                {"scope", "mcp:localhost:demo mcp:localhost:admin"},
                                {"code_challenge", makePkce().challenge},
                                {"code_challenge_method", "S256"}});
  auto r = driver_->browser().get(url);
  EXPECT_EQ(r.status, 200);
  EXPECT_FALSE(inputValue(r.body, "request").empty()) << "the consent page is shown again";
}

// The upstream login (here the dev login's page and its callback) is bound to the browser that
// consented: the link it travels on, state included, is worth nothing in another browser.
TEST_F(BrokerFlow, UpstreamLoginIsBoundToTheBrowserThatConsented) {
  auto client = driver_->registerClient();
  PkcePair pkce;
  AuthorizeRequest req;
  auto started = driver_->startLogin(client, req, "dev", &pkce);
  ASSERT_NE(started.next.find("/auth/dev/login?state="), std::string::npos) << started.page;
  const std::string state =
      urlDecode(started.next.substr(started.next.find("state=") + 6)).value_or("");

  HttpClient victim;
  auto page = victim.get(started.next);
  EXPECT_EQ(page.status, 403);
  EXPECT_NE(page.body.find("another browser"), std::string::npos) << page.body;
  auto callback = victim.post(base() + "/auth/dev/callback",
                              formEncode({{"state", state}, {"username", "alice"}}));
  EXPECT_EQ(callback.status, 403);
  EXPECT_EQ(callback.header("location"), "");
  EXPECT_EQ(callback.body.find("code="), std::string::npos);
  // The refused attempt used the login up: the attacker cannot finish it either.
  auto replay = driver_->browser().post(base() + "/auth/dev/callback",
                                        formEncode({{"state", state}, {"username", "alice"}}));
  EXPECT_EQ(replay.status, 400);
  EXPECT_EQ(replay.header("location"), "");
}

TEST_F(BrokerFlow, PagesAllowTheirFormsExactlyWhereTheyLead) {
  auto client = driver_->registerClient();
  const std::string query = formEncode({{"response_type", "code"},
                                        {"client_id", client.client_id},
                                        {"redirect_uri", client.redirect_uri},
                                        {"code_challenge", makePkce().challenge},
                                        {"code_challenge_method", "S256"}});
  auto consent = driver_->browser().get(base() + "/authorize?" + query);
  ASSERT_EQ(consent.status, 200);
  const std::string csp = consent.header("content-security-policy");
  // The consent form leads to the dev login (this origin) or, on Deny, to the client.
  EXPECT_NE(csp.find("form-action 'self' http://127.0.0.1:7777;"), std::string::npos) << csp;
  EXPECT_NE(csp.find("default-src 'none'"), std::string::npos) << csp;
  EXPECT_NE(csp.find("style-src 'sha256-"), std::string::npos) << csp;
  EXPECT_EQ(csp.find("unsafe-inline"), std::string::npos) << csp;
  EXPECT_NE(csp.find("frame-ancestors 'none'"), std::string::npos) << csp;

  PkcePair pkce;
  auto started = driver_->startLogin(client, {}, "dev", &pkce);
  auto login_page = driver_->browser().get(started.next);
  ASSERT_EQ(login_page.status, 200) << login_page.body;
  EXPECT_NE(login_page.header("content-security-policy")
                .find("form-action 'self' http://127.0.0.1:7777;"),
            std::string::npos)
      << login_page.header("content-security-policy");

  HttpClient http;
  auto error = http.get(base() + "/authorize?response_type=code&client_id=nope");
  EXPECT_EQ(error.status, 400);
  EXPECT_NE(error.header("content-security-policy").find("form-action 'none'"), std::string::npos)
      << error.header("content-security-policy");
}

TEST_F(BrokerFlow, AuthorizeErrorsNeverRedirectToUnverifiedUris) {
  auto client = driver_->registerClient();
  HttpClient http;
  auto unknown = http.get(base() + "/authorize?response_type=code&client_id=nope&redirect_uri=" +
                          urlEncode("https://evil.example/cb"));
  EXPECT_EQ(unknown.status, 400);
  EXPECT_EQ(unknown.header("location"), "");
  auto bad_redirect =
      http.get(base() + "/authorize?response_type=code&client_id=" + client.client_id +
               "&redirect_uri=" + urlEncode("https://evil.example/cb"));
  EXPECT_EQ(bad_redirect.status, 400);
  EXPECT_EQ(bad_redirect.header("location"), "");
}

TEST_F(BrokerFlow, AuthorizeProtocolErrorsRedirectWithIssAndState) {
  auto client = driver_->registerClient();
  HttpClient http;
  auto base_q =
      std::vector<std::pair<std::string, std::string>>{{"response_type", "code"},
                                                       {"client_id", client.client_id},
                                                       {"redirect_uri", client.redirect_uri},
                                                       {"state", "s1"}};
  struct Case {
    std::vector<std::pair<std::string, std::string>> extra;
    std::string error;
  };
  std::string challenge = makePkce().challenge;
  std::vector<Case> cases = {
      {{}, "invalid_request"},  // no PKCE
      {{{"code_challenge", challenge}, {"code_challenge_method", "plain"}}, "invalid_request"},
      {{{"code_challenge", challenge}}, "invalid_request"},  // method defaults to plain
      {{{"code_challenge", challenge}, {"code_challenge_method", "S256"}, {"scope", "mcp:nope:x"}},
       "invalid_scope"},
      {{{"code_challenge", challenge},
        {"code_challenge_method", "S256"},
        {"resource", "https://unknown.example/mcp"}},
       "invalid_target"},
  };
  for (const auto& c : cases) {
    auto q = base_q;
    q.insert(q.end(), c.extra.begin(), c.extra.end());
    auto r = http.get(base() + "/authorize?" + formEncode(q));
    ASSERT_EQ(r.status, 302) << r.body;
    auto loc = r.header("location");
    EXPECT_EQ(loc.rfind(client.redirect_uri, 0), 0u);
    EXPECT_EQ(queryParam(loc, "error"), c.error) << loc;
    EXPECT_EQ(queryParam(loc, "iss"), base());
    EXPECT_EQ(queryParam(loc, "state"), "s1");
  }
  auto q = base_q;
  q[0].second = "token";
  auto r = http.get(base() + "/authorize?" + formEncode(q));
  EXPECT_EQ(queryParam(r.header("location"), "error"), "unsupported_response_type");
}

TEST_F(BrokerFlow, LoopbackRedirectMayUseAnotherPort) {
  auto client = driver_->registerClient("none", "http://127.0.0.1:7777/callback");
  RegisteredClient other_port = client;
  other_port.redirect_uri = "http://127.0.0.1:45678/callback";
  PkcePair pkce;
  auto a = driver_->authorize(other_port, AuthorizeRequest{}, &pkce);
  ASSERT_FALSE(a.code.empty()) << a.page;
  auto t = driver_->exchange(other_port, a.code, pkce.verifier);
  EXPECT_EQ(t.status, 200) << t.body;
}

TEST_F(BrokerFlow, UserOutsidePolicyGetsAPageAndTheClientAccessDenied) {
  auto client = driver_->registerClient();
  AuthorizeRequest req;
  req.user = "mallory";
  auto a = driver_->authorize(client, req, nullptr);
  EXPECT_TRUE(a.code.empty());
  EXPECT_EQ(a.status, 403);
  EXPECT_NE(a.page.find("mallory"), std::string::npos);
  EXPECT_EQ(a.error, "access_denied");
  EXPECT_EQ(a.iss, base());
}

TEST_F(BrokerFlow, PartiallyAllowedUserGetsTheAllowedSubset) {
  auto client = driver_->registerClient();
  auto t = driver_->login(client, "alice", "mcp:localhost:demo mcp:localhost:admin");
  ASSERT_EQ(t.status, 200) << t.body;
  EXPECT_EQ(t.scope, "mcp:localhost:demo");
  auto b = driver_->login(client, "bob", "  mcp:localhost:demo\tmcp:localhost:admin ");
  EXPECT_EQ(b.scope, "mcp:localhost:demo mcp:localhost:admin");
}

TEST_F(BrokerFlow, CodeIsSingleUseAndReplayRevokesItsTokens) {
  auto client = driver_->registerClient();
  PkcePair pkce;
  auto a = driver_->authorize(client, AuthorizeRequest{}, &pkce);
  auto first = driver_->exchange(client, a.code, pkce.verifier);
  ASSERT_EQ(first.status, 200);
  auto replay = driver_->exchange(client, a.code, pkce.verifier);
  EXPECT_EQ(replay.status, 400);
  EXPECT_EQ(replay.error, "invalid_grant");
  auto refresh = driver_->refresh(client, first.refresh_token);
  EXPECT_EQ(refresh.error, "invalid_grant");
  HttpClient http;
  auto v = parse(http.post(base() + "/validate", json{{"token", first.access_token}}.dump(),
                           "application/json")
                     .body);
  EXPECT_EQ(v["valid"], false);
  EXPECT_EQ(v["error"], "revoked");
  EXPECT_NE(broker_->logs().find("code_reuse"), std::string::npos);
}

// No refresh grant, so no refresh family: the replay must still revoke the first access token.
TEST_F(BrokerFlow, ReplayRevokesTheAccessTokenOfAClientWithoutRefresh) {
  auto client =
      driver_->registerClient("client_secret_basic", "http://127.0.0.1:7777/callback", false);
  PkcePair pkce;
  auto a = driver_->authorize(client, AuthorizeRequest{}, &pkce);
  auto first = driver_->exchange(client, a.code, pkce.verifier);
  ASSERT_EQ(first.status, 200) << first.body;
  ASSERT_TRUE(first.refresh_token.empty());
  HttpClient http;
  auto validate = [&] {
    return parse(http.post(base() + "/validate", json{{"token", first.access_token}}.dump(),
                           "application/json")
                     .body);
  };
  // A client is told about its own tokens at /introspect (others' need
  // introspection.allowed_clients).
  auto introspect = [&] {
    return parse(driver_->clientPost(client, "/introspect", {{"token", first.access_token}}).body);
  };
  ASSERT_EQ(validate()["valid"], true);
  ASSERT_EQ(introspect()["active"], true);
  auto replay = driver_->exchange(client, a.code, pkce.verifier);
  EXPECT_EQ(replay.status, 400);
  EXPECT_EQ(replay.error, "invalid_grant");
  // The instance that saw the replay reloads its revocation list at once; allow one background
  // interval (1 s) of slack anyway.
  json v;
  for (int i = 0; i < 30; ++i) {
    v = validate();
    if (v["valid"] == false) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(v["valid"], false);
  EXPECT_EQ(v["error"], "revoked");
  EXPECT_EQ(introspect()["active"], false);
  EXPECT_NE(broker_->logs().find("code_reuse"), std::string::npos);
}

TEST_F(BrokerFlow, WrongVerifierOrRedirectIsInvalidGrant) {
  auto client = driver_->registerClient();
  PkcePair pkce;
  auto a = driver_->authorize(client, AuthorizeRequest{}, &pkce);
  auto t = driver_->exchange(client, a.code, makePkce().verifier);
  EXPECT_EQ(t.error, "invalid_grant");
  auto a2 = driver_->authorize(client, AuthorizeRequest{}, &pkce);
  RegisteredClient wrong = client;
  wrong.redirect_uri = "http://127.0.0.1:7777/other";
  EXPECT_EQ(driver_->exchange(wrong, a2.code, pkce.verifier).error, "invalid_grant");
}

// A stolen code or refresh token is worth nothing to another client, even with the verifier.
TEST_F(BrokerFlow, CodesAndRefreshTokensWorkOnlyForTheClientTheyWereIssuedTo) {
  auto victim = driver_->registerClient();
  auto thief = driver_->registerClient();
  PkcePair pkce;
  auto a = driver_->authorize(victim, AuthorizeRequest{}, &pkce);
  ASSERT_FALSE(a.code.empty());
  EXPECT_EQ(driver_->exchange(thief, a.code, pkce.verifier).error, "invalid_grant");

  auto tokens = driver_->login(victim, "alice");
  ASSERT_FALSE(tokens.refresh_token.empty());
  EXPECT_EQ(driver_->refresh(thief, tokens.refresh_token).error, "invalid_grant");
}

TEST_F(BrokerFlow, RefreshRotatesAndGraceReplayReturnsTheSameSuccessor) {
  auto client = driver_->registerClient();
  auto t0 = driver_->login(client, "alice");
  ASSERT_FALSE(t0.refresh_token.empty());
  auto t1 = driver_->refresh(client, t0.refresh_token);
  ASSERT_EQ(t1.status, 200) << t1.body;
  EXPECT_NE(t1.refresh_token, t0.refresh_token);
  // A client that lost the response retries with the old token inside the grace window.
  auto t1b = driver_->refresh(client, t0.refresh_token);
  ASSERT_EQ(t1b.status, 200) << t1b.body;
  EXPECT_NE(broker_->logs().find("refresh_grace_replay"), std::string::npos);
  // Both answers seal the same successor, so t1 is now "just rotated" too: while its successor
  // (t2) is unused and the grace window is open, presenting it again is still a grace replay.
  auto t2 = driver_->refresh(client, t1b.refresh_token);
  ASSERT_EQ(t2.status, 200) << t2.body;
  auto again = driver_->refresh(client, t1.refresh_token);
  ASSERT_EQ(again.status, 200) << again.body;
  EXPECT_EQ(broker_->logs().find("refresh_reuse"), std::string::npos);
  // Once the successor has been used, the same presentation is a reuse and revokes the family.
  auto t3 = driver_->refresh(client, t2.refresh_token);
  ASSERT_EQ(t3.status, 200) << t3.body;
  auto reuse = driver_->refresh(client, t1.refresh_token);
  EXPECT_EQ(reuse.error, "invalid_grant");
  EXPECT_EQ(driver_->refresh(client, t3.refresh_token).error, "invalid_grant");
  EXPECT_EQ(driver_->refresh(client, again.refresh_token).error, "invalid_grant");
  EXPECT_NE(broker_->logs().find("refresh_reuse"), std::string::npos);
}

TEST_F(BrokerFlow, ReplayAfterTheSuccessorWasUsedRevokesTheFamily) {
  auto client = driver_->registerClient();
  auto t0 = driver_->login(client, "alice");
  auto t1 = driver_->refresh(client, t0.refresh_token);
  auto t2 = driver_->refresh(client, t1.refresh_token);
  ASSERT_EQ(t2.status, 200);
  EXPECT_EQ(driver_->refresh(client, t0.refresh_token).error, "invalid_grant");
  EXPECT_EQ(driver_->refresh(client, t2.refresh_token).error, "invalid_grant");
}

TEST_F(BrokerFlow, RefreshMayNarrowScopeButNotWiden) {
  auto client = driver_->registerClient();
  auto t0 = driver_->login(client, "bob", "mcp:localhost:demo mcp:localhost:admin");
  auto narrow = driver_->refresh(client, t0.refresh_token, "mcp:localhost:admin");
  ASSERT_EQ(narrow.status, 200) << narrow.body;
  EXPECT_EQ(narrow.scope, "mcp:localhost:admin");
  auto alice = driver_->login(client, "alice");
  auto wide = driver_->refresh(client, alice.refresh_token, "mcp:localhost:admin");
  EXPECT_EQ(wide.error, "invalid_scope");
  auto target = driver_->refresh(client, narrow.refresh_token, "", "https://other.example/mcp");
  EXPECT_EQ(target.error, "invalid_target");
  auto resource = driver_->refresh(client, narrow.refresh_token, "", "http://127.0.0.1:9000/mcp");
  ASSERT_EQ(resource.status, 200) << resource.body;
  EXPECT_EQ(resource.scope, "mcp:localhost:demo");
}

TEST_F(BrokerFlow, ConfidentialClientsAuthenticateExactlyAsRegistered) {
  auto basic = driver_->registerClient("client_secret_basic");
  ASSERT_FALSE(basic.client_secret.empty());
  auto t = driver_->login(basic, "alice");
  ASSERT_EQ(t.status, 200) << t.body;
  auto wrong = basic;
  wrong.client_secret = "not-the-secret";
  auto bad = driver_->refresh(wrong, t.refresh_token);
  EXPECT_EQ(bad.status, 401);
  EXPECT_EQ(bad.error, "invalid_client");
  auto as_post = basic;
  as_post.auth_method = "client_secret_post";
  EXPECT_EQ(driver_->refresh(as_post, t.refresh_token).error, "invalid_client");

  auto post = driver_->registerClient("client_secret_post");
  auto tp = driver_->login(post, "alice");
  EXPECT_EQ(tp.status, 200) << tp.body;
}

// RFC 6749 §5.2: a 401 invalid_client challenges with the scheme of the client's Authorization
// header, and with nothing when the client authenticated in the body. The same code answers
// /revoke and /introspect.
TEST_F(BrokerFlow, InvalidClientChallengesOnlyWithTheSchemeTheClientUsed) {
  auto basic = driver_->registerClient("client_secret_basic");
  basic.client_secret = "not-the-secret";
  auto post = driver_->registerClient("client_secret_post");
  post.client_secret = "not-the-secret";
  const std::vector<std::pair<std::string, std::string>> refresh = {{"grant_type", "refresh_token"},
                                                                    {"refresh_token", "rt"}};
  const std::vector<std::pair<std::string, std::string>> question = {{"token", "t"}};
  for (const char* path : {"/token", "/revoke", "/introspect"}) {
    const auto& fields = std::string(path) == "/token" ? refresh : question;
    auto b = driver_->clientPost(basic, path, fields);
    EXPECT_EQ(b.status, 401) << path << " " << b.body;
    EXPECT_EQ(parse(b.body)["error"], "invalid_client") << path;
    EXPECT_EQ(b.header("www-authenticate"), "Basic realm=\"mcp-auth-broker\"") << path;
    auto p = driver_->clientPost(post, path, fields);
    EXPECT_EQ(p.status, 401) << path << " " << p.body;
    EXPECT_EQ(parse(p.body)["error"], "invalid_client") << path;
    EXPECT_EQ(p.header("www-authenticate"), "") << path;
  }
  // A public client that sends no secret at all: no Authorization header, so no challenge.
  HttpClient http;
  auto unknown = http.post(base() + "/token",
                           "grant_type=refresh_token&refresh_token=rt&"
                           "client_id=no-such-client");
  EXPECT_EQ(unknown.status, 401);
  EXPECT_EQ(unknown.header("www-authenticate"), "");
}

// A bad %-escape is refused as a whole before any client authentication; it used to drop the pair,
// so a client_secret with a bad escape read as a missing secret (invalid_client).
TEST_F(BrokerFlow, MalformedPercentEncodingInTheBodyIsInvalidRequest) {
  auto post = driver_->registerClient("client_secret_post");
  HttpClient http;
  const std::string id = "client_id=" + post.client_id;
  for (const char* path : {"/token", "/revoke", "/introspect"}) {
    for (const std::string& body :
         {"grant_type=refresh_token&refresh_token=rt&" + id + "&client_secret=%zz",
          "grant_type=refresh_token&refresh_token=rt&token=t&" + id + "&client_secret=ab%4",
          std::string("grant_type=refresh_token&refresh_token=rt&token=t&client_id=%4"),
          "grant_type=refresh_token&refresh_token=%g0&token=t&" + id +
              "&client_secret=" + post.client_secret}) {
      auto r = http.post(base() + path, body);
      EXPECT_EQ(r.status, 400) << path << " " << body << " " << r.body;
      auto doc = parse(r.body);
      EXPECT_EQ(doc["error"], "invalid_request") << path << " " << body;
      EXPECT_NE(doc.value("error_description", "").find("%-escape"), std::string::npos) << r.body;
      EXPECT_EQ(r.header("www-authenticate"), "") << path;
    }
  }
}

// RFC 7009 §2.1: the client authenticates first, as at /token (a public client by its client_id),
// so a request without one is 401 invalid_client. §2.2: then the answer is 200 whatever the
// token: unknown, malformed, or issued to another client (which stays valid).
TEST_F(BrokerFlow, RevokeAuthenticatesTheClientThenAnswers200ForAnyToken) {
  auto owner = driver_->registerClient();
  auto other = driver_->registerClient();
  auto t = driver_->login(owner, "alice");
  HttpClient anonymous;
  auto r = anonymous.post(base() + "/revoke", formEncode({{"token", t.refresh_token}}));
  EXPECT_EQ(r.status, 401) << r.body;
  EXPECT_EQ(parse(r.body)["error"], "invalid_client");
  for (const std::string& token : {std::string("garbage"), std::string("mcpr_unknown"),
                                   std::string("a.b.c"), t.access_token, t.refresh_token}) {
    auto answer = driver_->clientPost(other, "/revoke", {{"token", token}});
    EXPECT_EQ(answer.status, 200) << token << " " << answer.body;
    EXPECT_EQ(answer.body, "{}");
  }
  EXPECT_EQ(driver_->refresh(owner, t.refresh_token).status, 200) << "not the other's to revoke";
}

TEST_F(BrokerFlow, RevokeRefreshTokenRevokesTheFamily) {
  auto client = driver_->registerClient();
  auto t = driver_->login(client, "alice");
  auto r = driver_->clientPost(client, "/revoke", {{"token", t.refresh_token}});
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(driver_->refresh(client, t.refresh_token).error, "invalid_grant");
  HttpClient http;
  auto v = parse(http.post(base() + "/validate", "", "application/json",
                           {"Authorization: Bearer " + t.access_token})
                     .body);
  EXPECT_EQ(v["valid"], false);
  EXPECT_EQ(v["error"], "revoked");
  // Unknown tokens are answered 200 too (RFC 7009 §2.2).
  EXPECT_EQ(driver_->clientPost(client, "/revoke", {{"token", "garbage"}}).status, 200);
}

TEST_F(BrokerFlow, RevokeAccessTokenOnlyRevokesThatToken) {
  auto client = driver_->registerClient();
  auto t = driver_->login(client, "alice");
  EXPECT_EQ(driver_
                ->clientPost(client, "/revoke",
                             {{"token", t.access_token}, {"token_type_hint", "access_token"}})
                .status,
            200);
  HttpClient http;
  auto v = parse(
      http.post(base() + "/validate", json{{"token", t.access_token}}.dump(), "application/json")
          .body);
  EXPECT_EQ(v["error"], "revoked");
  EXPECT_EQ(driver_->refresh(client, t.refresh_token).status, 200);
}

// RFC 7662 §2.2 and §4: a client learns only about tokens issued to it, unless the operator names
// it in introspection.allowed_clients and it authenticates with its secret. Anyone can register
// a confidential client, so being confidential proves nothing by itself.
TEST_F(BrokerFlow, IntrospectionShowsOtherClientsTokensOnlyToAllowedConfidentialClients) {
  auto rs = driver_->registerClient("client_secret_basic");
  auto other_public = driver_->registerClient();
  auto client = driver_->registerClient();
  auto t = driver_->login(client, "alice");
  auto introspect = [&](const RegisteredClient& who, const std::string& token) {
    auto r = driver_->clientPost(who, "/introspect", {{"token", token}});
    EXPECT_EQ(r.status, 200) << r.body;
    return parse(r.body);
  };
  // A public client proves nothing by its id: it may not ask at all, not even about its own
  // tokens (whoever stole one could learn whether it still works without rotating it).
  auto refuse = [&](const RegisteredClient& who, const std::string& token) {
    auto r = driver_->clientPost(who, "/introspect", {{"token", token}});
    EXPECT_EQ(r.status, 401) << r.body;
    EXPECT_EQ(parse(r.body)["error"], "invalid_client") << r.body;
    EXPECT_EQ(r.body.find("dev:alice"), std::string::npos) << r.body;
  };
  // Not named: another client's tokens look inactive, with nothing about them.
  for (const std::string& token : {t.access_token, t.refresh_token}) {
    EXPECT_EQ(introspect(rs, token), json({{"active", false}}));
    refuse(other_public, token);
    refuse(client, token);
  }
  // A client's own token is described to it.
  auto rs_own = driver_->login(rs, "bob");
  auto own = introspect(rs, rs_own.access_token);
  EXPECT_EQ(own["active"], true);
  EXPECT_EQ(own["sub"], "dev:bob");

  // Named: the confidential client sees every token; a public client's id proves nothing.
  broker_->stop();
  BrokerConfig cfg;
  cfg.extra_yaml =
      "introspection:\n  allowed_clients: [" + rs.client_id + ", " + other_public.client_id + "]\n";
  broker_->rewriteConfig(cfg);
  broker_->start();
  auto j = introspect(rs, t.access_token);
  EXPECT_EQ(j["active"], true);
  EXPECT_EQ(j["client_id"], client.client_id);
  EXPECT_EQ(j["sub"], "dev:alice");
  EXPECT_EQ(j["scope"], "mcp:localhost:demo");
  EXPECT_EQ(introspect(rs, "nope")["active"], false);
  EXPECT_EQ(introspect(rs, t.refresh_token)["active"], true);
  refuse(other_public, t.access_token);
  HttpClient anonymous;
  auto unauth = anonymous.post(base() + "/introspect", formEncode({{"token", t.access_token}}));
  EXPECT_EQ(unauth.status, 401);
}

// /validate needs no authentication, so an operator can switch it off (validate.enabled); the
// default for a broker listening beyond loopback is off (see the config tests).
TEST_F(BrokerFlow, ValidateIsNotServedWhenDisabled) {
  auto client = driver_->registerClient("client_secret_basic");
  auto t = driver_->login(client, "alice");
  HttpClient http;
  const std::string body = json{{"token", t.access_token}}.dump();
  EXPECT_EQ(http.post(base() + "/validate", body, "application/json").status, 200);
  broker_->stop();
  BrokerConfig cfg;
  cfg.extra_yaml = "validate:\n  enabled: false\n";
  broker_->rewriteConfig(cfg);
  broker_->start();
  auto r = http.post(base() + "/validate", body, "application/json");
  EXPECT_EQ(r.status, 404) << r.body;
  EXPECT_EQ(r.body.find("dev:alice"), std::string::npos) << r.body;
  // Introspection, which authenticates, still answers the token's own client.
  EXPECT_EQ(
      parse(driver_->clientPost(client, "/introspect", {{"token", t.access_token}}).body)["active"],
      true);
}

TEST_F(BrokerFlow, ValidateSaysExactlyWhyATokenIsInvalid) {
  auto client = driver_->registerClient();
  auto t = driver_->login(client, "alice");
  HttpClient http;
  auto ok = parse(
      http.post(base() + "/validate", json{{"token", t.access_token}}.dump(), "application/json")
          .body);
  EXPECT_EQ(ok["valid"], true);
  EXPECT_EQ(ok["payload"]["sub"], "dev:alice");

  std::string tampered = t.access_token;
  tampered[tampered.size() - 5] = tampered[tampered.size() - 5] == 'A' ? 'B' : 'A';
  auto bad = parse(
      http.post(base() + "/validate", json{{"token", tampered}}.dump(), "application/json").body);
  EXPECT_EQ(bad["valid"], false);
  EXPECT_EQ(bad["error"], "bad_signature");

  auto header = base64urlEncode(std::string(R"({"alg":"RS256","typ":"at+jwt","kid":"nope"})"));
  std::string other_kid = header + t.access_token.substr(t.access_token.find('.'));
  auto unknown = parse(
      http.post(base() + "/validate", json{{"token", other_kid}}.dump(), "application/json").body);
  EXPECT_EQ(unknown["error"], "unknown_kid");

  auto none = base64urlEncode(std::string(R"({"alg":"none","typ":"at+jwt"})")) +
              t.access_token.substr(t.access_token.find('.'));
  auto alg =
      parse(http.post(base() + "/validate", json{{"token", none}}.dump(), "application/json").body);
  EXPECT_EQ(alg["valid"], false);

  auto garbage = parse(
      http.post(base() + "/validate", json{{"token", "x.y"}}.dump(), "application/json").body);
  EXPECT_EQ(garbage["error"], "malformed");
  auto empty = http.post(base() + "/validate", "", "application/json");
  EXPECT_EQ(empty.status, 400);
  // Bodies that are not the plain {"token":"..."} shape still go through the JSON parser.
  // The token's first character written as a JSON escape: the same token once parsed.
  char escape[8];
  std::snprintf(escape, sizeof escape, "\\u%04x", static_cast<unsigned>(t.access_token[0]));
  const std::string escaped = escape + t.access_token.substr(1);
  auto spaced = parse(http.post(base() + "/validate", " {\n \"token\" : \"" + escaped + "\" }\n",
                                "application/json")
                          .body);
  EXPECT_EQ(spaced["valid"], true) << spaced.dump();
  auto spaced_ok = parse(http.post(base() + "/validate",
                                   "{ \"token\" :\"" + t.access_token + "\"\t}", "application/json")
                             .body);
  EXPECT_EQ(spaced_ok["valid"], true) << spaced_ok.dump();
  for (const char* bad :
       {R"({"token": 5})", R"({"token":"a","x":1,)", R"({"token":"a"} x)", "[]"}) {
    EXPECT_EQ(http.post(base() + "/validate", bad, "application/json").status, 400) << bad;
  }
}

TEST_F(BrokerFlow, SecurityHeadersOnEveryResponse) {
  HttpClient http;
  for (const char* path : {"/health", "/.well-known/jwks.json", "/nope"}) {
    auto r = http.get(base() + path);
    EXPECT_EQ(r.header("x-content-type-options"), "nosniff") << path;
    EXPECT_EQ(r.header("referrer-policy"), "no-referrer") << path;
  }
}

TEST_F(BrokerFlow, LogsNeverContainTokensOrCodes) {
  auto client = driver_->registerClient("client_secret_post");
  PkcePair pkce;
  auto a = driver_->authorize(client, AuthorizeRequest{}, &pkce);
  auto t = driver_->exchange(client, a.code, pkce.verifier);
  ASSERT_EQ(t.status, 200);
  auto t1 = driver_->refresh(client, t.refresh_token);
  ASSERT_EQ(t1.status, 200);
  std::string logs = broker_->logs();
  for (const auto& secret : {a.code, t.access_token, t.refresh_token, t1.refresh_token,
                             pkce.verifier, client.client_secret}) {
    EXPECT_EQ(logs.find(secret), std::string::npos);
  }
}

TEST_F(BrokerFlow, SigtermExitsCleanly) {
  EXPECT_EQ(broker_->stop(), 0);
}

TEST_F(BrokerFlow, RestartLosesNothing) {
  auto client = driver_->registerClient();
  auto t = driver_->login(client, "alice");
  ASSERT_EQ(broker_->stop(), 0);
  broker_->start();
  auto r = driver_->refresh(client, t.refresh_token);
  ASSERT_EQ(r.status, 200) << r.body;
  HttpClient http;
  EXPECT_EQ(verifyWithJwks(http, base(), t.access_token), token::JwtStatus::kOk);
}

TEST_F(BrokerFlow, KeyRotationKeepsOldTokensVerifying) {
  auto client = driver_->registerClient();
  auto before = driver_->login(client, "alice");
  ASSERT_EQ(broker_->stop(), 0);
  auto rotated = broker_->cli({"keys", "rotate", "--now"});
  ASSERT_EQ(rotated.exit_code, 0) << rotated.output;
  broker_->start();
  HttpClient http;
  auto jwks = parse(http.get(base() + "/.well-known/jwks.json").body);
  EXPECT_EQ(jwks["keys"].size(), 2u);
  EXPECT_EQ(verifyWithJwks(http, base(), before.access_token), token::JwtStatus::kOk);
  auto after = driver_->refresh(client, before.refresh_token);
  ASSERT_EQ(after.status, 200);
  EXPECT_EQ(verifyWithJwks(http, base(), after.access_token), token::JwtStatus::kOk);
  auto kid = [](const std::string& jwt) {
    return parse(*base64urlDecode(jwt.substr(0, jwt.find('.'))))["kid"].get<std::string>();
  };
  EXPECT_NE(kid(before.access_token), kid(after.access_token));
}

TEST_F(BrokerFlow, MasterKeyRotationKeepsRefreshTokensWorking) {
  auto client = driver_->registerClient();
  auto t = driver_->login(client, "alice");
  ASSERT_EQ(broker_->stop(), 0);
  BrokerConfig cfg;
  cfg.master_keys = {"a-brand-new-master-key-0123456789abcdefXYZ", cfg.master_keys.front()};
  broker_->rewriteConfig(cfg);
  broker_->start();
  auto r = driver_->refresh(client, t.refresh_token);
  EXPECT_EQ(r.status, 200) << r.body;
}

// The README's run command puts --config after the subcommand; both orders name the same file.
TEST_F(BrokerFlow, ConfigOptionWorksBeforeAndAfterTheSubcommand) {
  auto after = runCommand({BROKER_BINARY, "keys", "list", "--config", broker_->configPath()});
  ASSERT_EQ(after.exit_code, 0) << after.output;
  auto before = broker_->cli({"keys", "list"});
  ASSERT_EQ(before.exit_code, 0) << before.output;
  EXPECT_NE(after.output.find("current"), std::string::npos) << after.output;
  EXPECT_EQ(after.output, before.output);
  auto unknown = runCommand({BROKER_BINARY, "keys", "list", "--no-such-option"});
  EXPECT_NE(unknown.exit_code, 0);
}

TEST_F(BrokerFlow, AdminRevokeLogsASubjectOutEverywhere) {
  auto client = driver_->registerClient();
  auto a1 = driver_->login(client, "alice");
  auto b1 = driver_->login(client, "bob");
  auto out = broker_->cli({"revoke", "--subject", "dev:alice"});
  ASSERT_EQ(out.exit_code, 0) << out.output;
  EXPECT_EQ(driver_->refresh(client, a1.refresh_token).error, "invalid_grant");
  EXPECT_EQ(driver_->refresh(client, b1.refresh_token).status, 200);
}

// The access tokens of a subject logged out by the admin command (another process, so the
// running broker learns of it only from its revocation list's reload) are refused within a
// reload interval (1 s by default) by /validate, which answers a known token from memory.
TEST_F(BrokerFlow, AdminRevokeReachesValidateWithinTheReloadInterval) {
  auto client = driver_->registerClient();
  auto a1 = driver_->login(client, "alice");
  auto b1 = driver_->login(client, "bob");
  HttpClient http;
  auto validate = [&](const std::string& token) {
    return parse(
        http.post(base() + "/validate", json{{"token", token}}.dump(), "application/json").body);
  };
  // Twice: the first answer verifies the signature on a worker, the second comes from memory.
  for (int i = 0; i < 2; ++i) ASSERT_EQ(validate(a1.access_token)["valid"], true);
  auto out = broker_->cli({"revoke", "--subject", "dev:alice"});
  ASSERT_EQ(out.exit_code, 0) << out.output;
  json v;
  for (int i = 0; i < 50; ++i) {
    v = validate(a1.access_token);
    if (v["valid"] == false) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(v["valid"], false) << v.dump();
  EXPECT_EQ(v["error"], "revoked");
  EXPECT_EQ(v["payload"]["sub"], "dev:alice");
  EXPECT_EQ(validate(b1.access_token)["valid"], true);
}

// An answer from memory and one from a worker say the same.
TEST_F(BrokerFlow, ValidateAnswersTheSameForAKnownToken) {
  auto client = driver_->registerClient();
  auto t = driver_->login(client, "alice");
  HttpClient http;
  auto ask = [&] {
    return http.post(base() + "/validate", "", "application/json",
                     {"Authorization: Bearer " + t.access_token});
  };
  auto first = ask();
  auto second = ask();
  ASSERT_EQ(first.status, 200);
  ASSERT_EQ(second.status, 200);
  EXPECT_EQ(parse(first.body), parse(second.body));
  EXPECT_EQ(second.header("cache-control"), "no-store");
  auto j = parse(second.body);
  EXPECT_EQ(j["valid"], true);
  EXPECT_EQ(j["token_type"], "access_token");
  EXPECT_EQ(j["payload"]["client_id"], client.client_id);
  EXPECT_EQ(j["policy"]["mcp:localhost:demo"]["allowed"], true);
}

TEST_F(BrokerFlow, TokenEndpointRejectsMalformedRequests) {
  auto client = driver_->registerClient();
  HttpClient http;
  auto json_body =
      http.post(base() + "/token", R"({"grant_type":"refresh_token"})", "application/json");
  EXPECT_EQ(json_body.status, 400);
  EXPECT_EQ(parse(json_body.body)["error"], "invalid_request");
  auto dup = http.post(
      base() + "/token",
      "grant_type=refresh_token&grant_type=authorization_code&client_id=" + client.client_id);
  EXPECT_EQ(parse(dup.body)["error"], "invalid_request");
  auto unsupported =
      http.post(base() + "/token", "grant_type=password&client_id=" + client.client_id);
  EXPECT_EQ(parse(unsupported.body)["error"], "unsupported_grant_type");
  auto no_client = http.post(base() + "/token", "grant_type=refresh_token&refresh_token=x");
  EXPECT_EQ(no_client.status, 401);
}

// Two broker instances on one PostgreSQL database.
class BrokerPostgres : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!db_.available()) GTEST_SKIP() << "TEST_DATABASE_URL is not set";
    BrokerConfig cfg;
    cfg.storage = db_.url();
    a_ = std::make_unique<BrokerProcess>(dir_, cfg);
    b_ = std::make_unique<BrokerProcess>(dir_, cfg);
    a_->start();
    b_->start();
    da_ = std::make_unique<OAuthDriver>(a_->url());
    dbb_ = std::make_unique<OAuthDriver>(b_->url());
  }

  PgDatabase db_;
  TempDir dir_;
  std::unique_ptr<BrokerProcess> a_, b_;
  std::unique_ptr<OAuthDriver> da_, dbb_;
};

// A token minted by one instance refreshes at the other.
TEST_F(BrokerPostgres, TwoInstancesShareOneDatabase) {
  auto client = da_->registerClient();
  auto t = da_->login(client, "alice");
  ASSERT_EQ(t.status, 200) << t.body;
  // Instance b has another issuer URL (its own port), so clients must use one issuer; here only
  // the shared state matters: b knows a's client, refresh family and signing key.
  auto r = dbb_->refresh(client, t.refresh_token);
  ASSERT_EQ(r.status, 200) << r.body;
  // A grace replay at the other instance.
  EXPECT_EQ(da_->refresh(client, t.refresh_token).status, 200);
  HttpClient http;
  auto ja = parse(http.get(a_->url() + "/.well-known/jwks.json").body);
  auto jb = parse(http.get(b_->url() + "/.well-known/jwks.json").body);
  EXPECT_EQ(ja["keys"][0]["kid"], jb["keys"][0]["kid"]);
  ASSERT_EQ(a_->stop(), 0);
  a_->start();
  EXPECT_EQ(da_->refresh(client, r.refresh_token).status, 200);
}

// The replay reaches another instance than the one that answers /validate: that one learns of
// the revocation from its background reload of the revocation list (every second).
TEST_F(BrokerPostgres, ReplayAtAnotherInstanceRevokesATokenWithoutRefreshWithinTheReloadInterval) {
  auto client = da_->registerClient("none", "http://127.0.0.1:7777/callback", false);
  PkcePair pkce;
  auto code = da_->authorize(client, AuthorizeRequest{}, &pkce);
  auto first = da_->exchange(client, code.code, pkce.verifier);
  ASSERT_EQ(first.status, 200) << first.body;
  HttpClient http;
  auto validate = [&] {
    return parse(http.post(a_->url() + "/validate", json{{"token", first.access_token}}.dump(),
                           "application/json")
                     .body);
  };
  ASSERT_EQ(validate()["valid"], true);  // now cached as verified at instance a
  auto replay = dbb_->exchange(client, code.code, pkce.verifier);
  EXPECT_EQ(replay.error, "invalid_grant");
  const auto replayed_at = std::chrono::steady_clock::now();
  json v;
  while (std::chrono::steady_clock::now() - replayed_at < std::chrono::seconds(5)) {
    v = validate();
    if (v["valid"] == false) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(v["valid"], false);
  EXPECT_EQ(v["error"], "revoked");
  EXPECT_LT(std::chrono::steady_clock::now() - replayed_at, std::chrono::milliseconds(3000))
      << "within the reload interval (1 s) and some slack";
}

}  // namespace
}  // namespace broker::testing
