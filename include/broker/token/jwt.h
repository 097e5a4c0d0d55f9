#pragma once
// Compact JWS (RFC 7515) signing and verification with RS256 or ES256 over OpenSSL EVP, with keys
// parsed once. Verification is split into pure steps that take `now` as a parameter; they live in
// the token-verification library for MCP servers (mcp_auth/jwt.h), which this header re-exports.

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "broker/core/result.h"
#include "mcp_auth/jwt.h"

namespace broker::token {

// The JWS algorithms the broker signs with (`keys.algorithm`). RS256 is the default: some MCP
// servers know only RS256.
enum class SigningAlg { kRS256, kES256 };
const char* algName(SigningAlg alg);  // "RS256", "ES256"
std::optional<SigningAlg> parseSigningAlg(std::string_view name);

// A signing key parsed once: RSA (RS256; 2048..8192 bits, RFC 7518 §3.3) or P-256 (ES256, §3.4).
// Private keys can sign; every key can verify. Immutable and safe to share across threads.
class SigningKey {
 public:
  // An unencrypted PEM private key, RSA or P-256; the key type decides the algorithm.
  static Result<std::shared_ptr<const SigningKey>> fromPrivatePem(std::string_view pem);
  static Result<std::shared_ptr<const SigningKey>> fromPublicPem(std::string_view pem);
  // From a JWK with kty=RSA, n, e.
  static Result<std::shared_ptr<const SigningKey>> fromJwk(std::string_view n_b64url,
                                                           std::string_view e_b64url);
  // From a JWK with kty=EC, crv=P-256, x, y.
  static Result<std::shared_ptr<const SigningKey>> fromEcJwk(std::string_view crv,
                                                             std::string_view x_b64url,
                                                             std::string_view y_b64url);
  static Result<std::shared_ptr<const SigningKey>> generate(int bits = 2048);  // RSA
  // RS256: RSA-2048; ES256: P-256.
  static Result<std::shared_ptr<const SigningKey>> generate(SigningAlg alg);

  virtual ~SigningKey() = default;
  virtual SigningAlg algorithm() const = 0;
  const char* alg() const { return algName(algorithm()); }
  virtual bool hasPrivate() const = 0;
  virtual int bits() const = 0;
  virtual std::string privatePem() const = 0;  // empty when public only
  // The public JWK: kty with n and e (RSA) or crv, x and y (EC), then use, alg and `kid`.
  virtual std::string publicJwk(std::string_view kid) const = 0;
  // JWK members "n" and "e" (base64url) of an RSA key; empty for an EC key.
  virtual std::string modulusB64() const = 0;
  virtual std::string exponentB64() const = 0;
  // RFC 7638 thumbprint, base64url: a stable kid.
  virtual std::string thumbprint() const = 0;
  // The JWS signature of `data` for alg(): PKCS#1 v1.5 bytes, or R || S (64 bytes) for ES256.
  virtual Result<std::string> sign(std::string_view data) const = 0;
  virtual bool verify(std::string_view data, std::string_view signature) const = 0;
  // sign/verify for RSA keys only (an EC key refuses): the names from before ES256.
  Result<std::string> signRs256(std::string_view data) const;
  bool verifyRs256(std::string_view data, std::string_view signature) const;
};
// The name from before ES256, kept for the code that mints and checks tokens with it.
using RsaKey = SigningKey;

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
// nullptr (no key with the token's kid) -> kUnknownKid; a key of another algorithm than the
// header's alg -> kBadSignature.
JwtStatus checkSignature(const DecodedJwt& jwt, const SigningKey* key);

// Signs a payload (JSON object text) with header {"alg":key.alg(),"typ":typ,"kid":kid} (kid
// omitted when empty). Safe to call from many threads on one key.
Result<std::string> signJwt(const SigningKey& key, std::string_view kid, std::string_view typ,
                            std::string_view payload_json);

}  // namespace broker::token
