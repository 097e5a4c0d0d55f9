#include "verified_tokens.h"

#include "broker/core/crypto.h"

namespace broker::oauth {

VerifiedTokens::Entry VerifiedTokens::find(std::string_view token, int64_t now, int64_t leeway) {
  return findByKey(sha256(token), now, leeway);
}

Result<VerifiedTokens::Entry, token::JwtStatus> VerifiedTokens::verify(
    std::string_view token, const token::KeyLookup& keys, const token::VerifyOptions& options) {
  const std::string key = sha256(token);
  if (Entry cached = findByKey(key, options.now, options.leeway)) return cached;
  auto result = token::verifyAccessToken(token, keys, options);
  if (!result.ok()) return fail(result.error());
  Entry entry = std::make_shared<const token::VerifiedAccessToken>(std::move(*result));
  std::lock_guard<std::mutex> lock(mu_);
  if (entries_.size() >= kMaxEntries) entries_.clear();
  entries_[key] = entry;
  return entry;
}

VerifiedTokens::Entry VerifiedTokens::findByKey(const std::string& key, int64_t now,
                                                int64_t leeway) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = entries_.find(key);
  if (it == entries_.end()) return nullptr;
  const auto& c = it->second->claims;
  if (token::checkTimes(c.exp, c.iat, 0, now, leeway) != token::JwtStatus::kOk) return nullptr;
  return it->second;
}

}  // namespace broker::oauth
