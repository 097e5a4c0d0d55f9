#pragma once
// Plain request/response values. Endpoint code works on these, never on Pistache types.

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace broker::http {

struct Request {
  std::string method;  // upper case
  std::string path;    // decoded path, no query
  std::string raw_query;
  std::map<std::string, std::string> query;        // first value wins
  std::vector<std::string> query_duplicates;       // names that appeared more than once
  std::map<std::string, std::string> headers;      // lower-case names
  std::map<std::string, std::string> path_params;  // from ":name" route segments
  std::string body;
  std::string remote_ip;
  std::string request_id;

  std::optional<std::string> header(const std::string& lower_name) const;
  // application/x-www-form-urlencoded body, parsed on demand (the caller checks Content-Type).
  // Duplicate keys are reported in `duplicates` (OAuth forbids repeated parameters); pairs with a
  // bad %-escape are dropped and set `*malformed`.
  std::map<std::string, std::string> form(std::vector<std::string>* duplicates = nullptr,
                                          bool* malformed = nullptr) const;
  std::optional<std::string> cookie(const std::string& name) const;
};

struct Response {
  int status = 200;
  // Repeated names are sent as repeated header lines (Set-Cookie). Content-Length, Connection and
  // Transfer-Encoding belong to the server and are ignored here.
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;

  Response& header(std::string name, std::string value) {
    headers.emplace_back(std::move(name), std::move(value));
    return *this;
  }
  bool hasHeader(const std::string& name) const;  // case-insensitive
  static Response json(int status, std::string body);
  static Response html(int status, std::string body);
  static Response redirect(const std::string& location, int status = 302);
  static Response text(int status, std::string body);
};

using Handler = std::function<Response(const Request&)>;

// Gives a request its answer, once, from any thread. A handler that waits on someone else's
// server hands the waiting to a pool of its own and answers from there, so the worker that called
// it is free at once. A `Respond` dropped without an answer answers 503 temporarily_unavailable.
using Respond = std::function<void(Response)>;
using AsyncHandler = std::function<void(const Request&, Respond)>;

enum class RouteFlags : unsigned {
  kNone = 0,
  kInline = 1,   // cheap and non-blocking: answer on the reactor thread (metadata, JWKS)
  kCors = 2,     // public CORS (`*`, no credentials) including OPTIONS preflight
  kNoStore = 4,  // Cache-Control: no-store
  // The rate-limit group (ServerOptions::rate_limits) a route counts against; at most one.
  kRateRegister = 8,    // POST /register
  kRateBrowser = 16,    // /authorize, /authorize/consent, /auth/<id>/...: answered in HTML
  kRateToken = 32,      // POST /token
  kRateInspect = 64,    // POST /revoke, /introspect
  kRateValidate = 128,  // /validate, /forward-auth: every proxied MCP request
};
inline RouteFlags operator|(RouteFlags a, RouteFlags b) {
  return static_cast<RouteFlags>(static_cast<unsigned>(a) | static_cast<unsigned>(b));
}
inline bool has(RouteFlags set, RouteFlags f) {
  return (static_cast<unsigned>(set) & static_cast<unsigned>(f)) != 0;
}

}  // namespace broker::http
