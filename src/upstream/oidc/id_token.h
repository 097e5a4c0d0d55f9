#pragma once
// OpenID Connect ID token verification (OIDC Core §3.1.3.7): JWS compact serialization (RFC 7515)
// signed with RS256 or ES256 (RFC 7518 §3.3, §3.4) by a key from the provider's JWK Set (RFC
// 7517), then the claims. Each step is a pure function; `now` is a parameter. "none", HS* and any
// algorithm the key was not published for are refused before a key is even looked up.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "broker/core/result.h"

namespace broker::upstream::oidc {

enum class IdTokenStatus {
  kOk,
  kMalformed,       // not a compact JWS of two JSON objects and a signature, or "crit" present
  kUnsupportedAlg,  // anything but RS256 and ES256
  kUnknownKid,      // no key in the set fits the token's kid and alg
  kBadSignature,
  kWrongIssuer,
  kWrongAudience,  // client_id is not in aud
  kWrongAzp,       // azp present and not client_id, or absent with several audiences
  kExpired,        // now >= exp + leeway
  kNotYetValid,    // iat or nbf later than now + leeway
  kMissingClaim,   // iss, sub, aud, exp or iat missing or of the wrong type
  kWrongNonce,
};
const char* toString(IdTokenStatus status);

// A public signing key from a JWK Set, parsed once; immutable, shareable across threads.
class Jwk {
 public:
  virtual ~Jwk() = default;
  virtual const std::string& kid() const = 0;
  // The JWS alg this key verifies: the JWK's "alg", or RS256 / ES256 from its type.
  virtual const std::string& alg() const = 0;
  virtual bool verify(std::string_view signing_input, std::string_view signature) const = 0;
};

class JwkSet {
 public:
  // Keys that are not for signatures ("use": "enc"), of other types or curves, or too short are
  // skipped, not errors: providers publish keys for other purposes next to the ones they sign with.
  // Fails only when the document is not a JWK Set.
  static Result<JwkSet> parse(std::string_view json_text);
  static Result<JwkSet> fromJson(const nlohmann::json& document);

  // The key with this kid that verifies `alg`. Without kid: the only such key, if there is one.
  const Jwk* find(const std::string& kid, const std::string& alg) const;
  size_t size() const { return keys_.size(); }

 private:
  std::vector<std::shared_ptr<const Jwk>> keys_;
};

struct Jws {
  nlohmann::json header;
  nlohmann::json payload;
  std::string signing_input;  // base64url(header) "." base64url(payload), as received
  std::string signature;      // raw bytes
  std::string alg;
  std::string kid;
};

Result<Jws, IdTokenStatus> decodeJws(std::string_view token);
IdTokenStatus checkAlgorithm(const Jws& jws);
IdTokenStatus checkSignature(const Jws& jws, const JwkSet& keys);

struct IdTokenRules {
  std::string issuer;
  std::string client_id;
  std::string nonce;  // empty: not checked (ID tokens from a refresh carry none)
  int64_t now = 0;
  int64_t leeway = 60;
};
IdTokenStatus checkClaims(const nlohmann::json& claims, const IdTokenRules& rules);

// decodeJws, checkAlgorithm, checkSignature, checkClaims in that order: no claim is read before
// the signature holds. Returns the claims.
Result<nlohmann::json, IdTokenStatus> verifyIdToken(std::string_view token, const JwkSet& keys,
                                                    const IdTokenRules& rules);

}  // namespace broker::upstream::oidc
