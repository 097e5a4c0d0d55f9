#pragma once
// Signing keys for token tests, generated once per test binary (generation dominates test time).

#include <memory>
#include <string>

#include "broker/token/jwt.h"
#include "broker/token/key_manager.h"

namespace broker::testing {

// Two distinct 2048-bit signing keys, and two distinct P-256 ones.
std::shared_ptr<const token::RsaKey> tokenTestKey();
std::shared_ptr<const token::RsaKey> otherTokenTestKey();
std::shared_ptr<const token::SigningKey> es256TestKey();
std::shared_ptr<const token::SigningKey> otherEs256TestKey();

// A KeyManager key generator that hands out RSA keys from a fixed pool of eight, in order, so
// tests that rotate do not pay for RSA key generation each time; P-256 keys (ES256), which are
// cheap, are generated fresh. Thread-safe.
token::KeyManager::KeyGenerator pooledTokenKeyGenerator();

// The SubjectPublicKeyInfo PEM of `key` ("-----BEGIN PUBLIC KEY-----").
std::string publicPemOf(const token::RsaKey& key);

}  // namespace broker::testing
