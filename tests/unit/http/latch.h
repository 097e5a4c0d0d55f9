#pragma once
// One-shot gate for tests that must order events across threads without sleeping.

#include <condition_variable>
#include <mutex>

namespace broker::http {

class Latch {
 public:
  void open() {
    std::lock_guard<std::mutex> lock(m_);
    open_ = true;
    cv_.notify_all();
  }
  void wait() {
    std::unique_lock<std::mutex> lock(m_);
    cv_.wait(lock, [&] { return open_; });
  }

 private:
  std::mutex m_;
  std::condition_variable cv_;
  bool open_ = false;
};

}  // namespace broker::http
