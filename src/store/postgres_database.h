#pragma once
// PostgreSQL driver for SqlStore (libpqxx): a pool of connections, statements prepared once per
// connection, and broken connections replaced on the next use.

#include <memory>
#include <string>

#include "broker/store/store.h"
#include "store/sql_driver.h"

namespace broker::store {

// Throws std::runtime_error when the server cannot be reached (start-up only); the message names
// host, port and database but never the password.
std::unique_ptr<SqlDatabase> openPostgresDatabase(const std::string& url,
                                                  const StoreOptions& options);

}  // namespace broker::store
