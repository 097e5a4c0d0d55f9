// An OpenID Connect upstream of the real broker binary, played by the project's fake provider so
// that it can sign bad ID tokens on purpose: every token that fails verification (signature,
// issuer, audience, azp, expiry, nonce, alg none, HS256 key confusion) ends the login with a page
// and a clean OAuth error to the client, and no code. Also: unverified email against a policy
// that needs one, and the provider being down. The happy path against a provider this project did
// not write is in oidc_provider_test.cpp.

#include <gtest/gtest.h>

#include <memory>

#include <nlohmann/json.hpp>

#include "fakes/broker_process.h"
#include "fakes/fake_oidc.h"
#include "fakes/jwks_verify.h"
#include "fakes/oauth_driver.h"
#include "integration/upstream_login.h"

namespace broker::testing {
namespace {

using nlohmann::json;

const std::string kPolicy = upstreamPolicy("corp", "allowed_groups: [engineering]",
                                           "    mail:\n      name: Mail tools\n"
                                           "      resource: http://127.0.0.1:9002/mcp\n"
                                           "      allowed_email_domains: [example.com]\n");

class FakeOidcLogin : public UpstreamLoginTest {
 protected:
  void SetUp() override {
    idp_.signIn({{"sub", "u-1001"},
                 {"preferred_username", "carol"},
                 {"email", "carol@example.com"},
                 {"email_verified", true},
                 {"groups", {"engineering", "<b>staff</b>"}}});
    BrokerConfig cfg;
    cfg.policy_yaml = kPolicy;
    cfg.upstreams_yaml =
        "  corp:\n    type: oidc\n    display_name: Example SSO\n    issuer: " + idp_.issuer() +
        "\n    client_id: " + idp_.options().client_id +
        "\n    client_secret: " + idp_.options().client_secret +
        "\n    timeout: 1s\n    membership_cache_ttl: 0s\n";
    startBroker(cfg);
  }
  AuthorizeOutcome login(const std::string& scope = "mcp:localhost:demo") {
    return loginAt("corp", scope);
  }

  FakeOidc idp_;
};

TEST_F(FakeOidcLogin, GroupsClaimGrantsTheServerAndSubIsQualifiedByTheUpstream) {
  auto a = login();
  ASSERT_FALSE(a.code.empty()) << a.page << a.error;
  auto hop = idp_.lastAuthorizeParams();
  EXPECT_EQ(hop["code_challenge_method"], "S256");
  EXPECT_FALSE(hop["nonce"].empty());
  EXPECT_EQ(hop["scope"], "openid email profile");
  auto t = driver_->exchange(client_, a.code, pkce_.verifier);
  ASSERT_EQ(t.status, 200) << t.body;
  expectTokenFor(base(), t.access_token, "corp:u-1001", "carol", "carol@example.com", "corp");
}

TEST_F(FakeOidcLogin, LeavingTheGroupEndsTheGrantAtTheNextRefresh) {
  auto a = login();
  ASSERT_FALSE(a.code.empty()) << a.page;
  auto t = driver_->exchange(client_, a.code, pkce_.verifier);
  ASSERT_EQ(t.status, 200) << t.body;
  auto ok = driver_->refresh(client_, t.refresh_token);
  ASSERT_EQ(ok.status, 200) << ok.body;
  idp_.setClaims({{"sub", "u-1001"},
                  {"preferred_username", "carol"},
                  {"email", "carol@example.com"},
                  {"email_verified", true},
                  {"groups", json::array({"sales"})}});
  auto refused = driver_->refresh(client_, ok.refresh_token);
  EXPECT_EQ(refused.error, "invalid_grant") << refused.body;
}

TEST_F(FakeOidcLogin, UnverifiedEmailDoesNotSatisfyAnEmailPolicy) {
  idp_.signIn({{"sub", "u-2002"},
               {"preferred_username", "dave"},
               {"email", "dave@example.com"},
               {"email_verified", false}});
  auto a = login("mcp:localhost:mail");
  expectFailedLogin(a, base(), 403, "access_denied", "does not allow");
}

TEST_F(FakeOidcLogin, UserWhoRefusesAtTheProviderGetsAccessDenied) {
  idp_.setDenyAuthorization(true);
  expectFailedLogin(login(), base(), 403, "access_denied");
}

TEST_F(FakeOidcLogin, ProviderDownGivesTemporarilyUnavailable) {
  idp_.setDown(true);
  auto a = driver_->startLogin(client_, {}, "corp", &pkce_);
  // Discovery fails before the browser leaves: straight back to the client.
  EXPECT_TRUE(a.next.empty());
  EXPECT_EQ(a.status, 302);
  EXPECT_EQ(a.error, "temporarily_unavailable");
  EXPECT_EQ(a.state, "client-state-123");
  EXPECT_EQ(a.iss, base());
}

TEST_F(FakeOidcLogin, DiscoveryForAnotherIssuerIsRefused) {
  idp_.patchDiscovery({{"issuer", "https://elsewhere.example"}});
  auto a = driver_->startLogin(client_, {}, "corp", &pkce_);
  EXPECT_TRUE(a.next.empty()) << a.next;  // the browser is never sent to that provider
  EXPECT_EQ(a.error, "server_error");
  EXPECT_EQ(a.iss, base());
}

TEST_F(FakeOidcLogin, TokenEndpointErrorJsonIsACleanFailure) {
  idp_.setTokenError("invalid_client");
  expectFailedLogin(login(), base(), 502, "server_error", "misconfigured");
}

struct BadToken {
  IdTokenFault fault;
  const char* logged;  // the reason the broker logs
  const char* error;   // what the client gets
  long status;
};

// Test names and failure messages show the reason, not the bytes of the struct.
void PrintTo(const BadToken& t, std::ostream* os) {
  *os << t.logged;
}

class FakeOidcBadIdToken : public FakeOidcLogin, public ::testing::WithParamInterface<BadToken> {};

TEST_P(FakeOidcBadIdToken, EndsTheLoginWithAPageAndNoCode) {
  idp_.setIdTokenFault(GetParam().fault);
  auto a = login();
  expectFailedLogin(a, base(), GetParam().status, GetParam().error, "Example SSO");
  EXPECT_NE(broker_->logs().find(std::string("\"reason\":\"") + GetParam().logged + "\""),
            std::string::npos)
      << broker_->logs();
}

INSTANTIATE_TEST_SUITE_P(
    Faults, FakeOidcBadIdToken,
    ::testing::Values(
        BadToken{IdTokenFault::kWrongKey, "bad_signature", "server_error", 502},
        BadToken{IdTokenFault::kFlippedSignature, "bad_signature", "server_error", 502},
        BadToken{IdTokenFault::kUnknownKid, "unknown_kid", "temporarily_unavailable", 503},
        BadToken{IdTokenFault::kWrongIssuer, "wrong_issuer", "server_error", 502},
        BadToken{IdTokenFault::kWrongAudience, "wrong_audience", "server_error", 502},
        BadToken{IdTokenFault::kWrongAzp, "wrong_azp", "server_error", 502},
        BadToken{IdTokenFault::kExpired, "expired", "server_error", 502},
        BadToken{IdTokenFault::kIssuedInFuture, "not_yet_valid", "server_error", 502},
        BadToken{IdTokenFault::kWrongNonce, "wrong_nonce", "server_error", 502},
        BadToken{IdTokenFault::kNoNonce, "wrong_nonce", "server_error", 502},
        BadToken{IdTokenFault::kAlgNone, "unsupported_alg", "server_error", 502},
        BadToken{IdTokenFault::kHs256, "unsupported_alg", "server_error", 502}),
    [](const ::testing::TestParamInfo<BadToken>& info) {
      return std::string(info.param.logged) + "_" + std::to_string(info.index);
    });

}  // namespace
}  // namespace broker::testing
