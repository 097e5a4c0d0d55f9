// JWT access tokens per RFC 9068: claims (§2.2), header typ "at+jwt" (§2.1) and validation (§4),
// with the registered claims of RFC 7519 §4.1 and the "fid" (refresh family) private claim.

#include "broker/token/access_token.h"

#include <limits>

#include "token/strict_json.h"

namespace broker::token {
namespace {

using nlohmann::json;

constexpr char kType[] = "at+jwt";
constexpr char kMediaType[] = "application/at+jwt";

bool readString(const json& obj, const char* name, std::string& out) {
  auto it = obj.find(name);
  if (it == obj.end()) return true;
  if (!it->is_string()) return false;
  out = it->get<std::string>();
  return true;
}

bool readStringList(const json& obj, const char* name, bool allow_single,
                    std::vector<std::string>& out) {
  auto it = obj.find(name);
  if (it == obj.end()) return true;
  if (allow_single && it->is_string()) {
    out = {it->get<std::string>()};
    return true;
  }
  if (!it->is_array()) return false;
  out.clear();
  for (const auto& v : *it) {
    if (!v.is_string()) return false;
    out.push_back(v.get<std::string>());
  }
  return true;
}

// NumericDate (RFC 7519 §2). This broker only mints whole seconds, so fractions are refused.
bool readTime(const json& obj, const char* name, int64_t& out) {
  auto it = obj.find(name);
  if (it == obj.end()) return true;
  if (it->is_number_unsigned()) {
    auto v = it->get<uint64_t>();
    if (v > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return false;
    out = static_cast<int64_t>(v);
    return true;
  }
  if (!it->is_number_integer()) return false;
  out = it->get<int64_t>();
  return true;
}

Result<AccessTokenClaims> claimsFromObject(const json& obj) {
  AccessTokenClaims c;
  bool ok = readString(obj, "iss", c.iss) && readString(obj, "sub", c.sub) &&
            readStringList(obj, "aud", /*allow_single=*/true, c.aud) &&
            readString(obj, "scope", c.scope) && readString(obj, "client_id", c.client_id) &&
            readTime(obj, "iat", c.iat) && readTime(obj, "exp", c.exp) &&
            readString(obj, "jti", c.jti) && readString(obj, "fid", c.family_id) &&
            readString(obj, "preferred_username", c.preferred_username) &&
            readString(obj, "email", c.email) && readString(obj, "idp", c.idp) &&
            readStringList(obj, "groups", /*allow_single=*/false, c.groups);
  if (!ok) return Error::invalid("access token claim has the wrong type");
  return c;
}

bool equalsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    auto lower = [](char c) { return (c >= 'A' && c <= 'Z') ? char(c - 'A' + 'a') : c; };
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
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
  bool present =
      !c.iss.empty() && !c.sub.empty() && c.exp != 0 && !c.jti.empty() && !c.client_id.empty();
  return present ? JwtStatus::kOk : JwtStatus::kMissingClaim;
}

JwtStatus checkAccessTokenType(std::string_view typ) {
  return equalsIgnoreCase(typ, kType) || equalsIgnoreCase(typ, kMediaType) ? JwtStatus::kOk
                                                                           : JwtStatus::kWrongType;
}

Result<std::string> signAccessToken(const RsaKey& key, std::string_view kid,
                                    const AccessTokenClaims& claims) {
  return signJwt(key, kid, kType, claims.toJson());
}

Result<VerifiedAccessToken, JwtStatus> verifyAccessToken(std::string_view token,
                                                         const KeyLookup& keys,
                                                         const VerifyOptions& options) {
  auto decoded = decodeJwt(token);
  if (!decoded) return decoded.error();
  const DecodedJwt& jwt = *decoded;
  if (auto s = checkAlgorithm(jwt); s != JwtStatus::kOk) return s;
  if (auto s = checkAccessTokenType(jwt.typ); s != JwtStatus::kOk) return s;
  std::shared_ptr<const RsaKey> key = jwt.kid.empty() || !keys ? nullptr : keys(jwt.kid);
  if (auto s = checkSignature(jwt, key.get()); s != JwtStatus::kOk) return s;

  // Signed by us from here on; the claims are read only now.
  auto obj = detail::parseJsonObject(jwt.payload_json);
  if (!obj) return JwtStatus::kMalformed;
  auto claims = claimsFromObject(*obj);
  int64_t nbf = 0;
  if (!claims || !readTime(*obj, "nbf", nbf)) return JwtStatus::kMalformed;
  if (auto s = checkRequiredClaims(*claims); s != JwtStatus::kOk) return s;
  if (auto s = checkIssuer(claims->iss, options.issuer); s != JwtStatus::kOk) return s;
  if (auto s = checkTimes(claims->exp, claims->iat, nbf, options.now, options.leeway);
      s != JwtStatus::kOk) {
    return s;
  }
  if (auto s = checkAudience(claims->aud, options.audience); s != JwtStatus::kOk) return s;
  return VerifiedAccessToken{std::move(claims).value(), jwt.payload_json, jwt.kid};
}

}  // namespace broker::token
