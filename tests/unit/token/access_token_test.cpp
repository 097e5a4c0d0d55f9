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

class AccessTokenTest : public ::testing::Test {
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

  // A token with any header, signed RS256 by the test key.
  std::string signRaw(const json& header, const json& payload) const {
    std::string input = base64urlEncode(header.dump()) + "." + base64urlEncode(payload.dump());
    return input + "." + base64urlEncode(*key_->signRs256(input));
  }

  json header(const char* alg = "RS256", const char* typ = "at+jwt") const {
    return {{"alg", alg}, {"typ", typ}, {"kid", kid_}};
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

  std::shared_ptr<const RsaKey> key_ = broker::testing::tokenTestKey();
  std::string kid_ = key_->thumbprint();
};

TEST_F(AccessTokenTest, SignedTokenVerifiesWithItsClaims) {
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

TEST_F(AccessTokenTest, EveryBitFlipOfTheSignatureFails) {
  const std::string token = sign(claims());
  const size_t dot = token.rfind('.');
  const std::string input = token.substr(0, dot + 1);
  testing::forEachBitFlip(
      *base64urlDecode(token.substr(dot + 1)), [&](const std::string& sig, size_t i, int bit) {
        EXPECT_EQ(verify(input + base64urlEncode(sig)), JwtStatus::kBadSignature)
            << "byte " << i << " bit " << bit;
      });
}

TEST_F(AccessTokenTest, EveryBitFlipOfHeaderOrPayloadFails) {
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

TEST_F(AccessTokenTest, EveryTruncationFails) {
  testing::forEachTruncation(sign(claims()), [&](const std::string& t) {
    EXPECT_NE(verify(t), JwtStatus::kOk) << t.size();
  });
}

TEST_F(AccessTokenTest, AlgNoneIsUnsupported) {
  const std::string unsecured =
      base64urlEncode(header("none").dump()) + "." + base64urlEncode(claims().toJson()) + ".";
  EXPECT_EQ(verify(unsecured), JwtStatus::kUnsupportedAlg);
  // Even with a valid RS256 signature over that input.
  EXPECT_EQ(verify(signRaw(header("none"), claimsJson())), JwtStatus::kUnsupportedAlg);
  EXPECT_EQ(verify(signRaw(json{{"typ", "at+jwt"}, {"kid", kid_}}, claimsJson())),
            JwtStatus::kUnsupportedAlg);
}

TEST_F(AccessTokenTest, Hs256KeyedWithThePublicKeyIsUnsupported) {
  const std::string input =
      base64urlEncode(header("HS256").dump()) + "." + base64urlEncode(claims().toJson());
  for (const std::string& secret : {broker::testing::publicPemOf(*key_), key_->modulusB64(),
                                    *base64urlDecode(key_->modulusB64())}) {
    const std::string forged = input + "." + base64urlEncode(hmacSha256(secret, input));
    EXPECT_EQ(verify(forged), JwtStatus::kUnsupportedAlg);
  }
}

TEST_F(AccessTokenTest, OtherRsaAlgorithmsAreUnsupported) {
  for (const char* alg : {"RS384", "RS512", "PS256", "rs256"}) {
    EXPECT_EQ(verify(signRaw(header(alg), claimsJson())), JwtStatus::kUnsupportedAlg) << alg;
  }
}

TEST_F(AccessTokenTest, TypeMustBeAtJwt) {
  for (const char* typ : {"JWT", "jwt", "", "at+jwt2", "application/jwt", "at-jwt"}) {
    EXPECT_EQ(verify(signRaw(header("RS256", typ), claimsJson())), JwtStatus::kWrongType) << typ;
  }
  EXPECT_EQ(verify(signRaw(json{{"alg", "RS256"}, {"kid", kid_}}, claimsJson())),
            JwtStatus::kWrongType);
  for (const char* typ : {"at+jwt", "AT+JWT", "application/at+jwt", "Application/At+JWT"}) {
    EXPECT_EQ(verify(signRaw(header("RS256", typ), claimsJson())), JwtStatus::kOk) << typ;
  }
}

TEST_F(AccessTokenTest, UnknownOrMissingKidIsRejected) {
  EXPECT_EQ(
      verify(signRaw(json{{"alg", "RS256"}, {"typ", "at+jwt"}, {"kid", "other"}}, claimsJson())),
      JwtStatus::kUnknownKid);
  EXPECT_EQ(verify(signRaw(json{{"alg", "RS256"}, {"typ", "at+jwt"}}, claimsJson())),
            JwtStatus::kUnknownKid);
  auto no_keys = verifyAccessToken(sign(claims()), KeyLookup(), options());
  ASSERT_FALSE(no_keys.ok());
  EXPECT_EQ(no_keys.error(), JwtStatus::kUnknownKid);
}

TEST_F(AccessTokenTest, KeyWithTheRightKidButOtherMaterialFailsTheSignature) {
  auto other = broker::testing::otherTokenTestKey();
  auto result = verifyAccessToken(
      sign(claims()), [&](const std::string&) { return other; }, options());
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error(), JwtStatus::kBadSignature);
}

TEST_F(AccessTokenTest, ExpiredOnceExpiryPlusLeewayHasPassed) {
  const std::string token = sign(claims());
  EXPECT_EQ(verify(token, options("", kNow + 600 + 29)), JwtStatus::kOk);
  EXPECT_EQ(verify(token, options("", kNow + 600 + 30)), JwtStatus::kExpired);
}

TEST_F(AccessTokenTest, IssuedOrStartingInTheFutureIsNotYetValid) {
  const std::string token = sign(claims());
  EXPECT_EQ(verify(token, options("", kNow - 30)), JwtStatus::kOk);
  EXPECT_EQ(verify(token, options("", kNow - 31)), JwtStatus::kNotYetValid);
  json payload = claimsJson();
  payload["nbf"] = kNow + 60;
  EXPECT_EQ(verify(signRaw(header(), payload)), JwtStatus::kNotYetValid);
  EXPECT_EQ(verify(signRaw(header(), payload), options("", kNow + 30)), JwtStatus::kOk);
}

TEST_F(AccessTokenTest, WrongIssuerIsRejected) {
  auto c = claims();
  c.iss = "https://evil.example";
  EXPECT_EQ(verify(sign(c)), JwtStatus::kWrongIssuer);
  c.iss = std::string(kIssuer) + "/";
  EXPECT_EQ(verify(sign(c)), JwtStatus::kWrongIssuer);
}

TEST_F(AccessTokenTest, AudienceIsCheckedOnlyWhenAsked) {
  auto c = claims();
  c.aud = {"https://mcp.example/api", "mcp:example:files"};
  const std::string token = sign(c);
  EXPECT_EQ(verify(token, options()), JwtStatus::kOk);
  EXPECT_EQ(verify(token, options("mcp:example:files")), JwtStatus::kOk);
  EXPECT_EQ(verify(token, options("mcp:example:mail")), JwtStatus::kWrongAudience);
  c.aud.clear();
  EXPECT_EQ(verify(sign(c), options("mcp:example:files")), JwtStatus::kWrongAudience);
}

TEST_F(AccessTokenTest, MissingRequiredClaimIsReported) {
  for (const char* name : {"iss", "sub", "exp", "jti", "client_id"}) {
    json payload = claimsJson();
    payload.erase(name);
    EXPECT_EQ(verify(signRaw(header(), payload)), JwtStatus::kMissingClaim) << name;
  }
}

TEST_F(AccessTokenTest, ClaimOfTheWrongTypeIsMalformed) {
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

TEST_F(AccessTokenTest, SignatureIsCheckedBeforeAnyClaim) {
  auto c = claims();
  c.iss = "https://evil.example";
  c.exp = kNow - 1000;
  const std::string token = sign(c);
  const std::string forged = token.substr(0, token.rfind('.') + 1) +
                             base64urlEncode(*broker::testing::otherTokenTestKey()->signRs256(
                                 token.substr(0, token.rfind('.'))));
  EXPECT_EQ(verify(forged), JwtStatus::kBadSignature);
  EXPECT_EQ(verify(token), JwtStatus::kWrongIssuer);
}

TEST_F(AccessTokenTest, GarbageNeverThrows) {
  for (const char* garbage : {"", ".", "a.b", "a.b.c", "a.b.c.d", "eyJ9.e30.", "e30.e30.e30"}) {
    JwtStatus status = JwtStatus::kOk;
    EXPECT_NO_THROW(status = verify(garbage)) << garbage;
    EXPECT_NE(status, JwtStatus::kOk) << garbage;
  }
}

TEST_F(AccessTokenTest, AudienceIsAStringForOneValueAndAnArrayOtherwise) {
  auto c = claims();
  EXPECT_EQ(json::parse(c.toJson())["aud"], "https://mcp.example/api");
  c.aud.push_back("mcp:example:files");
  EXPECT_EQ(json::parse(c.toJson())["aud"],
            json::array({"https://mcp.example/api", "mcp:example:files"}));
  c.aud.clear();
  EXPECT_FALSE(json::parse(c.toJson()).contains("aud"));
}

TEST_F(AccessTokenTest, EmptyOptionalClaimsAreOmitted) {
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

TEST_F(AccessTokenTest, ClaimsRoundTripThroughJson) {
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
