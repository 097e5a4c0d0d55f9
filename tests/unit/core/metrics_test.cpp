#include "broker/core/metrics.h"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "broker/core/broker_metrics.h"

namespace broker::metrics {
namespace {

TEST(Metrics, CounterFamilyRendersHelpTypeAndOneLinePerLabelSet) {
  Registry r;
  auto& f = r.counter("requests_total", "Requests.", {"route", "code"});
  f.with({"/token", "2xx"}).inc(3);
  f.with({"/token", "4xx"}).inc();
  f.with({"/token", "2xx"}).inc();
  EXPECT_EQ(r.render(),
            "# HELP requests_total Requests.\n"
            "# TYPE requests_total counter\n"
            "requests_total{route=\"/token\",code=\"2xx\"} 4\n"
            "requests_total{route=\"/token\",code=\"4xx\"} 1\n");
}

TEST(Metrics, LabelValuesAndHelpAreEscaped) {
  Registry r;
  r.counter("odd_total", "A \\ and a\nnewline.", {"v"}).with({"a\"b\\c\nd"}).inc();
  EXPECT_EQ(r.render(),
            "# HELP odd_total A \\\\ and a\\nnewline.\n"
            "# TYPE odd_total counter\n"
            "odd_total{v=\"a\\\"b\\\\c\\nd\"} 1\n");
}

TEST(Metrics, HistogramBucketsAreCumulativeWithSumAndCount) {
  Registry r;
  auto& h = r.histogram("took_seconds", "Time.", {"op"}, {0.1, 1}).with({"x"});
  h.observe(0.05);
  h.observe(0.1);  // on a bound: counted in that bucket (le is "less or equal")
  h.observe(0.5);
  h.observe(7.0);
  EXPECT_EQ(r.render(),
            "# HELP took_seconds Time.\n"
            "# TYPE took_seconds histogram\n"
            "took_seconds_bucket{op=\"x\",le=\"0.1\"} 2\n"
            "took_seconds_bucket{op=\"x\",le=\"1\"} 3\n"
            "took_seconds_bucket{op=\"x\",le=\"+Inf\"} 4\n"
            "took_seconds_sum{op=\"x\"} 7.65\n"
            "took_seconds_count{op=\"x\"} 4\n");
}

TEST(Metrics, UnlabelledMetricsAndCallbackGauges) {
  Registry r;
  r.counter("reuse_total", "Reuse.").get().inc(2);
  r.gauge("generation", "Generation.").get().set(-3);
  auto& cb = r.callbackGauge("age_seconds", "Age.");
  std::string text = r.render();
  EXPECT_NE(text.find("reuse_total 2\n"), std::string::npos) << text;
  EXPECT_NE(text.find("generation -3\n"), std::string::npos) << text;
  // Without a value (none set, or the callback has none), only the header.
  EXPECT_NE(text.find("# TYPE age_seconds gauge\n"), std::string::npos) << text;
  EXPECT_EQ(text.find("\nage_seconds "), std::string::npos) << text;
  cb.set([] { return std::optional<double>(12.5); });
  EXPECT_NE(r.render().find("age_seconds 12.5\n"), std::string::npos);
  cb.set([] { return std::optional<double>(); });
  EXPECT_EQ(r.render().find("age_seconds 12.5\n"), std::string::npos);
}

TEST(Metrics, LabelSetsPastTheLimitAreCountedAsOther) {
  Registry r;
  auto& f = r.counter("many_total", "Many.", {"k"});
  for (size_t i = 0; i < Family<Counter>::kMaxChildren + 10; ++i) {
    f.with({"v" + std::to_string(i)}).inc();
  }
  f.with({"v0"}).inc();  // an existing one still counts as itself
  const std::string text = r.render();
  EXPECT_NE(text.find("many_total{k=\"v0\"} 2\n"), std::string::npos);
  EXPECT_NE(text.find("many_total{k=\"other\"} 10\n"), std::string::npos) << text;
  EXPECT_EQ(text.find("v" + std::to_string(Family<Counter>::kMaxChildren) + "\""),
            std::string::npos);
}

TEST(Metrics, WrongNumberOfLabelValuesIsCountedAsOther) {
  Registry r;
  auto& f = r.counter("pairs_total", "Pairs.", {"a", "b"});
  f.with({"only-one"}).inc();
  // Nothing is shown until the family is full: the stray value lands in "other", not in a child.
  EXPECT_EQ(r.render().find("only-one"), std::string::npos);
}

// Threads racing to create and bump the same children: one child per label set, every
// increment counted.
TEST(Metrics, ConcurrentUpdatesAreAllCountedInOneChildPerLabelSet) {
  Registry r;
  auto& f = r.counter("race_total", "Race.", {"k"});
  auto& h = r.histogram("race_seconds", "Race.", {"k"}, {1}).with({"h"});
  constexpr int kThreads = 8, kEach = 20000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        f.with({i % 2 ? "odd" : "even"}).inc();
        f.with({"t" + std::to_string(t % 4)}).inc();
        h.observe(0.5);
      }
    });
  }
  for (auto& t : threads) t.join();
  const std::string text = r.render();
  EXPECT_NE(text.find("race_total{k=\"odd\"} " + std::to_string(kThreads * kEach / 2) + "\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("race_total{k=\"even\"} " + std::to_string(kThreads * kEach / 2) + "\n"),
            std::string::npos);
  EXPECT_NE(text.find("race_total{k=\"t3\"} " + std::to_string(2 * kEach) + "\n"),
            std::string::npos);
  EXPECT_EQ(h.snapshot().count, static_cast<uint64_t>(kThreads * kEach));
  size_t lines = 0;
  for (size_t at = 0; (at = text.find("race_total{", at)) != std::string::npos; ++at) ++lines;
  EXPECT_EQ(lines, 6u);
}

TEST(Metrics, BrokerMetricsNamesEveryFamilyOnce) {
  Registry r;
  BrokerMetrics m(r);
  EXPECT_EQ(BrokerMetrics::statusClass(204), std::string("2xx"));
  EXPECT_EQ(BrokerMetrics::statusClass(503), std::string("5xx"));
  EXPECT_EQ(BrokerMetrics::statusClass(999), std::string("5xx"));
  const std::string text = r.render();
  for (const char* name : {"broker_http_requests_total",
                           "broker_http_request_duration_seconds",
                           "broker_http_rate_limited_total",
                           "broker_worker_queue_depth",
                           "broker_logins_total",
                           "broker_signins_total",
                           "broker_denials_total",
                           "broker_token_grants_total",
                           "broker_code_reuse_total",
                           "broker_refresh_reuse_total",
                           "broker_revocations_total",
                           "broker_upstream_request_duration_seconds",
                           "broker_upstream_errors_total",
                           "broker_store_operation_duration_seconds",
                           "broker_store_errors_total",
                           "broker_policy_reloads_total",
                           "broker_policy_generation",
                           "broker_signing_key_age_seconds",
                           "broker_signing_key_next_rotation_seconds",
                           "broker_revocation_list_age_seconds"}) {
    const std::string type = std::string("# TYPE ") + name + " ";
    auto first = text.find(type);
    EXPECT_NE(first, std::string::npos) << name;
    EXPECT_EQ(text.find(type, first + 1), std::string::npos) << name;
  }
}

}  // namespace
}  // namespace broker::metrics
