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
#include <string_view>
#include <unordered_map>

#include "broker/core/result.h"
#include "broker/token/access_token.h"

namespace broker::oauth {

class VerifiedTokens {
 public:
  using Entry = std::shared_ptr<const token::VerifiedAccessToken>;

  // The cached verification of `token` when its times pass (`now`, `leeway`); else nullptr.
  Entry find(std::string_view token, int64_t now, int64_t leeway);
  // The cached verification, or `token` verified now with `keys` and `options` (cached when it
  // passes; options.now and options.leeway also judge a cached entry).
  Result<Entry, token::JwtStatus> verify(std::string_view token, const token::KeyLookup& keys,
                                         const token::VerifyOptions& options);

 private:
  Entry findByKey(const std::string& key, int64_t now, int64_t leeway);

  static constexpr size_t kMaxEntries = 4096;
  std::mutex mu_;
  std::unordered_map<std::string, Entry> entries_;
};

}  // namespace broker::oauth
