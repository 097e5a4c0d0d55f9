#include "http/worker_pool.h"

#include <gtest/gtest.h>

#include <atomic>

#include "unit/http/latch.h"

namespace broker::http {
namespace {

using namespace std::chrono_literals;

TEST(HttpWorkerPool, RunsJobsAndJoinsOnShutdown) {
  std::atomic<int> ran{0};
  WorkerPool pool(3, 100);
  for (int i = 0; i < 50; ++i) ASSERT_TRUE(pool.tryPost([&] { ++ran; }));
  EXPECT_TRUE(pool.shutdown(WorkerPool::Clock::now() + 10s));
  EXPECT_EQ(ran.load(), 50);
  EXPECT_FALSE(pool.tryPost([] {}));
}

TEST(HttpWorkerPool, RefusesBeyondQueueLimit) {
  Latch started, release;
  WorkerPool pool(1, 2);
  ASSERT_TRUE(pool.tryPost([&] {
    started.open();
    release.wait();
  }));
  started.wait();  // the only thread is busy, so the next jobs queue
  EXPECT_TRUE(pool.tryPost([] {}));
  EXPECT_TRUE(pool.tryPost([] {}));
  EXPECT_FALSE(pool.tryPost([] {}));
  release.open();
  EXPECT_TRUE(pool.shutdown(WorkerPool::Clock::now() + 10s));
}

// How many jobs a pool takes must not depend on how fast the scheduler wakes its threads: posted
// at once, before any thread has run, every thread's job and queue_limit more are taken.
TEST(HttpWorkerPool, IdleThreadsTakeJobsBeyondTheQueueLimitHoweverLateTheyWake) {
  Latch release;
  WorkerPool pool(3, 2);
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(pool.tryPost([&] { release.wait(); })) << i;
  EXPECT_FALSE(pool.tryPost([] {}));
  release.open();
  EXPECT_TRUE(pool.shutdown(WorkerPool::Clock::now() + 10s));
}

TEST(HttpWorkerPool, DetachesAThreadStuckPastTheDeadline) {
  auto release = std::make_shared<Latch>();
  auto started = std::make_shared<Latch>();
  WorkerPool pool(1, 1);
  ASSERT_TRUE(pool.tryPost([release, started] {
    started->open();
    release->wait();
  }));
  started->wait();
  EXPECT_FALSE(pool.shutdown(WorkerPool::Clock::now() + 10ms));
  release->open();  // the detached thread finishes on its own
}

TEST(HttpWorkerPool, SurvivesAThrowingJob) {
  std::atomic<int> ran{0};
  WorkerPool pool(1, 10);
  ASSERT_TRUE(pool.tryPost([] { throw std::runtime_error("boom"); }));
  ASSERT_TRUE(pool.tryPost([&] { ++ran; }));
  EXPECT_TRUE(pool.shutdown(WorkerPool::Clock::now() + 10s));
  EXPECT_EQ(ran.load(), 1);
}

}  // namespace
}  // namespace broker::http
