#pragma once
// A throwaway PostgreSQL database per test on the cluster at $TEST_DATABASE_URL (started by
// scripts/test). Dropped on destruction.

#include <string>

namespace broker::testing {

class PgDatabase {
 public:
  // Returns false from available() when TEST_DATABASE_URL is unset.
  PgDatabase();
  ~PgDatabase();
  bool available() const { return !url_.empty(); }
  const std::string& url() const { return url_; }

 private:
  std::string admin_url_;
  std::string name_;
  std::string url_;
};

}  // namespace broker::testing
