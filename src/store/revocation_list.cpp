#include "broker/store/revocation_list.h"

#include <chrono>

#include "broker/core/log.h"

namespace broker::store {

RevocationList::RevocationList(Store& store, const Clock& clock, Options options)
    : store_(store), clock_(clock), options_(options) {}

RevocationList::~RevocationList() {
  stop();
}

Status RevocationList::sync() {
  std::lock_guard<std::mutex> serial(sync_mu_);
  const int64_t now = clock_.now();
  auto loaded = store_.listRevokedGrants(now - options_.horizon, now);
  if (!loaded.ok()) {
    if (!failing_) {
      log::warn("revocation_list_load_failed", {{"error", loaded.error().message}});
      failing_ = true;
    }
    return loaded.error();
  }
  if (failing_) log::info("revocation_list_loaded_again");
  failing_ = false;
  auto next = std::make_shared<Snapshot>();
  next->jtis.insert(loaded->jtis.begin(), loaded->jtis.end());
  next->families.insert(loaded->families.begin(), loaded->families.end());
  next->loaded_at = now;
  std::lock_guard<std::mutex> lock(mu_);
  snapshot_ = std::move(next);
  return {};
}

void RevocationList::start() {
  loader_.start(std::chrono::seconds(options_.interval), [this] {
    (void)sync();  // a failure is logged; the old list ages until a load succeeds
  });
}

void RevocationList::stop() {
  loader_.stop();
}

std::shared_ptr<const RevocationList::Snapshot> RevocationList::current() const {
  std::lock_guard<std::mutex> lock(mu_);
  return snapshot_;
}

RevocationList::Answer RevocationList::check(const std::string& jti,
                                             const std::string& family_id) const {
  auto snap = current();
  if (!snap || clock_.now() - snap->loaded_at > options_.max_age) return Answer::kUnknown;
  if (!jti.empty() && snap->jtis.count(jti)) return Answer::kRevoked;
  if (!family_id.empty() && snap->families.count(family_id)) return Answer::kRevoked;
  return Answer::kNotRevoked;
}

int64_t RevocationList::loadedAt() const {
  auto snap = current();
  return snap ? snap->loaded_at : 0;
}

size_t RevocationList::size() const {
  auto snap = current();
  return snap ? snap->jtis.size() + snap->families.size() : 0;
}

}  // namespace broker::store
