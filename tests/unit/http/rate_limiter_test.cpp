#include "http/rate_limiter.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace broker::http {
namespace {

class FakeSeconds {
 public:
  double now = 1000;
  RateLimiter::Now fn() {
    return [this] { return now; };
  }
};

RateLimits only(RateGroup g, RateLimit limit) {
  RateLimits limits{};
  limits[static_cast<size_t>(g)] = limit;
  return limits;
}

TEST(TokenBucket, BurstThenRefillAtTheSustainedRate) {
  struct Step {
    double at;
    bool allowed;
    double wait;  // seconds until the next token when refused
  };
  const RateLimit limit{3, 0.5};  // 3 at once, then one per 2 s
  const std::vector<Step> steps = {{0, true, 0},   {0, true, 0},   {0, true, 0},   {0, false, 2},
                                   {1, false, 1},  {2, true, 0},   {2, false, 2},  {100, true, 0},
                                   {100, true, 0}, {100, true, 0}, {100, false, 2}};
  TokenBucket b{3, 0};
  for (size_t i = 0; i < steps.size(); ++i) {
    const double wait = b.take(limit, steps[i].at);
    EXPECT_EQ(wait == 0, steps[i].allowed) << "step " << i;
    EXPECT_DOUBLE_EQ(wait, steps[i].wait) << "step " << i;
  }
}

TEST(RateLimiter, RefusesPastTheBurstWithWholeSecondsToWait) {
  FakeSeconds clock;
  RateLimiter limiter(only(RateGroup::kRegister, {2, 0.1}), clock.fn());
  EXPECT_FALSE(limiter.admit(RateGroup::kRegister, "192.0.2.1"));
  EXPECT_FALSE(limiter.admit(RateGroup::kRegister, "192.0.2.1"));
  EXPECT_EQ(limiter.admit(RateGroup::kRegister, "192.0.2.1"), 10);
  clock.now += 9.5;
  EXPECT_EQ(limiter.admit(RateGroup::kRegister, "192.0.2.1"), 1);  // 0.5 s rounds up
  clock.now += 1;
  EXPECT_FALSE(limiter.admit(RateGroup::kRegister, "192.0.2.1"));
}

TEST(RateLimiter, AddressesAndGroupsHaveSeparateBuckets) {
  FakeSeconds clock;
  RateLimits limits{};
  limits[static_cast<size_t>(RateGroup::kRegister)] = {1, 0.1};
  limits[static_cast<size_t>(RateGroup::kToken)] = {1, 0.1};
  RateLimiter limiter(limits, clock.fn());
  EXPECT_FALSE(limiter.admit(RateGroup::kRegister, "192.0.2.1"));
  EXPECT_TRUE(limiter.admit(RateGroup::kRegister, "192.0.2.1"));
  EXPECT_FALSE(limiter.admit(RateGroup::kRegister, "192.0.2.2"));
  EXPECT_FALSE(limiter.admit(RateGroup::kToken, "192.0.2.1"));
  EXPECT_TRUE(limiter.admit(RateGroup::kToken, "192.0.2.1"));
}

TEST(RateLimiter, ZeroBurstOrRateTurnsAGroupOff) {
  FakeSeconds clock;
  RateLimits limits{};
  limits[static_cast<size_t>(RateGroup::kToken)] = {0, 10};
  limits[static_cast<size_t>(RateGroup::kInspect)] = {10, 0};
  RateLimiter limiter(limits, clock.fn());
  for (int i = 0; i < 1000; ++i) {
    ASSERT_FALSE(limiter.admit(RateGroup::kToken, "192.0.2.1"));
    ASSERT_FALSE(limiter.admit(RateGroup::kInspect, "192.0.2.1"));
    ASSERT_FALSE(limiter.admit(RateGroup::kBrowser, "192.0.2.1"));  // unset = 0
  }
  EXPECT_EQ(limiter.buckets(RateGroup::kToken), 0u);
}

TEST(RateLimiter, ASprayOfAddressesCannotGrowMemoryPastTheBound) {
  FakeSeconds clock;
  RateLimiter limiter(only(RateGroup::kRegister, {1, 0.001}), clock.fn(), 160);
  EXPECT_FALSE(limiter.admit(RateGroup::kRegister, "203.0.113.1"));
  EXPECT_TRUE(limiter.admit(RateGroup::kRegister, "203.0.113.1"));
  for (int i = 0; i < 10000; ++i) {
    clock.now += 0.001;
    limiter.admit(RateGroup::kRegister,
                  "10.0." + std::to_string(i / 256) + "." + std::to_string(i % 256));
    ASSERT_LE(limiter.buckets(RateGroup::kRegister), 160u);
  }
  // The least recently used bucket went first: the spray evicted the early address, which gets a
  // fresh bucket; a recently used one keeps its empty bucket.
  EXPECT_FALSE(limiter.admit(RateGroup::kRegister, "203.0.113.1"));
  EXPECT_TRUE(limiter.admit(RateGroup::kRegister, "203.0.113.1"));
  EXPECT_TRUE(limiter.admit(RateGroup::kRegister, "10.0.39.15"));  // the last of the spray
}

// Counting only failures: peek() refuses once admit() has used the bucket up, and takes nothing.
TEST(RateLimiter, PeekRefusesOnceFailuresUsedTheBucketUpWithoutTakingATokenItself) {
  FakeSeconds clock;
  RateLimiter limiter(only(RateGroup::kToken, {3, 0.05}), clock.fn());
  for (int i = 0; i < 100; ++i) ASSERT_FALSE(limiter.peek(RateGroup::kToken, "client-a"));
  for (int i = 0; i < 3; ++i) {
    EXPECT_FALSE(limiter.peek(RateGroup::kToken, "client-a"));
    EXPECT_FALSE(limiter.admit(RateGroup::kToken, "client-a"));
  }
  EXPECT_EQ(limiter.peek(RateGroup::kToken, "client-a"), 20);
  EXPECT_FALSE(limiter.peek(RateGroup::kToken, "client-b"));
  clock.now += 20;
  EXPECT_FALSE(limiter.peek(RateGroup::kToken, "client-a"));
}

TEST(Cidr, ParsesStrictlyAndMatchesByPrefix) {
  struct Case {
    const char* network;
    const char* address;
    bool contains;
  };
  const std::vector<Case> cases = {
      {"127.0.0.1", "127.0.0.1", true},
      {"127.0.0.1", "127.0.0.2", false},
      {"10.0.0.0/8", "10.255.1.2", true},
      {"10.0.0.0/8", "11.0.0.1", false},
      {"192.168.4.0/22", "192.168.7.255", true},
      {"192.168.4.0/22", "192.168.8.0", false},
      {"0.0.0.0/0", "203.0.113.9", true},
      {"10.0.0.0/8", "::ffff:10.1.2.3", true},
      {"10.0.0.0/8", "2001:db8::1", false},
      {"2001:db8::/32", "2001:db8:ffff::1", true},
      {"2001:db8::/32", "2001:db9::1", false},
      {"::1", "::1", true},
      {"::1", "127.0.0.1", false},
      {"10.0.0.0/8", "not-an-address", false},
  };
  for (const auto& c : cases) {
    auto n = Cidr::parse(c.network);
    ASSERT_TRUE(n) << c.network;
    EXPECT_EQ(n->contains(c.address), c.contains) << c.network << " " << c.address;
  }
  for (const char* bad : {"", "10.0.0.0/", "10.0.0.0/33", "::/129", "10.0.0.1/8", "10.0.0.0/8x",
                          "10.0.0.0/-1", "localhost", "10.0.0", "10.0.0.0/08x", "1.2.3.4 "}) {
    EXPECT_FALSE(Cidr::parse(bad)) << bad;
  }
}

// One IPv6 host usually holds a whole /64: its addresses share one bucket, so rotating through
// them buys no fresh burst. IPv4, also written IPv4-mapped, is keyed by the address itself.
TEST(RateKey, Ipv6AddressesInOne64ShareAKeyAndMappedIpv4IsIpv4) {
  EXPECT_EQ(rateKey("192.0.2.7"), "192.0.2.7");
  EXPECT_EQ(rateKey("::ffff:192.0.2.7"), "192.0.2.7");
  EXPECT_EQ(rateKey("2001:db8:1:2::1"), "2001:db8:1:2::/64");
  EXPECT_EQ(rateKey("2001:db8:1:2:ffff:ffff:ffff:ffff"), rateKey("2001:db8:1:2::1"));
  EXPECT_NE(rateKey("2001:db8:1:3::1"), rateKey("2001:db8:1:2::1"));
  EXPECT_EQ(rateKey("::1"), "::/64");
  EXPECT_EQ(rateKey("not an address"), "not an address");

  RateLimits limits{};
  limits[static_cast<size_t>(RateGroup::kRegister)] = {1, 0.001};
  RateLimiter limiter(limits, [] { return 0.0; });
  EXPECT_FALSE(limiter.admit(RateGroup::kRegister, rateKey("2001:db8:1:2::1")));
  EXPECT_TRUE(limiter.admit(RateGroup::kRegister, rateKey("2001:db8:1:2::2")));
  EXPECT_FALSE(limiter.admit(RateGroup::kRegister, rateKey("2001:db8:1:3::1")));
}

TEST(ClientAddress, ForwardedForCountsOnlyFromATrustedProxy) {
  const std::vector<Cidr> trusted = {*Cidr::parse("127.0.0.1"), *Cidr::parse("10.0.0.0/8")};
  struct Case {
    const char* peer;
    std::optional<std::string> forwarded;
    bool trust_peer;
    const char* expected;
  };
  const std::vector<Case> cases = {
      // A client talking to us directly chooses its X-Forwarded-For: ignored.
      {"192.0.2.7", "198.51.100.1", false, "192.0.2.7"},
      {"127.0.0.1", std::nullopt, false, "127.0.0.1"},
      // From a trusted proxy: the right-most entry, the address the proxy saw.
      {"127.0.0.1", "198.51.100.1", false, "198.51.100.1"},
      {"127.0.0.1", "203.0.113.5, 198.51.100.1", false, "198.51.100.1"},
      // Entries that are trusted proxies themselves are skipped.
      {"127.0.0.1", "203.0.113.5, 198.51.100.1, 10.1.1.1", false, "198.51.100.1"},
      {"127.0.0.1", "10.1.1.1, 10.2.2.2", false, "10.1.1.1"},
      // A malformed entry stops the walk at the last trusted hop.
      {"127.0.0.1", "198.51.100.1, junk", false, "127.0.0.1"},
      {"127.0.0.1", "198.51.100.1, junk, 10.1.1.1", false, "10.1.1.1"},
      {"127.0.0.1", "", false, "127.0.0.1"},
      // server.trust_proxy trusts the direct peer only.
      {"192.0.2.7", "203.0.113.5, 198.51.100.1", true, "198.51.100.1"},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(clientAddress(c.peer, c.forwarded, trusted, c.trust_peer), c.expected)
        << c.peer << " / " << c.forwarded.value_or("(none)");
  }
}

}  // namespace
}  // namespace broker::http
