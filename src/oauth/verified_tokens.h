#pragma once
// Access tokens whose signature and claims have been verified, by SHA-256 of their exact bytes:
// an MCP client sends the same access token on every request for its whole lifetime, so the
// signature is checked once, not per request. Only successes are kept (any other byte string
// misses and is verified in full); an entry is returned only while its times pass the caller's
// check (exp, iat with the caller's leeway), so an expired token is never answered from here.
// Audience, scope and revocation remain the caller's to check. The size is bounded; when full
// the cache starts over.

#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "broker/token/access_token.h"

namespace broker::oauth {

class VerifiedTokens {
 public:
  using Entry = std::shared_ptr<const token::VerifiedAccessToken>;

  Entry find(const std::string& key, int64_t now, int64_t leeway) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = entries_.find(key);
    if (it == entries_.end()) return nullptr;
    const auto& c = it->second->claims;
    if (token::checkTimes(c.exp, c.iat, 0, now, leeway) != token::JwtStatus::kOk) return nullptr;
    return it->second;
  }

  void add(const std::string& key, Entry entry) {
    std::lock_guard<std::mutex> lock(mu_);
    if (entries_.size() >= kMaxEntries) entries_.clear();
    entries_[key] = std::move(entry);
  }

 private:
  static constexpr size_t kMaxEntries = 4096;
  std::mutex mu_;
  std::unordered_map<std::string, Entry> entries_;
};

}  // namespace broker::oauth
