// Store conformance: instantiates the suite for SQLite and PostgreSQL, and covers opening,
// migrations, persistence, reconnection and what ends up stored. The other store_*_test.cpp
// files add TEST_Ps to the same suite.

#include <gtest/gtest.h>

#include <algorithm>
#include <mutex>
#include <set>
#include <stdexcept>

#include "broker/core/crypto.h"
#include "store/migrations.h"
#include "store_fixture.h"

namespace broker::store::testing {
namespace {

INSTANTIATE_TEST_SUITE_P(Backends, StoreConformance,
                         ::testing::Values(Backend::kSqlite, Backend::kPostgres), backendLabel);

std::vector<std::string> allVersions() {
  std::vector<std::string> out;
  for (const auto& m : migrations()) out.emplace_back(m.version);
  return out;
}

TEST_P(StoreConformance, PingSucceedsAndBackendIsNamed) {
  EXPECT_TRUE(store_->ping().ok());
  EXPECT_EQ(store_->backendName(), isPostgres() ? "postgresql" : "sqlite");
}

TEST_P(StoreConformance, MigratingFreshDatabaseAppliesEveryMigrationInOrder) {
  auto url = dbs_->fresh();
  EXPECT_EQ(migrateStore(url), allVersions());
  EXPECT_TRUE(migrateStore(url).empty());
}

TEST_P(StoreConformance, MigratingUpToDateDatabaseAppliesNothing) {
  EXPECT_TRUE(migrateStore(url_).empty());
}

TEST_P(StoreConformance, ConcurrentMigrationsOfFreshDatabaseApplyEachMigrationOnce) {
  for (int round = 0; round < 10; ++round) {
    auto url = dbs_->fresh();
    std::mutex mu;
    std::vector<std::string> applied;
    std::vector<std::string> errors;
    runTogether(2, [&](int) {
      try {
        auto versions = migrateStore(url);
        std::lock_guard<std::mutex> lock(mu);
        applied.insert(applied.end(), versions.begin(), versions.end());
      } catch (const std::exception& e) {
        std::lock_guard<std::mutex> lock(mu);
        errors.push_back(e.what());
      }
    });
    ASSERT_TRUE(errors.empty()) << errors.front();
    std::sort(applied.begin(), applied.end());
    ASSERT_EQ(applied, allVersions()) << "round " << round;
    auto store = openStore(url);
    EXPECT_TRUE(store->createClient(sampleClient("c")).ok());
  }
}

TEST_P(StoreConformance, OpeningWithoutMigrationsLeavesFreshDatabaseUnmigrated) {
  auto url = dbs_->fresh();
  StoreOptions options;
  options.run_migrations = false;
  auto store = openStore(url, options);
  EXPECT_FALSE(store->getClient("c").ok());
  EXPECT_EQ(migrateStore(url), allVersions());
}

TEST_P(StoreConformance, DataSurvivesReopeningTheStore) {
  ASSERT_TRUE(store_->createClient(sampleClient("c1")).ok());
  ASSERT_TRUE(store_->insertSigningKey(sampleKey("k1", 1)).ok());
  store_.reset();
  auto reopened = openStore(url_);
  auto client = reopened->getClient("c1");
  ASSERT_TRUE(client.ok());
  EXPECT_EQ(fields(*client), fields(sampleClient("c1")));
  auto keys = reopened->listSigningKeys();
  ASSERT_TRUE(keys.ok());
  ASSERT_EQ(keys->size(), 1u);
  EXPECT_EQ(fields(keys->front()), fields(sampleKey("k1", 1)));
}

TEST_P(StoreConformance, DatabaseHoldsHashesAndSealedDataButNoRawSecret) {
  const std::string raw_secret = "raw-client-secret-5b1f0c";
  const std::string raw_code = "raw-auth-code-9d2e41";
  const std::string raw_refresh = "raw-refresh-token-77aa01";
  auto client = sampleClient("c1");
  client.secret_hash = sha256Hex(raw_secret);
  ASSERT_TRUE(store_->createClient(client).ok());
  ASSERT_TRUE(store_->createAuthCode(sampleCode(sha256Hex(raw_code), "c1", now_ + 60)).ok());
  auto family = sampleFamily("f1", "c1", now_ + 86400);
  ASSERT_TRUE(
      store_->createFamily(family, sampleToken(sha256Hex(raw_refresh), family, now_ + 3600)).ok());

  auto cells = dbs_->allCells(url_);
  for (const auto& cell : cells) {
    for (const auto& raw : {raw_secret, raw_code, raw_refresh}) {
      EXPECT_EQ(cell.find(raw), std::string::npos) << "raw secret stored: " << cell;
    }
  }
  EXPECT_NE(std::find(cells.begin(), cells.end(), sha256Hex(raw_secret)), cells.end());
  EXPECT_NE(std::find(cells.begin(), cells.end(), client.metadata_json), cells.end());
  EXPECT_EQ(store_->getClient("c1")->metadata_json, client.metadata_json);
}

TEST_P(StoreConformance, StoreRecoversAfterServerDropsItsConnections) {
  if (!isPostgres()) GTEST_SKIP() << "only a server can drop connections";
  ASSERT_TRUE(store_->createClient(sampleClient("c1")).ok());
  dbs_->killConnections(url_);
  // Pooled connections learn that they are dead on their next use: those calls report
  // kUnavailable, and the connections are replaced.
  int unavailable = 0;
  bool recovered = false;
  for (int i = 0; i < 20 && !recovered; ++i) {
    auto client = store_->getClient("c1");
    if (client.ok()) {
      recovered = true;
    } else {
      EXPECT_EQ(client.error().code, ErrorCode::kUnavailable) << client.error().message;
      ++unavailable;
    }
  }
  EXPECT_TRUE(recovered);
  EXPECT_LE(unavailable, StoreOptions{}.pool_size);
  EXPECT_TRUE(store_->ping().ok());
}

TEST(OpenStore, UnreachablePostgresThrowsNamingServerButNotPassword) {
  try {
    (void)openStore("postgresql://broker:pw-Hunter2-secret@127.0.0.1:1/brokerdb");
    FAIL() << "expected an exception";
  } catch (const std::runtime_error& e) {
    std::string message = e.what();
    EXPECT_NE(message.find("cannot connect to PostgreSQL at 127.0.0.1:1/brokerdb"),
              std::string::npos)
        << message;
    EXPECT_EQ(message.find("pw-Hunter2-secret"), std::string::npos) << message;
  }
}

TEST(OpenStore, UnopenableSqlitePathThrowsNamingPath) {
  try {
    (void)openStore("sqlite:/nonexistent-dir-for-broker-tests/x/broker.db");
    FAIL() << "expected an exception";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find(
                  "cannot open sqlite database '/nonexistent-dir-for-broker-tests/x/broker.db'"),
              std::string::npos)
        << e.what();
  }
}

TEST(OpenStore, UnknownSchemeThrowsWithoutEchoingUrl) {
  try {
    (void)openStore("mysql://root:pw-Hunter2-secret@db/broker");
    FAIL() << "expected an exception";
  } catch (const std::runtime_error& e) {
    EXPECT_EQ(std::string(e.what()).find("pw-Hunter2-secret"), std::string::npos) << e.what();
  }
}

TEST(OpenStore, InMemorySqliteIsOneDatabaseForAllCallers) {
  auto store = openStore("sqlite::memory:");
  ASSERT_TRUE(store->createClient(sampleClient("c1")).ok());
  runTogether(4, [&](int) { EXPECT_TRUE(store->getClient("c1").ok()); });
  EXPECT_EQ(store->listClients()->size(), 1u);
}

}  // namespace
}  // namespace broker::store::testing
