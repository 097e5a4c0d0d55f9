#include "broker/store/store_monitor.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "fakes/token_hooked_store.h"

namespace broker::store {
namespace {

// A real store whose ping can be made to fail, as an unreachable database would.
class PingStore : public testing::TokenHookedStore {
 public:
  using TokenHookedStore::TokenHookedStore;
  Status ping() override {
    ++pings;
    if (down) return Error::unavailable("database is down");
    return TokenHookedStore::ping();
  }
  std::atomic<bool> down{false};
  std::atomic<int> pings{0};
};

class StoreMonitorTest : public ::testing::Test {
 protected:
  std::unique_ptr<Store> real_ = openStore("sqlite::memory:");
  PingStore store_{*real_};
  FakeClock clock_;
  StoreMonitor monitor_{store_, clock_, {10, 5}};
};

TEST_F(StoreMonitorTest, UnknownUntilTheFirstPing) {
  EXPECT_FALSE(monitor_.state().reachable);
  EXPECT_EQ(monitor_.state().since, 0);
  ASSERT_TRUE(monitor_.probe().ok());
  EXPECT_TRUE(monitor_.state().reachable);
  EXPECT_EQ(monitor_.state().since, clock_.now());
}

TEST_F(StoreMonitorTest, SaysWhenTheStoreWentAwayAndWhenItCameBack) {
  ASSERT_TRUE(monitor_.probe().ok());
  const int64_t up_since = clock_.now();
  clock_.advance(3);
  ASSERT_TRUE(monitor_.probe().ok());
  EXPECT_EQ(monitor_.state().since, up_since);  // unchanged: still the same stretch

  store_.down = true;
  clock_.advance(1);
  EXPECT_FALSE(monitor_.probe().ok());
  const int64_t down_since = clock_.now();
  clock_.advance(4);
  EXPECT_FALSE(monitor_.probe().ok());
  EXPECT_FALSE(monitor_.state().reachable);
  EXPECT_EQ(monitor_.state().since, down_since);

  store_.down = false;
  clock_.advance(1);
  ASSERT_TRUE(monitor_.probe().ok());
  EXPECT_TRUE(monitor_.state().reachable);
  EXPECT_EQ(monitor_.state().since, clock_.now());
}

// A ping that never returns leaves no newer result: the last good one stops counting when it is
// older than max_age.
TEST_F(StoreMonitorTest, AnOldGoodPingNoLongerCounts) {
  ASSERT_TRUE(monitor_.probe().ok());
  const int64_t last_ok = clock_.now();
  clock_.advance(5);
  EXPECT_TRUE(monitor_.state().reachable);
  clock_.advance(1);
  EXPECT_FALSE(monitor_.state().reachable);
  EXPECT_EQ(monitor_.state().since, last_ok);
}

TEST_F(StoreMonitorTest, PingsInTheBackgroundUntilStopped) {
  monitor_.start();
  for (int i = 0; i < 500 && store_.pings.load() < 3; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_GE(store_.pings.load(), 3);
  EXPECT_TRUE(monitor_.state().reachable);
  monitor_.stop();
  const int pings = store_.pings.load();
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(store_.pings.load(), pings);
}

}  // namespace
}  // namespace broker::store
