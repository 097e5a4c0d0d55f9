// Master keyring: AES-256-GCM (NIST SP 800-38D) with keys derived by HKDF-SHA256 (RFC 5869).
//
// Sealed format, version 1, before base64url (RFC 4648 §5, no padding):
//
//   offset  size  field
//   0       1     version = 0x01
//   1       4     key id: the first 4 bytes of SHA-256(aead key)
//   5       12    nonce (96 bits, from the injected Random)
//   17      n     ciphertext (same length as the plaintext)
//   17+n    16    GCM tag
//
// AAD = the 5 header bytes followed by the caller's purpose string. The header has a fixed length,
// so the concatenation is unambiguous; authenticating it means a blob cannot be re-labelled with
// another key id or version, and the purpose means a blob sealed for one use does not open for
// another. The nonce needs no AAD entry: GCM already authenticates it.
//
// Random 96-bit nonces keep the collision probability below 2^-32 for up to 2^32 seals per key
// (SP 800-38D §8.3); rotating the master key resets the count.

#include "broker/token/master_keyring.h"

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#include <limits>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>

#include "broker/core/crypto.h"
#include "broker/core/encoding.h"
#include "token/ossl_ptr.h"

namespace broker::token {
namespace {

constexpr unsigned char kVersion = 0x01;
constexpr size_t kKeyIdSize = 4;
constexpr size_t kHeaderSize = 1 + kKeyIdSize;
constexpr size_t kNonceSize = 12;
constexpr size_t kTagSize = 16;
constexpr size_t kKeySize = 32;
constexpr size_t kMinSecretSize = 32;
constexpr char kAeadInfo[] = "mcp-auth-broker aead v1";
constexpr char kDeriveInfoPrefix[] = "mcp-auth-broker derive ";

using detail::CipherCtxPtr;

const unsigned char* bytes(std::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}
unsigned char* bytes(std::string& s) {
  return reinterpret_cast<unsigned char*>(s.data());
}

// Key material is wiped when the keyring goes away so it does not linger in freed heap pages.
struct AeadKey {
  std::string raw_id;  // kKeyIdSize bytes, as written into blobs
  std::string hex_id;
  std::string key;
  ~AeadKey() { OPENSSL_cleanse(key.data(), key.size()); }
};

class AesGcmKeyring final : public MasterKeyring {
 public:
  AesGcmKeyring(const std::vector<Secret>& secrets, Random& random) : random_(random) {
    if (secrets.empty()) throw std::invalid_argument("secrets.master_keys is empty");
    keys_.reserve(secrets.size());
    for (size_t i = 0; i < secrets.size(); ++i) {
      if (secrets[i].size() < kMinSecretSize) {
        throw std::invalid_argument("secrets.master_keys[" + std::to_string(i) +
                                    "] is shorter than 32 bytes");
      }
      auto& k = keys_.emplace_back();
      k.key = hkdfSha256(secrets[i].reveal(), kAeadInfo, kKeySize);
      k.raw_id = sha256(k.key).substr(0, kKeyIdSize);
      k.hex_id = hexEncode(k.raw_id);
    }
    first_secret_ = secrets.front().reveal();
    // Fetched once: an implicit fetch on every seal/open takes a global lock in OpenSSL 3.
    cipher_.reset(EVP_CIPHER_fetch(nullptr, "AES-256-GCM", nullptr));
    if (!cipher_) throw std::runtime_error("OpenSSL has no AES-256-GCM");
  }

  ~AesGcmKeyring() override { OPENSSL_cleanse(first_secret_.data(), first_secret_.size()); }

  std::string seal(std::string_view plaintext, std::string_view aad) const override {
    const AeadKey& k = keys_.front();
    std::string out(kHeaderSize + kNonceSize + plaintext.size() + kTagSize, '\0');
    out[0] = static_cast<char>(kVersion);
    out.replace(1, kKeyIdSize, k.raw_id);
    random_.fill(bytes(out) + kHeaderSize, kNonceSize);
    const std::string header = out.substr(0, kHeaderSize);
    const std::string nonce = out.substr(kHeaderSize, kNonceSize);

    CipherCtxPtr ctx(EVP_CIPHER_CTX_new());
    int len = 0;
    bool ok = ctx && plaintext.size() <= size_t(std::numeric_limits<int>::max()) &&
              start(ctx.get(), k, nonce, /*encrypt=*/true) && addAad(ctx.get(), header, aad) &&
              EVP_EncryptUpdate(ctx.get(), bytes(out) + kHeaderSize + kNonceSize, &len,
                                bytes(plaintext), static_cast<int>(plaintext.size())) == 1 &&
              EVP_EncryptFinal_ex(ctx.get(), nullptr, &len) == 1 &&
              EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, kTagSize,
                                  bytes(out) + out.size() - kTagSize) == 1;
    // Sealing only fails when OpenSSL itself is broken; there is no safe fallback.
    if (!ok) throw std::runtime_error("AES-256-GCM seal failed");
    return base64urlEncode(out);
  }

  Result<std::string> open(std::string_view sealed, std::string_view aad) const override {
    auto raw = base64urlDecode(sealed);
    if (!raw) return Error::invalid("sealed value is not base64url");
    if (raw->size() < kHeaderSize + kNonceSize + kTagSize) {
      return Error::invalid("sealed value is truncated");
    }
    if (static_cast<unsigned char>((*raw)[0]) != kVersion) {
      return Error::invalid("sealed value has an unknown version");
    }
    const std::string_view blob(*raw);
    const std::string_view header = blob.substr(0, kHeaderSize);
    const std::string_view key_id = blob.substr(1, kKeyIdSize);
    const std::string_view nonce = blob.substr(kHeaderSize, kNonceSize);
    const std::string_view ciphertext =
        blob.substr(kHeaderSize + kNonceSize, blob.size() - kHeaderSize - kNonceSize - kTagSize);
    const std::string_view tag = blob.substr(blob.size() - kTagSize);

    bool known = false;
    // Ids are 32 bits, so two configured keys may share one; trying each is cheap and correct.
    for (const AeadKey& k : keys_) {
      if (k.raw_id != key_id) continue;
      known = true;
      if (auto plain = decrypt(k, header, nonce, ciphertext, tag, aad)) return *plain;
    }
    if (!known) return Error::notFound("sealed with a master key that is not configured");
    return Error{ErrorCode::kPermissionDenied, "sealed value failed authentication"};
  }

  std::string deriveKey(std::string_view purpose) const override {
    return hkdfSha256(first_secret_, std::string(kDeriveInfoPrefix) + std::string(purpose),
                      kKeySize);
  }

  std::string primaryKeyId() const override { return keys_.front().hex_id; }

  std::vector<std::string> keyIds() const override {
    std::vector<std::string> ids;
    for (const auto& k : keys_) ids.push_back(k.hex_id);
    return ids;
  }

 private:
  bool start(EVP_CIPHER_CTX* ctx, const AeadKey& k, std::string_view nonce, bool encrypt) const {
    return EVP_CipherInit_ex2(ctx, cipher_.get(), nullptr, nullptr, encrypt ? 1 : 0, nullptr) ==
               1 &&
           EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, kNonceSize, nullptr) == 1 &&
           EVP_CipherInit_ex2(ctx, nullptr, bytes(k.key), bytes(nonce), encrypt ? 1 : 0, nullptr) ==
               1;
  }

  static bool addAad(EVP_CIPHER_CTX* ctx, std::string_view header, std::string_view aad) {
    int len = 0;
    return EVP_CipherUpdate(ctx, nullptr, &len, bytes(header), static_cast<int>(header.size())) ==
               1 &&
           aad.size() <= size_t(std::numeric_limits<int>::max()) &&
           EVP_CipherUpdate(ctx, nullptr, &len, bytes(aad), static_cast<int>(aad.size())) == 1;
  }

  std::optional<std::string> decrypt(const AeadKey& k, std::string_view header,
                                     std::string_view nonce, std::string_view ciphertext,
                                     std::string_view tag, std::string_view aad) const {
    CipherCtxPtr ctx(EVP_CIPHER_CTX_new());
    std::string plain(ciphertext.size(), '\0');
    int len = 0;
    // The tag is set before the final call; OpenSSL compares it in constant time.
    std::string tag_copy(tag);
    bool ok =
        ctx && ciphertext.size() <= size_t(std::numeric_limits<int>::max()) &&
        start(ctx.get(), k, nonce, /*encrypt=*/false) && addAad(ctx.get(), header, aad) &&
        EVP_DecryptUpdate(ctx.get(), bytes(plain), &len, bytes(ciphertext),
                          static_cast<int>(ciphertext.size())) == 1 &&
        EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, kTagSize, tag_copy.data()) == 1 &&
        EVP_DecryptFinal_ex(ctx.get(), nullptr, &len) == 1;
    if (!ok) {
      OPENSSL_cleanse(plain.data(), plain.size());
      ERR_clear_error();  // the queue is per thread; stale entries would confuse later callers
      return std::nullopt;
    }
    return plain;
  }

  Random& random_;
  std::vector<AeadKey> keys_;
  std::string first_secret_;
  detail::CipherPtr cipher_;
};

}  // namespace

std::shared_ptr<const MasterKeyring> MasterKeyring::create(const std::vector<Secret>& secrets,
                                                           Random& random) {
  return std::make_shared<AesGcmKeyring>(secrets, random);
}

}  // namespace broker::token
