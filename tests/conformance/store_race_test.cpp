// Store conformance: races on single-use rows. Each race runs kRaceRounds times, with both
// callers on one Store (pooled connections) and on two Stores (two broker instances).

#include <gtest/gtest.h>

#include <atomic>
#include <functional>

#include "store_fixture.h"

namespace broker::store::testing {
namespace {

enum class Attempt { kWon, kLost, kFailed };

// Each round, `prepare` sets up the contested row, then both racers call `attempt` at once; every
// round must have exactly one winner and one loser. `check` then inspects the round's result.
void race(const std::vector<Store*>& racers, const std::function<void(int round)>& prepare,
          const std::function<Attempt(Store&, int round, int racer)>& attempt,
          const std::function<void(int round, int winner)>& check) {
  for (int round = 0; round < kRaceRounds; ++round) {
    prepare(round);
    if (::testing::Test::HasFatalFailure()) return;
    std::atomic<int> won{0};
    std::atomic<int> lost{0};
    std::atomic<int> winner{-1};
    runTogether(2, [&](int i) {
      switch (attempt(*racers[i], round, i)) {
        case Attempt::kWon:
          ++won;
          winner = i;
          break;
        case Attempt::kLost:
          ++lost;
          break;
        case Attempt::kFailed:
          break;
      }
    });
    ASSERT_EQ(won.load(), 1) << "round " << round;
    ASSERT_EQ(lost.load(), 1) << "round " << round;
    check(round, winner.load());
  }
}

void raceCodeConsumption(Store& setup, const std::vector<Store*>& racers, int64_t now) {
  ASSERT_TRUE(setup.createClient(sampleClient("c1")).ok());
  auto hash = [](int round) { return "code-" + std::to_string(round); };
  race(
      racers,
      [&](int round) {
        ASSERT_TRUE(setup.createAuthCode(sampleCode(hash(round), "c1", now)).ok());
      },
      [&](Store& store, int round, int) {
        auto r = store.consumeAuthCode(hash(round), now);
        if (!r.ok()) return Attempt::kFailed;
        return r->kind == CodeConsumption::Kind::kConsumed ? Attempt::kWon : Attempt::kLost;
      },
      [](int, int) {});
}

TEST_P(StoreConformance, ConcurrentConsumesOfOneCodeHaveExactlyOneWinner) {
  raceCodeConsumption(*store_, {store_.get(), store_.get()}, now_);
}

TEST_P(StoreConformance, ConsumesOfOneCodeFromTwoInstancesHaveExactlyOneWinner) {
  auto second = openSecondStore();
  raceCodeConsumption(*store_, {store_.get(), second.get()}, now_);
}

void raceLoginConsumption(Store& setup, const std::vector<Store*>& racers, int64_t now) {
  ASSERT_TRUE(setup.createClient(sampleClient("c1")).ok());
  auto hash = [](int round) { return "state-" + std::to_string(round); };
  race(
      racers,
      [&](int round) {
        ASSERT_TRUE(setup.createPendingLogin(sampleLogin(hash(round), "c1", now + 600)).ok());
      },
      [&](Store& store, int round, int) {
        auto r = store.consumePendingLogin(hash(round), now);
        if (r.ok()) return Attempt::kWon;
        return r.error().code == ErrorCode::kNotFound ? Attempt::kLost : Attempt::kFailed;
      },
      [](int, int) {});
}

TEST_P(StoreConformance, ConcurrentConsumesOfOnePendingLoginHaveExactlyOneWinner) {
  raceLoginConsumption(*store_, {store_.get(), store_.get()}, now_);
}

TEST_P(StoreConformance, ConsumesOfOnePendingLoginFromTwoInstancesHaveExactlyOneWinner) {
  auto second = openSecondStore();
  raceLoginConsumption(*store_, {store_.get(), second.get()}, now_);
}

// Each racer offers its own successor; exactly one of them may end up stored. Each round races
// on the previous round's winner, the head of one growing chain.
void raceRotation(Store& setup, const std::vector<Store*>& racers, int64_t now) {
  LiveFamily live(setup, now);
  std::string head = live.first.token_hash;
  auto candidate = [](int round, int racer) {
    return "r" + std::to_string(round) + (racer == 0 ? "-a" : "-b");
  };
  race(
      racers, [](int) {},
      [&](Store& store, int round, int racer) {
        auto r = store.rotateRefreshToken(head, live.successor(candidate(round, racer)), now);
        if (!r.ok()) return Attempt::kFailed;
        return r->kind == RotateOutcome::Kind::kRotated ? Attempt::kWon : Attempt::kLost;
      },
      [&](int round, int winner) {
        std::string stored = candidate(round, winner);
        EXPECT_TRUE(setup.getRefreshToken(stored).ok());
        EXPECT_TRUE(
            failsWith(setup.getRefreshToken(candidate(round, 1 - winner)), ErrorCode::kNotFound));
        EXPECT_EQ(setup.getRefreshToken(head)->successor_hash, stored);
        head = stored;
      });
}

TEST_P(StoreConformance, ConcurrentRotationsOfOneTokenRotateItOnce) {
  raceRotation(*store_, {store_.get(), store_.get()}, now_);
}

TEST_P(StoreConformance, RotationsOfOneTokenFromTwoInstancesRotateItOnce) {
  auto second = openSecondStore();
  raceRotation(*store_, {store_.get(), second.get()}, now_);
}

}  // namespace
}  // namespace broker::store::testing
