// Migration runner shared by both backends: the lock is the driver's, the bookkeeping is here.

#include "store/migrator.h"

namespace broker::store {
namespace {

// Created inside the locked transaction: PostgreSQL can fail two concurrent CREATE TABLE IF NOT
// EXISTS of one table, so it must not run before the lock is held.
constexpr char kCreateBookkeeping[] =
    "CREATE TABLE IF NOT EXISTS schema_migrations ("
    "version TEXT NOT NULL PRIMARY KEY, applied_at BIGINT NOT NULL)";

const SqlStatement kIsApplied{"migrations.is_applied",
                              "SELECT 1 FROM schema_migrations WHERE version = $1", false};
const SqlStatement kRecord{"migrations.record",
                           "INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)",
                           true};

}  // namespace

Result<std::vector<std::string>> applyMigrations(SqlDatabase& db, const std::vector<Migration>& all,
                                                 int64_t now) {
  std::vector<std::string> applied;
  for (const Migration& m : all) {
    bool applied_now = false;
    Status st = db.transact([&](SqlSession& s) -> Status {
      applied_now = false;
      if (auto locked = db.lockForMigration(s); !locked.ok()) return locked;
      if (auto created = s.runScript(kCreateBookkeeping); !created.ok()) return created;
      auto present = s.run(kIsApplied, {std::string(m.version)});
      if (!present.ok()) return present.error();
      if (!present->rows.empty()) return {};
      if (auto ran = s.runScript(m.sql); !ran.ok()) {
        return Error{ran.error().code,
                     std::string("migration ") + m.version + ": " + ran.error().message};
      }
      auto recorded = s.run(kRecord, {std::string(m.version), now});
      if (!recorded.ok()) return recorded.error();
      applied_now = true;
      return {};
    });
    if (!st.ok()) return st.error();
    if (applied_now) applied.emplace_back(m.version);
  }
  return applied;
}

}  // namespace broker::store
