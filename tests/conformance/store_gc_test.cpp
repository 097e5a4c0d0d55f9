// Store conformance: garbage collection deletes exactly the expired rows.

#include <gtest/gtest.h>

#include <algorithm>
#include <mutex>

#include "store/sql_store.h"
#include "store_fixture.h"

namespace broker::store::testing {
namespace {

// Seeds one expired and one live row of every kind, relative to now_.
void seedExpiredAndLive(Store& store, int64_t now) {
  auto dynamic_client = sampleClient("c1");
  dynamic_client.last_used_at = now;
  ASSERT_TRUE(store.createClient(dynamic_client).ok());

  ASSERT_TRUE(store.createPendingLogin(sampleLogin("login-old", "c1", now - 1)).ok());
  ASSERT_TRUE(store.createPendingLogin(sampleLogin("login-new", "c1", now + 600)).ok());

  ASSERT_TRUE(
      store.createAuthCode(sampleCode("code-old", "c1", now - kAuthCodeRetentionSeconds - 1)).ok());
  ASSERT_TRUE(store.createAuthCode(sampleCode("code-recent", "c1", now - 10)).ok());

  auto old_family = sampleFamily("family-old", "c1", now - 1);
  ASSERT_TRUE(
      store.createFamily(old_family, sampleToken("token-of-old-family", old_family, now + 60))
          .ok());
  auto family = sampleFamily("family-new", "c1", now + 86400);
  ASSERT_TRUE(store.createFamily(family, sampleToken("token-old", family, now - 1)).ok());
  ASSERT_TRUE(
      store.rotateRefreshToken("token-old", sampleToken("token-new", family, now + 60), now - 100)
          .ok());

  ASSERT_TRUE(store.revokeAccessToken("jti-old", now - 1).ok());
  ASSERT_TRUE(store.revokeAccessToken("jti-new", now + 300).ok());

  auto retired = sampleKey("key-old", 1);
  retired.retires_at = now - 200;
  retired.expires_at = now - 1;
  ASSERT_TRUE(store.insertSigningKey(retired).ok());
  ASSERT_TRUE(store.insertSigningKey(sampleKey("key-new", 2)).ok());
}

void expectOnlyLiveRowsLeft(Store& store, int64_t now) {
  EXPECT_TRUE(store.getClient("c1").ok());
  EXPECT_FALSE(store.consumePendingLogin("login-old", now - 10).ok());
  EXPECT_TRUE(store.consumePendingLogin("login-new", now).ok());
  EXPECT_TRUE(failsWith(store.consumeAuthCode("code-old", now), ErrorCode::kNotFound));
  EXPECT_TRUE(store.consumeAuthCode("code-recent", now).ok());
  EXPECT_TRUE(failsWith(store.getFamily("family-old"), ErrorCode::kNotFound));
  EXPECT_TRUE(failsWith(store.getRefreshToken("token-of-old-family"), ErrorCode::kNotFound));
  EXPECT_TRUE(store.getFamily("family-new").ok());
  EXPECT_TRUE(failsWith(store.getRefreshToken("token-old"), ErrorCode::kNotFound));
  EXPECT_TRUE(store.getRefreshToken("token-new").ok());
  EXPECT_FALSE(*store.isAccessTokenRevoked("jti-old"));
  EXPECT_TRUE(*store.isAccessTokenRevoked("jti-new"));
  auto keys = store.listSigningKeys();
  ASSERT_EQ(keys->size(), 1u);
  EXPECT_EQ(keys->front().kid, "key-new");
}

TEST_P(StoreConformance, GarbageCollectionRemovesOnlyExpiredRows) {
  ASSERT_NO_FATAL_FAILURE(seedExpiredAndLive(*store_, now_));
  auto stats = store_->collectGarbage({now_, 0});
  ASSERT_TRUE(stats.ok()) << stats.error().message;
  EXPECT_EQ(stats->pending_logins, 1);
  EXPECT_EQ(stats->codes, 1);
  EXPECT_EQ(stats->refresh_tokens, 2);  // the expired token, and the old family's token
  EXPECT_EQ(stats->families, 1);
  EXPECT_EQ(stats->revoked_jtis, 1);
  EXPECT_EQ(stats->signing_keys, 1);
  EXPECT_EQ(stats->clients, 0);
  expectOnlyLiveRowsLeft(*store_, now_);

  auto again = store_->collectGarbage({now_, 0});
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->pending_logins + again->codes + again->refresh_tokens + again->families +
                again->revoked_jtis + again->signing_keys + again->clients,
            0);
}

// The collector deletes in batches; a backlog of several batches, and not a multiple of the batch
// size, is collected whole in one run, and nothing live goes with it.
TEST_P(StoreConformance, GarbageCollectionCollectsABacklogLargerThanOneBatch) {
  auto client = sampleClient("c1");
  client.last_used_at = now_;
  ASSERT_TRUE(store_->createClient(client).ok());
  const int64_t expired_codes = 2 * kGcBatchRows + 1;
  for (int64_t i = 0; i < expired_codes; ++i) {
    ASSERT_TRUE(store_
                    ->createAuthCode(sampleCode("old-" + std::to_string(i), "c1",
                                                now_ - kAuthCodeRetentionSeconds - 1))
                    .ok());
  }
  ASSERT_TRUE(store_->createAuthCode(sampleCode("code-recent", "c1", now_ - 10)).ok());
  const int64_t expired_families = kGcBatchRows + 1;
  for (int64_t i = 0; i < expired_families; ++i) {
    auto family = sampleFamily("family-" + std::to_string(i), "c1", now_ - 1);
    ASSERT_TRUE(
        store_->createFamily(family, sampleToken("token-" + std::to_string(i), family, now_ + 60))
            .ok());
  }
  auto live = sampleFamily("family-live", "c1", now_ + 86400);
  ASSERT_TRUE(store_->createFamily(live, sampleToken("token-live", live, now_ + 60)).ok());

  auto stats = store_->collectGarbage({now_, 0});
  ASSERT_TRUE(stats.ok()) << stats.error().message;
  EXPECT_EQ(stats->codes, expired_codes);
  EXPECT_EQ(stats->families, expired_families);
  EXPECT_EQ(stats->refresh_tokens, expired_families);
  EXPECT_TRUE(failsWith(store_->consumeAuthCode("old-0", now_), ErrorCode::kNotFound));
  EXPECT_TRUE(
      failsWith(store_->getFamily("family-" + std::to_string(kGcBatchRows)), ErrorCode::kNotFound));
  EXPECT_TRUE(store_->consumeAuthCode("code-recent", now_).ok());
  EXPECT_TRUE(store_->getRefreshToken("token-live").ok());
}

TEST_P(StoreConformance, ConcurrentGarbageCollectionsDeleteEachRowOnce) {
  ASSERT_NO_FATAL_FAILURE(seedExpiredAndLive(*store_, now_));
  auto second = openSecondStore();
  std::vector<Store*> stores = {store_.get(), second.get()};
  std::mutex mu;
  GcStats total;
  runTogether(2, [&](int i) {
    auto stats = stores[i]->collectGarbage({now_, 0});
    ASSERT_TRUE(stats.ok()) << stats.error().message;
    std::lock_guard<std::mutex> lock(mu);
    total.pending_logins += stats->pending_logins;
    total.codes += stats->codes;
    total.refresh_tokens += stats->refresh_tokens;
    total.families += stats->families;
    total.revoked_jtis += stats->revoked_jtis;
    total.signing_keys += stats->signing_keys;
  });
  EXPECT_EQ(total.pending_logins, 1);
  EXPECT_EQ(total.codes, 1);
  EXPECT_EQ(total.refresh_tokens, 2);
  EXPECT_EQ(total.families, 1);
  EXPECT_EQ(total.revoked_jtis, 1);
  EXPECT_EQ(total.signing_keys, 1);
  expectOnlyLiveRowsLeft(*store_, now_);
}

TEST_P(StoreConformance, GarbageCollectionRemovesIdleDynamicClientsOnly) {
  const int64_t ttl = 30 * 86400;
  auto idle = sampleClient("idle");
  idle.created_at = now_ - 2 * ttl;
  idle.last_used_at = now_ - ttl - 1;
  auto never_used = sampleClient("never-used");
  never_used.created_at = now_ - ttl - 1;
  never_used.last_used_at = 0;
  auto recently_used = sampleClient("recently-used");
  recently_used.created_at = now_ - 2 * ttl;
  recently_used.last_used_at = now_ - 10;
  auto new_client = sampleClient("new");
  new_client.created_at = now_ - 10;
  new_client.last_used_at = 0;
  auto preregistered = sampleClient("preregistered");
  preregistered.preregistered = true;
  preregistered.created_at = now_ - 2 * ttl;
  preregistered.last_used_at = 0;
  for (const auto& c : {idle, never_used, recently_used, new_client, preregistered}) {
    ASSERT_TRUE(store_->createClient(c).ok());
  }

  auto kept_forever = store_->collectGarbage({now_, 0});
  ASSERT_TRUE(kept_forever.ok());
  EXPECT_EQ(kept_forever->clients, 0);

  auto stats = store_->collectGarbage({now_, ttl});
  ASSERT_TRUE(stats.ok()) << stats.error().message;
  EXPECT_EQ(stats->clients, 2);
  std::vector<std::string> left;
  auto clients = store_->listClients();
  ASSERT_TRUE(clients.ok());
  for (const auto& c : *clients) left.push_back(c.client_id);
  std::sort(left.begin(), left.end());
  EXPECT_EQ(left, (std::vector<std::string>{"new", "preregistered", "recently-used"}));
}

TEST_P(StoreConformance, GarbageCollectionKeepsRowsWithoutExpiry) {
  ASSERT_TRUE(store_->createClient(sampleClient("c1")).ok());
  auto family = sampleFamily("f1", "c1", 0);
  ASSERT_TRUE(store_->createFamily(family, sampleToken("t1", family, 0)).ok());
  ASSERT_TRUE(store_->revokeAccessToken("jti", 0).ok());
  ASSERT_TRUE(store_->insertSigningKey(sampleKey("k1", 1)).ok());
  auto stats = store_->collectGarbage({now_, 0});
  ASSERT_TRUE(stats.ok());
  EXPECT_TRUE(store_->getFamily("f1").ok());
  EXPECT_TRUE(store_->getRefreshToken("t1").ok());
  EXPECT_TRUE(*store_->isAccessTokenRevoked("jti"));
  EXPECT_EQ(store_->listSigningKeys()->size(), 1u);
}

}  // namespace
}  // namespace broker::store::testing
