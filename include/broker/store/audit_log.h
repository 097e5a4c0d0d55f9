#pragma once
// Writes security events to the store's audit table off the request path: record() queues the
// event and returns at once; a background thread writes what is queued in one transaction every
// `interval_ms` (or sooner when `batch` events wait). So a sign-in or a refresh pays no extra
// round trip. The log line of each event is written at once by its caller, so the log is the
// record of last resort: events still queued when the process dies are only there. stop() (and
// the destructor) write what is queued before returning.

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "broker/core/clock.h"
#include "broker/core/random.h"
#include "broker/store/store.h"

namespace broker::metrics {
struct BrokerMetrics;
}

namespace broker::store {

class AuditLog {
 public:
  struct Options {
    int interval_ms = 200;      // how long an event may wait in memory
    size_t batch = 256;         // write sooner when this many wait
    size_t max_queue = 100000;  // past this, new events are counted as write errors and dropped
  };

  AuditLog(Store& store, Clock& clock, Random& random, metrics::BrokerMetrics* metrics,
           Options options);
  AuditLog(Store& store, Clock& clock, Random& random, metrics::BrokerMetrics* metrics = nullptr)
      : AuditLog(store, clock, random, metrics, Options()) {}
  ~AuditLog();
  AuditLog(const AuditLog&) = delete;
  AuditLog& operator=(const AuditLog&) = delete;

  // Stamps the event (event_id, and `at` when 0) and queues it. Never waits for the store.
  void record(AuditEvent event);
  // Writes everything queued now, on the calling thread. The command line calls this.
  Status flush();
  // The background writer; stop() ends it after a last flush.
  void start();
  void stop();
  size_t queued() const;

 private:
  void loop();
  std::string newId();

  Store& store_;
  Clock& clock_;
  Random& random_;
  metrics::BrokerMetrics* metrics_;
  const Options options_;
  mutable std::mutex mu_;
  std::mutex write_mu_;  // one writer at a time, so batches land in order
  std::condition_variable cv_;
  std::deque<AuditEvent> queue_;
  bool stopping_ = false;
  std::thread thread_;
  std::atomic<int64_t> last_us_{0};  // the time part of the last id
};

// Shortcut for the call sites: records when `log` is set, else does nothing.
inline void recordAudit(AuditLog* log, AuditEvent event) {
  if (log) log->record(std::move(event));
}

}  // namespace broker::store
