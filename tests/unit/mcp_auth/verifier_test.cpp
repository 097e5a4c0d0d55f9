// The verification library for MCP servers, exercised the way a resource server uses it: tokens
// signed by the broker's signer, keys from a JWKS document, time from a fake clock.

#include "mcp_auth/verifier.h"

#include <gtest/gtest.h>

#include <atomic>
#include <nlohmann/json.hpp>

#include "broker/token/access_token.h"
#include "fakes/token_mutations.h"
#include "fakes/token_test_keys.h"

namespace mcp_auth {
namespace {

using nlohmann::json;

constexpr char kIssuer[] = "https://auth.example";
constexpr char kResource[] = "https://mcp.example/mcp";
constexpr char kMetadata[] = "https://mcp.example/.well-known/oauth-protected-resource/mcp";
constexpr int64_t kNow = 1'700'000'000;

std::string jwksOf(const broker::token::SigningKey& key, const std::string& kid) {
  return "{\"keys\":[" + key.publicJwk(kid) + "]}";
}

// Every case runs for tokens signed RS256 and ES256.
class VerifierTest : public ::testing::TestWithParam<broker::token::SigningAlg> {
 protected:
  broker::token::AccessTokenClaims claims() const {
    broker::token::AccessTokenClaims c;
    c.iss = kIssuer;
    c.sub = "dev:alice";
    c.aud = {kResource, "mcp:example.com:files"};
    c.scope = "mcp:example.com:files";
    c.client_id = "client-1";
    c.iat = kNow;
    c.exp = kNow + 600;
    c.jti = "jti-1";
    c.preferred_username = "alice";
    c.email = "alice@example.com";
    return c;
  }

  std::string sign(const broker::token::AccessTokenClaims& c) const {
    auto t = broker::token::signAccessToken(*key_, kid_, c);
    EXPECT_TRUE(t.ok());
    return t.ok() ? *t : std::string();
  }
  std::string signRaw(const json& header, const json& payload) const {
    std::string input = base64urlEncode(header.dump()) + "." + base64urlEncode(payload.dump());
    return input + "." + base64urlEncode(*key_->sign(input));
  }

  std::shared_ptr<Verifier> verifier(std::vector<std::string> scopes = {"mcp:example.com:files"},
                                     std::string resource = kResource) {
    VerifierOptions o;
    o.issuer = kIssuer;
    o.resource = std::move(resource);
    o.resource_metadata_url = kMetadata;
    o.required_scopes = std::move(scopes);
    o.leeway = 30;
    JwksOptions jo;
    jo.jwks_uri = std::string(kIssuer) + "/.well-known/jwks.json";
    jwks_ = JwksCache::create(
        jo,
        [this](const std::string& url) {
          ++fetches_;
          last_url_ = url;
          HttpResponse r;
          r.ok = true;
          r.status = 200;
          r.body = jwks_body_;
          return r;
        },
        [this] { return now_.load(); });
    auto cache = jwks_;
    return Verifier::create(
        o, [cache](const std::string& kid) { return cache->key(kid); },
        [this] { return now_.load(); });
  }

  std::shared_ptr<const broker::token::SigningKey> key_ =
      GetParam() == broker::token::SigningAlg::kES256 ? broker::testing::es256TestKey()
                                                      : broker::testing::tokenTestKey();
  std::string kid_ = key_->thumbprint();
  std::string jwks_body_ = jwksOf(*key_, kid_);
  std::shared_ptr<JwksCache> jwks_;
  std::atomic<int64_t> now_{kNow};
  int fetches_ = 0;
  std::string last_url_;
};

INSTANTIATE_TEST_SUITE_P(Algorithms, VerifierTest,
                         ::testing::Values(broker::token::SigningAlg::kRS256,
                                           broker::token::SigningAlg::kES256),
                         [](const auto& info) {
                           return std::string(broker::token::algName(info.param));
                         });

TEST_P(VerifierTest, GoodTokenIsAcceptedWithItsClaims) {
  auto v = verifier()->verify(sign(claims()));
  ASSERT_TRUE(v.ok()) << toString(v.status);
  EXPECT_EQ(v.httpStatus(), 200);
  EXPECT_EQ(v.claims.sub, "dev:alice");
  EXPECT_EQ(v.claims.preferred_username, "alice");
  EXPECT_EQ(v.claims.email, "alice@example.com");
  EXPECT_EQ(v.claims.client_id, "client-1");
  EXPECT_EQ(last_url_, "https://auth.example/.well-known/jwks.json");
}

TEST_P(VerifierTest, EveryBitFlipOfAGoodSignatureFails) {
  auto ver = verifier();
  const std::string token = sign(claims());
  ASSERT_TRUE(ver->verify(token).ok());
  const size_t dot = token.rfind('.');
  const std::string input = token.substr(0, dot + 1);
  broker::testing::forEachBitFlip(
      *base64urlDecode(token.substr(dot + 1)), [&](const std::string& sig, size_t i, int bit) {
        auto v = ver->verify(input + base64urlEncode(sig));
        EXPECT_EQ(v.status, JwtStatus::kBadSignature) << "byte " << i << " bit " << bit;
        EXPECT_EQ(v.outcome, Outcome::kInvalidToken);
      });
}

TEST_P(VerifierTest, EveryTruncationOfAGoodTokenFails) {
  auto ver = verifier();
  const std::string token = sign(claims());
  broker::testing::forEachTruncation(
      token, [&](const std::string& t) { EXPECT_FALSE(ver->verify(t).ok()) << t.size(); });
}

TEST_P(VerifierTest, EveryBitFlipOfTheSignedPartFails) {
  auto ver = verifier();
  const std::string token = sign(claims());
  const size_t d2 = token.rfind('.');
  const std::string sig = token.substr(d2);
  broker::testing::forEachBitFlip(
      token.substr(0, d2), [&](const std::string& input, size_t i, int bit) {
        EXPECT_FALSE(ver->verify(input + sig).ok()) << "char " << i << " bit " << bit;
      });
}

TEST_P(VerifierTest, AlgorithmIsRs256OrEs256) {
  auto ver = verifier();
  const json payload = json::parse(claims().toJson());
  for (const char* alg : {"none", "HS256", "RS512", "PS256", "rs256", "ES384", "ES256K", "es256"}) {
    auto token = signRaw({{"alg", alg}, {"typ", "at+jwt"}, {"kid", kid_}}, payload);
    EXPECT_EQ(ver->verify(token).status, JwtStatus::kUnsupportedAlg) << alg;
  }
  const std::string unsigned_token = base64urlEncode(R"({"alg":"none","typ":"at+jwt"})") + "." +
                                     base64urlEncode(payload.dump()) + ".";
  EXPECT_EQ(ver->verify(unsigned_token).status, JwtStatus::kUnsupportedAlg);
}

TEST_P(VerifierTest, TypeMustBeAtJwt) {
  auto ver = verifier();
  const json payload = json::parse(claims().toJson());
  EXPECT_EQ(ver->verify(signRaw({{"alg", key_->alg()}, {"kid", kid_}}, payload)).status,
            JwtStatus::kWrongType);
  EXPECT_EQ(
      ver->verify(signRaw({{"alg", key_->alg()}, {"typ", "JWT"}, {"kid", kid_}}, payload)).status,
      JwtStatus::kWrongType);
  EXPECT_TRUE(
      ver->verify(
             signRaw({{"alg", key_->alg()}, {"typ", "application/AT+JWT"}, {"kid", kid_}}, payload))
          .ok());
}

TEST_P(VerifierTest, IssuerIsComparedByteForByte) {
  auto ver = verifier();
  auto c = claims();
  c.iss = std::string(kIssuer) + "/";
  EXPECT_EQ(ver->verify(sign(c)).status, JwtStatus::kWrongIssuer);
  c.iss = "https://AUTH.example";
  EXPECT_EQ(ver->verify(sign(c)).status, JwtStatus::kWrongIssuer);
}

TEST_P(VerifierTest, ExpiryAndNotBeforeHonourTheLeeway) {
  auto ver = verifier();
  const std::string token = sign(claims());
  now_ = kNow + 600 + 29;
  EXPECT_TRUE(ver->verify(token).ok());
  now_ = kNow + 600 + 30;
  EXPECT_EQ(ver->verify(token).status, JwtStatus::kExpired);

  now_ = kNow;
  auto payload = json::parse(claims().toJson());
  payload["nbf"] = kNow + 31;
  EXPECT_EQ(ver->verify(signRaw({{"alg", key_->alg()}, {"typ", "at+jwt"}, {"kid", kid_}}, payload))
                .status,
            JwtStatus::kNotYetValid);
  payload["nbf"] = kNow + 30;
  EXPECT_TRUE(
      ver->verify(signRaw({{"alg", key_->alg()}, {"typ", "at+jwt"}, {"kid", kid_}}, payload)).ok());
}

TEST_P(VerifierTest, AudienceIsTheCanonicalResourceToleratingATrailingSlash) {
  auto c = claims();
  c.aud = {"HTTPS://MCP.example:443/mcp/"};
  EXPECT_TRUE(verifier()->verify(sign(c)).ok());
  EXPECT_TRUE(
      verifier({"mcp:example.com:files"}, "https://mcp.example/mcp/")->verify(sign(claims())).ok());
  c.aud = {"https://mcp.example/other", "mcp:example.com:files"};
  EXPECT_EQ(verifier()->verify(sign(c)).status, JwtStatus::kWrongAudience);
  c.aud = {"https://mcp.example/mcp/x"};
  EXPECT_EQ(verifier()->verify(sign(c)).status, JwtStatus::kWrongAudience);
  c.aud = {"https://mcp.example:8443/mcp"};
  EXPECT_EQ(verifier()->verify(sign(c)).status, JwtStatus::kWrongAudience);
}

// What the broker issues to a client that sent no `resource`: the server's scope identifier as
// the only audience. It names no resource, so no MCP server accepts it (RFC 8707, MCP
// authorization: the token must be issued for this server as audience); /forward-auth agrees.
TEST_P(VerifierTest, ATokenWhoseAudienceIsOnlyTheScopeIdentifierIsRefused) {
  auto c = claims();
  c.aud = {"mcp:example.com:files"};
  auto v = verifier()->verify(sign(c));
  EXPECT_EQ(v.status, JwtStatus::kWrongAudience);
  EXPECT_EQ(v.outcome, Outcome::kInvalidToken);
  EXPECT_EQ(v.httpStatus(), 401);
  EXPECT_NE(verifier()->challenge(v).find("error=\"invalid_token\""), std::string::npos);
}

TEST_P(VerifierTest, MissingRequiredClaimIsRefused) {
  auto ver = verifier();
  for (const char* name : {"iss", "sub", "exp", "jti", "client_id"}) {
    auto payload = json::parse(claims().toJson());
    payload.erase(name);
    auto v =
        ver->verify(signRaw({{"alg", key_->alg()}, {"typ", "at+jwt"}, {"kid", kid_}}, payload));
    EXPECT_FALSE(v.ok()) << name;
  }
}

TEST_P(VerifierTest, ABroaderScopeSatisfiesANarrowerOne) {
  auto c = claims();
  c.scope = "mcp:example.com:files";
  EXPECT_TRUE(verifier({"mcp:example.com:files:read"})->verify(sign(c)).ok());
  c.scope = "mcp:example.com:files:read";
  auto v = verifier({"mcp:example.com:files"})->verify(sign(c));
  EXPECT_EQ(v.outcome, Outcome::kInsufficientScope);
  EXPECT_EQ(v.httpStatus(), 403);
  EXPECT_EQ(v.missing_scope, "mcp:example.com:files");
}

TEST(Scopes, SatisfactionStopsAtColonBoundaries) {
  EXPECT_TRUE(scopeSatisfies("mcp:d:s", "mcp:d:s"));
  EXPECT_TRUE(scopeSatisfies("mcp:d:s", "mcp:d:s:read"));
  EXPECT_FALSE(scopeSatisfies("mcp:d:s", "mcp:d:s2"));
  EXPECT_FALSE(scopeSatisfies("mcp:d:s", "mcp:d"));
  EXPECT_FALSE(scopeSatisfies("mcp:d:s:read", "mcp:d:s"));
  EXPECT_FALSE(scopeSatisfies("", "mcp:d:s"));
  EXPECT_FALSE(scopeSatisfies("mcp:d:s", "mcp:d:s:"));
  EXPECT_EQ(splitScopes("  a \tb  c "), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(missingScope({"a", "b:c"}, {"a:x", "b:c:d", "e"}), std::optional<std::string>("e"));
  EXPECT_EQ(missingScope({"a"}, {}), std::nullopt);
}

TEST_P(VerifierTest, ChallengesNameTheMetadataScopeAndError) {
  auto ver = verifier();
  auto none = ver->verifyAuthorization("");
  EXPECT_EQ(none.outcome, Outcome::kNoToken);
  EXPECT_EQ(ver->challenge(none), std::string("Bearer resource_metadata=\"") + kMetadata +
                                      "\", scope=\"mcp:example.com:files\"");
  auto bad = ver->verifyAuthorization("Bearer abc.def.ghi");
  EXPECT_EQ(bad.outcome, Outcome::kInvalidToken);
  EXPECT_NE(ver->challenge(bad).find(", error=\"invalid_token\""), std::string::npos);
  auto other_scheme = ver->verifyAuthorization("Basic dXNlcjpwYXNz");
  EXPECT_EQ(other_scheme.outcome, Outcome::kInvalidToken);

  auto c = claims();
  c.scope = "mcp:example.com:other";
  auto scope = ver->verifyAuthorization("bearer " + sign(c));
  EXPECT_EQ(scope.outcome, Outcome::kInsufficientScope);
  EXPECT_NE(ver->challenge(scope).find("error=\"insufficient_scope\""), std::string::npos);
  EXPECT_TRUE(ver->verifyAuthorization("Bearer  " + sign(claims()) + " ").ok());
}

TEST(WwwAuthenticate, QuotesAreEscapedAndControlsDropped) {
  Challenge c;
  c.realm = "a\"b\\c\r\nd";
  c.error = "invalid_token";
  EXPECT_EQ(buildWwwAuthenticate(c), "Bearer realm=\"a\\\"b\\\\cd\", error=\"invalid_token\"");
  EXPECT_EQ(buildWwwAuthenticate({}), "Bearer");
}

TEST(BearerToken, ParsesOnlyBearerToken68) {
  EXPECT_EQ(bearerToken("Bearer abc"), std::optional<std::string_view>("abc"));
  EXPECT_EQ(bearerToken("BEARER a.b-c_d~e+f/g=="),
            std::optional<std::string_view>("a.b-c_d~e+f/g=="));
  EXPECT_EQ(bearerToken("Bearer"), std::nullopt);
  EXPECT_EQ(bearerToken("Bearer "), std::nullopt);
  EXPECT_EQ(bearerToken("Bearerabc"), std::nullopt);
  EXPECT_EQ(bearerToken("Bearer a b"), std::nullopt);
  EXPECT_EQ(bearerToken("Bearer a\"b"), std::nullopt);
  EXPECT_EQ(bearerToken("Basic abc"), std::nullopt);
}

TEST_P(VerifierTest, UnknownKidRefetchesTheJwksAtMostOncePerInterval) {
  auto ver = verifier();
  const std::string token = sign(claims());
  ASSERT_TRUE(ver->verify(token).ok());
  EXPECT_EQ(fetches_, 1);
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(ver->verify(token).ok());
  EXPECT_EQ(fetches_, 1) << "a known kid is served from the cache";

  // A token signed by a key the JWKS does not list yet: one refetch, then rate-limited.
  auto other = broker::testing::otherTokenTestKey();
  auto c = claims();
  auto rotated = broker::token::signAccessToken(*other, "kid-2", c);
  ASSERT_TRUE(rotated.ok());
  now_ = kNow + 1;
  EXPECT_EQ(ver->verify(*rotated).status, JwtStatus::kUnknownKid);
  EXPECT_EQ(fetches_, 1) << "the last fetch is less than min_refetch_interval old";
  now_ = kNow + 31;
  jwks_body_ = json({{"keys",
                      {json::parse(jwksOf(*key_, kid_))["keys"][0],
                       json::parse(jwksOf(*other, "kid-2"))["keys"][0]}}})
                   .dump();
  EXPECT_TRUE(ver->verify(*rotated).ok());
  EXPECT_EQ(fetches_, 2);
  for (int i = 0; i < 5; ++i)
    EXPECT_EQ(ver->verify(signRaw({{"alg", key_->alg()}, {"typ", "at+jwt"}, {"kid", "nope"}},
                                  json::parse(c.toJson())))
                  .status,
              JwtStatus::kUnknownKid);
  EXPECT_EQ(fetches_, 2) << "unknown kids cannot make the verifier hammer the JWKS";
}

TEST_P(VerifierTest, StaleKeysAreRefetchedAfterTheirLifetimeAndKeptWhenTheFetchFails) {
  auto ver = verifier();
  const std::string token = sign(claims());
  ASSERT_TRUE(ver->verify(token).ok());
  now_ = kNow + 301;  // default_ttl 300
  jwks_body_ = "not json";
  EXPECT_TRUE(ver->verify(token).ok()) << "a failed refresh keeps the cached keys";
  EXPECT_EQ(fetches_, 2);
  jwks_body_ = R"({"keys":[]})";
  now_ = kNow + 301 + 31;
  EXPECT_EQ(ver->verify(token).status, JwtStatus::kUnknownKid) << "a removed key stops verifying";
  EXPECT_EQ(fetches_, 3);
}

TEST(Jwks, ParsesOnlyUsableRsaSigningKeys) {
  auto key = broker::testing::tokenTestKey();
  auto rsa = [&](json extra) {
    json k = {{"kty", "RSA"}, {"kid", "k"}, {"n", key->modulusB64()}, {"e", key->exponentB64()}};
    k.update(extra);
    return k;
  };
  json doc = {{"keys",
               {rsa({{"kid", "ok"}}), rsa({{"kid", "enc"}, {"use", "enc"}}),
                rsa({{"kid", "ps"}, {"alg", "PS256"}}), rsa({{"kid", "ok"}, {"e", "AQ"}}),
                json{{"kty", "EC"}, {"kid", "ec"}}, rsa({{"kid", "bad"}, {"n", "AQAB"}}),
                rsa({{"kid", ""}}), json("x")}}};
  auto keys = parseJwks(doc.dump());
  ASSERT_TRUE(keys);
  ASSERT_EQ(keys->size(), 1u);
  EXPECT_EQ((*keys)[0].kid, "ok");
  EXPECT_EQ((*keys)[0].key->bits(), 2048);
  EXPECT_FALSE(parseJwks(R"({"keys":{}})"));
  EXPECT_FALSE(parseJwks(R"({"keys":[],"keys":[]})"));
  EXPECT_FALSE(parseJwks("[]"));
}

TEST(Jwks, ParsesP256KeysForEs256Only) {
  auto key = broker::testing::es256TestKey();
  const json good = json::parse(key->publicJwk("k"));
  auto ec = [&](json extra) {
    json k = good;
    k.update(extra);
    return k;
  };
  // x of the generator point: a valid coordinate, but with this y not on the curve.
  const std::string gx = "axfR8uEsQkf4vOblY6RA8ncDfYEt6zOg9KE5RdiYwpY";
  json doc = {{"keys",
               {ec({{"kid", "ok"}}), ec({{"kid", "rs"}, {"alg", "RS256"}}),
                ec({{"kid", "p384"}, {"crv", "P-384"}}), ec({{"kid", "short"}, {"x", "AQAB"}}),
                ec({{"kid", "off-curve"}, {"x", gx}}), ec({{"kid", "enc"}, {"use", "enc"}}),
                ec({{"kid", "no-alg"}, {"alg", nullptr}})}}};
  doc["keys"].back().erase("alg");
  auto keys = parseJwks(doc.dump());
  ASSERT_TRUE(keys);
  ASSERT_EQ(keys->size(), 2u);
  EXPECT_EQ((*keys)[0].kid, "ok");
  EXPECT_STREQ((*keys)[0].key->alg(), "ES256");
  EXPECT_EQ((*keys)[0].key->bits(), 256);
  EXPECT_EQ((*keys)[1].kid, "no-alg");
  // The key verifies ES256 only: what it signed, not an RS256 check of the same bytes.
  const std::string sig = *key->sign("data");
  EXPECT_TRUE((*keys)[0].key->verify("data", sig));
  EXPECT_FALSE((*keys)[0].key->verifyRs256("data", sig));
  EXPECT_FALSE((*keys)[0].key->verify("datb", sig));
}

TEST(Jwks, CacheControlMaxAge) {
  bool no_store = false;
  EXPECT_EQ(parseMaxAge("public, max-age=600"), 600);
  EXPECT_EQ(parseMaxAge("s-maxage=60, max-age=600"), 60);
  EXPECT_EQ(parseMaxAge("MAX-AGE=\"7\""), 7);
  EXPECT_EQ(parseMaxAge("max-age=abc"), -1);
  EXPECT_EQ(parseMaxAge(""), -1);
  EXPECT_EQ(parseMaxAge("no-store", &no_store), -1);
  EXPECT_TRUE(no_store);
}

TEST(Jwks, DefaultFetcherRefusesPlainHttpUnlessAllowed) {
  auto get = curlHttpGet({});
  auto r = get("http://127.0.0.1:9/.well-known/jwks.json");
  EXPECT_FALSE(r.ok);
}

TEST(CanonicalResource, NormalisesCaseDefaultPortAndOneTrailingSlash) {
  EXPECT_EQ(canonicalResourceUri("HTTPS://Example.COM:443/MCP/"),
            std::optional<std::string>("https://example.com/MCP"));
  EXPECT_EQ(canonicalResourceUri("http://127.0.0.1:80/"),
            std::optional<std::string>("http://127.0.0.1"));
  EXPECT_EQ(canonicalResourceUri("http://[::1]:8080/x?q=1"),
            std::optional<std::string>("http://[::1]:8080/x?q=1"));
  EXPECT_FALSE(canonicalResourceUri("https://user@example.com/"));
  EXPECT_FALSE(canonicalResourceUri("https://example.com/#f"));
  EXPECT_FALSE(canonicalResourceUri("mcp:example.com:files"));
}

TEST(VerifierCreate, RefusesMissingIssuerOrResource) {
  VerifierOptions o;
  o.resource = kResource;
  EXPECT_THROW(Verifier::create(o), std::invalid_argument);
  o.issuer = kIssuer;
  o.resource = "not a uri";
  EXPECT_THROW(Verifier::create(o), std::invalid_argument);
}

}  // namespace
}  // namespace mcp_auth
