#include "http/rate_limiter.h"

#include <arpa/inet.h>

#include <algorithm>
#include <chrono>
#include <cmath>

#include "http/strings.h"

namespace broker::http {

double TokenBucket::take(const RateLimit& limit, double now) {
  const double cap = static_cast<double>(limit.burst);
  if (now > updated) tokens = std::min(cap, tokens + (now - updated) * limit.per_second);
  updated = std::max(updated, now);
  if (tokens >= 1) {
    tokens -= 1;
    return 0;
  }
  return (1 - tokens) / limit.per_second;
}

double TokenBucket::wait(const RateLimit& limit, double now) const {
  const double have = std::min(static_cast<double>(limit.burst),
                               tokens + std::max(0.0, now - updated) * limit.per_second);
  return have >= 1 ? 0 : (1 - have) / limit.per_second;
}

std::optional<Cidr> Cidr::parse(const std::string& text) {
  Cidr c;
  const size_t slash = text.find('/');
  const std::string addr = text.substr(0, slash);
  if (inet_pton(AF_INET, addr.c_str(), c.bytes_.data()) == 1) {
    c.family_ = AF_INET;
    c.bits_ = 32;
  } else if (inet_pton(AF_INET6, addr.c_str(), c.bytes_.data()) == 1) {
    c.family_ = AF_INET6;
    c.bits_ = 128;
  } else {
    return std::nullopt;
  }
  if (slash != std::string::npos) {
    const std::string bits = text.substr(slash + 1);
    if (bits.empty() || bits.size() > 3 ||
        !std::all_of(bits.begin(), bits.end(), [](char ch) { return ch >= '0' && ch <= '9'; })) {
      return std::nullopt;
    }
    const int n = std::stoi(bits);
    if (n > c.bits_) return std::nullopt;
    c.bits_ = n;
  }
  // Host bits set ("10.0.0.1/8") are a typo more often than not: refuse them.
  for (int i = c.bits_; i < (c.family_ == AF_INET ? 32 : 128); ++i) {
    if (c.bytes_[static_cast<size_t>(i / 8)] & (0x80 >> (i % 8))) return std::nullopt;
  }
  return c;
}

bool Cidr::contains(const std::string& address) const {
  std::array<unsigned char, 16> b{};
  if (inet_pton(family_, address.c_str(), b.data()) != 1) {
    // An IPv4-mapped IPv6 peer ("::ffff:127.0.0.1") matches an IPv4 network.
    if (family_ != AF_INET || address.rfind("::ffff:", 0) != 0 ||
        inet_pton(AF_INET, address.c_str() + 7, b.data()) != 1) {
      return false;
    }
  }
  for (int i = 0; i < bits_; ++i) {
    const auto byte = static_cast<size_t>(i / 8);
    const int mask = 0x80 >> (i % 8);
    if ((b[byte] & mask) != (bytes_[byte] & mask)) return false;
  }
  return true;
}

namespace {

bool isAddress(const std::string& s) {
  unsigned char buf[16];
  return inet_pton(AF_INET, s.c_str(), buf) == 1 || inet_pton(AF_INET6, s.c_str(), buf) == 1;
}

bool trustedAddress(const std::string& a, const std::vector<Cidr>& trusted) {
  return std::any_of(trusted.begin(), trusted.end(), [&](const Cidr& c) { return c.contains(a); });
}

}  // namespace

std::string clientAddress(const std::string& peer, const std::optional<std::string>& forwarded,
                          const std::vector<Cidr>& trusted, bool trust_peer) {
  if (!forwarded || !(trust_peer || trustedAddress(peer, trusted))) return peer;
  std::string client = peer;
  std::string_view rest(*forwarded);
  while (true) {
    const size_t comma = rest.rfind(',');
    const std::string hop(trimOws(comma == std::string_view::npos ? rest : rest.substr(comma + 1)));
    if (!isAddress(hop)) return client;
    client = hop;
    if (!trustedAddress(hop, trusted) || comma == std::string_view::npos) return client;
    rest = rest.substr(0, comma);
  }
}

std::string rateKey(const std::string& address) {
  unsigned char b[16];
  if (inet_pton(AF_INET, address.c_str(), b) == 1) return address;
  if (inet_pton(AF_INET6, address.c_str(), b) != 1) return address;
  static constexpr unsigned char kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  char text[INET6_ADDRSTRLEN];
  if (std::equal(std::begin(kMapped), std::end(kMapped), b)) {
    return inet_ntop(AF_INET, b + 12, text, sizeof text) ? std::string(text) : address;
  }
  std::fill(b + 8, b + 16, 0);
  return inet_ntop(AF_INET6, b, text, sizeof text) ? std::string(text) + "/64" : address;
}

double RateLimiter::steadySeconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

RateLimiter::RateLimiter(RateLimits limits, Now now, size_t max_buckets_per_group)
    : limits_(limits),
      now_(std::move(now)),
      max_per_shard_(std::max<size_t>(1, max_buckets_per_group / kShards)),
      shards_(kShards * kRateGroupCount) {}

std::optional<int64_t> RateLimiter::admit(RateGroup group, const std::string& address) {
  const RateLimit& limit = limits_[static_cast<size_t>(group)];
  if (limit.burst <= 0 || limit.per_second <= 0) return std::nullopt;
  const double now = now_();
  Shard& s =
      shards_[static_cast<size_t>(group) * kShards + std::hash<std::string>{}(address) % kShards];
  std::lock_guard<std::mutex> lock(s.mu);
  auto it = s.index.find(address);
  if (it == s.index.end()) {
    if (s.index.size() >= max_per_shard_) {
      // Full: forget the least recently used address. Its bucket is most likely full again, and
      // at worst that address gets a fresh burst.
      s.index.erase(s.lru.front().first);
      s.lru.pop_front();
    }
    s.lru.emplace_back(address, TokenBucket{static_cast<double>(limit.burst), now});
    it = s.index.emplace(address, std::prev(s.lru.end())).first;
  } else {
    s.lru.splice(s.lru.end(), s.lru, it->second);
  }
  const double wait = it->second->second.take(limit, now);
  if (wait <= 0) return std::nullopt;
  return std::max<int64_t>(1, static_cast<int64_t>(std::ceil(wait)));
}

std::optional<int64_t> RateLimiter::peek(RateGroup group, const std::string& key) const {
  const RateLimit& limit = limits_[static_cast<size_t>(group)];
  if (limit.burst <= 0 || limit.per_second <= 0) return std::nullopt;
  const Shard& s =
      shards_[static_cast<size_t>(group) * kShards + std::hash<std::string>{}(key) % kShards];
  std::lock_guard<std::mutex> lock(s.mu);
  auto it = s.index.find(key);
  if (it == s.index.end()) return std::nullopt;
  const double wait = it->second->second.wait(limit, now_());
  if (wait <= 0) return std::nullopt;
  return std::max<int64_t>(1, static_cast<int64_t>(std::ceil(wait)));
}

size_t RateLimiter::buckets(RateGroup group) const {
  size_t n = 0;
  for (size_t i = 0; i < kShards; ++i) {
    const Shard& s = shards_[static_cast<size_t>(group) * kShards + i];
    std::lock_guard<std::mutex> lock(s.mu);
    n += s.index.size();
  }
  return n;
}

}  // namespace broker::http
