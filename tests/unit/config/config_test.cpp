#include "broker/config/config.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <tuple>

#include <nlohmann/json.hpp>

#include "broker/policy/policy.h"
#include "broker/upstream/factory.h"

namespace broker::config {
namespace {

namespace fs = std::filesystem;

// Line numbers below refer to this file; tests replace or append lines.
constexpr const char* kBase =
    "issuer: http://127.0.0.1:8080\n"                     // 1
    "listen: 127.0.0.1:8080\n"                            // 2
    "storage: \"sqlite::memory:\"\n"                      // 3
    "policy: policy.yaml\n"                               // 4
    "dev_mode: true\n"                                    // 5
    "secrets:\n"                                          // 6
    "  master_keys:\n"                                    // 7
    "    - test-master-key-0123456789abcdef0123456789\n"  // 8
    "upstreams:\n"                                        // 9
    "  dev:\n"                                            // 10
    "    type: dev\n";                                    // 11

const std::string kKey = "test-master-key-0123456789abcdef0123456789";

// Settings as tuples, so a whole section compares (and prints) in one expectation.
std::tuple<int64_t, int64_t, int64_t, int64_t, int64_t, int64_t> fields(const TokenSettings& t) {
  return {t.access_ttl, t.refresh_ttl,   t.refresh_idle_ttl,
          t.code_ttl,   t.refresh_grace, t.login_ttl};
}
std::tuple<int64_t, int64_t, int64_t> fields(const KeySettings& k) {
  return {k.rotation_period, k.publish_ahead, k.sync_interval};
}
std::tuple<int, int, int, size_t, int, int64_t, int64_t, int64_t, bool> fields(
    const ServerSettings& s) {
  return {s.threads,         s.workers,           s.queue_limit,     s.max_request_size,
          s.max_connections, s.header_timeout_ms, s.body_timeout_ms, s.keepalive_timeout_ms,
          s.trust_proxy};
}

fs::path repoRoot() {
  return fs::path(__FILE__).parent_path().parent_path().parent_path().parent_path();
}

class ConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "config-test-XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    std::ofstream(dir_ / "policy.yaml") << "servers:\n  localhost:\n    demo:\n"
                                           "      allowed_users: [alice]\n";
    path_ = (dir_ / "broker.yaml").string();
  }
  void TearDown() override { fs::remove_all(dir_); }

  EnvLookup env() const {
    auto vars = env_;
    return [vars](const std::string& name) -> std::optional<std::string> {
      auto it = vars.find(name);
      if (it == vars.end()) return std::nullopt;
      return it->second;
    };
  }

  Config parse(const std::string& yaml) { return parseConfig(yaml, path_, env()); }

  // kBase with each line number in `changes` (1-based) replaced by its text ("" deletes it).
  static std::string edit(const std::map<int, std::string>& changes) {
    std::stringstream in(kBase);
    std::string out, line;
    for (int i = 1; std::getline(in, line); ++i) {
      auto it = changes.find(i);
      if (it == changes.end()) {
        out += line + "\n";
      } else if (!it->second.empty()) {
        out += it->second + "\n";
      }
    }
    return out;
  }
  static std::string replaceLine(int n, const std::string& text) { return edit({{n, text}}); }
  // Non-loopback issuers need an upstream other than dev.
  static std::string withIssuer(const std::string& issuer) {
    return edit({{1, "issuer: " + issuer}, {11, "    type: github"}});
  }

  // The ConfigError message for `yaml`; fails the test when it loads.
  std::string error(const std::string& yaml) {
    try {
      parse(yaml);
    } catch (const ConfigError& e) {
      return e.what();
    }
    ADD_FAILURE() << "loaded without error:\n" << yaml;
    return "";
  }

  // The error of the configuration as every command reads it (the file, then each upstream's
  // settings); fails the test when it loads.
  std::string checkedError(const std::string& yaml) {
    try {
      upstream::parseCheckedConfig(yaml, path_, env());
    } catch (const ConfigError& e) {
      return e.what();
    }
    ADD_FAILURE() << "loaded without error:\n" << yaml;
    return "";
  }

  // "<file>:<line>:" so expectations read as positions.
  std::string at(int line) const { return path_ + ":" + std::to_string(line) + ":"; }

  fs::path dir_;
  std::string path_;
  std::map<std::string, std::string> env_;
};

#define EXPECT_ERROR_AT(yaml, line, key, text)                                              \
  do {                                                                                      \
    std::string message = error(yaml);                                                      \
    EXPECT_EQ(message.rfind(at(line), 0), 0u) << message;                                   \
    EXPECT_NE(message.find(std::string(" ") + (key) + ": "), std::string::npos) << message; \
    EXPECT_NE(message.find(text), std::string::npos) << message;                            \
  } while (0)

TEST(Duration, ParsesEveryUnit) {
  EXPECT_EQ(parseDuration("3600"), 3600);
  EXPECT_EQ(parseDuration("0"), 0);
  EXPECT_EQ(parseDuration("90s"), 90);
  EXPECT_EQ(parseDuration("15m"), 900);
  EXPECT_EQ(parseDuration("1h"), 3600);
  EXPECT_EQ(parseDuration("30d"), 30 * 86400);
  EXPECT_EQ(parseDuration("9999999999d"), int64_t{9999999999} * 86400);
}

TEST(Duration, RejectsMalformedText) {
  for (const char* bad : {"", "s", "h", "-1", "+1", "1.5h", "1h30m", " 1h", "1h ", "1 h", "1H",
                          "1w", "1ms", "10000000000", "1e3", "0x10", "abc", "１h"}) {
    EXPECT_FALSE(parseDuration(bad)) << bad;
  }
}

TEST_F(ConfigTest, MinimalFileGetsDefaults) {
  Config c = parse(kBase);
  EXPECT_EQ(c.source_path, path_);
  EXPECT_EQ(c.issuer, "http://127.0.0.1:8080");
  EXPECT_EQ(c.listen, "127.0.0.1:8080");
  EXPECT_EQ(c.storage, "sqlite::memory:");
  EXPECT_EQ(c.policy_path, (dir_ / "policy.yaml").string());
  ASSERT_EQ(c.master_keys.size(), 1u);
  EXPECT_EQ(c.master_keys[0].reveal(), kKey);
  EXPECT_FALSE(c.jwt_private_key_pem);
  EXPECT_TRUE(c.dev_mode);
  EXPECT_TRUE(c.issuerIsLoopback());
  EXPECT_EQ(fields(c.tokens), std::make_tuple(3600, 30 * 86400, 7 * 86400, 60, 30, 600));
  EXPECT_EQ(fields(c.keys), std::make_tuple(30 * 86400, 3600, 10));
  EXPECT_EQ(fields(c.server),
            std::make_tuple(2, 4, 1024, 64 * 1024, 1024, 5000, 10000, 60000, false));
  EXPECT_EQ(c.client_idle_ttl, 90 * 86400);
  EXPECT_EQ(c.gc_interval, 300);
  EXPECT_EQ(c.log_level, "info");
  EXPECT_EQ(c.default_upstream, "dev");
  ASSERT_EQ(c.upstreams.count("dev"), 1u);
  EXPECT_EQ(c.upstreams["dev"].type, "dev");
  EXPECT_TRUE(c.upstreams["dev"].enabled);
  EXPECT_EQ(c.upstreams["dev"].display_name, "dev");
  EXPECT_EQ(c.upstreams["dev"].settings_json, "{}");
  EXPECT_EQ(c.upstreams["dev"].source, path_ + ":10");
  EXPECT_FALSE(c.warnings.empty());  // dev_mode is said out loud
}

TEST_F(ConfigTest, ReadsEverySetting) {
  Config c = parse(std::string(kBase) +
                   "tokens:\n  access_ttl: 15m\n  refresh_ttl: 60d\n  refresh_idle_ttl: 14d\n"
                   "  code_ttl: 2m\n  refresh_grace: 10s\n  login_ttl: 5m\n"
                   "keys:\n  rotation_period: 0\n  publish_ahead: 2h\n  sync_interval: 3s\n"
                   "server:\n  threads: 3\n  workers: 9\n  queue_limit: 77\n"
                   "  max_request_size: 2048\n  max_connections: 12\n"
                   "  header_timeout: 250ms\n  body_timeout: 3s\n"
                   "  keepalive_timeout: 2m\n  trust_proxy: true\n"
                   "clients:\n  idle_ttl: 10d\ngc_interval: 1m\nlog_level: debug\n");
  EXPECT_EQ(fields(c.tokens), std::make_tuple(900, 60 * 86400, 14 * 86400, 120, 10, 300));
  EXPECT_EQ(fields(c.keys), std::make_tuple(0, 7200, 3));
  EXPECT_EQ(fields(c.server), std::make_tuple(3, 9, 77, 2048, 12, 250, 3000, 120000, true));
  EXPECT_EQ(c.client_idle_ttl, 10 * 86400);
  EXPECT_EQ(c.gc_interval, 60);
  EXPECT_EQ(c.log_level, "debug");
}

TEST_F(ConfigTest, ReadsTheFailureLimits) {
  Config defaults = parse(kBase);
  EXPECT_EQ(defaults.storage_timeout_ms, 2000);
  EXPECT_EQ(defaults.tokens.revocation_max_staleness, 60);
  Config c = parse(std::string(kBase) +
                   "storage_timeout: 750ms\ntokens:\n  revocation_max_staleness: 5m\n");
  EXPECT_EQ(c.storage_timeout_ms, 750);
  EXPECT_EQ(c.tokens.revocation_max_staleness, 300);
}

TEST_F(ConfigTest, IssuerIsCanonicalised) {
  EXPECT_EQ(parse(replaceLine(1, "issuer: HTTP://LocalHost:8080/")).issuer,
            "http://localhost:8080");
  EXPECT_EQ(parse(withIssuer("https://Auth.Example.com:443/broker/")).issuer,
            "https://auth.example.com/broker");
  EXPECT_EQ(parse(withIssuer("https://auth.example.com//")).issuer, "https://auth.example.com");
  EXPECT_EQ(parse(replaceLine(1, "issuer: http://[::1]:8080")).issuer, "http://[::1]:8080");
  EXPECT_FALSE(parse(withIssuer("https://auth.example.com")).issuerIsLoopback());
}

TEST_F(ConfigTest, IssuerMustBeAnAbsoluteHttpUrl) {
  for (const char* bad : {"auth.example.com", "/issuer", "https://auth.example.com/?x=1",
                          "https://auth.example.com#f", "https://user@auth.example.com",
                          "ftp://auth.example.com", "https:///path", "https://auth example.com"}) {
    EXPECT_ERROR_AT(withIssuer(std::string("\"") + bad + "\""), 1, "issuer",
                    "must be an absolute URL without query or fragment");
  }
  EXPECT_EQ(error(withIssuer("https://a.example/?q")),
            at(1) + "9: issuer: must be an absolute URL without query or fragment");
}

TEST_F(ConfigTest, PlainHttpIssuerNeedsLoopbackOrDevMode) {
  EXPECT_EQ(parse(withIssuer("http://auth.example.com")).issuer, "http://auth.example.com");
  EXPECT_ERROR_AT(edit({{1, "issuer: http://auth.example.com"},
                        {5, "dev_mode: false"},
                        {11, "    type: github"}}),
                  1, "issuer", "must use https");
  EXPECT_EQ(parse(edit({{5, "dev_mode: false"}, {11, "    type: github"}})).issuer,
            "http://127.0.0.1:8080");
}

TEST_F(ConfigTest, MissingRequiredKeysAreNamed) {
  EXPECT_ERROR_AT(replaceLine(1, ""), 1, "issuer", "required (or set the environment variable");
  EXPECT_ERROR_AT(replaceLine(3, ""), 1, "storage", "required");
  EXPECT_ERROR_AT(replaceLine(4, ""), 1, "policy", "required");
  std::string no_keys = replaceLine(8, "");
  EXPECT_ERROR_AT(no_keys, 7, "secrets.master_keys", "expected a list");
  EXPECT_ERROR_AT(edit({{7, "  master_keys: []"}, {8, ""}}), 7, "secrets.master_keys",
                  "at least one master key");
  EXPECT_ERROR_AT(edit({{6, ""}, {7, ""}, {8, ""}}), 1, "secrets.master_keys",
                  "at least one master key");
}

TEST_F(ConfigTest, UnknownKeysAreRejectedWithASuggestion) {
  EXPECT_EQ(error(replaceLine(2, "isuer: x")),
            at(2) + "1: isuer: unknown key (did you mean 'issuer'?)");
  EXPECT_ERROR_AT(std::string(kBase) + "tokens:\n  acess_ttl: 1h\n", 13, "tokens.acess_ttl",
                  "did you mean 'access_ttl'");
  EXPECT_ERROR_AT(std::string(kBase) + "server:\n  colour: blue\n", 13, "server.colour",
                  "expected one of:");
  EXPECT_ERROR_AT(std::string(kBase) + "secrets:\n", 12, "secrets", "duplicate key");
  EXPECT_ERROR_AT(edit({{7, "  master_key: [x]"}, {8, ""}}), 7, "secrets.master_key",
                  "did you mean 'master_keys'");
}

TEST_F(ConfigTest, UpstreamMappingsTakeAnyKeyAsJson) {
  env_["SECRET"] = "000123";
  Config c = parse(std::string(kBase) +
                   "  corp:\n"                              // 12
                   "    type: oidc\n"                       // 13
                   "    display_name: Corporate SSO\n"      // 14
                   "    issuer: https://sso.example.com\n"  // 15
                   "    client_secret: ${SECRET}\n"         // 16
                   "    quoted: \"42\"\n"                   // 17
                   "    port: 42\n"                         // 18
                   "    negative: -7\n"                     // 19
                   "    flag: true\n"                       // 20
                   "    nothing: ~\n"                       // 21
                   "    scopes: [openid, email]\n"          // 22
                   "    claims: {groups: roles}\n"          // 23
                   "    literal: \"$${NOT_EXPANDED}\"\n");  // 24
  const UpstreamSettings& u = c.upstreams.at("corp");
  EXPECT_EQ(u.id, "corp");
  EXPECT_EQ(u.type, "oidc");
  EXPECT_EQ(u.display_name, "Corporate SSO");
  EXPECT_EQ(u.source, path_ + ":12");
  auto j = nlohmann::json::parse(u.settings_json);
  EXPECT_EQ(j["issuer"], "https://sso.example.com");
  EXPECT_EQ(j["client_secret"], "000123");  // a secret of digits stays a string
  EXPECT_EQ(j["quoted"], "42");
  EXPECT_EQ(j["port"], 42);
  EXPECT_EQ(j["negative"], -7);
  EXPECT_EQ(j["flag"], true);
  EXPECT_TRUE(j["nothing"].is_null());
  EXPECT_EQ(j["scopes"], nlohmann::json::array({"openid", "email"}));
  EXPECT_EQ(j["claims"]["groups"], "roles");
  EXPECT_EQ(j["literal"], "${NOT_EXPANDED}");
  EXPECT_FALSE(j.contains("type"));
  EXPECT_FALSE(j.contains("display_name"));
  EXPECT_EQ(c.default_upstream, "dev");  // the first enabled one, in file order
}

TEST_F(ConfigTest, DefaultUpstreamMustNameAnEnabledOne) {
  std::string two = std::string(kBase) + "  corp:\n    type: oidc\n    enabled: false\n";
  Config c = parse(two);
  EXPECT_FALSE(c.upstreams.at("corp").enabled);
  EXPECT_EQ(c.default_upstream, "dev");
  EXPECT_ERROR_AT(two + "default_upstream: corp\n", 15, "default_upstream", "disabled");
  EXPECT_ERROR_AT(two + "default_upstream: github\n", 15, "default_upstream", "names no upstream");
  EXPECT_EQ(parse(std::string(kBase) + "  corp:\n    type: oidc\ndefault_upstream: corp\n")
                .default_upstream,
            "corp");
}

TEST_F(ConfigTest, UpstreamErrorsNameLineAndKey) {
  EXPECT_ERROR_AT(replaceLine(11, "    display_name: x"), 10, "upstreams.dev.type", "required");
  EXPECT_ERROR_AT(replaceLine(11, "    type: saml"), 11, "upstreams.dev.type",
                  "expected dev, github or oidc");
  EXPECT_ERROR_AT(replaceLine(10, "  Dev:"), 10, "upstreams.Dev", "upstream ids are");
  EXPECT_ERROR_AT(replaceLine(10, "  group:"), 10, "upstreams.group", "reserved");
  EXPECT_ERROR_AT(replaceLine(11, "    type: dev\n    enabled: maybe"), 12, "upstreams.dev.enabled",
                  "expected true or false");
  EXPECT_ERROR_AT(edit({{10, "  dev: oops"}, {11, ""}}), 10, "upstreams.dev", "expected a mapping");
  EXPECT_ERROR_AT(replaceLine(11, "    type: dev\n    enabled: false"), 9, "upstreams",
                  "at least one enabled upstream");
  EXPECT_ERROR_AT(edit({{9, ""}, {10, ""}, {11, ""}}), 1, "upstreams", "at least one upstream");
  EXPECT_ERROR_AT(edit({{10, ""}, {11, ""}}), 9, "upstreams", "at least one upstream");
}

// Every mistake in an upstream entry is found when the configuration is read, by every command,
// and named by the file, line and column of the key (or of the value) and the key's path.
TEST_F(ConfigTest, UpstreamSettingsAreCheckedWithTheirPosition) {
  EXPECT_EQ(checkedError(std::string(kBase) + "    displayname: typo\n"),
            at(12) + "5: upstreams.dev.displayname: unknown key (did you mean 'display_name'?)");
  const std::string github = std::string(kBase) +
                             "  gh:\n"                          // 12
                             "    type: github\n"               // 13
                             "    client_id: Iv1.abc\n"         // 14
                             "    client_secret: gh-secret\n";  // 15
  EXPECT_NO_THROW(upstream::parseCheckedConfig(github, path_, env()));
  EXPECT_EQ(checkedError(github + "    timeout: 500s\n"),
            at(16) + "14: upstreams.gh.timeout: must be between 1s and 120s");
  EXPECT_EQ(checkedError(github + "    scopez: [read:user]\n"),
            at(16) + "5: upstreams.gh.scopez: unknown key (did you mean 'scopes'?)");
  EXPECT_EQ(checkedError(github + "    web_url: http://ghe.example.com\n"),
            at(16) +
                "14: upstreams.gh.web_url: must be https (plain http only on a loopback "
                "address)");
  // A key that is missing has no line of its own: the upstream's is named.
  EXPECT_EQ(checkedError(edit({}) + "  gh:\n    type: github\n    client_secret: s\n"),
            at(12) + " upstreams.gh.client_id: required");
  const std::string oidc = std::string(kBase) +
                           "  corp:\n"                              // 12
                           "    type: oidc\n"                       // 13
                           "    issuer: https://sso.example.com\n"  // 14
                           "    client_id: broker\n"                // 15
                           "    client_secret: oidc-secret\n";      // 16
  EXPECT_EQ(checkedError(oidc + "    claims:\n      nickname: nick\n"),
            at(18) +
                "17: upstreams.corp.claims.nickname: unknown; expected username, email, "
                "groups or name");
  EXPECT_EQ(checkedError(oidc + "    auth_params: {prompt: login, state: x}\n"),
            at(17) + "41: upstreams.corp.auth_params.state: is set by the broker");
}

TEST_F(ConfigTest, EmptySecretsSectionIsNamedAtItsOwnLine) {
  EXPECT_EQ(error(edit({{7, ""}, {8, ""}})),
            at(6) +
                "1: secrets.master_keys: at least one master key is required (or set "
                "BROKER_MASTER_KEYS)");
}

TEST_F(ConfigTest, SecondYamlDocumentIsNamedWhereItStarts) {
  EXPECT_EQ(error(std::string(kBase) + "---\nissuer: x\n"),
            at(12) +
                "1: ---: a second YAML document starts here; the file must be one YAML "
                "document");
}

TEST_F(ConfigTest, DevUpstreamNeedsDevModeAndLoopbackIssuer) {
  EXPECT_ERROR_AT(replaceLine(5, "dev_mode: false"), 11, "upstreams.dev.type",
                  "needs dev_mode: true and a loopback issuer");
  EXPECT_ERROR_AT(replaceLine(1, "issuer: http://auth.example.com"), 11, "upstreams.dev.type",
                  "loopback issuer");
  // A disabled dev upstream is harmless anywhere.
  parse(replaceLine(5, "dev_mode: false") + "    enabled: false\n  gh:\n    type: github\n");
}

TEST_F(ConfigTest, MasterKeysRejectShortPlaceholderAndDuplicateValues) {
  auto key = [](const std::string& k) { return replaceLine(8, "    - \"" + k + "\""); };
  EXPECT_ERROR_AT(key("too-short-0123456789"), 8, "secrets.master_keys[0]", "at least 32");
  for (const char* bad :
       {"changeme-0123456789abcdef0123456789", "please-CHANGE-ME-0123456789abcdef01",
        "change_me_0123456789abcdef0123456789", "an-example-key-0123456789abcdef01234",
        "placeholder-0123456789abcdef01234567", "key-xxxxx-0123456789abcdef0123456789",
        "replace-me-0123456789abcdef012345678", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}) {
    SCOPED_TRACE(bad);
    EXPECT_ERROR_AT(key(bad), 8, "secrets.master_keys[0]", "placeholder");
  }
  EXPECT_ERROR_AT(replaceLine(8, "    - " + kKey + "\n    - " + kKey), 9, "secrets.master_keys[1]",
                  "duplicate master key");
  EXPECT_ERROR_AT(edit({{7, "  master_keys: " + kKey}, {8, ""}}), 7, "secrets.master_keys",
                  "expected a list");
}

TEST_F(ConfigTest, MasterKeysNeverAppearInMessages) {
  std::string message = error(replaceLine(8, "    - short-secret-value"));
  EXPECT_EQ(message.find("short-secret-value"), std::string::npos) << message;
}

TEST_F(ConfigTest, DevelopmentKeysOnlyInDevMode) {
  const std::string dev_key = "dev-only-master-key-do-not-use-in-production-1";
  Config c = parse(replaceLine(8, "    - " + dev_key));
  EXPECT_EQ(c.master_keys[0].reveal(), dev_key);
  EXPECT_EQ(c.warnings.size(), 2u);
  EXPECT_ERROR_AT(edit({{5, "dev_mode: false"}, {8, "    - " + dev_key}, {11, "    type: github"}}),
                  8, "secrets.master_keys[0]", "marked for development only");
}

// With several instances one loads a key another stored up to one sync interval later, so a key
// published for less than two of them may sign before some JWKS has it: said, not refused.
TEST_F(ConfigTest, PublishAheadShorterThanTwoSyncIntervalsIsAWarning) {
  const size_t base = parse(kBase).warnings.size();
  Config c = parse(std::string(kBase) + "keys:\n  publish_ahead: 15s\n  sync_interval: 10s\n");
  ASSERT_EQ(c.warnings.size(), base + 1);
  EXPECT_NE(c.warnings.back().find("keys.sync_interval"), std::string::npos);
  EXPECT_EQ(parse(std::string(kBase) + "keys:\n  publish_ahead: 20s\n  sync_interval: 10s\n")
                .warnings.size(),
            base);
}

TEST_F(ConfigTest, StorageAcceptsSqliteAndPostgresOnly) {
  for (const char* ok : {"sqlite:data/broker.db", "sqlite:/var/lib/broker.db",
                         "sqlite::memory:", "postgresql://u:p@db/broker", "postgres://db/broker"}) {
    EXPECT_EQ(parse(replaceLine(3, std::string("storage: \"") + ok + "\"")).storage, ok);
  }
  for (const char* bad : {"sqlite:", "sqlite:///var/lib/broker.db", "mysql://db/broker",
                          "broker.db", "POSTGRES://db", ""}) {
    SCOPED_TRACE(bad);
    EXPECT_ERROR_AT(replaceLine(3, std::string("storage: \"") + bad + "\""), 3, "storage", "");
  }
  std::string message = error(replaceLine(3, "storage: mysql://user:hunter2@db/x"));
  EXPECT_EQ(message.find("hunter2"), std::string::npos) << message;
}

TEST_F(ConfigTest, RelativeSqlitePathIsKeptForTheWorkingDirectory) {
  EXPECT_EQ(parse(replaceLine(3, "storage: sqlite:data/broker.db")).storage,
            "sqlite:data/broker.db");
}

TEST_F(ConfigTest, PolicyPathIsRelativeToTheConfigFile) {
  fs::create_directories(dir_ / "policies");
  std::ofstream(dir_ / "policies" / "p.yaml") << "servers: {}\n";
  fs::create_directories(dir_ / "config");
  path_ = (dir_ / "config" / "broker.yaml").string();
  EXPECT_EQ(parse(replaceLine(4, "policy: ../policies/p.yaml")).policy_path,
            (dir_ / "policies" / "p.yaml").string());
  std::string abs = (dir_ / "policy.yaml").string();
  EXPECT_EQ(parse(replaceLine(4, "policy: " + abs)).policy_path, abs);
}

TEST_F(ConfigTest, PolicyFileMustExistAndBeAFile) {
  EXPECT_ERROR_AT(replaceLine(4, "policy: missing.yaml"), 4, "policy", "cannot read policy file");
  fs::create_directories(dir_ / "a-directory");
  EXPECT_ERROR_AT(replaceLine(4, "policy: a-directory"), 4, "policy", "not a regular file");
}

TEST_F(ConfigTest, NumbersAndDurationsMustBeWellFormedAndSane) {
  struct Case {
    int line;  // where the error points, in kBase plus `yaml`
    const char* yaml;
    const char* key;
    const char* text;
  };
  const Case cases[] = {
      {13, "tokens:\n  access_ttl: 1.5h\n", "tokens.access_ttl", "expected a duration"},
      {13, "tokens:\n  access_ttl: 0\n", "tokens.access_ttl", "between 1s and 86400s"},
      {13, "tokens:\n  access_ttl: 2d\n", "tokens.access_ttl", "between 1s and 86400s"},
      {13, "tokens:\n  code_ttl: 11m\n", "tokens.code_ttl", "between 1s and 600s"},
      {13, "tokens:\n  refresh_grace: 1h\n  refresh_idle_ttl: 1h\n", "tokens.refresh_grace",
       "must be shorter than tokens.refresh_idle_ttl"},
      {13, "tokens:\n  refresh_idle_ttl: 60d\n", "tokens.refresh_idle_ttl",
       "at most tokens.refresh_ttl"},
      {13, "tokens:\n  refresh_ttl: 1d\n", "tokens.refresh_ttl",
       "tokens.refresh_idle_ttl (604800s) must be at most tokens.refresh_ttl"},
      {13, "keys:\n  publish_ahead: 31d\n", "keys.publish_ahead", "between 0s and 2592000s"},
      {13, "keys:\n  sync_interval: 0\n", "keys.sync_interval", "between 1s and 3600s"},
      {13, "keys:\n  rotation_period: 1h\n", "keys.rotation_period",
       "keys.publish_ahead (3600s) must be shorter than keys.rotation_period"},
      {13, "server:\n  header_timeout: 11m\n", "server.header_timeout", "between 1ms and 600000ms"},
      {13, "server:\n  body_timeout: 0ms\n", "server.body_timeout", "between 1ms and 600000ms"},
      {13, "server:\n  threads: 0\n", "server.threads", "between 1 and 256"},
      {13, "server:\n  workers: many\n", "server.workers", "whole number"},
      {13, "server:\n  max_request_size: 64k\n", "server.max_request_size", "whole number"},
      {13, "server:\n  max_connections: 0\n", "server.max_connections", "between 1 and 1000000"},
      {14, "server:\n  threads: 2\n  max_connections: lots\n", "server.max_connections",
       "whole number"},
      {13, "server:\n  trust_proxy: yes\n", "server.trust_proxy", "expected true or false"},
      {14, "server:\n  trusted_proxies:\n    - 10.0.0.1/8\n", "server.trusted_proxies[0]",
       "expected an IP address or network"},
      {13, "server:\n  trusted_proxies: [127.0.0.1, proxy.local]\n", "server.trusted_proxies[1]",
       "expected an IP address or network"},
      {13, "rate_limits:\n  register: 5\n", "rate_limits.register", "expected 0 (off)"},
      {13, "rate_limits:\n  token: {burst: 5}\n", "rate_limits.token",
       "expected burst and per_second"},
      {13, "rate_limits:\n  token: {burst: lots, per_second: 1}\n", "rate_limits.token.burst",
       "whole number"},
      {13, "rate_limits:\n  token: {burst: 5, per_second: fast}\n", "rate_limits.token.per_second",
       "expected a number of requests per second"},
      {13, "rate_limits:\n  token: {burst: 5, per_sec: 1}\n", "rate_limits.token.per_sec",
       "unknown key"},
      {13, "rate_limits:\n  login: 0\n", "rate_limits.login", "unknown key"},
      {12, "gc_interval: -5\n", "gc_interval", "expected a duration"},
      {12, "storage_timeout: 50ms\n", "storage_timeout", "between 100ms and 60000ms"},
      {12, "storage_timeout: soon\n", "storage_timeout", "expected a duration"},
      {13, "tokens:\n  revocation_max_staleness: 0\n", "tokens.revocation_max_staleness",
       "between 1s and 86400s"},
      {13, "tokens:\n  revocation_sync: 2m\n  revocation_max_staleness: 1m\n",
       "tokens.revocation_sync", "must be at most tokens.revocation_max_staleness"},
      {12, "tokens: 5\n", "tokens", "expected a mapping"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.yaml);
    EXPECT_ERROR_AT(std::string(kBase) + c.yaml, c.line, c.key, c.text);
  }
}

TEST_F(ConfigTest, ListenMustBeHostAndPort) {
  for (const char* ok :
       {"127.0.0.1:8080", "0.0.0.0:1", "[::1]:8443", "[::]:80", "broker:65535", ":8080"}) {
    EXPECT_EQ(parse(replaceLine(2, std::string("listen: \"") + ok + "\"")).listen, ok);
  }
  for (const char* bad : {"8080", "127.0.0.1", "127.0.0.1:", "127.0.0.1:0", "127.0.0.1:65536",
                          "127.0.0.1:http", "[::1:80", "[nothing]:80", "a b:80"}) {
    SCOPED_TRACE(bad);
    EXPECT_ERROR_AT(replaceLine(2, std::string("listen: \"") + bad + "\""), 2, "listen",
                    "expected host:port");
  }
}

// /forward-auth reads one proxy's headers; nginx (whose config the project ships) unless told.
TEST_F(ConfigTest, ForwardAuthProxyNamesOneHeaderContract) {
  EXPECT_EQ(parse(kBase).forward_auth.proxy, ForwardAuthProxy::kNginx);
  const std::pair<const char*, ForwardAuthProxy> known[] = {{"nginx", ForwardAuthProxy::kNginx},
                                                            {"traefik", ForwardAuthProxy::kTraefik},
                                                            {"envoy", ForwardAuthProxy::kEnvoy}};
  for (const auto& [name, proxy] : known) {
    auto c = parse(std::string(kBase) + "forward_auth:\n  proxy: " + name + "\n");
    EXPECT_EQ(c.forward_auth.proxy, proxy) << name;
    EXPECT_STREQ(toString(c.forward_auth.proxy), name);
  }
  for (const char* bad : {"Nginx", "haproxy", "\"\"", "[nginx]"}) {
    SCOPED_TRACE(bad);
    EXPECT_ERROR_AT(std::string(kBase) + "forward_auth:\n  proxy: " + bad + "\n", 13,
                    "forward_auth.proxy",
                    bad[0] == '[' ? "expected a single value" : "expected nginx, traefik or envoy");
  }
  EXPECT_ERROR_AT(std::string(kBase) + "forward_auth:\n  proxi: nginx\n", 13, "forward_auth.proxi",
                  "unknown key");
}

// /validate answers anyone who sends a token; by default it is served only on a development
// broker. A loopback listener is not enough: a reverse proxy in front makes it public.
TEST_F(ConfigTest, ValidateIsOnByDefaultOnlyInDevMode) {
  const std::string public_prod =
      edit({{2, "listen: 0.0.0.0:8080"}, {5, "dev_mode: false"}, {11, "    type: github"}});
  const std::string loopback_prod = edit({{5, "dev_mode: false"}, {11, "    type: github"}});
  EXPECT_TRUE(parse(kBase).validate.enabled);
  EXPECT_FALSE(parse(public_prod).validate.enabled);
  EXPECT_FALSE(parse(loopback_prod).validate.enabled);
  EXPECT_TRUE(parse(edit({{2, "listen: 0.0.0.0:8080"}})).validate.enabled);
  EXPECT_TRUE(parse(public_prod + "validate:\n  enabled: true\n").validate.enabled);
  EXPECT_TRUE(parse(loopback_prod + "validate:\n  enabled: true\n").validate.enabled);
  EXPECT_FALSE(parse(std::string(kBase) + "validate:\n  enabled: false\n").validate.enabled);
  env_["BROKER_LISTEN"] = "[::1]:9000";
  EXPECT_FALSE(parse(public_prod).validate.enabled);
  EXPECT_ERROR_AT(std::string(kBase) + "validate:\n  enabled: sometimes\n", 13, "validate.enabled",
                  "expected true or false");
  EXPECT_ERROR_AT(std::string(kBase) + "validate:\n  enable: true\n", 13, "validate.enable",
                  "unknown key");
}

// Introspecting other clients' tokens is for named clients only; by default nobody may.
TEST_F(ConfigTest, IntrospectionAllowedClientsIsAListOfClientIds) {
  EXPECT_TRUE(parse(kBase).introspection.allowed_clients.empty());
  auto c = parse(std::string(kBase) + "introspection:\n  allowed_clients: [rs-files, admin]\n");
  EXPECT_EQ(c.introspection.allowed_clients, (std::vector<std::string>{"rs-files", "admin"}));
  EXPECT_ERROR_AT(std::string(kBase) + "introspection:\n  allowed_clients: rs-files\n", 13,
                  "introspection.allowed_clients", "expected a list");
  EXPECT_ERROR_AT(std::string(kBase) + "introspection:\n  allowed_clients:\n    - \"\"\n", 14,
                  "introspection.allowed_clients[0]", "expected a client id");
  EXPECT_ERROR_AT(std::string(kBase) + "introspection:\n  allowed_client: [a]\n", 13,
                  "introspection.allowed_client", "unknown key");
}

TEST_F(ConfigTest, OtherValuesAreChecked) {
  EXPECT_ERROR_AT(std::string(kBase) + "log_level: loud\n", 12, "log_level",
                  "expected debug, info, warn or error");
  EXPECT_ERROR_AT(replaceLine(5, "dev_mode: 1"), 5, "dev_mode", "expected true or false");
  EXPECT_ERROR_AT(replaceLine(1, "issuer: [a, b]"), 1, "issuer", "expected a single value");
  EXPECT_ERROR_AT(replaceLine(1, "issuer:"), 1, "issuer", "expected a single value");
}

TEST_F(ConfigTest, FileLevelErrorsNameAPosition) {
  EXPECT_EQ(error(""), path_ + ":1:1: the configuration file is empty");
  EXPECT_EQ(error("# only a comment\n"), path_ + ":1:1: the configuration file is empty");
  EXPECT_EQ(error("- a\n- b\n"), path_ + ":1:1: the configuration must be a mapping of keys");
  std::string message = error(replaceLine(2, "listen: [unclosed"));
  EXPECT_EQ(message.rfind(path_ + ":", 0), 0u) << message;
  EXPECT_NE(message.find(path_ + ":3:"), std::string::npos) << message;
  EXPECT_NE(error(std::string(kBase) + "---\nissuer: x\n").find("one YAML document"),
            std::string::npos);
  EXPECT_EQ(error(std::string(kBase) + "[a, b]: c\n"),
            at(12) + "1: mapping keys must be plain strings");
}

TEST_F(ConfigTest, ExpandsVariablesInValues) {
  env_["HOST"] = "auth.example.com";
  env_["PORT"] = "8443";
  env_["KEY"] = kKey;
  env_["EMPTY"] = "";
  env_["YAML"] = "a: [b";  // never parsed as YAML
  Config c = parse(withIssuer("http://${HOST}:${PORT}${EMPTY}/") + "log_level: \"${EMPTY}info\"\n");
  EXPECT_EQ(c.issuer, "http://auth.example.com:8443");
  EXPECT_EQ(c.log_level, "info");
  c = parse(replaceLine(8, "    - ${KEY}"));
  EXPECT_EQ(c.master_keys[0].reveal(), kKey);
  c = parse(std::string(kBase) + "    shape: ${YAML}\n    money: $$5 and $${HOST} and $\n");
  auto j = nlohmann::json::parse(c.upstreams.at("dev").settings_json);
  EXPECT_EQ(j["shape"], "a: [b");
  EXPECT_EQ(j["money"], "$$5 and ${HOST} and $");
}

TEST_F(ConfigTest, ExpandedValuesAreNotExpandedAgain) {
  env_["OUTER"] = "${INNER}";
  auto c = parse(std::string(kBase) + "    x: ${OUTER}\n");
  EXPECT_EQ(nlohmann::json::parse(c.upstreams.at("dev").settings_json)["x"], "${INNER}");
}

TEST_F(ConfigTest, ExpansionErrorsNameLineAndKey) {
  EXPECT_EQ(error(replaceLine(1, "issuer: ${NOPE}")),
            at(1) + "9: issuer: environment variable NOPE is not set");
  EXPECT_ERROR_AT(replaceLine(8, "    - ${MISSING_KEY}"), 8, "secrets.master_keys[0]",
                  "environment variable MISSING_KEY is not set");
  EXPECT_ERROR_AT(std::string(kBase) + "    deep: {list: [ok, \"${GONE}\"]}\n", 12,
                  "upstreams.dev.deep.list[1]", "GONE is not set");
  EXPECT_ERROR_AT(replaceLine(1, "issuer: ${UNCLOSED"), 1, "issuer", "unterminated ${");
  EXPECT_ERROR_AT(replaceLine(1, "issuer: \"${}\""), 1, "issuer", "not a valid variable name");
  EXPECT_ERROR_AT(replaceLine(1, "issuer: ${1X}"), 1, "issuer", "not a valid variable name");
}

TEST_F(ConfigTest, EnvironmentOverridesTheFile) {
  env_["ISSUER_URL"] = "http://LOCALHOST:9000/";
  env_["DATABASE_URL"] = "postgresql://broker@db/broker";
  env_["BROKER_LISTEN"] = "0.0.0.0:9999";
  env_["BROKER_MASTER_KEYS"] =
      " first-key-0123456789abcdef0123456789 ,, "
      "second-key-0123456789abcdef0123456789,";
  Config c = parse(kBase);
  EXPECT_EQ(c.issuer, "http://localhost:9000");
  EXPECT_EQ(c.storage, "postgresql://broker@db/broker");
  EXPECT_EQ(c.listen, "0.0.0.0:9999");
  ASSERT_EQ(c.master_keys.size(), 2u);
  EXPECT_EQ(c.master_keys[0].reveal(), "first-key-0123456789abcdef0123456789");
  EXPECT_EQ(c.master_keys[1].reveal(), "second-key-0123456789abcdef0123456789");
}

TEST_F(ConfigTest, OverriddenFileValuesAreNeitherExpandedNorRequired) {
  env_["ISSUER_URL"] = "http://127.0.0.1:8080";
  env_["DATABASE_URL"] = "sqlite::memory:";
  env_["BROKER_MASTER_KEYS"] = kKey;
  std::string yaml = replaceLine(1, "issuer: ${UNSET_ISSUER}");
  yaml = yaml.substr(yaml.find('\n') + 1);  // also works with no issuer at all
  parse(yaml);
  parse(replaceLine(3, "storage: ${UNSET_DB}"));
  parse(replaceLine(8, "    - ${UNSET_KEY}"));
  parse(edit({{6, ""}, {7, ""}, {8, ""}}));
}

TEST_F(ConfigTest, EmptyEnvironmentVariablesDoNotOverride) {
  env_["ISSUER_URL"] = "";
  env_["BROKER_MASTER_KEYS"] = "";
  Config c = parse(kBase);
  EXPECT_EQ(c.issuer, "http://127.0.0.1:8080");
  EXPECT_EQ(c.master_keys[0].reveal(), kKey);
}

TEST_F(ConfigTest, EnvironmentValuesAreValidatedAndNamed) {
  env_["ISSUER_URL"] = "https://auth.example.com/?x";
  EXPECT_EQ(error(kBase),
            path_ +
                ": environment variable ISSUER_URL: issuer: must be an absolute URL without "
                "query or fragment");
  env_.clear();
  env_["BROKER_MASTER_KEYS"] = kKey + ",short";
  EXPECT_EQ(error(kBase), path_ +
                              ": environment variable BROKER_MASTER_KEYS: "
                              "secrets.master_keys[1]: must be at least 32 characters");
  env_.clear();
  env_["DATABASE_URL"] = "mysql://db";
  EXPECT_NE(error(kBase).find("environment variable DATABASE_URL: storage:"), std::string::npos);
  env_.clear();
  env_["BROKER_LISTEN"] = "nowhere";
  EXPECT_NE(error(kBase).find("environment variable BROKER_LISTEN: listen:"), std::string::npos);
}

TEST_F(ConfigTest, RefreshEncryptionKeyJoinsTheKeyring) {
  const std::string extra = "refresh-key-0123456789abcdef0123456789";
  env_["REFRESH_ENCRYPTION_KEY"] = extra;
  Config c = parse(kBase);
  ASSERT_EQ(c.master_keys.size(), 2u);
  EXPECT_EQ(c.master_keys[0].reveal(), kKey);  // the configured key still seals
  EXPECT_EQ(c.master_keys[1].reveal(), extra);

  c = parse(edit({{7, ""}, {8, ""}}));
  ASSERT_EQ(c.master_keys.size(), 1u);
  EXPECT_EQ(c.master_keys[0].reveal(), extra);

  env_["REFRESH_ENCRYPTION_KEY"] = kKey;  // repeating a configured key adds nothing
  EXPECT_EQ(parse(kBase).master_keys.size(), 1u);

  env_["REFRESH_ENCRYPTION_KEY"] = "short";
  EXPECT_NE(error(kBase).find("environment variable REFRESH_ENCRYPTION_KEY: "
                              "secrets.master_keys[1]: must be at least 32"),
            std::string::npos);
}

TEST_F(ConfigTest, JwtPrivateKeyComesFromTheEnvironment) {
  env_["JWT_PRIVATE_KEY"] = "-----BEGIN PRIVATE KEY-----\\nMIIB\\n-----END PRIVATE KEY-----\\n";
  Config c = parse(kBase);
  ASSERT_TRUE(c.jwt_private_key_pem);
  EXPECT_EQ(c.jwt_private_key_pem->reveal(),
            "-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----\n");
  env_["JWT_PRIVATE_KEY"] = "-----BEGIN RSA PRIVATE KEY-----\nA\\nB\n-----END RSA PRIVATE KEY-----";
  EXPECT_EQ(parse(kBase).jwt_private_key_pem->reveal(),
            "-----BEGIN RSA PRIVATE KEY-----\nA\\nB\n-----END RSA PRIVATE KEY-----");
  env_["JWT_PRIVATE_KEY"] = "not a pem";
  EXPECT_NE(error(kBase).find("JWT_PRIVATE_KEY: jwt_private_key: expected a PEM private key"),
            std::string::npos);
}

TEST_F(ConfigTest, UpstreamCredentialsComeFromTheEnvironment) {
  env_["GITHUB_CLIENT_ID"] = "Iv1.abc";
  env_["GITHUB_CLIENT_SECRET"] = "0123456789";
  env_["CORP_SSO_CLIENT_SECRET"] = "corp-secret";
  Config c = parse(std::string(kBase) +
                   "  github:\n    type: github\n    client_id: from-file\n"
                   "    client_secret: ${UNSET_IS_FINE_WHEN_OVERRIDDEN}\n"
                   "  corp-sso:\n    type: oidc\n    client_id: corp-id\n");
  auto gh = nlohmann::json::parse(c.upstreams.at("github").settings_json);
  EXPECT_EQ(gh["client_id"], "Iv1.abc");
  EXPECT_EQ(gh["client_secret"], "0123456789");
  auto corp = nlohmann::json::parse(c.upstreams.at("corp-sso").settings_json);
  EXPECT_EQ(corp["client_id"], "corp-id");
  EXPECT_EQ(corp["client_secret"], "corp-secret");
  auto dev = nlohmann::json::parse(c.upstreams.at("dev").settings_json);
  EXPECT_FALSE(dev.contains("client_secret"));
}

TEST_F(ConfigTest, UpstreamIdsFollowOneRule) {
  EXPECT_TRUE(isValidUpstreamId("github"));
  EXPECT_TRUE(isValidUpstreamId("corp-sso_2"));
  EXPECT_TRUE(isValidUpstreamId("1password"));
  EXPECT_FALSE(isValidUpstreamId(""));
  EXPECT_FALSE(isValidUpstreamId("GitHub"));
  EXPECT_FALSE(isValidUpstreamId("-x"));
  EXPECT_FALSE(isValidUpstreamId("a:b"));
  EXPECT_FALSE(isValidUpstreamId("a/b"));
  EXPECT_FALSE(isValidUpstreamId(std::string(33, 'a')));
}

TEST_F(ConfigTest, LoadConfigReportsAnUnreadableFile) {
  try {
    loadConfig((dir_ / "absent.yaml").string(), env());
    FAIL() << "loaded";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("absent.yaml: cannot read"), std::string::npos);
  }
}

// Every key the loader accepts has a row in README.md's configuration table, and every key a row
// names is one the loader accepts: a new key cannot ship undocumented, nor a row outlive its key.
TEST(ConfigReference, ReadmeTableNamesExactlyTheKeysTheLoaderAccepts) {
  std::ifstream in(std::string(BROKER_SOURCE_DIR) + "/README.md");
  ASSERT_TRUE(in.is_open()) << BROKER_SOURCE_DIR << "/README.md";
  std::set<std::string> documented;
  bool in_table_section = false;
  const std::regex code("`([^`]+)`");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("## ", 0) == 0) in_table_section = line == "## Configuration reference";
    if (!in_table_section || line.rfind("| `", 0) != 0) continue;
    const std::string first_cell = line.substr(1, line.find('|', 1) - 1);
    for (auto it = std::sregex_iterator(first_cell.begin(), first_cell.end(), code);
         it != std::sregex_iterator(); ++it) {
      documented.insert((*it)[1].str());
    }
  }
  const auto& accepted = acceptedKeys();
  ASSERT_GT(accepted.size(), 20u);
  for (const auto& key : accepted) {
    EXPECT_EQ(documented.count(key), 1u)
        << key << " is accepted by the config loader but has no row in README.md's table";
  }
  for (const auto& key : documented) {
    EXPECT_NE(std::find(accepted.begin(), accepted.end(), key), accepted.end())
        << key << " has a row in README.md's table but the config loader does not accept it";
  }
}

TEST_F(ConfigTest, ShippedDevConfigLoadsAsIs) {
  // Run from the repository root, as the file's comments say.
  auto cwd = fs::current_path();
  fs::current_path(repoRoot());
  Config c = loadConfig("config/dev.yaml", env());
  fs::current_path(cwd);
  EXPECT_EQ(c.issuer, "http://127.0.0.1:8080");
  EXPECT_EQ(c.listen, "127.0.0.1:8080");
  EXPECT_EQ(c.storage, "sqlite:data/broker.db");
  EXPECT_EQ(c.policy_path, "policies/dev.yaml");
  EXPECT_TRUE(c.dev_mode);
  EXPECT_EQ(c.default_upstream, "dev");
  EXPECT_EQ(c.upstreams.at("dev").type, "dev");
  EXPECT_EQ(c.master_keys.size(), 1u);
  EXPECT_EQ(c.warnings.size(), 2u);
  EXPECT_NO_THROW(policy::Policy::loadFile((repoRoot() / c.policy_path).string()));
}

TEST_F(ConfigTest, ShippedProductionExampleLoadsWithItsVariables) {
  env_["DATABASE_URL"] = "postgresql://broker@db/broker";
  env_["BROKER_MASTER_KEY"] = "Zq3v8yJ1m0rXc5Tn2LwB7sKd4Hf6Gp9R";
  env_["GITHUB_CLIENT_ID"] = "Iv1.0123";
  env_["GITHUB_CLIENT_SECRET"] = "gh-secret";
  Config c = loadConfig((repoRoot() / "config" / "production.example.yaml").string(), env());
  EXPECT_EQ(c.issuer, "https://auth.example.com");
  EXPECT_FALSE(c.dev_mode);
  EXPECT_EQ(c.default_upstream, "github");
  EXPECT_FALSE(c.server.trust_proxy);
  EXPECT_EQ(c.server.trusted_proxies, (std::vector<std::string>{"127.0.0.1", "::1"}));
  EXPECT_EQ(nlohmann::json::parse(c.upstreams.at("github").settings_json)["client_secret"],
            "gh-secret");
  EXPECT_NO_THROW(policy::Policy::loadFile(c.policy_path));

  env_.erase("BROKER_MASTER_KEY");
  try {
    loadConfig((repoRoot() / "config" / "production.example.yaml").string(), env());
    FAIL() << "loaded without BROKER_MASTER_KEY";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("secrets.master_keys[0]: environment variable "
                                         "BROKER_MASTER_KEY is not set"),
              std::string::npos)
        << e.what();
  }
}

TEST_F(ConfigTest, RateLimitsAndTrustedProxiesAreRead) {
  Config c = parse(std::string(kBase) +
                   "server:\n  trusted_proxies: [127.0.0.1, \"10.0.0.0/8\", \"2001:db8::/32\"]\n"
                   "rate_limits:\n  register: 0\n  token: {burst: 7, per_second: 0.5}\n");
  EXPECT_EQ(c.server.trusted_proxies,
            (std::vector<std::string>{"127.0.0.1", "10.0.0.0/8", "2001:db8::/32"}));
  ASSERT_EQ(c.rate_limits.size(), 2u);
  EXPECT_EQ(c.rate_limits.at("register").burst, 0);
  EXPECT_EQ(c.rate_limits.at("token").burst, 7);
  EXPECT_DOUBLE_EQ(c.rate_limits.at("token").per_second, 0.5);
}

}  // namespace
}  // namespace broker::config

namespace broker::config {
namespace {

// /metrics is on by default, on the main listener; metrics.listen moves it. The audit table keeps
// 90 days unless told otherwise (0: for ever).
TEST_F(ConfigTest, MetricsAndAuditSettings) {
  auto c = parse(kBase);
  EXPECT_TRUE(c.metrics.enabled);
  EXPECT_EQ(c.metrics.listen, "");
  EXPECT_EQ(c.audit.retention, 90 * 86400);
  c = parse(std::string(kBase) +
            "metrics:\n  enabled: false\n  listen: 127.0.0.1:9464\naudit:\n  retention: 30d\n");
  EXPECT_FALSE(c.metrics.enabled);
  EXPECT_EQ(c.metrics.listen, "127.0.0.1:9464");
  EXPECT_EQ(c.audit.retention, 30 * 86400);
  EXPECT_EQ(parse(std::string(kBase) + "audit:\n  retention: 0\n").audit.retention, 0);
  EXPECT_ERROR_AT(std::string(kBase) + "metrics:\n  listen: 9464\n", 13, "metrics.listen",
                  "expected host:port");
  EXPECT_ERROR_AT(std::string(kBase) + "audit:\n  retention: 1h\n", 13, "audit.retention",
                  "must be between 86400s");
  EXPECT_ERROR_AT(std::string(kBase) + "audit:\n  retention: soon\n", 13, "audit.retention",
                  "expected a duration");
}

}  // namespace
}  // namespace broker::config
