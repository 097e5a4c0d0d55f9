// Load generator for the broker. N worker threads, each with its own kept-alive connection, run
// one scenario until a deadline or a total count of units is reached, whichever comes first, then
// print one line:
//
//   scenario=refresh workers=16 seconds=5.00 ok=9000 errors=0 rate=1800.0 p50_ms=8.10 p99_ms=21.3
//
// A unit is one request, or for `flow` one whole authorization-code flow. Only successful units
// count in `ok`, the rate and the latencies. Setting a worker up (registering a client, the first
// login) happens before the clock starts. `--scenario token` only logs in and prints an access
// token, for wrk to send in a fixed /validate request. `--scenario reference-flow` runs the same
// flow against the reference provider (tests/oidc-provider/server.mjs), with its static client
// `--client-id` (redirect URI http://127.0.0.1:7777/cb).

#include <curl/curl.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "bench/bench_client.h"

namespace broker::bench {
namespace {

using Clock = std::chrono::steady_clock;

const char* const kUsage =
    "usage: broker_loadgen --url http://127.0.0.1:PORT\n"
    "                      --scenario refresh|flow|dcr|validate|token|reference-flow\n"
    "                      [--workers 16] [--seconds 5] [--requests 1000000] [--timeout-ms 10000]\n"
    "                      [--user alice] [--client-id bench (reference-flow)]\n";

struct Options {
  std::string url;
  std::string scenario;
  int workers = 16;
  double seconds = 5;
  long requests = 1000000;
  long timeout_ms = 10000;
  std::string user = "alice";
  std::string client_id = "bench";  // reference-flow: the provider's static client
};

[[noreturn]] void usage(const std::string& problem) {
  std::cerr << "broker_loadgen: " << problem << "\n" << kUsage;
  std::exit(2);
}

Options parseOptions(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "-h" || arg == "--help") {
      std::cout << kUsage;
      std::exit(0);
    }
    if (i + 1 >= argc) usage("missing value for " + arg);
    std::string v = argv[++i];
    try {
      if (arg == "--url") {
        o.url = v;
      } else if (arg == "--scenario") {
        o.scenario = v;
      } else if (arg == "--workers") {
        o.workers = std::stoi(v);
      } else if (arg == "--seconds") {
        o.seconds = std::stod(v);
      } else if (arg == "--requests") {
        o.requests = std::stol(v);
      } else if (arg == "--timeout-ms") {
        o.timeout_ms = std::stol(v);
      } else if (arg == "--user") {
        o.user = v;
      } else if (arg == "--client-id") {
        o.client_id = v;
      } else {
        usage("unknown option " + arg);
      }
    } catch (const std::logic_error&) {
      usage("bad value for " + arg + ": " + v);
    }
  }
  // The load stays on this machine.
  if (o.url.rfind("http://127.0.0.1:", 0) != 0) usage("--url must be http://127.0.0.1:PORT");
  while (!o.url.empty() && o.url.back() == '/') o.url.pop_back();
  if (o.scenario != "refresh" && o.scenario != "flow" && o.scenario != "dcr" &&
      o.scenario != "validate" && o.scenario != "token" && o.scenario != "reference-flow") {
    usage("unknown scenario '" + o.scenario + "'");
  }
  if (o.workers < 1 || o.workers > 1024) usage("--workers must be 1..1024");
  if (o.seconds <= 0 || o.seconds > 3600) usage("--seconds must be in (0, 3600]");
  if (o.requests < 1) usage("--requests must be positive");
  if (o.timeout_ms < 1) usage("--timeout-ms must be positive");
  return o;
}

// Starts every worker's measured part at once, after each has finished its set-up.
class StartLine {
 public:
  explicit StartLine(int parties) : waiting_(parties) {}

  void arrive() {
    std::unique_lock<std::mutex> lock(mutex_);
    if (--waiting_ == 0) cv_.notify_all();
    cv_.wait(lock, [&] { return started_; });
  }
  // Waits for every worker, sets the deadline and lets them go. Returns the start time.
  Clock::time_point release(double seconds) {
    std::unique_lock<std::mutex> lock(mutex_);
    cv_.wait(lock, [&] { return waiting_ == 0; });
    start_ = Clock::now();
    deadline_ = start_ +
                std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
    started_ = true;
    cv_.notify_all();
    return start_;
  }
  Clock::time_point deadline() const { return deadline_; }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  int waiting_;
  bool started_ = false;
  Clock::time_point start_;
  Clock::time_point deadline_;
};

// The shared bound: a unit may start only before the deadline and while the count lasts.
class Budget {
 public:
  Budget(long units, const StartLine& line) : left_(units), line_(line) {}
  bool take() { return Clock::now() < line_.deadline() && left_.fetch_sub(1) > 0; }

 private:
  std::atomic<long> left_;
  const StartLine& line_;
};

struct WorkerStats {
  long ok = 0;
  long errors = 0;
  bool setup_failed = false;
  std::vector<uint32_t> latency_us;  // of successful units
  std::string first_error;
};

// One unit of work; returns success. Set-up runs before the start line.
struct Scenario {
  std::function<bool(StepError&)> setup;
  std::function<bool(StepError&)> unit;
};

Scenario makeScenario(const Options& o, OAuthClient& api, Client& client, Tokens& tokens) {
  auto register_and_login = [&](StepError& e) {
    return api.registerClient(client, e) && api.login(client, o.user, tokens, e);
  };
  if (o.scenario == "refresh") {
    return {register_and_login, [&](StepError& e) {
              if (api.refresh(client, tokens, e)) return true;
              // The chain is broken (the token is spent or its family revoked): start a new
              // one so the worker keeps measuring. The time this takes counts against the rate.
              StepError ignored;
              api.login(client, o.user, tokens, ignored);
              return false;
            }};
  }
  if (o.scenario == "validate") {
    return {register_and_login, [&](StepError& e) { return api.validate(tokens.access_token, e); }};
  }
  if (o.scenario == "flow") {
    return {[&](StepError& e) { return api.registerClient(client, e); },
            [&](StepError& e) { return api.login(client, o.user, tokens, e); }};
  }
  if (o.scenario == "reference-flow") {
    return {[&](StepError&) {
              client = {o.client_id, "http://127.0.0.1:7777/cb"};
              return true;
            },
            [&](StepError& e) { return api.loginReference(client, o.user, tokens, e); }};
  }
  return {[](StepError&) { return true; },
          [&](StepError& e) {
            Client fresh;
            return api.registerClient(fresh, e);
          }};
}

void runWorker(const Options& o, StartLine& line, Budget& budget, WorkerStats& stats) {
  OAuthClient api(o.url, o.timeout_ms);
  Client client;
  Tokens tokens;
  Scenario s = makeScenario(o, api, client, tokens);
  StepError error;
  stats.setup_failed = !s.setup(error);
  if (stats.setup_failed) stats.first_error = "setup: " + error.what;
  line.arrive();
  if (stats.setup_failed) return;
  stats.latency_us.reserve(1 << 16);
  while (budget.take()) {
    auto t0 = Clock::now();
    if (s.unit(error)) {
      auto us = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - t0).count();
      stats.latency_us.push_back(static_cast<uint32_t>(std::min<int64_t>(us, UINT32_MAX)));
      ++stats.ok;
    } else {
      if (stats.errors++ == 0) stats.first_error = error.what;
    }
  }
}

double percentileMs(const std::vector<uint32_t>& sorted, double p) {
  if (sorted.empty()) return 0;
  size_t rank = static_cast<size_t>(p / 100.0 * static_cast<double>(sorted.size()));
  return sorted[std::min(rank, sorted.size() - 1)] / 1000.0;
}

int run(const Options& o) {
  StartLine line(o.workers);
  Budget budget(o.requests, line);
  std::vector<WorkerStats> stats(static_cast<size_t>(o.workers));
  std::vector<std::thread> threads;
  for (auto& s : stats) {
    threads.emplace_back([&o, &line, &budget, &s] { runWorker(o, line, budget, s); });
  }
  const Clock::time_point start = line.release(o.seconds);
  for (auto& t : threads) t.join();
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();

  long ok = 0, errors = 0, setup_failures = 0;
  std::vector<uint32_t> all;
  for (const auto& s : stats) {
    ok += s.ok;
    errors += s.errors;
    setup_failures += s.setup_failed ? 1 : 0;
    all.insert(all.end(), s.latency_us.begin(), s.latency_us.end());
    if (!s.first_error.empty()) std::cerr << "broker_loadgen: " << s.first_error << "\n";
  }
  std::sort(all.begin(), all.end());
  std::printf(
      "scenario=%s workers=%d seconds=%.2f ok=%ld errors=%ld setup_failures=%ld rate=%.1f "
      "p50_ms=%.2f p99_ms=%.2f\n",
      o.scenario.c_str(), o.workers, elapsed, ok, errors, setup_failures,
      elapsed > 0 ? static_cast<double>(ok) / elapsed : 0.0, percentileMs(all, 50),
      percentileMs(all, 99));
  return setup_failures == o.workers ? 1 : 0;
}

// `--scenario token`: registers a client, logs in once and prints the access token, for a load
// tool that sends one fixed request (wrk on /validate).
int printToken(const Options& o) {
  OAuthClient api(o.url, o.timeout_ms);
  Client client;
  Tokens tokens;
  StepError error;
  if (!api.registerClient(client, error) || !api.login(client, o.user, tokens, error)) {
    std::cerr << "broker_loadgen: " << error.what << "\n";
    return 1;
  }
  std::cout << tokens.access_token << "\n";
  return 0;
}

}  // namespace
}  // namespace broker::bench

int main(int argc, char** argv) {
  auto options = broker::bench::parseOptions(argc, argv);
  curl_global_init(CURL_GLOBAL_DEFAULT);
  int rc = options.scenario == "token" ? broker::bench::printToken(options)
                                       : broker::bench::run(options);
  curl_global_cleanup();
  return rc;
}
