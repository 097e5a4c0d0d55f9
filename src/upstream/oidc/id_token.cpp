// ID token verification for the OpenID Connect upstream (see id_token.h): RS256 and ES256 public
// keys built from JWK members by the verification library's JOSE code (mcp_auth/jwt.h), and the
// OIDC Core §3.1.3.7 claim checks.

#include "upstream/oidc/id_token.h"

#include <openssl/evp.h>

#include <cmath>

#include "broker/core/crypto.h"
#include "broker/core/encoding.h"
#include "mcp_auth/jwt.h"
#include "token/strict_json.h"

namespace broker::upstream::oidc {
namespace {

using nlohmann::json;

constexpr size_t kMaxTokenSize = 16 * 1024;

struct PkeyDeleter {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyDeleter>;

// The JOSE primitives are the token-verification library's (mcp_auth/jwt.h), shared with the
// broker's own tokens: RS256 and ES256 (R || S, RFC 7518 §3.4) over OpenSSL EVP.
class EvpJwk final : public Jwk {
 public:
  EvpJwk(std::string kid, std::string alg, PkeyPtr key)
      : kid_(std::move(kid)), alg_(std::move(alg)), key_(std::move(key)) {}
  const std::string& kid() const override { return kid_; }
  const std::string& alg() const override { return alg_; }

  bool verify(std::string_view input, std::string_view signature) const override {
    return alg_ == mcp_auth::kRs256 ? mcp_auth::verifyRs256(key_.get(), input, signature)
                                    : mcp_auth::verifyEs256(key_.get(), input, signature);
  }

 private:
  std::string kid_, alg_;
  PkeyPtr key_;
};

std::string member(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

std::shared_ptr<const Jwk> parseKey(const json& jwk) {
  if (!jwk.is_object()) return nullptr;
  if (jwk.contains("use") && member(jwk, "use") != "sig") return nullptr;
  if (jwk.contains("key_ops")) {
    const auto& ops = jwk["key_ops"];
    if (!ops.is_array() || std::find(ops.begin(), ops.end(), json("verify")) == ops.end()) {
      return nullptr;
    }
  }
  const std::string kty = member(jwk, "kty");
  const std::string declared = member(jwk, "alg");
  std::string alg;
  PkeyPtr key;
  if (kty == "RSA") {
    alg = "RS256";
    if (!declared.empty() && declared != alg) return nullptr;
    key.reset(mcp_auth::rsaPublicKeyFromJwk(member(jwk, "n"), member(jwk, "e"), nullptr));
  } else if (kty == "EC") {
    alg = "ES256";
    if (!declared.empty() && declared != alg) return nullptr;
    // Refuses other curves, short coordinates and points off the curve (invalid-curve attacks).
    key.reset(mcp_auth::ecPublicKeyFromJwk(member(jwk, "crv"), member(jwk, "x"), member(jwk, "y"),
                                           nullptr));
  }
  if (!key) return nullptr;
  return std::make_shared<EvpJwk>(member(jwk, "kid"), alg, std::move(key));
}

// NumericDate (RFC 7519 §2): a JSON number, possibly with a fraction.
bool numericDate(const json& claims, const char* name, int64_t& out) {
  auto it = claims.find(name);
  if (it == claims.end() || !it->is_number()) return false;
  double v = it->get<double>();
  if (!std::isfinite(v) || v < 0 || v > 1e13) return false;
  out = static_cast<int64_t>(v);
  return true;
}

}  // namespace

const char* toString(IdTokenStatus status) {
  switch (status) {
    case IdTokenStatus::kOk:
      return "ok";
    case IdTokenStatus::kMalformed:
      return "malformed";
    case IdTokenStatus::kUnsupportedAlg:
      return "unsupported_alg";
    case IdTokenStatus::kUnknownKid:
      return "unknown_kid";
    case IdTokenStatus::kBadSignature:
      return "bad_signature";
    case IdTokenStatus::kWrongIssuer:
      return "wrong_issuer";
    case IdTokenStatus::kWrongAudience:
      return "wrong_audience";
    case IdTokenStatus::kWrongAzp:
      return "wrong_azp";
    case IdTokenStatus::kExpired:
      return "expired";
    case IdTokenStatus::kNotYetValid:
      return "not_yet_valid";
    case IdTokenStatus::kMissingClaim:
      return "missing_claim";
    case IdTokenStatus::kWrongNonce:
      return "wrong_nonce";
  }
  return "unknown";
}

Result<JwkSet> JwkSet::parse(std::string_view json_text) {
  auto doc = json::parse(json_text, nullptr, false);
  if (doc.is_discarded()) return Error::invalid("not a JWK Set");
  return fromJson(doc);
}

Result<JwkSet> JwkSet::fromJson(const json& doc) {
  if (!doc.is_object() || !doc.contains("keys") || !doc["keys"].is_array()) {
    return Error::invalid("not a JWK Set");
  }
  JwkSet set;
  for (const auto& k : doc["keys"]) {
    if (auto key = parseKey(k)) set.keys_.push_back(std::move(key));
  }
  return set;
}

const Jwk* JwkSet::find(const std::string& kid, const std::string& alg) const {
  const Jwk* only = nullptr;
  size_t fitting = 0;
  for (const auto& k : keys_) {
    if (k->alg() != alg) continue;
    if (!kid.empty() && k->kid() == kid) return k.get();
    ++fitting;
    only = k.get();
  }
  return kid.empty() && fitting == 1 ? only : nullptr;
}

Result<Jws, IdTokenStatus> decodeJws(std::string_view token) {
  if (token.size() > kMaxTokenSize) return IdTokenStatus::kMalformed;
  size_t first = token.find('.');
  size_t second = first == std::string_view::npos ? first : token.find('.', first + 1);
  if (second == std::string_view::npos || token.find('.', second + 1) != std::string_view::npos) {
    return IdTokenStatus::kMalformed;
  }
  auto header_text = base64urlDecode(token.substr(0, first));
  auto payload_text = base64urlDecode(token.substr(first + 1, second - first - 1));
  auto signature = base64urlDecode(token.substr(second + 1));
  if (!header_text || !payload_text || !signature || token.find('=') != std::string_view::npos) {
    return IdTokenStatus::kMalformed;
  }
  auto header = token::detail::parseJsonObject(*header_text);
  auto payload = token::detail::parseJsonObject(*payload_text);
  if (!header || !payload) return IdTokenStatus::kMalformed;
  // RFC 7515 §4.1.11: no extension is understood here, so any critical one is refused.
  if (header->contains("crit")) return IdTokenStatus::kMalformed;
  auto alg = header->find("alg");
  auto kid = header->find("kid");
  if (alg == header->end() || !alg->is_string() || (kid != header->end() && !kid->is_string())) {
    return IdTokenStatus::kMalformed;
  }
  Jws out;
  out.alg = alg->get<std::string>();
  out.kid = kid == header->end() ? std::string() : kid->get<std::string>();
  out.header = std::move(*header);
  out.payload = std::move(*payload);
  out.signing_input = std::string(token.substr(0, second));
  out.signature = std::move(*signature);
  return out;
}

IdTokenStatus checkAlgorithm(const Jws& jws) {
  return jws.alg == "RS256" || jws.alg == "ES256" ? IdTokenStatus::kOk
                                                  : IdTokenStatus::kUnsupportedAlg;
}

IdTokenStatus checkSignature(const Jws& jws, const JwkSet& keys) {
  if (checkAlgorithm(jws) != IdTokenStatus::kOk) return IdTokenStatus::kUnsupportedAlg;
  const Jwk* key = keys.find(jws.kid, jws.alg);
  if (!key) return IdTokenStatus::kUnknownKid;
  return key->verify(jws.signing_input, jws.signature) ? IdTokenStatus::kOk
                                                       : IdTokenStatus::kBadSignature;
}

IdTokenStatus checkClaims(const json& claims, const IdTokenRules& rules) {
  auto iss = claims.find("iss");
  auto sub = claims.find("sub");
  auto aud = claims.find("aud");
  int64_t exp = 0, iat = 0, nbf = 0;
  if (iss == claims.end() || !iss->is_string() || sub == claims.end() || !sub->is_string() ||
      sub->get_ref<const std::string&>().empty() ||
      sub->get_ref<const std::string&>().size() > 255 || aud == claims.end() ||
      !numericDate(claims, "exp", exp) || !numericDate(claims, "iat", iat)) {
    return IdTokenStatus::kMissingClaim;
  }
  if (iss->get_ref<const std::string&>() != rules.issuer) return IdTokenStatus::kWrongIssuer;
  bool audience = false;
  size_t audiences = 1;
  if (aud->is_string()) {
    audience = aud->get_ref<const std::string&>() == rules.client_id;
  } else if (aud->is_array()) {
    audiences = aud->size();
    for (const auto& a : *aud) {
      if (!a.is_string()) return IdTokenStatus::kMissingClaim;
      audience = audience || a.get_ref<const std::string&>() == rules.client_id;
    }
  } else {
    return IdTokenStatus::kMissingClaim;
  }
  if (!audience) return IdTokenStatus::kWrongAudience;
  // OIDC Core §3.1.3.7 items 4-5: a token for several audiences was issued to one of them, its
  // authorized party; only a token whose azp is us was meant for us. Without azp another client
  // that shares the audience list could replay its token here. A lone audience needs no azp, but
  // one that is present must still be us.
  auto azp = claims.find("azp");
  if (azp == claims.end()) {
    if (audiences > 1) return IdTokenStatus::kWrongAzp;
  } else if (!azp->is_string() || azp->get_ref<const std::string&>() != rules.client_id) {
    return IdTokenStatus::kWrongAzp;
  }
  if (rules.now >= exp + rules.leeway) return IdTokenStatus::kExpired;
  if (iat > rules.now + rules.leeway) return IdTokenStatus::kNotYetValid;
  if (claims.contains("nbf")) {
    if (!numericDate(claims, "nbf", nbf)) return IdTokenStatus::kMissingClaim;
    if (nbf > rules.now + rules.leeway) return IdTokenStatus::kNotYetValid;
  }
  if (!rules.nonce.empty()) {
    auto nonce = claims.find("nonce");
    if (nonce == claims.end() || !nonce->is_string() ||
        !constantTimeEquals(nonce->get_ref<const std::string&>(), rules.nonce)) {
      return IdTokenStatus::kWrongNonce;
    }
  }
  return IdTokenStatus::kOk;
}

Result<json, IdTokenStatus> verifyIdToken(std::string_view token, const JwkSet& keys,
                                          const IdTokenRules& rules) {
  auto jws = decodeJws(token);
  if (!jws.ok()) return jws.error();
  if (auto s = checkSignature(jws.value(), keys); s != IdTokenStatus::kOk) return s;
  if (auto s = checkClaims(jws->payload, rules); s != IdTokenStatus::kOk) return s;
  return std::move(jws->payload);
}

}  // namespace broker::upstream::oidc
