// Shared plumbing of the fake upstream servers (see fake_upstream.h), on the project's HTTP server.

#include "fakes/fake_upstream.h"

#include <chrono>

#include "broker/config/config.h"
#include "broker/core/crypto.h"
#include "broker/core/encoding.h"
#include "fakes/http_client.h"

namespace broker::testing {

std::map<std::string, std::string> followAuthorize(const std::string& authorize_url) {
  HttpClient browser;
  HttpResult r = browser.get(authorize_url);
  std::map<std::string, std::string> params;
  std::string location = r.header("location");
  if (r.status / 100 != 3 || location.empty()) return params;
  auto q = location.find('?');
  if (q != std::string::npos) parseUrlEncoded(location.substr(q + 1), params);
  return params;
}

Result<upstream::Callback, OAuthError> browserCallback(upstream::UpstreamProvider& provider,
                                                       const std::string& state,
                                                       const std::string& callback_url,
                                                       bool memberships) {
  auto begin = provider.beginLogin({state, callback_url, memberships});
  if (!begin.ok()) return begin.error();
  return upstream::Callback{followAuthorize(begin->url), callback_url, begin->upstream_data};
}

Result<upstream::LoginResult, OAuthError> browserLogin(
    upstream::UpstreamProvider& provider, const std::string& state, const std::string& callback_url,
    const std::function<void(upstream::Callback&)>& tamper) {
  auto cb = browserCallback(provider, state, callback_url);
  if (!cb.ok()) return cb.error();
  if (tamper) tamper(cb.value());
  return provider.completeLogin(cb.value());
}

std::string configErrorOf(const std::function<void()>& f) {
  try {
    f();
  } catch (const config::ConfigError& e) {
    return e.what();
  }
  return {};
}

FakeUpstreamServer::FakeUpstreamServer(Clock* clock) : clock_(clock ? clock : &Clock::system()) {}

// Handlers capture the derived object, so derived destructors stop the server first; this one
// only covers a constructor that threw before that.
FakeUpstreamServer::~FakeUpstreamServer() {
  stop();
}

void FakeUpstreamServer::route(const std::string& method, const std::string& path,
                               http::Handler handler) {
  router_.add(method, path, [this, handler = std::move(handler)](const http::Request& req) {
    {
      std::unique_lock<std::mutex> lock(mutex_);
      ++counts_[req.path];
      int64_t slow = slow_ms_.load();
      if (slow > 0) {
        stopping_cv_.wait_for(lock, std::chrono::milliseconds(slow), [&] { return stopping_; });
      }
      if (stopping_) return jsonReply(503, {{"message", "shutting down"}});
    }
    if (down_) return jsonReply(503, {{"message", "Service Unavailable"}});
    return handler(req);
  });
}

void FakeUpstreamServer::start() {
  http::ServerOptions o;
  o.host = "127.0.0.1";
  o.port = 0;
  o.threads = 1;
  o.workers = 4;
  o.access_log = false;
  o.keepalive_timeout_ms = 30000;
  server_ = http::Server::create(o, router_);
  server_->start();
}

void FakeUpstreamServer::stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  stopping_cv_.notify_all();
  if (server_) {
    server_->stop(2000);
    server_.reset();
  }
}

uint16_t FakeUpstreamServer::port() const {
  return server_ ? server_->port() : 0;
}

std::string FakeUpstreamServer::baseUrl() const {
  return "http://127.0.0.1:" + std::to_string(port());
}

int FakeUpstreamServer::requests(const std::string& path) const {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = counts_.find(path);
  return it == counts_.end() ? 0 : it->second;
}

void FakeUpstreamServer::resetCounts() {
  std::lock_guard<std::mutex> lock(mutex_);
  counts_.clear();
}

http::Response FakeUpstreamServer::jsonReply(int status, const nlohmann::json& body) {
  auto r = http::Response::json(status, body.dump());
  r.header("Cache-Control", "no-store");
  return r;
}

std::map<std::string, std::string> FakeUpstreamServer::form(const http::Request& req) {
  std::map<std::string, std::string> out;
  parseUrlEncoded(req.body, out);
  return out;
}

std::optional<std::pair<std::string, std::string>> FakeUpstreamServer::basicAuth(
    const http::Request& req) {
  auto h = req.header("authorization");
  if (!h || h->rfind("Basic ", 0) != 0) return std::nullopt;
  auto decoded = base64Decode(h->substr(6));
  if (!decoded) return std::nullopt;
  auto colon = decoded->find(':');
  if (colon == std::string::npos) return std::nullopt;
  auto id = urlDecode(decoded->substr(0, colon));
  auto secret = urlDecode(decoded->substr(colon + 1));
  if (!id || !secret) return std::nullopt;
  return std::make_pair(*id, *secret);
}

std::string FakeUpstreamServer::bearer(const http::Request& req) {
  auto h = req.header("authorization");
  if (!h) return {};
  for (const char* scheme : {"Bearer ", "bearer ", "token "}) {
    if (h->rfind(scheme, 0) == 0) return h->substr(std::string(scheme).size());
  }
  return {};
}

bool FakeUpstreamServer::pkceMatches(const std::string& challenge, const std::string& verifier) {
  return !verifier.empty() && constantTimeEquals(base64urlEncode(sha256(verifier)), challenge);
}

}  // namespace broker::testing
