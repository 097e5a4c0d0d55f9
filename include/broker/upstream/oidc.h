#pragma once
// Any OpenID Connect provider (Google, Okta, Keycloak, Entra ID, ...) as an upstream: discovery,
// the authorization code flow with PKCE, state and nonce, full ID token verification, optional
// userinfo, and a claim mapping for username, email and groups. When the provider hands out a
// refresh token, broker refreshes re-read the identity through it (with a short cache).

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "broker/config/config.h"
#include "broker/core/clock.h"
#include "broker/core/random.h"
#include "broker/core/secret.h"
#include "broker/upstream/http_client.h"
#include "broker/upstream/upstream.h"

namespace broker::upstream {

struct OidcOptions {
  std::string id;
  std::string display_name;
  std::string issuer;  // exactly as the provider writes it in `iss`
  std::string client_id;
  Secret client_secret;
  // client_secret_basic | client_secret_post | none; empty: basic unless discovery lists only post
  std::string token_endpoint_auth_method;
  std::vector<std::string> scopes = {"openid", "email", "profile"};
  // Claim names; a dotted name ("realm_access.roles") reaches into nested objects.
  std::string username_claim = "preferred_username";
  std::string email_claim = "email";
  std::string groups_claim = "groups";
  std::string name_claim = "name";
  // Trust `email` even without email_verified=true (for providers that never send it).
  bool insecure_skip_email_verified = false;
  bool require_verified_email = false;
  bool userinfo = false;  // also read the userinfo endpoint after the code exchange
  // Extra authorization request parameters (prompt, hd, domain_hint, ...).
  std::map<std::string, std::string> auth_params;
  // Explicit endpoints for providers without discovery; each overrides the discovered one.
  std::string authorization_endpoint;
  std::string token_endpoint;
  std::string userinfo_endpoint;
  std::string jwks_uri;
  int64_t discovery_ttl = 3600;  // seconds
  int64_t jwks_ttl = 3600;
  int64_t jwks_min_refetch = 60;  // an unknown kid refetches the JWKS at most this often
  int64_t leeway = 60;
  int64_t membership_cache_ttl = 600;
  HttpClientOptions http;
};

// Reads `settings.settings_json`. Keys: issuer, client_id, client_secret, scopes, claims
// (username, email, groups, name), insecure_skip_email_verified, require_verified_email,
// userinfo, auth_params, token_endpoint_auth_method, authorization_endpoint, token_endpoint,
// userinfo_endpoint, jwks_uri, ca_file, timeout, membership_cache_ttl. Throws ConfigError.
OidcOptions parseOidcSettings(const config::UpstreamSettings& settings);

// `http` may be null (a libcurl client built from options.http). `clock` and `random` must
// outlive the upstream. Nothing is fetched until the first login.
std::shared_ptr<UpstreamProvider> makeOidcUpstream(OidcOptions options,
                                                   std::shared_ptr<HttpClient> http = nullptr,
                                                   Clock& clock = Clock::system(),
                                                   Random& random = Random::system());

}  // namespace broker::upstream
