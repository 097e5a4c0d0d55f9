#pragma once
// JOSE primitives for RFC 9068 access tokens: compact JWS decoding (RFC 7515), RS256 (RFC 7518
// §3.3) and ES256 (§3.4) over OpenSSL EVP with keys parsed once, RSA and P-256 JWKs (§6.3.1,
// §6.2.1) and the claim checks as pure functions taking `now`. Depends only on OpenSSL,
// nlohmann-json and the standard library.
//
// The broker signs and verifies its own tokens with this code, and MCP servers written in C++ use
// it (through mcp_auth/verifier.h) to verify those tokens, so both sides agree on every rule.

#include <openssl/types.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace mcp_auth {

enum class JwtStatus {
  kOk,
  kMalformed,       // not three base64url parts, bad JSON, a claim of the wrong type
  kUnsupportedAlg,  // alg is neither RS256 nor ES256 (none, HS*, PS*, ...)
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

// base64url without padding (RFC 4648 §5). Decoding accepts optional padding and rejects any
// character outside the alphabet.
std::string base64urlEncode(std::string_view data);
std::optional<std::string> base64urlDecode(std::string_view in);

namespace detail {
inline constexpr int kMaxJsonDepth = 16;
// Strict JSON object parsing (never throws): duplicate member names at any level and nesting
// deeper than kMaxJsonDepth are refused, so two parsers can never disagree about what a signed
// document says.
std::optional<nlohmann::json> parseJsonObject(std::string_view text);
}  // namespace detail

// RSA key sizes accepted for RS256 (RFC 7518 §3.3 requires at least 2048).
inline constexpr int kMinRsaBits = 2048;
inline constexpr int kMaxRsaBits = 8192;

// RSASSA-PKCS1-v1_5 with SHA-256 over `data`. Rejects a signature whose length is not the modulus
// length (RFC 8017 §8.2.2). Thread-safe for one key; leaves no entry on the OpenSSL error queue.
bool verifyRs256(EVP_PKEY* key, std::string_view data, std::string_view signature);
// ECDSA P-256 with SHA-256 over `data`. The JWS signature is R || S, 32 big-endian bytes each
// (RFC 7518 §3.4); anything else, a DER-encoded ECDSA-Sig-Value included, is refused. Same
// threading and error-queue rules as verifyRs256.
bool verifyEs256(EVP_PKEY* key, std::string_view data, std::string_view signature);
// JWS R || S (64 bytes) to the DER ECDSA-Sig-Value OpenSSL verifies, and back (`der` as OpenSSL
// signs). nullopt when the input is not of that form.
std::optional<std::string> es256RawToDer(std::string_view raw);
std::optional<std::string> es256DerToRaw(std::string_view der);
// A new RSA public EVP_PKEY from JWK members n and e (base64url), or nullptr with `error` set.
// Refuses an even or unit exponent and sizes outside kMinRsaBits..kMaxRsaBits. Caller frees.
EVP_PKEY* rsaPublicKeyFromJwk(std::string_view n_b64url, std::string_view e_b64url,
                              std::string* error);
// A new P-256 public EVP_PKEY from JWK members crv ("P-256"), x and y (base64url, 32 bytes
// each), or nullptr with `error` set. Refuses any other curve and a point not on the curve.
EVP_PKEY* ecPublicKeyFromJwk(std::string_view crv, std::string_view x_b64url,
                             std::string_view y_b64url, std::string* error);

// Whether `key` is an EC key on P-256 (prime256v1), the one curve of ES256.
bool isP256(EVP_PKEY* key);

// The JWS algorithms a verifier accepts. A key verifies only its own algorithm: an RSA key RS256,
// a P-256 key ES256, whatever the token's header says.
inline constexpr const char* kRs256 = "RS256";
inline constexpr const char* kEs256 = "ES256";

// A public key parsed once, RSA (RS256) or P-256 (ES256); immutable and safe to share across
// threads.
class PublicKey {
 public:
  static std::shared_ptr<const PublicKey> fromJwk(std::string_view n_b64url,
                                                  std::string_view e_b64url,
                                                  std::string* error = nullptr);
  static std::shared_ptr<const PublicKey> fromEcJwk(std::string_view crv, std::string_view x_b64url,
                                                    std::string_view y_b64url,
                                                    std::string* error = nullptr);
  // Takes ownership of `key` (RSA or P-256, public or private; only the public half is used).
  // nullptr (and `key` freed) for any other kind of key.
  static std::shared_ptr<const PublicKey> adopt(EVP_PKEY* key);
  ~PublicKey();
  PublicKey(const PublicKey&) = delete;
  PublicKey& operator=(const PublicKey&) = delete;

  // "RS256" or "ES256".
  const char* alg() const { return alg_; }
  // Verifies a JWS signature made with alg(); false for anything else.
  bool verify(std::string_view data, std::string_view signature) const;
  // RS256 only (false for a P-256 key): the name this check had before ES256.
  bool verifyRs256(std::string_view data, std::string_view signature) const;
  int bits() const;

 private:
  PublicKey(EVP_PKEY* key, const char* alg) : key_(key), alg_(alg) {}
  EVP_PKEY* key_;
  const char* alg_;
};
// The name from before ES256, kept so that MCP servers built against it still compile.
using RsaPublicKey = PublicKey;

struct DecodedJwt {
  std::string header_json;
  std::string payload_json;
  std::string signing_input;  // header.payload as sent
  std::string signature;      // raw bytes
  std::string alg, typ, kid;
};

// Splits and decodes; checks structure only (no signature). kMalformed unless the token is exactly
// three unpadded base64url parts whose first two are JSON objects without duplicate members,
// alg/typ/kid (when present) are strings, and the header has no "crit" (RFC 7515 §4.1.11).
JwtStatus decodeJwt(std::string_view token, DecodedJwt& out);

// Verification steps as pure functions: each returns kOk or the reason the token fails it. Run
// them in this order so that no claim is read before the signature has been checked.
JwtStatus checkAlgorithm(const DecodedJwt& jwt);  // "RS256" or "ES256" -> else kUnsupportedAlg
// RFC 9068 §2.1: "at+jwt" case-insensitively, with or without "application/" (RFC 7515 §4.1.9).
JwtStatus checkAccessTokenType(std::string_view typ);
// nullptr: kUnknownKid; a key of another algorithm than the header's alg: kBadSignature.
JwtStatus checkSignature(const DecodedJwt& jwt, const PublicKey* key);
JwtStatus checkIssuer(std::string_view iss, std::string_view expected);  // exact match
// `exp` is required; `iat` and `nbf` are 0 when absent. Expired once now >= exp + leeway (RFC 7519
// §4.1.4); not yet valid while iat or nbf > now + leeway. Saturating arithmetic.
JwtStatus checkTimes(int64_t exp, int64_t iat, int64_t nbf, int64_t now, int64_t leeway);
// Exact member of `aud`. An empty `expected` means the caller does not check the audience.
JwtStatus checkAudience(const std::vector<std::string>& aud, std::string_view expected);
// RFC 8707 resource match: some member of `aud` names the same resource as `resource` after
// canonicalisation (case of scheme and host, default port, one trailing slash of the path).
JwtStatus checkResourceAudience(const std::vector<std::string>& aud, std::string_view resource);
// Canonical form used by checkResourceAudience: lower-case scheme and host, default port (443
// https, 80 http) dropped, one trailing "/" of the path dropped. nullopt when `uri` has no
// "scheme://host", or has a fragment or userinfo.
std::optional<std::string> canonicalResourceUri(std::string_view uri);

// The claims of an RFC 9068 access token that a resource server reads. Optional members are
// empty (or 0) when absent.
struct AccessClaims {
  std::string iss, sub;
  std::vector<std::string> aud;  // a single string is read as a one-element list
  std::string scope;             // space-separated
  std::string client_id;
  int64_t iat = 0, exp = 0, nbf = 0;
  std::string jti;
  std::string preferred_username, email, idp;
  std::vector<std::string> groups;
};
// False when a member has the wrong type (a string that is a number, a fractional time, ...).
bool readAccessClaims(const nlohmann::json& payload, AccessClaims& out);
// kMissingClaim unless iss, sub, exp, jti and client_id are present.
JwtStatus checkRequiredClaims(const AccessClaims& claims);

// Checks the signature of a decoded token (kOk, kUnknownKid or kBadSignature). Lets callers keep
// their own key types; a resource server uses a JWKS-backed PublicKey lookup.
using SignatureCheck = std::function<JwtStatus(const DecodedJwt&)>;

struct AccessTokenRules {
  std::string issuer;    // required exact match
  std::string audience;  // when non-empty, an exact member of aud
  std::string resource;  // when non-empty, checkResourceAudience
  int64_t now = 0;
  int64_t leeway = 30;  // seconds for exp / iat / nbf
};

struct VerifiedJwt {
  DecodedJwt jwt;
  nlohmann::json payload;
  AccessClaims claims;
};

// The whole pipeline: decode, pin alg (RS256 or ES256) and typ at+jwt, check the signature, and
// only then read the claims: types, required claims, issuer, exp/iat/nbf, audience/resource. Never
// throws.
JwtStatus verifyAccessToken(std::string_view token, const SignatureCheck& signature,
                            const AccessTokenRules& rules, VerifiedJwt& out);

}  // namespace mcp_auth
