// Store conformance: refresh families and tokens (creation, rotation, reuse detection data,
// revocation).

#include <gtest/gtest.h>

#include "store_fixture.h"

namespace broker::store::testing {
namespace {

TEST_P(StoreConformance, FamilyAndFirstTokenRoundTripEveryField) {
  ASSERT_TRUE(store_->createClient(sampleClient("c1")).ok());
  auto family = sampleFamily("f1", "c1", now_ + 86400);
  auto token = sampleToken("t1", family, now_ + 3600);
  ASSERT_TRUE(store_->createFamily(family, token).ok());

  auto got_family = store_->getFamily("f1");
  ASSERT_TRUE(got_family.ok()) << got_family.error().message;
  EXPECT_EQ(fields(*got_family), fields(family));
  auto got_token = store_->getRefreshToken("t1");
  ASSERT_TRUE(got_token.ok()) << got_token.error().message;
  EXPECT_EQ(fields(*got_token), fields(token));
}

TEST_P(StoreConformance, TokenAndFamilyComeBackTogetherInOneRead) {
  ASSERT_TRUE(store_->createClient(sampleClient("c1")).ok());
  auto family = sampleFamily("f1", "c1", now_ + 86400);
  auto token = sampleToken("t1", family, now_ + 3600);
  ASSERT_TRUE(store_->createFamily(family, token).ok());
  auto other = sampleFamily("f2", "c1", now_ + 7200);
  ASSERT_TRUE(store_->createFamily(other, sampleToken("t2", other, now_ + 60)).ok());

  auto got = store_->getRefreshTokenAndFamily("t1");
  ASSERT_TRUE(got.ok()) << got.error().message;
  EXPECT_EQ(fields(got->token), fields(token));
  EXPECT_EQ(fields(got->family), fields(family));
  ASSERT_TRUE(store_->revokeFamily("f1", "test", now_).ok());
  EXPECT_EQ(store_->getRefreshTokenAndFamily("t1")->family.revoked_at, now_);
  EXPECT_EQ(store_->getRefreshTokenAndFamily("t2")->family.family_id, "f2");
  EXPECT_TRUE(failsWith(store_->getRefreshTokenAndFamily("nope"), ErrorCode::kNotFound));
}

TEST_P(StoreConformance, GettingUnknownFamilyOrTokenReportsNotFound) {
  EXPECT_TRUE(failsWith(store_->getFamily("nope"), ErrorCode::kNotFound));
  EXPECT_TRUE(failsWith(store_->getRefreshToken("nope"), ErrorCode::kNotFound));
}

TEST_P(StoreConformance, FamilyWhoseFirstTokenCannotBeStoredIsNotCreated) {
  ASSERT_TRUE(store_->createClient(sampleClient("c1")).ok());
  auto f1 = sampleFamily("f1", "c1", now_ + 86400);
  ASSERT_TRUE(store_->createFamily(f1, sampleToken("t1", f1, now_ + 3600)).ok());
  auto f2 = sampleFamily("f2", "c1", now_ + 86400);
  EXPECT_TRUE(failsWith(store_->createFamily(f2, sampleToken("t1", f2, now_ + 3600)),
                        ErrorCode::kAlreadyExists));
  EXPECT_TRUE(failsWith(store_->getFamily("f2"), ErrorCode::kNotFound));
}

TEST_P(StoreConformance, UpdatingFamilyUpstreamDataReplacesOnlyIt) {
  ASSERT_TRUE(store_->createClient(sampleClient("c1")).ok());
  auto family = sampleFamily("f1", "c1", now_ + 86400);
  ASSERT_TRUE(store_->createFamily(family, sampleToken("t1", family, now_ + 3600)).ok());
  ASSERT_TRUE(store_->updateFamilyUpstreamData("f1", "sealed:refreshed").ok());
  family.upstream_data = "sealed:refreshed";
  EXPECT_EQ(fields(*store_->getFamily("f1")), fields(family));
  EXPECT_TRUE(failsWith(store_->updateFamilyUpstreamData("nope", "x"), ErrorCode::kNotFound));
}

TEST_P(StoreConformance, RotationMarksOldTokenAndStoresSuccessor) {
  LiveFamily r(*store_, now_);
  auto next = r.successor("t2");
  auto rotated = store_->rotateRefreshToken("t1", next, now_ + 10);
  ASSERT_TRUE(rotated.ok()) << rotated.error().message;
  EXPECT_EQ(rotated->kind, RotateOutcome::Kind::kRotated);
  EXPECT_EQ(fields(rotated->old), fields(r.first));

  auto old = store_->getRefreshToken("t1");
  EXPECT_EQ(old->rotated_at, now_ + 10);
  EXPECT_EQ(old->successor_hash, "t2");
  EXPECT_EQ(fields(*store_->getRefreshToken("t2")), fields(next));
}

// The claim and the successor are written together (one statement on PostgreSQL): a successor
// that cannot be stored leaves the old token unrotated and usable.
TEST_P(StoreConformance, RotationWhoseSuccessorCannotBeStoredLeavesTokenUnrotated) {
  LiveFamily r(*store_, now_);
  ASSERT_TRUE(store_->rotateRefreshToken("t1", r.successor("t2"), now_ + 10).ok());
  auto other = sampleFamily("f2", r.family.client_id, now_ + 86400);
  ASSERT_TRUE(store_->createFamily(other, sampleToken("u1", other, now_ + 3600)).ok());

  auto clash = sampleToken("t2", other, now_ + 3600);  // the hash of an existing token
  EXPECT_TRUE(
      failsWith(store_->rotateRefreshToken("u1", clash, now_ + 20), ErrorCode::kAlreadyExists));
  EXPECT_EQ(store_->getRefreshToken("u1")->rotated_at, 0);
  EXPECT_EQ(store_->getRefreshToken("u1")->successor_hash, "");
  auto rotated = store_->rotateRefreshToken("u1", sampleToken("u2", other, now_ + 3600), now_ + 30);
  ASSERT_TRUE(rotated.ok()) << rotated.error().message;
  EXPECT_EQ(rotated->kind, RotateOutcome::Kind::kRotated);
}

TEST_P(StoreConformance, RotatingRotatedTokenReportsAlreadyRotatedWithoutWriting) {
  LiveFamily r(*store_, now_);
  ASSERT_TRUE(store_->rotateRefreshToken("t1", r.successor("t2"), now_ + 10).ok());

  auto again = store_->rotateRefreshToken("t1", r.successor("t3"), now_ + 20);
  ASSERT_TRUE(again.ok()) << again.error().message;
  EXPECT_EQ(again->kind, RotateOutcome::Kind::kAlreadyRotated);
  EXPECT_EQ(again->old.rotated_at, now_ + 10);
  EXPECT_EQ(again->old.successor_hash, "t2");
  EXPECT_FALSE(again->successor_used);
  EXPECT_TRUE(failsWith(store_->getRefreshToken("t3"), ErrorCode::kNotFound));
  EXPECT_EQ(store_->getRefreshToken("t1")->rotated_at, now_ + 10);
}

TEST_P(StoreConformance, AlreadyRotatedReportsThatSuccessorWasUsed) {
  LiveFamily r(*store_, now_);
  ASSERT_TRUE(store_->rotateRefreshToken("t1", r.successor("t2"), now_ + 10).ok());
  ASSERT_TRUE(store_->rotateRefreshToken("t2", r.successor("t3"), now_ + 20).ok());

  auto replay = store_->rotateRefreshToken("t1", r.successor("t4"), now_ + 30);
  ASSERT_TRUE(replay.ok());
  EXPECT_EQ(replay->kind, RotateOutcome::Kind::kAlreadyRotated);
  EXPECT_TRUE(replay->successor_used);
}

TEST_P(StoreConformance, RotatingUnknownTokenReportsNotFound) {
  LiveFamily r(*store_, now_);
  EXPECT_TRUE(
      failsWith(store_->rotateRefreshToken("nope", r.successor("t2"), now_), ErrorCode::kNotFound));
  EXPECT_TRUE(failsWith(store_->getRefreshToken("t2"), ErrorCode::kNotFound));
}

TEST_P(StoreConformance, RevokedFamilyBlocksRotationAndLeavesTokenUnrotated) {
  LiveFamily r(*store_, now_);
  ASSERT_TRUE(store_->revokeFamily("f1", "code_reuse", now_).ok());
  EXPECT_TRUE(failsWith(store_->rotateRefreshToken("t1", r.successor("t2"), now_ + 10),
                        ErrorCode::kConflict));
  EXPECT_EQ(store_->getRefreshToken("t1")->rotated_at, 0);
  EXPECT_TRUE(failsWith(store_->getRefreshToken("t2"), ErrorCode::kNotFound));
}

TEST_P(StoreConformance, RevokingFamilyTwiceKeepsFirstTimeAndReason) {
  LiveFamily r(*store_, now_);
  ASSERT_TRUE(store_->revokeFamily("f1", "refresh_reuse", now_ + 1).ok());
  ASSERT_TRUE(store_->revokeFamily("f1", "logout", now_ + 2).ok());
  auto family = store_->getFamily("f1");
  EXPECT_EQ(family->revoked_at, now_ + 1);
  EXPECT_EQ(family->revoke_reason, "refresh_reuse");
}

TEST_P(StoreConformance, RevokingUnknownFamilyReportsNotFound) {
  EXPECT_TRUE(failsWith(store_->revokeFamily("nope", "logout", now_), ErrorCode::kNotFound));
}

TEST_P(StoreConformance, RevokingBySubjectCountsOnlyNewlyRevokedFamiliesOfThatSubject) {
  ASSERT_TRUE(store_->createClient(sampleClient("c1")).ok());
  int n = 0;
  for (const char* subject : {"github:1", "github:1", "github:1", "github:2"}) {
    auto family = sampleFamily("f" + std::to_string(++n), "c1", now_ + 86400);
    family.subject = subject;
    ASSERT_TRUE(
        store_->createFamily(family, sampleToken("t" + std::to_string(n), family, now_ + 60)).ok());
  }
  ASSERT_TRUE(store_->revokeFamily("f1", "logout", now_).ok());

  auto count = store_->revokeFamiliesBySubject("github:1", now_ + 5);
  ASSERT_TRUE(count.ok());
  EXPECT_EQ(*count, 2);
  EXPECT_EQ(store_->getFamily("f1")->revoked_at, now_);
  EXPECT_EQ(store_->getFamily("f2")->revoked_at, now_ + 5);
  EXPECT_EQ(store_->getFamily("f3")->revoked_at, now_ + 5);
  EXPECT_EQ(store_->getFamily("f4")->revoked_at, 0);
  EXPECT_EQ(*store_->revokeFamiliesBySubject("github:1", now_ + 6), 0);
  EXPECT_EQ(*store_->revokeFamiliesBySubject("nobody", now_ + 6), 0);
}

TEST_P(StoreConformance, RevokingByClientCountsOnlyThatClientsFamilies) {
  for (const char* id : {"c1", "c2"}) ASSERT_TRUE(store_->createClient(sampleClient(id)).ok());
  int n = 0;
  for (const char* client : {"c1", "c1", "c2"}) {
    auto family = sampleFamily("f" + std::to_string(++n), client, now_ + 86400);
    ASSERT_TRUE(
        store_->createFamily(family, sampleToken("t" + std::to_string(n), family, now_ + 60)).ok());
  }
  auto count = store_->revokeFamiliesByClient("c1", now_ + 5);
  ASSERT_TRUE(count.ok());
  EXPECT_EQ(*count, 2);
  EXPECT_NE(store_->getFamily("f1")->revoked_at, 0);
  EXPECT_NE(store_->getFamily("f2")->revoked_at, 0);
  EXPECT_EQ(store_->getFamily("f3")->revoked_at, 0);
  EXPECT_EQ(*store_->revokeFamiliesByClient("c1", now_ + 6), 0);
}

}  // namespace
}  // namespace broker::store::testing
