// SQLite driver: connection set-up (WAL, busy timeout, foreign keys), per-connection prepared
// statement cache, error mapping, and BEGIN IMMEDIATE write transactions.

#include "store/sqlite_database.h"

#include <sqlite3.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <stdexcept>
#include <thread>
#include <unordered_map>
#include <utility>

#include "store/connection_pool.h"

namespace broker::store {
namespace {

constexpr char kMemoryPath[] = ":memory:";

// SQLite only accepts "$1" as a named parameter; "?1" is the same position as PostgreSQL's "$1".
std::string toSqliteParams(const std::string& sql) {
  std::string out = sql;
  for (size_t i = 0; i + 1 < out.size(); ++i) {
    if (out[i] == '$' && std::isdigit(static_cast<unsigned char>(out[i + 1]))) out[i] = '?';
  }
  return out;
}

Error sqliteError(sqlite3* db, int rc, const std::string& what) {
  std::string message = what + ": " + (db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
  switch (rc) {
    case SQLITE_CONSTRAINT_UNIQUE:
    case SQLITE_CONSTRAINT_PRIMARYKEY:
      return Error::exists(std::move(message));
    default:
      break;
  }
  switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_CANTOPEN:
    case SQLITE_IOERR:
    case SQLITE_FULL:
      return Error::unavailable(std::move(message));
    default:
      return Error::internal(std::move(message));
  }
}

class SqliteConnection final : public SqlSession {
 public:
  static Result<std::unique_ptr<SqliteConnection>> open(const std::string& path, bool reader,
                                                        int busy_timeout_ms) {
    sqlite3* db = nullptr;
    // Each connection is used by one thread at a time (the pool), so SQLite's own mutexes are
    // not needed.
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
    int rc = sqlite3_open_v2(path.c_str(), &db, flags, nullptr);
    std::unique_ptr<SqliteConnection> conn(new SqliteConnection(db));
    if (rc != SQLITE_OK) return fail(sqliteError(db, rc, "open"));
    sqlite3_extended_result_codes(db, 1);
    // Another connection's write lock is waited for, not reported at once.
    sqlite3_busy_timeout(db, busy_timeout_ms);
    // WAL with synchronous = NORMAL, chosen on purpose: a commit appends its pages to the WAL
    // with write(2) and does not wait for the disk; the WAL is synced at each checkpoint. A
    // committed grant survives the broker being killed (kill -9): its frames are in the kernel's
    // page cache and the next open finds them. An OS crash or power cut may undo the last
    // commits (the file stays consistent). FULL would add an fsync to each of a sign-in's five
    // commits and to every refresh.
    std::string pragmas = "PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL;";
    if (reader) pragmas += "PRAGMA query_only = ON;";
    if (auto st = conn->runScript(pragmas); !st.ok()) return fail(st.error());
    if (!reader && path != kMemoryPath) {
      if (auto st = conn->enableWal(busy_timeout_ms); !st.ok()) return fail(st.error());
    }
    return conn;
  }

  ~SqliteConnection() override {
    for (auto& entry : cache_) sqlite3_finalize(entry.second);
    sqlite3_close_v2(db_);
  }

  bool reusable() const { return true; }

  Result<SqlResult> run(const SqlStatement& stmt, const SqlParams& params) override {
    auto prepared = prepare(stmt);
    if (!prepared.ok()) return fail(prepared.error());
    sqlite3_stmt* st = *prepared;
    // Cached statements must be reset even on early return, or they keep their read snapshot.
    struct ResetGuard {
      sqlite3_stmt* st;
      ~ResetGuard() {
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
      }
    } guard{st};

    for (size_t i = 0; i < params.size(); ++i) {
      int index = static_cast<int>(i + 1);
      int rc = std::visit(
          [&](const auto& v) -> int {
            using T = std::decay_t<decltype(v)>;
            if constexpr (std::is_same_v<T, std::nullptr_t>) {
              return sqlite3_bind_null(st, index);
            } else if constexpr (std::is_same_v<T, int64_t>) {
              return sqlite3_bind_int64(st, index, v);
            } else {
              // The params outlive the statement's execution (reset by the guard above).
              return sqlite3_bind_text(st, index, v.data(), static_cast<int>(v.size()),
                                       SQLITE_STATIC);
            }
          },
          params[i]);
      if (rc != SQLITE_OK) return fail(sqliteError(db_, rc, stmt.name));
    }

    SqlResult result;
    for (;;) {
      int rc = sqlite3_step(st);
      if (rc == SQLITE_DONE) break;
      if (rc != SQLITE_ROW) return fail(sqliteError(db_, rc, stmt.name));
      SqlRow row;
      int columns = sqlite3_column_count(st);
      row.cells.reserve(static_cast<size_t>(columns));
      for (int c = 0; c < columns; ++c) {
        if (sqlite3_column_type(st, c) == SQLITE_NULL) {
          row.cells.emplace_back(std::nullopt);
        } else {
          const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(st, c));
          row.cells.emplace_back(
              std::string(text, static_cast<size_t>(sqlite3_column_bytes(st, c))));
        }
      }
      result.rows.push_back(std::move(row));
    }
    if (!sqlite3_stmt_readonly(st)) result.affected = sqlite3_changes64(db_);
    return result;
  }

  Status runScript(const std::string& sql) override {
    int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, nullptr);
    if (rc != SQLITE_OK) return fail(sqliteError(db_, rc, "script"));
    return {};
  }

  // The WAL switch of a fresh file needs the database to itself and fails at once with "database
  // is locked" (no busy handler) while another process opens it, so it is retried here. The mode
  // is stored in the file: later opens find it set and skip the switch.
  Status enableWal(int busy_timeout_ms) {
    static const SqlStatement kGetMode{"sqlite.journal_mode", "PRAGMA journal_mode", false};
    static const SqlStatement kSetWal{"sqlite.wal", "PRAGMA journal_mode = WAL", true};
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(busy_timeout_ms);
    for (;;) {
      auto mode = run(kGetMode, {});
      if (mode.ok() && !mode->rows.empty() && mode->rows.front().text(0) == "wal") return {};
      auto set = run(kSetWal, {});
      if (set.ok() && !set->rows.empty() && set->rows.front().text(0) == "wal") return {};
      if (std::chrono::steady_clock::now() >= deadline) {
        return set.ok() ? Error::unavailable("cannot switch to WAL journal mode") : set.error();
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }

  bool inTransaction() const { return sqlite3_get_autocommit(db_) == 0; }

 private:
  explicit SqliteConnection(sqlite3* db) : db_(db) {}

  Result<sqlite3_stmt*> prepare(const SqlStatement& stmt) {
    auto it = cache_.find(stmt.name);
    if (it != cache_.end()) return it->second;
    std::string sql = toSqliteParams(stmt.sql);
    sqlite3_stmt* st = nullptr;
    int rc = sqlite3_prepare_v3(db_, sql.c_str(), static_cast<int>(sql.size()),
                                SQLITE_PREPARE_PERSISTENT, &st, nullptr);
    if (rc != SQLITE_OK) {
      sqlite3_finalize(st);
      return fail(sqliteError(db_, rc, stmt.name));
    }
    cache_.emplace(stmt.name, st);
    return st;
  }

  sqlite3* db_;
  std::unordered_map<std::string, sqlite3_stmt*> cache_;
};

using SqlitePool = ConnectionPool<SqliteConnection>;

const SqlStatement kBegin{"sqlite.begin", "BEGIN IMMEDIATE", true};
const SqlStatement kCommit{"sqlite.commit", "COMMIT", true};
const SqlStatement kRollback{"sqlite.rollback", "ROLLBACK", true};

class SqliteDatabase final : public SqlDatabase {
 public:
  SqliteDatabase(const std::string& path, const StoreOptions& options) {
    // Queueing for the writer is bounded like SQLite's own wait for the file lock.
    auto wait = std::chrono::milliseconds(std::max(options.busy_timeout_ms, 1000));
    int busy = options.busy_timeout_ms;
    writer_ = std::make_unique<SqlitePool>(
        1, [path, busy] { return SqliteConnection::open(path, false, busy); }, wait);
    if (path != kMemoryPath) {
      readers_ = std::make_unique<SqlitePool>(
          static_cast<size_t>(std::max(options.pool_size, 1)),
          [path, busy] { return SqliteConnection::open(path, true, busy); }, wait);
    }
  }

  // Opens the writer now so that a bad path fails at start-up, not on the first request.
  Status connect() {
    auto lease = writer_->acquire();
    if (!lease.ok()) return lease.error();
    return {};
  }

  std::string backendName() const override { return "sqlite"; }

  Result<SqlResult> run(const SqlStatement& stmt, const SqlParams& params) override {
    SqlitePool& pool = (stmt.writes || !readers_) ? *writer_ : *readers_;
    auto lease = pool.acquire();
    if (!lease.ok()) return fail(lease.error());
    return (*lease)->run(stmt, params);
  }

  Status transact(const std::function<Status(SqlSession&)>& body) override {
    auto lease = writer_->acquire();
    if (!lease.ok()) return lease.error();
    SqliteConnection& conn = **lease;
    if (auto begun = conn.run(kBegin, {}); !begun.ok()) return begun.error();
    Status status = body(conn);
    if (status.ok()) {
      auto committed = conn.run(kCommit, {});
      if (committed.ok()) return {};
      status = committed.error();
    }
    // SQLite may already have rolled back on its own (e.g. after SQLITE_FULL).
    if (conn.inTransaction()) (void)conn.run(kRollback, {});
    return status;
  }

  // BEGIN IMMEDIATE already holds the database's single write lock.
  Status lockForMigration(SqlSession&) override { return {}; }

 private:
  std::unique_ptr<SqlitePool> writer_;
  std::unique_ptr<SqlitePool> readers_;  // null for ":memory:"
};

}  // namespace

std::unique_ptr<SqlDatabase> openSqliteDatabase(const std::string& path,
                                                const StoreOptions& options) {
  if (path.empty()) throw std::runtime_error("cannot open sqlite database: empty path");
  auto db = std::make_unique<SqliteDatabase>(path, options);
  if (auto st = db->connect(); !st.ok()) {
    throw std::runtime_error("cannot open sqlite database '" + path + "': " + st.error().message);
  }
  return db;
}

}  // namespace broker::store
