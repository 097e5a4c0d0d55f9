#pragma once
// Shared fixture for the store conformance suite: every TEST_P(StoreConformance, ...) runs once per
// backend against its own empty database, plus sample records with every field set and helpers
// to start threads together.

#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "broker/store/store.h"

namespace broker::store::testing {

enum class Backend { kSqlite, kPostgres };

std::string backendLabel(const ::testing::TestParamInfo<Backend>& info);

// Empty databases owned by one test, removed when it ends. SQLite: files in a private temp
// directory. PostgreSQL: a schema with a random name in the TEST_DATABASE_URL database, reached
// through a URL that sets search_path (and application_name) to it, so tests that ctest runs in
// parallel never see each other's tables.
class TestDatabases {
 public:
  explicit TestDatabases(Backend backend);
  ~TestDatabases();
  TestDatabases(const TestDatabases&) = delete;
  TestDatabases& operator=(const TestDatabases&) = delete;

  // The URL of a new empty database (not yet migrated).
  std::string fresh();

  // Every non-null cell of every table behind `url`, as text.
  std::vector<std::string> allCells(const std::string& url);

  // Drops the server side of every connection the broker holds to `url` (PostgreSQL only).
  void killConnections(const std::string& url);

 private:
  Backend backend_;
  std::string dir_;                   // SQLite
  std::vector<std::string> schemas_;  // PostgreSQL
  int next_ = 0;
};

class StoreConformance : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override;
  void TearDown() override;

  bool isPostgres() const { return GetParam() == Backend::kPostgres; }
  // Another Store on the same database, as a second broker instance would open it.
  std::unique_ptr<Store> openSecondStore() { return openStore(url_); }

  std::unique_ptr<TestDatabases> dbs_;
  std::string url_;
  std::unique_ptr<Store> store_;
  const int64_t now_ = 1'700'000'000;
};

// Records with every field set to a distinct value, tied to `client_id` where they reference one.
ClientRecord sampleClient(const std::string& client_id);
PendingLogin sampleLogin(const std::string& state_hash, const std::string& client_id,
                         int64_t expires_at);
AuthCode sampleCode(const std::string& code_hash, const std::string& client_id, int64_t expires_at);
Family sampleFamily(const std::string& family_id, const std::string& client_id, int64_t expires_at);
RefreshToken sampleToken(const std::string& token_hash, const Family& family, int64_t expires_at);
SigningKeyRecord sampleKey(const std::string& kid, int64_t generation);

// A client "c1" with a live family "f1" whose first token is "t1".
struct LiveFamily {
  LiveFamily(Store& store, int64_t now);
  RefreshToken successor(const std::string& token_hash) const;
  Family family;
  RefreshToken first;
};

// Every field, for EXPECT_EQ on whole records.
inline auto fields(const ClientRecord& c) {
  return std::tie(c.client_id, c.secret_hash, c.token_endpoint_auth_method, c.redirect_uris,
                  c.grant_types, c.client_name, c.metadata_json, c.preregistered, c.created_at,
                  c.last_used_at);
}
inline auto fields(const PendingLogin& p) {
  return std::tie(p.state_hash, p.upstream_id, p.client_id, p.redirect_uri, p.client_state,
                  p.code_challenge, p.scope, p.resource, p.upstream_data, p.created_at,
                  p.expires_at);
}
inline auto fields(const AuthCode& c) {
  return std::tie(c.code_hash, c.client_id, c.redirect_uri, c.code_challenge, c.subject,
                  c.identity_json, c.scope, c.resource, c.family_id, c.upstream_data, c.created_at,
                  c.expires_at, c.consumed_at);
}
inline auto fields(const Family& f) {
  return std::tie(f.family_id, f.client_id, f.subject, f.upstream_data, f.created_at, f.expires_at,
                  f.revoked_at, f.revoke_reason);
}
inline auto fields(const RefreshToken& t) {
  return std::tie(t.token_hash, t.family_id, t.client_id, t.subject, t.identity_json, t.scope,
                  t.resource, t.created_at, t.expires_at, t.rotated_at, t.successor_hash);
}
inline auto fields(const SigningKeyRecord& k) {
  return std::tie(k.kid, k.alg, k.sealed_private_key, k.public_jwk, k.generation, k.created_at,
                  k.activates_at, k.retires_at, k.expires_at);
}

// EXPECT_TRUE(failsWith(store->getClient("x"), ErrorCode::kNotFound))
template <class R>
::testing::AssertionResult failsWith(const R& result, ErrorCode code) {
  if (result.ok()) return ::testing::AssertionFailure() << "succeeded, expected " << toString(code);
  if (result.error().code != code) {
    return ::testing::AssertionFailure()
           << "failed with " << toString(result.error().code) << " (" << result.error().message
           << "), expected " << toString(code);
  }
  return ::testing::AssertionSuccess();
}

// Runs fn(0) .. fn(n-1) on n threads released at the same moment, and joins them.
void runTogether(int n, const std::function<void(int)>& fn);

// How many times each race is re-run: a lost race shows up only under some interleavings.
constexpr int kRaceRounds = 50;

}  // namespace broker::store::testing
