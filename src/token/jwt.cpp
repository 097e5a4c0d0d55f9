// Signing keys and JWS signing (RFC 7515 §5.1) with RS256 = RSASSA-PKCS1-v1_5 over SHA-256 (RFC
// 7518 §3.3) or ES256 = ECDSA P-256 over SHA-256 (§3.4, the signature as R || S), and JWK
// thumbprints (RFC 7638 §3), on OpenSSL 3 EVP. Decoding, verification and the
// claim checks are the resource servers' own code (mcp_auth/jwt.h), so both sides share one rule
// set.
//
// Each SigningKey owns one EVP_PKEY parsed at construction; signing and verifying create only a
// per-call EVP_MD_CTX, which is what makes one key safe to use from many threads at once.

#include "broker/token/jwt.h"

#include <algorithm>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/decoder.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "broker/core/crypto.h"
#include "broker/core/encoding.h"
#include "token/ossl_ptr.h"

namespace broker::token {
namespace {

constexpr int kMinBits = mcp_auth::kMinRsaBits;
constexpr int kMaxBits = mcp_auth::kMaxRsaBits;
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

// What differs between RSA and P-256 keys: their public JWK members, in RFC 7638 order.
struct PublicMembers {
  SigningAlg alg;
  std::vector<std::pair<std::string, std::string>> members;  // without "kty"
  std::string kty;
};

class OpenSslSigningKey final : public SigningKey {
 public:
  OpenSslSigningKey(PkeyPtr pkey, bool has_private, PublicMembers pub)
      : pkey_(std::move(pkey)),
        has_private_(has_private),
        bits_(EVP_PKEY_get_bits(pkey_.get())),
        pub_(std::move(pub)) {
    // RFC 7638 §3.2: required members only, lexicographic order, no whitespace.
    nlohmann::ordered_json required;
    std::vector<std::pair<std::string, std::string>> sorted = pub_.members;
    sorted.emplace_back("kty", pub_.kty);
    std::sort(sorted.begin(), sorted.end());
    for (const auto& [name, value] : sorted) required[name] = value;
    thumbprint_ = base64urlEncode(sha256(required.dump()));
  }

  SigningAlg algorithm() const override { return pub_.alg; }
  bool hasPrivate() const override { return has_private_; }
  int bits() const override { return bits_; }
  std::string modulusB64() const override { return member("n"); }
  std::string exponentB64() const override { return member("e"); }
  std::string thumbprint() const override { return thumbprint_; }

  std::string publicJwk(std::string_view kid) const override {
    nlohmann::ordered_json jwk = {{"kty", pub_.kty}, {"use", "sig"}, {"alg", alg()}, {"kid", kid}};
    for (const auto& [name, value] : pub_.members) jwk[name] = value;
    return jwk.dump();
  }

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

  Result<std::string> sign(std::string_view data) const override {
    if (!has_private_) return Error::invalid("the signing key has no private part");
    const bool rsa = pub_.alg == SigningAlg::kRS256;
    detail::MdCtxPtr ctx(EVP_MD_CTX_new());
    EVP_PKEY_CTX* pctx = nullptr;  // owned by ctx
    size_t len = 0;
    std::string sig;
    bool ok = ctx &&
              EVP_DigestSignInit_ex(ctx.get(), &pctx, "SHA256", nullptr, nullptr, pkey_.get(),
                                    nullptr) == 1 &&
              (!rsa || EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) == 1) &&
              EVP_DigestSign(ctx.get(), nullptr, &len, bytes(data), data.size()) == 1;
    if (ok) {
      sig.resize(len);
      ok = EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len,
                          bytes(data), data.size()) == 1;
      sig.resize(len);
    }
    if (!ok) return failed(Error::internal(std::string(alg()) + " signing failed"));
    if (rsa) return sig;
    // OpenSSL signs ECDSA as a DER ECDSA-Sig-Value; JWS wants the fixed-size R || S.
    auto raw = mcp_auth::es256DerToRaw(sig);
    if (!raw) return Error::internal("ES256 signature has no R || S form");
    return *raw;
  }

  bool verify(std::string_view data, std::string_view signature) const override {
    return pub_.alg == SigningAlg::kRS256 ? mcp_auth::verifyRs256(pkey_.get(), data, signature)
                                          : mcp_auth::verifyEs256(pkey_.get(), data, signature);
  }

 private:
  std::string member(std::string_view name) const {
    for (const auto& [n, value] : pub_.members) {
      if (n == name) return value;
    }
    return {};
  }

  PkeyPtr pkey_;
  bool has_private_;
  int bits_;
  PublicMembers pub_;
  std::string thumbprint_;
};

std::optional<PublicMembers> rsaMembers(EVP_PKEY* pkey, Error& why) {
  int bits = EVP_PKEY_get_bits(pkey);
  if (bits < kMinBits || bits > kMaxBits) {
    why = Error::invalid("RSA key size " + std::to_string(bits) + " is outside 2048..8192");
    return std::nullopt;
  }
  BIGNUM* n = nullptr;
  BIGNUM* e = nullptr;
  bool ok = EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_N, &n) == 1 &&
            EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_E, &e) == 1;
  BnPtr n_owned(n), e_owned(e);
  if (!ok) {
    why = failed(Error::invalid("RSA key has no modulus or exponent"));
    return std::nullopt;
  }
  return PublicMembers{SigningAlg::kRS256,
                       {{"n", base64urlEncode(bnBytes(n))}, {"e", base64urlEncode(bnBytes(e))}},
                       "RSA"};
}

std::optional<PublicMembers> ecMembers(EVP_PKEY* pkey, Error& why) {
  BIGNUM* x = nullptr;
  BIGNUM* y = nullptr;
  bool ok = EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_EC_PUB_X, &x) == 1 &&
            EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_EC_PUB_Y, &y) == 1;
  BnPtr x_owned(x), y_owned(y);
  // RFC 7518 §6.2.1.2: coordinates at the full field size, leading zeros kept.
  std::string xb(32, '\0'), yb(32, '\0');
  ok = ok && BN_bn2binpad(x, reinterpret_cast<unsigned char*>(xb.data()), 32) == 32 &&
       BN_bn2binpad(y, reinterpret_cast<unsigned char*>(yb.data()), 32) == 32;
  if (!ok) {
    why = failed(Error::invalid("EC key has no public point"));
    return std::nullopt;
  }
  return PublicMembers{SigningAlg::kES256,
                       {{"crv", "P-256"}, {"x", base64urlEncode(xb)}, {"y", base64urlEncode(yb)}},
                       "EC"};
}

Result<std::shared_ptr<const SigningKey>> wrap(PkeyPtr pkey, bool has_private) {
  constexpr const char* kWrongType = "not an RSA or P-256 key";
  if (!pkey) return failed(Error::invalid(kWrongType));
  Error why = Error::invalid(kWrongType);
  std::optional<PublicMembers> pub;
  // EVP_PKEY_is_a("RSA") is false for RSA-PSS keys, whose use is restricted to PSS.
  if (EVP_PKEY_is_a(pkey.get(), "RSA")) {
    pub = rsaMembers(pkey.get(), why);
  } else if (mcp_auth::isP256(pkey.get())) {
    pub = ecMembers(pkey.get(), why);
  }
  if (!pub) return failed(why);
  return std::shared_ptr<const SigningKey>(
      std::make_shared<OpenSslSigningKey>(std::move(pkey), has_private, std::move(*pub)));
}

bool fitsPem(std::string_view pem) {
  return !pem.empty() && pem.size() <= kMaxPemSize;
}

}  // namespace

const char* algName(SigningAlg alg) {
  return alg == SigningAlg::kES256 ? mcp_auth::kEs256 : mcp_auth::kRs256;
}

std::optional<SigningAlg> parseSigningAlg(std::string_view name) {
  if (name == mcp_auth::kRs256) return SigningAlg::kRS256;
  if (name == mcp_auth::kEs256) return SigningAlg::kES256;
  return std::nullopt;
}

Result<std::string> SigningKey::signRs256(std::string_view data) const {
  if (algorithm() != SigningAlg::kRS256) return Error::invalid("not an RSA key");
  return sign(data);
}

bool SigningKey::verifyRs256(std::string_view data, std::string_view signature) const {
  return algorithm() == SigningAlg::kRS256 && verify(data, signature);
}

Result<std::shared_ptr<const SigningKey>> SigningKey::fromPrivatePem(std::string_view pem) {
  if (!fitsPem(pem)) return Error::invalid("private key PEM is empty or too large");
  auto bio = memBio(pem);
  if (!bio) return failed(Error::internal("BIO allocation failed"));
  PkeyPtr pkey(PEM_read_bio_PrivateKey(bio.get(), nullptr, noPassphrase, nullptr));
  if (!pkey) return failed(Error::invalid("not an unencrypted PEM private key"));
  return wrap(std::move(pkey), /*has_private=*/true);
}

Result<std::shared_ptr<const SigningKey>> SigningKey::fromPublicPem(std::string_view pem) {
  if (!fitsPem(pem)) return Error::invalid("public key PEM is empty or too large");
  // A private key would decode too (its public half); a verifier should never be handed one.
  if (pem.find("PRIVATE KEY") != std::string_view::npos) {
    return Error::invalid("expected a public key PEM, got a private key");
  }
  EVP_PKEY* raw = nullptr;
  // Accepts SubjectPublicKeyInfo ("PUBLIC KEY", RSA or EC) and PKCS#1 ("RSA PUBLIC KEY").
  detail::DecoderCtxPtr dctx(OSSL_DECODER_CTX_new_for_pkey(&raw, "PEM", nullptr, nullptr,
                                                           EVP_PKEY_PUBLIC_KEY, nullptr, nullptr));
  const unsigned char* data = bytes(pem);
  size_t len = pem.size();
  bool ok = dctx && OSSL_DECODER_from_data(dctx.get(), &data, &len) == 1;
  PkeyPtr pkey(raw);
  if (!ok) return failed(Error::invalid("not a PEM RSA or P-256 public key"));
  return wrap(std::move(pkey), /*has_private=*/false);
}

Result<std::shared_ptr<const SigningKey>> SigningKey::fromJwk(std::string_view n_b64url,
                                                              std::string_view e_b64url) {
  std::string why;
  PkeyPtr pkey(mcp_auth::rsaPublicKeyFromJwk(n_b64url, e_b64url, &why));
  if (!pkey) return Error::invalid(why);
  return wrap(std::move(pkey), /*has_private=*/false);
}

Result<std::shared_ptr<const SigningKey>> SigningKey::fromEcJwk(std::string_view crv,
                                                                std::string_view x_b64url,
                                                                std::string_view y_b64url) {
  std::string why;
  PkeyPtr pkey(mcp_auth::ecPublicKeyFromJwk(crv, x_b64url, y_b64url, &why));
  if (!pkey) return Error::invalid(why);
  return wrap(std::move(pkey), /*has_private=*/false);
}

Result<std::shared_ptr<const SigningKey>> SigningKey::generate(SigningAlg alg) {
  if (alg == SigningAlg::kRS256) return generate(2048);
  PkeyPtr pkey(EVP_EC_gen("P-256"));
  if (!pkey) return failed(Error::internal("P-256 key generation failed"));
  return wrap(std::move(pkey), /*has_private=*/true);
}

Result<std::shared_ptr<const SigningKey>> SigningKey::generate(int bits) {
  if (bits < kMinBits || bits > kMaxBits) {
    return Error::invalid("RSA key size must be within 2048..8192");
  }
  PkeyPtr pkey(EVP_RSA_gen(static_cast<unsigned int>(bits)));
  if (!pkey) return failed(Error::internal("RSA key generation failed"));
  return wrap(std::move(pkey), /*has_private=*/true);
}

Result<DecodedJwt, JwtStatus> decodeJwt(std::string_view token) {
  DecodedJwt out;
  if (auto s = mcp_auth::decodeJwt(token, out); s != JwtStatus::kOk) return s;
  return out;
}

JwtStatus checkSignature(const DecodedJwt& jwt, const SigningKey* key) {
  if (!key) return JwtStatus::kUnknownKid;
  // The key decides the algorithm, never the token's header (RFC 8725 §3.1).
  if (jwt.alg != key->alg()) return JwtStatus::kBadSignature;
  return key->verify(jwt.signing_input, jwt.signature) ? JwtStatus::kOk : JwtStatus::kBadSignature;
}

Result<std::string> signJwt(const SigningKey& key, std::string_view kid, std::string_view typ,
                            std::string_view payload_json) {
  const auto first = payload_json.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos || payload_json[first] != '{') {
    return Error::invalid("JWT payload must be a JSON object");
  }
  nlohmann::ordered_json header = {{"alg", key.alg()}, {"typ", typ}};
  if (!kid.empty()) header["kid"] = kid;
  // Invalid UTF-8 in kid/typ is replaced rather than thrown on.
  std::string input =
      base64urlEncode(header.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  input += '.';
  input += base64urlEncode(payload_json);
  auto sig = key.sign(input);
  if (!sig) return sig.error();
  input += '.';
  input += base64urlEncode(*sig);
  return input;
}

}  // namespace broker::token
