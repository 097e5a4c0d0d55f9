#pragma once
// Schema migrations, embedded from sql/NNN_name.sql at build time. The same SQL runs on SQLite and
// PostgreSQL: only portable types (TEXT, BIGINT, INTEGER) and statements are used.

#include <string>
#include <vector>

namespace broker::store {

struct Migration {
  const char* version;  // file name without extension, e.g. "001_init"
  const char* sql;
};

const std::vector<Migration>& migrations();

}  // namespace broker::store
