#pragma once
// Signing-key lifecycle: keys live in the store (private key sealed with the master keyring), are
// parsed once and cached here. The JWKS publishes the next key before it signs and previous keys
// until every token they signed has expired. Rotation is safe with several instances on one
// database: the store decides the race on the key generation.

#include <cstdint>
#include <functional>
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
  // Called after this instance stored a new key (automatic or asked-for rotation), with its kid
  // and whether it was asked for; for the audit trail. Not called for a key another instance made.
  std::function<void(const std::string& kid, bool automatic)> on_rotated;
  // The algorithm of new keys (`keys.algorithm`). When the newest stored key has another one at
  // start-up, a key of this algorithm is made and published `publish_ahead` before it signs: the
  // JWKS carries both until every token of the old key has expired.
  SigningAlg algorithm = SigningAlg::kRS256;
};

struct KeyInfo {
  std::string kid;
  // "next" (published, not signing yet) | "current" (signs) | "previous" (published until every
  // token it signed has expired) | "superseded" (a later key activated before this one
  // would have: it never signs; published until expires_at like a previous key) | "retired" (no
  // longer published; removed by garbage collection)
  std::string state;
  int64_t created_at = 0, activates_at = 0, retires_at = 0, expires_at = 0;
  int64_t generation = 0;
};

class KeyManager {
 public:
  // Makes a new signing key for an algorithm; the default generates a 2048-bit RSA key (RS256)
  // or a P-256 key (ES256) with OpenSSL's DRBG.
  using KeyGenerator = std::function<Result<std::shared_ptr<const SigningKey>>(SigningAlg)>;

  // `random` is not used for RSA key generation, which needs OpenSSL's own DRBG; sealing draws its
  // nonces from the Random the master keyring was created with.
  static std::shared_ptr<KeyManager> create(store::Store& store,
                                            std::shared_ptr<const MasterKeyring> master,
                                            Clock& clock, Random& random, KeyPolicy policy,
                                            KeyGenerator generate_key = {});
  virtual ~KeyManager() = default;

  // Loads keys from the store, creating the first key when there is none (or importing
  // `import_pem` when given and not yet present; an imported key signs at once). Starts the switch
  // when the newest key's algorithm is not the policy's. Throws std::runtime_error when the store
  // fails, `import_pem` is not an RSA or P-256 private key of the policy's algorithm, or a stored
  // key cannot be unsealed (wrong master keys).
  virtual void initialize(const std::string& import_pem = {}) = 0;
  // Reloads from the store (new keys parsed once), rotates when due.
  // Safe to call periodically, from several instances: call it more often than `publish_ahead` so
  // every instance publishes a new key before any instance signs with it. On error the previous key
  // set stays in use.
  virtual Status refresh() = 0;
  // Creates a new key now: published immediately, signs after `publish_ahead` (or at once when
  // `immediate`). Returns the new kid; when another instance inserted the same generation first,
  // returns that instance's kid instead.
  virtual Result<std::string> rotate(bool immediate = false) = 0;

  struct Signer {
    std::string kid;
    std::shared_ptr<const SigningKey> key;
  };
  // The three calls below run on every request: they copy one pointer under a short lock and
  // never touch the store. `key` is null before initialize().
  virtual Signer currentSigner() const = 0;
  // Only keys in the JWKS (next, current, previous) verify; nullptr otherwise.
  virtual std::shared_ptr<const SigningKey> verificationKey(const std::string& kid) const = 0;
  // The JWKS document (RFC 7517 §5), built when the key set changes, never per request.
  virtual std::shared_ptr<const std::string> jwksJson() const = 0;
  virtual std::vector<KeyInfo> list() const = 0;  // by generation, newest first
};

}  // namespace broker::token
