// The broker is killed with SIGKILL in the middle of a refresh storm and started again on the same
// store (a SQLite file, a PostgreSQL database). No refresh family may be lost: a rotation the
// broker answered was committed first, so the client's last successor refreshes after the restart;
// a rotation it committed but never answered is replayed by the client with its previous token
// inside tokens.refresh_grace, which hands out the same successor; a rotation it never committed
// left the previous token current. Any other answer than a new token means a family was lost.

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <ostream>
#include <string>
#include <thread>
#include <vector>

#include "fakes/broker_process.h"
#include "fakes/oauth_driver.h"
#include "fakes/pg_database.h"

namespace broker::testing {
namespace {

constexpr int kClients = 16;
constexpr int kKills = 5;
constexpr int kRefreshesBetweenKills = 60;     // across all clients
constexpr int kRefreshesAfterLastRestart = 5;  // per client
constexpr auto kDowntime = std::chrono::milliseconds(300);
constexpr auto kPhaseLimit = std::chrono::seconds(30);

// One client following its own rotation chain. Only its own thread writes these while it runs.
struct Chain {
  RegisteredClient client;
  std::string current;  // the last refresh token the broker answered with
  std::atomic<long> refreshed{0};
  long refused = 0;      // could not connect: the broker was down
  long cut = 0;          // sent, but the connection ended without an answer: killed mid-request
  long unavailable = 0;  // 503: retry later
  std::string lost;      // why the family no longer refreshes; read after the thread ends
  std::atomic<bool> failed{false};  // set once `lost` is written
};

// Refreshes until told to stop. A request without an answer is retried with the same token: if
// the broker committed that rotation before it died, this is the replay within the grace window.
void followChain(const std::string& base, Chain& chain, const std::atomic<bool>& stop) {
  OAuthDriver driver(base);
  while (!stop.load()) {
    auto r = driver.refresh(chain.client, chain.current);
    if (r.status == 200 && !r.refresh_token.empty()) {
      chain.current = r.refresh_token;
      chain.refreshed.fetch_add(1);
      continue;
    }
    if (r.status == 0 || r.status == 503) {
      if (r.status == 503) {
        ++chain.unavailable;
      } else if (r.body.find("connect") != std::string::npos) {
        ++chain.refused;  // curl: "Couldn't connect to server"
      } else {
        ++chain.cut;  // "Empty reply from server", "Recv failure", "Send failure"
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      continue;
    }
    chain.lost = "HTTP " + std::to_string(r.status) + ": " + r.body;
    chain.failed = true;
    return;
  }
}

struct Backend {
  const char* name;
  bool postgres;
};
void PrintTo(const Backend& b, std::ostream* os) {
  *os << b.name;
}

class KillDuringRefreshStorm : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    if (GetParam().postgres) {
      db_ = std::make_unique<PgDatabase>();
      if (!db_->available()) GTEST_SKIP() << "TEST_DATABASE_URL is not set";
      config_.storage = db_->url();
    }
    broker_ = std::make_unique<BrokerProcess>(dir_, config_);
    broker_->start();
  }

  long totalRefreshed() const {
    long n = 0;
    for (const auto& c : chains_) n += c->refreshed.load();
    return n;
  }

  // Waits until `done` holds, the storm lost a family, or the phase limit passes.
  template <class Pred>
  bool waitFor(Pred done) const {
    auto deadline = std::chrono::steady_clock::now() + kPhaseLimit;
    while (std::chrono::steady_clock::now() < deadline) {
      if (done()) return true;
      for (const auto& c : chains_) {
        if (c->failed.load()) return false;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  }

  std::unique_ptr<PgDatabase> db_;
  TempDir dir_;
  BrokerConfig config_;
  std::unique_ptr<BrokerProcess> broker_;
  std::vector<std::unique_ptr<Chain>> chains_;
};

TEST_P(KillDuringRefreshStorm, NoFamilyIsLost) {
  OAuthDriver setup(broker_->url());
  for (int i = 0; i < kClients; ++i) {
    auto chain = std::make_unique<Chain>();
    chain->client = setup.registerClient();
    auto first = setup.login(chain->client, "alice");
    ASSERT_EQ(first.status, 200) << first.body;
    chain->current = first.refresh_token;
    chains_.push_back(std::move(chain));
  }

  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  for (auto& c : chains_) {
    threads.emplace_back(followChain, broker_->url(), std::ref(*c), std::cref(stop));
  }
  struct Joiner {
    std::atomic<bool>& stop;
    std::vector<std::thread>& threads;
    ~Joiner() {
      stop = true;
      for (auto& t : threads) t.join();
    }
  } joiner{stop, threads};

  int kills = 0;
  for (; kills < kKills; ++kills) {
    const long before = totalRefreshed();
    if (!waitFor([&] { return totalRefreshed() >= before + kRefreshesBetweenKills; })) break;
    broker_->kill9();
    std::this_thread::sleep_for(kDowntime);
    broker_->start();
  }
  EXPECT_EQ(kills, kKills) << "the storm stalled or lost a family before kill " << kills + 1;
  std::vector<long> at_restart;
  for (const auto& c : chains_) at_restart.push_back(c->refreshed.load());
  bool resumed = kills == kKills && waitFor([&] {
                   for (size_t i = 0; i < chains_.size(); ++i) {
                     if (chains_[i]->refreshed.load() < at_restart[i] + kRefreshesAfterLastRestart)
                       return false;
                   }
                   return true;
                 });
  stop = true;
  for (auto& t : threads) t.join();
  threads.clear();

  long cut = 0, refused = 0, unavailable = 0;
  for (size_t i = 0; i < chains_.size(); ++i) {
    const Chain& c = *chains_[i];
    EXPECT_EQ(c.lost, "") << "client " << i << " lost its refresh family";
    EXPECT_GE(c.refreshed.load(), at_restart[i] + kRefreshesAfterLastRestart)
        << "client " << i << " did not continue after the last restart";
    cut += c.cut;
    refused += c.refused;
    unavailable += c.unavailable;
  }
  EXPECT_TRUE(resumed);
  // The kills must have cut requests in flight, or this test proved nothing about them.
  EXPECT_GT(cut, 0) << "no request was in flight at any kill";

  // Every chain still refreshes, and the family of the last token is alive (not revoked by a
  // replay outside the grace window).
  OAuthDriver check(broker_->url());
  for (size_t i = 0; i < chains_.size(); ++i) {
    auto r = check.refresh(chains_[i]->client, chains_[i]->current);
    EXPECT_EQ(r.status, 200) << "client " << i << ": " << r.body;
  }
  const std::string logs = broker_->logs();
  size_t replays = 0;
  for (size_t at = logs.find("refresh_grace_replay"); at != std::string::npos;
       at = logs.find("refresh_grace_replay", at + 1)) {
    ++replays;
  }
  std::printf(
      "%s: %d kills, %ld refreshes, %ld requests cut by a kill, %ld refused while down, "
      "%ld answered 503, %zu replays within the grace window\n",
      GetParam().name, kKills, totalRefreshed(), cut, refused, unavailable, replays);
}

INSTANTIATE_TEST_SUITE_P(Backends, KillDuringRefreshStorm,
                         ::testing::Values(Backend{"sqlite", false}, Backend{"postgres", true}),
                         [](const auto& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace broker::testing
