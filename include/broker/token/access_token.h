#pragma once
// RFC 9068 JWT access tokens: header typ "at+jwt", RS256.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
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

  std::string toJson() const;
  static Result<AccessTokenClaims> fromJson(const std::string& json);
};

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

// Pure: decode, pin alg RS256 and typ at+jwt, find key, check signature, then issuer/time/audience.
Result<VerifiedAccessToken, JwtStatus> verifyAccessToken(std::string_view token,
                                                         const KeyLookup& keys,
                                                         const VerifyOptions& options);

}  // namespace broker::token
