#pragma once
// What the fake GitHub and the fake OpenID Connect provider share: an HTTP server on 127.0.0.1
// (a free port), switches that make every endpoint "down" (503) or "slow", and per-path request
// counters. Safe to flip from the test thread while requests are in flight.

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>

#include <nlohmann/json.hpp>

#include "broker/core/clock.h"
#include "broker/http/server.h"
#include "broker/upstream/upstream.h"

namespace broker::testing {

// The browser's visit to an upstream's authorization URL: the query parameters of the redirect
// back to the callback (code and state, or error). Empty when the upstream did not redirect.
std::map<std::string, std::string> followAuthorize(const std::string& authorize_url);

// What the broker and the browser do around an upstream login: beginLogin with `state`, the
// browser's visit to the authorization URL, and the callback the broker would then receive.
// `memberships` as in BeginLogin.
Result<upstream::Callback, OAuthError> browserCallback(upstream::UpstreamProvider& provider,
                                                       const std::string& state,
                                                       const std::string& callback_url,
                                                       bool memberships = true);
// browserCallback, `tamper` (may be empty) on the callback, then completeLogin.
Result<upstream::LoginResult, OAuthError> browserLogin(
    upstream::UpstreamProvider& provider, const std::string& state, const std::string& callback_url,
    const std::function<void(upstream::Callback&)>& tamper = {});

// The code of a failed result, or nullopt for a success (so a failed expectation shows which).
template <class T>
std::optional<OAuthCode> errorCode(const Result<T, OAuthError>& result) {
  if (result.ok()) return std::nullopt;
  return result.error().code;
}

// The message of the config::ConfigError `f` throws, or "" when it throws none.
std::string configErrorOf(const std::function<void()>& f);

class FakeUpstreamServer {
 public:
  FakeUpstreamServer(const FakeUpstreamServer&) = delete;
  FakeUpstreamServer& operator=(const FakeUpstreamServer&) = delete;

  uint16_t port() const;
  std::string baseUrl() const;  // http://127.0.0.1:PORT

  // Every endpoint answers 503 with a JSON error.
  void setDown(bool down) { down_ = down; }
  // Every answer waits this long first (cut short when the server stops).
  void setSlow(int64_t ms) { slow_ms_ = ms; }
  // Requests seen per path (no query), counting those answered "down".
  int requests(const std::string& path) const;
  void resetCounts();

 protected:
  explicit FakeUpstreamServer(Clock* clock);
  ~FakeUpstreamServer();

  // Registers `handler` behind the down/slow switches and the counters.
  void route(const std::string& method, const std::string& path, http::Handler handler);
  void start();
  void stop();
  int64_t now() const { return clock_->now(); }

  static http::Response jsonReply(int status, const nlohmann::json& body);
  // The form of a POST body (first value of a repeated key wins).
  static std::map<std::string, std::string> form(const http::Request& req);
  // client_id and client_secret from an "Authorization: Basic" header, if there is one.
  static std::optional<std::pair<std::string, std::string>> basicAuth(const http::Request& req);
  // The token of an "Authorization: Bearer" (or GitHub's "token") header, or "".
  static std::string bearer(const http::Request& req);
  static bool pkceMatches(const std::string& challenge, const std::string& verifier);

 private:
  Clock* clock_;
  http::Router router_;
  std::unique_ptr<http::Server> server_;
  std::atomic<bool> down_{false};
  std::atomic<int64_t> slow_ms_{0};
  mutable std::mutex mutex_;
  std::condition_variable stopping_cv_;
  bool stopping_ = false;
  std::map<std::string, int> counts_;
};

}  // namespace broker::testing
