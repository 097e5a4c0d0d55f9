#include "broker/store/audit_log.h"

#include <algorithm>
#include <chrono>
#include <cstdio>

#include "broker/core/broker_metrics.h"
#include "broker/core/encoding.h"
#include "broker/core/log.h"

namespace broker::store {

AuditLog::AuditLog(Store& store, Clock& clock, Random& random, metrics::BrokerMetrics* metrics,
                   Options options)
    : store_(store), clock_(clock), random_(random), metrics_(metrics), options_(options) {}

AuditLog::~AuditLog() {
  stop();
}

// Microseconds from the system clock, not the injected one: the id only orders events that share
// a second. Strictly increasing within the process, so two events of one microsecond keep their
// order; the random tail keeps instances apart.
std::string AuditLog::newId() {
  int64_t us = std::chrono::duration_cast<std::chrono::microseconds>(
                   std::chrono::system_clock::now().time_since_epoch())
                   .count();
  int64_t last = last_us_.load();
  while (!last_us_.compare_exchange_weak(last, std::max(us, last + 1))) {
  }
  us = std::max(us, last + 1);
  char head[17];
  std::snprintf(head, sizeof head, "%016llx", static_cast<unsigned long long>(us));
  uint8_t tail[6];
  random_.fill(tail, sizeof tail);
  return std::string(head) +
         hexEncode(std::string_view(reinterpret_cast<const char*>(tail), sizeof tail));
}

void AuditLog::record(AuditEvent event) {
  event.event_id = newId();
  if (event.at == 0) event.at = clock_.now();
  if (event.detail.empty()) event.detail = "{}";
  if (metrics_) metrics_->audit_events.with({event.event}).inc();
  bool wake = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (queue_.size() >= options_.max_queue) {
      if (metrics_) metrics_->audit_write_errors.inc();
      log::deferred(log::Level::kError, "audit_dropped", {{"audit_event", event.event}});
      return;
    }
    queue_.push_back(std::move(event));
    wake = queue_.size() >= options_.batch;
  }
  if (wake) cv_.notify_one();
}

Status AuditLog::flush() {
  std::lock_guard<std::mutex> writing(write_mu_);
  std::vector<AuditEvent> batch;
  {
    std::lock_guard<std::mutex> lock(mu_);
    batch.assign(std::make_move_iterator(queue_.begin()), std::make_move_iterator(queue_.end()));
    queue_.clear();
  }
  if (batch.empty()) return {};
  Status st = store_.appendAudit(batch);
  if (!st.ok()) {
    if (metrics_) metrics_->audit_write_errors.inc();
    log::error("audit_write_failed",
               {{"events", static_cast<int64_t>(batch.size())}, {"error", st.error().message}});
    // Put them back in front, unless the queue has filled meanwhile: a store that is down for
    // long loses the oldest events from the table (they are in the log).
    std::lock_guard<std::mutex> lock(mu_);
    if (queue_.size() + batch.size() <= options_.max_queue) {
      queue_.insert(queue_.begin(), std::make_move_iterator(batch.begin()),
                    std::make_move_iterator(batch.end()));
    }
  }
  return st;
}

void AuditLog::start() {
  std::lock_guard<std::mutex> lock(mu_);
  if (thread_.joinable()) return;
  stopping_ = false;
  thread_ = std::thread([this] { loop(); });
}

void AuditLog::stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  (void)flush();
}

size_t AuditLog::queued() const {
  std::lock_guard<std::mutex> lock(mu_);
  return queue_.size();
}

void AuditLog::loop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    cv_.wait_for(lock, std::chrono::milliseconds(options_.interval_ms),
                 [this] { return stopping_ || queue_.size() >= options_.batch; });
    if (queue_.empty()) continue;
    lock.unlock();
    (void)flush();
    lock.lock();
  }
}

}  // namespace broker::store
