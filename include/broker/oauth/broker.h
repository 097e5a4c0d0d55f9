#pragma once
// The authorization server: every OAuth endpoint as a function from a plain http::Request to an
// http::Response, over injected dependencies. `registerRoutes` wires them into a Router.

#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "broker/config/config.h"
#include "broker/core/clock.h"
#include "broker/core/random.h"
#include "broker/http/server.h"
#include "broker/policy/policy.h"
#include "broker/store/store.h"
#include "broker/token/key_manager.h"
#include "broker/token/master_keyring.h"
#include "broker/upstream/upstream.h"

namespace broker::store {
class RevocationList;
class StoreMonitor;
class AuditLog;
}  // namespace broker::store
namespace broker::metrics {
struct BrokerMetrics;
}

namespace broker::oauth {

// The current policy. Readers take a snapshot per request, so a reload never shows half a policy.
class PolicySource {
 public:
  explicit PolicySource(std::shared_ptr<const policy::Policy> initial) : current_(initial) {}
  std::shared_ptr<const policy::Policy> current() const { return std::atomic_load(&current_); }
  void replace(std::shared_ptr<const policy::Policy> next) { std::atomic_store(&current_, next); }

  // Load status for /health (the last reload error, empty when fine).
  std::string lastError() const {
    std::lock_guard<std::mutex> lock(mu_);
    return last_error_;
  }
  void setLastError(std::string e) {
    std::lock_guard<std::mutex> lock(mu_);
    last_error_ = std::move(e);
  }

 private:
  std::shared_ptr<const policy::Policy> current_;
  mutable std::mutex mu_;
  std::string last_error_;
};

struct Dependencies {
  const config::Config* config = nullptr;
  store::Store* store = nullptr;
  token::KeyManager* keys = nullptr;
  std::shared_ptr<const token::MasterKeyring> master;
  PolicySource* policy = nullptr;
  upstream::UpstreamRegistry* upstreams = nullptr;
  Clock* clock = nullptr;
  Random* random = nullptr;
  // Optional: answers revocation questions from memory (/validate, /introspect, /forward-auth).
  // Without it every such question goes to the store, and /forward-auth does not check.
  store::RevocationList* revocations = nullptr;
  // Optional: whether the store answers, from memory. With it /health runs on the reactor thread
  // and answers while every worker is busy; without it /health pings the store on a worker.
  store::StoreMonitor* store_monitor = nullptr;
  // Optional: security events into the audit table, and the broker's metrics.
  store::AuditLog* audit = nullptr;
  metrics::BrokerMetrics* metrics = nullptr;
};

class AuthorizationServer {
 public:
  explicit AuthorizationServer(Dependencies deps);
  ~AuthorizationServer();
  void registerRoutes(http::Router& router);

  // Endpoints, exposed for tests.
  http::Response metadata(const http::Request& req) const;
  http::Response jwks(const http::Request& req) const;
  http::Response registerClient(const http::Request& req);
  http::Response authorize(const http::Request& req);
  // authorize() as the server runs it: may answer from the client metadata fetch threads.
  void authorizeAsync(const http::Request& req, http::Respond respond);
  http::Response consent(const http::Request& req);
  http::Response upstreamCallback(const http::Request& req);
  http::Response devLoginPage(const http::Request& req);
  http::Response token(const http::Request& req);
  http::Response revoke(const http::Request& req);
  http::Response introspect(const http::Request& req);
  http::Response validate(const http::Request& req);
  // /validate on the reactor thread for a token already verified, while the revocation list is
  // fresh; nothing when the answer needs a worker (see Router::add with a FastHandler).
  std::optional<http::Response> validateFromMemory(const http::Request& req);
  http::Response health(const http::Request& req);

  struct Impl;  // opaque; defined in src/oauth/internal.h for the endpoint files

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace broker::oauth
