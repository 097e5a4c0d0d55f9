#include "broker/token/master_keyring.h"

#include <gtest/gtest.h>

#include <stdexcept>

#include "broker/core/encoding.h"
#include "fakes/token_mutations.h"

namespace broker::token {
namespace {

const Secret kOld(std::string(32, 'o') + "-old-master-secret");
const Secret kNew(std::string(40, 'n') + "-new-master-secret");

class MasterKeyringTest : public ::testing::Test {
 protected:
  FakeRandom random_;
  std::shared_ptr<const MasterKeyring> ring_ = MasterKeyring::create({kOld}, random_);
};

TEST_F(MasterKeyringTest, SealedValueOpensWithTheSameAad) {
  for (std::string plain : {std::string(), std::string("x"), std::string(5000, '\xfe')}) {
    auto sealed = ring_->seal(plain, "refresh");
    EXPECT_TRUE(base64urlDecode(sealed).has_value());
    auto opened = ring_->open(sealed, "refresh");
    ASSERT_TRUE(opened.ok()) << opened.error().message;
    EXPECT_EQ(*opened, plain);
  }
}

TEST_F(MasterKeyringTest, SealingTwiceUsesFreshNonces) {
  EXPECT_NE(ring_->seal("same", "a"), ring_->seal("same", "a"));
}

TEST_F(MasterKeyringTest, PlaintextDoesNotAppearInTheBlob) {
  auto raw = *base64urlDecode(ring_->seal("-----BEGIN PRIVATE KEY-----", "signing-key"));
  EXPECT_EQ(raw.find("PRIVATE"), std::string::npos);
}

TEST_F(MasterKeyringTest, EveryBitFlipOfASealedBlobFailsToOpen) {
  auto sealed = ring_->seal("the refresh family payload", "refresh");
  ASSERT_TRUE(ring_->open(sealed, "refresh").ok());
  int tried = 0;
  testing::forEachBitFlip(*base64urlDecode(sealed), [&](const std::string& raw, size_t i, int bit) {
    ++tried;
    EXPECT_FALSE(ring_->open(base64urlEncode(raw), "refresh").ok())
        << "byte " << i << " bit " << bit;
  });
  EXPECT_GT(tried, 8 * (1 + 4 + 12 + 16));
}

TEST_F(MasterKeyringTest, EveryTruncationFailsToOpen) {
  auto sealed = ring_->seal("payload", "refresh");
  testing::forEachTruncation(*base64urlDecode(sealed), [&](const std::string& raw) {
    EXPECT_FALSE(ring_->open(base64urlEncode(raw), "refresh").ok()) << raw.size();
  });
  testing::forEachTruncation(sealed, [&](const std::string& text) {
    EXPECT_FALSE(ring_->open(text, "refresh").ok()) << text.size();
  });
}

TEST_F(MasterKeyringTest, WrongAadFailsToOpen) {
  auto sealed = ring_->seal("payload", "refresh");
  EXPECT_FALSE(ring_->open(sealed, "signing-key").ok());
  EXPECT_FALSE(ring_->open(sealed, "").ok());
  EXPECT_FALSE(ring_->open(sealed, std::string_view("refresh\0", 8)).ok());
  EXPECT_EQ(ring_->open(sealed, "Refresh").error().code, ErrorCode::kPermissionDenied);
}

TEST_F(MasterKeyringTest, GarbageNeverOpensAndNeverThrows) {
  for (const std::string& garbage :
       std::vector<std::string>{"", "=", "!!!!", "AAAA", std::string(64, 'A'), std::string(3, '\0'),
                                base64urlEncode(std::string(200, '\x01'))}) {
    EXPECT_FALSE(ring_->open(garbage, "refresh").ok()) << garbage;
  }
}

TEST_F(MasterKeyringTest, BlobFromAnUnknownMasterKeyReportsNotFound) {
  FakeRandom other_random(7);
  auto other = MasterKeyring::create({kNew}, other_random);
  auto result = ring_->open(other->seal("payload", "refresh"), "refresh");
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().code, ErrorCode::kNotFound);
}

TEST_F(MasterKeyringTest, RotatedKeyringSealsWithNewKeyAndStillOpensOldBlobs) {
  auto old_blob = ring_->seal("sealed before rotation", "signing-key");
  auto rotated = MasterKeyring::create({kNew, kOld}, random_);
  EXPECT_NE(rotated->primaryKeyId(), ring_->primaryKeyId());
  EXPECT_EQ(rotated->keyIds(),
            (std::vector<std::string>{rotated->primaryKeyId(), ring_->primaryKeyId()}));

  auto opened = rotated->open(old_blob, "signing-key");
  ASSERT_TRUE(opened.ok()) << opened.error().message;
  EXPECT_EQ(*opened, "sealed before rotation");

  auto new_blob = rotated->seal("sealed after rotation", "signing-key");
  EXPECT_FALSE(ring_->open(new_blob, "signing-key").ok());
  EXPECT_EQ(*rotated->open(new_blob, "signing-key"), "sealed after rotation");
}

TEST_F(MasterKeyringTest, KeyIdsAreShortHexAndStable) {
  FakeRandom other_random(9);
  auto again = MasterKeyring::create({kOld}, other_random);
  EXPECT_EQ(ring_->primaryKeyId(), again->primaryKeyId());
  EXPECT_EQ(ring_->primaryKeyId().size(), 8u);
  EXPECT_TRUE(hexDecode(ring_->primaryKeyId()).has_value());
}

TEST_F(MasterKeyringTest, DerivedKeysDependOnPurposeAndFirstSecretOnly) {
  auto cookie = ring_->deriveKey("cookie");
  EXPECT_EQ(cookie.size(), 32u);
  EXPECT_EQ(cookie, ring_->deriveKey("cookie"));
  EXPECT_NE(cookie, ring_->deriveKey("jti"));
  auto with_extra = MasterKeyring::create({kOld, kNew}, random_);
  EXPECT_EQ(with_extra->deriveKey("cookie"), cookie);
  auto rotated = MasterKeyring::create({kNew, kOld}, random_);
  EXPECT_NE(rotated->deriveKey("cookie"), cookie);
}

TEST_F(MasterKeyringTest, ShortSecretIsRefusedNamingItsIndex) {
  try {
    (void)MasterKeyring::create({kOld, Secret(std::string(31, 's'))}, random_);
    FAIL() << "expected std::invalid_argument";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("[1]"), std::string::npos) << e.what();
    EXPECT_EQ(std::string(e.what()).find(std::string(31, 's')), std::string::npos);
  }
}

TEST_F(MasterKeyringTest, EmptySecretListIsRefused) {
  EXPECT_THROW((void)MasterKeyring::create({}, random_), std::invalid_argument);
}

}  // namespace
}  // namespace broker::token
