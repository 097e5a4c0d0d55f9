// openStore / migrateStore: picks the driver from the URL scheme and runs the migrations.

#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "broker/core/clock.h"
#include "broker/store/store.h"
#include "store/measured_database.h"
#include "store/migrations.h"
#include "store/migrator.h"
#include "store/postgres_database.h"
#include "store/sql_store.h"
#include "store/sqlite_database.h"

namespace broker::store {
namespace {

bool startsWith(const std::string& s, const char* prefix) {
  return s.rfind(prefix, 0) == 0;
}

std::unique_ptr<SqlDatabase> openDatabase(const std::string& url, const StoreOptions& options) {
  if (startsWith(url, "sqlite:")) {
    std::string path = url.substr(7);
    if (startsWith(path, "//")) path = path.substr(2);  // sqlite:///abs/path
    return openSqliteDatabase(path, options);
  }
  if (startsWith(url, "postgresql://") || startsWith(url, "postgres://")) {
    return openPostgresDatabase(url, options);
  }
  // The URL itself may hold a password, so only its scheme is named.
  throw std::runtime_error("unsupported database URL '" + url.substr(0, url.find(':')) +
                           ":...': expected sqlite:PATH or postgresql://");
}

std::vector<std::string> migrate(SqlDatabase& db) {
  auto applied = applyMigrations(db, migrations(), Clock::system().now());
  if (!applied.ok()) {
    throw std::runtime_error("cannot migrate " + db.backendName() +
                             " database: " + applied.error().message);
  }
  return std::move(applied.value());
}

}  // namespace

std::unique_ptr<Store> openStore(const std::string& url, const StoreOptions& options) {
  auto db = openDatabase(url, options);
  if (options.run_migrations) migrate(*db);
  if (options.metrics) db = measureDatabase(std::move(db), *options.metrics);
  return std::make_unique<SqlStore>(std::move(db));
}

std::vector<std::string> migrateStore(const std::string& url) {
  StoreOptions options;
  options.pool_size = 1;
  auto db = openDatabase(url, options);
  return migrate(*db);
}

}  // namespace broker::store
