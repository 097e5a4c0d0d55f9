#include "http/worker_pool.h"

#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

namespace broker::http {

// Threads hold the state by shared_ptr so one detached at shutdown can still finish safely.
struct WorkerPool::State {
  std::mutex mutex;
  std::condition_variable work_cv;
  std::condition_variable exit_cv;
  std::deque<Job> queue;
  std::atomic<size_t> depth{0};  // queue.size(), readable without the mutex (metrics)
  size_t queue_limit = 0;
  // Threads not inside a job. A queued job that one of them is about to take does not wait, so
  // it does not count against queue_limit, however late the scheduler wakes that thread.
  size_t idle = 0;
  bool stopping = false;
  int alive = 0;
  std::vector<std::thread> threads;
};

WorkerPool::WorkerPool(int threads, size_t queue_limit) : state_(std::make_shared<State>()) {
  state_->queue_limit = queue_limit;
  const int n = threads > 0 ? threads : 1;
  std::lock_guard<std::mutex> lock(state_->mutex);
  for (int i = 0; i < n; ++i) {
    state_->threads.emplace_back(workerLoop, state_);
    ++state_->alive;
    ++state_->idle;
  }
}

WorkerPool::~WorkerPool() {
  shutdown(Clock::now());
}

bool WorkerPool::tryPost(Job job) {
  {
    std::lock_guard<std::mutex> lock(state_->mutex);
    if (state_->stopping || state_->queue.size() >= state_->queue_limit + state_->idle) {
      return false;
    }
    state_->queue.push_back(std::move(job));
    state_->depth.store(state_->queue.size(), std::memory_order_relaxed);
  }
  state_->work_cv.notify_one();
  return true;
}

size_t WorkerPool::queued() const {
  return state_->depth.load(std::memory_order_relaxed);
}

bool WorkerPool::shutdown(Clock::time_point deadline) {
  std::vector<std::thread> threads;
  std::deque<Job> dropped;
  bool all_exited;
  {
    std::unique_lock<std::mutex> lock(state_->mutex);
    state_->stopping = true;
    state_->work_cv.notify_all();
    all_exited = state_->exit_cv.wait_until(lock, deadline, [&] { return state_->alive == 0; });
    threads.swap(state_->threads);
    dropped.swap(state_->queue);
  }
  state_->work_cv.notify_all();
  for (auto& t : threads) {
    if (all_exited) {
      t.join();
    } else {
      t.detach();
    }
  }
  // Dropped jobs are destroyed here, outside the lock: their captures may run arbitrary code.
  dropped.clear();
  return all_exited;
}

void WorkerPool::workerLoop(std::shared_ptr<State> s) {
  std::unique_lock<std::mutex> lock(s->mutex);
  while (true) {
    s->work_cv.wait(lock, [&] { return s->stopping || !s->queue.empty(); });
    if (s->queue.empty()) break;  // stopping and nothing left
    Job job = std::move(s->queue.front());
    s->queue.pop_front();
    s->depth.store(s->queue.size(), std::memory_order_relaxed);
    --s->idle;
    lock.unlock();
    try {
      job();
    } catch (...) {
      // Jobs catch their own errors; this only keeps a thread from dying with std::terminate.
    }
    job = nullptr;  // release captures before taking the lock again
    lock.lock();
    ++s->idle;
  }
  --s->alive;
  s->exit_cv.notify_all();
}

}  // namespace broker::http
