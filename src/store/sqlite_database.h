#pragma once
// SQLite driver for SqlStore: one writer connection and a pool of read-only readers over a WAL
// database file, or a single connection for ":memory:" (each connection to ":memory:" would see
// its own empty database).

#include <memory>
#include <string>

#include "broker/store/store.h"
#include "store/sql_driver.h"

namespace broker::store {

// Throws std::runtime_error when the database cannot be opened (start-up only).
std::unique_ptr<SqlDatabase> openSqliteDatabase(const std::string& path,
                                                const StoreOptions& options);

}  // namespace broker::store
