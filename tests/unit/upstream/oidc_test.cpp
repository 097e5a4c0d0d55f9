// The OpenID Connect upstream against the fake provider: discovery and its cache, the code flow
// with PKCE/state/nonce, every bad ID token the fake can sign, JWKS refetch on an unknown kid
// (rate-limited), email_verified handling, claim mapping, userinfo, refresh, failures; plus the
// settings parser and the shared OAuth client helpers.

#include "broker/upstream/oidc.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <thread>

#include "fakes/fake_oidc.h"
#include "unit/upstream/upstream_fixture.h"
#include "upstream/oidc/oauth_client.h"

namespace broker::upstream {
namespace {

using broker::testing::browserCallback;
using broker::testing::configErrorOf;
using broker::testing::errorCode;
using broker::testing::FakeOidc;
using broker::testing::FakeOidcOptions;
using broker::testing::followAuthorize;
using broker::testing::IdTokenFault;
using nlohmann::json;

constexpr const char* kCallback = "https://broker.example.com/auth/corp/callback";

json aliceClaims() {
  return {{"sub", "u-1"},
          {"preferred_username", "alice"},
          {"name", "Alice Example"},
          {"email", "alice@corp.example"},
          {"email_verified", true},
          {"groups", {"eng", "admins"}}};
}

class Oidc : public UpstreamFixture<FakeOidc, FakeOidcOptions> {
 protected:
  explicit Oidc(FakeOidcOptions fake = {})
      : UpstreamFixture(std::move(fake), "state-9", kCallback) {
    idp_.signIn(aliceClaims());
  }

  OidcOptions options() const {
    OidcOptions o;
    o.id = "corp";
    o.display_name = "Corp SSO";
    o.issuer = idp_.issuer();
    o.client_id = idp_.options().client_id;
    o.client_secret = Secret(idp_.options().client_secret);
    o.http.timeout_ms = 1000;
    o.http.connect_timeout_ms = 1000;
    return o;
  }
  std::shared_ptr<UpstreamProvider> make(OidcOptions o) {
    return makeOidcUpstream(std::move(o), nullptr, clock_, random_);
  }
  std::shared_ptr<UpstreamProvider> make() { return make(options()); }

  FakeOidc& idp_ = fake_;
};

TEST_F(Oidc, LoginMapsTheVerifiedIdentity) {
  auto p = make();
  EXPECT_EQ(p->type(), "oidc");
  EXPECT_EQ(p->displayName(), "Corp SSO");
  auto r = login(*p);
  ASSERT_TRUE(r.ok()) << r.error().debug;
  const Identity& who = r->identity;
  EXPECT_EQ(who.upstream_id, "corp");
  EXPECT_EQ(who.upstream_type, "oidc");
  EXPECT_EQ(who.subject, "u-1");
  EXPECT_EQ(who.qualifiedSubject(), "corp:u-1");
  EXPECT_EQ(who.username, "alice");
  EXPECT_EQ(who.name, "Alice Example");
  EXPECT_EQ(who.email, "alice@corp.example");
  EXPECT_TRUE(who.email_verified);
  EXPECT_EQ(who.groups, (std::vector<std::string>{"eng", "admins"}));
}

TEST_F(Oidc, AuthorizeRequestCarriesStateNoncePkceAndScopes) {
  auto o = options();
  o.auth_params = {{"prompt", "login"}};
  auto p = make(o);
  auto begin = p->beginLogin({"state-9", kCallback});
  ASSERT_TRUE(begin.ok()) << begin.error().debug;
  EXPECT_EQ(begin->url.rfind(idp_.issuer() + "/authorize?", 0), 0u);
  auto back = followAuthorize(begin->url);
  EXPECT_EQ(back["state"], "state-9");
  EXPECT_EQ(back["iss"], idp_.issuer());
  EXPECT_FALSE(back["code"].empty());
  auto q = idp_.lastAuthorizeParams();
  EXPECT_EQ(q["response_type"], "code");
  EXPECT_EQ(q["client_id"], idp_.options().client_id);
  EXPECT_EQ(q["redirect_uri"], kCallback);
  EXPECT_EQ(q["scope"], "openid email profile");
  EXPECT_EQ(q["state"], "state-9");
  EXPECT_EQ(q["code_challenge_method"], "S256");
  EXPECT_EQ(q["prompt"], "login");
  auto data = json::parse(begin->upstream_data);
  EXPECT_EQ(q["nonce"], data["n"]);
  EXPECT_EQ(begin->url.find(data["v"].get<std::string>()), std::string::npos);
}

TEST_F(Oidc, DiscoveryIsCachedAndRefetchedAfterItsTtl) {
  auto p = make();
  ASSERT_TRUE(login(*p).ok());
  ASSERT_TRUE(login(*p).ok());
  const std::string discovery = "/.well-known/openid-configuration";
  EXPECT_EQ(idp_.requests(discovery), 1);
  EXPECT_EQ(idp_.requests("/jwks"), 1);
  clock_.advance(3601);
  ASSERT_TRUE(login(*p).ok());
  EXPECT_EQ(idp_.requests(discovery), 2);
  EXPECT_EQ(idp_.requests("/jwks"), 2);
}

TEST_F(Oidc, StaleDiscoveryIsUsedWhileTheProviderIsDown) {
  auto p = make();
  ASSERT_TRUE(p->beginLogin({"s", kCallback}).ok());
  clock_.advance(3601);
  idp_.setDown(true);
  auto begin = p->beginLogin({"s", kCallback});
  ASSERT_TRUE(begin.ok()) << begin.error().debug;
  EXPECT_EQ(idp_.requests("/.well-known/openid-configuration"), 2);
}

TEST_F(Oidc, DiscoveryForAnotherIssuerIsRefused) {
  idp_.patchDiscovery({{"issuer", "https://someone-else.example"}});
  auto p = make();
  auto begin = p->beginLogin({"s", kCallback});
  ASSERT_FALSE(begin.ok());
  EXPECT_EQ(begin.error().code, OAuthCode::kServerError);
  EXPECT_NE(begin.error().debug.find("discovery issuer"), std::string::npos);
}

TEST_F(Oidc, DiscoveryWithoutUsableEndpointsIsRefused) {
  idp_.patchDiscovery({{"token_endpoint", "http://token.example.com/token"}});
  auto p = make();
  EXPECT_EQ(errorCode(p->beginLogin({"s", kCallback})), OAuthCode::kServerError);
}

TEST_F(Oidc, ExplicitEndpointsNeedNoDiscovery) {
  auto o = options();
  o.authorization_endpoint = idp_.issuer() + "/authorize";
  o.token_endpoint = idp_.issuer() + "/token";
  o.jwks_uri = idp_.issuer() + "/jwks";
  auto p = make(o);
  auto r = login(*p);
  ASSERT_TRUE(r.ok()) << r.error().debug;
  EXPECT_EQ(idp_.requests("/.well-known/openid-configuration"), 0);
}

class OidcEs256 : public Oidc {
 protected:
  OidcEs256()
      : Oidc([] {
          FakeOidcOptions o;
          o.alg = "ES256";
          return o;
        }()) {}
};

TEST_F(OidcEs256, Es256SignedLoginWorks) {
  auto p = make();
  auto r = login(*p);
  ASSERT_TRUE(r.ok()) << r.error().debug;
  EXPECT_EQ(r->identity.subject, "u-1");
}

struct FaultCase {
  IdTokenFault fault;
  OAuthCode code;
  const char* reason;
};

class OidcBadIdToken : public Oidc, public ::testing::WithParamInterface<FaultCase> {};

TEST_P(OidcBadIdToken, IsRefused) {
  idp_.setIdTokenFault(GetParam().fault);
  auto p = make();
  auto r = login(*p);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, GetParam().code);
  EXPECT_EQ(r.error().debug, std::string("id token: ") + GetParam().reason);
}

INSTANTIATE_TEST_SUITE_P(
    Oidc, OidcBadIdToken,
    ::testing::Values(
        FaultCase{IdTokenFault::kWrongKey, OAuthCode::kServerError, "bad_signature"},
        FaultCase{IdTokenFault::kFlippedSignature, OAuthCode::kServerError, "bad_signature"},
        FaultCase{IdTokenFault::kUnknownKid, OAuthCode::kTemporarilyUnavailable, "unknown kid"},
        FaultCase{IdTokenFault::kWrongIssuer, OAuthCode::kServerError, "wrong_issuer"},
        FaultCase{IdTokenFault::kWrongAudience, OAuthCode::kServerError, "wrong_audience"},
        FaultCase{IdTokenFault::kWrongAzp, OAuthCode::kServerError, "wrong_azp"},
        FaultCase{IdTokenFault::kExpired, OAuthCode::kServerError, "expired"},
        FaultCase{IdTokenFault::kIssuedInFuture, OAuthCode::kServerError, "not_yet_valid"},
        FaultCase{IdTokenFault::kWrongNonce, OAuthCode::kServerError, "wrong_nonce"},
        FaultCase{IdTokenFault::kNoNonce, OAuthCode::kServerError, "wrong_nonce"},
        FaultCase{IdTokenFault::kAlgNone, OAuthCode::kServerError, "unsupported_alg"},
        FaultCase{IdTokenFault::kHs256, OAuthCode::kServerError, "unsupported_alg"}));

TEST_F(Oidc, RotatedKeyIsFetchedOnItsFirstUnknownKid) {
  auto p = make();
  ASSERT_TRUE(login(*p).ok());
  EXPECT_EQ(idp_.requests("/jwks"), 1);
  clock_.advance(61);
  idp_.rotateKey("ES256", /*keep_old=*/false);
  auto r = login(*p);
  ASSERT_TRUE(r.ok()) << r.error().debug;
  EXPECT_EQ(idp_.requests("/jwks"), 2);
}

TEST_F(Oidc, UnknownKidRefetchesAtMostOncePerMinute) {
  auto p = make();
  ASSERT_TRUE(login(*p).ok());
  idp_.setIdTokenFault(IdTokenFault::kUnknownKid);
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(errorCode(login(*p)), OAuthCode::kTemporarilyUnavailable);
  }
  EXPECT_EQ(idp_.requests("/jwks"), 1);  // the first fetch was less than 60 s ago
  clock_.advance(61);
  for (int i = 0; i < 5; ++i) EXPECT_FALSE(login(*p).ok());
  EXPECT_EQ(idp_.requests("/jwks"), 2);
}

TEST_F(Oidc, UnverifiedEmailIsDropped) {
  auto claims = aliceClaims();
  claims["email_verified"] = false;
  idp_.signIn(claims);
  auto p = make();
  auto r = login(*p);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->identity.email, "");
  EXPECT_FALSE(r->identity.email_verified);

  claims.erase("email_verified");
  idp_.signIn(claims);
  auto absent = login(*p);
  ASSERT_TRUE(absent.ok());
  EXPECT_EQ(absent->identity.email, "");
}

TEST_F(Oidc, EmailVerifiedAsTheStringTrueCounts) {
  auto claims = aliceClaims();
  claims["email_verified"] = "true";
  idp_.signIn(claims);
  auto p = make();
  auto r = login(*p);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->identity.email, "alice@corp.example");
}

TEST_F(Oidc, InsecureSkipEmailVerifiedTrustsTheEmail) {
  auto claims = aliceClaims();
  claims.erase("email_verified");
  idp_.signIn(claims);
  auto o = options();
  o.insecure_skip_email_verified = true;
  auto p = make(o);
  auto r = login(*p);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->identity.email, "alice@corp.example");
  EXPECT_TRUE(r->identity.email_verified);
}

TEST_F(Oidc, RequiredVerifiedEmailMissingIsAccessDenied) {
  auto claims = aliceClaims();
  claims["email_verified"] = false;
  idp_.signIn(claims);
  auto o = options();
  o.require_verified_email = true;
  auto p = make(o);
  EXPECT_EQ(errorCode(login(*p)), OAuthCode::kAccessDenied);
}

TEST_F(Oidc, ClaimMappingReachesNestedClaims) {
  idp_.signIn({{"sub", "kc-7"},
               {"upn", "bob@corp.example"},
               {"mail", "bob@corp.example"},
               {"email_verified", true},
               {"realm_access", {{"roles", {"mcp-users", "offline_access", 5}}}},
               {"display", "Bob"}});
  auto o = options();
  o.username_claim = "upn";
  o.email_claim = "mail";
  o.groups_claim = "realm_access.roles";
  o.name_claim = "display";
  auto p = make(o);
  auto r = login(*p);
  ASSERT_TRUE(r.ok()) << r.error().debug;
  EXPECT_EQ(r->identity.username, "bob@corp.example");
  EXPECT_EQ(r->identity.email, "bob@corp.example");
  EXPECT_EQ(r->identity.name, "Bob");
  EXPECT_EQ(r->identity.groups, (std::vector<std::string>{"mcp-users", "offline_access"}));
}

TEST_F(Oidc, MissingUsernameFallsBackToTheSubjectAndSingleGroupStringIsOneGroup) {
  idp_.signIn({{"sub", "u-2"}, {"groups", "solo"}});
  auto p = make();
  auto r = login(*p);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->identity.username, "u-2");
  EXPECT_EQ(r->identity.groups, (std::vector<std::string>{"solo"}));
}

TEST_F(Oidc, UserinfoClaimsAreMergedForTheSameSubject) {
  idp_.signIn({{"sub", "u-1"}, {"preferred_username", "alice"}});
  idp_.setUserinfoClaims(
      {{"groups", {"from-userinfo"}}, {"email", "alice@corp.example"}, {"email_verified", true}});
  auto o = options();
  o.userinfo = true;
  auto p = make(o);
  auto r = login(*p);
  ASSERT_TRUE(r.ok()) << r.error().debug;
  EXPECT_EQ(r->identity.groups, (std::vector<std::string>{"from-userinfo"}));
  EXPECT_EQ(r->identity.email, "alice@corp.example");
  EXPECT_EQ(idp_.requests("/userinfo"), 1);
}

TEST_F(Oidc, UserinfoForAnotherSubjectIsRefused) {
  idp_.setUserinfoSub("u-666");
  auto o = options();
  o.userinfo = true;
  auto p = make(o);
  EXPECT_EQ(errorCode(login(*p)), OAuthCode::kServerError);
}

TEST_F(Oidc, UserDenyingAtTheProviderIsAccessDenied) {
  idp_.setDenyAuthorization(true);
  auto p = make();
  auto r = login(*p);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, OAuthCode::kAccessDenied);
  EXPECT_EQ(r.error().description, "Sign-in at Corp SSO was cancelled or refused.");
  EXPECT_EQ(idp_.requests("/token"), 0);
}

TEST_F(Oidc, CallbackErrorsAreMapped) {
  auto p = make();
  const std::pair<const char*, OAuthCode> cases[] = {
      {"login_required", OAuthCode::kAccessDenied},
      {"consent_required", OAuthCode::kAccessDenied},
      {"temporarily_unavailable", OAuthCode::kTemporarilyUnavailable},
      {"server_error", OAuthCode::kTemporarilyUnavailable},
      {"invalid_scope", OAuthCode::kServerError},
      {"unauthorized_client", OAuthCode::kServerError},
  };
  for (const auto& [error, code] : cases) {
    EXPECT_EQ(errorCode(p->completeLogin({{{"error", error}, {"state", "s"}}, kCallback, ""})),
              code)
        << error;
  }
}

TEST_F(Oidc, ResponseFromAnotherIssuerIsRefused) {
  auto p = make();
  EXPECT_EQ(errorCode(login(*p, [](Callback& cb) { cb.params["iss"] = "https://mix-up.example"; })),
            OAuthCode::kAccessDenied);
  EXPECT_EQ(idp_.requests("/token"), 0);
}

TEST_F(Oidc, ReplayedCodeOrWrongVerifierIsAccessDenied) {
  auto p = make();
  auto pending = browserCallback(*p, "s", kCallback);
  ASSERT_TRUE(pending.ok());
  Callback cb = pending.value();
  ASSERT_TRUE(p->completeLogin(cb).ok());
  EXPECT_EQ(errorCode(p->completeLogin(cb)), OAuthCode::kAccessDenied);

  auto forged = login(*p, [](Callback& c) {
    auto data = json::parse(c.upstream_data);
    data["v"] = "another-verifier-another-verifier-another-ve";
    c.upstream_data = data.dump();
  });
  ASSERT_FALSE(forged.ok());
  EXPECT_EQ(forged.error().code, OAuthCode::kAccessDenied);
}

TEST_F(Oidc, NonceFromAnotherLoginIsRefused) {
  auto p = make();
  auto first = p->beginLogin({"s1", kCallback});
  auto second = p->beginLogin({"s2", kCallback});
  ASSERT_TRUE(first.ok() && second.ok());
  Callback cb{followAuthorize(first->url), kCallback, second->upstream_data};
  auto r = p->completeLogin(cb);
  ASSERT_FALSE(r.ok());
  // The verifier of the other login fails first at the provider; either way nothing is accepted.
  EXPECT_NE(r.error().code, OAuthCode::kTemporarilyUnavailable);
}

TEST_F(Oidc, WrongClientSecretIsServerError) {
  auto o = options();
  o.client_secret = Secret("wrong");
  auto p = make(o);
  auto r = login(*p);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, OAuthCode::kServerError);
  EXPECT_NE(r.error().debug.find("invalid_client"), std::string::npos);
}

TEST_F(Oidc, ClientSecretBasicIsTheDefault) {
  auto p = make();
  ASSERT_TRUE(login(*p).ok());
  EXPECT_EQ(idp_.lastClientAuth(), "client_secret_basic");
  auto o = options();
  o.token_endpoint_auth_method = "client_secret_post";
  auto post = make(o);
  ASSERT_TRUE(login(*post).ok());
  EXPECT_EQ(idp_.lastClientAuth(), "client_secret_post");
}

class OidcPostOnly : public Oidc {
 protected:
  OidcPostOnly()
      : Oidc([] {
          FakeOidcOptions o;
          o.auth_methods = {"client_secret_post"};
          return o;
        }()) {}
};

TEST_F(OidcPostOnly, ClientSecretPostWhenThatIsAllTheProviderOffers) {
  auto p = make();
  ASSERT_TRUE(login(*p).ok());
  EXPECT_EQ(idp_.lastClientAuth(), "client_secret_post");
}

TEST_F(Oidc, ProviderDownIsTemporarilyUnavailable) {
  idp_.setDown(true);
  auto p = make();
  EXPECT_EQ(errorCode(p->beginLogin({"s", kCallback})), OAuthCode::kTemporarilyUnavailable);
}

TEST_F(Oidc, SlowTokenEndpointTimesOutWithoutHanging) {
  auto p = make();
  auto pending = browserCallback(*p, "s", kCallback);
  ASSERT_TRUE(pending.ok());
  Callback cb = pending.value();
  idp_.setSlow(5000);
  auto started = std::chrono::steady_clock::now();
  auto r = p->completeLogin(cb);
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::milliseconds(3000));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, OAuthCode::kTemporarilyUnavailable);
}

TEST_F(Oidc, TokenEndpointErrorsAreMapped) {
  auto p = make();
  idp_.setTokenError("temporarily_unavailable");
  EXPECT_EQ(errorCode(login(*p)), OAuthCode::kTemporarilyUnavailable);
  idp_.setTokenError("unauthorized_client");
  EXPECT_EQ(errorCode(login(*p)), OAuthCode::kServerError);
}

TEST_F(Oidc, RefreshRereadsGroupsAfterTheCacheTtl) {
  auto p = make();
  auto r = login(*p);
  ASSERT_TRUE(r.ok());
  ASSERT_FALSE(r->session_data.empty());
  auto removed = aliceClaims();
  removed["groups"] = {"eng"};
  idp_.setClaims(removed);

  auto cached = p->refreshIdentity(r->identity, r->session_data);
  ASSERT_TRUE(cached.ok());
  EXPECT_EQ(cached->identity.groups, r->identity.groups);
  EXPECT_EQ(idp_.requests("/token"), 1);

  clock_.advance(601);
  auto fresh = p->refreshIdentity(r->identity, r->session_data);
  ASSERT_TRUE(fresh.ok()) << fresh.error().debug;
  EXPECT_EQ(fresh->identity.groups, (std::vector<std::string>{"eng"}));
  EXPECT_NE(fresh->session_data, r->session_data);  // the provider rotated its refresh token

  clock_.advance(601);
  auto next = p->refreshIdentity(fresh->identity, fresh->session_data);
  ASSERT_TRUE(next.ok()) << next.error().debug;
}

TEST_F(Oidc, RevokedRefreshTokenDeniesTheRefresh) {
  auto p = make();
  auto r = login(*p);
  ASSERT_TRUE(r.ok());
  idp_.revokeRefreshTokens();
  clock_.advance(601);
  EXPECT_EQ(errorCode(p->refreshIdentity(r->identity, r->session_data)), OAuthCode::kAccessDenied);
}

TEST_F(Oidc, RefreshWithABadIdTokenIsRefused) {
  auto p = make();
  auto r = login(*p);
  ASSERT_TRUE(r.ok());
  idp_.setIdTokenFault(IdTokenFault::kWrongAudience);
  clock_.advance(601);
  EXPECT_EQ(errorCode(p->refreshIdentity(r->identity, r->session_data)), OAuthCode::kServerError);
}

TEST_F(Oidc, ProviderDownAtRefreshIsTemporarilyUnavailable) {
  auto p = make();
  auto r = login(*p);
  ASSERT_TRUE(r.ok());
  idp_.setDown(true);
  clock_.advance(601);
  EXPECT_EQ(errorCode(p->refreshIdentity(r->identity, r->session_data)),
            OAuthCode::kTemporarilyUnavailable);
}

class OidcNoRefreshTokens : public Oidc {
 protected:
  OidcNoRefreshTokens()
      : Oidc([] {
          FakeOidcOptions o;
          o.refresh_tokens = false;
          return o;
        }()) {}
};

TEST_F(OidcNoRefreshTokens, IdentityStandsWhenTheProviderGaveNoRefreshToken) {
  auto p = make();
  auto r = login(*p);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->session_data, "");
  clock_.advance(601);
  auto refreshed = p->refreshIdentity(r->identity, r->session_data);
  ASSERT_TRUE(refreshed.ok());
  EXPECT_EQ(refreshed->identity.groups, r->identity.groups);
  EXPECT_EQ(idp_.requests("/token"), 1);
}

config::UpstreamSettings settings(const json& j) {
  config::UpstreamSettings s;
  s.id = "corp";
  s.type = "oidc";
  s.display_name = "Corp SSO";
  s.settings_json = j.dump();
  s.source = "broker.yaml:20";
  return s;
}

TEST(OidcSettings, ParsesEveryKey) {
  auto o = parseOidcSettings(
      settings({{"issuer", "https://login.example.com/realms/corp"},
                {"client_id", "broker"},
                {"client_secret", "s3"},
                {"scopes", {"openid", "email", "offline_access"}},
                {"claims", {{"username", "upn"}, {"groups", "realm_access.roles"}}},
                {"insecure_skip_email_verified", true},
                {"require_verified_email", true},
                {"userinfo", true},
                {"auth_params", {{"prompt", "select_account"}}},
                {"token_endpoint_auth_method", "client_secret_post"},
                {"membership_cache_ttl", "5m"},
                {"timeout", 3}}));
  EXPECT_EQ(o.issuer, "https://login.example.com/realms/corp");
  EXPECT_EQ(o.display_name, "Corp SSO");
  EXPECT_EQ(o.scopes, (std::vector<std::string>{"openid", "email", "offline_access"}));
  EXPECT_EQ(o.username_claim, "upn");
  EXPECT_EQ(o.email_claim, "email");
  EXPECT_EQ(o.groups_claim, "realm_access.roles");
  EXPECT_TRUE(o.insecure_skip_email_verified);
  EXPECT_TRUE(o.require_verified_email);
  EXPECT_TRUE(o.userinfo);
  EXPECT_EQ(o.auth_params.at("prompt"), "select_account");
  EXPECT_EQ(o.token_endpoint_auth_method, "client_secret_post");
  EXPECT_EQ(o.membership_cache_ttl, 300);
  EXPECT_EQ(o.http.timeout_ms, 3000);
}

TEST(OidcSettings, IssuerIsKeptAsWrittenAndDefaultsApply) {
  auto o = parseOidcSettings(settings(
      {{"issuer", "https://tenant.auth0.example/"}, {"client_id", "c"}, {"client_secret", "s"}}));
  EXPECT_EQ(o.issuer, "https://tenant.auth0.example/");
  EXPECT_EQ(o.scopes, (std::vector<std::string>{"openid", "email", "profile"}));
  EXPECT_EQ(o.username_claim, "preferred_username");
  EXPECT_FALSE(o.insecure_skip_email_verified);
}

TEST(OidcSettings, PublicClientNeedsNoSecret) {
  auto o = parseOidcSettings(settings({{"issuer", "https://idp.example"},
                                       {"client_id", "c"},
                                       {"token_endpoint_auth_method", "none"}}));
  EXPECT_TRUE(o.client_secret.empty());
}

TEST(OidcSettings, BadSettingsNameTheSourceAndKey) {
  const json base = {{"issuer", "https://idp.example"}, {"client_id", "c"}, {"client_secret", "s"}};
  auto with = [&](const json& patch) {
    json j = base;
    j.merge_patch(patch);
    return j;
  };
  const std::pair<json, std::string> cases[] = {
      {with({{"issuer", nullptr}}), "broker.yaml:20: upstreams.corp.issuer: required"},
      {with({{"issuer", "http://idp.example"}}), "upstreams.corp.issuer: must be https"},
      {with({{"issuer", "https://idp.example?x=1"}}), "upstreams.corp.issuer"},
      {with({{"client_secret", nullptr}}),
       "upstreams.corp.client_secret: required (or set "
       "CORP_CLIENT_SECRET)"},
      {with({{"scopes", "email profile"}}), "upstreams.corp.scopes: must include openid"},
      {with({{"claims", {{"role", "x"}}}}), "upstreams.corp.claims.role: unknown"},
      {with({{"claims", {{"groups", ""}}}}), "upstreams.corp.claims.groups: must not be empty"},
      {with({{"claims", "groups"}}), "upstreams.corp.claims: expected a mapping"},
      {with({{"auth_params", {{"nonce", "x"}}}}), "upstreams.corp.auth_params.nonce"},
      {with({{"token_endpoint_auth_method", "private_key_jwt"}}),
       "upstreams.corp.token_endpoint_auth_method"},
      {with({{"jwks_uri", "http://keys.example"}}), "upstreams.corp.jwks_uri: must be https"},
      {with({{"timeout", "0s"}}), "upstreams.corp.timeout: must be between"},
      {with({{"userinfo", 1}}), "upstreams.corp.userinfo: expected true or false"},
      {with({{"groups_claim", "g"}}),
       "upstreams.corp.groups_claim: unknown key (expected one of: issuer, "},
  };
  for (const auto& [j, message] : cases) {
    std::string error = configErrorOf([&] { (void)parseOidcSettings(settings(j)); });
    EXPECT_NE(error.find(message), std::string::npos) << j.dump() << ": " << error;
  }
}

namespace oc = oauth_client;

TEST(OidcOAuthClient, SingleFlightRunsOnceForConcurrentCallers) {
  oc::SingleFlight<int> flights;
  std::atomic<int> runs{0};
  std::atomic<int> sum{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&] {
      sum += flights.run(
          "k", 100,
          [&] {
            ++runs;
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
            return 7;
          },
          [](const int&) { return true; });
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(runs.load(), 1);
  EXPECT_EQ(sum.load(), 56);
  // Kept for two minutes, then forgotten.
  EXPECT_EQ(flights.run(
                "k", 200, [] { return 8; }, [](const int&) { return true; }),
            7);
  EXPECT_EQ(flights.run(
                "k", 400, [] { return 9; }, [](const int&) { return true; }),
            9);
}

TEST(OidcOAuthClient, SingleFlightForgetsResultsItShouldNotKeep) {
  oc::SingleFlight<int> flights;
  EXPECT_EQ(flights.run(
                "k", 0, [] { return -1; }, [](const int& v) { return v > 0; }),
            -1);
  EXPECT_EQ(flights.run(
                "k", 0, [] { return 5; }, [](const int& v) { return v > 0; }),
            5);
}

TEST(OidcOAuthClient, TtlCacheExpiresAndStaysBounded) {
  oc::TtlCache<int> cache(3);
  cache.put("a", 1, 110, 100);
  EXPECT_EQ(cache.get("a", 109).value_or(0), 1);
  EXPECT_FALSE(cache.get("a", 110));
  for (int i = 0; i < 10; ++i) cache.put("k" + std::to_string(i), i, 1000, 100);
  int kept = 0;
  for (int i = 0; i < 10; ++i) kept += cache.get("k" + std::to_string(i), 100) ? 1 : 0;
  EXPECT_LE(kept, 3);
  EXPECT_TRUE(cache.get("k9", 100));
}

TEST(OidcOAuthClient, TransportFailuresMapToTheUserFacingErrors) {
  auto down = oc::transportFailure("X", "call", Error::unavailable("timeout"));
  EXPECT_EQ(down.code, OAuthCode::kTemporarilyUnavailable);
  auto tls = oc::transportFailure("X", "call", Error::internal("SSL certificate problem"));
  EXPECT_EQ(tls.code, OAuthCode::kServerError);
  EXPECT_EQ(oc::statusFailure("X", "c", 502).code, OAuthCode::kTemporarilyUnavailable);
  EXPECT_EQ(oc::statusFailure("X", "c", 429).code, OAuthCode::kTemporarilyUnavailable);
  EXPECT_EQ(oc::statusFailure("X", "c", 404).code, OAuthCode::kServerError);
}

}  // namespace
}  // namespace broker::upstream
