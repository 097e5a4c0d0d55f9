#pragma once
// Bounded pool of threads for handlers that may block (database, upstream calls). A full queue
// is reported to the caller instead of growing without limit, so overload turns into fast 503s.

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>

namespace broker::http {

class WorkerPool {
 public:
  using Clock = std::chrono::steady_clock;
  using Job = std::function<void()>;

  WorkerPool(int threads, size_t queue_limit);
  ~WorkerPool();
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  // False when `queue_limit` jobs already wait for a thread (a job an idle thread is about to take
  // does not wait) or the pool is shutting down; the job is not run.
  bool tryPost(Job job);
  // Jobs waiting for a thread now; without a lock.
  size_t queued() const;

  // Refuses new jobs, runs what is queued, and joins the threads. Jobs not started by `deadline`
  // are dropped; a thread still inside a job at `deadline` is detached rather than waited for,
  // because a stuck handler must not hang shutdown. Returns false if any thread was detached.
  bool shutdown(Clock::time_point deadline);

 private:
  struct State;
  static void workerLoop(std::shared_ptr<State> s);
  std::shared_ptr<State> state_;
};

}  // namespace broker::http
