// ID token verification as pure functions: RS256 and ES256 signatures (every bit of a good
// signature flipped must fail), algorithm confusion, key selection, JWK Set parsing, and each claim
// rule of OIDC Core §3.1.3.7.

#include "upstream/oidc/id_token.h"

#include <gtest/gtest.h>
#include <openssl/bn.h>
#include <openssl/evp.h>

#include "broker/core/crypto.h"
#include "broker/core/encoding.h"
#include "fakes/fake_oidc.h"
#include "fakes/token_mutations.h"

namespace broker::upstream::oidc {
namespace {

using broker::testing::rawJws;
using broker::testing::TestSigningKey;
using nlohmann::json;

constexpr int64_t kNow = 1'700'000'000;
constexpr const char* kIssuer = "https://idp.example.com";
constexpr const char* kClient = "client-1";

// RSA key generation is slow; every test shares these.
const TestSigningKey& rsaKey() {
  static const TestSigningKey k = TestSigningKey::generate("RS256", "rsa-1");
  return k;
}
const TestSigningKey& ecKey() {
  static const TestSigningKey k = TestSigningKey::generate("ES256", "ec-1");
  return k;
}

JwkSet keysOf(std::initializer_list<const TestSigningKey*> keys) {
  json doc = {{"keys", json::array()}};
  for (const auto* k : keys) doc["keys"].push_back(k->publicJwk());
  auto set = JwkSet::fromJson(doc);
  EXPECT_TRUE(set.ok());
  return set.value();
}

json goodClaims() {
  return {{"iss", kIssuer},   {"sub", "user-1"},    {"aud", kClient},
          {"iat", kNow - 10}, {"exp", kNow + 3600}, {"nonce", "n-123"}};
}

IdTokenRules rules() {
  return {kIssuer, kClient, "n-123", kNow, 60};
}

IdTokenStatus verifyStatus(const std::string& token, const JwkSet& keys,
                           const IdTokenRules& r = rules()) {
  auto v = verifyIdToken(token, keys, r);
  return v.ok() ? IdTokenStatus::kOk : v.error();
}

IdTokenStatus claimsStatus(const json& patch) {
  json c = goodClaims();
  c.merge_patch(patch);
  return checkClaims(c, rules());
}

std::string flipBit(const std::string& token, size_t bit) {
  size_t dot = token.rfind('.');
  std::string sig = *base64urlDecode(token.substr(dot + 1));
  sig[bit / 8] = static_cast<char>(sig[bit / 8] ^ (1 << (bit % 8)));
  return token.substr(0, dot + 1) + base64urlEncode(sig);
}

TEST(IdToken, Rs256GoodTokenVerifies) {
  auto keys = keysOf({&rsaKey(), &ecKey()});
  auto v = verifyIdToken(rsaKey().jwt(goodClaims()), keys, rules());
  ASSERT_TRUE(v.ok()) << toString(v.error());
  EXPECT_EQ(v.value()["sub"], "user-1");
}

TEST(IdToken, Es256GoodTokenVerifies) {
  auto keys = keysOf({&rsaKey(), &ecKey()});
  EXPECT_EQ(verifyStatus(ecKey().jwt(goodClaims()), keys), IdTokenStatus::kOk);
}

TEST(IdToken, EveryBitFlipOfAGoodRs256SignatureFails) {
  auto keys = keysOf({&rsaKey()});
  std::string good = rsaKey().jwt(goodClaims());
  ASSERT_EQ(verifyStatus(good, keys), IdTokenStatus::kOk);
  for (size_t bit = 0; bit < 256 * 8; ++bit) {
    ASSERT_EQ(verifyStatus(flipBit(good, bit), keys), IdTokenStatus::kBadSignature) << bit;
  }
}

TEST(IdToken, EveryBitFlipOfAGoodEs256SignatureFails) {
  auto keys = keysOf({&ecKey()});
  std::string good = ecKey().jwt(goodClaims());
  ASSERT_EQ(verifyStatus(good, keys), IdTokenStatus::kOk);
  for (size_t bit = 0; bit < 64 * 8; ++bit) {
    ASSERT_EQ(verifyStatus(flipBit(good, bit), keys), IdTokenStatus::kBadSignature) << bit;
  }
}

TEST(IdToken, TruncatedOrExtendedSignatureFails) {
  auto keys = keysOf({&rsaKey(), &ecKey()});
  for (const auto* key : {&rsaKey(), &ecKey()}) {
    std::string good = key->jwt(goodClaims());
    size_t dot = good.rfind('.');
    std::string sig = *base64urlDecode(good.substr(dot + 1));
    std::string head = good.substr(0, dot + 1);
    EXPECT_EQ(verifyStatus(head + base64urlEncode(sig.substr(0, sig.size() - 1)), keys),
              IdTokenStatus::kBadSignature);
    EXPECT_EQ(verifyStatus(head + base64urlEncode(sig + '\0'), keys), IdTokenStatus::kBadSignature);
    EXPECT_EQ(verifyStatus(head, keys), IdTokenStatus::kBadSignature);
  }
}

TEST(IdToken, TamperedPayloadFails) {
  auto keys = keysOf({&rsaKey()});
  std::string good = rsaKey().jwt(goodClaims());
  json evil = goodClaims();
  evil["sub"] = "admin";
  size_t first = good.find('.'), last = good.rfind('.');
  std::string forged = good.substr(0, first + 1) + base64urlEncode(evil.dump()) + good.substr(last);
  EXPECT_EQ(verifyStatus(forged, keys), IdTokenStatus::kBadSignature);
}

TEST(IdToken, AlgNoneIsRefused) {
  auto keys = keysOf({&rsaKey()});
  EXPECT_EQ(verifyStatus(rawJws({{"alg", "none"}}, goodClaims(), ""), keys),
            IdTokenStatus::kUnsupportedAlg);
  EXPECT_EQ(verifyStatus(rawJws({{"alg", "none"}, {"kid", "rsa-1"}}, goodClaims(), "x"), keys),
            IdTokenStatus::kUnsupportedAlg);
}

TEST(IdToken, Hs256KeyedWithThePublicKeyIsRefused) {
  auto keys = keysOf({&rsaKey()});
  for (const char* alg : {"HS256", "HS384", "HS512"}) {
    json header = {{"alg", alg}, {"kid", "rsa-1"}};
    std::string input = base64urlEncode(header.dump()) + "." + base64urlEncode(goodClaims().dump());
    std::string token = input + "." + base64urlEncode(hmacSha256(rsaKey().publicPem(), input));
    EXPECT_EQ(verifyStatus(token, keys), IdTokenStatus::kUnsupportedAlg) << alg;
  }
}

TEST(IdToken, OtherAsymmetricAlgorithmsAreRefused) {
  auto keys = keysOf({&rsaKey()});
  for (const char* alg : {"RS512", "PS256", "ES384", "EdDSA", "rs256", ""}) {
    EXPECT_EQ(verifyStatus(rsaKey().jwt(goodClaims(), {{"alg", alg}}), keys),
              IdTokenStatus::kUnsupportedAlg)
        << alg;
  }
}

TEST(IdToken, AlgorithmMustMatchTheKeyType) {
  // An ES256 header naming the RSA key's kid finds no key: keys verify one algorithm only.
  auto keys = keysOf({&rsaKey(), &ecKey()});
  std::string token = ecKey().jwt(goodClaims(), {{"kid", "rsa-1"}});
  EXPECT_EQ(verifyStatus(token, keys), IdTokenStatus::kUnknownKid);
}

TEST(IdToken, UnknownKidAndWrongKey) {
  auto keys = keysOf({&rsaKey()});
  auto other = TestSigningKey::generate("RS256", "other");
  EXPECT_EQ(verifyStatus(other.jwt(goodClaims()), keys), IdTokenStatus::kUnknownKid);
  EXPECT_EQ(verifyStatus(other.jwt(goodClaims(), {{"kid", "rsa-1"}}), keys),
            IdTokenStatus::kBadSignature);
}

TEST(IdToken, TokenWithoutKidUsesTheOnlyFittingKey) {
  auto rsa_no_kid = TestSigningKey::generate("RS256", "");
  auto keys = keysOf({&rsa_no_kid, &ecKey()});
  EXPECT_EQ(verifyStatus(rsa_no_kid.jwt(goodClaims()), keys), IdTokenStatus::kOk);
  auto two = keysOf({&rsaKey(), &rsa_no_kid});
  EXPECT_EQ(verifyStatus(rsa_no_kid.jwt(goodClaims()), two), IdTokenStatus::kUnknownKid);
}

TEST(IdToken, MalformedTokensAreRefused) {
  auto keys = keysOf({&rsaKey()});
  std::string good = rsaKey().jwt(goodClaims());
  std::string h = base64urlEncode(R"({"alg":"RS256","kid":"rsa-1"})");
  std::string p = base64urlEncode(goodClaims().dump());
  const std::string cases[] = {
      "",
      "a.b",
      good + ".extra",
      h + "." + p,
      h + "=." + p + ".c2ln",
      base64urlEncode("not json") + "." + p + ".c2ln",
      h + "." + base64urlEncode("[1,2]") + ".c2ln",
      h + "." + base64urlEncode(R"({"sub":"a","sub":"b"})") + ".c2ln",
      base64urlEncode(R"({"alg":"RS256","alg":"none"})") + "." + p + ".c2ln",
      base64urlEncode(R"({"alg":"RS256","crit":["exp"],"exp":1})") + "." + p + ".c2ln",
      base64urlEncode(R"({"alg":256})") + "." + p + ".c2ln",
      base64urlEncode(R"({"alg":"RS256","kid":7})") + "." + p + ".c2ln",
      h + "." + p + ".c2ln!",
      std::string(20000, 'a') + "." + p + ".c2ln",
  };
  for (const auto& token : cases) {
    EXPECT_EQ(verifyStatus(token, keys), IdTokenStatus::kMalformed) << token.substr(0, 80);
  }
}

TEST(IdToken, ClaimsAreCheckedOnlyAfterTheSignature) {
  auto keys = keysOf({&rsaKey()});
  json expired = goodClaims();
  expired["exp"] = kNow - 3600;
  EXPECT_EQ(verifyStatus(flipBit(rsaKey().jwt(expired), 3), keys), IdTokenStatus::kBadSignature);
  EXPECT_EQ(verifyStatus(rsaKey().jwt(expired), keys), IdTokenStatus::kExpired);
}

TEST(IdToken, GoodClaimsPass) {
  EXPECT_EQ(claimsStatus(json::object()), IdTokenStatus::kOk);
}

TEST(IdToken, IssuerMustMatchExactly) {
  EXPECT_EQ(claimsStatus({{"iss", "https://evil.example.com"}}), IdTokenStatus::kWrongIssuer);
  EXPECT_EQ(claimsStatus({{"iss", std::string(kIssuer) + "/"}}), IdTokenStatus::kWrongIssuer);
  EXPECT_EQ(claimsStatus({{"iss", "HTTPS://idp.example.com"}}), IdTokenStatus::kWrongIssuer);
}

TEST(IdToken, AudienceMustContainTheClient) {
  EXPECT_EQ(claimsStatus({{"aud", "client-2"}}), IdTokenStatus::kWrongAudience);
  EXPECT_EQ(claimsStatus({{"aud", json::array({"client-2", "client-3"})}}),
            IdTokenStatus::kWrongAudience);
  EXPECT_EQ(claimsStatus({{"aud", json::array()}}), IdTokenStatus::kWrongAudience);
  EXPECT_EQ(claimsStatus({{"aud", json::array({"client-2", kClient})}, {"azp", kClient}}),
            IdTokenStatus::kOk);
  EXPECT_EQ(claimsStatus({{"aud", json::array({kClient})}}), IdTokenStatus::kOk);
  EXPECT_EQ(claimsStatus({{"aud", json::array({kClient, 7})}}), IdTokenStatus::kMissingClaim);
  EXPECT_EQ(claimsStatus({{"aud", 7}}), IdTokenStatus::kMissingClaim);
}

// OIDC Core §3.1.3.7 items 3-5: several audiences require azp, and azp, when present, is us.
TEST(IdToken, AuthorizedPartyIsRequiredWithSeveralAudiencesAndMustBeTheClient) {
  const json one = kClient;
  const json one_in_array = json::array({kClient});
  const json several = json::array({kClient, "client-2"});
  const json absent = nullptr;  // merge_patch: null removes the member
  struct Row {
    const char* what;
    json aud, azp;
    IdTokenStatus expected;
  };
  const Row rows[] = {
      {"single aud without azp", one, absent, IdTokenStatus::kOk},
      {"single aud in an array without azp", one_in_array, absent, IdTokenStatus::kOk},
      {"single aud with our azp", one, kClient, IdTokenStatus::kOk},
      {"single aud with another azp", one, "client-2", IdTokenStatus::kWrongAzp},
      {"single aud with a non-string azp", one, 1, IdTokenStatus::kWrongAzp},
      {"several aud without azp", several, absent, IdTokenStatus::kWrongAzp},
      {"several aud with another azp", several, "client-2", IdTokenStatus::kWrongAzp},
      {"several aud with an empty azp", several, "", IdTokenStatus::kWrongAzp},
      {"several aud with our azp", several, kClient, IdTokenStatus::kOk},
      {"our client twice without azp", json::array({kClient, kClient}), absent,
       IdTokenStatus::kWrongAzp},
  };
  for (const auto& row : rows) {
    EXPECT_EQ(claimsStatus({{"aud", row.aud}, {"azp", row.azp}}), row.expected) << row.what;
  }
}

TEST(IdToken, EveryBitFlipOfTheAuthorizedPartyIsRefused) {
  const json several = json::array({kClient, "client-2"});
  ASSERT_EQ(claimsStatus({{"aud", several}, {"azp", kClient}}), IdTokenStatus::kOk);
  int accepted = 0;
  broker::testing::forEachBitFlip(kClient, [&](const std::string& azp, size_t, int) {
    if (claimsStatus({{"aud", several}, {"azp", azp}}) != IdTokenStatus::kWrongAzp) ++accepted;
  });
  broker::testing::forEachTruncation(kClient, [&](const std::string& azp) {
    if (claimsStatus({{"aud", several}, {"azp", azp}}) != IdTokenStatus::kWrongAzp) ++accepted;
  });
  EXPECT_EQ(accepted, 0);
}

TEST(IdToken, SignedTokenForSeveralAudiencesVerifiesOnlyWithOurAzp) {
  auto keys = keysOf({&rsaKey()});
  json claims = goodClaims();
  claims["aud"] = json::array({kClient, "client-2"});
  EXPECT_EQ(verifyStatus(rsaKey().jwt(claims), keys), IdTokenStatus::kWrongAzp);
  claims["azp"] = "client-2";
  EXPECT_EQ(verifyStatus(rsaKey().jwt(claims), keys), IdTokenStatus::kWrongAzp);
  claims["azp"] = kClient;
  EXPECT_EQ(verifyStatus(rsaKey().jwt(claims), keys), IdTokenStatus::kOk);
}

TEST(IdToken, ExpiryHasSixtySecondsOfLeeway) {
  EXPECT_EQ(claimsStatus({{"exp", kNow - 59}}), IdTokenStatus::kOk);
  EXPECT_EQ(claimsStatus({{"exp", kNow - 60}}), IdTokenStatus::kExpired);
  EXPECT_EQ(claimsStatus({{"exp", kNow - 86400}}), IdTokenStatus::kExpired);
  EXPECT_EQ(claimsStatus({{"exp", static_cast<double>(kNow) + 0.5}}), IdTokenStatus::kOk);
}

TEST(IdToken, TokensFromTheFutureAreRefused) {
  EXPECT_EQ(claimsStatus({{"iat", kNow + 60}}), IdTokenStatus::kOk);
  EXPECT_EQ(claimsStatus({{"iat", kNow + 61}}), IdTokenStatus::kNotYetValid);
  EXPECT_EQ(claimsStatus({{"nbf", kNow + 600}}), IdTokenStatus::kNotYetValid);
  EXPECT_EQ(claimsStatus({{"nbf", kNow - 5}}), IdTokenStatus::kOk);
  EXPECT_EQ(claimsStatus({{"nbf", "soon"}}), IdTokenStatus::kMissingClaim);
}

TEST(IdToken, RequiredClaims) {
  for (const char* name : {"iss", "sub", "aud", "exp", "iat"}) {
    json c = goodClaims();
    c.erase(name);
    EXPECT_EQ(checkClaims(c, rules()), IdTokenStatus::kMissingClaim) << name;
  }
  EXPECT_EQ(claimsStatus({{"sub", ""}}), IdTokenStatus::kMissingClaim);
  EXPECT_EQ(claimsStatus({{"sub", 42}}), IdTokenStatus::kMissingClaim);
  EXPECT_EQ(claimsStatus({{"sub", std::string(256, 's')}}), IdTokenStatus::kMissingClaim);
  EXPECT_EQ(claimsStatus({{"exp", "tomorrow"}}), IdTokenStatus::kMissingClaim);
  EXPECT_EQ(claimsStatus({{"iat", -1}}), IdTokenStatus::kMissingClaim);
}

TEST(IdToken, NonceMustMatchWhenExpected) {
  EXPECT_EQ(claimsStatus({{"nonce", "n-124"}}), IdTokenStatus::kWrongNonce);
  EXPECT_EQ(claimsStatus({{"nonce", 123}}), IdTokenStatus::kWrongNonce);
  json c = goodClaims();
  c.erase("nonce");
  EXPECT_EQ(checkClaims(c, rules()), IdTokenStatus::kWrongNonce);
  IdTokenRules refresh = rules();
  refresh.nonce.clear();
  EXPECT_EQ(checkClaims(c, refresh), IdTokenStatus::kOk);
}

TEST(IdTokenJwks, SkipsKeysItCannotUse) {
  json rsa = rsaKey().publicJwk();
  json ec = ecKey().publicJwk();
  json enc = rsa;
  enc["use"] = "enc";
  enc["kid"] = "enc";
  json wrong_alg = rsa;
  wrong_alg["alg"] = "RS512";
  wrong_alg["kid"] = "rs512";
  json short_x = ec;
  short_x["x"] = base64urlEncode(base64urlDecode(ec["x"].get<std::string>())->substr(1));
  short_x["kid"] = "short";
  json off_curve = ec;
  std::string y = *base64urlDecode(ec["y"].get<std::string>());
  y[31] = static_cast<char>(y[31] ^ 1);
  off_curve["y"] = base64urlEncode(y);
  off_curve["kid"] = "off-curve";
  json p384 = ec;
  p384["crv"] = "P-384";
  p384["kid"] = "p384";
  json oct = {{"kty", "oct"}, {"k", "c2VjcmV0"}, {"kid", "oct"}};
  json verify_only = rsa;
  verify_only["kid"] = "ops";
  verify_only["key_ops"] = {"encrypt"};
  auto small = [] {
    EVP_PKEY* k = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(1024));
    BIGNUM* n = nullptr;
    EVP_PKEY_get_bn_param(k, "n", &n);
    std::string bytes(BN_num_bytes(n), '\0');
    BN_bn2bin(n, reinterpret_cast<unsigned char*>(bytes.data()));
    BN_free(n);
    EVP_PKEY_free(k);
    return json{{"kty", "RSA"}, {"kid", "small"}, {"n", base64urlEncode(bytes)}, {"e", "AQAB"}};
  }();
  json doc = {
      {"keys",
       {rsa, ec, enc, wrong_alg, short_x, off_curve, p384, oct, verify_only, small, "junk", 5}}};
  auto set = JwkSet::fromJson(doc);
  ASSERT_TRUE(set.ok());
  EXPECT_EQ(set->size(), 2u);
  EXPECT_NE(set->find("rsa-1", "RS256"), nullptr);
  EXPECT_NE(set->find("ec-1", "ES256"), nullptr);
  for (const char* kid : {"enc", "rs512", "short", "off-curve", "p384", "oct", "ops", "small"}) {
    EXPECT_EQ(set->find(kid, "RS256"), nullptr) << kid;
    EXPECT_EQ(set->find(kid, "ES256"), nullptr) << kid;
  }
}

TEST(IdTokenJwks, RefusesWhatIsNotAKeySet) {
  for (const char* text : {"", "[]", "{}", R"({"keys":{}})", "<html>", R"({"keys":"x"})"}) {
    EXPECT_FALSE(JwkSet::parse(text).ok()) << text;
  }
  auto empty = JwkSet::parse(R"({"keys":[]})");
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(empty->size(), 0u);
}

}  // namespace
}  // namespace broker::upstream::oidc
