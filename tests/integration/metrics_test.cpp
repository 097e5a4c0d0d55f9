// /metrics as Prometheus sees it: the exposition passes `promtool check metrics`, a real
// Prometheus server scrapes a running broker, and no label names a user, token or client.

#include <gtest/gtest.h>

#include <chrono>
#include <csignal>
#include <regex>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "fakes/broker_process.h"
#include "fakes/child_process.h"
#include "fakes/http_client.h"
#include "fakes/oauth_driver.h"

namespace broker::testing {
namespace {

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// The value of the sample `line_prefix` (name and labels exactly as exposed), or -1.
double sampleValue(const std::string& exposition, const std::string& line_prefix) {
  size_t at = 0;
  while ((at = exposition.find(line_prefix + " ", at)) != std::string::npos) {
    if (at == 0 || exposition[at - 1] == '\n') {
      return std::stod(exposition.substr(at + line_prefix.size() + 1));
    }
    ++at;
  }
  return -1;
}

class BrokerMetrics : public ::testing::Test {
 protected:
  void SetUp() override {
    metrics_port_ = freePort();
    BrokerConfig cfg;
    cfg.extra_yaml = "metrics:\n  listen: 127.0.0.1:" + std::to_string(metrics_port_) + "\n";
    broker_ = std::make_unique<BrokerProcess>(dir_, cfg);
    broker_->start();
  }
  std::string metricsUrl() const {
    return "http://127.0.0.1:" + std::to_string(metrics_port_) + "/metrics";
  }
  std::string scrape() {
    HttpClient http;
    auto r = http.get(metricsUrl());
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.header("content-type"), "text/plain; version=0.0.4; charset=utf-8");
    return r.body;
  }
  // A sign-in, a code exchange, a refresh, a replayed refresh token and a denied sign-in.
  RegisteredClient exercise() {
    OAuthDriver driver(broker_->url());
    auto client = driver.registerClient();
    auto tokens = driver.login(client, "alice");
    EXPECT_EQ(tokens.status, 200) << tokens.body;
    auto refreshed = driver.refresh(client, tokens.refresh_token);
    EXPECT_EQ(refreshed.status, 200) << refreshed.body;
    auto again = driver.refresh(client, refreshed.refresh_token);
    EXPECT_EQ(again.status, 200) << again.body;
    // The first token again, after its successor was used: reuse, the family is revoked.
    auto replay = driver.refresh(client, tokens.refresh_token);
    EXPECT_EQ(replay.error, "invalid_grant");
    PkcePair pkce;
    AuthorizeRequest denied;
    denied.user = "mallory";
    auto outcome = driver.authorize(client, denied, &pkce);
    EXPECT_EQ(outcome.error, "access_denied");
    return client;
  }

  TempDir dir_;
  uint16_t metrics_port_ = 0;
  std::unique_ptr<BrokerProcess> broker_;
};

TEST_F(BrokerMetrics, ExpositionPassesPromtoolAndCountsTheFlow) {
  auto client = exercise();
  const std::string body = scrape();

  // The exposition itself, as Prometheus' own linter reads it.
  writeFile(dir_.file("metrics.txt"), body);
  auto check = runCommand(
      {"/bin/sh", "-c", findProgram("promtool") + " check metrics < " + dir_.file("metrics.txt")});
  EXPECT_EQ(check.exit_code, 0) << check.output << "\n" << body;

  EXPECT_GE(sampleValue(body, R"(broker_http_requests_total{route="/token",code="2xx"})"), 2)
      << body;
  EXPECT_GE(sampleValue(body, R"(broker_http_requests_total{route="/token",code="4xx"})"), 1);
  EXPECT_GE(sampleValue(body, R"(broker_http_request_duration_seconds_count{route="/token"})"), 3);
  EXPECT_EQ(sampleValue(body, R"(broker_logins_total{upstream="dev",outcome="succeeded"})"), 1);
  EXPECT_EQ(sampleValue(body, R"(broker_logins_total{upstream="dev",outcome="denied"})"), 1);
  EXPECT_EQ(
      sampleValue(body, R"(broker_signins_total{upstream="dev",server="mcp:localhost:demo"})"), 1);
  EXPECT_EQ(
      sampleValue(
          body, R"(broker_denials_total{upstream="dev",server="mcp:localhost:demo",at="signin"})"),
      1);
  EXPECT_EQ(
      sampleValue(body,
                  R"(broker_token_grants_total{grant_type="authorization_code",outcome="issued"})"),
      1);
  EXPECT_EQ(sampleValue(
                body, R"(broker_token_grants_total{grant_type="refresh_token",outcome="issued"})"),
            2);
  EXPECT_EQ(
      sampleValue(
          body, R"(broker_token_grants_total{grant_type="refresh_token",outcome="invalid_grant"})"),
      1);
  EXPECT_EQ(sampleValue(body, "broker_refresh_reuse_total"), 1);
  EXPECT_EQ(sampleValue(
                body, R"(broker_revocations_total{kind="refresh_family",source="refresh_reuse"})"),
            1);
  EXPECT_EQ(sampleValue(body, "broker_policy_generation"), 1);
  EXPECT_GE(sampleValue(body, "broker_signing_key_age_seconds"), 0);
  EXPECT_GT(sampleValue(body, "broker_signing_key_next_rotation_seconds"), 0);
  EXPECT_GE(sampleValue(body, "broker_revocation_list_age_seconds"), 0);
  EXPECT_EQ(sampleValue(body, "broker_worker_queue_depth"), 0);
  EXPECT_GE(
      sampleValue(body,
                  R"(broker_store_operation_duration_seconds_count{operation="codes.consume"})"),
      1);

  // No label carries a user, a client or a token.
  EXPECT_FALSE(contains(body, client.client_id)) << body;
  EXPECT_FALSE(contains(body, "alice")) << body;
  EXPECT_FALSE(contains(body, "mallory")) << body;

  // On its own listener only: the public one does not serve it.
  HttpClient http;
  EXPECT_EQ(http.get(broker_->url() + "/metrics").status, 404);
}

// The watcher reloads on every save; the counts follow each outcome, and the generation counts
// the policies that took effect (the first is 1).
TEST_F(BrokerMetrics, PolicyReloadsAreCountedWithTheirOutcome) {
  const std::string policy = readFile(broker_->policyPath());
  auto waitFor = [&](const std::string& sample) {
    std::string body;
    for (int i = 0; i < 200; ++i) {
      body = scrape();
      if (sampleValue(body, sample) >= 1) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return body;
  };
  writeFile(broker_->policyPath(), "servers: [this is not a policy");
  broker_->signal(SIGHUP);
  std::string body = waitFor(R"(broker_policy_reloads_total{outcome="error"})");
  EXPECT_GE(sampleValue(body, R"(broker_policy_reloads_total{outcome="error"})"), 1) << body;
  EXPECT_EQ(sampleValue(body, "broker_policy_generation"), 1) << body;
  writeFile(broker_->policyPath(), policy);
  broker_->signal(SIGHUP);
  body = waitFor(R"(broker_policy_reloads_total{outcome="ok"})");
  const double ok = sampleValue(body, R"(broker_policy_reloads_total{outcome="ok"})");
  EXPECT_GE(ok, 1) << body;
  EXPECT_EQ(sampleValue(body, "broker_policy_generation"), 1 + ok) << body;
}

// A real Prometheus server scrapes the broker: the target is up and a broker counter arrives.
TEST_F(BrokerMetrics, PrometheusScrapesARunningBroker) {
  exercise();
  const uint16_t prom_port = freePort();
  writeFile(dir_.file("prometheus.yml"),
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
            "scrape_configs:\n  - job_name: broker\n    static_configs:\n"
            "      - targets: ['127.0.0.1:" +
                std::to_string(metrics_port_) + "']\n");
  ChildProcess prometheus(
      {findProgram("prometheus"), "--config.file=" + dir_.file("prometheus.yml"),
       "--storage.tsdb.path=" + dir_.file("tsdb"),
       "--web.listen-address=127.0.0.1:" + std::to_string(prom_port), "--log.level=warn"},
      dir_.file("prometheus.log"));
  const std::string api = "http://127.0.0.1:" + std::to_string(prom_port) + "/api/v1/query?query=";
  ASSERT_TRUE(prometheus.waitForHttp(api + "up", 30000)) << prometheus.log();

  HttpClient http;
  auto query = [&](const std::string& promql) -> nlohmann::json {
    auto r = http.get(api + promql);
    auto j = nlohmann::json::parse(r.body, nullptr, false);
    if (j.is_discarded() || j.value("status", "") != "success") return nlohmann::json::array();
    return j["data"]["result"];
  };
  auto valueOf = [](const nlohmann::json& result) {
    return result.empty() ? -1.0 : std::stod(result[0]["value"][1].get<std::string>());
  };
  double up = -1, logins = -1;
  for (int i = 0; i < 300 && (up != 1 || logins < 1); ++i) {
    up = valueOf(query("up%7Bjob%3D%22broker%22%7D"));
    logins = valueOf(query("broker_logins_total%7Boutcome%3D%22succeeded%22%7D"));
    if (up != 1 || logins < 1) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(up, 1) << prometheus.log();
  EXPECT_EQ(logins, 1) << prometheus.log();
  prometheus.stop();
}

}  // namespace
}  // namespace broker::testing
