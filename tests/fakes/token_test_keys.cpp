#include "fakes/token_test_keys.h"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <array>
#include <atomic>
#include <mutex>
#include <stdexcept>

namespace broker::testing {
namespace {

std::shared_ptr<const token::SigningKey> generateOrDie(
    token::SigningAlg alg = token::SigningAlg::kRS256) {
  auto key = token::SigningKey::generate(alg);
  if (!key) throw std::runtime_error("test key generation failed: " + key.error().message);
  return *key;
}

}  // namespace

std::shared_ptr<const token::RsaKey> tokenTestKey() {
  static const auto key = generateOrDie();
  return key;
}

std::shared_ptr<const token::RsaKey> otherTokenTestKey() {
  static const auto key = generateOrDie();
  return key;
}

std::shared_ptr<const token::SigningKey> es256TestKey() {
  static const auto key = generateOrDie(token::SigningAlg::kES256);
  return key;
}

std::shared_ptr<const token::SigningKey> otherEs256TestKey() {
  static const auto key = generateOrDie(token::SigningAlg::kES256);
  return key;
}

token::KeyManager::KeyGenerator pooledTokenKeyGenerator() {
  static std::mutex mu;
  static std::array<std::shared_ptr<const token::RsaKey>, 8> pool;
  auto next = std::make_shared<std::atomic<size_t>>(0);
  return [next](token::SigningAlg alg) -> Result<std::shared_ptr<const token::SigningKey>> {
    if (alg == token::SigningAlg::kES256) return generateOrDie(alg);
    const size_t i = next->fetch_add(1) % pool.size();
    std::lock_guard<std::mutex> lock(mu);
    if (!pool[i]) pool[i] = generateOrDie();
    return pool[i];
  };
}

std::string publicPemOf(const token::RsaKey& key) {
  const std::string pem = key.privatePem();
  BIO* in = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  EVP_PKEY* pkey = PEM_read_bio_PrivateKey(in, nullptr, nullptr, nullptr);
  BIO* out = BIO_new(BIO_s_mem());
  std::string result;
  if (pkey && out && PEM_write_bio_PUBKEY(out, pkey) == 1) {
    char* data = nullptr;
    long len = BIO_get_mem_data(out, &data);
    result.assign(data, static_cast<size_t>(len));
  }
  BIO_free(out);
  EVP_PKEY_free(pkey);
  BIO_free(in);
  return result;
}

}  // namespace broker::testing
