// Per-test databases for both backends, sample records and the thread start line.

#include "store_fixture.h"

#include <pqxx/pqxx>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <stdexcept>
#include <thread>

#include "store/postgres_database.h"
#include "store/sqlite_database.h"

namespace broker::store::testing {
namespace {

const char* postgresBaseUrl() {
  const char* url = std::getenv("TEST_DATABASE_URL");
  return (url && *url) ? url : nullptr;
}

std::string randomSuffix() {
  std::random_device rd;
  std::uniform_int_distribution<uint64_t> dist;
  char buf[17];
  std::snprintf(buf, sizeof(buf), "%016llx", static_cast<unsigned long long>(dist(rd)));
  return buf;
}

// libpq URL options: search_path picks the test's schema, application_name lets a test find
// the broker's server processes in pg_stat_activity.
std::string schemaUrl(const std::string& schema) {
  std::string base = postgresBaseUrl();
  return base + (base.find('?') == std::string::npos ? "?" : "&") + "options=-csearch_path%3D" +
         schema + "&application_name=" + schema;
}

std::string schemaOf(const std::string& url) {
  auto pos = url.rfind("application_name=");
  return url.substr(pos + std::string("application_name=").size());
}

void adminExec(const std::string& sql) {
  pqxx::connection conn(postgresBaseUrl());
  pqxx::nontransaction tx(conn);
  tx.exec("SET client_min_messages TO WARNING; " + sql);
}

std::unique_ptr<SqlDatabase> openDriver(Backend backend, const std::string& url) {
  if (backend == Backend::kSqlite) return openSqliteDatabase(url.substr(7), StoreOptions{});
  return openPostgresDatabase(url, StoreOptions{});
}

}  // namespace

std::string backendLabel(const ::testing::TestParamInfo<Backend>& info) {
  return info.param == Backend::kSqlite ? "Sqlite" : "Postgresql";
}

TestDatabases::TestDatabases(Backend backend) : backend_(backend) {
  if (backend_ == Backend::kSqlite) {
    auto tmpl = (std::filesystem::temp_directory_path() / "broker-store-XXXXXX").string();
    if (!mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
    dir_ = tmpl;
  }
}

TestDatabases::~TestDatabases() {
  if (!dir_.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  for (const auto& schema : schemas_) {
    try {
      adminExec("DROP SCHEMA IF EXISTS " + schema + " CASCADE");
    } catch (const std::exception&) {
      // A leftover schema in a throwaway test database is harmless.
    }
  }
}

std::string TestDatabases::fresh() {
  if (backend_ == Backend::kSqlite) {
    return "sqlite:" + dir_ + "/db" + std::to_string(next_++) + ".sqlite";
  }
  std::string schema = "broker_test_" + randomSuffix();
  adminExec("CREATE SCHEMA " + schema);
  schemas_.push_back(schema);
  return schemaUrl(schema);
}

std::vector<std::string> TestDatabases::allCells(const std::string& url) {
  auto db = openDriver(backend_, url);
  SqlStatement tables{"test.tables",
                      backend_ == Backend::kSqlite
                          ? "SELECT name FROM sqlite_master WHERE type = 'table'"
                          : "SELECT table_name FROM information_schema.tables "
                            "WHERE table_schema = current_schema()",
                      false};
  auto names = db->run(tables, {});
  if (!names.ok()) throw std::runtime_error(names.error().message);
  std::vector<std::string> cells;
  for (const auto& row : names->rows) {
    std::string table = row.text(0);
    auto content = db->run({"test.dump." + table, "SELECT * FROM " + table, false}, {});
    if (!content.ok()) throw std::runtime_error(content.error().message);
    for (const auto& r : content->rows) {
      for (const auto& cell : r.cells) {
        if (cell) cells.push_back(*cell);
      }
    }
  }
  return cells;
}

void TestDatabases::killConnections(const std::string& url) {
  adminExec("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = '" +
            schemaOf(url) + "'");
}

void StoreConformance::SetUp() {
  if (isPostgres() && !postgresBaseUrl()) {
    GTEST_SKIP() << "TEST_DATABASE_URL is not set; PostgreSQL conformance skipped "
                    "(scripts/test starts a throwaway server and sets it)";
  }
  dbs_ = std::make_unique<TestDatabases>(GetParam());
  url_ = dbs_->fresh();
  store_ = openStore(url_);
}

void StoreConformance::TearDown() {
  store_.reset();
  dbs_.reset();
}

ClientRecord sampleClient(const std::string& client_id) {
  ClientRecord c;
  c.client_id = client_id;
  c.secret_hash = std::string(64, 'a');
  c.token_endpoint_auth_method = "client_secret_post";
  c.redirect_uris = {"https://app.example/cb", "http://127.0.0.1:8765/callback?x=\"q\"&y=1"};
  c.grant_types = {"authorization_code", "refresh_token"};
  c.client_name = "Éditeur \"MCP\" client";
  c.metadata_json = R"({"client_name":"Éditeur","redirect_uris":["https://app.example/cb"]})";
  c.preregistered = false;
  c.created_at = 1'700'000'001;
  c.last_used_at = 1'700'000'002;
  return c;
}

PendingLogin sampleLogin(const std::string& state_hash, const std::string& client_id,
                         int64_t expires_at) {
  PendingLogin p;
  p.state_hash = state_hash;
  p.upstream_id = "github";
  p.client_id = client_id;
  p.redirect_uri = "https://app.example/cb";
  p.client_state = "client-state-123";
  p.code_challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
  p.scope = "repo:read tools:call";
  p.resource = "https://mcp.example/";
  p.upstream_data = "sealed:upstream-login";
  p.created_at = expires_at - 600;
  p.expires_at = expires_at;
  return p;
}

AuthCode sampleCode(const std::string& code_hash, const std::string& client_id,
                    int64_t expires_at) {
  AuthCode c;
  c.code_hash = code_hash;
  c.client_id = client_id;
  c.redirect_uri = "https://app.example/cb";
  c.code_challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
  c.subject = "github:12345";
  c.identity_json = R"({"sub":"github:12345","groups":["a","b"]})";
  c.scope = "repo:read";
  c.resource = "https://mcp.example/";
  c.family_id = "family-of-" + code_hash;
  c.upstream_data = "sealed:upstream-session";
  c.created_at = expires_at - 60;
  c.expires_at = expires_at;
  return c;
}

Family sampleFamily(const std::string& family_id, const std::string& client_id,
                    int64_t expires_at) {
  Family f;
  f.family_id = family_id;
  f.client_id = client_id;
  f.subject = "github:12345";
  f.upstream_data = "sealed:upstream-session";
  f.created_at = expires_at - 86400;
  f.expires_at = expires_at;
  return f;
}

RefreshToken sampleToken(const std::string& token_hash, const Family& family, int64_t expires_at) {
  RefreshToken t;
  t.token_hash = token_hash;
  t.family_id = family.family_id;
  t.client_id = family.client_id;
  t.subject = family.subject;
  t.identity_json = R"({"sub":"github:12345"})";
  t.scope = "repo:read";
  t.resource = "https://mcp.example/";
  t.created_at = expires_at - 3600;
  t.expires_at = expires_at;
  return t;
}

SigningKeyRecord sampleKey(const std::string& kid, int64_t generation) {
  SigningKeyRecord k;
  k.kid = kid;
  k.alg = "RS256";
  k.sealed_private_key = "sealed:pem-" + kid;
  k.public_jwk = R"({"kty":"RSA","kid":")" + kid + R"(","n":"AQAB","e":"AQAB"})";
  k.generation = generation;
  k.created_at = 1'700'000'000 + generation;
  k.activates_at = 1'700'000'100 + generation;
  return k;
}

LiveFamily::LiveFamily(Store& store, int64_t now)
    : family(sampleFamily("f1", "c1", now + 86400)), first(sampleToken("t1", family, now + 3600)) {
  EXPECT_TRUE(store.createClient(sampleClient("c1")).ok());
  EXPECT_TRUE(store.createFamily(family, first).ok());
}

RefreshToken LiveFamily::successor(const std::string& token_hash) const {
  return sampleToken(token_hash, family, first.expires_at + 3600);
}

void runTogether(int n, const std::function<void(int)>& fn) {
  std::atomic<int> ready{0};
  std::atomic<bool> go{false};
  std::vector<std::thread> threads;
  for (int i = 0; i < n; ++i) {
    threads.emplace_back([&, i] {
      ready.fetch_add(1);
      while (!go.load()) std::this_thread::yield();
      fn(i);
    });
  }
  while (ready.load() < n) std::this_thread::yield();
  go.store(true);
  for (auto& t : threads) t.join();
}

}  // namespace broker::store::testing
