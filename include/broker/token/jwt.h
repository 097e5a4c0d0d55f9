#pragma once
// Compact JWS (RFC 7515) signing and verification with RS256 over OpenSSL EVP, with keys parsed
// once. Verification is split into pure steps that take `now` as a parameter. This file depends
// only on OpenSSL and the standard library so that the token-verification library for MCP servers
// can share it.

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "broker/core/result.h"

namespace broker::token {

// An RSA key parsed once. Private keys can sign; every key can verify. Immutable and safe to share
// across threads. Keys shorter than 2048 bits (RFC 7518 §3.3) or longer than 8192 are refused.
class RsaKey {
 public:
  static Result<std::shared_ptr<const RsaKey>> fromPrivatePem(std::string_view pem);
  static Result<std::shared_ptr<const RsaKey>> fromPublicPem(std::string_view pem);
  // From a JWK with kty=RSA, n, e.
  static Result<std::shared_ptr<const RsaKey>> fromJwk(std::string_view n_b64url,
                                                       std::string_view e_b64url);
  static Result<std::shared_ptr<const RsaKey>> generate(int bits = 2048);

  virtual ~RsaKey() = default;
  virtual bool hasPrivate() const = 0;
  virtual int bits() const = 0;
  virtual std::string privatePem() const = 0;  // empty when public only
  // JWK members "n" and "e" (base64url).
  virtual std::string modulusB64() const = 0;
  virtual std::string exponentB64() const = 0;
  // RFC 7638 thumbprint, base64url: a stable kid.
  virtual std::string thumbprint() const = 0;
  virtual Result<std::string> signRs256(std::string_view data) const = 0;
  virtual bool verifyRs256(std::string_view data, std::string_view signature) const = 0;
};

enum class JwtStatus {
  kOk,
  kMalformed,       // not three base64url parts, bad JSON
  kUnsupportedAlg,  // alg is not RS256 (none, HS*, ...)
  kWrongType,       // typ is not at+jwt
  kUnknownKid,      // no key with that kid
  kBadSignature,
  kExpired,
  kNotYetValid,
  kWrongIssuer,
  kWrongAudience,
  kMissingClaim,
  kRevoked,
};
const char* toString(JwtStatus s);

struct DecodedJwt {
  std::string header_json;
  std::string payload_json;
  std::string signing_input;  // header.payload as sent
  std::string signature;      // raw bytes
  std::string alg, typ, kid;
};

// Splits and decodes; checks structure only (no signature). Never throws. kMalformed unless the
// token is exactly three unpadded base64url parts whose first two are JSON objects without
// duplicate members, alg/typ/kid (when present) are strings, and the header has no "crit" (RFC 7515
// §4.1.11: no extension is understood here, so any critical one must be refused).
Result<DecodedJwt, JwtStatus> decodeJwt(std::string_view token);

// Verification steps as pure functions: each returns kOk or the reason the token fails it. Callers
// run them in this order so that no claim is read before the signature has been checked.
JwtStatus checkAlgorithm(const DecodedJwt& jwt);  // exactly "RS256" -> else kUnsupportedAlg
// nullptr (no key with the token's kid) -> kUnknownKid.
JwtStatus checkSignature(const DecodedJwt& jwt, const RsaKey* key);
JwtStatus checkIssuer(std::string_view iss, std::string_view expected);  // exact match
// `exp` is required; `iat` and `nbf` are 0 when absent. A token is expired once
// now >= exp + leeway (RFC 7519 §4.1.4), not yet valid while iat or nbf > now + leeway.
JwtStatus checkTimes(int64_t exp, int64_t iat, int64_t nbf, int64_t now, int64_t leeway);
// An empty `expected` means the caller does not check the audience.
JwtStatus checkAudience(const std::vector<std::string>& aud, std::string_view expected);

// Signs a payload (JSON object text) with header {"alg":"RS256","typ":typ,"kid":kid} (kid omitted
// when empty). Safe to call from many threads on one key.
Result<std::string> signJwt(const RsaKey& key, std::string_view kid, std::string_view typ,
                            std::string_view payload_json);

}  // namespace broker::token
