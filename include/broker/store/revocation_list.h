#pragma once
// An in-memory copy of what the store says is revoked, for the answers that must not wait on the
// database (/validate, /forward-auth): the revoked jtis that have not expired, and the refresh
// families revoked within the lifetime of an access token (an access token minted from a family
// dies with it; one revoked longer ago than that has no live access token left).
//
// A background thread reloads the whole list every `interval` (one query; each load is a
// consistent snapshot, so there is no watermark that a late commit or a skewed clock could slip
// past). A revocation made by this process calls sync() and takes effect at once; one made by
// another instance, or by the `revoke` command, within one interval. While loads fail (the store
// is unreachable), the last good load keeps answering until it is `max_age` old
// (tokens.revocation_max_staleness); then check() answers kUnknown and the caller asks the store
// or fails closed.

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_set>

#include "broker/core/clock.h"
#include "broker/core/periodic.h"
#include "broker/core/result.h"
#include "broker/store/store.h"

namespace broker::store {

class RevocationList {
 public:
  struct Options {
    int64_t horizon = 3600;  // seconds: the longest access-token lifetime, plus leeway
    int64_t interval = 1;    // seconds between background reloads
    int64_t max_age = 60;    // seconds after which an old load is no longer trusted
  };
  enum class Answer { kNotRevoked, kRevoked, kUnknown };

  RevocationList(Store& store, const Clock& clock, Options options);
  ~RevocationList();
  RevocationList(const RevocationList&) = delete;
  RevocationList& operator=(const RevocationList&) = delete;

  // Reloads from the store now. Concurrent calls are serialised, so the last to return has
  // loaded after every revocation committed before it was called.
  Status sync();
  // Background reloads every interval until stop() (or destruction).
  void start();
  void stop();

  Answer check(const std::string& jti, const std::string& family_id) const;
  size_t size() const;
  // When the list in use was loaded (Unix seconds); 0 before the first load.
  int64_t loadedAt() const;

 private:
  struct Snapshot {
    std::unordered_set<std::string> jtis;
    std::unordered_set<std::string> families;
    int64_t loaded_at = 0;
  };
  std::shared_ptr<const Snapshot> current() const;

  Store& store_;
  const Clock& clock_;
  const Options options_;
  std::mutex sync_mu_;  // one load at a time
  mutable std::mutex mu_;
  std::shared_ptr<const Snapshot> snapshot_;
  bool failing_ = false;  // the last load failed (logged once per failing stretch)
  Periodic loader_;
};

}  // namespace broker::store
