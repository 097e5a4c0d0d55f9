#pragma once
// Whether the store answers, known without asking it: a background thread pings the store every
// `interval` and keeps the last result, so /health can answer from memory on the reactor thread
// (it must keep answering while every worker waits on a slow database). The pings are also what
// reconnects an idle pool soon after the database comes back.

#include <cstdint>
#include <mutex>
#include <string>

#include "broker/core/clock.h"
#include "broker/core/periodic.h"
#include "broker/core/result.h"
#include "broker/store/store.h"

namespace broker::store {

class StoreMonitor {
 public:
  struct Options {
    int64_t interval_ms = 1000;  // between pings
    // A last good ping older than this counts as unreachable (a ping that hangs past its own
    // time limit leaves no newer result).
    int64_t max_age = 5;  // seconds
  };
  struct State {
    bool reachable = false;
    int64_t since = 0;  // when `reachable` last changed (Unix seconds; 0 = never checked)
  };

  StoreMonitor(Store& store, const Clock& clock, Options options);
  ~StoreMonitor();
  StoreMonitor(const StoreMonitor&) = delete;
  StoreMonitor& operator=(const StoreMonitor&) = delete;

  // Pings now and records the result; logs each change between reachable and unreachable.
  Status probe();
  void start();  // pings every interval until stop() (or destruction)
  void stop();
  State state() const;

 private:
  Store& store_;
  const Clock& clock_;
  const Options options_;
  mutable std::mutex mu_;
  bool checked_ = false;
  bool reachable_ = false;
  int64_t since_ = 0;
  int64_t last_ok_ = 0;
  std::mutex probe_mu_;  // one ping at a time
  Periodic pinger_;
};

}  // namespace broker::store
