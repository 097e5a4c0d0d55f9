#pragma once
// Every time in the broker comes from an injected Clock so tests can move time.

#include <atomic>
#include <chrono>
#include <cstdint>

namespace broker {

class Clock {
 public:
  virtual ~Clock() = default;
  // Seconds since the Unix epoch.
  virtual int64_t now() const = 0;
  static Clock& system();
};

// A clock tests can set and advance; thread-safe.
class FakeClock : public Clock {
 public:
  explicit FakeClock(int64_t start = 1'700'000'000) : now_(start) {}
  int64_t now() const override { return now_.load(); }
  void set(int64_t t) { now_.store(t); }
  void advance(int64_t seconds) { now_.fetch_add(seconds); }

 private:
  std::atomic<int64_t> now_;
};

}  // namespace broker
