// PostgreSQL driver: pooled libpqxx connections, lazily prepared statements, error mapping
// (unique violation, lost connection), and READ COMMITTED write transactions retried on deadlock.

#include "store/postgres_database.h"

#include <pqxx/pqxx>

#include <algorithm>
#include <chrono>
#include <stdexcept>
#include <unordered_set>
#include <utility>

#include "store/connection_pool.h"
#include "store/postgres_url.h"

namespace broker::store {
namespace {

// A deadlock victim or serialization failure was rolled back whole, so running it again is safe.
constexpr int kMaxAttempts = 3;
// One lock id for every broker instance sharing a database; the ASCII of "mcp_auth". Migrations
// (and the wait for another instance's) may take longer than one request's time limit.
constexpr char kMigrationLock[] =
    "SET LOCAL statement_timeout = 0; SELECT pg_advisory_xact_lock(7882267327787791464)";

// libpq messages carry DETAIL/HINT lines that quote row values; keep only the first line.
std::string firstLine(const char* what) {
  std::string s(what ? what : "");
  auto nl = s.find('\n');
  return nl == std::string::npos ? s : s.substr(0, nl);
}

bool startsWith(const std::string& s, const char* prefix) {
  return s.rfind(prefix, 0) == 0;
}

// libpq's connect_timeout is whole seconds and at least 2 (it raises smaller values).
int connectTimeoutSeconds(int timeout_ms) {
  return std::max(2, (timeout_ms + 999) / 1000);
}

class PgConnection {
 public:
  PgConnection(const std::string& conninfo, int statement_timeout_ms) : conn_(conninfo) {
    // CREATE ... IF NOT EXISTS and friends send NOTICEs that libpqxx would print to stderr.
    conn_.set_variable("client_min_messages", "WARNING");
    // The server cancels a statement past this (SQLSTATE 57014), so a slow database answers
    // every caller within the limit instead of holding a worker.
    conn_.set_variable("statement_timeout", std::to_string(statement_timeout_ms));
  }

  pqxx::connection& conn() { return conn_; }

  void prepareOnce(const SqlStatement& stmt) {
    if (prepared_.insert(stmt.name).second) conn_.prepare(stmt.name, stmt.sql);
  }

  bool reusable() const { return !broken_ && conn_.is_open(); }
  bool retryable() const { return retryable_; }
  void clearRetryable() { retryable_ = false; }

  // Maps the exception being handled; call only from inside a catch block.
  Error failure(const std::string& what) {
    try {
      throw;
    } catch (const pqxx::unique_violation& e) {
      return Error::exists(what + ": " + firstLine(e.what()));
    } catch (const pqxx::broken_connection& e) {
      broken_ = true;
      return Error::unavailable(what + ": " + firstLine(e.what()));
    } catch (const pqxx::in_doubt_error& e) {
      broken_ = true;
      return Error::unavailable(what + ": " + firstLine(e.what()));
    } catch (const pqxx::transaction_rollback& e) {
      retryable_ = true;
      return Error::unavailable(what + ": " + firstLine(e.what()));
    } catch (const pqxx::sql_error& e) {
      const std::string& state = e.sqlstate();
      // 08: connection exception; 57P0x: server shutting down; 53: out of resources;
      // 57014: cancelled at statement_timeout; 55P03: lock not available.
      if (startsWith(state, "08") || startsWith(state, "57P") || startsWith(state, "53") ||
          state == "57014" || state == "55P03") {
        broken_ = broken_ || !startsWith(state, "53");
        return Error::unavailable(what + ": " + firstLine(e.what()));
      }
      return Error::internal(what + ": " + firstLine(e.what()));
    } catch (const std::exception& e) {
      return Error::internal(what + ": " + firstLine(e.what()));
    } catch (...) {
      return Error::internal(what + ": unknown error");
    }
  }

 private:
  pqxx::connection conn_;
  std::unordered_set<std::string> prepared_;
  bool broken_ = false;
  bool retryable_ = false;
};

class PgSession final : public SqlSession {
 public:
  PgSession(PgConnection& conn, pqxx::transaction_base& tx) : conn_(conn), tx_(tx) {}

  Result<SqlResult> run(const SqlStatement& stmt, const SqlParams& params) override {
    try {
      conn_.prepareOnce(stmt);
      // Parameters go as text; the server infers each one's type from the statement.
      std::vector<std::string> numbers(params.size());
      std::vector<const char*> values(params.size(), nullptr);
      for (size_t i = 0; i < params.size(); ++i) {
        if (const auto* n = std::get_if<int64_t>(&params[i])) {
          numbers[i] = std::to_string(*n);
          values[i] = numbers[i].c_str();
        } else if (const auto* s = std::get_if<std::string>(&params[i])) {
          values[i] = s->c_str();
        }
      }
      pqxx::result r = tx_.exec_prepared(stmt.name, pqxx::prepare::make_dynamic_params(values));
      SqlResult out;
      out.affected = static_cast<int64_t>(r.affected_rows());
      out.rows.reserve(r.size());
      for (const auto& row : r) {
        SqlRow converted;
        converted.cells.reserve(row.size());
        for (const auto& field : row) {
          if (field.is_null()) {
            converted.cells.emplace_back(std::nullopt);
          } else {
            converted.cells.emplace_back(std::string(field.c_str(), field.size()));
          }
        }
        out.rows.push_back(std::move(converted));
      }
      return out;
    } catch (...) {
      return conn_.failure(stmt.name);
    }
  }

  Status runScript(const std::string& sql) override {
    try {
      tx_.exec(sql);
      return {};
    } catch (...) {
      return conn_.failure("script");
    }
  }

 private:
  PgConnection& conn_;
  pqxx::transaction_base& tx_;
};

class PgDatabase final : public SqlDatabase {
 public:
  PgDatabase(const std::string& url, const StoreOptions& options)
      : conninfo_(withPostgresDefaults(url, connectTimeoutSeconds(options.timeout_ms))),
        where_(describePostgresUrl(url)),
        statement_timeout_ms_(std::max(options.timeout_ms, 1)),
        pool_(
            static_cast<size_t>(options.pool_size), [this] { return connect(); },
            std::chrono::milliseconds(statement_timeout_ms_)) {}

  // Opens one connection now so that a wrong URL fails at start-up.
  Status warmUp() {
    auto lease = pool_.acquire();
    if (!lease.ok()) return lease.error();
    return {};
  }

  std::string backendName() const override { return "postgresql"; }
  bool writesInWith() const override { return true; }

  Result<SqlResult> run(const SqlStatement& stmt, const SqlParams& params) override {
    return withConnection([&](PgConnection& conn) -> Result<SqlResult> {
      try {
        pqxx::nontransaction tx(conn.conn());
        PgSession session(conn, tx);
        return session.run(stmt, params);
      } catch (...) {
        return conn.failure(stmt.name);
      }
    });
  }

  Status transact(const std::function<Status(SqlSession&)>& body) override {
    return withConnection([&](PgConnection& conn) -> Status {
      try {
        pqxx::work tx(conn.conn());
        PgSession session(conn, tx);
        Status status = body(session);
        if (!status.ok()) {
          tx.abort();
          return status;
        }
        tx.commit();
        return {};
      } catch (...) {
        return conn.failure("transaction");
      }
    });
  }

  Status lockForMigration(SqlSession& session) override {
    return session.runScript(kMigrationLock);
  }

 private:
  Result<std::unique_ptr<PgConnection>> connect() {
    try {
      return std::make_unique<PgConnection>(conninfo_, statement_timeout_ms_);
    } catch (const std::exception& e) {
      return Error::unavailable("cannot connect to PostgreSQL at " + where_ + ": " +
                                firstLine(e.what()));
    }
  }

  template <class Fn>
  auto withConnection(Fn fn) -> decltype(fn(std::declval<PgConnection&>())) {
    for (int attempt = 1;; ++attempt) {
      auto lease = pool_.acquire();
      if (!lease.ok()) return fail(lease.error());
      PgConnection& conn = **lease;
      conn.clearRetryable();
      auto result = fn(conn);
      if (result.ok() || !conn.retryable() || attempt == kMaxAttempts) return result;
    }
  }

  const std::string conninfo_;  // holds the password: never put it in a message
  const std::string where_;
  const int statement_timeout_ms_;
  ConnectionPool<PgConnection> pool_;
};

}  // namespace

std::unique_ptr<SqlDatabase> openPostgresDatabase(const std::string& url,
                                                  const StoreOptions& options) {
  auto db = std::make_unique<PgDatabase>(url, options);
  if (auto st = db->warmUp(); !st.ok()) throw std::runtime_error(st.error().message);
  return db;
}

}  // namespace broker::store
