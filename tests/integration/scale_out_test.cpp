// Several broker instances on one PostgreSQL database behind Debian's nginx (round robin, the
// shipped config/nginx/broker-locations.conf): whatever one instance starts, another continues.
// Tests that need a given instance talk to it directly (the browser's cookie jar goes with it);
// everything else goes through nginx. See docs/DEPLOYMENT.md.

#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <mutex>
#include <nlohmann/json.hpp>
#include <pqxx/pqxx>
#include <random>
#include <set>
#include <thread>
#include <utility>

#include "broker/core/encoding.h"
#include "broker/core/random.h"
#include "broker/core/secret.h"
#include "broker/token/master_keyring.h"
#include "fakes/broker_process.h"
#include "fakes/child_process.h"
#include "fakes/http_client.h"
#include "fakes/jwks_verify.h"
#include "fakes/nginx_process.h"
#include "fakes/oauth_driver.h"
#include "fakes/pg_database.h"

namespace broker::testing {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

const std::string kSdkDir = std::string(BROKER_SOURCE_DIR) + "/tests/mcp-sdk";
const std::string kNginxDir = std::string(BROKER_SOURCE_DIR) + "/config/nginx";
constexpr char kDemo[] = "http://127.0.0.1:9000/mcp";

double secondsSince(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

// `url` with its origin replaced by `base` (a Location naming the issuer, sent to one instance).
std::string onInstance(const std::string& base, const std::string& url) {
  auto scheme_end = url.find("://");
  auto path = url.find('/', scheme_end == std::string::npos ? 0 : scheme_end + 3);
  return base + (path == std::string::npos ? "/" : url.substr(path));
}

// The query of an authorization request for kDemo, as a browser sends it to /authorize.
std::string authorizeQuery(const RegisteredClient& client, const PkcePair& pkce,
                           const std::string& state) {
  return formEncode({{"response_type", "code"},
                     {"client_id", client.client_id},
                     {"redirect_uri", client.redirect_uri},
                     {"code_challenge", pkce.challenge},
                     {"code_challenge_method", "S256"},
                     {"resource", kDemo},
                     {"state", state}});
}

// The id inside a refresh token. Tokens are sealed with a fresh nonce each time they are written,
// so the same successor sent twice has other bytes: the id says whether it is the same token.
// Opened with the master key every BrokerProcess is configured with.
std::string refreshTokenId(const std::string& token) {
  static const auto master =
      token::MasterKeyring::create({Secret(BrokerConfig{}.master_keys.front())}, Random::system());
  const std::string prefix = "mcpr_";
  if (token.rfind(prefix, 0) != 0) return "";
  auto plain = master->open(token.substr(prefix.size()), "refresh");
  return plain.ok() ? plain->substr(0, plain->find('.')) : "";
}

struct GroupOptions {
  int instances = 3;
  std::string tokens_yaml = "  revocation_sync: 1s\n";  // the `tokens:` section's lines
  std::string extra_yaml;                               // appended to every instance's config
  std::string policy_yaml;                              // empty: the default test policy
  std::string nginx_extra;                              // more of the http { } body (another site)
  int fail_timeout_s = 2;  // nginx's passive health check: how long a failed instance rests
};

// N instances with one issuer (nginx's origin), one database and one set of master keys.
class BrokerGroup {
 public:
  BrokerGroup(const TempDir& dir, const std::string& database_url, GroupOptions options)
      : dir_(dir), options_(std::move(options)), nginx_port_(freePort()) {
    BrokerConfig cfg;
    cfg.storage = database_url;
    cfg.issuer = issuer();
    cfg.policy_yaml = options_.policy_yaml;
    cfg.extra_yaml = "server:\n  trusted_proxies: [127.0.0.1]\ntokens:\n" + options_.tokens_yaml +
                     options_.extra_yaml;
    for (int i = 0; i < options_.instances; ++i) {
      instances_.push_back(std::make_unique<BrokerProcess>(dir_, cfg));
    }
  }

  // Starts every instance at once on the empty database (migrations and the first signing key
  // are settled in the database), then nginx.
  void start() {
    std::vector<std::thread> starting;
    std::mutex mu;
    std::string failures;
    for (auto& instance : instances_) {
      starting.emplace_back([&, p = instance.get()] {
        try {
          p->start();
        } catch (const std::exception& e) {
          std::lock_guard<std::mutex> lock(mu);
          failures += e.what();
        }
      });
    }
    for (auto& t : starting) t.join();
    ASSERT_EQ(failures, "");
    std::string servers;
    for (auto& instance : instances_) {
      servers += "    server 127.0.0.1:" + std::to_string(instance->port()) +
                 " max_fails=1 fail_timeout=" + std::to_string(options_.fail_timeout_s) + "s;\n";
    }
    nginx_ = std::make_unique<NginxProcess>(
        dir_, "  upstream mcp_auth_broker {\n" + servers +
                  "    keepalive 8;\n  }\n"
                  "  server {\n    listen 127.0.0.1:" +
                  std::to_string(nginx_port_) +
                  ";\n"
                  // Which instance answered, for the tests that count requests per instance.
                  "    add_header X-Upstream $upstream_addr always;\n"
                  "    include " +
                  kNginxDir + "/broker-locations.conf;\n  }\n" + options_.nginx_extra);
    ASSERT_TRUE(nginx_->waitFor(issuer() + "/health")) << nginx_->log();
  }

  std::string issuer() const { return "http://127.0.0.1:" + std::to_string(nginx_port_); }
  BrokerProcess& at(size_t i) { return *instances_.at(i); }
  size_t size() const { return instances_.size(); }
  std::string nginxLog() const { return nginx_ ? nginx_->log() : ""; }
  std::string logs() const {
    std::string out;
    for (const auto& i : instances_) out += "--- instance " + i->url() + "\n" + i->logs();
    return out + "--- nginx\n" + nginxLog();
  }

 private:
  const TempDir& dir_;
  GroupOptions options_;
  uint16_t nginx_port_;
  std::vector<std::unique_ptr<BrokerProcess>> instances_;
  std::unique_ptr<NginxProcess> nginx_;
};

class ScaleOut : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!db_.available()) GTEST_SKIP() << "TEST_DATABASE_URL is not set (scripts/test sets it)";
    if (findProgram("nginx").empty()) GTEST_SKIP() << "needs nginx (scripts/deps --test)";
  }

  void startGroup(GroupOptions options = {}) {
    group_ = std::make_unique<BrokerGroup>(dir_, db_.url(), std::move(options));
    group_->start();
  }

  std::string url(size_t i) { return group_->at(i).url(); }

  // Signs `user` in through nginx with the resource kDemo; returns the tokens.
  TokenResponse signIn(OAuthDriver& driver, const RegisteredClient& client,
                       const std::string& user = "alice") {
    AuthorizeRequest req;
    req.user = user;
    req.resource = kDemo;
    PkcePair pkce;
    auto a = driver.authorize(client, req, &pkce);
    EXPECT_FALSE(a.code.empty()) << a.error << a.page;
    return driver.exchange(client, a.code, pkce.verifier, kDemo);
  }

  // Rows of `client`'s refresh tokens (with `and_where`, those that also match it).
  int64_t refreshTokenRows(const RegisteredClient& client, const std::string& and_where = "") {
    return dbCount("SELECT count(*) FROM refresh_tokens WHERE client_id = '" + client.client_id +
                   "'" + and_where);
  }

  int64_t dbCount(const std::string& sql) {
    pqxx::connection c(db_.url());
    pqxx::nontransaction tx(c);
    return tx.exec1(sql)[0].as<int64_t>();
  }

  PgDatabase db_;
  TempDir dir_;
  std::unique_ptr<BrokerGroup> group_;
};

// ---- browser steps ------------------------------------------------------------------------

// A sign-in started on A continues on B and ends on C: the consent form and its CSRF cookie
// (sealed with the shared master keys), the upstream `state` and its browser-binding cookie (in
// the database and the cookie), the development login and its callback. The code is then
// redeemed on A. The remembered-consent cookie set by B is honoured by C.
TEST_F(ScaleOut, BrowserStepsContinueOnOtherInstances) {
  startGroup();
  OAuthDriver api(group_->issuer());
  // Confidential: remembered consent skips the page only for a client whose identity is assured.
  auto client = api.registerClient("client_secret_basic");
  ASSERT_FALSE(client.client_id.empty());
  HttpClient browser;
  const PkcePair pkce = makePkce();
  const std::string query = authorizeQuery(client, pkce, "s-1");

  auto page = browser.get(url(0) + "/authorize?" + query);  // A: the consent page
  ASSERT_EQ(page.status, 200) << page.body;
  const std::string request = inputValue(page.body, "request");
  const std::string csrf = inputValue(page.body, "csrf");
  ASSERT_FALSE(request.empty());

  // The attacker's side first: the form without the CSRF cookie is refused on B as on A.
  HttpClient stranger;
  auto forged =
      stranger.post(url(1) + "/authorize/consent",
                    formEncode({{"request", request}, {"csrf", csrf}, {"upstream", "dev"}}));
  EXPECT_EQ(forged.status, 403) << forged.body;

  auto consent = browser.post(  // B: the consent form
      url(1) + "/authorize/consent",
      formEncode({{"request", request}, {"csrf", csrf}, {"upstream", "dev"}}));
  ASSERT_EQ(consent.status, 302) << consent.body;
  const std::string login_url = consent.header("location");
  ASSERT_EQ(login_url.rfind(group_->issuer() + "/auth/dev/login", 0), 0u) << login_url;

  auto login = browser.get(onInstance(url(2), login_url));  // C: the development login page
  ASSERT_EQ(login.status, 200) << login.body;
  const std::string state = inputValue(login.body, "state");
  ASSERT_FALSE(state.empty());

  auto callback = browser.post(url(0) + "/auth/dev/callback",  // A: the callback
                               formEncode({{"state", state}, {"username", "alice"}}));
  ASSERT_EQ(callback.status, 302) << callback.body << group_->logs();
  const std::string redirect = callback.header("location");
  ASSERT_EQ(redirect.rfind(client.redirect_uri, 0), 0u) << redirect;
  EXPECT_EQ(queryParam(redirect, "iss"), group_->issuer());
  EXPECT_EQ(queryParam(redirect, "state"), "s-1");

  OAuthDriver at_b(url(1));  // B redeems the code A issued
  auto tokens = at_b.exchange(client, queryParam(redirect, "code"), pkce.verifier, kDemo);
  ASSERT_EQ(tokens.status, 200) << tokens.body;

  // C remembers B's consent: no page, straight to the upstream.
  auto again = browser.get(url(2) + "/authorize?" + query);
  EXPECT_EQ(again.status, 302) << again.body;
  EXPECT_EQ(again.header("location").rfind(group_->issuer() + "/auth/dev/login", 0), 0u)
      << again.header("location");

  // The upstream state is bound to the browser that consented: another browser presenting it on
  // B gets no code (and, the state being single-use, the login is over).
  auto second_login = browser.get(onInstance(url(0), again.header("location")));
  const std::string second_state = inputValue(second_login.body, "state");
  ASSERT_FALSE(second_state.empty()) << second_login.body;
  auto stolen = stranger.post(url(1) + "/auth/dev/callback",
                              formEncode({{"state", second_state}, {"username", "mallory"}}));
  EXPECT_NE(stolen.status, 302) << stolen.header("location");
  EXPECT_EQ(stolen.header("location").find("code="), std::string::npos) << stolen.body;
}

// ---- codes and refresh tokens -------------------------------------------------------------

// A code redeemed on A and replayed on B: B refuses it and revokes what A issued, which C's
// token endpoint and /validate then refuse too.
TEST_F(ScaleOut, CodeReplayedOnAnotherInstanceRevokesTheFirstExchange) {
  startGroup();
  OAuthDriver via_nginx(group_->issuer()), at_a(url(0)), at_b(url(1)), at_c(url(2));
  auto client = via_nginx.registerClient();
  AuthorizeRequest req;
  req.resource = kDemo;
  PkcePair pkce;
  auto a = via_nginx.authorize(client, req, &pkce);
  ASSERT_FALSE(a.code.empty()) << a.error << a.page;
  auto first = at_a.exchange(client, a.code, pkce.verifier, kDemo);
  ASSERT_EQ(first.status, 200) << first.body;

  auto replay = at_b.exchange(client, a.code, pkce.verifier, kDemo);
  EXPECT_EQ(replay.status, 400) << replay.body;
  EXPECT_EQ(replay.error, "invalid_grant");
  EXPECT_EQ(at_c.refresh(client, first.refresh_token).error, "invalid_grant");

  HttpClient http;
  const auto started = Clock::now();
  json v;
  do {
    v = json::parse(http.post(url(2) + "/validate", json{{"token", first.access_token}}.dump(),
                              "application/json")
                        .body,
                    nullptr, false);
    if (v.value("valid", true) == false) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  } while (secondsSince(started) < 5);
  EXPECT_EQ(v["valid"], false) << v.dump();
  EXPECT_EQ(v["error"], "revoked") << v.dump();
  EXPECT_LE(secondsSince(started), 2.0) << "tokens.revocation_sync (1 s) + 1 s";
}

// A refresh on A, then the same refresh token replayed on B within tokens.refresh_grace: B
// answers with the successor A issued (derived from the old token, not kept in memory).
TEST_F(ScaleOut, GraceReplayOnAnotherInstanceGetsTheSameSuccessor) {
  startGroup();
  OAuthDriver via_nginx(group_->issuer()), at_a(url(0)), at_b(url(1)), at_c(url(2));
  auto client = via_nginx.registerClient();
  auto first = signIn(via_nginx, client);
  ASSERT_EQ(first.status, 200) << first.body;
  auto rotated = at_a.refresh(client, first.refresh_token);
  ASSERT_EQ(rotated.status, 200) << rotated.body;
  auto replayed = at_b.refresh(client, first.refresh_token);
  ASSERT_EQ(replayed.status, 200) << replayed.body;
  ASSERT_NE(refreshTokenId(rotated.refresh_token), "");
  EXPECT_EQ(refreshTokenId(replayed.refresh_token), refreshTokenId(rotated.refresh_token));
  EXPECT_NE(refreshTokenId(replayed.refresh_token), refreshTokenId(first.refresh_token));
  EXPECT_EQ(refreshTokenRows(client), 2) << "the first token and one successor";
  // The family lives on at C.
  auto next = at_c.refresh(client, rotated.refresh_token);
  EXPECT_EQ(next.status, 200) << next.body;
}

// Two refreshes of one token on A and B at the same moment: one rotation wins, in the database.
// The other request is a replay within the grace window and gets that same successor (sealed
// anew, so compared by its id); the family has exactly one successor and lives on.
TEST_F(ScaleOut, ConcurrentRefreshOnTwoInstancesRotatesOnce) {
  startGroup();
  OAuthDriver via_nginx(group_->issuer()), at_a(url(0)), at_b(url(1)), at_c(url(2));
  auto client = via_nginx.registerClient();
  auto first = signIn(via_nginx, client);
  ASSERT_EQ(first.status, 200) << first.body;
  std::string token = first.refresh_token;
  constexpr int kRounds = 8;
  for (int round = 0; round < kRounds; ++round) {
    TokenResponse on_a, on_b;
    std::atomic<int> ready{0};
    auto race = [&](OAuthDriver& driver, TokenResponse& out) {
      ready.fetch_add(1);
      while (ready.load() < 2) {
      }
      out = driver.refresh(client, token);
    };
    std::thread ta(race, std::ref(at_a), std::ref(on_a));
    std::thread tb(race, std::ref(at_b), std::ref(on_b));
    ta.join();
    tb.join();
    ASSERT_EQ(on_a.status, 200) << "round " << round << ": " << on_a.body;
    ASSERT_EQ(on_b.status, 200) << "round " << round << ": " << on_b.body;
    ASSERT_NE(refreshTokenId(on_a.refresh_token), "");
    ASSERT_EQ(refreshTokenId(on_a.refresh_token), refreshTokenId(on_b.refresh_token))
        << "round " << round;
    token = on_a.refresh_token;
  }
  // One row per rotation plus the first: no round made two successors.
  EXPECT_EQ(refreshTokenRows(client), kRounds + 1);
  EXPECT_EQ(refreshTokenRows(client, " AND rotated_at <> 0"), kRounds);
  EXPECT_EQ(at_c.refresh(client, token).status, 200);
}

// ---- revocation ---------------------------------------------------------------------------

// Revoked on A; B's /validate, /introspect and /forward-auth refuse the access token within
// tokens.revocation_sync (1 s here) plus one second.
TEST_F(ScaleOut, RevocationOnOneInstanceReachesTheOthersWithinTheSyncInterval) {
  startGroup();
  OAuthDriver via_nginx(group_->issuer()), at_a(url(0)), at_b(url(1));
  auto client = via_nginx.registerClient("client_secret_basic");  // /introspect needs a secret
  auto t = signIn(via_nginx, client);
  ASSERT_EQ(t.status, 200) << t.body;
  HttpClient http;
  auto validate = [&] {
    return json::parse(
        http.post(url(1) + "/validate", json{{"token", t.access_token}}.dump(), "application/json")
            .body,
        nullptr, false);
  };
  auto introspect = [&] {
    return json::parse(at_b.clientPost(client, "/introspect", {{"token", t.access_token}}).body,
                       nullptr, false);
  };
  auto forwardAuth = [&] {
    return http
        .get(url(1) + "/forward-auth",
             {"X-Original-URL: " + std::string(kDemo), "Authorization: Bearer " + t.access_token})
        .status;
  };
  // B has seen the token (and cached its verification) before the revocation.
  ASSERT_EQ(validate()["valid"], true);
  ASSERT_EQ(introspect()["active"], true);
  ASSERT_EQ(forwardAuth(), 200);

  ASSERT_EQ(at_a.clientPost(client, "/revoke", {{"token", t.refresh_token}}).status, 200);
  const auto revoked = Clock::now();
  double validate_s = -1, introspect_s = -1, forward_s = -1;
  while (secondsSince(revoked) < 5 && (validate_s < 0 || introspect_s < 0 || forward_s < 0)) {
    if (validate_s < 0 && validate()["valid"] == false) validate_s = secondsSince(revoked);
    if (introspect_s < 0 && introspect()["active"] == false) introspect_s = secondsSince(revoked);
    if (forward_s < 0 && forwardAuth() == 401) forward_s = secondsSince(revoked);
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  for (auto [name, s] : {std::pair{"/validate", validate_s}, std::pair{"/introspect", introspect_s},
                         std::pair{"/forward-auth", forward_s}}) {
    EXPECT_GE(s, 0) << name << " still accepts the revoked token";
    EXPECT_LE(s, 2.0) << name << ": tokens.revocation_sync (1 s) + 1 s";
  }
  EXPECT_EQ(validate()["error"], "revoked");
}

// ---- signing keys -------------------------------------------------------------------------

// Three instances starting together on an empty database make one signing key; a token signed by
// any instance verifies at every instance's JWKS.
TEST_F(ScaleOut, InstancesStartingTogetherShareOneKeyAndEachVerifiesTheOthersTokens) {
  startGroup();
  EXPECT_EQ(dbCount("SELECT count(*) FROM signing_keys"), 1);
  OAuthDriver via_nginx(group_->issuer());
  auto client = via_nginx.registerClient();
  auto first = signIn(via_nginx, client);
  ASSERT_EQ(first.status, 200) << first.body;
  HttpClient http;
  std::string token = first.refresh_token;
  for (size_t signer = 0; signer < group_->size(); ++signer) {
    OAuthDriver at(url(signer));
    auto t = at.refresh(client, token);
    ASSERT_EQ(t.status, 200) << t.body;
    token = t.refresh_token;
    for (size_t verifier = 0; verifier < group_->size(); ++verifier) {
      EXPECT_EQ(verifyWithJwks(http, url(verifier), t.access_token, nullptr, group_->issuer()),
                token::JwtStatus::kOk)
          << "signed at " << signer << ", verified at " << verifier;
    }
  }
}

// Automatic rotation happens once per period for the group, not once per instance: the unique
// generation lets one insert win. Every token any instance signs meanwhile verifies at every
// instance's JWKS: a new key is published everywhere before anyone signs with it. The margin
// keys.publish_ahead - keys.sync_interval must also cover an RSA key generation, which each
// instance that finds the rotation due runs before it learns it lost (seconds on a starved CPU).
TEST_F(ScaleOut, AutomaticRotationHappensOncePerPeriodAndEveryJwksPublishesAheadOfSigning) {
  GroupOptions options;
  options.extra_yaml = "keys:\n  rotation_period: 8s\n  publish_ahead: 6s\n  sync_interval: 1s\n";
  startGroup(options);
  OAuthDriver via_nginx(group_->issuer());
  auto client = via_nginx.registerClient();
  auto first = signIn(via_nginx, client);
  ASSERT_EQ(first.status, 200) << first.body;
  std::string refresh_token = first.refresh_token;
  HttpClient http;
  std::set<std::string> signing_kids;
  std::string unpublished;
  const auto started = Clock::now();
  while (secondsSince(started) < 19) {
    for (size_t signer = 0; signer < group_->size(); ++signer) {
      OAuthDriver at(url(signer));
      auto t = at.refresh(client, refresh_token);
      ASSERT_EQ(t.status, 200) << t.body;
      refresh_token = t.refresh_token;
      auto header = base64urlDecode(t.access_token.substr(0, t.access_token.find('.')));
      ASSERT_TRUE(header.has_value());
      const std::string kid = json::parse(*header, nullptr, false).value("kid", "");
      signing_kids.insert(kid);
      for (size_t verifier = 0; verifier < group_->size(); ++verifier) {
        if (verifyWithJwks(http, url(verifier), t.access_token, nullptr, group_->issuer()) !=
            token::JwtStatus::kOk) {
          unpublished += kid + " signed by " + std::to_string(signer) + ", unknown to " +
                         std::to_string(verifier) + "\n";
        }
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  EXPECT_EQ(unpublished, "");
  EXPECT_GE(signing_kids.size(), 2u) << "tokens were signed with a rotated key during the test";
  pqxx::connection c(db_.url());
  pqxx::nontransaction tx(c);
  auto rows = tx.exec("SELECT created_at FROM signing_keys ORDER BY generation");
  ASSERT_GE(rows.size(), 2u) << "19 s at an 8 s period: the first key and a rotation";
  EXPECT_LE(rows.size(), 4u) << "at most one rotation per period for the whole group";
  for (size_t r = 1; r < rows.size(); ++r) {
    EXPECT_GE(rows[r][0].as<int64_t>() - rows[r - 1][0].as<int64_t>(), 8)
        << "two rotations within one period";
  }
}

// `keys rotate` against the database: every instance publishes the new key within
// keys.sync_interval, signs with it after keys.publish_ahead, and its tokens verify everywhere.
TEST_F(ScaleOut, KeysRotateReachesEveryInstanceWithinTheSyncInterval) {
  GroupOptions options;
  options.extra_yaml = "keys:\n  publish_ahead: 3s\n  sync_interval: 1s\n";
  startGroup(options);
  auto rotated = group_->at(0).cli({"keys", "rotate"});
  ASSERT_EQ(rotated.exit_code, 0) << rotated.output;
  const auto at = Clock::now();
  const std::string marker = "new signing key ";
  auto pos = rotated.output.find(marker);
  ASSERT_NE(pos, std::string::npos) << rotated.output;
  const std::string kid = rotated.output.substr(pos + marker.size(), 43);

  HttpClient http;
  std::set<size_t> published;
  while (secondsSince(at) < 4 && published.size() < group_->size()) {
    for (size_t i = 0; i < group_->size(); ++i) {
      if (http.get(url(i) + "/.well-known/jwks.json").body.find(kid) != std::string::npos) {
        published.insert(i);
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(published.size(), group_->size());
  EXPECT_LE(secondsSince(at), 2.0) << "keys.sync_interval (1 s) + 1 s";

  std::this_thread::sleep_for(std::chrono::milliseconds(3200) - (Clock::now() - at));
  OAuthDriver via_nginx(group_->issuer());
  auto client = via_nginx.registerClient();
  for (size_t i = 0; i < group_->size(); ++i) {
    OAuthDriver driver(url(i));
    auto t = signIn(driver, client);
    ASSERT_EQ(t.status, 200) << t.body;
    auto header_text = base64urlDecode(t.access_token.substr(0, t.access_token.find('.')));
    ASSERT_TRUE(header_text.has_value());
    json header = json::parse(*header_text, nullptr, false);
    EXPECT_EQ(header.value("kid", ""), kid) << "instance " << i << " signs with the new key";
    for (size_t v = 0; v < group_->size(); ++v) {
      EXPECT_EQ(verifyWithJwks(http, url(v), t.access_token, nullptr, group_->issuer()),
                token::JwtStatus::kOk);
    }
  }
}

// ---- policy -------------------------------------------------------------------------------

// /health names the policy each instance enforces (its `version:` and the SHA-256 of the file), so
// a rollout can be watched until every instance shows the new one. The instances of this test
// share one file, as with a shared volume.
TEST_F(ScaleOut, HealthShowsThePolicyVersionAndHashOfEveryInstance) {
  GroupOptions options;
  options.policy_yaml = "version: v1\n" + defaultTestPolicy();
  startGroup(options);
  HttpClient http;
  auto health = [&](size_t i) { return json::parse(http.get(url(i) + "/health").body); };
  const json first = health(0);
  EXPECT_EQ(first["policy_version"], "v1");
  EXPECT_EQ(first["policy_sha256"].get<std::string>().size(), 64u);
  for (size_t i = 1; i < group_->size(); ++i) {
    EXPECT_EQ(health(i)["policy_sha256"], first["policy_sha256"]);
  }
  writeFile(group_->at(0).policyPath(), "version: v2\n" + defaultTestPolicy());
  const auto changed = Clock::now();
  std::set<size_t> updated;
  while (secondsSince(changed) < 10 && updated.size() < group_->size()) {
    for (size_t i = 0; i < group_->size(); ++i) {
      if (health(i)["policy_version"] == "v2") updated.insert(i);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(updated.size(), group_->size());
  for (size_t i = 0; i < group_->size(); ++i) {
    EXPECT_NE(health(i)["policy_sha256"], first["policy_sha256"]);
  }
}

// ---- the MCP SDK client -------------------------------------------------------------------

// The official MCP TypeScript SDK client through nginx, in front of both the group (issuer) and
// an MCP server protected by config/nginx/mcp-locations.conf: its requests are spread over the
// instances round robin (registration, authorize, consent, login, code, refresh, forward-auth).
TEST_F(ScaleOut, McpSdkClientFlowsThroughNginxAcrossTheGroup) {
  if (findProgram("node").empty() ||
      !std::filesystem::exists(kSdkDir + "/node_modules/@modelcontextprotocol/sdk")) {
    GTEST_SKIP() << "needs node and `npm ci` in tests/mcp-sdk (scripts/test does both)";
  }
  const uint16_t mcp_port = freePort(), site_port = freePort();
  const std::string mcp_url = "http://127.0.0.1:" + std::to_string(site_port) + "/mcp";
  ChildProcess mcp({"node", kSdkDir + "/server.mjs", std::to_string(mcp_port)},
                   dir_.file("mcp-server.log"));
  ASSERT_TRUE(mcp.waitForHttp("http://127.0.0.1:" + std::to_string(mcp_port) + "/")) << mcp.log();

  GroupOptions options;
  options.policy_yaml =
      "servers:\n  localhost:\n    demo:\n      name: SDK demo\n      resource: " + mcp_url +
      "\n      allowed_users: [alice]\n";
  options.tokens_yaml += "  access_ttl: 2s\n";
  options.nginx_extra =
      "  upstream mcp_server { server 127.0.0.1:" + std::to_string(mcp_port) +
      "; keepalive 8; }\n  server { listen 127.0.0.1:" + std::to_string(site_port) +
      "; set $mcp_origin http://127.0.0.1:" + std::to_string(site_port) + "; include " + kNginxDir +
      "/mcp-locations.conf; }\n";
  // The client's HTTPS metadata document is signed by a private CA the brokers trust in dev mode.
  auto [cert, key] = loopbackCertificate(dir_, "cimd");
  setenv("BROKER_DEV_CA_FILE", cert.c_str(), 1);
  startGroup(options);
  unsetenv("BROKER_DEV_CA_FILE");

  auto run = [&](std::vector<std::string> args) {
    std::vector<std::string> argv = {findProgram("node"), kSdkDir + "/client.mjs", mcp_url,
                                     "alice"};
    argv.insert(argv.end(), args.begin(), args.end());
    auto r = runCommand(argv);
    const size_t start = r.output.rfind("\n{");
    auto report = json::parse(start == std::string::npos ? r.output : r.output.substr(start + 1),
                              nullptr, false);
    EXPECT_EQ(r.exit_code, 0) << r.output << "\n" << group_->logs();
    return report;
  };
  // Past the 2 s access-token lifetime and forward-auth's 5 s leeway, so the client refreshes.
  auto flow = run({"--refresh-after", "8"});
  EXPECT_EQ(flow["registrations"], 1);
  EXPECT_EQ(flow["tools"], json::array({"whoami"}));
  EXPECT_NE(flow["whoami"].get<std::string>().find("user=alice sub=dev:alice"), std::string::npos);
  EXPECT_EQ(flow["tools_after_expiry"], json::array({"whoami"}));
  EXPECT_EQ(flow["refreshed"], true);
  // A client metadata document: each instance fetches and caches it on its own, so a sign-in
  // whose steps land on different instances fetches it at most once per instance.
  auto report = run({"--cimd", cert, key});
  EXPECT_EQ(report["registrations"], 0);
  EXPECT_GE(report["document_fetches"].get<int>(), 1);
  EXPECT_LE(report["document_fetches"].get<int>(), static_cast<int>(group_->size()));
  EXPECT_EQ(report["tools"], json::array({"whoami"}));
}

// ---- losing an instance -------------------------------------------------------------------

struct Outcome {
  double start, end;  // seconds since the load began
  long status;
  std::string upstream;  // the instance that answered last ($upstream_addr's last entry)
  std::string what;
};

// A mixed load (full sign-ins, refreshes, forward-auth checks) through nginx while one instance
// is killed with SIGKILL and later restarted. What may fail: only requests that were in flight on
// the killed instance when it died (nginx replays those that are safe to replay). No refresh
// family is lost: a refresh that failed in flight is retried with the same token, which the grace
// window answers with the successor the dead instance may already have issued.
TEST_F(ScaleOut, KillingAnInstanceUnderLoadLosesOnlyItsInFlightRequests) {
  startGroup();
  const std::string issuer = group_->issuer();
  constexpr int kWorkers = 4;
  const auto t0 = Clock::now();
  std::atomic<double> killed_at{1e9}, restarted_at{1e9};
  std::mutex mu;
  std::vector<Outcome> outcomes;
  std::vector<std::string> lost_families;
  std::atomic<int> families{0};

  auto worker = [&](int id) {
    std::mt19937 rng(static_cast<unsigned>(id));
    HttpClient http;
    OAuthDriver registrar(issuer);
    auto client = registrar.registerClient();
    std::vector<std::string> family_tokens;  // the current refresh token of each family
    auto record = [&](double start, const HttpResult& r, const std::string& what) {
      std::string upstream = r.header("x-upstream");
      if (auto comma = upstream.rfind(", "); comma != std::string::npos)
        upstream = upstream.substr(comma + 2);
      std::lock_guard<std::mutex> lock(mu);
      outcomes.push_back({start, secondsSince(t0), r.status, upstream, what});
    };
    auto timed = [&](const std::string& what, auto&& call) {
      const double start = secondsSince(t0);
      HttpResult r = call();
      record(start, r, what);
      return r;
    };
    auto signIn = [&] {
      const PkcePair pkce = makePkce();
      const std::string query = authorizeQuery(client, pkce, "s");
      HttpClient browser;
      HttpResult page =
          timed("authorize", [&] { return browser.get(issuer + "/authorize?" + query); });
      if (page.status != 200) return;
      HttpResult consent = timed("consent", [&] {
        return browser.post(issuer + "/authorize/consent",
                            formEncode({{"request", inputValue(page.body, "request")},
                                        {"csrf", inputValue(page.body, "csrf")},
                                        {"upstream", "dev"}}));
      });
      if (consent.status != 302) return;
      HttpResult login =
          timed("login page", [&] { return browser.get(consent.header("location")); });
      if (login.status != 200) return;
      HttpResult cb = timed("callback", [&] {
        return browser.post(
            issuer + "/auth/dev/callback",
            formEncode({{"state", inputValue(login.body, "state")}, {"username", "alice"}}));
      });
      if (cb.status != 302) return;
      HttpResult tok = timed("code", [&] {
        return http.post(issuer + "/token",
                         formEncode({{"grant_type", "authorization_code"},
                                     {"code", queryParam(cb.header("location"), "code")},
                                     {"code_verifier", pkce.verifier},
                                     {"redirect_uri", client.redirect_uri},
                                     {"client_id", client.client_id}}));
      });
      if (tok.status == 200) {
        family_tokens.push_back(parseTokenResponse(tok).refresh_token);
        families.fetch_add(1);
      }
    };
    auto refresh = [&](std::string& token) {
      auto attempt = [&] {
        return timed("refresh", [&] {
          return http.post(issuer + "/token", formEncode({{"grant_type", "refresh_token"},
                                                          {"refresh_token", token},
                                                          {"client_id", client.client_id}}));
        });
      };
      HttpResult r = attempt();
      if (r.status != 200 && r.status != 400) r = attempt();  // the same token again
      auto t = parseTokenResponse(r);
      const long status = r.status;
      if (status == 200) {
        token = t.refresh_token;
        return t.access_token;
      }
      std::lock_guard<std::mutex> lock(mu);
      lost_families.push_back(std::to_string(status) + " " + t.body);
      token.clear();
      return std::string();
    };

    signIn();
    while (secondsSince(t0) < 12) {
      const int dice = static_cast<int>(rng() % 10);
      if (dice == 0 || family_tokens.empty()) {
        signIn();
      } else {
        std::string& token = family_tokens[rng() % family_tokens.size()];
        if (token.empty()) continue;
        const std::string access = refresh(token);
        if (access.empty()) continue;
        for (int i = 0; i < 3; ++i) {
          timed("forward-auth", [&] {
            return http.get(issuer + "/forward-auth", {"X-Original-URL: " + std::string(kDemo),
                                                       "Authorization: Bearer " + access});
          });
        }
      }
    }
    // Every family is still alive after the load.
    for (auto& token : family_tokens) {
      if (!token.empty()) (void)refresh(token);
    }
  };

  std::vector<std::thread> workers;
  for (int i = 0; i < kWorkers; ++i) workers.emplace_back(worker, i);
  std::this_thread::sleep_for(std::chrono::seconds(3));
  BrokerProcess& victim = group_->at(1);
  const std::string victim_addr = "127.0.0.1:" + std::to_string(victim.port());
  const double kill_sent = secondsSince(t0);
  victim.signal(SIGKILL);
  (void)victim.stop();  // reaps it
  killed_at = secondsSince(t0);
  std::this_thread::sleep_for(std::chrono::seconds(3));
  victim.start();
  restarted_at = secondsSince(t0);
  for (auto& w : workers) w.join();

  int failed = 0, in_flight = 0, during_outage = 0, after_restart_on_victim = 0;
  std::string unexplained;
  for (const auto& o : outcomes) {
    const bool ok = o.status == 200 || o.status == 302;
    if (o.start > killed_at && o.end < restarted_at && ok) ++during_outage;
    if (o.start > restarted_at && o.upstream == victim_addr && ok) ++after_restart_on_victim;
    if (ok) continue;
    ++failed;
    if (o.upstream == victim_addr && o.start <= killed_at.load() && o.end >= kill_sent) {
      ++in_flight;
    } else {
      unexplained += o.what + " " + std::to_string(o.status) + " at " + o.upstream + " [" +
                     std::to_string(o.start) + ", " + std::to_string(o.end) + "]\n";
    }
  }
  std::cout << "[ scale-out ] requests=" << outcomes.size() << " failed=" << failed
            << " in_flight_on_killed=" << in_flight << " during_outage_ok=" << during_outage
            << " families=" << families.load() << " lost_families=" << lost_families.size() << "\n";
  RecordProperty("requests", static_cast<int>(outcomes.size()));
  RecordProperty("failed_in_flight_on_killed_instance", in_flight);
  EXPECT_EQ(unexplained, "") << "failures that were not in flight on the killed instance\n"
                             << group_->nginxLog();
  EXPECT_LE(in_flight, kWorkers) << "each worker has at most one request in flight";
  EXPECT_TRUE(lost_families.empty()) << lost_families.front();
  EXPECT_GT(families.load(), kWorkers);
  EXPECT_GT(during_outage, 20) << "the load went on while the instance was down";
  EXPECT_GT(after_restart_on_victim, 0) << "the restarted instance takes traffic again";
}

}  // namespace
}  // namespace broker::testing
