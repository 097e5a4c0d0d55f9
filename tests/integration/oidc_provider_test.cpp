// OpenID Connect login through the real broker binary against a provider this project did not
// write: the `oidc-provider` npm package (tests/oidc-provider), started on a loopback port. The
// browser signs in on the provider's login page; the broker discovers the provider, verifies its
// RS256 and ES256 ID tokens, reads groups from userinfo, and re-reads them at every refresh
// through the provider's refresh token.

#include <gtest/gtest.h>

#include <memory>

#include <nlohmann/json.hpp>

#include "fakes/broker_process.h"
#include "fakes/jwks_verify.h"
#include "fakes/oauth_driver.h"
#include "fakes/oidc_provider_process.h"
#include "integration/upstream_login.h"

namespace broker::testing {
namespace {

using nlohmann::json;

const std::string kPolicy =
    upstreamPolicy("corp", "allowed_groups: [engineering, corp-ec:engineering]");

constexpr const char* kSecret = "provider-test-secret-0123456789abcdef";

json erin(const std::vector<std::string>& groups) {
  return {{"sub", "e-1001"},        {"preferred_username", "erin"},
          {"name", "Erin <E.>"},    {"email", "erin@example.com"},
          {"email_verified", true}, {"groups", groups}};
}

class OidcProviderLogin : public UpstreamLoginTest {
 protected:
  void SetUp() override {
    BrokerConfig cfg;
    cfg.port = freePort();
    const std::string broker_url = "http://127.0.0.1:" + std::to_string(cfg.port);
    json client = {{"client_secret", kSecret},
                   {"grant_types", {"authorization_code", "refresh_token"}},
                   {"response_types", {"code"}},
                   {"token_endpoint_auth_method", "client_secret_basic"}};
    json rs = client, ec = client;
    rs["client_id"] = "broker";
    rs["redirect_uris"] = {broker_url + "/auth/corp/callback"};
    ec["client_id"] = "broker-ec";
    ec["redirect_uris"] = {broker_url + "/auth/corp-ec/callback"};
    ec["id_token_signed_response_alg"] = "ES256";
    provider_ = std::make_unique<OidcProviderProcess>(
        dir_, json{{"clients", {rs, ec}}, {"accounts", {{"erin", erin({"engineering"})}}}});

    auto upstream = [&](const std::string& id, const std::string& client_id) {
      return "  " + id + ":\n    type: oidc\n    display_name: Example SSO\n    issuer: " +
             provider_->issuer() + "\n    client_id: " + client_id +
             "\n    client_secret: " + kSecret +
             "\n    scopes: openid email profile groups\n    userinfo: true\n"
             "    membership_cache_ttl: 0s\n    timeout: 5s\n";
    };
    cfg.policy_yaml = kPolicy;
    cfg.upstreams_yaml = upstream("corp", "broker") + upstream("corp-ec", "broker-ec");
    startBroker(cfg);
  }
  void TearDown() override {
    if (HasFailure() && provider_) std::cerr << "oidc-provider output:\n" << provider_->output();
  }
  // Up to the provider's login page.
  AuthorizeOutcome toLoginPage(const std::string& upstream) {
    auto page = driver_->authorizeVia(client_, {}, upstream, &pkce_);
    EXPECT_EQ(page.status, 200) << page.page;
    EXPECT_FALSE(inputValue(page.page, "uid").empty()) << page.page;
    return page;
  }
  // The provider's answer to the login form, followed back through the broker to the client.
  AuthorizeOutcome resume(const HttpResult& answer) {
    EXPECT_EQ(answer.status / 100, 3) << answer.body;
    return driver_->follow(client_, answer.header("location"));
  }
  TokenResponse signIn(const std::string& upstream = "corp") {
    auto page = toLoginPage(upstream);
    auto a = resume(provider_->signIn(driver_->browser(), page.page, "erin"));
    EXPECT_FALSE(a.code.empty()) << a.status << " " << a.page << a.error;
    EXPECT_EQ(a.iss, base());
    return driver_->exchange(client_, a.code, pkce_.verifier);
  }

  std::unique_ptr<OidcProviderProcess> provider_;
};

TEST_F(OidcProviderLogin, SignsInWithGroupsAndGetsATokenForTheProvidersSubject) {
  auto t = signIn();
  ASSERT_EQ(t.status, 200) << t.body << broker_->logs();
  EXPECT_EQ(t.scope, "mcp:localhost:demo");
  expectTokenFor(base(), t.access_token, "corp:e-1001", "erin", "erin@example.com", "corp");
}

TEST_F(OidcProviderLogin, Es256SignedIdTokensVerify) {
  auto t = signIn("corp-ec");
  ASSERT_EQ(t.status, 200) << t.body << broker_->logs();
  // Another upstream, another broker subject for the same person.
  expectTokenFor(base(), t.access_token, "corp-ec:e-1001", "erin", "erin@example.com", "corp-ec");
}

TEST_F(OidcProviderLogin, GroupsAreReadAgainAtEveryRefresh) {
  auto t = signIn();
  ASSERT_EQ(t.status, 200) << t.body;
  auto same = driver_->refresh(client_, t.refresh_token);
  ASSERT_EQ(same.status, 200) << same.body << broker_->logs();
  EXPECT_EQ(same.scope, "mcp:localhost:demo");

  provider_->setAccount("erin", erin({"sales"}));
  auto refused = driver_->refresh(client_, same.refresh_token);
  EXPECT_EQ(refused.status, 400);
  EXPECT_EQ(refused.error, "invalid_grant") << refused.body;
}

TEST_F(OidcProviderLogin, UserWhoCancelsAtTheProviderGetsAccessDenied) {
  auto page = toLoginPage("corp");
  auto a = resume(provider_->cancel(driver_->browser(), page.page));
  expectFailedLogin(a, base(), 403, "access_denied", "Example SSO");
}

TEST_F(OidcProviderLogin, ProviderGoneBeforeTheCodeExchangeIsTemporarilyUnavailable) {
  auto page = toLoginPage("corp");
  auto answer = provider_->signIn(driver_->browser(), page.page, "erin");
  ASSERT_EQ(answer.status / 100, 3) << answer.body;
  // The provider redirects the browser to the broker's callback...
  auto to_broker = driver_->browser().get(answer.header("location"));
  std::string callback = to_broker.header("location");
  ASSERT_EQ(callback.rfind(base() + "/auth/corp/callback?", 0), 0u) << callback;
  // ...and is gone before the broker redeems the code.
  provider_.reset();
  auto a = driver_->follow(client_, callback);
  expectFailedLogin(a, base(), 503, "temporarily_unavailable", "Example SSO");
}

}  // namespace
}  // namespace broker::testing
