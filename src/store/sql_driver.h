#pragma once
// The small driver interface SqlStore runs on: prepared statements with positional parameters
// ($1, $2, ...), rows of nullable text cells, and write transactions. SQLite and PostgreSQL each
// implement it once, so the SQL of every store operation is written once.

#include <cstdint>
#include <cstdlib>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "broker/core/result.h"

namespace broker::store {

using SqlParam = std::variant<std::nullptr_t, int64_t, std::string>;
using SqlParams = std::vector<SqlParam>;

// Every cell arrives as text (PostgreSQL's text protocol; SQLite renders integers as decimal), so
// one row type serves both drivers.
struct SqlRow {
  std::vector<std::optional<std::string>> cells;

  std::string text(size_t i) const { return cells.at(i).value_or(std::string()); }
  int64_t integer(size_t i) const {
    const auto& c = cells.at(i);
    return c ? std::strtoll(c->c_str(), nullptr, 10) : 0;
  }
};

struct SqlResult {
  std::vector<SqlRow> rows;
  int64_t affected = 0;  // rows changed by INSERT / UPDATE / DELETE
};

// A statement is prepared once per connection and cached under `name`. `writes` lets a driver
// route reads to reader connections.
struct SqlStatement {
  std::string name;
  std::string sql;
  bool writes = false;
};

// One connection, held for the duration of a transaction.
class SqlSession {
 public:
  virtual ~SqlSession() = default;
  virtual Result<SqlResult> run(const SqlStatement& stmt, const SqlParams& params) = 0;
  // Several statements without parameters (migrations).
  virtual Status runScript(const std::string& sql) = 0;
};

class SqlDatabase {
 public:
  virtual ~SqlDatabase() = default;
  virtual std::string backendName() const = 0;

  // True when INSERT/UPDATE/DELETE may run inside WITH (PostgreSQL), so that a claim and the
  // insert it allows are one statement: one round trip, in its own implicit transaction. SQLite
  // cannot, and needs none: its transactions cost no round trips.
  virtual bool writesInWith() const { return false; }

  // One statement in its own implicit transaction.
  virtual Result<SqlResult> run(const SqlStatement& stmt, const SqlParams& params) = 0;

  // Runs `body` in a write transaction on one connection; commits when it returns ok, rolls back
  // otherwise and passes its error on.
  virtual Status transact(const std::function<Status(SqlSession&)>& body) = 0;

  // Called first inside a migration transaction so that concurrent migrators apply each
  // migration once.
  virtual Status lockForMigration(SqlSession& session) = 0;
};

}  // namespace broker::store
