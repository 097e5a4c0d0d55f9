#include "fakes/pg_database.h"

#include <cstdlib>
#include <pqxx/pqxx>

#include "broker/core/random.h"

namespace broker::testing {

PgDatabase::PgDatabase() {
  const char* env = std::getenv("TEST_DATABASE_URL");
  if (!env || !*env) return;
  admin_url_ = env;
  std::string suffix;
  for (auto b : Random::system().bytes(6)) suffix += "0123456789abcdef"[b % 16];
  name_ = "broker_it_" + suffix;
  {
    pqxx::connection c(admin_url_);
    pqxx::nontransaction tx(c);
    tx.exec("CREATE DATABASE " + name_);
  }
  auto slash = admin_url_.rfind('/');
  auto query = admin_url_.find('?', slash);
  url_ = admin_url_.substr(0, slash + 1) + name_ +
         (query == std::string::npos ? "" : admin_url_.substr(query));
}

PgDatabase::~PgDatabase() {
  if (name_.empty()) return;
  try {
    pqxx::connection c(admin_url_);
    pqxx::nontransaction tx(c);
    tx.exec("DROP DATABASE IF EXISTS " + name_ + " WITH (FORCE)");
  } catch (const std::exception&) {
    // Best effort: the whole cluster is thrown away after the run.
  }
}

}  // namespace broker::testing
