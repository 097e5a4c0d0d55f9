#pragma once
// HTTP server on Pistache. Routes are matched here; handlers flagged kInline run on the reactor
// thread, every other handler runs on a bounded worker pool and answers from there (the
// ResponseWriter moves to the worker). An async handler (addAsync) starts on a worker and may
// answer later from a thread of its own, so work that waits on other servers need not hold a
// worker. HTTP/1.1 connections stay open unless the client asks to
// close. Every response gets security headers and one JSON log line.

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "broker/http/http.h"

namespace broker {
class Random;
}
namespace broker::metrics {
struct BrokerMetrics;
}

namespace broker::http {

// Token buckets per client address: `burst` requests at once, refilled at `per_second`. A group
// with burst 0 (or per_second 0) is not limited.
struct RateLimit {
  int64_t burst = 0;
  double per_second = 0;
};
enum class RateGroup : size_t { kRegister, kBrowser, kToken, kInspect, kValidate };
constexpr size_t kRateGroupCount = 5;
// The keys under `rate_limits:` in the config file, in RateGroup order.
constexpr const char* kRateGroupNames[kRateGroupCount] = {"register", "browser", "token", "revoke",
                                                          "validate"};
using RateLimits = std::array<RateLimit, kRateGroupCount>;  // indexed by RateGroup
// Generous enough that no person or well-behaved client meets them; a flood does.
constexpr RateLimits kDefaultRateLimits = {{
    {20, 0.1},     // register: 20 at once, then one per 10 s
    {60, 5},       // browser sign-in
    {60, 10},      // token
    {60, 10},      // revoke, introspect
    {2000, 1000},  // validate, forward-auth: a proxy asks once per MCP request
}};

struct ServerOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 8080;  // 0 = pick a free port
  int threads = 2;       // reactor threads (I/O and kInline handlers)
  int workers = 4;
  int queue_limit = 1024;               // queued worker jobs beyond this get 503
  size_t max_request_size = 64 * 1024;  // request line + headers + body
  // Connections past this many open ones get a 503 with Retry-After and are closed.
  int max_connections = 1024;
  int64_t header_timeout_ms = 5000;
  int64_t body_timeout_ms = 10000;
  // Idle keep-alive connections close after this. It is also the budget of a worker handler: a
  // connection whose answer has not been written by then is closed.
  int64_t keepalive_timeout_ms = 60000;
  // Behind a reverse proxy: the access log's remote_ip is the last X-Forwarded-For entry (the
  // address the proxy in front saw) instead of the proxy's own. Only for logs; nothing decides
  // on it.
  bool trust_proxy = false;
  // Addresses and networks ("10.0.0.0/8", "::1") of reverse proxies whose X-Forwarded-For is
  // believed: a request from one of them is from the right-most X-Forwarded-For address that is
  // not itself one of them. Rate limits and the access log use that address.
  std::vector<std::string> trusted_proxies;
  RateLimits rate_limits = kDefaultRateLimits;
  bool access_log = true;
  // Paths under these prefixes get the public CORS treatment on 404 too.
  std::vector<std::string> cors_prefixes = {"/.well-known/"};
  Random* random = nullptr;  // request ids, drawn on several threads; nullptr = Random::system()
  // Requests by route and status class, durations, rate-limit refusals, queue depth; nullptr =
  // not measured.
  metrics::BrokerMetrics* metrics = nullptr;
};

class Router {
 public:
  // `path` segments starting with ':' bind a path parameter; a trailing "*" matches any rest
  // (bound as "*"). When several routes match, literal segments beat parameters, which beat "*".
  void add(const std::string& method, const std::string& path, Handler handler,
           RouteFlags flags = RouteFlags::kNone);
  // `fast` runs on the reactor thread first and answers from memory when it can; when it returns
  // nothing (the answer needs the database, a signature check or other slow work), `handler`
  // runs on a worker as for any route.
  using FastHandler = std::function<std::optional<Response>(const Request&)>;
  void add(const std::string& method, const std::string& path, Handler handler, FastHandler fast,
           RouteFlags flags);
  // `handler` starts on a worker and may answer later from another thread (see Respond).
  void addAsync(const std::string& method, const std::string& path, AsyncHandler handler,
                RouteFlags flags = RouteFlags::kNone);

  struct Match {
    const Handler* handler = nullptr;
    const FastHandler* fast = nullptr;
    const AsyncHandler* async = nullptr;  // set instead of `handler` for addAsync routes
    RouteFlags flags = RouteFlags::kNone;
    std::map<std::string, std::string> params;
    bool found() const { return handler != nullptr || async != nullptr; }
    bool path_known = false;                    // path exists with another method -> 405
    std::vector<std::string> allowed_methods;   // every method routed for this path
    RouteFlags path_flags = RouteFlags::kNone;  // union of the flags of those routes
    int route = -1;                             // index into paths() of the route found
  };
  Match match(const std::string& method, const std::string& path) const;
  // Each route's path as added ("/auth/:upstream/callback"), in the order added.
  std::vector<std::string> paths() const;

 private:
  struct Route {
    std::string method;
    std::vector<std::string> segments;
    Handler handler;
    FastHandler fast;
    AsyncHandler async;
    RouteFlags flags;
    std::string path;
  };
  std::vector<Route> routes_;
};

class Server {
 public:
  static std::unique_ptr<Server> create(const ServerOptions& options, Router router);
  virtual ~Server() = default;
  virtual void start() = 0;  // binds and serves on background threads; throws if it cannot bind
  virtual uint16_t port() const = 0;
  // Stops accepting, waits for in-flight requests (up to `drain_ms`), joins threads.
  virtual void stop(int drain_ms = 10000) = 0;
};

}  // namespace broker::http
