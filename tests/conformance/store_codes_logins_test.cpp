// Store conformance: single-use rows, pending upstream logins and authorization codes.

#include <gtest/gtest.h>

#include "store_fixture.h"

namespace broker::store::testing {
namespace {

TEST_P(StoreConformance, ConsumingPendingLoginReturnsEveryFieldOnce) {
  ASSERT_TRUE(store_->createClient(sampleClient("c1")).ok());
  auto login = sampleLogin("s1", "c1", now_ + 600);
  ASSERT_TRUE(store_->createPendingLogin(login).ok());

  auto first = store_->consumePendingLogin("s1", now_);
  ASSERT_TRUE(first.ok()) << first.error().message;
  EXPECT_EQ(fields(*first), fields(login));

  EXPECT_TRUE(failsWith(store_->consumePendingLogin("s1", now_), ErrorCode::kNotFound));
}

TEST_P(StoreConformance, ReadingPendingLoginLeavesItToConsume) {
  ASSERT_TRUE(store_->createClient(sampleClient("c1")).ok());
  auto login = sampleLogin("s1", "c1", now_ + 600);
  ASSERT_TRUE(store_->createPendingLogin(login).ok());

  auto read = store_->getPendingLogin("s1", now_);
  ASSERT_TRUE(read.ok()) << read.error().message;
  EXPECT_EQ(fields(*read), fields(login));
  EXPECT_TRUE(store_->consumePendingLogin("s1", now_).ok());
  EXPECT_TRUE(failsWith(store_->getPendingLogin("s1", now_), ErrorCode::kNotFound));
}

TEST_P(StoreConformance, ReadingExpiredOrUnknownPendingLoginReportsNotFound) {
  ASSERT_TRUE(store_->createClient(sampleClient("c1")).ok());
  ASSERT_TRUE(store_->createPendingLogin(sampleLogin("s1", "c1", now_)).ok());
  EXPECT_TRUE(failsWith(store_->getPendingLogin("s1", now_), ErrorCode::kNotFound));
  EXPECT_TRUE(failsWith(store_->getPendingLogin("nothing", now_), ErrorCode::kNotFound));
}

TEST_P(StoreConformance, ConsumingUnknownPendingLoginReportsNotFound) {
  EXPECT_TRUE(failsWith(store_->consumePendingLogin("nothing", now_), ErrorCode::kNotFound));
}

TEST_P(StoreConformance, ConsumingExpiredPendingLoginReportsNotFound) {
  ASSERT_TRUE(store_->createClient(sampleClient("c1")).ok());
  ASSERT_TRUE(store_->createPendingLogin(sampleLogin("s1", "c1", now_)).ok());
  EXPECT_TRUE(failsWith(store_->consumePendingLogin("s1", now_), ErrorCode::kNotFound));
}

TEST_P(StoreConformance, CreatingDuplicatePendingLoginReportsAlreadyExists) {
  ASSERT_TRUE(store_->createClient(sampleClient("c1")).ok());
  ASSERT_TRUE(store_->createPendingLogin(sampleLogin("s1", "c1", now_ + 600)).ok());
  EXPECT_TRUE(failsWith(store_->createPendingLogin(sampleLogin("s1", "c1", now_ + 600)),
                        ErrorCode::kAlreadyExists));
}

TEST_P(StoreConformance, PendingLoginForUnknownClientIsRejected) {
  // A foreign-key failure is a caller bug, reported alike by both backends.
  EXPECT_TRUE(failsWith(store_->createPendingLogin(sampleLogin("s1", "ghost", now_ + 600)),
                        ErrorCode::kInternal));
}

TEST_P(StoreConformance, ConsumingAuthCodeReturnsEveryFieldAsStored) {
  ASSERT_TRUE(store_->createClient(sampleClient("c1")).ok());
  auto code = sampleCode("h1", "c1", now_ + 60);
  ASSERT_TRUE(store_->createAuthCode(code).ok());

  auto consumed = store_->consumeAuthCode("h1", now_);
  ASSERT_TRUE(consumed.ok()) << consumed.error().message;
  EXPECT_EQ(consumed->kind, CodeConsumption::Kind::kConsumed);
  EXPECT_EQ(fields(consumed->code), fields(code));
}

TEST_P(StoreConformance, SecondConsumeOfAuthCodeReportsReplayWithFirstUseTime) {
  ASSERT_TRUE(store_->createClient(sampleClient("c1")).ok());
  auto code = sampleCode("h1", "c1", now_ + 60);
  ASSERT_TRUE(store_->createAuthCode(code).ok());
  ASSERT_TRUE(store_->consumeAuthCode("h1", now_).ok());

  auto replay = store_->consumeAuthCode("h1", now_ + 5);
  ASSERT_TRUE(replay.ok()) << replay.error().message;
  EXPECT_EQ(replay->kind, CodeConsumption::Kind::kReplayed);
  code.consumed_at = now_;
  EXPECT_EQ(fields(replay->code), fields(code));
}

TEST_P(StoreConformance, ExpiredAuthCodeIsStillConsumedForTheCallerToJudge) {
  ASSERT_TRUE(store_->createClient(sampleClient("c1")).ok());
  ASSERT_TRUE(store_->createAuthCode(sampleCode("h1", "c1", now_ - 10)).ok());
  auto consumed = store_->consumeAuthCode("h1", now_);
  ASSERT_TRUE(consumed.ok());
  EXPECT_EQ(consumed->kind, CodeConsumption::Kind::kConsumed);
  EXPECT_EQ(consumed->code.expires_at, now_ - 10);
}

TEST_P(StoreConformance, ConsumingUnknownAuthCodeReportsNotFound) {
  EXPECT_TRUE(failsWith(store_->consumeAuthCode("nothing", now_), ErrorCode::kNotFound));
}

TEST_P(StoreConformance, CreatingDuplicateAuthCodeReportsAlreadyExists) {
  ASSERT_TRUE(store_->createClient(sampleClient("c1")).ok());
  ASSERT_TRUE(store_->createAuthCode(sampleCode("h1", "c1", now_ + 60)).ok());
  EXPECT_TRUE(failsWith(store_->createAuthCode(sampleCode("h1", "c1", now_ + 60)),
                        ErrorCode::kAlreadyExists));
}

}  // namespace
}  // namespace broker::store::testing
