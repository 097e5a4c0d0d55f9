// Signing-key lifecycle and the JWKS (RFC 7517 §5) with kids that are RFC 7638 thumbprints.
//
// Every time a key uses follows from the key set alone, so all instances sharing a store agree
// without coordinating: key g signs from its activates_at until a later generation activates
// (retires_at = the earliest activates_at of any later generation) and stays published until
// retires_at + max_token_ttl (expires_at), when the last token it signed has expired. Derived
// times are written back to the store so garbage collection can delete expired keys.
//
// Readers (currentSigner, verificationKey, jwksJson) use an immutable Snapshot behind a
// shared_ptr; writers build a new one and swap the pointer. The snapshot holds one JWKS document
// per interval between expiry times, so the document a reader gets is chosen by `now` and never
// built on the request path.

#include "broker/token/key_manager.h"

#include <openssl/crypto.h>

#include <algorithm>
#include <limits>
#include <map>
#include <mutex>
#include <set>
#include <stdexcept>
#include <unordered_map>

#include "broker/core/log.h"
#include "token/strict_json.h"

namespace broker::token {
namespace {

using store::SigningKeyRecord;

constexpr char kSealPurpose[] = "signing-key";
constexpr int64_t kNever = std::numeric_limits<int64_t>::max();
// Attempts at inserting a start-up key while other instances insert theirs.
constexpr int kInsertAttempts = 3;

enum class KeyState { kNext, kCurrent, kPrevious, kSuperseded, kRetired };

const char* stateName(KeyState s) {
  switch (s) {
    case KeyState::kNext:
      return "next";
    case KeyState::kCurrent:
      return "current";
    case KeyState::kPrevious:
      return "previous";
    case KeyState::kSuperseded:
      return "superseded";
    case KeyState::kRetired:
      return "retired";
  }
  return "retired";
}

// A key that a later generation replaces before its own activation (`rotate`, then
// `rotate --now` before the first new key activated) never signs: it is superseded from the
// moment that is known, not "next" and then "previous".
KeyState stateAt(const SigningKeyRecord& r, int64_t now) {
  if (r.expires_at != 0 && now >= r.expires_at) return KeyState::kRetired;
  if (r.retires_at != 0 && r.retires_at < r.activates_at) return KeyState::kSuperseded;
  if (r.retires_at != 0 && now >= r.retires_at) return KeyState::kPrevious;
  if (now < r.activates_at) return KeyState::kNext;
  return KeyState::kCurrent;
}

bool published(const SigningKeyRecord& r, int64_t now) {
  return r.expires_at == 0 || now < r.expires_at;
}

// `recs` sorted by generation ascending. An expiry already stored later than derived is kept: an
// instance configured with a longer max_token_ttl may have issued tokens that live that long.
void deriveRetirement(std::vector<SigningKeyRecord>& recs, int64_t max_token_ttl) {
  int64_t next_activation = 0;
  for (auto it = recs.rbegin(); it != recs.rend(); ++it) {
    if (next_activation != 0) {
      it->retires_at = next_activation;
      it->expires_at = std::max(it->expires_at, next_activation + max_token_ttl);
      next_activation = std::min(next_activation, it->activates_at);
    } else {
      next_activation = it->activates_at;
    }
  }
}

int64_t maxGeneration(const std::vector<SigningKeyRecord>& recs) {
  int64_t g = 0;
  for (const auto& r : recs) g = std::max(g, r.generation);
  return g;
}

const SigningKeyRecord* findKid(const std::vector<SigningKeyRecord>& recs, const std::string& kid) {
  for (const auto& r : recs) {
    if (r.kid == kid) return &r;
  }
  return nullptr;
}

struct Entry {
  SigningKeyRecord record;  // with derived retirement times
  std::shared_ptr<const SigningKey> key;
};

struct JwksVersion {
  int64_t valid_until;
  std::shared_ptr<const std::string> json;
};

struct Snapshot {
  std::vector<Entry> entries;  // newest generation first
  std::unordered_map<std::string, const Entry*> by_kid;
  std::vector<JwksVersion> jwks;  // valid_until ascending; the last is valid forever

  explicit Snapshot(std::vector<Entry> e) : entries(std::move(e)) {
    for (const auto& entry : entries) by_kid.emplace(entry.record.kid, &entry);
    // Keys only ever leave the JWKS (at their expires_at), so these times split the future
    // into intervals with one fixed document each.
    std::set<int64_t> boundaries{kNever};
    for (const auto& entry : entries) {
      if (entry.record.expires_at != 0) boundaries.insert(entry.record.expires_at);
    }
    for (int64_t until : boundaries) {
      std::string keys;
      for (const auto& entry : entries) {
        // Published throughout [previous boundary, until) exactly when it expires at or after
        // `until`.
        if (entry.record.expires_at == 0 || entry.record.expires_at >= until) {
          keys += (keys.empty() ? "" : ",") + entry.key->publicJwk(entry.record.kid);
        }
      }
      jwks.push_back({until, std::make_shared<const std::string>("{\"keys\":[" + keys + "]}")});
    }
  }
  Snapshot(const Snapshot&) = delete;  // by_kid points into entries
  Snapshot& operator=(const Snapshot&) = delete;
};

class StoreKeyManager final : public KeyManager {
 public:
  StoreKeyManager(store::Store& store, std::shared_ptr<const MasterKeyring> master, Clock& clock,
                  KeyPolicy policy, KeyGenerator generate_key)
      : store_(store),
        master_(std::move(master)),
        clock_(clock),
        policy_(policy),
        generate_key_(std::move(generate_key)),
        snap_(std::make_shared<const Snapshot>(std::vector<Entry>{})) {
    if (!master_) throw std::invalid_argument("KeyManager needs a master keyring");
    if (!generate_key_) generate_key_ = [](SigningAlg alg) { return SigningKey::generate(alg); };
  }

  void initialize(const std::string& import_pem) override {
    std::lock_guard<std::mutex> lock(update_mu_);
    auto recs = listOrThrow();
    if (!import_pem.empty()) {
      auto key = SigningKey::fromPrivatePem(import_pem);
      if (!key) throw std::runtime_error("imported signing key: " + key.error().message);
      // Otherwise the switch below would supersede the imported key at once.
      if ((*key)->algorithm() != policy_.algorithm) {
        throw std::runtime_error(std::string("imported signing key: an ") + (*key)->alg() +
                                 " key, but keys.algorithm is " + algName(policy_.algorithm));
      }
      recs = insertAtStartup(*key, std::move(recs), /*only_if_empty=*/false);
    }
    if (recs.empty()) {
      auto key = generate_key_(policy_.algorithm);
      if (!key) throw std::runtime_error("signing key generation: " + key.error().message);
      recs = insertAtStartup(*key, std::move(recs), /*only_if_empty=*/true);
    }
    if (switchDue(recs)) {
      auto kid = rotateFrom(recs, /*immediate=*/false);
      if (!kid) throw std::runtime_error("signing key switch: " + kid.error().message);
      recs = listOrThrow();
    }
    if (auto st = apply(std::move(recs)); !st) {
      throw std::runtime_error("signing keys: " + st.error().message);
    }
  }

  Status refresh() override {
    std::lock_guard<std::mutex> lock(update_mu_);
    auto recs = store_.listSigningKeys();
    if (!recs) return recs.error();
    if (recs->empty()) return Error::notFound("the store holds no signing keys");
    if (rotationDue(*recs)) {
      // Rotating on the listing that found it due: an instance that lists after another rotated
      // sees a fresh key and does nothing; one that listed before collides on the generation.
      auto kid = rotateFrom(*recs, /*immediate=*/false);
      if (!kid) return kid.error();
      if (policy_.on_rotated) policy_.on_rotated(kid.value(), true);
      recs = store_.listSigningKeys();
      if (!recs) return recs.error();
    }
    return apply(std::move(recs).value());
  }

  Result<std::string> rotate(bool immediate) override {
    std::lock_guard<std::mutex> lock(update_mu_);
    auto recs = store_.listSigningKeys();
    if (!recs) return recs.error();
    auto kid = rotateFrom(*recs, immediate);
    if (!kid) return kid.error();
    if (policy_.on_rotated) policy_.on_rotated(kid.value(), false);
    recs = store_.listSigningKeys();
    if (!recs) return recs.error();
    if (auto st = apply(std::move(recs).value()); !st) return st.error();
    return kid;
  }

  Signer currentSigner() const override {
    auto snap = snapshot();
    const int64_t now = clock_.now();
    const Entry* earliest_next = nullptr;
    for (const auto& e : snap->entries) {
      KeyState s = stateAt(e.record, now);
      if (s == KeyState::kCurrent) return {e.record.kid, e.key};
      if (s == KeyState::kNext &&
          (!earliest_next || e.record.activates_at < earliest_next->record.activates_at)) {
        earliest_next = &e;
      }
    }
    // Only when this host's clock is behind the one that created every key: the key is
    // already published, so signing with it early is safe.
    if (earliest_next) return {earliest_next->record.kid, earliest_next->key};
    return {};
  }

  std::shared_ptr<const SigningKey> verificationKey(const std::string& kid) const override {
    auto snap = snapshot();
    auto it = snap->by_kid.find(kid);
    if (it == snap->by_kid.end() || !published(it->second->record, clock_.now())) return nullptr;
    return it->second->key;
  }

  std::shared_ptr<const std::string> jwksJson() const override {
    auto snap = snapshot();
    const int64_t now = clock_.now();
    for (const auto& v : snap->jwks) {
      if (now < v.valid_until) return v.json;
    }
    return snap->jwks.back().json;
  }

  std::vector<KeyInfo> list() const override {
    auto snap = snapshot();
    const int64_t now = clock_.now();
    std::vector<KeyInfo> out;
    for (const auto& e : snap->entries) {
      const auto& r = e.record;
      out.push_back({r.kid, stateName(stateAt(r, now)), r.created_at, r.activates_at, r.retires_at,
                     r.expires_at, r.generation});
    }
    return out;
  }

 private:
  std::shared_ptr<const Snapshot> snapshot() const {
    std::lock_guard<std::mutex> lock(snap_mu_);
    return snap_;
  }

  std::vector<SigningKeyRecord> listOrThrow() {
    auto recs = store_.listSigningKeys();
    if (!recs) throw std::runtime_error("listing signing keys: " + recs.error().message);
    return std::move(recs).value();
  }

  bool rotationDue(const std::vector<SigningKeyRecord>& recs) const {
    if (policy_.rotation_period <= 0 || recs.empty()) return false;
    auto newest = std::max_element(recs.begin(), recs.end(), [](const auto& a, const auto& b) {
      return a.generation < b.generation;
    });
    return newest->created_at + policy_.rotation_period <= clock_.now();
  }

  // The newest key signs with another algorithm than keys.algorithm: a key of the configured one
  // is due. Checked at start-up only, so that during a rolling restart the instances still on
  // the old setting do not switch back; the store settles the race on the generation between
  // instances starting together.
  bool switchDue(const std::vector<SigningKeyRecord>& recs) const {
    if (recs.empty()) return false;
    auto newest = std::max_element(recs.begin(), recs.end(), [](const auto& a, const auto& b) {
      return a.generation < b.generation;
    });
    return newest->alg != algName(policy_.algorithm);
  }

  // Inserts `key` as the next generation, signing at once, unless it is already stored (or, with
  // `only_if_empty`, unless any key is). Retries when another instance takes the generation.
  std::vector<SigningKeyRecord> insertAtStartup(std::shared_ptr<const SigningKey> key,
                                                std::vector<SigningKeyRecord> recs,
                                                bool only_if_empty) {
    const std::string kid = key->thumbprint();
    for (int attempt = 0; attempt < kInsertAttempts; ++attempt) {
      if (findKid(recs, kid) || (only_if_empty && !recs.empty())) return recs;
      auto st = insertKey(key, maxGeneration(recs) + 1, clock_.now());
      if (!st && st.error().code != ErrorCode::kAlreadyExists) {
        throw std::runtime_error("storing signing key: " + st.error().message);
      }
      recs = listOrThrow();
    }
    if (findKid(recs, kid)) return recs;
    throw std::runtime_error("storing signing key: other instances keep taking the generation");
  }

  Result<std::string> rotateFrom(const std::vector<SigningKeyRecord>& recs, bool immediate) {
    auto key = generate_key_(policy_.algorithm);
    if (!key) return key.error();
    const int64_t generation = maxGeneration(recs) + 1;
    const int64_t now = clock_.now();
    auto st = insertKey(*key, generation, immediate ? now : now + policy_.publish_ahead);
    if (st) return (*key)->thumbprint();
    if (st.error().code != ErrorCode::kAlreadyExists) return st.error();
    auto fresh = store_.listSigningKeys();
    if (!fresh) return fresh.error();
    for (const auto& r : *fresh) {
      if (r.generation == generation) {
        log::info("signing_key_rotation_lost_race", {{"kid", r.kid}, {"generation", generation}});
        return r.kid;
      }
    }
    return Error::conflict("signing key generation " + std::to_string(generation) + " is taken");
  }

  Status insertKey(const std::shared_ptr<const SigningKey>& key, int64_t generation,
                   int64_t activates_at) {
    SigningKeyRecord rec;
    rec.kid = key->thumbprint();
    std::string pem = key->privatePem();
    rec.sealed_private_key = master_->seal(pem, kSealPurpose);
    OPENSSL_cleanse(pem.data(), pem.size());
    rec.alg = key->alg();
    rec.public_jwk = key->publicJwk(rec.kid);
    rec.generation = generation;
    rec.created_at = clock_.now();
    rec.activates_at = activates_at;
    auto st = store_.insertSigningKey(rec);
    if (!st) return st;
    // Parsed already; the instance that made a key never unseals it.
    parsed_[rec.kid] = key;
    log::info("signing_key_created", {{"kid", rec.kid},
                                      {"alg", key->alg()},
                                      {"generation", generation},
                                      {"activates_at", activates_at}});
    return {};
  }

  Result<std::shared_ptr<const SigningKey>> unseal(const SigningKeyRecord& r) const {
    auto pem = master_->open(r.sealed_private_key, kSealPurpose);
    if (!pem) {
      return Error::internal("signing key " + r.kid +
                             " cannot be unsealed with the configured master keys (" +
                             pem.error().message + ")");
    }
    auto key = SigningKey::fromPrivatePem(*pem);
    OPENSSL_cleanse(pem->data(), pem->size());
    if (!key) return Error::internal("signing key " + r.kid + ": " + key.error().message);
    // The kid is the thumbprint, so this also catches a sealed key copied onto another row.
    if ((*key)->thumbprint() != r.kid) {
      return Error::internal("signing key " + r.kid + " does not match its kid");
    }
    // Member by member, whatever their order: RSA n/e or EC crv/x/y, alg and kid.
    auto jwk = detail::parseJsonObject(r.public_jwk);
    auto own = detail::parseJsonObject((*key)->publicJwk(r.kid));
    if (!jwk || !own || *jwk != *own) {
      return Error::internal("signing key " + r.kid + " does not match its public JWK");
    }
    return key;
  }

  // Parses keys not seen before, records derived times, then publishes a new snapshot. On any
  // error nothing is published.
  Status apply(std::vector<SigningKeyRecord> recs) {
    std::sort(recs.begin(), recs.end(),
              [](const auto& a, const auto& b) { return a.generation < b.generation; });
    const std::vector<SigningKeyRecord> stored = recs;
    deriveRetirement(recs, policy_.max_token_ttl);

    std::map<std::string, std::shared_ptr<const SigningKey>> parsed;
    for (const auto& r : recs) {
      auto cached = parsed_.find(r.kid);
      if (cached != parsed_.end()) {
        parsed.emplace(r.kid, cached->second);
        continue;
      }
      auto key = unseal(r);
      if (!key) return key.error();
      parsed.emplace(r.kid, std::move(key).value());
    }

    for (size_t i = 0; i < recs.size(); ++i) {
      const auto& r = recs[i];
      if (r.retires_at == stored[i].retires_at && r.expires_at == stored[i].expires_at) continue;
      auto st = store_.updateSigningKeyTimes(r.kid, r.retires_at, r.expires_at);
      // kNotFound: garbage collection deleted it meanwhile, which is what the times were for.
      if (!st && st.error().code != ErrorCode::kNotFound) return st;
    }

    std::vector<Entry> entries;
    for (auto it = recs.rbegin(); it != recs.rend(); ++it) {
      entries.push_back({*it, parsed.at(it->kid)});
    }
    parsed_ = std::move(parsed);  // forget keys the store no longer has
    auto snap = std::make_shared<const Snapshot>(std::move(entries));
    std::lock_guard<std::mutex> lock(snap_mu_);
    snap_ = std::move(snap);
    return {};
  }

  store::Store& store_;
  const std::shared_ptr<const MasterKeyring> master_;
  Clock& clock_;
  const KeyPolicy policy_;
  KeyGenerator generate_key_;

  std::mutex update_mu_;  // serialises initialize / refresh / rotate; guards parsed_
  std::map<std::string, std::shared_ptr<const SigningKey>> parsed_;

  mutable std::mutex snap_mu_;  // held only to copy or replace the pointer
  std::shared_ptr<const Snapshot> snap_;
};

}  // namespace

std::shared_ptr<KeyManager> KeyManager::create(store::Store& store,
                                               std::shared_ptr<const MasterKeyring> master,
                                               Clock& clock, Random& /*random*/, KeyPolicy policy,
                                               KeyGenerator generate_key) {
  return std::make_shared<StoreKeyManager>(store, std::move(master), clock, policy,
                                           std::move(generate_key));
}

}  // namespace broker::token
