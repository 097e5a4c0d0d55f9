#pragma once
// Master keyring: AES-256-GCM keys derived (HKDF-SHA256) from the configured secrets
// `secrets.master_keys`. The first key seals; every key opens. Each sealed blob carries the id of
// the key that sealed it, so adding a new first key does not invalidate anything sealed before.

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "broker/core/random.h"
#include "broker/core/result.h"
#include "broker/core/secret.h"

namespace broker::token {

class MasterKeyring {
 public:
  // Throws std::invalid_argument when the list is empty or a secret is shorter than 32 bytes.
  static std::shared_ptr<const MasterKeyring> create(const std::vector<Secret>& secrets,
                                                     Random& random);

  // Safe to share across threads as long as `random` is (Random::system() is). Key ids are the
  // first 8 hex digits of SHA-256 of the derived key; the byte layout is documented in
  // master_keyring.cpp and versioned by its first byte.
  virtual ~MasterKeyring() = default;
  // Returns base64url(version | kid | nonce | ciphertext | tag). `aad` binds the blob to a purpose
  // (e.g. "refresh", "signing-key") so one kind cannot be replayed as another.
  virtual std::string seal(std::string_view plaintext, std::string_view aad) const = 0;
  virtual Result<std::string> open(std::string_view sealed, std::string_view aad) const = 0;
  // A purpose-specific 32-byte key derived from the first master key (cookie MACs, token ids).
  virtual std::string deriveKey(std::string_view purpose) const = 0;
  virtual std::string primaryKeyId() const = 0;
  virtual std::vector<std::string> keyIds() const = 0;
};

}  // namespace broker::token
