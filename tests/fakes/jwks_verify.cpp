#include "fakes/jwks_verify.h"

#include <ctime>
#include <memory>

#include "broker/token/access_token.h"

namespace broker::testing {

using nlohmann::json;

token::JwtStatus verifyWithJwks(HttpClient& http, const std::string& base, const std::string& jwt,
                                json* claims, const std::string& issuer) {
  auto jwks = json::parse(http.get(base + "/.well-known/jwks.json").body, nullptr, false);
  token::KeyLookup lookup =
      [&](const std::string& kid) -> std::shared_ptr<const token::SigningKey> {
    if (!jwks.is_object() || !jwks["keys"].is_array()) return nullptr;
    for (const auto& k : jwks["keys"]) {
      if (k.value("kid", "") == kid) {
        auto key = k.value("kty", "") == "EC"
                       ? token::SigningKey::fromEcJwk(k.value("crv", ""), k.value("x", ""),
                                                      k.value("y", ""))
                       : token::SigningKey::fromJwk(k.value("n", ""), k.value("e", ""));
        return key.ok() ? key.value() : nullptr;
      }
    }
    return nullptr;
  };
  token::VerifyOptions opts;
  opts.issuer = issuer.empty() ? base : issuer;
  opts.now = time(nullptr);
  auto v = token::verifyAccessToken(jwt, lookup, opts);
  if (!v.ok()) return v.error();
  if (claims) *claims = json::parse(v->payload_json, nullptr, false);
  return token::JwtStatus::kOk;
}

}  // namespace broker::testing
