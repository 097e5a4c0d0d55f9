// Compact JWS (RFC 7515 §3.1, §5) with RS256 = RSASSA-PKCS1-v1_5 over SHA-256 (RFC 7518 §3.3),
// RSA JWKs (RFC 7518 §6.3.1) and JWK thumbprints (RFC 7638 §3), on OpenSSL 3 EVP.
//
// Each RsaKey owns one EVP_PKEY parsed at construction; signing and verifying create only a
// per-call EVP_MD_CTX, which is what makes one key safe to use from many threads at once.

#include "broker/token/jwt.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/decoder.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include <algorithm>
#include <limits>

#include "broker/core/crypto.h"
#include "broker/core/encoding.h"
#include "token/ossl_ptr.h"
#include "token/strict_json.h"

namespace broker::token {
namespace {

constexpr int kMinBits = 2048;
constexpr int kMaxBits = 8192;
// Far above any token this broker mints; bounds the work done on hostile input.
constexpr size_t kMaxTokenSize = 64 * 1024;
constexpr size_t kMaxPemSize = 64 * 1024;

using detail::BioPtr;
using detail::BnPtr;
using detail::PkeyPtr;

const unsigned char* bytes(std::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

// OpenSSL's error queue is per thread; a failure we turn into a Result must not leave entries that
// a later, unrelated caller on this thread would misread as its own.
template <class T>
T failed(T value) {
  ERR_clear_error();
  return value;
}

std::string bnBytes(const BIGNUM* bn) {
  std::string out(static_cast<size_t>(BN_num_bytes(bn)), '\0');
  BN_bn2bin(bn, reinterpret_cast<unsigned char*>(out.data()));
  return out;
}

BioPtr memBio(std::string_view data) {
  return BioPtr(BIO_new_mem_buf(data.data(), static_cast<int>(data.size())));
}

// Without this OpenSSL would prompt on the terminal for an encrypted PEM's pass phrase.
int noPassphrase(char*, int, int, void*) {
  return 0;
}

class OpenSslRsaKey final : public RsaKey {
 public:
  OpenSslRsaKey(PkeyPtr pkey, bool has_private, std::string n, std::string e)
      : pkey_(std::move(pkey)),
        has_private_(has_private),
        bits_(EVP_PKEY_get_bits(pkey_.get())),
        n_b64_(base64urlEncode(n)),
        e_b64_(base64urlEncode(e)) {
    // RFC 7638 §3.2: required members only, lexicographic order, no whitespace.
    thumbprint_ =
        base64urlEncode(sha256(R"({"e":")" + e_b64_ + R"(","kty":"RSA","n":")" + n_b64_ + R"("})"));
  }

  bool hasPrivate() const override { return has_private_; }
  int bits() const override { return bits_; }
  std::string modulusB64() const override { return n_b64_; }
  std::string exponentB64() const override { return e_b64_; }
  std::string thumbprint() const override { return thumbprint_; }

  std::string privatePem() const override {
    if (!has_private_) return {};
    BioPtr bio(BIO_new(BIO_s_mem()));
    if (!bio || PEM_write_bio_PrivateKey(bio.get(), pkey_.get(), nullptr, nullptr, 0, nullptr,
                                         nullptr) != 1) {
      return failed(std::string());
    }
    char* data = nullptr;
    long len = BIO_get_mem_data(bio.get(), &data);
    std::string pem(data, static_cast<size_t>(len));
    OPENSSL_cleanse(data, static_cast<size_t>(len));
    return pem;
  }

  Result<std::string> signRs256(std::string_view data) const override {
    if (!has_private_) return Error::invalid("RSA key has no private part");
    detail::MdCtxPtr ctx(EVP_MD_CTX_new());
    EVP_PKEY_CTX* pctx = nullptr;  // owned by ctx
    size_t len = 0;
    std::string sig;
    bool ok = ctx &&
              EVP_DigestSignInit_ex(ctx.get(), &pctx, "SHA256", nullptr, nullptr, pkey_.get(),
                                    nullptr) == 1 &&
              EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) == 1 &&
              EVP_DigestSign(ctx.get(), nullptr, &len, bytes(data), data.size()) == 1;
    if (ok) {
      sig.resize(len);
      ok = EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len,
                          bytes(data), data.size()) == 1;
      sig.resize(len);
    }
    if (!ok) return failed(Error::internal("RS256 signing failed"));
    return sig;
  }

  bool verifyRs256(std::string_view data, std::string_view signature) const override {
    // RFC 8017 §8.2.2 step 1: a signature is exactly as long as the modulus.
    if (signature.size() != static_cast<size_t>(EVP_PKEY_get_size(pkey_.get()))) return false;
    detail::MdCtxPtr ctx(EVP_MD_CTX_new());
    EVP_PKEY_CTX* pctx = nullptr;
    bool ok = ctx &&
              EVP_DigestVerifyInit_ex(ctx.get(), &pctx, "SHA256", nullptr, nullptr, pkey_.get(),
                                      nullptr) == 1 &&
              EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) == 1 &&
              EVP_DigestVerify(ctx.get(), bytes(signature), signature.size(), bytes(data),
                               data.size()) == 1;
    return ok ? true : failed(false);
  }

 private:
  PkeyPtr pkey_;
  bool has_private_;
  int bits_;
  std::string n_b64_, e_b64_, thumbprint_;
};

Result<std::shared_ptr<const RsaKey>> wrap(PkeyPtr pkey, bool has_private) {
  if (!pkey) return failed(Error::invalid("not an RSA key"));
  // EVP_PKEY_is_a("RSA") is false for RSA-PSS keys, whose use is restricted to PSS.
  if (!EVP_PKEY_is_a(pkey.get(), "RSA")) return failed(Error::invalid("not an RSA key"));
  int bits = EVP_PKEY_get_bits(pkey.get());
  if (bits < kMinBits || bits > kMaxBits) {
    return Error::invalid("RSA key size " + std::to_string(bits) + " is outside 2048..8192");
  }
  BIGNUM* n = nullptr;
  BIGNUM* e = nullptr;
  bool ok = EVP_PKEY_get_bn_param(pkey.get(), OSSL_PKEY_PARAM_RSA_N, &n) == 1 &&
            EVP_PKEY_get_bn_param(pkey.get(), OSSL_PKEY_PARAM_RSA_E, &e) == 1;
  BnPtr n_owned(n), e_owned(e);
  if (!ok) return failed(Error::invalid("RSA key has no modulus or exponent"));
  return std::shared_ptr<const RsaKey>(
      std::make_shared<OpenSslRsaKey>(std::move(pkey), has_private, bnBytes(n), bnBytes(e)));
}

bool fitsPem(std::string_view pem) {
  return !pem.empty() && pem.size() <= kMaxPemSize;
}

// Extracts an optional string member; a member of another type makes the header malformed.
bool optionalString(const nlohmann::json& obj, const char* name, std::string& out) {
  auto it = obj.find(name);
  if (it == obj.end()) return true;
  if (!it->is_string()) return false;
  out = it->get<std::string>();
  return true;
}

}  // namespace

Result<std::shared_ptr<const RsaKey>> RsaKey::fromPrivatePem(std::string_view pem) {
  if (!fitsPem(pem)) return Error::invalid("private key PEM is empty or too large");
  auto bio = memBio(pem);
  if (!bio) return failed(Error::internal("BIO allocation failed"));
  PkeyPtr pkey(PEM_read_bio_PrivateKey(bio.get(), nullptr, noPassphrase, nullptr));
  if (!pkey) return failed(Error::invalid("not an unencrypted PEM private key"));
  return wrap(std::move(pkey), /*has_private=*/true);
}

Result<std::shared_ptr<const RsaKey>> RsaKey::fromPublicPem(std::string_view pem) {
  if (!fitsPem(pem)) return Error::invalid("public key PEM is empty or too large");
  // A private key would decode too (its public half); a verifier should never be handed one.
  if (pem.find("PRIVATE KEY") != std::string_view::npos) {
    return Error::invalid("expected a public key PEM, got a private key");
  }
  EVP_PKEY* raw = nullptr;
  // Accepts both SubjectPublicKeyInfo ("PUBLIC KEY") and PKCS#1 ("RSA PUBLIC KEY").
  detail::DecoderCtxPtr dctx(OSSL_DECODER_CTX_new_for_pkey(&raw, "PEM", nullptr, "RSA",
                                                           EVP_PKEY_PUBLIC_KEY, nullptr, nullptr));
  const unsigned char* data = bytes(pem);
  size_t len = pem.size();
  bool ok = dctx && OSSL_DECODER_from_data(dctx.get(), &data, &len) == 1;
  PkeyPtr pkey(raw);
  if (!ok) return failed(Error::invalid("not a PEM RSA public key"));
  return wrap(std::move(pkey), /*has_private=*/false);
}

Result<std::shared_ptr<const RsaKey>> RsaKey::fromJwk(std::string_view n_b64url,
                                                      std::string_view e_b64url) {
  auto n_raw = base64urlDecode(n_b64url);
  auto e_raw = base64urlDecode(e_b64url);
  if (!n_raw || !e_raw || n_raw->empty() || e_raw->empty() || e_raw->size() > 8) {
    return Error::invalid("JWK n/e are not base64url integers");
  }
  BnPtr n(BN_bin2bn(bytes(*n_raw), static_cast<int>(n_raw->size()), nullptr));
  BnPtr e(BN_bin2bn(bytes(*e_raw), static_cast<int>(e_raw->size()), nullptr));
  if (!n || !e) return failed(Error::internal("BIGNUM allocation failed"));
  // An even or unit exponent is not an RSA public key; OpenSSL would only notice at verify time.
  if (!BN_is_odd(e.get()) || BN_is_one(e.get())) return Error::invalid("JWK e is not valid");

  detail::ParamBldPtr bld(OSSL_PARAM_BLD_new());
  if (!bld || OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, n.get()) != 1 ||
      OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, e.get()) != 1) {
    return failed(Error::internal("OSSL_PARAM_BLD failed"));
  }
  detail::ParamPtr params(OSSL_PARAM_BLD_to_param(bld.get()));
  detail::PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, "RSA", nullptr));
  EVP_PKEY* raw = nullptr;
  bool ok = params && ctx && EVP_PKEY_fromdata_init(ctx.get()) == 1 &&
            EVP_PKEY_fromdata(ctx.get(), &raw, EVP_PKEY_PUBLIC_KEY, params.get()) == 1;
  PkeyPtr pkey(raw);
  if (!ok) return failed(Error::invalid("JWK is not a usable RSA public key"));
  return wrap(std::move(pkey), /*has_private=*/false);
}

Result<std::shared_ptr<const RsaKey>> RsaKey::generate(int bits) {
  if (bits < kMinBits || bits > kMaxBits) {
    return Error::invalid("RSA key size must be within 2048..8192");
  }
  PkeyPtr pkey(EVP_RSA_gen(static_cast<unsigned int>(bits)));
  if (!pkey) return failed(Error::internal("RSA key generation failed"));
  return wrap(std::move(pkey), /*has_private=*/true);
}

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

Result<DecodedJwt, JwtStatus> decodeJwt(std::string_view token) {
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
  const std::string_view header_b64 = token.substr(0, d1);
  const std::string_view payload_b64 = token.substr(d1 + 1, d2 - d1 - 1);
  // An empty signature part is structurally valid (an unsecured JWS); checkAlgorithm refuses it.
  auto header = base64urlDecode(header_b64);
  auto payload = base64urlDecode(payload_b64);
  auto signature = base64urlDecode(token.substr(d2 + 1));
  if (!header || !payload || !signature) return JwtStatus::kMalformed;

  auto header_obj = detail::parseJsonObject(*header);
  if (!header_obj || !detail::parseJsonObject(*payload)) return JwtStatus::kMalformed;
  DecodedJwt out;
  if (!optionalString(*header_obj, "alg", out.alg) ||
      !optionalString(*header_obj, "typ", out.typ) ||
      !optionalString(*header_obj, "kid", out.kid) || header_obj->contains("crit")) {
    return JwtStatus::kMalformed;
  }
  out.header_json = std::move(*header);
  out.payload_json = std::move(*payload);
  out.signing_input = std::string(token.substr(0, d2));
  out.signature = std::move(*signature);
  return out;
}

JwtStatus checkAlgorithm(const DecodedJwt& jwt) {
  // Pinned, not read from the token: "none", HS256 keyed with the public key and the other RSA
  // variants are all refused here (RFC 8725 §2.1, §3.1).
  return jwt.alg == "RS256" ? JwtStatus::kOk : JwtStatus::kUnsupportedAlg;
}

JwtStatus checkSignature(const DecodedJwt& jwt, const RsaKey* key) {
  if (!key) return JwtStatus::kUnknownKid;
  return key->verifyRs256(jwt.signing_input, jwt.signature) ? JwtStatus::kOk
                                                            : JwtStatus::kBadSignature;
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

Result<std::string> signJwt(const RsaKey& key, std::string_view kid, std::string_view typ,
                            std::string_view payload_json) {
  const auto first = payload_json.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos || payload_json[first] != '{') {
    return Error::invalid("JWT payload must be a JSON object");
  }
  nlohmann::ordered_json header = {{"alg", "RS256"}, {"typ", typ}};
  if (!kid.empty()) header["kid"] = kid;
  // Invalid UTF-8 in kid/typ is replaced rather than thrown on.
  std::string input =
      base64urlEncode(header.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  input += '.';
  input += base64urlEncode(payload_json);
  auto sig = key.signRs256(input);
  if (!sig) return sig.error();
  input += '.';
  input += base64urlEncode(*sig);
  return input;
}

}  // namespace broker::token
