#pragma once
// Signing-key lifecycle: keys live in the store (private key sealed with the master keyring), are
// parsed once and cached here. The JWKS publishes the next key before it signs and previous keys
// until every token they signed has expired. Rotation is safe with several instances on one
// database: the store decides the race on the key generation.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "broker/core/clock.h"
#include "broker/core/random.h"
#include "broker/core/result.h"
#include "broker/store/store.h"
#include "broker/token/jwt.h"
#include "broker/token/master_keyring.h"

namespace broker::token {

struct KeyPolicy {
  int64_t rotation_period = 30 * 86400;  // automatic rotation (0 = off)
  int64_t publish_ahead = 3600;          // a new key is in the JWKS this long before it signs
  int64_t max_token_ttl = 86400;  // longest access-token lifetime: retired keys stay this long
};

struct KeyInfo {
  std::string kid;
  std::string state;  // "next" | "current" | "previous"
  int64_t created_at, activates_at, retires_at, expires_at;
};

class KeyManager {
 public:
  static std::shared_ptr<KeyManager> create(store::Store& store,
                                            std::shared_ptr<const MasterKeyring> master,
                                            Clock& clock, Random& random, KeyPolicy policy);
  virtual ~KeyManager() = default;

  // Loads keys from the store, creating the first key when there is none (or importing
  // `import_pem` when given and not yet present). Throws on start-up failure.
  virtual void initialize(const std::string& import_pem = {}) = 0;
  // Reloads from the store (new keys parsed once), rotates when due. Safe to call periodically.
  virtual Status refresh() = 0;
  // Creates a new key now: published immediately, signs after `publish_ahead` (or at once when
  // `immediate`). Returns the new kid.
  virtual Result<std::string> rotate(bool immediate = false) = 0;

  struct Signer {
    std::string kid;
    std::shared_ptr<const RsaKey> key;
  };
  virtual Signer currentSigner() const = 0;
  virtual std::shared_ptr<const RsaKey> verificationKey(const std::string& kid) const = 0;
  // The JWKS document, rebuilt only when the key set changes.
  virtual std::shared_ptr<const std::string> jwksJson() const = 0;
  virtual std::vector<KeyInfo> list() const = 0;
};

}  // namespace broker::token
