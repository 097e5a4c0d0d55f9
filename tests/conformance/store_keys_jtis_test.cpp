// Store conformance: signing keys (rotation race on generation) and revoked access-token ids.

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>

#include "store_fixture.h"

namespace broker::store::testing {
namespace {

TEST_P(StoreConformance, RevokedAccessTokenIsReportedAndOthersAreNot) {
  EXPECT_FALSE(*store_->isAccessTokenRevoked("jti-1"));
  ASSERT_TRUE(store_->revokeAccessToken("jti-1", now_ + 300).ok());
  EXPECT_TRUE(*store_->isAccessTokenRevoked("jti-1"));
  EXPECT_FALSE(*store_->isAccessTokenRevoked("jti-2"));
}

TEST_P(StoreConformance, RevokingAccessTokenTwiceIsHarmless) {
  ASSERT_TRUE(store_->revokeAccessToken("jti-1", now_ + 300).ok());
  EXPECT_TRUE(store_->revokeAccessToken("jti-1", now_ + 300).ok());
  EXPECT_TRUE(*store_->isAccessTokenRevoked("jti-1"));
}

TEST_P(StoreConformance, GrantRevocationCoversTheJtiAndTheFamily) {
  ASSERT_TRUE(store_->createClient(sampleClient("c1")).ok());
  auto family = sampleFamily("f1", "c1", now_ + 86400);
  ASSERT_TRUE(store_->createFamily(family, sampleToken("t1", family, now_ + 3600)).ok());
  EXPECT_FALSE(*store_->isAccessGrantRevoked("jti-1", "f1"));
  EXPECT_FALSE(*store_->isAccessGrantRevoked("jti-1", ""));
  EXPECT_FALSE(*store_->isAccessGrantRevoked("jti-1", "collected-family"));

  ASSERT_TRUE(store_->revokeAccessToken("jti-1", now_ + 300).ok());
  EXPECT_TRUE(*store_->isAccessGrantRevoked("jti-1", "f1"));
  EXPECT_TRUE(*store_->isAccessGrantRevoked("jti-1", ""));
  EXPECT_FALSE(*store_->isAccessGrantRevoked("jti-2", "f1"));

  ASSERT_TRUE(store_->revokeFamily("f1", "test", now_).ok());
  EXPECT_TRUE(*store_->isAccessGrantRevoked("jti-2", "f1"));
  EXPECT_FALSE(*store_->isAccessGrantRevoked("jti-2", ""));
}

TEST_P(StoreConformance, RevokedGrantListHoldsLiveJtisAndRecentlyRevokedFamilies) {
  ASSERT_TRUE(store_->createClient(sampleClient("c1")).ok());
  for (const char* id : {"old", "recent", "live"}) {
    auto family = sampleFamily(id, "c1", now_ + 86400);
    ASSERT_TRUE(
        store_->createFamily(family, sampleToken(std::string("t-") + id, family, now_ + 3600))
            .ok());
  }
  ASSERT_TRUE(store_->revokeFamily("old", "test", now_ - 7200).ok());
  ASSERT_TRUE(store_->revokeFamily("recent", "test", now_ - 10).ok());
  ASSERT_TRUE(store_->revokeAccessToken("jti-live", now_ + 300).ok());
  ASSERT_TRUE(store_->revokeAccessToken("jti-expired", now_ - 1).ok());

  auto list = store_->listRevokedGrants(now_ - 3600, now_);
  ASSERT_TRUE(list.ok()) << list.error().message;
  EXPECT_EQ(list->jtis, std::vector<std::string>{"jti-live"});
  EXPECT_EQ(list->families, std::vector<std::string>{"recent"});

  // The horizon is inclusive: a family revoked exactly at `since` is still listed.
  auto wider = store_->listRevokedGrants(now_ - 7200, now_);
  ASSERT_TRUE(wider.ok());
  auto families = wider->families;
  std::sort(families.begin(), families.end());
  EXPECT_EQ(families, (std::vector<std::string>{"old", "recent"}));
}

TEST_P(StoreConformance, SigningKeysRoundTripInGenerationOrder) {
  EXPECT_TRUE(store_->listSigningKeys()->empty());
  auto k3 = sampleKey("k3", 3);
  k3.retires_at = now_ + 10;
  k3.expires_at = now_ + 20;
  for (const auto& k : {k3, sampleKey("k1", 1), sampleKey("k2", 2)}) {
    ASSERT_TRUE(store_->insertSigningKey(k).ok());
  }
  auto keys = store_->listSigningKeys();
  ASSERT_TRUE(keys.ok());
  ASSERT_EQ(keys->size(), 3u);
  EXPECT_EQ(fields((*keys)[0]), fields(sampleKey("k1", 1)));
  EXPECT_EQ(fields((*keys)[1]), fields(sampleKey("k2", 2)));
  EXPECT_EQ(fields((*keys)[2]), fields(k3));
}

TEST_P(StoreConformance, InsertingKeyWithTakenGenerationReportsAlreadyExists) {
  ASSERT_TRUE(store_->insertSigningKey(sampleKey("k1", 1)).ok());
  EXPECT_TRUE(
      failsWith(store_->insertSigningKey(sampleKey("other", 1)), ErrorCode::kAlreadyExists));
  EXPECT_EQ(store_->listSigningKeys()->size(), 1u);
}

TEST_P(StoreConformance, InsertingKeyWithTakenKidReportsAlreadyExists) {
  ASSERT_TRUE(store_->insertSigningKey(sampleKey("k1", 1)).ok());
  EXPECT_TRUE(failsWith(store_->insertSigningKey(sampleKey("k1", 2)), ErrorCode::kAlreadyExists));
}

TEST_P(StoreConformance, RacingKeyRotationsProduceOneKey) {
  auto second = openSecondStore();
  std::vector<Store*> stores = {store_.get(), second.get()};
  for (int generation = 1; generation <= 20; ++generation) {
    std::atomic<int> won{0};
    std::atomic<int> lost{0};
    runTogether(2, [&](int i) {
      auto st = stores[i]->insertSigningKey(
          sampleKey("k" + std::to_string(generation) + "-" + std::to_string(i), generation));
      if (st.ok()) {
        ++won;
      } else if (st.error().code == ErrorCode::kAlreadyExists) {
        ++lost;
      }
    });
    ASSERT_EQ(won.load(), 1) << "generation " << generation;
    ASSERT_EQ(lost.load(), 1) << "generation " << generation;
  }
  EXPECT_EQ(store_->listSigningKeys()->size(), 20u);
}

TEST_P(StoreConformance, UpdatingKeyTimesChangesOnlyThoseTimes) {
  ASSERT_TRUE(store_->insertSigningKey(sampleKey("k1", 1)).ok());
  ASSERT_TRUE(store_->updateSigningKeyTimes("k1", now_ + 100, now_ + 200).ok());
  auto expected = sampleKey("k1", 1);
  expected.retires_at = now_ + 100;
  expected.expires_at = now_ + 200;
  EXPECT_EQ(fields(store_->listSigningKeys()->front()), fields(expected));
}

TEST_P(StoreConformance, UpdatingUnknownKeyTimesReportsNotFound) {
  EXPECT_TRUE(failsWith(store_->updateSigningKeyTimes("nope", now_, now_), ErrorCode::kNotFound));
}

}  // namespace
}  // namespace broker::store::testing
