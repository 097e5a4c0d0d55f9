#pragma once
// Shared checks of the integration tests that sign in through a real upstream hop (fake GitHub,
// fake OIDC, oidc-provider): what the user sees and what the client gets when a login fails.

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "fakes/broker_process.h"
#include "fakes/jwks_verify.h"
#include "fakes/oauth_driver.h"

namespace broker::testing {

// A policy whose bare names mean users of `upstream`, with the server mcp:localhost:demo
// (resource http://127.0.0.1:9000/mcp, the default scope) allowed by `demo_rule` (e.g.
// "allowed_teams: [acme/platform]"), and `more_servers`: further servers of domain localhost,
// indented by four spaces.
inline std::string upstreamPolicy(const std::string& upstream, const std::string& demo_rule,
                                  const std::string& more_servers = "") {
  return "default_upstream: " + upstream +
         "\ndefault_scopes: [mcp:localhost:demo]\nservers:\n  localhost:\n    demo:\n"
         "      name: Demo server\n      resource: http://127.0.0.1:9000/mcp\n      " +
         demo_rule + "\n" + more_servers;
}

// The broker with the upstreams of `cfg`, a browser and a registered confidential client (one
// whose remembered consent may skip the page; see
// BrokerFlow.PublicLoopbackClientSeesConsentEveryTime).
class UpstreamLoginTest : public ::testing::Test {
 protected:
  void startBroker(const BrokerConfig& cfg) {
    broker_ = std::make_unique<BrokerProcess>(dir_, cfg);
    broker_->start();
    driver_ = std::make_unique<OAuthDriver>(broker_->url());
    client_ = driver_->registerClient("client_secret_basic");
    ASSERT_FALSE(client_.client_id.empty());
  }
  std::string base() const { return broker_->url(); }
  // The whole browser part through `upstream` (the client's state is "client-state-123").
  AuthorizeOutcome loginAt(const std::string& upstream, const std::string& scope) {
    AuthorizeRequest req;
    req.scope = scope;
    return driver_->authorizeVia(client_, req, upstream, &pkce_);
  }

  TempDir dir_;
  std::unique_ptr<BrokerProcess> broker_;
  std::unique_ptr<OAuthDriver> driver_;
  RegisteredClient client_;
  PkcePair pkce_;
};

// The access token verifies against the broker's JWKS and names this identity.
inline void expectTokenFor(const std::string& issuer, const std::string& access_token,
                           const std::string& sub, const std::string& username,
                           const std::string& email, const std::string& idp) {
  HttpClient http;
  nlohmann::json claims;
  ASSERT_EQ(verifyWithJwks(http, issuer, access_token, &claims), token::JwtStatus::kOk);
  EXPECT_EQ(claims["sub"], sub);
  EXPECT_EQ(claims["preferred_username"], username);
  EXPECT_EQ(claims["email"], email);
  EXPECT_EQ(claims["idp"], idp);
}

// A failed login: an HTML page with status `status` whose text contains `says`, escapes whatever
// `raw` is (e.g. a username with markup), and links back to the client with `error`, the client's
// state and the issuer, and no code.
inline void expectFailedLogin(const AuthorizeOutcome& a, const std::string& issuer, long status,
                              const std::string& error, const std::string& says = "",
                              const std::string& raw = "") {
  EXPECT_EQ(a.status, status) << a.page;
  EXPECT_NE(a.content_type.find("text/html"), std::string::npos) << a.content_type;
  EXPECT_TRUE(a.code.empty());
  EXPECT_EQ(a.error, error) << a.page;
  EXPECT_EQ(a.state, "client-state-123");
  EXPECT_EQ(a.iss, issuer);
  EXPECT_EQ(queryParam(a.redirect, "code"), "");
  EXPECT_EQ(a.page.find("<script"), std::string::npos);
  if (!says.empty()) {
    EXPECT_NE(a.page.find(says), std::string::npos) << a.page;
  }
  if (!raw.empty()) {
    EXPECT_EQ(a.page.find(raw), std::string::npos) << "unescaped: " << raw;
  }
}

// A callback the broker cannot tie to any login (tampered, replayed or expired state): a page,
// and no redirect to any client, because nothing says which client sent the user.
inline void expectOrphanCallback(const AuthorizeOutcome& a) {
  EXPECT_EQ(a.status, 400) << a.page;
  EXPECT_NE(a.content_type.find("text/html"), std::string::npos);
  EXPECT_TRUE(a.redirect.empty()) << a.redirect;
  EXPECT_TRUE(a.code.empty());
  EXPECT_NE(a.page.find("expired or was already used"), std::string::npos) << a.page;
}

}  // namespace broker::testing
