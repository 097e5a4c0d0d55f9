#pragma once
// Compact JWS (RFC 7515) signing and verification with RS256 over OpenSSL EVP, with keys parsed
// once. Verification is split into pure steps that take `now` as a parameter; they live in the
// token-verification library for MCP servers (mcp_auth/jwt.h), which this header re-exports.

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "broker/core/result.h"
#include "mcp_auth/jwt.h"

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

// Status, decoded form and the pure checks are the verification library's (mcp_auth/jwt.h): the
// broker and the MCP servers that verify its tokens run the same code.
using JwtStatus = mcp_auth::JwtStatus;
using DecodedJwt = mcp_auth::DecodedJwt;
using mcp_auth::checkAlgorithm;
using mcp_auth::checkAudience;
using mcp_auth::checkIssuer;
using mcp_auth::checkTimes;
using mcp_auth::toString;

// mcp_auth::decodeJwt as a Result: kMalformed unless the token is three unpadded base64url parts,
// the first two JSON objects without duplicate members, alg/typ/kid strings, and no "crit".
Result<DecodedJwt, JwtStatus> decodeJwt(std::string_view token);
// nullptr (no key with the token's kid) -> kUnknownKid.
JwtStatus checkSignature(const DecodedJwt& jwt, const RsaKey* key);

// Signs a payload (JSON object text) with header {"alg":"RS256","typ":typ,"kid":kid} (kid omitted
// when empty). Safe to call from many threads on one key.
Result<std::string> signJwt(const RsaKey& key, std::string_view kid, std::string_view typ,
                            std::string_view payload_json);

}  // namespace broker::token
