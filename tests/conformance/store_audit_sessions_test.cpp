// Store conformance: the audit table (append, filters, retention) and live sessions (who holds
// which refresh family now, and revoking them).

#include <gtest/gtest.h>

#include <algorithm>

#include "store_fixture.h"

namespace broker::store::testing {
namespace {

AuditEvent event(const std::string& id, int64_t at, const std::string& subject,
                 const std::string& client, const std::string& servers) {
  AuditEvent e;
  e.event_id = id;
  e.at = at;
  e.event = "login_succeeded";
  e.actor = "user:" + subject;
  e.client_id = client;
  e.subject = subject;
  e.upstream = subject.substr(0, subject.find(':'));
  e.servers = servers;
  e.rule = "servers.example.com.tools.allowed_users[alice]";
  e.detail = R"({"denied":"mcp:example.com:admin"})";
  return e;
}

inline auto fields(const AuditEvent& e) {
  return std::tie(e.event_id, e.at, e.event, e.actor, e.client_id, e.subject, e.upstream, e.servers,
                  e.rule, e.detail);
}

std::vector<std::string> ids(const std::vector<AuditEvent>& events) {
  std::vector<std::string> out;
  for (const auto& e : events) out.push_back(e.event_id);
  return out;
}

TEST_P(StoreConformance, AuditEventsRoundTripEveryFieldOldestFirst) {
  auto a = event("0001", now_ - 20, "dev:alice", "c1", "mcp:example.com:tools");
  auto b = event("0002", now_ - 10, "dev:bob", "c2", "mcp:example.com:admin");
  ASSERT_TRUE(store_->appendAudit({b, a}).ok());
  auto all = store_->listAudit({});
  ASSERT_TRUE(all.ok()) << all.error().message;
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ(fields(all->at(0)), fields(a));
  EXPECT_EQ(fields(all->at(1)), fields(b));
}

TEST_P(StoreConformance, AuditFiltersBySubjectClientServerAndTime) {
  ASSERT_TRUE(
      store_
          ->appendAudit({event("1", now_ - 300, "dev:alice", "c1", "mcp:a.com:tools"),
                         event("2", now_ - 200, "dev:bob", "c1", "mcp:a.com:tools mcp:a.com:admin"),
                         event("3", now_ - 100, "dev:alice", "c2", "mcp:a.com:admin"),
                         // '_' is a LIKE wildcard: it must match itself only.
                         event("4", now_ - 50, "dev:carol", "c3", "mcp:a.com:to_ls")})
          .ok());
  auto q = [&](AuditQuery query) {
    auto r = store_->listAudit(query);
    EXPECT_TRUE(r.ok());
    return r.ok() ? ids(*r) : std::vector<std::string>{};
  };
  AuditQuery by_subject;
  by_subject.subject = "dev:alice";
  EXPECT_EQ(q(by_subject), (std::vector<std::string>{"1", "3"}));
  AuditQuery by_client;
  by_client.client_id = "c1";
  EXPECT_EQ(q(by_client), (std::vector<std::string>{"1", "2"}));
  AuditQuery by_server;
  by_server.server = "mcp:a.com:admin";
  EXPECT_EQ(q(by_server), (std::vector<std::string>{"2", "3"}));
  AuditQuery by_underscore;
  by_underscore.server = "mcp:a.com:to_ls";
  EXPECT_EQ(q(by_underscore), (std::vector<std::string>{"4"}));
  AuditQuery prefix_only;  // a server is a whole scope, never a prefix of one
  prefix_only.server = "mcp:a.com:tool";
  EXPECT_TRUE(q(prefix_only).empty());
  AuditQuery since;
  since.since = now_ - 200;
  EXPECT_EQ(q(since), (std::vector<std::string>{"2", "3", "4"}));
  AuditQuery newest;
  newest.limit = 2;
  EXPECT_EQ(q(newest), (std::vector<std::string>{"3", "4"}));
  AuditQuery both;
  both.subject = "dev:alice";
  both.server = "mcp:a.com:tools";
  EXPECT_EQ(q(both), (std::vector<std::string>{"1"}));
}

TEST_P(StoreConformance, AuditBatchWithATakenIdWritesNothing) {
  ASSERT_TRUE(store_->appendAudit({event("1", now_, "dev:alice", "c1", "")}).ok());
  EXPECT_TRUE(failsWith(store_->appendAudit({event("2", now_, "dev:bob", "c1", ""),
                                             event("1", now_, "dev:bob", "c1", "")}),
                        ErrorCode::kAlreadyExists));
  auto all = store_->listAudit({});
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(ids(*all), (std::vector<std::string>{"1"}));
}

TEST_P(StoreConformance, GarbageCollectionPrunesAuditEventsPastRetentionOnly) {
  ASSERT_TRUE(store_
                  ->appendAudit({event("old", now_ - 1000, "dev:alice", "c1", ""),
                                 event("edge", now_ - 500, "dev:alice", "c1", ""),
                                 event("new", now_ - 10, "dev:alice", "c1", "")})
                  .ok());
  GcPolicy keep_all{now_, 0, 0};
  auto kept = store_->collectGarbage(keep_all);
  ASSERT_TRUE(kept.ok());
  EXPECT_EQ(kept->audit_events, 0);
  GcPolicy retention{now_, 0, 500};
  auto gc = store_->collectGarbage(retention);
  ASSERT_TRUE(gc.ok());
  EXPECT_EQ(gc->audit_events, 1);
  auto left = store_->listAudit({});
  ASSERT_TRUE(left.ok());
  EXPECT_EQ(ids(*left), (std::vector<std::string>{"edge", "new"}));
}

TEST_P(StoreConformance, SessionsListLiveFamiliesWithTheirCurrentToken) {
  LiveFamily live(*store_, now_);
  auto next = live.successor("t2");
  next.scope = "mcp:a.com:tools mcp:a.com:admin";
  next.created_at = now_ - 5;
  ASSERT_TRUE(store_->rotateRefreshToken("t1", next, now_ - 5).ok());
  // Not live: revoked, grant-revoked, expired family, expired token.
  ASSERT_TRUE(store_->createClient(sampleClient("c2")).ok());
  auto revoked = sampleFamily("f-revoked", "c2", now_ + 86400);
  ASSERT_TRUE(store_->createFamily(revoked, sampleToken("t-revoked", revoked, now_ + 60)).ok());
  ASSERT_TRUE(store_->revokeFamily("f-revoked", "test", now_).ok());
  auto granted = sampleFamily("f-grant", "c2", now_ + 86400);
  ASSERT_TRUE(store_->createFamily(granted, sampleToken("t-grant", granted, now_ + 60)).ok());
  ASSERT_TRUE(store_->revokeGrant("f-grant", "code_reuse", now_, now_ + 86400).ok());
  auto expired = sampleFamily("f-expired", "c2", now_ - 1);
  ASSERT_TRUE(store_->createFamily(expired, sampleToken("t-expired", expired, now_ + 60)).ok());
  auto idle = sampleFamily("f-idle", "c2", now_ + 86400);
  ASSERT_TRUE(store_->createFamily(idle, sampleToken("t-idle", idle, now_ - 1)).ok());

  auto sessions = store_->listSessions({now_, "", "", ""});
  ASSERT_TRUE(sessions.ok()) << sessions.error().message;
  ASSERT_EQ(sessions->size(), 1u);
  const SessionInfo& s = sessions->front();
  EXPECT_EQ(s.family_id, "f1");
  EXPECT_EQ(s.client_id, "c1");
  EXPECT_EQ(s.client_name, sampleClient("c1").client_name);
  EXPECT_EQ(s.subject, live.family.subject);
  EXPECT_EQ(s.scope, next.scope);
  EXPECT_EQ(s.identity_json, next.identity_json);
  EXPECT_EQ(s.created_at, live.family.created_at);
  EXPECT_EQ(s.last_used_at, now_ - 5);
  EXPECT_EQ(s.expires_at, next.expires_at);
}

TEST_P(StoreConformance, SessionsFilterBySubjectClientAndServer) {
  LiveFamily live(*store_, now_);  // c1, github:12345, scope "repo:read"
  ASSERT_TRUE(store_->createClient(sampleClient("c2")).ok());
  auto other = sampleFamily("f2", "c2", now_ + 86400);
  other.subject = "dev:alice";
  auto token = sampleToken("t2", other, now_ + 60);
  token.scope = "mcp:a.com:admin";
  ASSERT_TRUE(store_->createFamily(other, token).ok());
  auto families = [&](SessionQuery q) {
    q.now = now_;
    std::vector<std::string> out;
    auto r = store_->listSessions(q);
    EXPECT_TRUE(r.ok());
    if (r.ok()) {
      for (const auto& s : *r) out.push_back(s.family_id);
    }
    return out;
  };
  EXPECT_EQ(families({0, "dev:alice", "", ""}), std::vector<std::string>{"f2"});
  EXPECT_EQ(families({0, "", "c1", ""}), std::vector<std::string>{"f1"});
  EXPECT_EQ(families({0, "", "", "mcp:a.com:admin"}), std::vector<std::string>{"f2"});
  EXPECT_EQ(families({0, "", "", "repo:read"}), std::vector<std::string>{"f1"});
  EXPECT_TRUE(families({0, "", "", "mcp:a.com"}).empty());
}

TEST_P(StoreConformance, RevokeAllFamiliesEndsEveryLiveSessionOnce) {
  LiveFamily live(*store_, now_);
  ASSERT_TRUE(store_->createClient(sampleClient("c2")).ok());
  auto other = sampleFamily("f2", "c2", now_ + 86400);
  ASSERT_TRUE(store_->createFamily(other, sampleToken("t2", other, now_ + 60)).ok());
  ASSERT_TRUE(store_->revokeFamily("f2", "revoked_by_client", now_ - 10).ok());
  auto n = store_->revokeAllFamilies(now_);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 1);
  auto f1 = store_->getFamily("f1");
  ASSERT_TRUE(f1.ok());
  EXPECT_EQ(f1->revoke_reason, "admin_revoked");
  auto f2 = store_->getFamily("f2");
  ASSERT_TRUE(f2.ok());
  EXPECT_EQ(f2->revoke_reason, "revoked_by_client");  // the first revocation stays
  EXPECT_EQ(f2->revoked_at, now_ - 10);
  auto sessions = store_->listSessions({now_, "", "", ""});
  ASSERT_TRUE(sessions.ok());
  EXPECT_TRUE(sessions->empty());
  EXPECT_EQ(*store_->revokeAllFamilies(now_ + 1), 0);
}

}  // namespace
}  // namespace broker::store::testing
