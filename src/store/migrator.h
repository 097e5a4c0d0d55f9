#pragma once
// Applies the embedded schema migrations (sql/NNN_name.sql) to a database, each once, even when
// several broker instances start at the same time.

#include <cstdint>
#include <string>
#include <vector>

#include "broker/core/result.h"
#include "store/migrations.h"
#include "store/sql_driver.h"

namespace broker::store {

// Applies the migrations missing from schema_migrations, in order, each in its own transaction
// under the database's migration lock. Returns the versions applied by this call.
Result<std::vector<std::string>> applyMigrations(SqlDatabase& db, const std::vector<Migration>& all,
                                                 int64_t now);

}  // namespace broker::store
