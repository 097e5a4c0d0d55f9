#pragma once
// RSA keys for token tests, generated once per test binary (generation dominates test time).

#include <memory>
#include <string>

#include "broker/token/jwt.h"
#include "broker/token/key_manager.h"

namespace broker::testing {

// Two distinct 2048-bit signing keys.
std::shared_ptr<const token::RsaKey> tokenTestKey();
std::shared_ptr<const token::RsaKey> otherTokenTestKey();

// A KeyManager key generator that hands out keys from a fixed pool of eight, in order, so tests
// that rotate do not pay for RSA key generation each time. Thread-safe.
token::KeyManager::KeyGenerator pooledTokenKeyGenerator();

// The SubjectPublicKeyInfo PEM of `key` ("-----BEGIN PUBLIC KEY-----").
std::string publicPemOf(const token::RsaKey& key);

}  // namespace broker::testing
