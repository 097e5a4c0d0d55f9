#pragma once
// Shared pieces of the authorization server's endpoints (not part of the public interface).

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "broker/core/broker_metrics.h"
#include "broker/core/oauth_error.h"
#include "broker/core/result.h"
#include "broker/oauth/broker.h"
#include "broker/store/audit_log.h"
#include "broker/store/revocation_list.h"
#include "http/rate_limiter.h"
#include "verified_tokens.h"

namespace broker::oauth {

// ---- responses ----
// JSON error body per RFC 6749 §5.2 with the status from the one code->status table. A 401
// invalid_client carries WWW-Authenticate only when the client authenticated with the
// Authorization header, naming the scheme it used (`client_auth_scheme`, e.g. "Basic"); other
// 401s carry a Bearer challenge.
// A 503 temporarily_unavailable carries Retry-After: kStoreRetryAfterSeconds.
http::Response errorResponse(const OAuthError& e, std::string_view client_auth_scheme = {});
http::Response jsonResponse(int status, const std::string& body);

// Retry-After of an answer refused because the store is unreachable or slow: about how long the
// pool takes to reconnect once the database is back (the store is pinged every second).
constexpr int64_t kStoreRetryAfterSeconds = 2;
// A store failure as an endpoint answers it: unavailable (unreachable, timed out, shutting down)
// -> 503 temporarily_unavailable, which a client retries; anything else -> 500 server_error. The
// store's message goes to `debug` only.
OAuthError storeFailure(const Error& e);

// ---- scopes ----
std::vector<std::string> splitScopes(const std::string& s);  // whitespace-robust, de-duplicated
std::string joinScopes(const std::vector<std::string>& scopes);
bool isSubset(const std::vector<std::string>& a, const std::vector<std::string>& of);

// ---- PKCE (RFC 7636, S256 only) ----
bool validCodeChallenge(const std::string& challenge);
bool validCodeVerifier(const std::string& verifier);
bool pkceMatches(const std::string& verifier, const std::string& challenge);

// ---- HTML pages (everything escaped) ----
struct PageLink {
  std::string label;
  std::string href;
};
std::string renderPage(const std::string& title, const std::string& body_html);
// The Content-Security-Policy of a page whose forms lead to `form_targets`: "'self'" or URLs whose
// origins (or schemes) the browser may be redirected to after a submission. Empty: no form.
std::string pageCsp(const std::vector<std::string>& form_targets);
// A no-store HTML page with its CSP; a 503 page carries Retry-After: kStoreRetryAfterSeconds.
http::Response htmlPage(int status, const std::string& title, const std::string& body_html,
                        const std::vector<std::string>& form_targets = {});
http::Response errorPage(int status, const std::string& title, const std::string& message,
                         const std::optional<PageLink>& link = std::nullopt);

// ---- authenticated client at the token, revocation and introspection endpoints ----
struct ClientAuthResult {
  store::ClientRecord client;
};
Result<ClientAuthResult, OAuthError> authenticateClient(
    store::Store& store, const http::Request& req, const std::map<std::string, std::string>& form);
// The answer to a failed authenticateClient(): RFC 6749 §5.2 wants a 401 invalid_client to
// challenge with the scheme of the client's Authorization header, and no challenge when the client
// did not use that header (client_secret_post, or a public client).
http::Response clientAuthErrorResponse(const http::Request& req, const OAuthError& e);
// The client_id a request claims (Basic user name, else the form's), whether or not it
// authenticates; empty when it names none.
std::string claimedClientId(const http::Request& req,
                            const std::map<std::string, std::string>& form);

// ---- token minting ----
struct IssuedTokens {
  std::string access_token;
  int64_t expires_in = 0;
  std::string scope;
  std::string refresh_token;  // empty when the client may not refresh
};

// Refresh token plaintext inside the sealed string.
struct RefreshPayload {
  std::string token_id;  // 32 random bytes, base64url; stored only as sha256 hex
  std::string client_id;
};

class TokenMinter {
 public:
  explicit TokenMinter(const Dependencies& deps);
  // Access token per RFC 9068 for `identity` with the granted scopes.
  Result<std::pair<std::string, int64_t>> accessToken(const Identity& identity,
                                                      const std::string& client_id,
                                                      const std::vector<std::string>& scopes,
                                                      const std::string& resource,
                                                      const std::string& family_id,
                                                      const policy::Policy& policy) const;
  std::string sealRefresh(const RefreshPayload& p) const;
  std::optional<RefreshPayload> openRefresh(const std::string& token) const;
  // Deterministic successor id: a replay inside the grace window gets the same successor back.
  std::string successorId(const std::string& token_id) const;
  static std::string hashId(const std::string& token_id);

 private:
  const Dependencies& deps_;
  std::string successor_key_;
};

constexpr const char* kRefreshPrefix = "mcpr_";

}  // namespace broker::oauth

namespace broker::oauth {

class ClientMetadataResolver;

struct AuthorizationServer::Impl {
  explicit Impl(Dependencies d) : deps(std::move(d)), minter(deps) {}
  Dependencies deps;
  TokenMinter minter;
  std::string metadata_json;
  std::string cookie_key;  // HMAC key for the remembered-consent cookie
  bool secure_cookies = false;
  std::shared_ptr<ClientMetadataResolver> cimd;  // client_id URLs (metadata documents)
  VerifiedTokens verified;                       // shared by /validate, /introspect, /forward-auth
  // Failed client authentications at /token per claimed client_id and client address (the
  // kToken group only): a few dozen, then one more attempt per 20 s. Others' failures never lock
  // a client out; secrets are 256-bit random values, so guessing from many addresses gains
  // nothing either.
  http::RateLimiter client_failures{[] {
                                      http::RateLimits l{};
                                      l[static_cast<size_t>(http::RateGroup::kToken)] = {30, 0.05};
                                      return l;
                                    }(),
                                    http::RateLimiter::steadySeconds};

  // An access token verified against this broker's issuer and signing keys; after the first
  // time from the cache (`now` and `leeway` judge its times either way).
  Result<VerifiedTokens::Entry, token::JwtStatus> verifyAccessToken(std::string_view token,
                                                                    int64_t now, int64_t leeway) {
    token::VerifyOptions opts;
    opts.issuer = deps.config->issuer;
    opts.now = now;
    opts.leeway = leeway;
    auto* keys = deps.keys;
    return verified.verify(
        token, [keys](const std::string& kid) { return keys->verificationKey(kid); }, opts);
  }

  // After this instance revokes something: the in-memory revocation list reloads at once, so
  // every answer from memory sees it from now on.
  void revocationsChanged() {
    if (deps.revocations) (void)deps.revocations->sync();
  }

  // A security event into the audit table, when one is wired. Its log line is the caller's.
  void audit(store::AuditEvent e) { store::recordAudit(deps.audit, std::move(e)); }
  metrics::BrokerMetrics* metrics() const { return deps.metrics; }
};

}  // namespace broker::oauth

namespace broker::oauth {

// One handler per grant type (RFC 6749 §4.1.3 / §6). The token endpoint authenticates the client
// and parses the form; a grant only decides and persists.
struct GrantRequest {
  const store::ClientRecord& client;
  const std::map<std::string, std::string>& form;
};
Result<IssuedTokens, OAuthError> authorizationCodeGrant(AuthorizationServer::Impl& impl,
                                                        const GrantRequest& req);
Result<IssuedTokens, OAuthError> refreshTokenGrant(AuthorizationServer::Impl& impl,
                                                   const GrantRequest& req);

// Resolves the `resource` a token request names against what the grant is bound to
// (RFC 8707 §2.2): absent -> inherited; the bound resource or a server within the granted scopes
// -> narrower; anything else -> invalid_target. Narrows `scopes` to that server.
Result<std::string, OAuthError> resolveTokenResource(const policy::Policy& policy,
                                                     const std::string& requested,
                                                     const std::string& bound,
                                                     std::vector<std::string>& scopes);

// Re-applies policy to `scopes` for `who`, as every refresh does: the scopes kept, those dropped
// and the rule (and sentence) that dropped the first of them.
struct ScopeReview {
  std::vector<std::string> kept, dropped;
  std::string rule, reason;
};
ScopeReview reviewScopes(const policy::Policy& policy, const Identity& who,
                         const std::vector<std::string>& scopes);
// Re-applies policy to `scopes` for `who`; returns the allowed subset.
std::vector<std::string> allowedScopes(const policy::Policy& policy, const Identity& who,
                                       const std::vector<std::string>& scopes);

bool clientHasGrant(const store::ClientRecord& client, const std::string& grant);

}  // namespace broker::oauth

namespace broker::oauth {
Result<std::map<std::string, std::string>, OAuthError> parseOAuthForm(const http::Request& req);
}  // namespace broker::oauth
