// The command line as an operator meets it: the real binary, its exit codes and what it prints.

#include <gtest/gtest.h>

#include <algorithm>
#include <regex>
#include <string>

#include <nlohmann/json.hpp>

#include "fakes/broker_process.h"
#include "fakes/http_client.h"
#include "fakes/oauth_driver.h"

namespace broker::testing {
namespace {

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// config/dev.yaml's master key is accepted only with dev_mode and a warning at start-up; the
// warning reaches the log of `serve` and the stderr of the one-shot commands.
TEST(BrokerCli, DevelopmentOnlyMasterKeyIsWarnedAboutAtStartUp) {
  TempDir dir;
  BrokerConfig cfg;
  cfg.master_keys = {"dev-only-master-key-do-not-use-in-production-0123"};
  BrokerProcess broker(dir, cfg);
  broker.start();
  ASSERT_EQ(broker.stop(), 0);
  const std::string logs = broker.logs();
  EXPECT_TRUE(contains(logs, "\"event\":\"config_warning\"")) << logs;
  EXPECT_TRUE(contains(logs, "a master key marked for development only is in use")) << logs;
  EXPECT_TRUE(contains(logs, "dev_mode is on")) << logs;

  auto list = broker.cli({"keys", "list"});
  ASSERT_EQ(list.exit_code, 0) << list.output;
  EXPECT_TRUE(contains(list.output, "mcp-auth-broker: warning: " + broker.configPath() +
                                        ": a master key marked for development only is in use"))
      << list.output;
}

class BrokerCliFlow : public ::testing::Test {
 protected:
  void SetUp() override {
    broker_ = std::make_unique<BrokerProcess>(dir_, BrokerConfig{});
    broker_->start();
    driver_ = std::make_unique<OAuthDriver>(broker_->url());
  }
  CommandResult registerByHand(const std::vector<std::string>& extra) {
    std::vector<std::string> args = {"client", "register", "--name", "Hand-made"};
    args.insert(args.end(), extra.begin(), extra.end());
    return broker_->cli(args);
  }
  // The client_id that `client register` printed.
  static std::string printedClientId(const std::string& output) {
    std::smatch m;
    return std::regex_search(output, m, std::regex("client_id: (\\S+)")) ? m[1].str() : "";
  }

  TempDir dir_;
  std::unique_ptr<BrokerProcess> broker_;
  std::unique_ptr<OAuthDriver> driver_;
};

// `client register` applies the redirect URI rules of /register: what a client cannot register
// for itself, an operator cannot register for it by mistake either.
TEST_F(BrokerCliFlow, ClientRegisterRefusesWhatRegisterRefuses) {
  const std::vector<std::pair<std::string, std::string>> refused = {
      {"not a uri at all", "redirect_uri is not a valid absolute URI"},
      {"http://evil.example.com/cb", "must use https unless it points at a loopback address"},
      {"javascript:alert(1)", "uses a scheme that cannot be a redirect target"},
      {"https://app.example.com/cb#frag", "must not contain a fragment"}};
  for (const auto& [uri, why] : refused) {
    auto out = registerByHand({"--redirect-uri", uri});
    EXPECT_EQ(out.exit_code, 2) << uri << ": " << out.output;
    EXPECT_TRUE(contains(out.output, why)) << uri << ": " << out.output;
    auto dynamic = driver_->api().post(
        broker_->url() + "/register",
        nlohmann::json({{"redirect_uris", {uri}}, {"token_endpoint_auth_method", "none"}}).dump(),
        "application/json");
    EXPECT_EQ(dynamic.status, 400) << uri << ": " << dynamic.body;
    EXPECT_TRUE(contains(dynamic.body, why)) << uri << ": " << dynamic.body;
  }
  auto listed = broker_->cli({"client", "list"});
  EXPECT_FALSE(contains(listed.output, "Hand-made")) << listed.output;

  auto bad_method = registerByHand(
      {"--redirect-uri", "https://app.example.com/cb", "--auth-method", "private_key_jwt"});
  EXPECT_EQ(bad_method.exit_code, 2) << bad_method.output;
  EXPECT_TRUE(contains(bad_method.output, "unsupported token_endpoint_auth_method"))
      << bad_method.output;

  for (const char* uri : {"https://app.example.com/cb", "http://127.0.0.1:7777/callback",
                          "cursor://anysphere.cursor-mcp/oauth/callback"}) {
    auto ok = registerByHand({"--redirect-uri", uri});
    EXPECT_EQ(ok.exit_code, 0) << uri << ": " << ok.output;
  }
}

TEST_F(BrokerCliFlow, DuplicateClientIdIsASentenceNotAnSqlError) {
  auto first =
      registerByHand({"--redirect-uri", "https://app.example.com/cb", "--client-id", "team-app"});
  ASSERT_EQ(first.exit_code, 0) << first.output;
  auto second =
      registerByHand({"--redirect-uri", "https://app.example.com/cb", "--client-id", "team-app"});
  EXPECT_EQ(second.exit_code, 1) << second.output;
  EXPECT_TRUE(
      contains(second.output, "client register: a client with client_id 'team-app' already exists"))
      << second.output;
  EXPECT_TRUE(contains(second.output, "client delete team-app")) << second.output;
  EXPECT_FALSE(contains(second.output, "UNIQUE")) << second.output;
  EXPECT_FALSE(contains(second.output, "constraint")) << second.output;
}

// One default for every way a client is registered: authorization_code and refresh_token, so a
// client that leaves grant_types out still stays signed in, and the registration answer says so.
TEST_F(BrokerCliFlow, ClientsRegisteredWithoutGrantTypesGetRefreshTokens) {
  const std::string redirect = "http://127.0.0.1:7777/callback";
  auto r = driver_->api().post(
      broker_->url() + "/register",
      nlohmann::json({{"redirect_uris", {redirect}}, {"token_endpoint_auth_method", "none"}})
          .dump(),
      "application/json");
  ASSERT_EQ(r.status, 201) << r.body;
  auto body = nlohmann::json::parse(r.body);
  EXPECT_EQ(body["grant_types"], nlohmann::json::array({"authorization_code", "refresh_token"}));
  RegisteredClient dynamic{body["client_id"].get<std::string>(), "", redirect, "none"};
  auto t = driver_->login(dynamic, "alice");
  ASSERT_EQ(t.status, 200) << t.body;
  EXPECT_FALSE(t.refresh_token.empty()) << t.body;
  EXPECT_EQ(driver_->refresh(dynamic, t.refresh_token).status, 200);

  auto by_hand = registerByHand({"--redirect-uri", redirect});
  ASSERT_EQ(by_hand.exit_code, 0) << by_hand.output;
  RegisteredClient hand{printedClientId(by_hand.output), "", redirect, "none"};
  auto h = driver_->login(hand, "alice");
  ASSERT_EQ(h.status, 200) << h.body;
  EXPECT_FALSE(h.refresh_token.empty()) << h.body;

  auto no_refresh = registerByHand({"--redirect-uri", redirect, "--no-refresh"});
  ASSERT_EQ(no_refresh.exit_code, 0) << no_refresh.output;
  RegisteredClient once{printedClientId(no_refresh.output), "", redirect, "none"};
  auto o = driver_->login(once, "alice");
  ASSERT_EQ(o.status, 200) << o.body;
  EXPECT_TRUE(o.refresh_token.empty()) << o.body;
}

TEST_F(BrokerCliFlow, RevokeWithoutAnUpstreamPrefixSaysHowSubjectsAreWritten) {
  auto client = driver_->registerClient();
  auto t = driver_->login(client, "alice");
  auto bare = broker_->cli({"revoke", "--subject", "alice"});
  ASSERT_EQ(bare.exit_code, 0) << bare.output;
  EXPECT_TRUE(contains(bare.output, "revoked 0 token families")) << bare.output;
  EXPECT_TRUE(contains(bare.output,
                       "subjects are written <upstream>:<id at that upstream>, e.g. "
                       "dev:alice"))
      << bare.output;
  EXPECT_TRUE(contains(bare.output, "configured upstreams: dev")) << bare.output;
  EXPECT_EQ(driver_->refresh(client, t.refresh_token).status, 200);

  auto qualified = broker_->cli({"revoke", "--subject", "dev:alice"});
  ASSERT_EQ(qualified.exit_code, 0) << qualified.output;
  EXPECT_TRUE(contains(qualified.output, "revoked 1 token families")) << qualified.output;
  EXPECT_FALSE(contains(qualified.output, "subjects are written")) << qualified.output;
}

// Times are ISO 8601 in UTC; after `rotate` and `rotate --now` each key's state agrees with its
// times: the key replaced before it activated is "superseded", not "previous".
TEST_F(BrokerCliFlow, KeysListPrintsIsoTimesAndConsistentStates) {
  ASSERT_EQ(broker_->cli({"keys", "rotate"}).exit_code, 0);
  ASSERT_EQ(broker_->cli({"keys", "rotate", "--now"}).exit_code, 0);
  auto list = broker_->cli({"keys", "list"});
  ASSERT_EQ(list.exit_code, 0) << list.output;
  const std::string t = "\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}Z";
  const std::regex line("(\\S+)  (\\w+)  created=(" + t + ") activates=(" + t + ") retires=(" + t +
                        "|-) expires=(" + t + "|-)");
  std::vector<std::string> states;
  for (auto it = std::sregex_iterator(list.output.begin(), list.output.end(), line);
       it != std::sregex_iterator(); ++it) {
    const auto& m = *it;
    states.push_back(m[2].str());
    // ISO 8601 strings of one format compare as the times they name.
    if (m[2] == "previous") {
      EXPECT_LE(m[4].str(), m[5].str()) << list.output;
    }
    if (m[2] == "current") {
      EXPECT_EQ(m[5].str(), "-") << list.output;
    }
  }
  EXPECT_EQ(states, (std::vector<std::string>{"current", "superseded", "previous"})) << list.output;
}

// Every command reads the configuration through the same checks as serve: a mistake in an
// upstream's settings stops `migrate` and `keys list` too, named by file, line, column and key.
TEST(BrokerCli, EveryCommandRefusesAnUpstreamMistakeWithItsPosition) {
  TempDir dir;
  BrokerConfig cfg;
  cfg.upstreams_yaml =
      "  dev:\n    type: dev\n  gh:\n    type: github\n    client_id: Iv1.abc\n"
      "    client_secret: gh-secret\n    timeout: 500s\n";
  BrokerProcess broker(dir, cfg);
  // The upstreams mapping is the config's last part: timeout is its last line.
  const std::string config = readFile(broker.configPath());
  const int line = static_cast<int>(std::count(config.begin(), config.end(), '\n'));
  const std::string expected = broker.configPath() + ":" + std::to_string(line) +
                               ":14: upstreams.gh.timeout: must be between 1s and 120s";
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"migrate"}, {"keys", "list"}, {"client", "list"}}) {
    auto out = broker.cli(args);
    EXPECT_EQ(out.exit_code, 1) << args[0] << ": " << out.output;
    EXPECT_TRUE(contains(out.output, expected)) << args[0] << ": " << out.output;
  }
  cfg.upstreams_yaml = "  dev:\n    type: dev\n    displayname: typo\n";
  broker.rewriteConfig(cfg);
  // Bounded: a broker that accepted the file would serve until stopped.
  auto serve = runCommand(
      {"/usr/bin/timeout", "20", BROKER_BINARY, "--config", broker.configPath(), "serve"});
  EXPECT_EQ(serve.exit_code, 1) << serve.output;
  EXPECT_TRUE(contains(serve.output,
                       "upstreams.dev.displayname: unknown key (did you mean "
                       "'display_name'?)"))
      << serve.output;
}

// An extra per-server key no longer stops the migration: the file is written, exit 0, and every
// key left behind is named with its path on stderr.
TEST(BrokerCli, PolicyMigrateCarriesOnAndNamesEveryKeyItLeavesOut) {
  TempDir dir;
  writeFile(dir.file("config.json"), R"({"issuer": "https://auth.example.com", "servers": {
      "example.com": {"tools": {"name": "Tools", "url": "http://10.0.0.5/mcp",
                                "allowed_users": ["alice"]}}}})");
  auto migrated = runCommand(
      {BROKER_BINARY, "policy", "migrate", dir.file("config.json"), "-o", dir.file("policy.yaml")});
  EXPECT_EQ(migrated.exit_code, 0) << migrated.output;
  const std::string in = dir.file("config.json") + ": ";
  EXPECT_TRUE(contains(migrated.output, in + "issuer: not part of the policy; ignored"))
      << migrated.output;
  EXPECT_TRUE(contains(migrated.output, in + "servers.example.com.tools.url: not a server setting "
                                             "the policy knows; ignored"))
      << migrated.output;
  auto check = runCommand({BROKER_BINARY, "policy", "check", dir.file("policy.yaml")});
  EXPECT_EQ(check.exit_code, 0) << check.output;
}

// server.trust_proxy (deprecated; server.trusted_proxies replaces it) changes what the access log
// names as the client: the last X-Forwarded-For entry, which the proxy in front appended.
TEST(BrokerCli, TrustProxyLogsTheAddressTheProxySaw) {
  for (bool trust : {false, true}) {
    TempDir dir;
    BrokerConfig cfg;
    if (trust) cfg.extra_yaml = "server:\n  trust_proxy: true\n";
    BrokerProcess broker(dir, cfg);
    broker.start();
    HttpClient http;
    auto r = http.get(broker.url() + "/.well-known/oauth-authorization-server",
                      {"X-Forwarded-For: 198.51.100.1, 203.0.113.7"});
    EXPECT_EQ(r.status, 200);
    ASSERT_EQ(broker.stop(), 0);
    const std::string logs = broker.logs();
    const size_t at = logs.find("\"path\":\"/.well-known/oauth-authorization-server\"");
    ASSERT_NE(at, std::string::npos) << logs;
    const std::string line = logs.substr(at, logs.find('\n', at) - at);
    EXPECT_TRUE(
        contains(line, trust ? "\"remote_ip\":\"203.0.113.7\"" : "\"remote_ip\":\"127.0.0.1\""))
        << line;
  }
}

// The README names examples/mcp_server; its --help is the usage on stdout and exit 0, and a
// mistake is the usage on stderr and exit 2.
TEST(ExampleMcpServerCli, HelpPrintsUsageOnStdoutAndExitsZero) {
  for (const char* flag : {"--help", "-h"}) {
    auto help = runCommand(
        {"/bin/sh", "-c", std::string(EXAMPLE_MCP_SERVER) + " " + flag + " 2>/dev/null"});
    EXPECT_EQ(help.exit_code, 0) << help.output;
    EXPECT_TRUE(contains(help.output, "usage: example_mcp_server --listen HOST:PORT"))
        << help.output;
    EXPECT_TRUE(contains(help.output, "--resource URL")) << help.output;
  }
  auto wrong =
      runCommand({"/bin/sh", "-c", std::string(EXAMPLE_MCP_SERVER) + " --nope 1>/dev/null"});
  EXPECT_EQ(wrong.exit_code, 2) << wrong.output;
  EXPECT_TRUE(contains(wrong.output, "usage: example_mcp_server")) << wrong.output;
}

}  // namespace
}  // namespace broker::testing
