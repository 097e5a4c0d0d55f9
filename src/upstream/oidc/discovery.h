#pragma once
// Provider metadata (OpenID Connect Discovery 1.0 §4) and the provider's JWK Set, fetched lazily
// and cached. The metadata is refetched after its TTL (the last good copy is used while the
// provider is unreachable); the key set is refetched after its TTL or when a token names a kid it
// does not hold, at most once per jwks_min_refetch, so a stream of forged kids cannot turn the
// broker into a request amplifier. Thread-safe.

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "broker/core/clock.h"
#include "broker/core/oauth_error.h"
#include "broker/core/result.h"
#include "broker/upstream/http_client.h"
#include "broker/upstream/oidc.h"
#include "upstream/oidc/id_token.h"

namespace broker::upstream::oidc {

struct ProviderMetadata {
  std::string authorization_endpoint;
  std::string token_endpoint;
  std::string userinfo_endpoint;  // may be empty
  std::string jwks_uri;
  std::vector<std::string> token_endpoint_auth_methods;  // empty when not advertised
};

class ProviderCache {
 public:
  // `who` names the provider in messages shown to users.
  ProviderCache(const OidcOptions& options, std::string who, HttpClient& http, Clock& clock);

  Result<ProviderMetadata, OAuthError> metadata();
  Result<std::shared_ptr<const JwkSet>, OAuthError> keys();
  // After an unknown kid: a fresh set, or the cached one when the last fetch was too recent.
  Result<std::shared_ptr<const JwkSet>, OAuthError> keysAfterUnknownKid();

 private:
  Result<ProviderMetadata, OAuthError> fetchMetadata();
  Result<std::shared_ptr<const JwkSet>, OAuthError> fetchKeys(bool unknown_kid);

  const OidcOptions& o_;
  const std::string who_;
  HttpClient& http_;
  Clock& clock_;
  const bool explicit_endpoints_;

  // One fetch at a time per document; readers of a fresh copy never wait for a fetch.
  std::mutex metadata_fetch_, keys_fetch_;
  std::mutex mutex_;
  std::optional<ProviderMetadata> metadata_;
  int64_t metadata_at_ = 0;
  std::shared_ptr<const JwkSet> keys_;
  int64_t keys_at_ = 0;
  int64_t keys_attempt_at_ = 0;
};

}  // namespace broker::upstream::oidc
