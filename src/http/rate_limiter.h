#pragma once
// Per-client-address token buckets, one set per endpoint group, and the rule that decides which
// address a request comes from. Everything here runs on the reactor thread before a request is
// dispatched: no I/O, a short critical section on one shard of the bucket map.

#include <array>
#include <cstdint>
#include <functional>
#include <list>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "broker/http/server.h"

namespace broker::http {

// A token bucket: holds up to `burst` tokens, refills `per_second` per second, and a request
// takes one. Times are seconds on a monotonic clock.
struct TokenBucket {
  double tokens = 0;
  double updated = 0;

  // Takes a token when there is one and returns 0; otherwise returns the seconds until the next
  // token (> 0) and takes nothing.
  double take(const RateLimit& limit, double now);
  // The seconds until a token is there (0 when there is one now).
  double wait(const RateLimit& limit, double now) const;
};

// An IPv4 or IPv6 network, "192.0.2.0/24", "2001:db8::/32" or a single address.
class Cidr {
 public:
  static std::optional<Cidr> parse(const std::string& text);
  bool contains(const std::string& address) const;

 private:
  int family_ = 0;
  std::array<unsigned char, 16> bytes_{};
  int bits_ = 0;
};

// The address a request is from: the socket peer, unless the peer is a trusted proxy; then the
// right-most X-Forwarded-For entry that is not itself a trusted proxy (entries to its left were
// written by whoever connected to the first proxy and prove nothing). A malformed entry ends the
// walk at the last trusted hop.
// `trust_peer` (server.trust_proxy, kept for old configs) trusts the direct peer whatever its
// address.
std::string clientAddress(const std::string& peer, const std::optional<std::string>& forwarded,
                          const std::vector<Cidr>& trusted, bool trust_peer = false);

// The bucket key for a client address: an IPv4 address as itself (also when it arrives
// IPv4-mapped, "::ffff:192.0.2.1"), an IPv6 address by its /64, since one host or one customer
// is given a whole /64 and could otherwise take a fresh bucket per address. Anything else (a
// name, garbage) as it is.
std::string rateKey(const std::string& address);

class RateLimiter {
 public:
  using Now = std::function<double()>;  // monotonic seconds
  static double steadySeconds();        // the production Now
  static constexpr size_t kDefaultMaxBuckets = 100000;

  RateLimiter(RateLimits limits, Now now, size_t max_buckets_per_group = kDefaultMaxBuckets);

  // Takes a token for `address` in `group`: nullopt when allowed, else the whole seconds to wait
  // before asking again (at least 1).
  std::optional<int64_t> admit(RateGroup group, const std::string& address);
  // The wait admit() would answer, without taking a token: for counting only failures (take
  // with admit() after one) while refusing further attempts once they are used up.
  std::optional<int64_t> peek(RateGroup group, const std::string& key) const;
  size_t buckets(RateGroup group) const;  // for tests

 private:
  static constexpr size_t kShards = 16;
  struct Shard {
    mutable std::mutex mu;
    // Least recently used at the front; the map points into the list.
    std::list<std::pair<std::string, TokenBucket>> lru;
    std::unordered_map<std::string, std::list<std::pair<std::string, TokenBucket>>::iterator> index;
  };
  RateLimits limits_;
  Now now_;
  size_t max_per_shard_;
  std::vector<Shard> shards_;  // kShards per group
};

}  // namespace broker::http
