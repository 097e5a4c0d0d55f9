#include "broker/token/key_manager.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <thread>

#include "broker/store/store.h"
#include "broker/token/access_token.h"
#include "fakes/token_hooked_store.h"
#include "fakes/token_test_keys.h"

namespace broker::token {
namespace {

using nlohmann::json;

const Secret kMaster(std::string(48, 'm'));
const Secret kOtherMaster(std::string(48, 'x'));
constexpr char kIssuer[] = "https://auth.example";

class KeyManagerTest : public ::testing::Test {
 protected:
  KeyManagerTest() {
    policy_.rotation_period = 30 * 86400;
    policy_.publish_ahead = 3600;
    policy_.max_token_ttl = 86400;
  }

  std::shared_ptr<KeyManager> manager(store::Store& store,
                                      std::shared_ptr<const MasterKeyring> master = nullptr) {
    return KeyManager::create(store, master ? master : master_, clock_, random_, policy_,
                              generate_key_);
  }
  std::shared_ptr<KeyManager> started(const std::string& import_pem = {}) {
    auto km = manager(*store_);
    km->initialize(import_pem);
    return km;
  }

  std::vector<store::SigningKeyRecord> storedKeys() {
    auto keys = store_->listSigningKeys();
    EXPECT_TRUE(keys.ok());
    return keys.ok() ? *keys : std::vector<store::SigningKeyRecord>{};
  }
  store::SigningKeyRecord stored(const std::string& kid) {
    for (const auto& k : storedKeys()) {
      if (k.kid == kid) return k;
    }
    ADD_FAILURE() << "no stored key " << kid;
    return {};
  }

  static std::vector<std::string> jwksKids(const KeyManager& km) {
    std::vector<std::string> kids;
    const json doc = json::parse(*km.jwksJson());
    for (const auto& k : doc["keys"]) kids.push_back(k["kid"]);
    return kids;
  }

  std::string signNow(const KeyManager& km) {
    auto signer = km.currentSigner();
    EXPECT_NE(signer.key, nullptr);
    AccessTokenClaims c;
    c.iss = kIssuer;
    c.sub = "github:1";
    c.client_id = "client";
    c.jti = "jti-" + std::to_string(clock_.now());
    c.iat = clock_.now();
    c.exp = clock_.now() + 600;
    auto token = signAccessToken(*signer.key, signer.kid, c);
    EXPECT_TRUE(token.ok());
    return token.ok() ? *token : std::string();
  }

  // Checks the signature only: the time checks are the verifier's, tested elsewhere.
  JwtStatus signatureCheck(const KeyManager& km, const std::string& token) {
    auto decoded = decodeJwt(token);
    if (!decoded) return decoded.error();
    return checkSignature(*decoded, km.verificationKey(decoded->kid).get());
  }

  std::unique_ptr<store::Store> store_ = store::openStore("sqlite::memory:");
  FakeClock clock_;
  FakeRandom random_;
  std::shared_ptr<const MasterKeyring> master_ = MasterKeyring::create({kMaster}, random_);
  KeyPolicy policy_;
  KeyManager::KeyGenerator generate_key_ = broker::testing::pooledTokenKeyGenerator();
};

TEST_F(KeyManagerTest, FirstStartCreatesOneCurrentKey) {
  auto km = started();
  auto keys = storedKeys();
  ASSERT_EQ(keys.size(), 1u);
  EXPECT_EQ(keys[0].generation, 1);
  EXPECT_EQ(keys[0].activates_at, clock_.now());
  EXPECT_EQ(keys[0].alg, "RS256");

  auto signer = km->currentSigner();
  ASSERT_NE(signer.key, nullptr);
  EXPECT_EQ(signer.kid, keys[0].kid);
  EXPECT_EQ(signer.kid, signer.key->thumbprint());
  EXPECT_EQ(jwksKids(*km), std::vector<std::string>{signer.kid});
  auto listed = km->list();
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].state, "current");
  EXPECT_EQ(signatureCheck(*km, signNow(*km)), JwtStatus::kOk);
}

TEST_F(KeyManagerTest, PrivateKeyIsStoredSealedNextToItsPublicJwk) {
  auto km = started();
  auto rec = storedKeys().at(0);
  EXPECT_EQ(rec.sealed_private_key.find("PRIVATE"), std::string::npos);
  EXPECT_TRUE(master_->open(rec.sealed_private_key, "signing-key").ok());
  EXPECT_FALSE(master_->open(rec.sealed_private_key, "refresh").ok());
  auto jwk = json::parse(rec.public_jwk);
  EXPECT_EQ(jwk["kid"], rec.kid);
  EXPECT_FALSE(jwk.contains("d"));
  auto pub = SigningKey::fromJwk(jwk["n"].get<std::string>(), jwk["e"].get<std::string>());
  ASSERT_TRUE(pub.ok());
  EXPECT_EQ((*pub)->thumbprint(), rec.kid);
}

TEST_F(KeyManagerTest, RestartOnTheSameStoreKeepsTheKid) {
  auto first = started();
  const std::string token = signNow(*first);
  auto second = started();
  EXPECT_EQ(storedKeys().size(), 1u);
  EXPECT_EQ(second->currentSigner().kid, first->currentSigner().kid);
  EXPECT_EQ(signatureCheck(*second, token), JwtStatus::kOk);
}

TEST_F(KeyManagerTest, RotatedKeyIsPublishedBeforeItSignsAndSignsAfterPublishAhead) {
  auto km = started();
  const std::string old_kid = km->currentSigner().kid;
  auto rotated = km->rotate();
  ASSERT_TRUE(rotated.ok()) << rotated.error().message;
  const std::string new_kid = *rotated;
  EXPECT_NE(new_kid, old_kid);
  EXPECT_EQ(stored(new_kid).generation, 2);

  EXPECT_EQ(jwksKids(*km), (std::vector<std::string>{new_kid, old_kid}));
  EXPECT_EQ(km->currentSigner().kid, old_kid);
  EXPECT_EQ(km->list().at(0).state, "next");
  EXPECT_NE(km->verificationKey(new_kid), nullptr);

  clock_.advance(policy_.publish_ahead - 1);
  EXPECT_EQ(km->currentSigner().kid, old_kid);
  clock_.advance(1);
  EXPECT_EQ(km->currentSigner().kid, new_kid);
  auto listed = km->list();
  EXPECT_EQ(listed.at(0).state, "current");
  EXPECT_EQ(listed.at(1).state, "previous");
}

TEST_F(KeyManagerTest, ImmediateRotationSignsAtOnce) {
  auto km = started();
  auto rotated = km->rotate(/*immediate=*/true);
  ASSERT_TRUE(rotated.ok());
  EXPECT_EQ(km->currentSigner().kid, *rotated);
  EXPECT_EQ(jwksKids(*km).size(), 2u);
}

// `keys rotate` then `keys rotate --now`: the first new key is replaced before it activates and
// never signs. Its state says so at every moment, and never contradicts its times.
TEST_F(KeyManagerTest, KeyReplacedBeforeItActivatesIsSupersededNotPrevious) {
  auto km = started();
  const std::string first_kid = km->currentSigner().kid;
  auto scheduled = km->rotate();
  ASSERT_TRUE(scheduled.ok());
  clock_.advance(10);
  auto immediate = km->rotate(/*immediate=*/true);
  ASSERT_TRUE(immediate.ok());
  EXPECT_EQ(km->currentSigner().kid, *immediate);

  for (int64_t step :
       {int64_t{0}, policy_.publish_ahead, policy_.max_token_ttl - policy_.publish_ahead - 1}) {
    clock_.advance(step);
    auto listed = km->list();
    ASSERT_EQ(listed.size(), 3u);
    EXPECT_EQ(listed.at(0).kid, *immediate);
    EXPECT_EQ(listed.at(0).state, "current");
    EXPECT_EQ(listed.at(1).kid, *scheduled);
    EXPECT_EQ(listed.at(1).state, "superseded") << "at +" << step;
    EXPECT_LT(listed.at(1).retires_at, listed.at(1).activates_at);
    EXPECT_EQ(listed.at(2).kid, first_kid);
    EXPECT_EQ(listed.at(2).state, "previous");
    EXPECT_LT(listed.at(2).activates_at, listed.at(2).retires_at);
    EXPECT_EQ(km->currentSigner().kid, *immediate);
  }
  clock_.set(stored(*scheduled).expires_at);
  EXPECT_EQ(km->list().at(1).state, "retired");
}

TEST_F(KeyManagerTest, PreviousKeyVerifiesUntilEveryTokenItSignedHasExpired) {
  auto km = started();
  const std::string old_kid = km->currentSigner().kid;
  const int64_t rotated_at = clock_.now();
  ASSERT_TRUE(km->rotate().ok());
  clock_.advance(policy_.publish_ahead - 1);
  const std::string last_old_token = signNow(*km);
  EXPECT_EQ(decodeJwt(last_old_token)->kid, old_kid);
  clock_.advance(1);

  const int64_t retires_at = rotated_at + policy_.publish_ahead;
  auto rec = stored(old_kid);
  EXPECT_EQ(rec.retires_at, retires_at);
  EXPECT_EQ(rec.expires_at, retires_at + policy_.max_token_ttl);

  clock_.set(rec.expires_at - 1);
  EXPECT_EQ(signatureCheck(*km, last_old_token), JwtStatus::kOk);
  EXPECT_EQ(jwksKids(*km).size(), 2u);
  clock_.set(rec.expires_at);
  EXPECT_EQ(signatureCheck(*km, last_old_token), JwtStatus::kUnknownKid);
  EXPECT_EQ(jwksKids(*km), std::vector<std::string>{km->currentSigner().kid});
  EXPECT_EQ(km->list().at(1).state, "retired");
}

TEST_F(KeyManagerTest, TwoInstancesRotatingAtOnceProduceExactlyOneKey) {
  testing::TokenHookedStore hooked(*store_);
  auto a = manager(hooked);
  a->initialize();
  auto b = started();
  Result<std::string> b_kid = Error::internal("hook did not run");
  // b completes a rotation between a's listing of the keys and a's insert.
  hooked.beforeNextKeyInsert([&] { b_kid = b->rotate(); });
  auto a_kid = a->rotate();
  ASSERT_TRUE(b_kid.ok()) << b_kid.error().message;
  ASSERT_TRUE(a_kid.ok()) << a_kid.error().message;
  EXPECT_EQ(*a_kid, *b_kid);
  EXPECT_EQ(storedKeys().size(), 2u);
  EXPECT_EQ(jwksKids(*a), jwksKids(*b));
}

TEST_F(KeyManagerTest, InstancesRefreshingWhenRotationIsDueCreateExactlyOneKey) {
  constexpr int kInstances = 4;
  std::vector<std::unique_ptr<FakeRandom>> randoms;
  std::vector<std::shared_ptr<KeyManager>> managers;
  for (int i = 0; i < kInstances; ++i) {
    // One keyring per instance: FakeRandom is not meant to be shared across threads.
    randoms.push_back(std::make_unique<FakeRandom>(100 + i));
    managers.push_back(manager(*store_, MasterKeyring::create({kMaster}, *randoms.back())));
    managers.back()->initialize();
  }
  ASSERT_EQ(storedKeys().size(), 1u);
  clock_.advance(policy_.rotation_period);

  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (auto& km : managers) {
    threads.emplace_back([&failures, km] {
      if (!km->refresh().ok()) ++failures;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  ASSERT_EQ(storedKeys().size(), 2u);
  for (auto& km : managers) EXPECT_EQ(jwksKids(*km).size(), 2u);
}

TEST_F(KeyManagerTest, RefreshPicksUpAKeyAnotherInstanceCreated) {
  auto a = started();
  auto b = started();
  auto kid = a->rotate();
  ASSERT_TRUE(kid.ok());
  EXPECT_EQ(b->verificationKey(*kid), nullptr);
  ASSERT_TRUE(b->refresh().ok());
  EXPECT_NE(b->verificationKey(*kid), nullptr);
  EXPECT_EQ(jwksKids(*b), jwksKids(*a));
  clock_.advance(policy_.publish_ahead);
  EXPECT_EQ(b->currentSigner().kid, *kid);
}

TEST_F(KeyManagerTest, RefreshRotatesOnceTheNewestKeyIsARotationPeriodOld) {
  auto km = started();
  clock_.advance(policy_.rotation_period - 1);
  ASSERT_TRUE(km->refresh().ok());
  EXPECT_EQ(storedKeys().size(), 1u);
  clock_.advance(1);
  ASSERT_TRUE(km->refresh().ok());
  EXPECT_EQ(storedKeys().size(), 2u);
  EXPECT_EQ(km->list().at(0).state, "next");
  ASSERT_TRUE(km->refresh().ok());
  EXPECT_EQ(storedKeys().size(), 2u);
}

TEST_F(KeyManagerTest, ZeroRotationPeriodNeverRotates) {
  policy_.rotation_period = 0;
  auto km = started();
  clock_.advance(10 * 365 * 86400);
  ASSERT_TRUE(km->refresh().ok());
  EXPECT_EQ(storedKeys().size(), 1u);
}

TEST_F(KeyManagerTest, RefreshReusesKeysItHasAlreadyParsed) {
  auto km = started();
  const std::string kid = km->currentSigner().kid;
  auto before = km->verificationKey(kid);
  ASSERT_TRUE(km->refresh().ok());
  EXPECT_EQ(km->verificationKey(kid), before);
}

TEST_F(KeyManagerTest, JwksPublishesOnlyPublicPartsAndIsReusedUntilKeysChange) {
  auto km = started();
  auto doc = km->jwksJson();
  EXPECT_EQ(km->jwksJson(), doc);
  auto key = json::parse(*doc)["keys"].at(0);
  EXPECT_EQ(key["kty"], "RSA");
  EXPECT_EQ(key["use"], "sig");
  EXPECT_EQ(key["alg"], "RS256");
  EXPECT_EQ(key["kid"], km->currentSigner().kid);
  EXPECT_EQ(key["n"], km->currentSigner().key->modulusB64());
  EXPECT_EQ(key["e"], "AQAB");
  EXPECT_EQ(key.size(), 6u);
  ASSERT_TRUE(km->refresh().ok());
  EXPECT_EQ(*km->jwksJson(), *doc);
  ASSERT_TRUE(km->rotate().ok());
  EXPECT_NE(*km->jwksJson(), *doc);
}

TEST_F(KeyManagerTest, ImportedPemSignsAtOnceOnAnEmptyStore) {
  auto imported = broker::testing::tokenTestKey();
  auto km = started(imported->privatePem());
  EXPECT_EQ(storedKeys().size(), 1u);
  EXPECT_EQ(km->currentSigner().kid, imported->thumbprint());
}

TEST_F(KeyManagerTest, ImportedPemBecomesTheNewCurrentGenerationOnce) {
  auto first = started();
  const std::string generated = first->currentSigner().kid;
  auto imported = broker::testing::otherTokenTestKey();
  auto km = started(imported->privatePem());
  EXPECT_EQ(km->currentSigner().kid, imported->thumbprint());
  EXPECT_EQ(stored(imported->thumbprint()).generation, 2);
  EXPECT_EQ(jwksKids(*km), (std::vector<std::string>{imported->thumbprint(), generated}));
  auto again = started(imported->privatePem());
  EXPECT_EQ(storedKeys().size(), 2u);
}

TEST_F(KeyManagerTest, UnusableImportFailsStartup) {
  auto km = manager(*store_);
  EXPECT_THROW(km->initialize("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"),
               std::runtime_error);
  EXPECT_TRUE(storedKeys().empty());
}

TEST_F(KeyManagerTest, WrongMasterKeyFailsStartupWithAClearMessage) {
  started();
  FakeRandom other_random(5);
  auto km = manager(*store_, MasterKeyring::create({kOtherMaster}, other_random));
  try {
    km->initialize();
    FAIL() << "expected std::runtime_error";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("master keys"), std::string::npos) << e.what();
  }
}

TEST_F(KeyManagerTest, RotatedMasterKeyringStillOpensStoredKeys) {
  auto first = started();
  FakeRandom other_random(5);
  auto km = manager(*store_, MasterKeyring::create({kOtherMaster, kMaster}, other_random));
  km->initialize();
  EXPECT_EQ(km->currentSigner().kid, first->currentSigner().kid);
}

TEST_F(KeyManagerTest, SealedKeyUnderAnotherKidIsRefused) {
  auto first = started();
  auto rec = storedKeys().at(0);
  auto other = broker::testing::otherTokenTestKey();
  rec.kid = other->thumbprint();
  rec.generation = 2;
  rec.public_jwk =
      json{{"kty", "RSA"}, {"n", other->modulusB64()}, {"e", other->exponentB64()}}.dump();
  ASSERT_TRUE(store_->insertSigningKey(rec).ok());
  EXPECT_THROW(started(), std::runtime_error);
  EXPECT_FALSE(first->refresh().ok());
  EXPECT_NE(first->currentSigner().key, nullptr);
}

TEST_F(KeyManagerTest, ReadersKeepWorkingWhileKeysRotate) {
  auto km = started();
  std::atomic<bool> stop{false};
  std::atomic<int> failures{0};
  std::vector<std::thread> readers;
  for (int i = 0; i < 4; ++i) {
    readers.emplace_back([&] {
      while (!stop) {
        auto signer = km->currentSigner();
        if (!signer.key || !km->verificationKey(signer.kid) || km->jwksJson()->empty()) {
          ++failures;
        }
      }
    });
  }
  ASSERT_TRUE(km->rotate(/*immediate=*/true).ok());
  ASSERT_TRUE(km->rotate(/*immediate=*/true).ok());
  stop = true;
  for (auto& t : readers) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(jwksKids(*km).size(), 3u);
}

// --- keys.algorithm ----------------------------------------------------------------------------

TEST_F(KeyManagerTest, Es256PolicyStartsWithAP256Key) {
  policy_.algorithm = SigningAlg::kES256;
  auto km = started();
  auto keys = storedKeys();
  ASSERT_EQ(keys.size(), 1u);
  EXPECT_EQ(keys[0].alg, "ES256");
  auto signer = km->currentSigner();
  ASSERT_NE(signer.key, nullptr);
  EXPECT_EQ(signer.key->algorithm(), SigningAlg::kES256);
  auto jwk = json::parse(*km->jwksJson())["keys"].at(0);
  EXPECT_EQ(jwk["kty"], "EC");
  EXPECT_EQ(jwk["crv"], "P-256");
  EXPECT_EQ(jwk["alg"], "ES256");
  EXPECT_EQ(jwk["kid"], signer.kid);
  EXPECT_EQ(jwk.size(), 7u);  // kty use alg kid crv x y: never "d"
  const std::string token = signNow(*km);
  EXPECT_EQ(decodeJwt(token)->alg, "ES256");
  EXPECT_EQ(signatureCheck(*km, token), JwtStatus::kOk);
  // A restart unseals the stored P-256 key under the same kid.
  auto again = started();
  EXPECT_EQ(again->currentSigner().kid, signer.kid);
  EXPECT_EQ(signatureCheck(*again, token), JwtStatus::kOk);
}

// RS256 -> ES256 -> RS256 on one store: each switch publishes the new key before it signs, and the
// old key verifies its tokens until they have expired.
TEST_F(KeyManagerTest, SwitchingAlgorithmPublishesBothUntilTheOldKeysTokensExpire) {
  auto rsa = started();
  const std::string rsa_kid = rsa->currentSigner().kid;
  const std::string rsa_token = signNow(*rsa);

  policy_.algorithm = SigningAlg::kES256;
  const int64_t switched_at = clock_.now();
  auto km = started();  // a restart with keys.algorithm: ES256
  auto keys = storedKeys();
  ASSERT_EQ(keys.size(), 2u);
  const auto& ec = keys[0].generation == 2 ? keys[0] : keys[1];
  EXPECT_EQ(ec.alg, "ES256");
  EXPECT_EQ(ec.activates_at, switched_at + policy_.publish_ahead);
  // Both in the JWKS, the new one first; RS256 still signs until the new key is everywhere.
  EXPECT_EQ(jwksKids(*km), (std::vector<std::string>{ec.kid, rsa_kid}));
  EXPECT_EQ(km->currentSigner().kid, rsa_kid);
  EXPECT_EQ(rsa->refresh().ok(), true);  // the other instance: sees it, makes no third key
  EXPECT_EQ(storedKeys().size(), 2u);
  EXPECT_EQ(jwksKids(*rsa), jwksKids(*km));

  clock_.advance(policy_.publish_ahead);
  ASSERT_TRUE(km->refresh().ok());
  EXPECT_EQ(storedKeys().size(), 2u) << "a finished switch is not started again";
  EXPECT_EQ(km->currentSigner().kid, ec.kid);
  const std::string ec_token = signNow(*km);
  EXPECT_EQ(decodeJwt(ec_token)->alg, "ES256");
  EXPECT_EQ(signatureCheck(*km, ec_token), JwtStatus::kOk);
  EXPECT_EQ(signatureCheck(*km, rsa_token), JwtStatus::kOk);
  EXPECT_EQ(signatureCheck(*rsa, ec_token), JwtStatus::kOk);  // any instance verifies both

  clock_.set(stored(rsa_kid).expires_at);
  EXPECT_EQ(signatureCheck(*km, rsa_token), JwtStatus::kUnknownKid);
  EXPECT_EQ(jwksKids(*km), std::vector<std::string>{ec.kid});

  // And back: a rotation under RS256 makes an RSA key again.
  policy_.algorithm = SigningAlg::kRS256;
  auto back = manager(*store_);
  back->initialize();
  EXPECT_EQ(storedKeys().size(), 3u);
  auto listed = back->list();
  EXPECT_EQ(listed.at(0).state, "next");
  EXPECT_EQ(back->verificationKey(listed.at(0).kid)->algorithm(), SigningAlg::kRS256);
  EXPECT_EQ(back->currentSigner().key->algorithm(), SigningAlg::kES256);
}

TEST_F(KeyManagerTest, RotationKeepsTheConfiguredAlgorithm) {
  policy_.algorithm = SigningAlg::kES256;
  auto km = started();
  auto kid = km->rotate(/*immediate=*/true);
  ASSERT_TRUE(kid.ok());
  EXPECT_EQ(km->currentSigner().kid, *kid);
  EXPECT_EQ(km->currentSigner().key->algorithm(), SigningAlg::kES256);
  EXPECT_EQ(stored(*kid).alg, "ES256");
}

TEST_F(KeyManagerTest, AnImportedKeyOfTheOtherAlgorithmFailsStartup) {
  policy_.algorithm = SigningAlg::kES256;
  auto km = manager(*store_);
  try {
    km->initialize(broker::testing::tokenTestKey()->privatePem());
    ADD_FAILURE() << "started";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("an RS256 key, but keys.algorithm is ES256"),
              std::string::npos)
        << e.what();
  }
  EXPECT_TRUE(storedKeys().empty());
  policy_.algorithm = SigningAlg::kES256;
  auto ok = started(broker::testing::es256TestKey()->privatePem());
  EXPECT_EQ(ok->currentSigner().kid, broker::testing::es256TestKey()->thumbprint());
}

TEST_F(KeyManagerTest, DefaultGeneratorMakesA2048BitKey) {
  auto km = KeyManager::create(*store_, master_, clock_, random_, policy_);
  km->initialize();
  auto signer = km->currentSigner();
  ASSERT_NE(signer.key, nullptr);
  EXPECT_EQ(signer.key->bits(), 2048);
  EXPECT_TRUE(signer.key->hasPrivate());
}

TEST_F(KeyManagerTest, SignerIsEmptyBeforeInitialize) {
  auto km = manager(*store_);
  EXPECT_EQ(km->currentSigner().key, nullptr);
  EXPECT_EQ(json::parse(*km->jwksJson())["keys"].size(), 0u);
}

}  // namespace
}  // namespace broker::token
