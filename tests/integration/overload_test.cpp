// Overload: every worker waits on a GitHub that hangs, and the worker queue is full. Work that
// needs a worker is shed at once with 503 and Retry-After (an HTML page on the browser's
// endpoints, an OAuth error elsewhere); what the reactor answers alone (JWKS, metadata, /health)
// stays fast.

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "fakes/broker_process.h"
#include "fakes/fake_github.h"
#include "fakes/oauth_driver.h"
#include "integration/upstream_login.h"

namespace broker::testing {
namespace {

using Steady = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr int kWorkers = 2;
constexpr int kQueueLimit = 2;

int64_t msSince(Steady::time_point t) {
  return std::chrono::duration_cast<milliseconds>(Steady::now() - t).count();
}

int64_t p99(std::vector<int64_t> v) {
  std::sort(v.begin(), v.end());
  return v[(v.size() * 99 + 99) / 100 - 1];
}

class Overload : public UpstreamLoginTest {
 protected:
  void SetUp() override {
    gh_ = std::make_unique<FakeGitHub>();
    gh_->upsertUser({42,
                     "alice",
                     "Alice",
                     {{"alice@example.com", true, true}},
                     {"acme"},
                     {{"acme", "platform"}}});
    gh_->signIn("alice");
    BrokerConfig cfg;
    cfg.policy_yaml = upstreamPolicy("github", "allowed_teams: [acme/platform]");
    cfg.upstreams_yaml = "  github:\n    type: github\n    client_id: " + gh_->options().client_id +
                         "\n    client_secret: " + gh_->options().client_secret +
                         "\n    web_url: " + gh_->webUrl() + "\n    timeout: 30s\n";
    cfg.extra_yaml = "server:\n  workers: " + std::to_string(kWorkers) +
                     "\n  queue_limit: " + std::to_string(kQueueLimit) + "\n";
    startBroker(cfg);
  }

  // A sign-in up to GitHub's redirect back: the callback URL, in a browser of its own.
  std::string callbackFromGitHub(OAuthDriver& browser) {
    AuthorizeRequest req;
    req.scope = "mcp:localhost:demo";
    PkcePair pkce;
    auto started = browser.startLogin(client_, req, "github", &pkce);
    EXPECT_EQ(started.next.rfind(gh_->webUrl(), 0), 0u) << started.page;
    auto at_github = browser.browser().get(started.next);
    EXPECT_EQ(at_github.status, 302) << at_github.body;
    return at_github.header("location");
  }

  std::unique_ptr<FakeGitHub> gh_;
};

TEST_F(Overload, FullWorkersShedAtOnceWhileJwksAndHealthStayFast) {
  // Sign-ins that will each hold a worker (or wait in the queue) while GitHub hangs, and one
  // more that arrives when there is no room left.
  constexpr int kHeld = kWorkers + kQueueLimit;
  std::vector<std::unique_ptr<OAuthDriver>> browsers;
  std::vector<std::string> callbacks;
  for (int i = 0; i <= kHeld; ++i) {
    browsers.push_back(std::make_unique<OAuthDriver>(base()));
    callbacks.push_back(callbackFromGitHub(*browsers.back()));
    ASSERT_FALSE(callbacks.back().empty());
  }
  const int token_calls = gh_->requests("/login/oauth/access_token");
  gh_->setSlow(60000);

  std::vector<std::thread> held;
  for (int i = 0; i < kHeld; ++i) {
    held.emplace_back([&, i] { (void)browsers[i]->browser().get(callbacks[i]); });
  }
  // Both workers wait on GitHub; the other sign-ins have had ample time to take the queue.
  for (int i = 0; i < 500 && gh_->requests("/login/oauth/access_token") < token_calls + kWorkers;
       ++i) {
    std::this_thread::sleep_for(milliseconds(10));
  }
  ASSERT_EQ(gh_->requests("/login/oauth/access_token"), token_calls + kWorkers);
  std::this_thread::sleep_for(milliseconds(300));

  // The overflow: refused at once, as a page in the browser and as an OAuth error at /token.
  HttpClient api;
  std::vector<int64_t> shed_ms;
  for (int i = 0; i < 20; ++i) {
    auto t0 = Steady::now();
    auto page = browsers[kHeld]->browser().get(callbacks[kHeld]);
    shed_ms.push_back(msSince(t0));
    EXPECT_EQ(page.status, 503) << page.body;
    EXPECT_EQ(page.header("retry-after"), "1");
    EXPECT_EQ(page.header("content-type").rfind("text/html", 0), 0u) << page.header("content-type");

    t0 = Steady::now();
    auto token = api.post(base() + "/token", "grant_type=refresh_token&refresh_token=x");
    shed_ms.push_back(msSince(t0));
    EXPECT_EQ(token.status, 503) << token.body;
    EXPECT_EQ(token.header("retry-after"), "1");
    auto body = nlohmann::json::parse(token.body, nullptr, false);
    EXPECT_EQ(body.value("error", ""), "temporarily_unavailable") << token.body;
  }
  EXPECT_LE(*std::max_element(shed_ms.begin(), shed_ms.end()), 100);

  // What the reactor answers alone, meanwhile.
  HttpClient http;
  std::vector<int64_t> jwks_ms, health_ms;
  for (int i = 0; i < 200; ++i) {
    auto t0 = Steady::now();
    auto jwks = http.get(base() + "/.well-known/jwks.json");
    jwks_ms.push_back(msSince(t0));
    EXPECT_EQ(jwks.status, 200);
    t0 = Steady::now();
    auto health = http.get(base() + "/health");
    health_ms.push_back(msSince(t0));
    EXPECT_EQ(health.status, 200) << health.body;
  }
  EXPECT_LT(p99(jwks_ms), 50);
  EXPECT_LT(p99(health_ms), 50);
  RecordProperty("jwks_p99_ms", std::to_string(p99(jwks_ms)));
  RecordProperty("health_p99_ms", std::to_string(p99(health_ms)));
  RecordProperty("shed_max_ms", std::to_string(*std::max_element(shed_ms.begin(), shed_ms.end())));
  // Still held: the sign-ins are waiting on GitHub, not refused.
  EXPECT_EQ(gh_->requests("/login/oauth/access_token"), token_calls + kWorkers);

  gh_.reset();  // GitHub goes away: the waiting sign-ins end and free their workers
  for (auto& t : held) t.join();
}

}  // namespace
}  // namespace broker::testing
