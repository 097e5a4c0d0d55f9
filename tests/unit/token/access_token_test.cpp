#include "broker/token/access_token.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "broker/core/crypto.h"
#include "broker/core/encoding.h"
#include "fakes/token_mutations.h"
#include "fakes/token_test_keys.h"

namespace broker::token {
namespace {

using nlohmann::json;

constexpr char kIssuer[] = "https://auth.example";
constexpr int64_t kNow = 1'700'000'000;

// Every case runs for both algorithms the broker signs with.
class AccessTokenTest : public ::testing::TestWithParam<SigningAlg> {
 protected:
  AccessTokenClaims claims() const {
    AccessTokenClaims c;
    c.iss = kIssuer;
    c.sub = "github:42";
    c.aud = {"https://mcp.example/api"};
    c.scope = "files:read files:write";
    c.client_id = "client-1";
    c.iat = kNow;
    c.exp = kNow + 600;
    c.jti = "jti-1";
    c.family_id = "family-1";
    c.preferred_username = "octocat";
    c.email = "octocat@example.com";
    c.idp = "github";
    c.groups = {"eng", "ops"};
    return c;
  }

  json claimsJson() const { return json::parse(claims().toJson()); }

  std::string sign(const AccessTokenClaims& c) const {
    auto token = signAccessToken(*key_, kid_, c);
    EXPECT_TRUE(token.ok());
    return token.ok() ? *token : std::string();
  }

  // A token with any header, signed by the test key with its own algorithm.
  std::string signRaw(const json& header, const json& payload) const {
    std::string input = base64urlEncode(header.dump()) + "." + base64urlEncode(payload.dump());
    return input + "." + base64urlEncode(*key_->sign(input));
  }

  // `alg` defaults to the test key's own.
  json header(const char* alg = nullptr, const char* typ = "at+jwt") const {
    return {{"alg", alg ? alg : key_->alg()}, {"typ", typ}, {"kid", kid_}};
  }

  KeyLookup lookup() const {
    return [this](const std::string& kid) { return kid == kid_ ? key_ : nullptr; };
  }

  VerifyOptions options(std::string audience = {}, int64_t now = kNow) const {
    VerifyOptions o;
    o.issuer = kIssuer;
    o.audience = std::move(audience);
    o.now = now;
    o.leeway = 30;
    return o;
  }

  JwtStatus verify(std::string_view token, const VerifyOptions& o) const {
    auto result = verifyAccessToken(token, lookup(), o);
    return result.ok() ? JwtStatus::kOk : result.error();
  }
  JwtStatus verify(std::string_view token) const { return verify(token, options()); }

  bool es256() const { return GetParam() == SigningAlg::kES256; }

  std::shared_ptr<const SigningKey> key_ =
      es256() ? broker::testing::es256TestKey() : broker::testing::tokenTestKey();
  // Another key of the same algorithm.
  std::shared_ptr<const SigningKey> other_ =
      es256() ? broker::testing::otherEs256TestKey() : broker::testing::otherTokenTestKey();
  std::string kid_ = key_->thumbprint();
};

INSTANTIATE_TEST_SUITE_P(Algorithms, AccessTokenTest,
                         ::testing::Values(SigningAlg::kRS256, SigningAlg::kES256),
                         [](const auto& info) { return std::string(algName(info.param)); });

TEST_P(AccessTokenTest, SignedTokenVerifiesWithItsClaims) {
  const std::string token = sign(claims());
  auto result = verifyAccessToken(token, lookup(), options("https://mcp.example/api"));
  ASSERT_TRUE(result.ok()) << toString(result.error());
  EXPECT_EQ(result->kid, kid_);
  EXPECT_EQ(result->payload_json, claims().toJson());
  const auto& c = result->claims;
  EXPECT_EQ(c.iss, kIssuer);
  EXPECT_EQ(c.sub, "github:42");
  EXPECT_EQ(c.aud, std::vector<std::string>{"https://mcp.example/api"});
  EXPECT_EQ(c.scope, "files:read files:write");
  EXPECT_EQ(c.client_id, "client-1");
  EXPECT_EQ(c.iat, kNow);
  EXPECT_EQ(c.exp, kNow + 600);
  EXPECT_EQ(c.jti, "jti-1");
  EXPECT_EQ(c.family_id, "family-1");
  EXPECT_EQ(c.preferred_username, "octocat");
  EXPECT_EQ(c.email, "octocat@example.com");
  EXPECT_EQ(c.idp, "github");
  EXPECT_EQ(c.groups, (std::vector<std::string>{"eng", "ops"}));
  EXPECT_EQ(decodeJwt(token)->typ, "at+jwt");
}

TEST_P(AccessTokenTest, EveryBitFlipOfTheSignatureFails) {
  const std::string token = sign(claims());
  const size_t dot = token.rfind('.');
  const std::string input = token.substr(0, dot + 1);
  testing::forEachBitFlip(
      *base64urlDecode(token.substr(dot + 1)), [&](const std::string& sig, size_t i, int bit) {
        EXPECT_EQ(verify(input + base64urlEncode(sig)), JwtStatus::kBadSignature)
            << "byte " << i << " bit " << bit;
      });
}

TEST_P(AccessTokenTest, EveryBitFlipOfHeaderOrPayloadFails) {
  const std::string token = sign(claims());
  ASSERT_EQ(verify(token), JwtStatus::kOk);
  const size_t d1 = token.find('.');
  const size_t d2 = token.rfind('.');
  const std::string sig = token.substr(d2);

  // The token as sent: flips of its characters.
  testing::forEachBitFlip(token.substr(0, d2), [&](const std::string& input, size_t i, int bit) {
    EXPECT_NE(verify(input + sig), JwtStatus::kOk) << "char " << i << " bit " << bit;
  });
  // The decoded JSON: flips that still re-encode as valid base64url reach the signature check.
  const std::string header_json = *base64urlDecode(token.substr(0, d1));
  const std::string payload_json = *base64urlDecode(token.substr(d1 + 1, d2 - d1 - 1));
  const std::string payload_b64 = token.substr(d1, d2 - d1);
  testing::forEachBitFlip(header_json, [&](const std::string& h, size_t i, int bit) {
    EXPECT_NE(verify(base64urlEncode(h) + payload_b64 + sig), JwtStatus::kOk)
        << "header byte " << i << " bit " << bit;
  });
  const std::string header_b64 = token.substr(0, d1 + 1);
  testing::forEachBitFlip(payload_json, [&](const std::string& p, size_t i, int bit) {
    EXPECT_NE(verify(header_b64 + base64urlEncode(p) + sig), JwtStatus::kOk)
        << "payload byte " << i << " bit " << bit;
  });
}

TEST_P(AccessTokenTest, EveryTruncationFails) {
  testing::forEachTruncation(sign(claims()), [&](const std::string& t) {
    EXPECT_NE(verify(t), JwtStatus::kOk) << t.size();
  });
}

TEST_P(AccessTokenTest, AlgNoneIsUnsupported) {
  const std::string unsecured =
      base64urlEncode(header("none").dump()) + "." + base64urlEncode(claims().toJson()) + ".";
  EXPECT_EQ(verify(unsecured), JwtStatus::kUnsupportedAlg);
  // Even with a valid signature over that input.
  EXPECT_EQ(verify(signRaw(header("none"), claimsJson())), JwtStatus::kUnsupportedAlg);
  EXPECT_EQ(verify(signRaw(json{{"typ", "at+jwt"}, {"kid", kid_}}, claimsJson())),
            JwtStatus::kUnsupportedAlg);
}

TEST_P(AccessTokenTest, Hs256KeyedWithThePublicKeyIsUnsupported) {
  const std::string input =
      base64urlEncode(header("HS256").dump()) + "." + base64urlEncode(claims().toJson());
  for (const std::string& secret : {broker::testing::publicPemOf(*key_), key_->publicJwk(kid_),
                                    key_->modulusB64(), *base64urlDecode(key_->modulusB64())}) {
    const std::string forged = input + "." + base64urlEncode(hmacSha256(secret, input));
    EXPECT_EQ(verify(forged), JwtStatus::kUnsupportedAlg);
  }
}

TEST_P(AccessTokenTest, OtherRsaAndEcdsaAlgorithmsAreUnsupported) {
  for (const char* alg :
       {"RS384", "RS512", "PS256", "rs256", "ES384", "ES512", "ES256K", "es256"}) {
    EXPECT_EQ(verify(signRaw(header(alg), claimsJson())), JwtStatus::kUnsupportedAlg) << alg;
  }
}

TEST_P(AccessTokenTest, TypeMustBeAtJwt) {
  for (const char* typ : {"JWT", "jwt", "", "at+jwt2", "application/jwt", "at-jwt"}) {
    EXPECT_EQ(verify(signRaw(header(nullptr, typ), claimsJson())), JwtStatus::kWrongType) << typ;
  }
  EXPECT_EQ(verify(signRaw(json{{"alg", key_->alg()}, {"kid", kid_}}, claimsJson())),
            JwtStatus::kWrongType);
  for (const char* typ : {"at+jwt", "AT+JWT", "application/at+jwt", "Application/At+JWT"}) {
    EXPECT_EQ(verify(signRaw(header(nullptr, typ), claimsJson())), JwtStatus::kOk) << typ;
  }
}

TEST_P(AccessTokenTest, UnknownOrMissingKidIsRejected) {
  EXPECT_EQ(verify(signRaw(json{{"alg", key_->alg()}, {"typ", "at+jwt"}, {"kid", "other"}},
                           claimsJson())),
            JwtStatus::kUnknownKid);
  EXPECT_EQ(verify(signRaw(json{{"alg", key_->alg()}, {"typ", "at+jwt"}}, claimsJson())),
            JwtStatus::kUnknownKid);
  auto no_keys = verifyAccessToken(sign(claims()), KeyLookup(), options());
  ASSERT_FALSE(no_keys.ok());
  EXPECT_EQ(no_keys.error(), JwtStatus::kUnknownKid);
}

// The key decides the algorithm: a token naming the other one, or a key of the other kind
// under the token's kid, never verifies (RFC 8725 §3.1).
TEST_P(AccessTokenTest, AKeyNeverVerifiesATokenOfTheOtherAlgorithm) {
  const char* other_alg = es256() ? "RS256" : "ES256";
  EXPECT_EQ(verify(signRaw(header(other_alg), claimsJson())), JwtStatus::kBadSignature);
  auto foreign = es256() ? broker::testing::tokenTestKey() : broker::testing::es256TestKey();
  const std::string input =
      base64urlEncode(header(other_alg).dump()) + "." + base64urlEncode(claimsJson().dump());
  const std::string by_foreign = input + "." + base64urlEncode(*foreign->sign(input));
  EXPECT_EQ(verify(by_foreign), JwtStatus::kBadSignature);  // our key under that kid
  auto swapped = verifyAccessToken(
      sign(claims()), [&](const std::string&) { return foreign; }, options());
  ASSERT_FALSE(swapped.ok());
  EXPECT_EQ(swapped.error(), JwtStatus::kBadSignature);
}

TEST_P(AccessTokenTest, KeyWithTheRightKidButOtherMaterialFailsTheSignature) {
  auto result = verifyAccessToken(
      sign(claims()), [&](const std::string&) { return other_; }, options());
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error(), JwtStatus::kBadSignature);
}

TEST_P(AccessTokenTest, ExpiredOnceExpiryPlusLeewayHasPassed) {
  const std::string token = sign(claims());
  EXPECT_EQ(verify(token, options("", kNow + 600 + 29)), JwtStatus::kOk);
  EXPECT_EQ(verify(token, options("", kNow + 600 + 30)), JwtStatus::kExpired);
}

TEST_P(AccessTokenTest, IssuedOrStartingInTheFutureIsNotYetValid) {
  const std::string token = sign(claims());
  EXPECT_EQ(verify(token, options("", kNow - 30)), JwtStatus::kOk);
  EXPECT_EQ(verify(token, options("", kNow - 31)), JwtStatus::kNotYetValid);
  json payload = claimsJson();
  payload["nbf"] = kNow + 60;
  EXPECT_EQ(verify(signRaw(header(), payload)), JwtStatus::kNotYetValid);
  EXPECT_EQ(verify(signRaw(header(), payload), options("", kNow + 30)), JwtStatus::kOk);
}

TEST_P(AccessTokenTest, WrongIssuerIsRejected) {
  auto c = claims();
  c.iss = "https://evil.example";
  EXPECT_EQ(verify(sign(c)), JwtStatus::kWrongIssuer);
  c.iss = std::string(kIssuer) + "/";
  EXPECT_EQ(verify(sign(c)), JwtStatus::kWrongIssuer);
}

TEST_P(AccessTokenTest, AudienceIsCheckedOnlyWhenAsked) {
  auto c = claims();
  c.aud = {"https://mcp.example/api", "mcp:example:files"};
  const std::string token = sign(c);
  EXPECT_EQ(verify(token, options()), JwtStatus::kOk);
  EXPECT_EQ(verify(token, options("mcp:example:files")), JwtStatus::kOk);
  EXPECT_EQ(verify(token, options("mcp:example:mail")), JwtStatus::kWrongAudience);
  c.aud.clear();
  EXPECT_EQ(verify(sign(c), options("mcp:example:files")), JwtStatus::kWrongAudience);
}

TEST_P(AccessTokenTest, MissingRequiredClaimIsReported) {
  for (const char* name : {"iss", "sub", "exp", "jti", "client_id"}) {
    json payload = claimsJson();
    payload.erase(name);
    EXPECT_EQ(verify(signRaw(header(), payload)), JwtStatus::kMissingClaim) << name;
  }
}

TEST_P(AccessTokenTest, ClaimOfTheWrongTypeIsMalformed) {
  const std::vector<std::pair<const char*, json>> bad = {
      {"exp", "1700000600"},
      {"exp", 1.7e9},
      {"iat", json::array()},
      {"exp", UINT64_MAX},
      {"aud", 5},
      {"aud", json::array({"a", 1})},
      {"groups", "eng"},
      {"sub", json(nullptr)},
      {"scope", json::object()},
  };
  for (const auto& [name, value] : bad) {
    json payload = claimsJson();
    payload[name] = value;
    EXPECT_EQ(verify(signRaw(header(), payload)), JwtStatus::kMalformed) << name << value;
  }
}

TEST_P(AccessTokenTest, SignatureIsCheckedBeforeAnyClaim) {
  auto c = claims();
  c.iss = "https://evil.example";
  c.exp = kNow - 1000;
  const std::string token = sign(c);
  const std::string forged = token.substr(0, token.rfind('.') + 1) +
                             base64urlEncode(*other_->sign(token.substr(0, token.rfind('.'))));
  EXPECT_EQ(verify(forged), JwtStatus::kBadSignature);
  EXPECT_EQ(verify(token), JwtStatus::kWrongIssuer);
}

TEST_P(AccessTokenTest, GarbageNeverThrows) {
  for (const char* garbage : {"", ".", "a.b", "a.b.c", "a.b.c.d", "eyJ9.e30.", "e30.e30.e30"}) {
    JwtStatus status = JwtStatus::kOk;
    EXPECT_NO_THROW(status = verify(garbage)) << garbage;
    EXPECT_NE(status, JwtStatus::kOk) << garbage;
  }
}

TEST_P(AccessTokenTest, AudienceIsAStringForOneValueAndAnArrayOtherwise) {
  auto c = claims();
  EXPECT_EQ(json::parse(c.toJson())["aud"], "https://mcp.example/api");
  c.aud.push_back("mcp:example:files");
  EXPECT_EQ(json::parse(c.toJson())["aud"],
            json::array({"https://mcp.example/api", "mcp:example:files"}));
  c.aud.clear();
  EXPECT_FALSE(json::parse(c.toJson()).contains("aud"));
}

TEST_P(AccessTokenTest, EmptyOptionalClaimsAreOmitted) {
  auto c = claims();
  c.email.clear();
  c.groups.clear();
  c.preferred_username.clear();
  json j = json::parse(c.toJson());
  EXPECT_FALSE(j.contains("email"));
  EXPECT_FALSE(j.contains("groups"));
  EXPECT_FALSE(j.contains("preferred_username"));
  EXPECT_EQ(j["fid"], "family-1");
  EXPECT_EQ(j["client_id"], "client-1");
}

TEST_P(AccessTokenTest, ClaimsRoundTripThroughJson) {
  auto back = AccessTokenClaims::fromJson(claims().toJson());
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(back->toJson(), claims().toJson());
  auto single = AccessTokenClaims::fromJson(R"({"aud":"one"})");
  ASSERT_TRUE(single.ok());
  EXPECT_EQ(single->aud, std::vector<std::string>{"one"});
  EXPECT_FALSE(AccessTokenClaims::fromJson("[]").ok());
  EXPECT_FALSE(AccessTokenClaims::fromJson("").ok());
  EXPECT_FALSE(AccessTokenClaims::fromJson(R"({"sub":"a","sub":"b"})").ok());
}

}  // namespace
}  // namespace broker::token
