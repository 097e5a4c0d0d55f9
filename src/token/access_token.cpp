// JWT access tokens per RFC 9068: claims (§2.2), header typ "at+jwt" (§2.1) and validation (§4),
// with the registered claims of RFC 7519 §4.1 and the "fid" (refresh family) private claim.

#include "broker/token/access_token.h"

#include "token/strict_json.h"

namespace broker::token {
namespace {

using nlohmann::json;

constexpr char kType[] = "at+jwt";

// The registered and identity claims are read by the verification library; only "fid" is the
// broker's own.
Result<AccessTokenClaims> claimsFromObject(const json& obj) {
  mcp_auth::AccessClaims read;
  std::string fid;
  auto it = obj.find("fid");
  if (it != obj.end()) {
    if (!it->is_string()) return Error::invalid("access token claim has the wrong type");
    fid = it->get<std::string>();
  }
  if (!mcp_auth::readAccessClaims(obj, read)) {
    return Error::invalid("access token claim has the wrong type");
  }
  AccessTokenClaims c;
  c.iss = std::move(read.iss);
  c.sub = std::move(read.sub);
  c.aud = std::move(read.aud);
  c.scope = std::move(read.scope);
  c.client_id = std::move(read.client_id);
  c.iat = read.iat;
  c.exp = read.exp;
  c.jti = std::move(read.jti);
  c.family_id = std::move(fid);
  c.preferred_username = std::move(read.preferred_username);
  c.email = std::move(read.email);
  c.idp = std::move(read.idp);
  c.groups = std::move(read.groups);
  return c;
}

}  // namespace

std::string AccessTokenClaims::toJson() const {
  nlohmann::ordered_json j;
  auto put = [&j](const char* name, const std::string& value) {
    if (!value.empty()) j[name] = value;
  };
  j["iss"] = iss;
  j["sub"] = sub;
  if (aud.size() == 1) {
    j["aud"] = aud.front();
  } else if (!aud.empty()) {
    j["aud"] = aud;
  }
  put("scope", scope);
  j["client_id"] = client_id;
  j["iat"] = iat;
  j["exp"] = exp;
  j["jti"] = jti;
  put("fid", family_id);
  put("preferred_username", preferred_username);
  put("email", email);
  put("idp", idp);
  if (!groups.empty()) j["groups"] = groups;
  // Upstream names may carry invalid UTF-8; replacing beats throwing in the token endpoint.
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

Result<AccessTokenClaims> AccessTokenClaims::fromJson(const std::string& text) {
  auto obj = detail::parseJsonObject(text);
  if (!obj) return Error::invalid("access token claims are not a JSON object");
  return claimsFromObject(*obj);
}

JwtStatus checkRequiredClaims(const AccessTokenClaims& c) {
  mcp_auth::AccessClaims required;
  required.iss = c.iss;
  required.sub = c.sub;
  required.exp = c.exp;
  required.jti = c.jti;
  required.client_id = c.client_id;
  return mcp_auth::checkRequiredClaims(required);
}

Result<std::string> signAccessToken(const RsaKey& key, std::string_view kid,
                                    const AccessTokenClaims& claims) {
  return signJwt(key, kid, kType, claims.toJson());
}

Result<VerifiedAccessToken, JwtStatus> verifyAccessToken(std::string_view token,
                                                         const KeyLookup& keys,
                                                         const VerifyOptions& options) {
  mcp_auth::AccessTokenRules rules;
  rules.issuer = options.issuer;
  rules.audience = options.audience;
  rules.now = options.now;
  rules.leeway = options.leeway;
  mcp_auth::VerifiedJwt verified;
  auto status = mcp_auth::verifyAccessToken(
      token,
      [&keys](const DecodedJwt& jwt) {
        auto key = keys ? keys(jwt.kid) : nullptr;
        return checkSignature(jwt, key.get());
      },
      rules, verified);
  if (status != JwtStatus::kOk) return status;
  auto claims = claimsFromObject(verified.payload);
  if (!claims) return JwtStatus::kMalformed;
  return VerifiedAccessToken{std::move(claims).value(), std::move(verified.jwt.payload_json),
                             std::move(verified.jwt.kid)};
}

}  // namespace broker::token
