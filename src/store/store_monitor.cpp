#include "broker/store/store_monitor.h"

#include <chrono>

#include "broker/core/log.h"

namespace broker::store {

StoreMonitor::StoreMonitor(Store& store, const Clock& clock, Options options)
    : store_(store), clock_(clock), options_(options) {}

StoreMonitor::~StoreMonitor() {
  stop();
}

Status StoreMonitor::probe() {
  std::lock_guard<std::mutex> serial(probe_mu_);
  Status st = store_.ping();
  const int64_t now = clock_.now();
  std::lock_guard<std::mutex> lock(mu_);
  const bool was = reachable_;
  if (st.ok()) last_ok_ = now;
  if (!checked_ || was != st.ok()) {
    reachable_ = st.ok();
    since_ = now;
    if (st.ok() && checked_) {
      log::info("store_reachable_again", {{"backend", store_.backendName()}});
    } else if (!st.ok()) {
      log::warn("store_unreachable",
                {{"backend", store_.backendName()}, {"error", st.error().message}});
    }
  }
  checked_ = true;
  return st;
}

void StoreMonitor::start() {
  pinger_.start(std::chrono::milliseconds(options_.interval_ms), [this] {
    (void)probe();  // the result is recorded and a change logged
  });
}

void StoreMonitor::stop() {
  pinger_.stop();
}

StoreMonitor::State StoreMonitor::state() const {
  std::lock_guard<std::mutex> lock(mu_);
  if (!checked_) return {};
  const int64_t now = clock_.now();
  if (reachable_ && now - last_ok_ > options_.max_age) return {false, last_ok_};
  return {reachable_, since_};
}

}  // namespace broker::store
