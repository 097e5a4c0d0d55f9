#pragma once
// Access-token verification for MCP servers (resource servers) that trust an mcp-auth-broker:
// the JWKS is fetched and cached (refetched on an unknown kid, rate-limited), tokens are checked
// against RFC 9068 and the MCP authorization rules (issuer, audience = this server's canonical
// resource, required scopes), and failures produce the RFC 6750 / RFC 9728 WWW-Authenticate
// challenge that sends an MCP client to the protected-resource metadata.
//
//   mcp_auth::VerifierOptions o;
//   o.issuer = "https://auth.example.com";
//   o.resource = "https://mcp.example.com/mcp";
//   o.resource_metadata_url = "https://mcp.example.com/.well-known/oauth-protected-resource/mcp";
//   o.required_scopes = {"mcp:example.com:files"};
//   auto verifier = mcp_auth::Verifier::create(o);
//   auto result = verifier->verifyAuthorization(request.header("Authorization"));
//   if (!result.ok()) reply(result.httpStatus(), {"WWW-Authenticate",
//   verifier->challenge(result)});
//
// Depends only on OpenSSL, libcurl and nlohmann-json.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mcp_auth/jwt.h"

namespace mcp_auth {

// Seconds since the Unix epoch; injectable for tests.
using NowFn = std::function<int64_t()>;
int64_t systemNow();

// ---- Scopes and challenges --------------------------------------------------------------------

// Splits a space-separated scope string (any run of spaces/tabs separates).
std::vector<std::string> splitScopes(std::string_view scope);
std::string joinScopes(const std::vector<std::string>& scopes);  // space-separated
// A granted scope satisfies a required one when equal, or when it is a prefix ending at a ':'
// boundary: "mcp:d:s" satisfies "mcp:d:s:read", but not "mcp:d:s2" nor "mcp:d".
bool scopeSatisfies(std::string_view granted, std::string_view required);
// Every required scope is satisfied by some granted scope. Returns the first that is not.
std::optional<std::string> missingScope(const std::vector<std::string>& granted,
                                        const std::vector<std::string>& required);

struct Challenge {
  std::string realm;
  std::string resource_metadata;  // RFC 9728 §5.1
  std::string scope;              // scopes the client should ask for (space-separated)
  std::string error;              // "invalid_token", "insufficient_scope", or empty (no token)
  std::string error_description;
};
// `Bearer realm="...", resource_metadata="...", scope="...", error="...", error_description="..."`
// with empty members left out and '"' / '\\' escaped (RFC 9110 §5.6.4 quoted-string; control
// characters are dropped).
std::string buildWwwAuthenticate(const Challenge& challenge);

// The token of an `Authorization: Bearer <token>` header (scheme case-insensitive, RFC 6750
// §2.1), or nullopt when the header is absent, of another scheme, empty, or not a token68.
std::optional<std::string_view> bearerToken(std::string_view authorization);

// ---- JWKS --------------------------------------------------------------------------------------

struct HttpResponse {
  bool ok = false;       // a complete response was received
  long status = 0;       // HTTP status
  std::string body;      // at most max_bytes
  int64_t max_age = -1;  // from Cache-Control max-age (or s-maxage); -1 when absent
  bool no_store = false;
  std::string error;             // transport failure, for logs
  bool address_refused = false;  // allow_address said no
};
// GETs `url`. Implementations must not follow redirects and must bound time and size.
using HttpGet = std::function<HttpResponse(const std::string& url)>;

struct HttpGetOptions {
  long timeout_ms = 5000;
  size_t max_bytes = 64 * 1024;
  bool allow_http = false;  // plain http:// (e.g. a loopback broker in development)
  // Called with the numeric address of the connected peer before the request is sent; false
  // aborts the transfer. An SSRF guard here sees the address actually used, so DNS rebinding
  // between a check and the connection cannot get around it.
  std::function<bool(const std::string& ip)> allow_address;
  std::vector<std::string> headers;  // extra request header lines ("Accept: application/json")
  std::string ca_file;  // trust anchors instead of the system's (tests with a private CA)
  // CURLOPT_RESOLVE entries ("host:port:addr[,addr]") that pin the addresses a caller checked.
  std::vector<std::string> resolve;
};
// libcurl implementation: no redirects, no proxies from the environment, HTTPS with certificate
// and host verification (plain HTTP only when allowed), time and size bounded.
HttpGet curlHttpGet(HttpGetOptions options = {});
// Parses Cache-Control; -1 when no max-age. `no_store` is set for no-store / no-cache.
int64_t parseMaxAge(std::string_view cache_control, bool* no_store = nullptr);

struct JwksOptions {
  std::string jwks_uri;
  int64_t min_refetch_interval = 30;  // an unknown kid refetches at most this often
  int64_t default_ttl = 300;          // when the response has no max-age
  int64_t max_ttl = 86400;
  int64_t min_ttl = 30;  // max-age below this (or no-store) is raised to it
};

// Parses a JWKS document (RFC 7517 §5): RSA keys (alg, if any, "RS256") and P-256 keys (crv
// "P-256", alg, if any, "ES256") with a kid, whose "use" (if any) is "sig". Other keys are skipped;
// nullopt when the document is not a JWKS at all. Keys are parsed once here.
struct JwksKey {
  std::string kid;
  std::shared_ptr<const PublicKey> key;
};
std::optional<std::vector<JwksKey>> parseJwks(std::string_view json);

// Thread-safe key cache. A lookup never waits for another thread's fetch: while one caller
// refreshes, the others use the keys already cached.
class JwksCache {
 public:
  static std::shared_ptr<JwksCache> create(JwksOptions options, HttpGet get = {}, NowFn now = {});
  virtual ~JwksCache() = default;
  // The key for `kid`. Fetches when nothing is cached or the cache is stale, and when `kid` is
  // unknown and the last fetch is older than min_refetch_interval. nullptr when unknown.
  virtual std::shared_ptr<const PublicKey> key(const std::string& kid) = 0;
  virtual uint64_t fetchCount() const = 0;  // number of fetch attempts (for tests and metrics)
};

// ---- Verifier ----------------------------------------------------------------------------------

struct VerifierOptions {
  std::string issuer;                 // the broker's issuer, byte for byte
  std::string jwks_uri;               // default: issuer + "/.well-known/jwks.json"
  std::string resource;               // this server's RFC 8707 resource (aud); required
  std::string resource_metadata_url;  // put in every challenge
  std::vector<std::string> required_scopes;
  int64_t leeway = 30;
  JwksOptions jwks;     // jwks.jwks_uri is filled from jwks_uri
  HttpGetOptions http;  // for the default JWKS fetcher
};

enum class Outcome {
  kOk,
  kNoToken,            // 401 without error (RFC 6750 §3.1)
  kInvalidToken,       // 401 error="invalid_token"
  kInsufficientScope,  // 403 error="insufficient_scope"
};

struct Verification {
  Outcome outcome = Outcome::kNoToken;
  JwtStatus status = JwtStatus::kMalformed;  // why, for kInvalidToken
  std::string missing_scope;                 // for kInsufficientScope
  AccessClaims claims;                       // for kOk (and kInsufficientScope)

  bool ok() const { return outcome == Outcome::kOk; }
  int httpStatus() const;  // 200, 401 or 403
};

class Verifier {
 public:
  // `keys` defaults to a JwksCache on options.jwks_uri with curlHttpGet(options.http).
  // Throws std::invalid_argument when issuer or resource is missing or resource is not a URI.
  static std::shared_ptr<Verifier> create(
      VerifierOptions options,
      std::function<std::shared_ptr<const PublicKey>(const std::string& kid)> keys = {},
      NowFn now = {});
  virtual ~Verifier() = default;
  // Checks a raw token against this server's rules (and `required_scopes` when non-empty, else
  // the configured ones).
  virtual Verification verify(std::string_view token,
                              const std::vector<std::string>& required_scopes = {}) const = 0;
  // The same for an Authorization header value (empty or absent: kNoToken).
  virtual Verification verifyAuthorization(std::string_view authorization) const = 0;
  // The WWW-Authenticate header for a failed verification.
  virtual std::string challenge(const Verification& v) const = 0;
};

}  // namespace mcp_auth
