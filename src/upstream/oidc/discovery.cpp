// Cached provider metadata and JWK Set for the OpenID Connect upstream (see discovery.h).

#include "upstream/oidc/discovery.h"

#include "broker/core/log.h"
#include "broker/oauth/uri.h"
#include "upstream/oidc/oauth_client.h"

namespace broker::upstream::oidc {
namespace {

using nlohmann::json;
namespace oc = oauth_client;

bool usableEndpoint(const std::string& url) {
  auto u = oauth::parseUri(url);
  return u && u->has_authority && !u->host.empty() && !u->has_fragment &&
         (u->scheme == "https" || (u->scheme == "http" && oauth::isLoopbackHost(u->host)));
}

}  // namespace

ProviderCache::ProviderCache(const OidcOptions& options, std::string who, HttpClient& http,
                             Clock& clock)
    : o_(options),
      who_(std::move(who)),
      http_(http),
      clock_(clock),
      explicit_endpoints_(!options.authorization_endpoint.empty() &&
                          !options.token_endpoint.empty() && !options.jwks_uri.empty()) {}

Result<ProviderMetadata, OAuthError> ProviderCache::metadata() {
  auto fresh = [&](int64_t now) {
    return metadata_ && (explicit_endpoints_ || now - metadata_at_ < o_.discovery_ttl);
  };
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (fresh(clock_.now())) return *metadata_;
  }
  std::lock_guard<std::mutex> fetching(metadata_fetch_);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (fresh(clock_.now())) return *metadata_;  // fetched while this thread waited
  }
  auto fetched = fetchMetadata();
  std::lock_guard<std::mutex> lock(mutex_);
  if (fetched.ok()) {
    metadata_ = fetched.value();
    metadata_at_ = clock_.now();
    return fetched;
  }
  if (metadata_) {
    log::warn("oidc_discovery_stale", {{"upstream", o_.id}, {"error", fetched.error().debug}});
    return *metadata_;
  }
  return fetched;
}

Result<ProviderMetadata, OAuthError> ProviderCache::fetchMetadata() {
  ProviderMetadata m;
  m.authorization_endpoint = o_.authorization_endpoint;
  m.token_endpoint = o_.token_endpoint;
  m.userinfo_endpoint = o_.userinfo_endpoint;
  m.jwks_uri = o_.jwks_uri;
  if (explicit_endpoints_) return m;

  std::string base = o_.issuer;
  while (!base.empty() && base.back() == '/') base.pop_back();
  const std::string what = "discovery";
  auto doc = oc::getJson(http_, who_, what, base + "/.well-known/openid-configuration",
                         {{"Accept", "application/json"}});
  if (!doc.ok()) return doc.error();
  const json& d = doc->body;
  if (!d.is_object()) return oc::malformedResponse(who_, what);
  // Discovery §4.3: the document must be about the issuer we trust, or tokens from another
  // issuer could be accepted under this upstream's name.
  if (oc::stringMember(d, "issuer") != o_.issuer) {
    return OAuthError{OAuthCode::kServerError,
                      "The broker's configuration for " + who_ + " does not match the provider.",
                      "discovery issuer '" + oc::stringMember(d, "issuer").substr(0, 200) +
                          "' is not the configured '" + o_.issuer + "'"};
  }
  auto take = [&](std::string& field, const char* name) {
    if (field.empty()) field = oc::stringMember(d, name);
  };
  take(m.authorization_endpoint, "authorization_endpoint");
  take(m.token_endpoint, "token_endpoint");
  take(m.userinfo_endpoint, "userinfo_endpoint");
  take(m.jwks_uri, "jwks_uri");
  for (const auto* url : {&m.authorization_endpoint, &m.token_endpoint, &m.jwks_uri}) {
    if (!usableEndpoint(*url)) {
      return oc::malformedResponse(
          who_, what + " (missing or insecure endpoint '" + url->substr(0, 200) + "')");
    }
  }
  if (!m.userinfo_endpoint.empty() && !usableEndpoint(m.userinfo_endpoint)) {
    m.userinfo_endpoint.clear();
  }
  auto methods = d.find("token_endpoint_auth_methods_supported");
  if (methods != d.end() && methods->is_array()) {
    for (const auto& method : *methods) {
      if (method.is_string()) m.token_endpoint_auth_methods.push_back(method.get<std::string>());
    }
  }
  return m;
}

Result<std::shared_ptr<const JwkSet>, OAuthError> ProviderCache::keys() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (keys_ && clock_.now() - keys_at_ < o_.jwks_ttl) return keys_;
  }
  return fetchKeys(false);
}

Result<std::shared_ptr<const JwkSet>, OAuthError> ProviderCache::keysAfterUnknownKid() {
  return fetchKeys(true);
}

Result<std::shared_ptr<const JwkSet>, OAuthError> ProviderCache::fetchKeys(bool unknown_kid) {
  std::lock_guard<std::mutex> fetching(keys_fetch_);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    const int64_t now = clock_.now();
    // The rate limit counts attempts, not successes: a provider that is down is not hammered.
    if (unknown_kid && keys_attempt_at_ != 0 && now - keys_attempt_at_ < o_.jwks_min_refetch) {
      if (keys_) return keys_;
      return OAuthError{OAuthCode::kTemporarilyUnavailable,
                        who_ + " is not available right now. Try again in a few minutes.",
                        "jwks: refetch rate-limited after a failure"};
    }
    if (!unknown_kid && keys_ && now - keys_at_ < o_.jwks_ttl) return keys_;
    keys_attempt_at_ = now;
  }
  auto meta = metadata();
  if (!meta.ok()) return meta.error();
  const std::string what = "jwks";
  auto doc = oc::getJson(http_, who_, what, meta->jwks_uri,
                         {{"Accept", "application/jwk-set+json, application/json"}});
  std::optional<OAuthError> failure;
  std::shared_ptr<const JwkSet> fetched;
  if (!doc.ok()) {
    failure = doc.error();
  } else if (auto set = JwkSet::fromJson(doc->body); !set.ok()) {
    failure = oc::malformedResponse(who_, what);
  } else {
    fetched = std::make_shared<const JwkSet>(std::move(set.value()));
  }
  std::lock_guard<std::mutex> lock(mutex_);
  if (fetched) {
    keys_ = fetched;
    keys_at_ = clock_.now();
    log::info("oidc_jwks_fetched", {{"upstream", o_.id},
                                    {"keys", static_cast<int64_t>(fetched->size())},
                                    {"unknown_kid", unknown_kid}});
    return fetched;
  }
  if (keys_ && !unknown_kid) {
    log::warn("oidc_jwks_stale", {{"upstream", o_.id}, {"error", failure->debug}});
    return keys_;
  }
  return *failure;
}

}  // namespace broker::upstream::oidc
