#include "broker/store/revocation_list.h"

#include <gtest/gtest.h>

#include <atomic>

#include "fakes/token_hooked_store.h"

namespace broker::store {
namespace {

using Answer = RevocationList::Answer;

// A real store whose revocation listing can be made to fail, as an unreachable database would.
class FlakyStore : public testing::TokenHookedStore {
 public:
  using TokenHookedStore::TokenHookedStore;
  Result<RevokedGrants> listRevokedGrants(int64_t since, int64_t now) override {
    ++loads;
    if (down) return Error::unavailable("database is down");
    return TokenHookedStore::listRevokedGrants(since, now);
  }
  std::atomic<bool> down{false};
  std::atomic<int> loads{0};
};

class RevocationListTest : public ::testing::Test {
 protected:
  std::unique_ptr<Store> real_ = openStore("sqlite::memory:");
  FlakyStore store_{*real_};
  FakeClock clock_;
  RevocationList list_{store_, clock_, {3600, 1, 5}};
};

TEST_F(RevocationListTest, KnowsNothingBeforeItsFirstLoad) {
  EXPECT_EQ(list_.check("jti-1", "f1"), Answer::kUnknown);
}

TEST_F(RevocationListTest, ARevocationShowsAfterTheNextSync) {
  ASSERT_TRUE(list_.sync().ok());
  EXPECT_EQ(list_.check("jti-1", "f1"), Answer::kNotRevoked);
  ASSERT_TRUE(store_.revokeAccessToken("jti-1", clock_.now() + 300).ok());
  EXPECT_EQ(list_.check("jti-1", "f1"), Answer::kNotRevoked);  // not loaded yet
  ASSERT_TRUE(list_.sync().ok());
  EXPECT_EQ(list_.check("jti-1", "f1"), Answer::kRevoked);
  EXPECT_EQ(list_.check("jti-1", ""), Answer::kRevoked);
  EXPECT_EQ(list_.check("jti-2", "f1"), Answer::kNotRevoked);
  EXPECT_EQ(list_.size(), 1u);
}

TEST_F(RevocationListTest, AnOldLoadIsNotTrustedAndAFailedLoadKeepsIt) {
  ASSERT_TRUE(store_.revokeAccessToken("jti-1", clock_.now() + 300).ok());
  ASSERT_TRUE(list_.sync().ok());
  store_.down = true;
  clock_.advance(5);
  EXPECT_FALSE(list_.sync().ok());
  EXPECT_EQ(list_.check("jti-1", ""), Answer::kRevoked);  // the last good load, 5 s old
  clock_.advance(1);
  EXPECT_EQ(list_.check("jti-1", ""), Answer::kUnknown);
  EXPECT_EQ(list_.check("jti-2", ""), Answer::kUnknown);
  store_.down = false;
  ASSERT_TRUE(list_.sync().ok());
  EXPECT_EQ(list_.check("jti-2", ""), Answer::kNotRevoked);
}

TEST_F(RevocationListTest, BackgroundThreadLoadsUntilStopped) {
  list_.start();
  for (int i = 0; i < 500 && store_.loads.load() == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_GE(store_.loads.load(), 1);
  EXPECT_EQ(list_.check("jti-1", ""), Answer::kNotRevoked);
  list_.stop();
  const int loads = store_.loads.load();
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(store_.loads.load(), loads);
}

}  // namespace
}  // namespace broker::store
