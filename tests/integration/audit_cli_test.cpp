// Who has access and what happened, as an operator asks the command line: `audit`,
// `sessions list|revoke` and `policy check --against-store`, against a running broker's store.

#include <gtest/gtest.h>

#include <chrono>
#include <csignal>
#include <set>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "fakes/broker_process.h"
#include "fakes/http_client.h"
#include "fakes/oauth_driver.h"

namespace broker::testing {
namespace {

using nlohmann::json;

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

class AuditCli : public ::testing::Test {
 protected:
  void SetUp() override {
    broker_ = std::make_unique<BrokerProcess>(dir_, BrokerConfig{});
    broker_->start();
    driver_ = std::make_unique<OAuthDriver>(broker_->url());
  }
  // Runs a command that prints JSON; fails the test when it does not.
  json cliJson(const std::vector<std::string>& args) {
    auto out = broker_->cli(args);
    EXPECT_EQ(out.exit_code, 0) << out.output;
    // The array on stdout, whatever stderr printed around it (configuration warnings): from
    // the line that opens it to the line that closes it.
    std::string text;
    bool in = false;
    for (size_t at = 0, end; at < out.output.size(); at = end + 1) {
      end = out.output.find('\n', at);
      if (end == std::string::npos) end = out.output.size();
      const std::string line = out.output.substr(at, end - at);
      if (!in && line.rfind('[', 0) == 0) in = true;
      if (!in) continue;
      text += line + "\n";
      if (line == "]" || line == "[]") break;
    }
    auto parsed = json::parse(text, nullptr, false);
    EXPECT_FALSE(parsed.is_discarded()) << out.output;
    return parsed.is_discarded() ? json::array() : parsed;
  }
  // The audit events, once `event` is among them (the broker writes them within a second).
  json auditUntil(const std::string& event, std::vector<std::string> args = {}) {
    args.insert(args.begin(), {"audit", "--json"});
    json events;
    for (int i = 0; i < 50; ++i) {
      events = cliJson(args);
      for (const auto& e : events) {
        if (e["event"] == event) return events;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    ADD_FAILURE() << "no " << event << " event in " << events.dump(2);
    return events;
  }
  static std::vector<json> ofKind(const json& events, const std::string& kind) {
    std::vector<json> out;
    for (const auto& e : events) {
      if (e["event"] == kind) out.push_back(e);
    }
    return out;
  }

  TempDir dir_;
  std::unique_ptr<BrokerProcess> broker_;
  std::unique_ptr<OAuthDriver> driver_;
};

TEST_F(AuditCli, EverySecurityEventIsInTheAuditTable) {
  auto client = driver_->registerClient();
  // Sign-in, then a refresh and the first token again after its successor was used.
  auto alice = driver_->login(client, "alice");
  ASSERT_EQ(alice.status, 200) << alice.body;
  auto next = driver_->refresh(client, alice.refresh_token);
  ASSERT_EQ(driver_->refresh(client, next.refresh_token).status, 200);
  EXPECT_EQ(driver_->refresh(client, alice.refresh_token).error, "invalid_grant");
  // A denied sign-in.
  PkcePair pkce;
  AuthorizeRequest mallory;
  mallory.user = "mallory";
  EXPECT_EQ(driver_->authorize(client, mallory, &pkce).error, "access_denied");
  // A code used twice.
  AuthorizeRequest bob;
  bob.user = "bob";
  bob.scope = "mcp:localhost:demo mcp:localhost:admin";
  auto code = driver_->authorize(client, bob, &pkce);
  ASSERT_FALSE(code.code.empty()) << code.page;
  auto bob_tokens = driver_->exchange(client, code.code, pkce.verifier);
  ASSERT_EQ(bob_tokens.status, 200);
  EXPECT_EQ(driver_->exchange(client, code.code, pkce.verifier).error, "invalid_grant");
  // A revocation by the client.
  auto fresh = driver_->login(client, "alice");
  ASSERT_EQ(driver_->clientPost(client, "/revoke", {{"token", fresh.refresh_token}}).status, 200);
  // The command line: a client registered and deleted by hand, a key rotation.
  auto made = broker_->cli({"client", "register", "--name", "Hand", "--redirect-uri",
                            "http://127.0.0.1:9/cb", "--client-id", "hand-made"});
  ASSERT_EQ(made.exit_code, 0) << made.output;
  ASSERT_EQ(broker_->cli({"client", "delete", "hand-made"}).exit_code, 0);
  ASSERT_EQ(broker_->cli({"keys", "rotate"}).exit_code, 0);

  json events = auditUntil("token_revoked");
  auto one = [&](const std::string& kind) {
    auto found = ofKind(events, kind);
    EXPECT_EQ(found.size(), 1u) << kind << " in " << events.dump(2);
    return found.empty() ? json::object() : found.front();
  };
  json e;
  for (const auto& r : ofKind(events, "client_registered")) {
    if (r["client_id"] == client.client_id) e = r;
  }
  EXPECT_EQ(e["actor"], "registration") << events.dump(2);
  EXPECT_EQ(e["detail"]["token_endpoint_auth_method"], "none");

  e = ofKind(events, "login_succeeded").front();
  EXPECT_EQ(e["subject"], "dev:alice");
  EXPECT_EQ(e["actor"], "user:dev:alice");
  EXPECT_EQ(e["client_id"], client.client_id);
  EXPECT_EQ(e["upstream"], "dev");
  EXPECT_EQ(e["servers"], json::array({"mcp:localhost:demo"}));
  EXPECT_FALSE(e["time"].get<std::string>().empty());

  e = one("login_denied");
  EXPECT_EQ(e["subject"], "dev:mallory");
  EXPECT_EQ(e["servers"], json::array({"mcp:localhost:demo"}));
  // The rule that decided: no entry of the server names mallory.
  EXPECT_FALSE(e["rule"].get<std::string>().empty()) << e.dump();
  EXPECT_TRUE(contains(e["detail"]["reason"].get<std::string>(), "mallory")) << e.dump();

  e = one("refresh_reuse");
  EXPECT_EQ(e["subject"], "dev:alice");
  EXPECT_EQ(e["detail"]["revoked"], true);

  e = one("code_reuse");
  EXPECT_EQ(e["subject"], "dev:bob");
  EXPECT_EQ(e["servers"], json::array({"mcp:localhost:demo", "mcp:localhost:admin"}));

  e = one("token_revoked");
  EXPECT_EQ(e["detail"]["kind"], "refresh_family");
  EXPECT_EQ(e["actor"], "client:" + client.client_id);

  e = one("client_deleted");
  EXPECT_EQ(e["client_id"], "hand-made");
  EXPECT_EQ(e["actor"], "admin");
  EXPECT_EQ(one("key_rotated")["actor"], "admin");
  EXPECT_EQ(
      ofKind(cliJson({"audit", "--json", "--client", "hand-made"}), "client_registered").size(),
      1u);

  // Filters: by subject, by server, by time.
  json alice_only = cliJson({"audit", "--json", "--subject", "dev:alice"});
  ASSERT_FALSE(alice_only.empty());
  for (const auto& a : alice_only) EXPECT_EQ(a["subject"], "dev:alice") << a.dump();
  json admin = cliJson({"audit", "--json", "--server", "mcp:localhost:admin"});
  ASSERT_FALSE(admin.empty());
  for (const auto& a : admin) EXPECT_EQ(a["subject"], "dev:bob") << a.dump();
  EXPECT_EQ(cliJson({"audit", "--json", "--since", "1h"}).size(), events.size());
  EXPECT_TRUE(cliJson({"audit", "--json", "--since", "2999-01-01"}).empty());
  auto bad = broker_->cli({"audit", "--since", "yesterday"});
  EXPECT_EQ(bad.exit_code, 2) << bad.output;

  // The table: one header, one line per event.
  auto table = broker_->cli({"audit", "--subject", "dev:mallory"});
  ASSERT_EQ(table.exit_code, 0) << table.output;
  EXPECT_TRUE(contains(table.output, "TIME")) << table.output;
  EXPECT_TRUE(contains(table.output, "login_denied")) << table.output;
  EXPECT_FALSE(contains(table.output, "dev:alice")) << table.output;
}

TEST_F(AuditCli, SessionsListShowsWhoHoldsWhatAndRevokeEndsIt) {
  auto client = driver_->registerClient();
  auto alice = driver_->login(client, "alice");
  auto bob = driver_->login(client, "bob", "mcp:localhost:demo mcp:localhost:admin");
  ASSERT_EQ(alice.status, 200);
  ASSERT_EQ(bob.status, 200);

  json all = cliJson({"sessions", "list", "--json"});
  ASSERT_EQ(all.size(), 2u) << all.dump(2);
  std::set<std::string> who;
  std::string bob_session;
  for (const auto& s : all) {
    who.insert(s["subject"].get<std::string>());
    EXPECT_EQ(s["client_id"], client.client_id);
    EXPECT_FALSE(s["since"].get<std::string>().empty());
    EXPECT_FALSE(s["last_used"].get<std::string>().empty());
    if (s["subject"] == "dev:bob") {
      bob_session = s["session"];
      EXPECT_EQ(s["username"], "bob");
      EXPECT_EQ(s["servers"], json::array({"mcp:localhost:demo", "mcp:localhost:admin"}));
    }
  }
  EXPECT_EQ(who, (std::set<std::string>{"dev:alice", "dev:bob"}));
  json admin = cliJson({"sessions", "list", "--json", "--server", "mcp:localhost:admin"});
  ASSERT_EQ(admin.size(), 1u);
  EXPECT_EQ(admin[0]["subject"], "dev:bob");
  EXPECT_EQ(cliJson({"sessions", "list", "--json", "--subject", "dev:alice"}).size(), 1u);
  auto table = broker_->cli({"sessions", "list"});
  EXPECT_TRUE(contains(table.output, "SESSION")) << table.output;
  EXPECT_TRUE(contains(table.output, bob_session)) << table.output;

  // One session.
  auto revoked = broker_->cli({"sessions", "revoke", bob_session});
  ASSERT_EQ(revoked.exit_code, 0) << revoked.output;
  EXPECT_TRUE(contains(revoked.output, "revoked 1 session")) << revoked.output;
  EXPECT_EQ(driver_->refresh(client, bob.refresh_token).error, "invalid_grant");
  json left = cliJson({"sessions", "list", "--json"});
  ASSERT_EQ(left.size(), 1u);
  EXPECT_EQ(left[0]["subject"], "dev:alice");
  // The last refresh is when it was last used.
  auto refreshed = driver_->refresh(client, alice.refresh_token);
  ASSERT_EQ(refreshed.status, 200);

  // Every one.
  auto everything = broker_->cli({"sessions", "revoke", "--all"});
  ASSERT_EQ(everything.exit_code, 0) << everything.output;
  EXPECT_TRUE(contains(everything.output, "revoked 1 session")) << everything.output;
  EXPECT_EQ(driver_->refresh(client, refreshed.refresh_token).error, "invalid_grant");
  EXPECT_TRUE(cliJson({"sessions", "list", "--json"}).empty());

  EXPECT_EQ(broker_->cli({"sessions", "revoke"}).exit_code, 2);
  EXPECT_EQ(broker_->cli({"sessions", "revoke", "x", "--all"}).exit_code, 2);
  auto unknown = broker_->cli({"sessions", "revoke", "no-such-session"});
  EXPECT_EQ(unknown.exit_code, 1) << unknown.output;
  EXPECT_EQ(ofKind(auditUntil("sessions_revoked"), "sessions_revoked").size(), 2u);
}

// alice may use demo; bob demo and admin (the default test policy). The edit below takes demo
// from alice and admin from bob: the check says so before, and the next refreshes agree after.
TEST_F(AuditCli, PolicyCheckAgainstStoreShowsTheSessionsAnEditWouldCut) {
  auto client = driver_->registerClient();
  auto alice = driver_->login(client, "alice");
  auto bob = driver_->login(client, "bob", "mcp:localhost:demo mcp:localhost:admin");
  auto carol_less = driver_->login(client, "bob");  // demo only: untouched by the edit
  ASSERT_EQ(alice.status, 200);
  ASSERT_EQ(bob.status, 200);
  ASSERT_EQ(carol_less.status, 200);
  const std::string edited = R"(default_scopes: [mcp:localhost:demo]
servers:
  localhost:
    demo:
      name: Demo server
      resource: http://127.0.0.1:9000/mcp
      allowed_users: [bob]
    admin:
      name: Admin tools
      resource: http://127.0.0.1:9001/mcp
      allowed_users: [carol]
)";
  writeFile(dir_.file("edited.yaml"), edited);
  auto check = broker_->cli({"policy", "check", dir_.file("edited.yaml"), "--against-store"});
  ASSERT_EQ(check.exit_code, 0) << check.output;
  EXPECT_TRUE(contains(check.output, "3 live sessions, 1 cut at their next refresh, 1 narrowed"))
      << check.output;
  std::string cut_line, narrowed_line;
  for (size_t at = 0, end; at < check.output.size(); at = end + 1) {
    end = check.output.find('\n', at);
    if (end == std::string::npos) end = check.output.size();
    const std::string line = check.output.substr(at, end - at);
    if (line.rfind("cut ", 0) == 0) cut_line = line;
    if (line.rfind("narrowed ", 0) == 0) narrowed_line = line;
  }
  EXPECT_TRUE(contains(cut_line, "dev:alice")) << check.output;
  EXPECT_TRUE(contains(cut_line, "mcp:localhost:demo")) << check.output;
  EXPECT_TRUE(contains(narrowed_line, "dev:bob")) << check.output;
  EXPECT_TRUE(contains(narrowed_line, "mcp:localhost:admin")) << check.output;
  EXPECT_FALSE(contains(narrowed_line, "mcp:localhost:demo")) << check.output;

  // The policy goes live; the refreshes do what the check said.
  writeFile(broker_->policyPath(), edited);
  broker_->signal(SIGHUP);
  (void)auditUntil("policy_reloaded");
  EXPECT_EQ(driver_->refresh(client, alice.refresh_token).error, "invalid_grant");
  auto narrowed = driver_->refresh(client, bob.refresh_token);
  ASSERT_EQ(narrowed.status, 200) << narrowed.body;
  EXPECT_EQ(narrowed.scope, "mcp:localhost:demo");
  EXPECT_EQ(driver_->refresh(client, carol_less.refresh_token).status, 200);

  json events = auditUntil("refresh_denied_by_policy");
  auto denied = ofKind(events, "refresh_denied_by_policy");
  ASSERT_EQ(denied.size(), 1u);
  EXPECT_EQ(denied[0]["subject"], "dev:alice");
  EXPECT_EQ(denied[0]["servers"], json::array({"mcp:localhost:demo"}));
  EXPECT_FALSE(denied[0]["rule"].get<std::string>().empty());
  auto less = ofKind(auditUntil("refresh_narrowed_by_policy"), "refresh_narrowed_by_policy");
  ASSERT_EQ(less.size(), 1u);
  EXPECT_EQ(less[0]["subject"], "dev:bob");
  EXPECT_EQ(less[0]["servers"], json::array({"mcp:localhost:admin"}));
}

}  // namespace
}  // namespace broker::testing
