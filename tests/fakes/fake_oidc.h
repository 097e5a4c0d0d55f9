#pragma once
// A fake OpenID Connect provider on 127.0.0.1 for unit and integration tests: discovery, JWKS,
// /authorize (redirects back with code, state and iss, or error=access_denied), /token
// (authorization_code with PKCE, refresh_token with rotation; client_secret_basic or _post),
// /userinfo. It signs ID tokens with RS256 or ES256 and can be told to sign bad ones: wrong key,
// unknown kid, wrong iss / aud / azp / nonce, expired, issued in the future, alg none, HS256 keyed
// with the public key, or a flipped signature bit.
//
//   FakeOidc idp;
//   idp.signIn({{"sub", "u1"}, {"preferred_username", "alice"}, {"email", "a@example.com"},
//               {"email_verified", true}, {"groups", {"eng"}}});
//   issuer = idp.issuer(); client_id = idp.options().client_id; ...

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "fakes/fake_upstream.h"

typedef struct evp_pkey_st EVP_PKEY;

namespace broker::testing {

// A private signing key for tests: RS256 (RSA 2048) or ES256 (P-256).
class TestSigningKey {
 public:
  static TestSigningKey generate(const std::string& alg, const std::string& kid);
  const std::string& alg() const { return alg_; }
  const std::string& kid() const { return kid_; }
  nlohmann::json publicJwk() const;
  std::string publicPem() const;
  // The JWS signature over `input` (ES256: r || s, 64 bytes).
  std::string sign(std::string_view input) const;
  // A compact JWS; `header` gets alg (unless set) and kid (unless set or kid is empty).
  std::string jwt(const nlohmann::json& payload,
                  nlohmann::json header = nlohmann::json::object()) const;

 private:
  std::string alg_, kid_;
  std::shared_ptr<EVP_PKEY> key_;
};

// A JWS with any header and signature bytes, for tokens no honest signer makes.
std::string rawJws(const nlohmann::json& header, const nlohmann::json& payload,
                   std::string_view signature);

enum class IdTokenFault {
  kNone,
  kWrongKey,    // signed by a key that is not published, under the published kid
  kUnknownKid,  // signed by a key published under no kid the JWKS has
  kWrongIssuer,
  kWrongAudience,
  kWrongAzp,        // aud = [client_id, other], azp = other
  kExpired,         // exp two minutes in the past (beyond the 60 s leeway)
  kIssuedInFuture,  // iat ten minutes ahead
  kWrongNonce,
  kNoNonce,
  kAlgNone,
  kHs256,             // HMAC-SHA256 keyed with the public key's PEM (key confusion)
  kFlippedSignature,  // one bit of a good signature flipped
};

struct FakeOidcOptions {
  std::string client_id = "fake-oidc-client";
  std::string client_secret = "fake-oidc-secret";
  std::string issuer_path;  // e.g. "/realms/test"; the issuer is http://127.0.0.1:PORT<path>
  std::string alg = "RS256";
  bool refresh_tokens = true;  // hand out (rotating, single-use) refresh tokens
  bool send_iss = true;        // iss on the authorization response (RFC 9207)
  int64_t token_ttl = 3600;
  // token_endpoint_auth_methods_supported in discovery
  std::vector<std::string> auth_methods = {"client_secret_basic", "client_secret_post"};
  Clock* clock = nullptr;  // iat/exp of ID tokens; nullptr = the system clock
};

class FakeOidc : public FakeUpstreamServer {
 public:
  explicit FakeOidc(FakeOidcOptions options = {});
  ~FakeOidc();

  std::string issuer() const { return baseUrl() + options_.issuer_path; }
  const FakeOidcOptions& options() const { return options_; }

  // The account the browser is signed in as: its claims ("sub" required) go into ID tokens and
  // userinfo. Claims of a subject may be changed later (they are read again at refresh).
  void signIn(const nlohmann::json& claims);
  void setClaims(const nlohmann::json& claims);
  // Claims only userinfo returns (merged over the ID token's claims there).
  void setUserinfoClaims(const nlohmann::json& claims);
  void setUserinfoSub(const std::string& sub);  // answer userinfo for another subject
  void setDenyAuthorization(bool deny);
  void setIdTokenFault(IdTokenFault fault);
  // Signs with a new key of `alg` from now on; the old key stays published when `keep_old`.
  void rotateKey(const std::string& alg, bool keep_old = true);
  // Changes the discovery document (merge patch), e.g. {"issuer": "https://elsewhere"}.
  void patchDiscovery(const nlohmann::json& patch);
  void revokeRefreshTokens();
  // The token endpoint answers 400 {"error": error} until set back to "".
  void setTokenError(const std::string& error);

  TestSigningKey signingKey() const;
  std::map<std::string, std::string> lastAuthorizeParams() const;
  std::string lastClientAuth() const;  // "client_secret_basic", "client_secret_post" or "none"

 private:
  struct Grant {
    std::string sub, nonce, redirect_uri, challenge;
    int64_t expires_at;
  };
  http::Response authorize(const http::Request& req);
  http::Response token(const http::Request& req);
  http::Response userinfo(const http::Request& req);
  nlohmann::json tokenSet(const std::string& sub, const std::string& nonce);
  std::string idToken(const std::string& sub, const std::string& nonce) const;
  std::string signedWith(const nlohmann::json& payload) const;

  FakeOidcOptions options_;
  mutable std::mutex state_mutex_;
  std::vector<TestSigningKey> published_;  // the JWKS; the last one signs
  TestSigningKey outsider_;                // never published (kWrongKey, kUnknownKid)
  nlohmann::json discovery_patch_ = nlohmann::json::object();
  std::map<std::string, nlohmann::json> claims_;  // by sub
  std::string signed_in_;
  nlohmann::json userinfo_claims_ = nlohmann::json::object();
  std::string userinfo_sub_;
  bool deny_ = false;
  IdTokenFault fault_ = IdTokenFault::kNone;
  std::string token_error_;
  std::map<std::string, std::string> last_authorize_;
  std::string last_client_auth_;
  std::map<std::string, Grant> codes_;
  std::map<std::string, std::string> access_tokens_;   // token -> sub
  std::map<std::string, std::string> refresh_tokens_;  // token -> sub
  uint64_t serial_ = 0;
};

}  // namespace broker::testing
