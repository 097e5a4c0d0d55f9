// PostgreSQL URL handling: what error messages may show, and which defaults are added.

#include "store/postgres_url.h"

#include <gtest/gtest.h>

namespace broker::store {
namespace {

TEST(PostgresUrl, DescriptionNamesServerAndDatabaseButNeitherUserNorPassword) {
  EXPECT_EQ(describePostgresUrl("postgresql://u:p%40ss@db.internal:6543/broker?sslmode=require"),
            "db.internal:6543/broker");
  EXPECT_EQ(describePostgresUrl("postgres://u@[::1]:5433/b"), "[::1]:5433/b");
  EXPECT_EQ(describePostgresUrl("postgresql:///broker"), "localhost:5432/broker");
  EXPECT_EQ(describePostgresUrl("postgresql://db"), "db:5432/");
}

TEST(PostgresUrl, DefaultsAreAddedWithoutOverridingExplicitSettings) {
  auto url = withPostgresDefaults("postgresql://db/broker");
  EXPECT_NE(url.find("?connect_timeout=10&"), std::string::npos) << url;
  EXPECT_NE(url.find("&keepalives_idle=30"), std::string::npos) << url;
  EXPECT_NE(url.find("&fallback_application_name=mcp-auth-broker"), std::string::npos) << url;

  auto own = withPostgresDefaults("postgresql://db/broker?connect_timeout=3&sslmode=require");
  EXPECT_EQ(own.find("connect_timeout=10"), std::string::npos) << own;
  EXPECT_EQ(own.rfind("postgresql://db/broker?connect_timeout=3&sslmode=require&", 0), 0u) << own;
}

TEST(PostgresUrl, TheConnectTimeoutFollowsTheStorageTimeout) {
  auto url = withPostgresDefaults("postgresql://db/broker", 3);
  EXPECT_NE(url.find("?connect_timeout=3&"), std::string::npos) << url;
  EXPECT_NE(url.find("&tcp_user_timeout=3000&"), std::string::npos) << url;
}

}  // namespace
}  // namespace broker::store
