// Reloading a policy: the file watcher, and the property that an edited file is either installed
// whole or rejected with the previous policy still in place.

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <mutex>
#include <random>
#include <regex>
#include <sstream>
#include <thread>

#include "broker/oauth/broker.h"
#include "broker/policy/file_watcher.h"
#include "broker/policy/policy.h"
#include "fakes/broker_process.h"

namespace broker::policy {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using testing::TempDir;
using testing::writeFile;

// Counts callbacks and lets a test wait for the next one.
class Calls {
 public:
  void hit() {
    std::lock_guard<std::mutex> lock(mu_);
    ++count_;
    cv_.notify_all();
  }
  // True when the count reached `n` within `timeout`.
  bool waitFor(int n, std::chrono::milliseconds timeout = 5000ms) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return count_ >= n; });
  }
  int count() {
    std::lock_guard<std::mutex> lock(mu_);
    return count_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int count_ = 0;
};

// A watched policy.yaml in a fresh directory, with short settle times.
class PolicyFileWatcher : public ::testing::Test {
 protected:
  // Writes `content` to the file and starts watching it; `on_change` runs before the count.
  void watch(const std::string& content, std::function<void()> on_change = {}) {
    writeFile(path_, content);
    FileWatcher::Options o;
    o.settle = 30ms;
    o.max_wait = 500ms;
    watcher_ = FileWatcher::start(
        path_,
        [this, on_change] {
          if (on_change) on_change();
          calls_.hit();
        },
        o);
    ASSERT_NE(watcher_, nullptr);
  }

  TempDir dir_;
  const std::string path_ = dir_.file("policy.yaml");
  Calls calls_;
  std::unique_ptr<FileWatcher> watcher_;
};

TEST_F(PolicyFileWatcher, RenameReplaceIsSeen) {
  watch("one\n");
  writeFile(dir_.file(".policy.yaml.tmp"), "two\n");
  ASSERT_EQ(std::rename(dir_.file(".policy.yaml.tmp").c_str(), path_.c_str()), 0);
  EXPECT_TRUE(calls_.waitFor(1));
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(calls_.count(), 1);  // one edit, one callback
}

TEST_F(PolicyFileWatcher, InPlaceRewriteIsSeen) {
  watch("one\n");
  writeFile(path_, "two\n");
  EXPECT_TRUE(calls_.waitFor(1));
  writeFile(path_, "three\n");
  EXPECT_TRUE(calls_.waitFor(2));
}

TEST_F(PolicyFileWatcher, UnchangedContentAndOtherFilesCauseNoCallback) {
  watch("same\n");
  writeFile(dir_.file(".policy.yaml.swp"), "editor state");  // an editor's swap file
  writeFile(dir_.file("other.yaml"), "x");
  writeFile(path_, "same\n");  // saved without a change
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(calls_.count(), 0);
  writeFile(path_, "changed\n");
  EXPECT_TRUE(calls_.waitFor(1));
}

TEST_F(PolicyFileWatcher, BusyNeighboursNeitherTriggerNorHoldBackACallback) {
  watch("one\n");
  // A database next to the policy that is written without pause.
  std::atomic<bool> stop{false};
  std::thread busy([&] {
    std::ofstream db(dir_.file("broker.db-wal"));
    for (int i = 0; i < 20000 && !stop; ++i) {
      db << i << std::flush;
      std::this_thread::sleep_for(1ms);
    }
  });
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(calls_.count(), 0);
  writeFile(path_, "two\n");
  EXPECT_TRUE(calls_.waitFor(1));
  stop = true;
  busy.join();
}

TEST_F(PolicyFileWatcher, AnOpenWriteIsWaitedFor) {
  std::string seen;
  watch("v1\n", [&] { seen = testing::readFile(path_); });
  {
    std::ofstream out(path_, std::ios::trunc);
    out << "first half\n" << std::flush;
    std::this_thread::sleep_for(150ms);  // longer than settle, shorter than max_wait
    out << "second half\n";
  }
  ASSERT_TRUE(calls_.waitFor(1));
  EXPECT_EQ(seen, "first half\nsecond half\n");
}

TEST_F(PolicyFileWatcher, StopsPromptlyAndReportsAMissingDirectory) {
  watch("x");
  auto started = std::chrono::steady_clock::now();
  watcher_.reset();
  EXPECT_LT(std::chrono::steady_clock::now() - started, 1s);
  EXPECT_EQ(FileWatcher::start(dir_.file("absent/policy.yaml"), [] {}), nullptr);
}

// ---- property: random edits of a valid file load whole or are rejected, old policy kept -------

const char* const kBase = R"(# A policy with every feature, edited at random below.
default_upstream: github
default_scopes: [mcp:example.com:tools]
groups:
  platform: [acme/platform, "corp:ops/platform"]
  admins: [alice, "corp:root"]
servers:
  example.com:
    tools:
      name: Tools
      description: Repository tools
      resource: [https://example.com/mcp, "http://127.0.0.1:9000/mcp"]
      access_ttl: 15m
      upstreams: [github, corp]
      allowed_teams: [group:platform]
      allowed_users: [group:admins, bob]
      denied_users: [mallory]
      scopes:
        read:
          description: Read only
        write:
          allowed_users: [alice]
          denied_teams: [acme/contractors]
  docs.example.org:
    wiki:
      name: Wiki
      resource: https://docs.example.org/mcp
      allowed_orgs: [acme]
      allowed_groups: ["corp:employees"]
      allowed_email_domains: [example.org]
      denied_emails: [former@example.org]
)";

std::string mutate(std::string text, std::mt19937& rng) {
  static const std::string kAlphabet = " \n:-[]{},\"'#*/@.&!|>aZ09_\t";
  auto pick = [&](size_t n) { return std::uniform_int_distribution<size_t>(0, n - 1)(rng); };
  std::vector<std::string> lines;
  std::string line;
  std::istringstream in(text);
  while (std::getline(in, line)) lines.push_back(line);
  const size_t edits = 1 + pick(3);
  for (size_t e = 0; e < edits && !lines.empty(); ++e) {
    size_t i = pick(lines.size());
    switch (pick(7)) {
      case 0:  // delete a character
        if (!lines[i].empty()) lines[i].erase(pick(lines[i].size()), 1);
        break;
      case 1:  // insert a character
        lines[i].insert(pick(lines[i].size() + 1), 1, kAlphabet[pick(kAlphabet.size())]);
        break;
      case 2:  // delete a line
        lines.erase(lines.begin() + static_cast<long>(i));
        break;
      case 3:  // duplicate a line
        lines.insert(lines.begin() + static_cast<long>(i), lines[i]);
        break;
      case 4:  // swap with the next line
        if (i + 1 < lines.size()) std::swap(lines[i], lines[i + 1]);
        break;
      case 5:  // indent or dedent
        lines[i] =
            pick(2) ? "  " + lines[i] : lines[i].substr(std::min<size_t>(2, lines[i].size()));
        break;
      case 6:  // truncate the file here (an editor that crashed mid-write)
        lines.resize(i);
        break;
    }
  }
  std::string out;
  for (const auto& l : lines) out += l + "\n";
  return out;
}

Identity who(const std::string& upstream, const std::string& user,
             std::vector<std::string> groups = {}, const std::string& email = "") {
  Identity w;
  w.upstream_id = upstream;
  w.subject = user;
  w.username = user;
  w.groups = std::move(groups);
  w.email = email;
  w.email_verified = !email.empty();
  return w;
}

// Every decision a policy makes for a fixed set of identities and every scope it defines: the
// fingerprint that must not change while a rejected edit is in the air.
std::string decisions(const Policy& p) {
  const Identity people[] = {
      who("github", "alice"),
      who("github", "bob", {"acme", "acme/platform"}),
      who("github", "mallory", {"acme/platform"}),
      who("corp", "root"),
      who("corp", "x", {"employees", "ops/platform"}, "x@example.org"),
      who("corp", "former", {}, "former@example.org"),
  };
  std::string out;
  for (const auto* server : p.servers()) {
    std::vector<std::string> scopes = {server->scope};
    scopes.insert(scopes.end(), server->sub_scopes.begin(), server->sub_scopes.end());
    for (const auto& scope : scopes) {
      for (const auto& person : people) {
        auto d = p.evaluate(person, scope);
        out += scope + " " + person.username + " " + (d.allowed ? "+" : "-") + d.rule + "\n";
      }
    }
  }
  return out;
}

// A loaded policy is whole: every server's scope, sub-scopes and resources resolve to it, its
// default scopes exist, and loading the same text again gives the same policy.
void expectWhole(const std::shared_ptr<const Policy>& p, const std::string& text) {
  for (const auto* server : p->servers()) {
    EXPECT_EQ(p->findScope(server->scope), server);
    for (const auto& sub : server->sub_scopes) EXPECT_EQ(p->findScope(sub), server);
    for (const auto& r : server->resources) EXPECT_EQ(p->findResource(r), server);
  }
  for (const auto& s : p->defaultScopes()) EXPECT_NE(p->findScope(s), nullptr) << s;
  auto again = Policy::loadString(text, "edited.yaml");
  EXPECT_EQ(again->summary(), p->summary());
  EXPECT_EQ(decisions(*again), decisions(*p));
}

TEST(PolicyReloadProperty, RandomEditsLoadWholeOrLeaveTheOldPolicy) {
  const unsigned seed = 20261201;
  std::mt19937 rng(seed);
  const std::regex where(R"(^edited\.yaml(:\d+:\d+)?: [\s\S]+)");
  oauth::PolicySource source(Policy::loadString(kBase, "edited.yaml"));
  std::string current_text = kBase;
  int accepted = 0, rejected = 0;
  for (int i = 0; i < 400; ++i) {
    // Half the edits start from the base file, half from whatever is installed now.
    std::string text = mutate(i % 2 ? current_text : std::string(kBase), rng);
    SCOPED_TRACE("seed " + std::to_string(seed) + " edit " + std::to_string(i) + ":\n" + text);
    auto before = source.current();
    const std::string before_decisions = decisions(*before);

    // The loader throws PolicyError and nothing else.
    try {
      Policy::loadString(text, "edited.yaml");
    } catch (const PolicyError&) {
    } catch (const std::exception& e) {
      ADD_FAILURE() << "not a PolicyError: " << e.what();
    }

    // What the broker's reload does.
    auto loaded = Policy::tryLoadString(text, "edited.yaml");
    ASSERT_NE(loaded.policy == nullptr, loaded.error.empty());
    if (loaded.policy) {
      source.replace(loaded.policy);
      source.setLastError("");
    } else {
      source.setLastError(loaded.error);
    }

    if (loaded.policy) {
      ++accepted;
      EXPECT_EQ(source.current(), loaded.policy);
      expectWhole(loaded.policy, text);
      current_text = text;
    } else {
      ++rejected;
      EXPECT_TRUE(std::regex_match(loaded.error, where)) << loaded.error;
      EXPECT_EQ(source.current(), before);
      EXPECT_EQ(decisions(*source.current()), before_decisions);
      EXPECT_EQ(source.lastError(), loaded.error);
    }
  }
  // Both outcomes must actually be exercised, or the property says nothing.
  EXPECT_GT(accepted, 40);
  EXPECT_GT(rejected, 40);
}

}  // namespace
}  // namespace broker::policy
