// Policy engine benchmark: evaluation rate and reload (parse + compile) time for a generated
// policy with many servers and principals. Single-threaded, CPU only, no I/O after the start.
//
//   bench_policy [--servers 1000] [--principals 10000] [--seconds 2] [--reloads 5] [--seed 1]
//
// The generated file has `servers` servers over 20 domains. Principals: `principals` distinct
// users (each named directly by one server, and 10% again through top-level groups), 200 teams
// and 20 orgs, with deny lists on every server and sub-scopes on every tenth. Each evaluation
// takes a random identity (a user with two teams and an org, a third of them with a verified
// email) and a random scope of the policy. Prints one line of key=value pairs.

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <random>
#include <string>
#include <vector>

#include "broker/policy/policy.h"

namespace {

using Clock = std::chrono::steady_clock;

// CPU time of this thread: on a shared machine it moves far less than the wall clock does.
double threadCpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

struct Options {
  int servers = 1000;
  int principals = 10000;
  double seconds = 2;
  int reloads = 5;
  unsigned seed = 1;
};

std::string generate(const Options& o) {
  std::string y = "default_upstream: github\ngroups:\n";
  const int groups = 20;
  for (int g = 0; g < groups; ++g) {
    y += "  group" + std::to_string(g) + ": [";
    for (int i = 0; i < o.principals / 10 / groups; ++i) {
      y += (i ? ", " : "") + std::string("user") + std::to_string(g + i * groups);
    }
    y += ", acme" + std::to_string(g % 20) + "/team" + std::to_string(g * 10) + "]\n";
  }
  y += "servers:\n";
  const int per_server = std::max(1, o.principals / o.servers);
  int next_user = 0;
  for (int d = 0; d < 20; ++d) {
    y += "  domain" + std::to_string(d) + ".example.com:\n";
    for (int s = d; s < o.servers; s += 20) {
      y += "    server" + std::to_string(s) + ":\n";
      y += "      name: Server " + std::to_string(s) + "\n";
      y += "      resource: https://domain" + std::to_string(d) + ".example.com/mcp/" +
           std::to_string(s) + "\n";
      y += "      allowed_users: [";
      for (int i = 0; i < per_server; ++i) {
        y += (i ? ", " : "") + std::string("user") + std::to_string(next_user++ % o.principals);
      }
      y += ", group:group" + std::to_string(s % groups) + "]\n";
      y += "      allowed_teams: [acme" + std::to_string(s % 20) + "/team" +
           std::to_string(s % 200) + ", \"corp:ops/team" + std::to_string(s % 7) + "\"]\n";
      y += "      allowed_email_domains: [d" + std::to_string(s % 50) + ".example.org]\n";
      y += "      denied_users: [user" + std::to_string((s * 7919) % o.principals) + "]\n";
      y += "      denied_teams: [acme" + std::to_string(s % 20) + "/contractors]\n";
      if (s % 10 == 0) {
        y += "      scopes:\n        read: {}\n        write:\n          allowed_users: [user" +
             std::to_string(s % o.principals) + "]\n";
      }
    }
  }
  return y;
}

bool parseArgs(int argc, char** argv, Options& o) {
  for (int i = 1; i + 1 < argc; i += 2) {
    const char* k = argv[i];
    const char* v = argv[i + 1];
    if (!std::strcmp(k, "--servers")) {
      o.servers = std::atoi(v);
    } else if (!std::strcmp(k, "--principals")) {
      o.principals = std::atoi(v);
    } else if (!std::strcmp(k, "--seconds")) {
      o.seconds = std::atof(v);
    } else if (!std::strcmp(k, "--reloads")) {
      o.reloads = std::atoi(v);
    } else if (!std::strcmp(k, "--seed")) {
      o.seed = static_cast<unsigned>(std::atoi(v));
    } else {
      return false;
    }
  }
  return argc % 2 == 1 && o.servers >= 20 && o.principals >= o.servers && o.seconds > 0 &&
         o.seconds <= 60 && o.reloads > 0 && o.reloads <= 100;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  if (!parseArgs(argc, argv, o)) {
    std::fprintf(stderr,
                 "usage: bench_policy [--servers N>=20] [--principals N>=servers] "
                 "[--seconds 0-60] [--reloads 1-100] [--seed N]\n");
    return 2;
  }
  const std::string yaml = generate(o);

  // Reload: parse + compile, as a SIGHUP or a file change does (minus reading the file).
  std::vector<double> reload_ms, reload_cpu_ms;
  std::shared_ptr<const broker::policy::Policy> policy;
  for (int i = 0; i < o.reloads; ++i) {
    auto start = Clock::now();
    const double cpu_start = threadCpuSeconds();
    policy = broker::policy::Policy::loadString(yaml, "generated.yaml");
    reload_cpu_ms.push_back((threadCpuSeconds() - cpu_start) * 1e3);
    reload_ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - start).count());
  }
  std::sort(reload_ms.begin(), reload_ms.end());
  std::sort(reload_cpu_ms.begin(), reload_cpu_ms.end());

  std::vector<std::string> scopes;
  for (const auto* s : policy->servers()) {
    scopes.push_back(s->scope);
    scopes.insert(scopes.end(), s->sub_scopes.begin(), s->sub_scopes.end());
  }
  // A fixed pool of identities so the loop measures evaluation, not string building.
  std::mt19937 rng(o.seed);
  std::vector<broker::Identity> people(4096);
  for (auto& w : people) {
    int u = static_cast<int>(rng() % static_cast<unsigned>(o.principals));
    w.upstream_id = rng() % 10 ? "github" : "corp";
    w.subject = std::to_string(u);
    w.username = "user" + std::to_string(u);
    const int org = static_cast<int>(rng() % 20);
    w.groups = {"acme" + std::to_string(org),
                "acme" + std::to_string(org) + "/team" + std::to_string(rng() % 200),
                "acme" + std::to_string(org) + "/team" + std::to_string(rng() % 200)};
    if (rng() % 3 == 0) {
      w.email = w.username + "@d" + std::to_string(rng() % 50) + ".example.org";
      w.email_verified = true;
    }
  }
  std::vector<uint32_t> picks(1 << 16);
  for (auto& p : picks) p = static_cast<uint32_t>(rng());

  uint64_t evaluations = 0, allowed = 0;
  const auto deadline = Clock::now() + std::chrono::duration<double>(o.seconds);
  const auto start = Clock::now();
  const double cpu_start = threadCpuSeconds();
  while (Clock::now() < deadline && evaluations < 500000000ULL) {
    for (int i = 0; i < 1024; ++i, ++evaluations) {
      uint32_t p = picks[evaluations & (picks.size() - 1)];
      const auto& who = people[p % people.size()];
      const auto& scope = scopes[(p >> 12) % scopes.size()];
      allowed += policy->evaluate(who, scope).allowed ? 1 : 0;
    }
  }
  const double cpu = threadCpuSeconds() - cpu_start;
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  const double n = static_cast<double>(evaluations);
  // eval_per_s: by the wall clock; eval_cpu_us: CPU per evaluation, and its inverse, the rate
  // one otherwise idle core sustains.
  std::printf(
      "policy servers=%d scopes=%zu principals=%d file_bytes=%zu evaluations=%llu allowed=%llu "
      "seconds=%.2f eval_per_s=%.0f eval_cpu_us=%.3f eval_per_cpu_s=%.0f reload_ms_median=%.1f "
      "reload_ms_max=%.1f reload_cpu_ms_median=%.1f\n",
      o.servers, scopes.size(), o.principals, yaml.size(),
      static_cast<unsigned long long>(evaluations), static_cast<unsigned long long>(allowed),
      elapsed, n / elapsed, cpu * 1e6 / n, n / cpu, reload_ms[reload_ms.size() / 2],
      reload_ms.back(), reload_cpu_ms[reload_cpu_ms.size() / 2]);
  return 0;
}
