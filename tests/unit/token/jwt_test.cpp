#include "broker/token/jwt.h"

#include <gtest/gtest.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <nlohmann/json.hpp>

#include <atomic>
#include <limits>
#include <set>
#include <thread>

#include "broker/core/crypto.h"
#include "broker/core/encoding.h"
#include "fakes/token_mutations.h"
#include "fakes/token_test_keys.h"

namespace broker::token {
namespace {

using broker::testing::otherTokenTestKey;
using broker::testing::publicPemOf;
using broker::testing::tokenTestKey;

std::string writePrivatePem(EVP_PKEY* pkey, const EVP_CIPHER* cipher, const char* pass) {
  BIO* out = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(out, pkey, cipher, nullptr, 0, nullptr, const_cast<char*>(pass));
  char* data = nullptr;
  long len = BIO_get_mem_data(out, &data);
  std::string pem(data, static_cast<size_t>(len));
  BIO_free(out);
  return pem;
}

std::string jwtOf(const std::string& header, const std::string& payload,
                  const std::string& sig = "c2ln") {
  return base64urlEncode(header) + "." + base64urlEncode(payload) + "." + sig;
}

// --- RsaKey ---------------------------------------------------------------------------------

TEST(JwtRsaKey, ThumbprintMatchesRfc7638Example) {
  // RFC 7638 §3.1.
  const char* n =
      "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_"
      "BJECPe"
      "bWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY"
      "368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0"
      "fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";
  auto key = RsaKey::fromJwk(n, "AQAB");
  ASSERT_TRUE(key.ok()) << key.error().message;
  EXPECT_EQ((*key)->thumbprint(), "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
  EXPECT_EQ((*key)->modulusB64(), n);
  EXPECT_EQ((*key)->exponentB64(), "AQAB");
  EXPECT_FALSE((*key)->hasPrivate());
  EXPECT_EQ((*key)->bits(), 2048);
}

TEST(JwtRsaKey, PrivatePemRoundTripKeepsTheThumbprint) {
  auto key = tokenTestKey();
  EXPECT_TRUE(key->hasPrivate());
  auto again = RsaKey::fromPrivatePem(key->privatePem());
  ASSERT_TRUE(again.ok()) << again.error().message;
  EXPECT_EQ((*again)->thumbprint(), key->thumbprint());
  EXPECT_NE(key->thumbprint(), otherTokenTestKey()->thumbprint());
}

TEST(JwtRsaKey, PublicKeysFromPemAndJwkVerifyWhatThePrivateKeySigned) {
  auto key = tokenTestKey();
  auto sig = key->signRs256("data");
  ASSERT_TRUE(sig.ok());
  EXPECT_EQ(sig->size(), 256u);

  auto from_pem = RsaKey::fromPublicPem(publicPemOf(*key));
  ASSERT_TRUE(from_pem.ok()) << from_pem.error().message;
  auto from_jwk = RsaKey::fromJwk(key->modulusB64(), key->exponentB64());
  ASSERT_TRUE(from_jwk.ok()) << from_jwk.error().message;
  for (const auto& pub : {*from_pem, *from_jwk}) {
    EXPECT_FALSE(pub->hasPrivate());
    EXPECT_EQ(pub->privatePem(), "");
    EXPECT_EQ(pub->thumbprint(), key->thumbprint());
    EXPECT_TRUE(pub->verifyRs256("data", *sig));
    EXPECT_FALSE(pub->verifyRs256("datA", *sig));
    EXPECT_FALSE(pub->signRs256("data").ok());
  }
  EXPECT_FALSE(otherTokenTestKey()->verifyRs256("data", *sig));
}

TEST(JwtRsaKey, SignatureOfTheWrongLengthIsRejected) {
  auto key = tokenTestKey();
  auto sig = *key->signRs256("data");
  EXPECT_FALSE(key->verifyRs256("data", std::string(1, '\0') + sig));
  EXPECT_FALSE(key->verifyRs256("data", sig.substr(1)));
  EXPECT_FALSE(key->verifyRs256("data", ""));
}

TEST(JwtRsaKey, UnusableKeyMaterialIsRefused) {
  EXPECT_FALSE(RsaKey::generate(1024).ok());
  EXPECT_FALSE(RsaKey::fromPrivatePem("").ok());
  EXPECT_FALSE(
      RsaKey::fromPrivatePem("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----").ok());
  EXPECT_FALSE(RsaKey::fromPublicPem("not a pem").ok());
  // A verifier must not be configured with private key material by mistake.
  EXPECT_FALSE(RsaKey::fromPublicPem(tokenTestKey()->privatePem()).ok());
  EXPECT_FALSE(RsaKey::fromJwk("", "AQAB").ok());
  EXPECT_FALSE(RsaKey::fromJwk(tokenTestKey()->modulusB64(), "").ok());
  EXPECT_FALSE(RsaKey::fromJwk(tokenTestKey()->modulusB64(), "AQ==x").ok());
  EXPECT_FALSE(RsaKey::fromJwk(tokenTestKey()->modulusB64(), "Ag").ok());  // e = 2
  EXPECT_FALSE(RsaKey::fromJwk(tokenTestKey()->modulusB64(), "AQ").ok());  // e = 1
  EXPECT_FALSE(RsaKey::fromJwk(base64urlEncode(std::string(128, '\xff')), "AQAB").ok());
}

TEST(JwtRsaKey, OtherCurvesAndEncryptedPrivateKeysAreRefusedWithoutPrompting) {
  // ES256 is P-256 only: other curves, however strong, are not ES256 keys.
  for (const char* curve : {"P-384", "P-521", "secp256k1"}) {
    EVP_PKEY* ec = EVP_EC_gen(curve);
    ASSERT_NE(ec, nullptr) << curve;
    EXPECT_FALSE(SigningKey::fromPrivatePem(writePrivatePem(ec, nullptr, nullptr)).ok()) << curve;
    EVP_PKEY_free(ec);
  }
  EVP_PKEY* ed = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
  ASSERT_NE(ed, nullptr);
  EXPECT_FALSE(SigningKey::fromPrivatePem(writePrivatePem(ed, nullptr, nullptr)).ok());
  EVP_PKEY_free(ed);

  auto pem = tokenTestKey()->privatePem();
  BIO* in = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  EVP_PKEY* rsa = PEM_read_bio_PrivateKey(in, nullptr, nullptr, nullptr);
  ASSERT_NE(rsa, nullptr);
  auto encrypted = writePrivatePem(rsa, EVP_aes_256_cbc(), "pass phrase");
  EXPECT_NE(encrypted.find("ENCRYPTED"), std::string::npos);
  EXPECT_FALSE(RsaKey::fromPrivatePem(encrypted).ok());
  EVP_PKEY_free(rsa);
  BIO_free(in);
}

TEST(JwtRsaKey, OneKeySignsAndVerifiesFromManyThreadsAtOnce) {
  auto key = tokenTestKey();
  auto pub = *RsaKey::fromJwk(key->modulusB64(), key->exponentB64());
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 25; ++i) {
        std::string data = "thread " + std::to_string(t) + " message " + std::to_string(i);
        auto sig = key->signRs256(data);
        if (!sig.ok() || !pub->verifyRs256(data, *sig) || pub->verifyRs256(data + "!", *sig)) {
          ++failures;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
}

// --- decodeJwt --------------------------------------------------------------------------------

TEST(JwtDecode, SignedTokenDecodesIntoItsParts) {
  auto token = signJwt(*tokenTestKey(), "kid-1", "at+jwt", R"({"sub":"github:1"})");
  ASSERT_TRUE(token.ok()) << token.error().message;
  auto decoded = decodeJwt(*token);
  ASSERT_TRUE(decoded.ok()) << toString(decoded.error());
  EXPECT_EQ(decoded->alg, "RS256");
  EXPECT_EQ(decoded->typ, "at+jwt");
  EXPECT_EQ(decoded->kid, "kid-1");
  EXPECT_EQ(decoded->header_json, R"({"alg":"RS256","typ":"at+jwt","kid":"kid-1"})");
  EXPECT_EQ(decoded->payload_json, R"({"sub":"github:1"})");
  EXPECT_EQ(decoded->signing_input, token->substr(0, token->rfind('.')));
  EXPECT_TRUE(tokenTestKey()->verifyRs256(decoded->signing_input, decoded->signature));
}

TEST(JwtDecode, GarbageIsMalformedAndNeverThrows) {
  const std::string obj = R"({"alg":"RS256"})";
  const std::vector<std::string> garbage = {
      "",
      ".",
      "..",
      "a.b",
      "a.b.c.d",
      "a..c",
      "!!!.???.***",
      jwtOf("not json", "{}"),
      jwtOf("[]", "{}"),
      jwtOf("[1,2]", "{}"),
      jwtOf("\"RS256\"", "{}"),
      jwtOf(obj, "[]"),
      jwtOf(obj, "not json"),
      jwtOf(obj, "{}", "c2ln="),
      jwtOf(R"({"alg":"RS256","alg":"none"})", "{}"),
      jwtOf(obj, R"({"sub":"a","sub":"b"})"),
      jwtOf(R"({"alg":256})", "{}"),
      jwtOf(R"({"alg":"RS256","kid":["a"]})", "{}"),
      jwtOf(R"({"alg":"RS256","typ":null})", "{}"),
      jwtOf(R"({"alg":"RS256","crit":["exp"]})", "{}"),
      jwtOf(obj, "{\"sub\":\"\xff\xfe\"}"),
      jwtOf(obj, std::string(40, '[') + std::string(40, ']')),
      jwtOf(obj, R"({"a":)" + std::string(5000, '{')),
      jwtOf(obj, "{}", std::string(100000, 'A')),
      std::string(3, '\0'),
  };
  for (const auto& g : garbage) {
    Result<DecodedJwt, JwtStatus> result = JwtStatus::kOk;
    EXPECT_NO_THROW(result = decodeJwt(g)) << g;
    ASSERT_FALSE(result.ok()) << g;
    EXPECT_EQ(result.error(), JwtStatus::kMalformed) << g;
  }
}

TEST(JwtDecode, UnsecuredTokenDecodesSoTheAlgorithmCheckCanRefuseIt) {
  auto decoded =
      decodeJwt(base64urlEncode(R"({"alg":"none"})") + "." + base64urlEncode("{}") + ".");
  ASSERT_TRUE(decoded.ok());
  EXPECT_EQ(decoded->signature, "");
  EXPECT_EQ(checkAlgorithm(*decoded), JwtStatus::kUnsupportedAlg);
}

// --- ES256 (P-256) ---------------------------------------------------------------------------

TEST(JwtEs256, SignsRawRAndSAndVerifiesThroughPemAndJwk) {
  auto key = broker::testing::es256TestKey();
  EXPECT_EQ(key->algorithm(), SigningAlg::kES256);
  EXPECT_STREQ(key->alg(), "ES256");
  EXPECT_EQ(key->bits(), 256);
  EXPECT_TRUE(key->hasPrivate());
  EXPECT_EQ(key->modulusB64(), "");
  const std::string data = "header.payload";
  auto sig = key->sign(data);
  ASSERT_TRUE(sig.ok());
  EXPECT_EQ(sig->size(), 64u);  // R || S, 32 bytes each, whatever their leading zeros
  EXPECT_TRUE(key->verify(data, *sig));
  // ECDSA draws a fresh nonce: two signatures differ, both verify.
  auto again = *key->sign(data);
  EXPECT_NE(again, *sig);
  EXPECT_TRUE(key->verify(data, again));

  auto jwk = nlohmann::json::parse(key->publicJwk("kid-1"));
  EXPECT_EQ(jwk["kty"], "EC");
  EXPECT_EQ(jwk["crv"], "P-256");
  EXPECT_EQ(jwk["alg"], "ES256");
  EXPECT_EQ(jwk["use"], "sig");
  EXPECT_EQ(jwk["kid"], "kid-1");
  EXPECT_FALSE(jwk.contains("d"));
  EXPECT_EQ(base64urlDecode(jwk["x"].get<std::string>())->size(), 32u);
  auto from_jwk =
      SigningKey::fromEcJwk("P-256", jwk["x"].get<std::string>(), jwk["y"].get<std::string>());
  ASSERT_TRUE(from_jwk.ok()) << from_jwk.error().message;
  auto from_pem = SigningKey::fromPublicPem(publicPemOf(*key));
  ASSERT_TRUE(from_pem.ok()) << from_pem.error().message;
  for (const auto& pub : {*from_jwk, *from_pem}) {
    EXPECT_FALSE(pub->hasPrivate());
    EXPECT_EQ(pub->thumbprint(), key->thumbprint());
    EXPECT_TRUE(pub->verify(data, *sig));
    EXPECT_FALSE(pub->verify("header.payloaD", *sig));
    EXPECT_FALSE(pub->sign(data).ok());
    EXPECT_FALSE(pub->verifyRs256(data, *sig));  // the RS256 name never checks ES256
  }
  EXPECT_FALSE(broker::testing::otherEs256TestKey()->verify(data, *sig));
  EXPECT_FALSE(key->signRs256(data).ok());
}

TEST(JwtEs256, ThumbprintIsRfc7638OverCrvKtyXY) {
  auto key = broker::testing::es256TestKey();
  auto jwk = nlohmann::json::parse(key->publicJwk(""));
  const std::string canonical = R"({"crv":"P-256","kty":"EC","x":")" + jwk["x"].get<std::string>() +
                                R"(","y":")" + jwk["y"].get<std::string>() + R"("})";
  EXPECT_EQ(key->thumbprint(), base64urlEncode(sha256(canonical)));
  // The private key's PEM round trip keeps it, so a stored key keeps its kid.
  auto again = SigningKey::fromPrivatePem(key->privatePem());
  ASSERT_TRUE(again.ok());
  EXPECT_EQ((*again)->thumbprint(), key->thumbprint());
  EXPECT_EQ((*again)->algorithm(), SigningAlg::kES256);
}

// JWS ES256 is R || S (RFC 7518 §3.4), not the DER ECDSA-Sig-Value OpenSSL produces. The same
// signature in DER, with trailing bytes, or one byte short must not verify.
TEST(JwtEs256, OnlyTheRawFormVerifiesNeverDer) {
  auto key = broker::testing::es256TestKey();
  const std::string data = "header.payload";
  const std::string raw = *key->sign(data);
  auto der = mcp_auth::es256RawToDer(raw);
  ASSERT_TRUE(der);
  EXPECT_GE(der->size(), 8u);
  EXPECT_LE(der->size(), 72u);
  EXPECT_EQ(static_cast<unsigned char>((*der)[0]), 0x30);  // SEQUENCE
  EXPECT_FALSE(key->verify(data, *der));
  EXPECT_EQ(mcp_auth::es256DerToRaw(*der), raw);
  EXPECT_FALSE(mcp_auth::es256DerToRaw(*der + "x"));
  EXPECT_FALSE(mcp_auth::es256DerToRaw(raw));
  EXPECT_FALSE(mcp_auth::es256RawToDer(raw.substr(1)));
  EXPECT_FALSE(key->verify(data, raw.substr(1)));
  EXPECT_FALSE(key->verify(data, raw + '\0'));
  EXPECT_FALSE(key->verify(data, ""));
  // R and S with leading zero bytes keep their 32-byte places.
  const std::string small = std::string(31, '\0') + '\x01' + std::string(31, '\0') + '\x02';
  auto small_der = mcp_auth::es256RawToDer(small);
  ASSERT_TRUE(small_der);
  EXPECT_EQ(small_der->size(), 8u);
  EXPECT_EQ(mcp_auth::es256DerToRaw(*small_der), small);
  // Zero or out-of-range R and S never verify.
  EXPECT_FALSE(key->verify(data, std::string(64, '\0')));
  EXPECT_FALSE(key->verify(data, std::string(64, '\xff')));
}

TEST(JwtEs256, EveryBitFlipAndTruncationOfTheSignatureFails) {
  auto key = broker::testing::es256TestKey();
  const std::string data = "header.payload";
  const std::string sig = *key->sign(data);
  broker::testing::forEachBitFlip(sig, [&](const std::string& s, size_t i, int bit) {
    EXPECT_FALSE(key->verify(data, s)) << "byte " << i << " bit " << bit;
  });
  broker::testing::forEachTruncation(
      sig, [&](const std::string& s) { EXPECT_FALSE(key->verify(data, s)) << s.size(); });
}

TEST(JwtEs256, UnusableEcJwksAreRefused) {
  auto jwk = nlohmann::json::parse(broker::testing::es256TestKey()->publicJwk(""));
  const std::string x = jwk["x"], y = jwk["y"];
  EXPECT_TRUE(SigningKey::fromEcJwk("P-256", x, y).ok());
  EXPECT_FALSE(SigningKey::fromEcJwk("P-384", x, y).ok());
  EXPECT_FALSE(SigningKey::fromEcJwk("p-256", x, y).ok());
  EXPECT_FALSE(SigningKey::fromEcJwk("P-256", "", y).ok());
  EXPECT_FALSE(SigningKey::fromEcJwk("P-256", x, y + "A").ok());
  EXPECT_FALSE(SigningKey::fromEcJwk("P-256", x.substr(1), y).ok());
  EXPECT_FALSE(SigningKey::fromEcJwk("P-256", y, x).ok());  // not on the curve
  const std::string zero = base64urlEncode(std::string(32, '\0'));
  EXPECT_FALSE(SigningKey::fromEcJwk("P-256", zero, zero).ok());
}

TEST(JwtEs256, SignedJwtNamesEs256AndVerifiesOnlyWithItsOwnKind) {
  auto key = broker::testing::es256TestKey();
  auto jwt = signJwt(*key, "kid-1", "at+jwt", R"({"sub":"x"})");
  ASSERT_TRUE(jwt.ok());
  auto decoded = decodeJwt(*jwt);
  ASSERT_TRUE(decoded.ok());
  EXPECT_EQ(decoded->alg, "ES256");
  EXPECT_EQ(decoded->signature.size(), 64u);
  EXPECT_EQ(checkAlgorithm(*decoded), JwtStatus::kOk);
  EXPECT_EQ(checkSignature(*decoded, key.get()), JwtStatus::kOk);
  EXPECT_EQ(checkSignature(*decoded, tokenTestKey().get()), JwtStatus::kBadSignature);
  // The header's alg cannot talk a key into another algorithm.
  DecodedJwt relabelled = *decoded;
  relabelled.alg = "RS256";
  EXPECT_EQ(checkSignature(relabelled, key.get()), JwtStatus::kBadSignature);
}

TEST(JwtEs256, OneKeySignsAndVerifiesFromManyThreadsAtOnce) {
  auto key = broker::testing::es256TestKey();
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 50; ++i) {
        const std::string data = "t" + std::to_string(t) + "i" + std::to_string(i);
        auto sig = key->sign(data);
        if (!sig || !key->verify(data, *sig)) ++failures;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures, 0);
}

TEST(JwtAlgorithms, NamesParseBackAndNothingElseDoes) {
  for (SigningAlg alg : {SigningAlg::kRS256, SigningAlg::kES256}) {
    EXPECT_EQ(parseSigningAlg(algName(alg)), alg);
    EXPECT_EQ((*SigningKey::generate(alg))->algorithm(), alg);
  }
  for (const char* name : {"", "rs256", "ES384", "none", "HS256"}) {
    EXPECT_FALSE(parseSigningAlg(name)) << name;
  }
}

// --- pure checks ------------------------------------------------------------------------------

TEST(JwtChecks, AlgorithmMustBeExactlyRs256OrEs256) {
  DecodedJwt jwt;
  for (const char* alg : {"", "none", "None", "HS256", "RS384", "RS512", "PS256", "ES384", "ES512",
                          "ES256K", "EdDSA", "rs256", "es256", "RS256 ", "ES256 "}) {
    jwt.alg = alg;
    EXPECT_EQ(checkAlgorithm(jwt), JwtStatus::kUnsupportedAlg) << alg;
  }
  for (const char* alg : {"RS256", "ES256"}) {
    jwt.alg = alg;
    EXPECT_EQ(checkAlgorithm(jwt), JwtStatus::kOk) << alg;
  }
}

TEST(JwtChecks, SignatureNeedsAKnownKeyThatSignedTheInput) {
  DecodedJwt jwt;
  jwt.alg = "RS256";
  jwt.signing_input = "header.payload";
  jwt.signature = *tokenTestKey()->signRs256(jwt.signing_input);
  EXPECT_EQ(checkSignature(jwt, tokenTestKey().get()), JwtStatus::kOk);
  EXPECT_EQ(checkSignature(jwt, static_cast<const RsaKey*>(nullptr)), JwtStatus::kUnknownKid);
  EXPECT_EQ(checkSignature(jwt, otherTokenTestKey().get()), JwtStatus::kBadSignature);
}

TEST(JwtChecks, ExpiryAndStartHonourTheLeewayAtItsBoundaries) {
  const int64_t now = 1'700'000'000;
  EXPECT_EQ(checkTimes(now + 1, now, 0, now, 0), JwtStatus::kOk);
  EXPECT_EQ(checkTimes(now, now - 10, 0, now, 0), JwtStatus::kExpired);
  EXPECT_EQ(checkTimes(now - 29, now - 100, 0, now, 30), JwtStatus::kOk);
  EXPECT_EQ(checkTimes(now - 30, now - 100, 0, now, 30), JwtStatus::kExpired);
  EXPECT_EQ(checkTimes(now + 100, now + 30, 0, now, 30), JwtStatus::kOk);
  EXPECT_EQ(checkTimes(now + 100, now + 31, 0, now, 30), JwtStatus::kNotYetValid);
  EXPECT_EQ(checkTimes(now + 100, now, now + 31, now, 30), JwtStatus::kNotYetValid);
  EXPECT_EQ(checkTimes(now + 100, 0, 0, now, 30), JwtStatus::kOk);
}

TEST(JwtChecks, ExtremeTimesDoNotOverflow) {
  const int64_t max = std::numeric_limits<int64_t>::max();
  const int64_t min = std::numeric_limits<int64_t>::min();
  EXPECT_EQ(checkTimes(max, 0, 0, 1'700'000'000, 30), JwtStatus::kOk);
  EXPECT_EQ(checkTimes(min, 0, 0, 1'700'000'000, 30), JwtStatus::kExpired);
  EXPECT_EQ(checkTimes(max, max, 0, 1'700'000'000, 30), JwtStatus::kNotYetValid);
  EXPECT_EQ(checkTimes(max, 0, 0, max, 30), JwtStatus::kExpired);
}

TEST(JwtChecks, IssuerAndAudienceMatchExactly) {
  EXPECT_EQ(checkIssuer("https://auth.example", "https://auth.example"), JwtStatus::kOk);
  EXPECT_EQ(checkIssuer("https://auth.example/", "https://auth.example"), JwtStatus::kWrongIssuer);
  EXPECT_EQ(checkIssuer("", "https://auth.example"), JwtStatus::kWrongIssuer);
  const std::vector<std::string> aud = {"https://mcp.example/api", "mcp:example:files"};
  EXPECT_EQ(checkAudience(aud, ""), JwtStatus::kOk);
  EXPECT_EQ(checkAudience(aud, "mcp:example:files"), JwtStatus::kOk);
  EXPECT_EQ(checkAudience(aud, "mcp:example:file"), JwtStatus::kWrongAudience);
  EXPECT_EQ(checkAudience({}, "mcp:example:files"), JwtStatus::kWrongAudience);
}

TEST(JwtChecks, EveryStatusHasADistinctName) {
  std::set<std::string> names;
  for (int s = static_cast<int>(JwtStatus::kOk); s <= static_cast<int>(JwtStatus::kRevoked); ++s) {
    names.insert(toString(static_cast<JwtStatus>(s)));
  }
  EXPECT_EQ(names.size(), static_cast<size_t>(JwtStatus::kRevoked) + 1);
}

TEST(JwtSign, PayloadMustBeAJsonObject) {
  EXPECT_FALSE(signJwt(*tokenTestKey(), "k", "at+jwt", "[]").ok());
  EXPECT_FALSE(signJwt(*tokenTestKey(), "k", "at+jwt", "").ok());
  auto pub = *RsaKey::fromJwk(tokenTestKey()->modulusB64(), tokenTestKey()->exponentB64());
  EXPECT_FALSE(signJwt(*pub, "k", "at+jwt", "{}").ok());
}

TEST(JwtSign, HeaderOmitsAnEmptyKidAndEscapesValues) {
  auto token = signJwt(*tokenTestKey(), "", "a\"b", "{}");
  ASSERT_TRUE(token.ok());
  auto decoded = decodeJwt(*token);
  ASSERT_TRUE(decoded.ok());
  EXPECT_EQ(decoded->header_json, R"({"alg":"RS256","typ":"a\"b"})");
  EXPECT_EQ(decoded->typ, "a\"b");
}

}  // namespace
}  // namespace broker::token
