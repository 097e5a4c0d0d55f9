// The broker under the system-call filter of its systemd unit (packaging/), without systemd as
// PID 1: the unit's SystemCallFilter= lines are expanded with `systemd-analyze syscall-filter`
// into the list systemd would load, and the broker runs a whole sign-in, refresh, reload and
// drain under a seccomp filter of that list that answers EPERM to any other call, like the unit
// (SystemCallErrorNumber=EPERM). Run as root, SQLite also calls fchown (to keep a new file's owner
// that of the database), which @privileged removes; it ignores the EPERM, and under the unit's
// DynamicUser it never makes the call.

#include <gtest/gtest.h>

#include <csignal>
#include <fstream>
#include <set>
#include <sstream>
#include <string>

#include "fakes/broker_process.h"
#include "fakes/oauth_driver.h"

namespace broker::testing {
namespace {

// The calls of one set, with its nested sets expanded.
void expandSet(const std::string& set, std::set<std::string>& out, std::set<std::string>& seen) {
  if (!seen.insert(set).second) return;
  auto r = runCommand({"/usr/bin/systemd-analyze", "syscall-filter", set});
  ASSERT_EQ(r.exit_code, 0) << "systemd-analyze syscall-filter " << set << ": " << r.output;
  std::istringstream in(r.output);
  std::string line;
  bool first = true;
  while (std::getline(in, line)) {
    const size_t start = line.find_first_not_of(' ');
    if (start == std::string::npos || line[start] == '#') continue;
    const std::string word = line.substr(start);
    if (first) {  // the set's own name heads the listing
      first = false;
      continue;
    }
    if (word[0] == '@') {
      expandSet(word, out, seen);
    } else {
      out.insert(word);
    }
  }
}

std::set<std::string> expand(const std::string& entries) {
  std::set<std::string> out, seen;
  std::istringstream in(entries);
  std::string word;
  while (in >> word) {
    if (word[0] == '@') {
      expandSet(word, out, seen);
    } else {
      out.insert(word);
    }
  }
  return out;
}

// What systemd loads for the unit: @default (added to every allow list), the allowed entries,
// minus every "~" line's entries.
std::set<std::string> unitAllowList() {
  std::ifstream unit(std::string(BROKER_SOURCE_DIR) + "/packaging/mcp-auth-broker.service.in");
  std::string line, allow = "@default", deny;
  while (std::getline(unit, line)) {
    const std::string key = "SystemCallFilter=";
    if (line.rfind(key, 0) != 0) continue;
    const std::string value = line.substr(key.size());
    (value[0] == '~' ? deny : allow) += " " + (value[0] == '~' ? value.substr(1) : value);
  }
  EXPECT_NE(allow, "@default") << "the unit has no SystemCallFilter";
  std::set<std::string> calls = expand(allow);
  for (const auto& c : expand(deny)) calls.erase(c);
  return calls;
}

std::string writeAllowList(const TempDir& dir, const std::set<std::string>& calls) {
  const std::string path = dir.file("syscalls.allow");
  std::ofstream out(path);
  for (const auto& c : calls) out << c << "\n";
  return path;
}

TEST(ServiceSandbox, TheBrokerRunsAFlowReloadsAndDrainsUnderTheUnitsSyscallFilter) {
  ASSERT_STRNE(SECCOMP_EXEC, "") << "build with libseccomp-dev (scripts/deps --test)";
  TempDir dir;
  const auto calls = unitAllowList();
  ASSERT_GT(calls.size(), 100u);
  // The filter leaves out what the unit takes away.
  EXPECT_EQ(calls.count("mount"), 0u);
  EXPECT_EQ(calls.count("setrlimit"), 0u);
  EXPECT_EQ(calls.count("ptrace"), 0u);
  BrokerConfig cfg;
  cfg.launcher = {SECCOMP_EXEC, writeAllowList(dir, calls)};
  BrokerProcess broker(dir, cfg);
  broker.start();

  OAuthDriver driver(broker.url());
  auto client = driver.registerClient();
  auto t = driver.login(client, "bob", "mcp:localhost:demo mcp:localhost:admin");
  ASSERT_EQ(t.status, 200) << t.body << broker.logs();
  auto r = driver.refresh(client, t.refresh_token);
  ASSERT_EQ(r.status, 200) << r.body;
  HttpClient http;
  EXPECT_EQ(http.get(broker.url() + "/.well-known/jwks.json").status, 200);

  // systemctl reload: SIGHUP reloads the policy; the file watcher (inotify) sees edits too.
  std::string edited = defaultTestPolicy();
  edited.replace(edited.find("allowed_users: [bob]"), 20, "allowed_users: [carol]");
  writeFile(broker.policyPath(), edited);
  broker.signal(SIGHUP);
  bool reloaded = false;
  for (int i = 0; i < 200 && !reloaded; ++i) {
    reloaded = broker.logs().find(R"("trigger":"SIGHUP")") != std::string::npos;
    if (!reloaded) usleep(50000);
  }
  EXPECT_TRUE(reloaded) << broker.logs();
  EXPECT_EQ(driver.login(client, "carol", "mcp:localhost:admin").scope, "mcp:localhost:admin");

  // systemctl stop: SIGTERM drains and exits 0 (not killed by the filter on the way out).
  EXPECT_EQ(broker.stop(), 0) << broker.logs();
  EXPECT_NE(broker.logs().find("\"event\":\"stopped\""), std::string::npos) << broker.logs();
}

TEST(ServiceSandbox, TheFilterIsEnforced) {
  ASSERT_STRNE(SECCOMP_EXEC, "") << "build with libseccomp-dev (scripts/deps --test)";
  TempDir dir;
  auto calls = unitAllowList();
  calls.erase("bind");  // a broker that cannot listen must stop, not run unfiltered
  BrokerConfig cfg;
  cfg.launcher = {SECCOMP_EXEC, writeAllowList(dir, calls)};
  BrokerProcess broker(dir, cfg);
  EXPECT_THROW(broker.start(), std::runtime_error);
}

}  // namespace
}  // namespace broker::testing
