#pragma once
// RFC 9068 JWT access tokens: header typ "at+jwt", RS256.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "broker/core/result.h"
#include "broker/token/jwt.h"

namespace broker::token {

struct AccessTokenClaims {
  std::string iss;
  std::string sub;               // "<upstream>:<id>"
  std::vector<std::string> aud;  // canonical resource (if bound) then mcp:<domain>:<server> ids
  std::string scope;             // space-separated
  std::string client_id;
  int64_t iat = 0;
  int64_t exp = 0;
  std::string jti;
  std::string family_id;  // claim "fid": the refresh family (grant) that minted it
  std::string preferred_username;
  std::string email;  // only when verified
  std::string idp;    // upstream id
  std::vector<std::string> groups;

  // Optional members (aud, scope, fid, preferred_username, email, idp, groups) are omitted when
  // empty; aud is a string when it has one value, an array otherwise (RFC 7519 §4.1.3).
  std::string toJson() const;
  // Accepts aud as string or array. Fails on non-object input, duplicate members or members of the
  // wrong type; does not require any claim (checkRequiredClaims does).
  static Result<AccessTokenClaims> fromJson(const std::string& json);
};

// kMissingClaim unless iss, sub, exp, jti and client_id are present.
JwtStatus checkRequiredClaims(const AccessTokenClaims& claims);
// RFC 9068 §2.1: "at+jwt", compared case-insensitively, with or without the "application/" prefix
// (RFC 7515 §4.1.9). Anything else (including a missing typ) -> kWrongType.
using mcp_auth::checkAccessTokenType;

// Signs `claims` as an RFC 9068 access token (typ "at+jwt", RS256).
Result<std::string> signAccessToken(const RsaKey& key, std::string_view kid,
                                    const AccessTokenClaims& claims);

// Looks up a verification key by kid (nullptr when unknown).
using KeyLookup = std::function<std::shared_ptr<const RsaKey>(const std::string& kid)>;

struct VerifiedAccessToken {
  AccessTokenClaims claims;
  std::string payload_json;
  std::string kid;
};

struct VerifyOptions {
  std::string issuer;    // required exact match
  std::string audience;  // when non-empty, must be one of aud
  int64_t now = 0;
  int64_t leeway = 30;  // seconds for exp / iat / nbf
};

// Pure: decode (kMalformed), pin alg RS256 (kUnsupportedAlg) and typ at+jwt (kWrongType), find the
// key (kUnknownKid), check the signature (kBadSignature); only then read the claims: types
// (kMalformed), required claims (kMissingClaim), issuer, exp/iat/nbf, audience. Never throws.
Result<VerifiedAccessToken, JwtStatus> verifyAccessToken(std::string_view token,
                                                         const KeyLookup& keys,
                                                         const VerifyOptions& options);

}  // namespace broker::token
