#include "broker/store/audit_log.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "broker/core/broker_metrics.h"
#include "fakes/token_hooked_store.h"

namespace broker::store {
namespace {

// A real store whose audit writes can be made to fail, as an unreachable database would.
class FlakyAuditStore : public testing::TokenHookedStore {
 public:
  using TokenHookedStore::TokenHookedStore;
  Status appendAudit(const std::vector<AuditEvent>& events) override {
    ++batches;
    if (down) return Error::unavailable("database is down");
    return TokenHookedStore::appendAudit(events);
  }
  std::atomic<bool> down{false};
  std::atomic<int> batches{0};
};

AuditEvent named(const std::string& event) {
  AuditEvent e;
  e.event = event;
  e.actor = "admin";
  e.detail = "";
  return e;
}

std::vector<std::string> eventsIn(Store& store) {
  std::vector<std::string> out;
  auto all = store.listAudit({});
  EXPECT_TRUE(all.ok());
  if (all.ok()) {
    for (const auto& e : *all) out.push_back(e.event);
  }
  return out;
}

class AuditLogTest : public ::testing::Test {
 protected:
  std::unique_ptr<Store> real_ = openStore("sqlite::memory:");
  FlakyAuditStore store_{*real_};
  FakeClock clock_;
  FakeRandom random_;
  metrics::Registry registry_;
  metrics::BrokerMetrics metrics_{registry_};
};

TEST_F(AuditLogTest, RecordQueuesAndFlushWritesOneBatchInOrder) {
  AuditLog log(store_, clock_, random_, &metrics_);
  log.record(named("first"));
  clock_.advance(1);
  log.record(named("second"));
  EXPECT_EQ(log.queued(), 2u);
  EXPECT_TRUE(eventsIn(store_).empty());  // nothing waits for the store in record()
  ASSERT_TRUE(log.flush().ok());
  EXPECT_EQ(store_.batches, 1);
  EXPECT_EQ(log.queued(), 0u);
  auto all = store_.listAudit({});
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ(all->at(0).event, "first");
  EXPECT_EQ(all->at(0).at, 1'700'000'000);
  EXPECT_EQ(all->at(1).at, 1'700'000'001);
  EXPECT_EQ(all->at(0).detail, "{}");
  EXPECT_LT(all->at(0).event_id, all->at(1).event_id);
  EXPECT_EQ(all->at(0).event_id.size(), 28u);  // 16 hex digits of time, 12 of randomness
  EXPECT_EQ(metrics_.audit_events.with({"first"}).value(), 1u);
  EXPECT_TRUE(log.flush().ok());  // nothing left: no empty batch is written
  EXPECT_EQ(store_.batches, 1);
}

TEST_F(AuditLogTest, AFailedBatchStaysQueuedAndIsWrittenLater) {
  AuditLog log(store_, clock_, random_, &metrics_);
  log.record(named("a"));
  store_.down = true;
  EXPECT_FALSE(log.flush().ok());
  EXPECT_EQ(metrics_.audit_write_errors.value(), 1u);
  log.record(named("b"));
  EXPECT_EQ(log.queued(), 2u);
  store_.down = false;
  ASSERT_TRUE(log.flush().ok());
  EXPECT_EQ(eventsIn(store_), (std::vector<std::string>{"a", "b"}));
}

TEST_F(AuditLogTest, TheBackgroundWriterWritesWithinItsIntervalAndStopFlushes) {
  AuditLog log(store_, clock_, random_, &metrics_, {20, 256, 1000});
  log.start();
  log.record(named("soon"));
  for (int i = 0; i < 200 && eventsIn(store_).empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(eventsIn(store_), std::vector<std::string>{"soon"});
  log.record(named("at-stop"));
  log.stop();
  EXPECT_EQ(eventsIn(store_), (std::vector<std::string>{"soon", "at-stop"}));
}

TEST_F(AuditLogTest, AFullQueueDropsNewEventsAndCountsThem) {
  AuditLog log(store_, clock_, random_, &metrics_, {1000, 256, 2});
  log.record(named("a"));
  log.record(named("b"));
  log.record(named("c"));
  EXPECT_EQ(log.queued(), 2u);
  EXPECT_EQ(metrics_.audit_write_errors.value(), 1u);
  ASSERT_TRUE(log.flush().ok());
  EXPECT_EQ(eventsIn(store_), (std::vector<std::string>{"a", "b"}));
}

}  // namespace
}  // namespace broker::store
