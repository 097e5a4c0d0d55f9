// Signing keys and JWS signing (RFC 7515 §5.1) with RS256 = RSASSA-PKCS1-v1_5 over SHA-256 (RFC
// 7518 §3.3) and JWK thumbprints (RFC 7638 §3), on OpenSSL 3 EVP. Decoding, verification and the
// claim checks are the resource servers' own code (mcp_auth/jwt.h), so both sides share one rule
// set.
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
    return mcp_auth::verifyRs256(pkey_.get(), data, signature);
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
  std::string why;
  PkeyPtr pkey(mcp_auth::rsaPublicKeyFromJwk(n_b64url, e_b64url, &why));
  if (!pkey) return Error::invalid(why);
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

Result<DecodedJwt, JwtStatus> decodeJwt(std::string_view token) {
  DecodedJwt out;
  if (auto s = mcp_auth::decodeJwt(token, out); s != JwtStatus::kOk) return s;
  return out;
}

JwtStatus checkSignature(const DecodedJwt& jwt, const RsaKey* key) {
  if (!key) return JwtStatus::kUnknownKid;
  return key->verifyRs256(jwt.signing_input, jwt.signature) ? JwtStatus::kOk
                                                            : JwtStatus::kBadSignature;
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
