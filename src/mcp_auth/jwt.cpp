// Compact JWS (RFC 7515 §3.1, §5) with RS256 = RSASSA-PKCS1-v1_5 over SHA-256 (RFC 7518 §3.3)
// and ES256 = ECDSA P-256 over SHA-256 (RFC 7518 §3.4), RSA and EC JWKs (RFC 7518 §6.3.1,
// §6.2.1) and RFC 9068 access-token validation (§4), on OpenSSL 3 EVP.
//
// A key is parsed once into an EVP_PKEY; verifying creates only a per-call EVP_MD_CTX, which is
// what makes one key safe to use from many threads at once.

#include "mcp_auth/jwt.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/rsa.h>

#include <algorithm>
#include <limits>
#include <set>

namespace mcp_auth {
namespace {

using nlohmann::json;

// Far above any token a broker mints; bounds the work done on hostile input.
constexpr size_t kMaxTokenSize = 64 * 1024;

const unsigned char* bytes(std::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

struct BnFree {
  void operator()(BIGNUM* p) const { BN_free(p); }
};
struct BldFree {
  void operator()(OSSL_PARAM_BLD* p) const { OSSL_PARAM_BLD_free(p); }
};
struct ParamFree {
  void operator()(OSSL_PARAM* p) const { OSSL_PARAM_free(p); }
};
struct PkeyCtxFree {
  void operator()(EVP_PKEY_CTX* p) const { EVP_PKEY_CTX_free(p); }
};
struct MdCtxFree {
  void operator()(EVP_MD_CTX* p) const { EVP_MD_CTX_free(p); }
};
struct EcdsaSigFree {
  void operator()(ECDSA_SIG* p) const { ECDSA_SIG_free(p); }
};

// P-256: 32-byte coordinates and scalars (RFC 7518 §3.4, §6.2.1.2).
constexpr size_t kP256Bytes = 32;

// A verification that failed must not leave entries on this thread's OpenSSL error queue, where a
// later, unrelated caller would misread them as its own.
bool digestVerify(EVP_PKEY* key, std::string_view data, std::string_view signature,
                  bool pkcs1_padding) {
  std::unique_ptr<EVP_MD_CTX, MdCtxFree> ctx(EVP_MD_CTX_new());
  EVP_PKEY_CTX* pctx = nullptr;  // owned by ctx
  bool ok =
      ctx &&
      EVP_DigestVerifyInit_ex(ctx.get(), &pctx, "SHA256", nullptr, nullptr, key, nullptr) == 1 &&
      (!pkcs1_padding || EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) == 1) &&
      EVP_DigestVerify(ctx.get(), bytes(signature), signature.size(), bytes(data), data.size()) ==
          1;
  if (!ok) ERR_clear_error();
  return ok;
}

constexpr char kB64Url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

int b64Value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '-') return 62;
  if (c == '_') return 63;
  return -1;
}

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

// NumericDate (RFC 7519 §2), whole seconds only: fractions are refused.
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

char lower(char c) {
  return (c >= 'A' && c <= 'Z') ? char(c - 'A' + 'a') : c;
}

bool equalsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

}  // namespace

const char* toString(JwtStatus s) {
  switch (s) {
    case JwtStatus::kOk:
      return "ok";
    case JwtStatus::kMalformed:
      return "malformed";
    case JwtStatus::kUnsupportedAlg:
      return "unsupported_alg";
    case JwtStatus::kWrongType:
      return "wrong_type";
    case JwtStatus::kUnknownKid:
      return "unknown_kid";
    case JwtStatus::kBadSignature:
      return "bad_signature";
    case JwtStatus::kExpired:
      return "expired";
    case JwtStatus::kNotYetValid:
      return "not_yet_valid";
    case JwtStatus::kWrongIssuer:
      return "wrong_issuer";
    case JwtStatus::kWrongAudience:
      return "wrong_audience";
    case JwtStatus::kMissingClaim:
      return "missing_claim";
    case JwtStatus::kRevoked:
      return "revoked";
  }
  return "malformed";
}

std::string base64urlEncode(std::string_view data) {
  std::string out;
  out.reserve((data.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < data.size(); i += 3) {
    uint32_t v = (uint8_t(data[i]) << 16) | (uint8_t(data[i + 1]) << 8) | uint8_t(data[i + 2]);
    out += kB64Url[(v >> 18) & 63];
    out += kB64Url[(v >> 12) & 63];
    out += kB64Url[(v >> 6) & 63];
    out += kB64Url[v & 63];
  }
  if (i + 1 == data.size()) {
    uint32_t v = uint8_t(data[i]) << 16;
    out += kB64Url[(v >> 18) & 63];
    out += kB64Url[(v >> 12) & 63];
  } else if (i + 2 == data.size()) {
    uint32_t v = (uint8_t(data[i]) << 16) | (uint8_t(data[i + 1]) << 8);
    out += kB64Url[(v >> 18) & 63];
    out += kB64Url[(v >> 12) & 63];
    out += kB64Url[(v >> 6) & 63];
  }
  return out;
}

std::optional<std::string> base64urlDecode(std::string_view in) {
  while (!in.empty() && in.back() == '=') in.remove_suffix(1);
  // A lone trailing sextet cannot encode a byte.
  if (in.size() % 4 == 1) return std::nullopt;
  std::string out;
  out.reserve(in.size() * 3 / 4);
  uint32_t acc = 0;
  int bits = 0;
  for (char c : in) {
    int v = b64Value(c);
    if (v < 0) return std::nullopt;
    acc = (acc << 6) | uint32_t(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += char((acc >> bits) & 0xFF);
    }
  }
  // Non-zero leftover bits would give one byte string two spellings.
  if (bits > 0 && (acc & ((1u << bits) - 1)) != 0) return std::nullopt;
  return out;
}

namespace detail {

std::optional<json> parseJsonObject(std::string_view text) {
  std::vector<std::set<std::string>> open_objects;
  bool rejected = false;
  auto check = [&](int depth, json::parse_event_t event, json& parsed) {
    if (depth > kMaxJsonDepth) rejected = true;
    switch (event) {
      case json::parse_event_t::object_start:
        open_objects.emplace_back();
        break;
      case json::parse_event_t::object_end:
        if (!open_objects.empty()) open_objects.pop_back();
        break;
      case json::parse_event_t::key:
        if (open_objects.empty() || parsed.is_discarded() || !parsed.is_string() ||
            !open_objects.back().insert(parsed.get_ref<const std::string&>()).second) {
          rejected = true;
        }
        break;
      default:
        break;
    }
    return !rejected;
  };
  json value = json::parse(text.begin(), text.end(), check, /*allow_exceptions=*/false);
  if (rejected || value.is_discarded() || !value.is_object()) return std::nullopt;
  return value;
}

}  // namespace detail

bool isP256(EVP_PKEY* key) {
  char group[64] = {0};
  size_t len = 0;
  const bool p256 = key && EVP_PKEY_is_a(key, "EC") &&
                    EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group,
                                                   sizeof group, &len) == 1 &&
                    std::string_view(group, len) == "prime256v1";
  ERR_clear_error();
  return p256;
}

bool verifyRs256(EVP_PKEY* key, std::string_view data, std::string_view signature) {
  if (!key || !EVP_PKEY_is_a(key, "RSA")) return false;
  // RFC 8017 §8.2.2 step 1: a signature is exactly as long as the modulus.
  if (signature.size() != static_cast<size_t>(EVP_PKEY_get_size(key))) return false;
  return digestVerify(key, data, signature, /*pkcs1_padding=*/true);
}

bool verifyEs256(EVP_PKEY* key, std::string_view data, std::string_view signature) {
  if (!key || !isP256(key)) return false;
  auto der = es256RawToDer(signature);
  return der && digestVerify(key, data, *der, /*pkcs1_padding=*/false);
}

std::optional<std::string> es256RawToDer(std::string_view raw) {
  // Exactly R || S: a DER signature (70-72 bytes) or one of another curve is not a JWS ES256 one.
  if (raw.size() != 2 * kP256Bytes) return std::nullopt;
  std::unique_ptr<ECDSA_SIG, EcdsaSigFree> sig(ECDSA_SIG_new());
  BIGNUM* r = BN_bin2bn(bytes(raw), kP256Bytes, nullptr);
  BIGNUM* s = BN_bin2bn(bytes(raw) + kP256Bytes, kP256Bytes, nullptr);
  if (!sig || !r || !s || ECDSA_SIG_set0(sig.get(), r, s) != 1) {
    BN_free(r);
    BN_free(s);
    ERR_clear_error();
    return std::nullopt;
  }
  unsigned char* out = nullptr;
  const int len = i2d_ECDSA_SIG(sig.get(), &out);
  if (len <= 0) {
    ERR_clear_error();
    return std::nullopt;
  }
  std::string der(reinterpret_cast<char*>(out), static_cast<size_t>(len));
  OPENSSL_free(out);
  return der;
}

std::optional<std::string> es256DerToRaw(std::string_view der) {
  const unsigned char* p = bytes(der);
  std::unique_ptr<ECDSA_SIG, EcdsaSigFree> sig(
      d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der.size())));
  // Trailing bytes after the DER value would make two encodings of one signature.
  if (!sig || p != bytes(der) + der.size()) {
    ERR_clear_error();
    return std::nullopt;
  }
  const BIGNUM* r = nullptr;
  const BIGNUM* s = nullptr;
  ECDSA_SIG_get0(sig.get(), &r, &s);
  std::string raw(2 * kP256Bytes, '\0');
  auto* out = reinterpret_cast<unsigned char*>(raw.data());
  if (BN_bn2binpad(r, out, kP256Bytes) != static_cast<int>(kP256Bytes) ||
      BN_bn2binpad(s, out + kP256Bytes, kP256Bytes) != static_cast<int>(kP256Bytes)) {
    ERR_clear_error();
    return std::nullopt;
  }
  return raw;
}

EVP_PKEY* ecPublicKeyFromJwk(std::string_view crv, std::string_view x_b64url,
                             std::string_view y_b64url, std::string* error) {
  auto fail = [error](const char* why) -> EVP_PKEY* {
    ERR_clear_error();
    if (error) *error = why;
    return nullptr;
  };
  if (crv != "P-256") return fail("JWK crv is not P-256");
  auto x = base64urlDecode(x_b64url);
  auto y = base64urlDecode(y_b64url);
  // RFC 7518 §6.2.1.2: the full coordinate length, leading zeros included.
  if (!x || !y || x->size() != kP256Bytes || y->size() != kP256Bytes) {
    return fail("JWK x/y are not 32-byte base64url coordinates");
  }
  const std::string point = "\x04" + *x + *y;  // uncompressed SEC1 point
  std::unique_ptr<OSSL_PARAM_BLD, BldFree> bld(OSSL_PARAM_BLD_new());
  if (!bld ||
      OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) !=
          1 ||
      OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(),
                                       point.size()) != 1) {
    return fail("OSSL_PARAM_BLD failed");
  }
  std::unique_ptr<OSSL_PARAM, ParamFree> params(OSSL_PARAM_BLD_to_param(bld.get()));
  std::unique_ptr<EVP_PKEY_CTX, PkeyCtxFree> ctx(
      EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr));
  EVP_PKEY* raw = nullptr;
  bool ok = params && ctx && EVP_PKEY_fromdata_init(ctx.get()) == 1 &&
            EVP_PKEY_fromdata(ctx.get(), &raw, EVP_PKEY_PUBLIC_KEY, params.get()) == 1;
  if (ok) {
    // A point off the curve would open invalid-curve attacks; fromdata alone does not check.
    std::unique_ptr<EVP_PKEY_CTX, PkeyCtxFree> check(
        EVP_PKEY_CTX_new_from_pkey(nullptr, raw, nullptr));
    ok = check && EVP_PKEY_public_check(check.get()) == 1;
  }
  if (!ok) {
    EVP_PKEY_free(raw);
    return fail("JWK is not a point on P-256");
  }
  return raw;
}

EVP_PKEY* rsaPublicKeyFromJwk(std::string_view n_b64url, std::string_view e_b64url,
                              std::string* error) {
  auto fail = [error](const char* why) -> EVP_PKEY* {
    ERR_clear_error();
    if (error) *error = why;
    return nullptr;
  };
  auto n_raw = base64urlDecode(n_b64url);
  auto e_raw = base64urlDecode(e_b64url);
  if (!n_raw || !e_raw || n_raw->empty() || e_raw->empty() || e_raw->size() > 8) {
    return fail("JWK n/e are not base64url integers");
  }
  std::unique_ptr<BIGNUM, BnFree> n(
      BN_bin2bn(bytes(*n_raw), static_cast<int>(n_raw->size()), nullptr));
  std::unique_ptr<BIGNUM, BnFree> e(
      BN_bin2bn(bytes(*e_raw), static_cast<int>(e_raw->size()), nullptr));
  if (!n || !e) return fail("BIGNUM allocation failed");
  // An even or unit exponent is not an RSA public key; OpenSSL would only notice at verify time.
  if (!BN_is_odd(e.get()) || BN_is_one(e.get())) return fail("JWK e is not valid");
  const int bits = BN_num_bits(n.get());
  if (bits < kMinRsaBits || bits > kMaxRsaBits) return fail("RSA key size is outside 2048..8192");

  std::unique_ptr<OSSL_PARAM_BLD, BldFree> bld(OSSL_PARAM_BLD_new());
  if (!bld || OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, n.get()) != 1 ||
      OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, e.get()) != 1) {
    return fail("OSSL_PARAM_BLD failed");
  }
  std::unique_ptr<OSSL_PARAM, ParamFree> params(OSSL_PARAM_BLD_to_param(bld.get()));
  std::unique_ptr<EVP_PKEY_CTX, PkeyCtxFree> ctx(
      EVP_PKEY_CTX_new_from_name(nullptr, "RSA", nullptr));
  EVP_PKEY* raw = nullptr;
  bool ok = params && ctx && EVP_PKEY_fromdata_init(ctx.get()) == 1 &&
            EVP_PKEY_fromdata(ctx.get(), &raw, EVP_PKEY_PUBLIC_KEY, params.get()) == 1;
  if (!ok) {
    EVP_PKEY_free(raw);
    return fail("JWK is not a usable RSA public key");
  }
  return raw;
}

std::shared_ptr<const PublicKey> PublicKey::fromJwk(std::string_view n_b64url,
                                                    std::string_view e_b64url, std::string* error) {
  return adopt(rsaPublicKeyFromJwk(n_b64url, e_b64url, error));
}

std::shared_ptr<const PublicKey> PublicKey::fromEcJwk(std::string_view crv,
                                                      std::string_view x_b64url,
                                                      std::string_view y_b64url,
                                                      std::string* error) {
  return adopt(ecPublicKeyFromJwk(crv, x_b64url, y_b64url, error));
}

std::shared_ptr<const PublicKey> PublicKey::adopt(EVP_PKEY* key) {
  if (!key) return nullptr;
  const char* alg = EVP_PKEY_is_a(key, "RSA") ? kRs256 : isP256(key) ? kEs256 : nullptr;
  if (!alg) {
    EVP_PKEY_free(key);
    ERR_clear_error();
    return nullptr;
  }
  return std::shared_ptr<const PublicKey>(new PublicKey(key, alg));
}

PublicKey::~PublicKey() {
  EVP_PKEY_free(key_);
}

bool PublicKey::verify(std::string_view data, std::string_view signature) const {
  return alg_ == kEs256 ? mcp_auth::verifyEs256(key_, data, signature)
                        : mcp_auth::verifyRs256(key_, data, signature);
}

bool PublicKey::verifyRs256(std::string_view data, std::string_view signature) const {
  return alg_ == kRs256 && mcp_auth::verifyRs256(key_, data, signature);
}

int PublicKey::bits() const {
  return EVP_PKEY_get_bits(key_);
}

JwtStatus decodeJwt(std::string_view token, DecodedJwt& out) {
  if (token.size() > kMaxTokenSize) return JwtStatus::kMalformed;
  // RFC 7515 §2 defines base64url without padding; accepting '=' would give one token two
  // spellings.
  if (token.find('=') != std::string_view::npos) return JwtStatus::kMalformed;
  const size_t d1 = token.find('.');
  if (d1 == std::string_view::npos) return JwtStatus::kMalformed;
  const size_t d2 = token.find('.', d1 + 1);
  if (d2 == std::string_view::npos || token.find('.', d2 + 1) != std::string_view::npos) {
    return JwtStatus::kMalformed;
  }
  // An empty signature part is structurally valid (an unsecured JWS); checkAlgorithm refuses it.
  auto header = base64urlDecode(token.substr(0, d1));
  auto payload = base64urlDecode(token.substr(d1 + 1, d2 - d1 - 1));
  auto signature = base64urlDecode(token.substr(d2 + 1));
  if (!header || !payload || !signature) return JwtStatus::kMalformed;

  auto header_obj = detail::parseJsonObject(*header);
  if (!header_obj || !detail::parseJsonObject(*payload)) return JwtStatus::kMalformed;
  DecodedJwt jwt;
  if (!readString(*header_obj, "alg", jwt.alg) || !readString(*header_obj, "typ", jwt.typ) ||
      !readString(*header_obj, "kid", jwt.kid) || header_obj->contains("crit")) {
    return JwtStatus::kMalformed;
  }
  jwt.header_json = std::move(*header);
  jwt.payload_json = std::move(*payload);
  jwt.signing_input = std::string(token.substr(0, d2));
  jwt.signature = std::move(*signature);
  out = std::move(jwt);
  return JwtStatus::kOk;
}

JwtStatus checkAlgorithm(const DecodedJwt& jwt) {
  // A fixed list, not whatever the token names: "none", HS256 keyed with the public key, the other
  // RSA and ECDSA variants are all refused here (RFC 8725 §2.1, §3.1). Which of the two a token
  // may use is then decided by its key (checkSignature).
  return jwt.alg == kRs256 || jwt.alg == kEs256 ? JwtStatus::kOk : JwtStatus::kUnsupportedAlg;
}

JwtStatus checkAccessTokenType(std::string_view typ) {
  return equalsIgnoreCase(typ, "at+jwt") || equalsIgnoreCase(typ, "application/at+jwt")
             ? JwtStatus::kOk
             : JwtStatus::kWrongType;
}

JwtStatus checkSignature(const DecodedJwt& jwt, const PublicKey* key) {
  if (!key) return JwtStatus::kUnknownKid;
  // The key decides the algorithm: an RSA key never checks an "ES256" token, nor the reverse.
  if (jwt.alg != key->alg()) return JwtStatus::kBadSignature;
  return key->verify(jwt.signing_input, jwt.signature) ? JwtStatus::kOk : JwtStatus::kBadSignature;
}

JwtStatus checkIssuer(std::string_view iss, std::string_view expected) {
  return iss == expected ? JwtStatus::kOk : JwtStatus::kWrongIssuer;
}

JwtStatus checkTimes(int64_t exp, int64_t iat, int64_t nbf, int64_t now, int64_t leeway) {
  // Saturating: a hostile exp near INT64_MAX must not wrap into the past (or the future).
  auto plus = [](int64_t a, int64_t b) {
    if (b > 0 && a > std::numeric_limits<int64_t>::max() - b) {
      return std::numeric_limits<int64_t>::max();
    }
    return a + b;
  };
  if (now >= plus(exp, leeway)) return JwtStatus::kExpired;
  const int64_t latest_start = plus(now, leeway);
  if (iat > latest_start || nbf > latest_start) return JwtStatus::kNotYetValid;
  return JwtStatus::kOk;
}

JwtStatus checkAudience(const std::vector<std::string>& aud, std::string_view expected) {
  if (expected.empty()) return JwtStatus::kOk;
  return std::find(aud.begin(), aud.end(), expected) != aud.end() ? JwtStatus::kOk
                                                                  : JwtStatus::kWrongAudience;
}

std::optional<std::string> canonicalResourceUri(std::string_view uri) {
  const size_t colon = uri.find("://");
  if (colon == std::string_view::npos || colon == 0) return std::nullopt;
  if (uri.find('#') != std::string_view::npos) return std::nullopt;
  std::string scheme;
  for (char c : uri.substr(0, colon)) scheme += lower(c);
  std::string_view rest = uri.substr(colon + 3);
  const size_t end = rest.find_first_of("/?");
  std::string_view authority = rest.substr(0, end);
  std::string_view tail = end == std::string_view::npos ? std::string_view() : rest.substr(end);
  if (authority.empty() || authority.find('@') != std::string_view::npos) return std::nullopt;
  std::string host;
  for (char c : authority) host += lower(c);
  // The port follows the last ':' outside an IPv6 literal.
  const size_t bracket = host.rfind(']');
  const size_t port_colon = host.rfind(':');
  if (port_colon != std::string::npos && (bracket == std::string::npos || port_colon > bracket)) {
    std::string_view port = std::string_view(host).substr(port_colon + 1);
    if ((scheme == "https" && port == "443") || (scheme == "http" && port == "80") ||
        port.empty()) {
      host.resize(port_colon);
    }
  }
  if (host.empty()) return std::nullopt;
  std::string path(tail.substr(0, tail.find('?')));
  std::string query = tail.find('?') == std::string_view::npos
                          ? std::string()
                          : std::string(tail.substr(tail.find('?')));
  if (!path.empty() && path.back() == '/') path.pop_back();
  return scheme + "://" + host + path + query;
}

JwtStatus checkResourceAudience(const std::vector<std::string>& aud, std::string_view resource) {
  if (resource.empty()) return JwtStatus::kOk;
  auto wanted = canonicalResourceUri(resource);
  if (!wanted) return JwtStatus::kWrongAudience;
  for (const auto& a : aud) {
    auto have = canonicalResourceUri(a);
    if (have && *have == *wanted) return JwtStatus::kOk;
  }
  return JwtStatus::kWrongAudience;
}

bool readAccessClaims(const json& obj, AccessClaims& c) {
  return readString(obj, "iss", c.iss) && readString(obj, "sub", c.sub) &&
         readStringList(obj, "aud", /*allow_single=*/true, c.aud) &&
         readString(obj, "scope", c.scope) && readString(obj, "client_id", c.client_id) &&
         readTime(obj, "iat", c.iat) && readTime(obj, "exp", c.exp) &&
         readTime(obj, "nbf", c.nbf) && readString(obj, "jti", c.jti) &&
         readString(obj, "preferred_username", c.preferred_username) &&
         readString(obj, "email", c.email) && readString(obj, "idp", c.idp) &&
         readStringList(obj, "groups", /*allow_single=*/false, c.groups);
}

JwtStatus checkRequiredClaims(const AccessClaims& c) {
  bool present =
      !c.iss.empty() && !c.sub.empty() && c.exp != 0 && !c.jti.empty() && !c.client_id.empty();
  return present ? JwtStatus::kOk : JwtStatus::kMissingClaim;
}

JwtStatus verifyAccessToken(std::string_view token, const SignatureCheck& signature,
                            const AccessTokenRules& rules, VerifiedJwt& out) {
  DecodedJwt jwt;
  if (auto s = decodeJwt(token, jwt); s != JwtStatus::kOk) return s;
  if (auto s = checkAlgorithm(jwt); s != JwtStatus::kOk) return s;
  if (auto s = checkAccessTokenType(jwt.typ); s != JwtStatus::kOk) return s;
  if (jwt.kid.empty() || !signature) return JwtStatus::kUnknownKid;
  if (auto s = signature(jwt); s != JwtStatus::kOk) return s;

  // Signed by a trusted key from here on; the claims are read only now.
  auto payload = detail::parseJsonObject(jwt.payload_json);
  if (!payload) return JwtStatus::kMalformed;
  AccessClaims claims;
  if (!readAccessClaims(*payload, claims)) return JwtStatus::kMalformed;
  if (auto s = checkRequiredClaims(claims); s != JwtStatus::kOk) return s;
  if (auto s = checkIssuer(claims.iss, rules.issuer); s != JwtStatus::kOk) return s;
  if (auto s = checkTimes(claims.exp, claims.iat, claims.nbf, rules.now, rules.leeway);
      s != JwtStatus::kOk) {
    return s;
  }
  if (auto s = checkAudience(claims.aud, rules.audience); s != JwtStatus::kOk) return s;
  if (auto s = checkResourceAudience(claims.aud, rules.resource); s != JwtStatus::kOk) return s;
  out.jwt = std::move(jwt);
  out.payload = std::move(*payload);
  out.claims = std::move(claims);
  return JwtStatus::kOk;
}

}  // namespace mcp_auth
