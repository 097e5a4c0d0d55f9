// The policy file edited under a running broker: the watcher picks up every kind of save, a valid
// file takes effect for the requests that follow, an invalid one is refused with the old policy
// kept and the error on /health, and requests in flight meanwhile never fail.

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <thread>

#include "fakes/broker_process.h"
#include "fakes/oauth_driver.h"

namespace broker::testing {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

// v1 is the default test policy: alice may use demo, bob demo and admin.
const char* const kPolicyV2 = R"(# v2: bob loses admin, a new server for alice.
default_scopes: [mcp:localhost:demo]
servers:
  localhost:
    demo:
      name: Demo server
      resource: http://127.0.0.1:9000/mcp
      allowed_users: [alice, bob]
    admin:
      name: Admin tools
      resource: http://127.0.0.1:9001/mcp
      allowed_users: [carol]
    extra:
      name: Extra tools
      allowed_users: [alice]
)";

// A save the way editors and deploy tools do it: write a temp file, rename it over the policy.
void replaceFile(const std::string& path, const std::string& content) {
  const std::string tmp = path + ".tmp";
  writeFile(tmp, content);
  ASSERT_EQ(std::rename(tmp.c_str(), path.c_str()), 0);
}

json getJson(HttpClient& http, const std::string& url) {
  return json::parse(http.get(url).body, nullptr, false);
}

bool scopesSupported(HttpClient& http, const std::string& base, const std::string& scope) {
  auto meta = getJson(http, base + "/.well-known/oauth-authorization-server");
  for (const auto& s : meta["scopes_supported"]) {
    if (s == scope) return true;
  }
  return false;
}

// Polls `done` every 50 ms for up to 10 s.
template <class Pred>
bool eventually(Pred done) {
  for (int i = 0; i < 200; ++i) {
    if (done()) return true;
    std::this_thread::sleep_for(50ms);
  }
  return done();
}

// Keeps requests flowing while the test edits the policy: a refresh chain for bob on demo and
// (while it lasts) admin, and metadata and health reads. Every answer must be a 200.
class Traffic {
 public:
  explicit Traffic(const std::string& base) : base_(base) {
    OAuthDriver driver(base_);
    client_ = driver.registerClient();
    auto t = driver.login(client_, "bob", "mcp:localhost:demo mcp:localhost:admin");
    EXPECT_EQ(t.scope, "mcp:localhost:demo mcp:localhost:admin");
    refresh_token_ = t.refresh_token;
    threads_.emplace_back([this] { refreshLoop(); });
    threads_.emplace_back([this] { readLoop(); });
  }
  ~Traffic() { stop(); }

  void stop() {
    stop_ = true;
    for (auto& t : threads_) {
      if (t.joinable()) t.join();
    }
  }
  int requests() const { return requests_; }
  int failures() const { return failures_; }
  std::string lastScope() {
    std::lock_guard<std::mutex> lock(mu_);
    return last_scope_;
  }
  std::string firstFailure() {
    std::lock_guard<std::mutex> lock(mu_);
    return first_failure_;
  }

 private:
  void fail(const std::string& what) {
    ++failures_;
    std::lock_guard<std::mutex> lock(mu_);
    if (first_failure_.empty()) first_failure_ = what;
  }

  void refreshLoop() {
    OAuthDriver driver(base_);
    std::string token = refresh_token_;
    for (int i = 0; i < 20000 && !stop_; ++i) {
      auto t = driver.refresh(client_, token);
      ++requests_;
      if (t.status != 200 || t.refresh_token.empty()) {
        fail("refresh: " + std::to_string(t.status) + " " + t.body);
        return;  // the chain is broken; nothing more to measure
      }
      token = t.refresh_token;
      std::lock_guard<std::mutex> lock(mu_);
      last_scope_ = t.scope;
    }
  }

  void readLoop() {
    HttpClient http;
    for (int i = 0; i < 50000 && !stop_; ++i) {
      const char* path = i % 2 ? "/health" : "/.well-known/oauth-authorization-server";
      auto r = http.get(base_ + path);
      ++requests_;
      if (r.status != 200) fail(std::string(path) + ": " + std::to_string(r.status) + r.body);
    }
  }

  std::string base_;
  RegisteredClient client_;
  std::string refresh_token_;
  std::atomic<bool> stop_{false};
  std::atomic<int> requests_{0};
  std::atomic<int> failures_{0};
  std::mutex mu_;
  std::string last_scope_;
  std::string first_failure_;
  std::vector<std::thread> threads_;
};

TEST(PolicyReload, EditsUnderARunningBrokerTakeEffectWithNoFailedRequests) {
  TempDir dir;
  BrokerProcess broker(dir, {});
  broker.start();
  const std::string base = broker.url();
  HttpClient http;
  ASSERT_FALSE(scopesSupported(http, base, "mcp:localhost:extra"));

  Traffic traffic(base);
  ASSERT_TRUE(eventually([&] { return traffic.requests() > 20; }));

  // 1. A broken edit (a team without an org) is refused; the old policy keeps answering.
  replaceFile(broker.policyPath(), std::string(kPolicyV2) + "      allowed_teams: [platform]\n");
  ASSERT_TRUE(eventually([&] { return getJson(http, base + "/health")["policy"] == "stale"; }))
      << broker.logs();
  auto health = getJson(http, base + "/health");
  EXPECT_EQ(health["status"], "ok");  // a stale policy is still a working broker
  const std::string error = health.value("policy_error", "");
  EXPECT_NE(error.find("policy.yaml:16:"), std::string::npos) << error;
  EXPECT_NE(error.find("allowed_teams[0]"), std::string::npos) << error;
  EXPECT_NE(error.find("has no org"), std::string::npos) << error;
  EXPECT_NE(broker.logs().find("policy_reload_failed"), std::string::npos);
  EXPECT_FALSE(scopesSupported(http, base, "mcp:localhost:extra"));
  const int before = traffic.requests();
  ASSERT_TRUE(eventually([&] { return traffic.requests() > before + 20; }));
  EXPECT_EQ(traffic.lastScope(), "mcp:localhost:demo mcp:localhost:admin");

  // 2. The fixed file, saved in place, replaces the policy for every request after it.
  writeFile(broker.policyPath(), kPolicyV2);
  ASSERT_TRUE(eventually([&] { return scopesSupported(http, base, "mcp:localhost:extra"); }))
      << broker.logs();
  EXPECT_EQ(getJson(http, base + "/health")["policy"], "loaded");
  EXPECT_FALSE(getJson(http, base + "/health").contains("policy_error"));
  // bob's next refreshes carry only what v2 still allows him: narrowed, not refused.
  ASSERT_TRUE(eventually([&] { return traffic.lastScope() == "mcp:localhost:demo"; }))
      << traffic.lastScope();
  OAuthDriver alice(base);
  auto client = alice.registerClient();
  auto t = alice.login(client, "alice", "mcp:localhost:demo mcp:localhost:extra");
  EXPECT_EQ(t.scope, "mcp:localhost:demo mcp:localhost:extra") << t.body;

  // 3. Back to v1 by rename-replace: admin is bob's again for new logins.
  replaceFile(broker.policyPath(), defaultTestPolicy());
  ASSERT_TRUE(eventually([&] { return !scopesSupported(http, base, "mcp:localhost:extra"); }));
  OAuthDriver bob(base);
  auto bob_client = bob.registerClient();
  EXPECT_EQ(bob.login(bob_client, "bob", "mcp:localhost:admin").scope, "mcp:localhost:admin");

  traffic.stop();
  EXPECT_EQ(traffic.failures(), 0) << traffic.firstFailure();
  EXPECT_GT(traffic.requests(), 100);
  EXPECT_EQ(broker.stop(), 0);
}

// A running broker on the default test policy, with a registered public client.
class PolicyReloadBroker : public ::testing::Test {
 protected:
  void SetUp() override {
    broker.start();
    client = driver.registerClient();
  }

  TempDir dir;
  BrokerProcess broker{dir, {}};
  OAuthDriver driver{broker.url()};
  RegisteredClient client;
};

TEST_F(PolicyReloadBroker, ValidateAndIntrospectNameTheRuleBehindEachScope) {
  // A confidential client asks about its own tokens (others' need introspection.allowed_clients).
  auto rs = driver.registerClient("client_secret_basic");
  auto t = driver.login(rs, "bob", "mcp:localhost:demo mcp:localhost:admin");
  ASSERT_EQ(t.status, 200) << t.body;

  HttpClient http;
  auto v = json::parse(http.post(broker.url() + "/validate", json{{"token", t.access_token}}.dump(),
                                 "application/json")
                           .body);
  ASSERT_EQ(v["valid"], true) << v.dump();
  EXPECT_EQ(v["policy"]["mcp:localhost:demo"]["allowed"], true);
  EXPECT_EQ(v["policy"]["mcp:localhost:demo"]["rule"], "servers.localhost.demo.allowed_users[bob]");
  EXPECT_EQ(v["policy"]["mcp:localhost:admin"]["rule"],
            "servers.localhost.admin.allowed_users[bob]");

  auto i = json::parse(driver.clientPost(rs, "/introspect", {{"token", t.refresh_token}}).body);
  ASSERT_EQ(i["active"], true) << i.dump();
  EXPECT_EQ(i["policy"]["mcp:localhost:admin"]["rule"],
            "servers.localhost.admin.allowed_users[bob]");

  // After an edit the answer says what the current policy thinks of the token's scopes.
  writeFile(broker.policyPath(), kPolicyV2);
  ASSERT_TRUE(eventually([&] {
    auto a = json::parse(driver.clientPost(rs, "/introspect", {{"token", t.access_token}}).body);
    return a["policy"]["mcp:localhost:admin"]["allowed"] == false;
  })) << broker.logs();
  auto a = json::parse(driver.clientPost(rs, "/introspect", {{"token", t.access_token}}).body);
  EXPECT_EQ(a["policy"]["mcp:localhost:admin"]["rule"], "no allow rule matched");
  EXPECT_EQ(a["policy"]["mcp:localhost:demo"]["allowed"], true);
}

TEST_F(PolicyReloadBroker, RefreshAfterAnEditGetsTheNarrowerSetOrInvalidGrant) {
  auto bob = driver.login(client, "bob", "mcp:localhost:demo mcp:localhost:admin");
  auto alice = driver.login(client, "alice", "mcp:localhost:demo");
  ASSERT_EQ(bob.scope, "mcp:localhost:demo mcp:localhost:admin") << bob.body;
  ASSERT_EQ(alice.scope, "mcp:localhost:demo") << alice.body;

  // demo is now bob's only; admin nobody's.
  std::string v3 = defaultTestPolicy();
  v3.replace(v3.find("allowed_users: [alice, bob]"), 27, "allowed_users: [bob]");
  v3.replace(v3.find("allowed_users: [bob]\n", v3.find("admin:")), 21, "allowed_users: [carol]\n");
  replaceFile(broker.policyPath(), v3);
  ASSERT_TRUE(eventually([&] {
    return broker.logs().find("policy_reloaded") != std::string::npos;
  })) << broker.logs();

  auto narrowed = driver.refresh(client, bob.refresh_token);
  EXPECT_EQ(narrowed.status, 200) << narrowed.body;
  EXPECT_EQ(narrowed.scope, "mcp:localhost:demo");
  auto refused = driver.refresh(client, alice.refresh_token);
  EXPECT_EQ(refused.status, 400) << refused.body;
  EXPECT_EQ(refused.error, "invalid_grant");
  EXPECT_NE(broker.logs().find("refresh_denied_by_policy"), std::string::npos);
}

TEST_F(PolicyReloadBroker, SighupReloadsToo) {
  broker.signal(SIGHUP);
  ASSERT_TRUE(eventually([&] {
    return broker.logs().find(R"("trigger":"SIGHUP")") != std::string::npos;
  })) << broker.logs();
  EXPECT_NE(broker.logs().find("policy_reloaded"), std::string::npos);
  // An invalid file: SIGHUP reports it and keeps the policy (the watcher may report it first).
  writeFile(broker.policyPath(), "servers: {}\n");
  broker.signal(SIGHUP);
  HttpClient http;
  ASSERT_TRUE(eventually([&] {
    const std::string logs = broker.logs();
    return logs.find(R"("event":"policy_reload_failed")") != std::string::npos &&
           logs.rfind(R"("trigger":"SIGHUP")") > logs.find("policy_reload_failed");
  })) << broker.logs();
  EXPECT_EQ(getJson(http, broker.url() + "/health")["policy"], "stale");
  EXPECT_EQ(driver.login(client, "alice").scope, "mcp:localhost:demo");
}

// The default test policy with its own tests: bob keeps admin, alice never gets it.
std::string testedPolicy(const std::string& servers = defaultTestPolicy()) {
  return servers + R"(tests:
  - name: bob keeps the admin tools
    identity: {upstream: dev, user: bob}
    scope: [mcp:localhost:demo, mcp:localhost:admin]
    expect: allow
  - name: admin is not for everyone
    identity: {upstream: dev, user: alice}
    scope: mcp:localhost:admin
    expect: deny
)";
}

// The default policy with admin's allow list replaced by `admin_users`.
std::string withAdminUsers(const std::string& admin_users) {
  std::string p = defaultTestPolicy();
  const size_t at = p.find("allowed_users: [bob]", p.find("admin:"));
  return p.replace(at, 20, "allowed_users: " + admin_users);
}

TEST(PolicyReload, AnEditThatFailsItsOwnTestsNeverGoesLive) {
  TempDir dir;
  BrokerConfig cfg;
  cfg.policy_yaml = testedPolicy();
  BrokerProcess broker(dir, cfg);
  broker.start();
  OAuthDriver driver(broker.url());
  auto client = driver.registerClient();
  HttpClient http;
  EXPECT_EQ(getJson(http, broker.url() + "/health")["policy"], "loaded");

  // 1. An edit that locks bob out of admin: valid YAML, refused because its own test fails.
  replaceFile(broker.policyPath(), testedPolicy(withAdminUsers("[carol]")));
  ASSERT_TRUE(eventually([&] {
    return getJson(http, broker.url() + "/health")["policy"] == "stale";
  })) << broker.logs();
  std::string error = getJson(http, broker.url() + "/health").value("policy_error", "");
  EXPECT_NE(error.find("the policy's own tests fail: " + broker.policyPath() +
                       ":16:5: tests[0] (bob keeps the admin tools): expected allow for "
                       "mcp:localhost:admin, got deny by no allow rule matched"),
            std::string::npos)
      << error;
  EXPECT_EQ(driver.login(client, "bob", "mcp:localhost:admin").scope, "mcp:localhost:admin");
  EXPECT_NE(driver.login(client, "carol", "mcp:localhost:admin").status, 200);

  // 2. An edit that opens admin to everyone, reloaded by SIGHUP: refused the same way.
  writeFile(broker.policyPath(), testedPolicy(withAdminUsers("[\"*\"]")));
  broker.signal(SIGHUP);
  ASSERT_TRUE(eventually([&] {
    return getJson(http, broker.url() + "/health").value("policy_error", "").find("tests[1]") !=
           std::string::npos;
  })) << broker.logs();
  error = getJson(http, broker.url() + "/health").value("policy_error", "");
  EXPECT_NE(
      error.find("tests[1] (admin is not for everyone): expected deny for "
                 "mcp:localhost:admin, got allow by servers.localhost.admin.allowed_users[*]"),
      std::string::npos)
      << error;
  EXPECT_NE(driver.login(client, "alice", "mcp:localhost:admin").status, 200);
  EXPECT_NE(broker.logs().find("the policy's own tests fail"), std::string::npos);

  // 3. An edit whose tests pass goes live.
  replaceFile(broker.policyPath(), testedPolicy(withAdminUsers("[bob, carol]")));
  ASSERT_TRUE(eventually([&] {
    return getJson(http, broker.url() + "/health")["policy"] == "loaded";
  })) << broker.logs();
  EXPECT_EQ(driver.login(client, "carol", "mcp:localhost:admin").scope, "mcp:localhost:admin");
  EXPECT_EQ(broker.stop(), 0);
}

TEST(PolicyReload, ServeRefusesToStartOnAPolicyWhoseTestsFail) {
  TempDir dir;
  BrokerConfig cfg;
  cfg.policy_yaml = testedPolicy(withAdminUsers("[alice, bob]"));
  BrokerProcess broker(dir, cfg);
  // Bounded: a broker that wrongly started would otherwise serve until killed.
  auto serve = runCommand(
      {"/usr/bin/timeout", "30", BROKER_BINARY, "--config", broker.configPath(), "serve"});
  EXPECT_EQ(serve.exit_code, 1) << serve.output;
  EXPECT_NE(serve.output.find("tests[1] (admin is not for everyone): expected deny"),
            std::string::npos)
      << serve.output;
}

TEST(PolicyReload, PolicyTestAndCheckRunTheFilesTests) {
  TempDir dir;
  const std::string good = dir.file("good.yaml"), bad = dir.file("bad.yaml");
  writeFile(good, testedPolicy());
  writeFile(bad, testedPolicy(withAdminUsers("[\"*\"]")));

  auto pass = runCommand({BROKER_BINARY, "policy", "test", good});
  EXPECT_EQ(pass.exit_code, 0) << pass.output;
  EXPECT_EQ(pass.output, good + ": 2 tests, 3 of 3 decisions as expected\n");
  auto check = runCommand({BROKER_BINARY, "policy", "check", good});
  EXPECT_EQ(check.exit_code, 0) << check.output;
  EXPECT_NE(check.output.find(good + ": 2 tests, 3 of 3 decisions as expected"), std::string::npos)
      << check.output;

  auto fail = runCommand({BROKER_BINARY, "policy", "test", bad});
  EXPECT_EQ(fail.exit_code, 1) << fail.output;
  EXPECT_EQ(fail.output,
            bad +
                ":20:5: tests[1] (admin is not for everyone): expected deny for "
                "mcp:localhost:admin, got allow by servers.localhost.admin.allowed_users[*]\n"
                "  identity: dev user alice\n"
                "  rule:     servers.localhost.admin.allowed_users[*]\n"
                "  why:      alice (dev) may use mcp:localhost:admin (allowed_users: *)\n" +
                bad + ": 2 tests, 2 of 3 decisions as expected\n");
  auto check_bad = runCommand({BROKER_BINARY, "policy", "check", bad});
  EXPECT_EQ(check_bad.exit_code, 1) << check_bad.output;
  EXPECT_NE(check_bad.output.find("tests[1] (admin is not for everyone)"), std::string::npos)
      << check_bad.output;
  EXPECT_EQ(check_bad.output.find(": OK"), std::string::npos) << check_bad.output;
  // explain still answers for a file whose tests fail: it is how the author finds out why.
  auto explain = runCommand({BROKER_BINARY, "policy", "explain", bad, "--upstream", "dev", "--user",
                             "alice", "--scope", "mcp:localhost:admin"});
  EXPECT_EQ(explain.exit_code, 0) << explain.output;

  auto missing = runCommand({BROKER_BINARY, "policy", "test", dir.file("absent.yaml")});
  EXPECT_EQ(missing.exit_code, 2) << missing.output;
  writeFile(dir.file("none.yaml"), defaultTestPolicy());
  auto none = runCommand({BROKER_BINARY, "policy", "test", dir.file("none.yaml")});
  EXPECT_EQ(none.exit_code, 0) << none.output;
  EXPECT_NE(none.output.find("no tests"), std::string::npos) << none.output;
}

TEST(PolicyReload, PolicyCommandsCheckExplainAndMigrate) {
  TempDir dir;
  writeFile(dir.file("policy.yaml"), kPolicyV2);
  const std::string policy = dir.file("policy.yaml");
  auto check = runCommand({BROKER_BINARY, "policy", "check", policy});
  EXPECT_EQ(check.exit_code, 0) << check.output;
  EXPECT_NE(check.output.find("3 servers"), std::string::npos) << check.output;
  EXPECT_NE(check.output.find("mcp:localhost:extra"), std::string::npos) << check.output;
  EXPECT_NE(check.output.find("allow: users alice"), std::string::npos) << check.output;
  auto unknown =
      runCommand({BROKER_BINARY, "policy", "check", policy, "--known-upstreams", "github"});
  EXPECT_EQ(unknown.exit_code, 0) << unknown.output;  // bare names only: nothing to check

  auto allowed = runCommand({BROKER_BINARY, "policy", "explain", policy, "--user", "alice",
                             "--upstream", "dev", "--scope", "mcp:localhost:extra"});
  EXPECT_EQ(allowed.exit_code, 0) << allowed.output;
  EXPECT_NE(allowed.output.find("mcp:localhost:extra: allowed"), std::string::npos)
      << allowed.output;
  EXPECT_NE(allowed.output.find("rule: servers.localhost.extra.allowed_users[alice]"),
            std::string::npos)
      << allowed.output;
  auto denied = runCommand({BROKER_BINARY, "policy", "explain", policy, "--user", "bob",
                            "--upstream", "dev", "--scope", "mcp:localhost:admin"});
  EXPECT_EQ(denied.exit_code, 1) << denied.output;
  EXPECT_NE(denied.output.find("denied"), std::string::npos) << denied.output;
  EXPECT_NE(denied.output.find("no allow rule matched"), std::string::npos) << denied.output;
  auto broken = runCommand({BROKER_BINARY, "policy", "explain", dir.file("absent.yaml"), "--user",
                            "bob", "--upstream", "dev"});
  EXPECT_EQ(broken.exit_code, 2) << broken.output;

  writeFile(dir.file("config.json"),
            R"({"servers": {"example.com": {"tools": {"name": "Tools",
                "description": "d", "allowed_users": ["alice"]}}}})");
  auto migrated = runCommand({BROKER_BINARY, "policy", "migrate", dir.file("config.json"), "-o",
                              dir.file("migrated.yaml")});
  EXPECT_EQ(migrated.exit_code, 0) << migrated.output;
  auto recheck =
      runCommand({BROKER_BINARY, "policy", "explain", dir.file("migrated.yaml"), "--user", "alice",
                  "--upstream", "github", "--scope", "mcp:example.com:tools"});
  EXPECT_EQ(recheck.exit_code, 0) << recheck.output;
  auto to_stdout = runCommand({BROKER_BINARY, "policy", "migrate", dir.file("config.json")});
  EXPECT_EQ(to_stdout.exit_code, 0);
  EXPECT_EQ(to_stdout.output, readFile(dir.file("migrated.yaml")));
}

TEST(PolicyReload, PolicyCheckWarnsAboutLoginsAndExplainTakesAnId) {
  TempDir dir;
  writeFile(dir.file("policy.yaml"), R"(default_upstream: github
servers:
  example.com:
    tools:
      allowed_users: ["github:id:12345", alice]
)");
  const std::string policy = dir.file("policy.yaml");
  auto check = runCommand({BROKER_BINARY, "policy", "check", policy});
  EXPECT_EQ(check.exit_code, 0) << check.output;  // a warning does not fail the check
  EXPECT_NE(check.output.find(policy + ": OK\n"), std::string::npos) << check.output;
  EXPECT_NE(check.output.find("mcp-auth-broker: warning: " + policy +
                              ":5:42: servers.example.com.tools.allowed_users[1]: 'alice' is a "
                              "username, which can be renamed"),
            std::string::npos)
      << check.output;
  EXPECT_NE(check.output.find("github:id:<GitHub user id>"), std::string::npos) << check.output;
  EXPECT_EQ(check.output.find("allowed_users[0]"), std::string::npos) << check.output;

  auto by_id = runCommand({BROKER_BINARY, "policy", "explain", policy, "--upstream", "github",
                           "--user", "alice-renamed", "--id", "12345"});
  EXPECT_EQ(by_id.exit_code, 0) << by_id.output;
  EXPECT_NE(by_id.output.find("rule: servers.example.com.tools.allowed_users[github:id:12345]"),
            std::string::npos)
      << by_id.output;
  EXPECT_NE(by_id.output.find("by account id 12345"), std::string::npos) << by_id.output;
  // A login that reads like the id is not the id.
  auto name_only = runCommand(
      {BROKER_BINARY, "policy", "explain", policy, "--upstream", "github", "--user", "12345"});
  EXPECT_EQ(name_only.exit_code, 1) << name_only.output;
  auto nobody = runCommand({BROKER_BINARY, "policy", "explain", policy, "--upstream", "github"});
  EXPECT_EQ(nobody.exit_code, 2) << nobody.output;
  EXPECT_NE(nobody.output.find("give --user, --id or both"), std::string::npos) << nobody.output;
}

}  // namespace
}  // namespace broker::testing
