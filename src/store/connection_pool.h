#pragma once
// A bounded pool of database connections, each used by one thread at a time. Connections are
// opened lazily by a factory and dropped when they report themselves unusable (a broken
// PostgreSQL connection), so the next lease opens a fresh one: that is how the stores reconnect.

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

#include "broker/core/result.h"

namespace broker::store {

// Conn must provide `bool reusable() const`.
template <class Conn>
class ConnectionPool {
 public:
  using Factory = std::function<Result<std::unique_ptr<Conn>>()>;

  class Lease {
   public:
    Lease(ConnectionPool* pool, std::unique_ptr<Conn> conn) : pool_(pool), conn_(std::move(conn)) {}
    Lease(Lease&& other) noexcept : pool_(other.pool_), conn_(std::move(other.conn_)) {}
    Lease& operator=(Lease&&) = delete;
    Lease(const Lease&) = delete;
    ~Lease() {
      if (conn_) pool_->release(std::move(conn_));
    }
    Conn& operator*() { return *conn_; }
    Conn* operator->() { return conn_.get(); }

   private:
    ConnectionPool* pool_;
    std::unique_ptr<Conn> conn_;
  };

  // `wait` bounds how long a caller queues for a free connection, so a stuck database turns into
  // kUnavailable instead of a hung request.
  ConnectionPool(size_t size, Factory factory, std::chrono::milliseconds wait)
      : size_(size < 1 ? 1 : size), factory_(std::move(factory)), wait_(wait) {}

  ConnectionPool(const ConnectionPool&) = delete;
  ConnectionPool& operator=(const ConnectionPool&) = delete;

  Result<Lease> acquire() {
    std::unique_lock<std::mutex> lock(mu_);
    if (!cv_.wait_for(lock, wait_, [&] { return !idle_.empty() || open_ < size_; })) {
      return fail(Error::unavailable("timed out waiting for a free database connection"));
    }
    if (!idle_.empty()) {
      auto conn = std::move(idle_.back());
      idle_.pop_back();
      return Lease(this, std::move(conn));
    }
    ++open_;
    lock.unlock();
    auto made = factory_();
    if (!made.ok()) {
      lock.lock();
      --open_;
      cv_.notify_one();
      return fail(made.error());
    }
    return Lease(this, std::move(made.value()));
  }

 private:
  void release(std::unique_ptr<Conn> conn) {
    std::vector<std::unique_ptr<Conn>> dropped;  // closed outside the lock
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (conn->reusable()) {
        idle_.push_back(std::move(conn));
      } else {
        // A broken connection mostly means the server went away or restarted, and then the idle
        // ones are broken too: drop them all, so that callers after it open fresh connections
        // instead of each failing once on a dead one.
        dropped.push_back(std::move(conn));
        for (auto& idle : idle_) dropped.push_back(std::move(idle));
        open_ -= dropped.size();
        idle_.clear();
      }
    }
    cv_.notify_all();
  }

  const size_t size_;
  const Factory factory_;
  const std::chrono::milliseconds wait_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::unique_ptr<Conn>> idle_;
  size_t open_ = 0;  // idle plus leased
};

}  // namespace broker::store
