#include <algorithm>
#include <stdexcept>
#include <string_view>

#include "broker/http/server.h"

namespace broker::http {
namespace {

// "/a/b/" -> {"a", "b", ""}: a trailing slash is a distinct (empty) segment, so "/token/" is not
// "/token".
std::vector<std::string> splitPath(std::string_view path) {
  std::vector<std::string> out;
  if (!path.empty() && path.front() == '/') path.remove_prefix(1);
  while (true) {
    size_t slash = path.find('/');
    out.emplace_back(path.substr(0, slash));
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash + 1);
  }
  return out;
}

bool isParam(const std::string& seg) {
  return seg.size() > 1 && seg.front() == ':';
}

// Per-segment rank used to pick the most specific route: literal > parameter > wildcard.
enum Rank { kWildcard = 0, kParam = 1, kLiteral = 2 };

// Returns false when `segments` (a route) does not match `parts` (a request path).
bool matchRoute(const std::vector<std::string>& segments, const std::vector<std::string>& parts,
                std::map<std::string, std::string>& params, std::vector<int>& ranks) {
  params.clear();
  ranks.clear();
  for (size_t i = 0; i < segments.size(); ++i) {
    const std::string& seg = segments[i];
    if (seg == "*" && i + 1 == segments.size()) {
      if (parts.size() <= i) return false;
      std::string rest;
      for (size_t j = i; j < parts.size(); ++j) {
        if (j > i) rest += '/';
        rest += parts[j];
      }
      params["*"] = std::move(rest);
      ranks.push_back(kWildcard);
      return true;
    }
    if (i >= parts.size()) return false;
    if (isParam(seg)) {
      if (parts[i].empty()) return false;
      params[seg.substr(1)] = parts[i];
      ranks.push_back(kParam);
    } else if (seg == parts[i]) {
      ranks.push_back(kLiteral);
    } else {
      return false;
    }
  }
  return segments.size() == parts.size();
}

}  // namespace

void Router::add(const std::string& method, const std::string& path, Handler handler,
                 RouteFlags flags) {
  add(method, path, std::move(handler), nullptr, flags);
}

void Router::add(const std::string& method, const std::string& path, Handler handler,
                 FastHandler fast, RouteFlags flags) {
  if (path.empty() || path.front() != '/') {
    throw std::invalid_argument("route path must start with '/': " + path);
  }
  std::vector<std::string> segments = splitPath(path);
  for (size_t i = 0; i + 1 < segments.size(); ++i) {
    if (segments[i] == "*") throw std::invalid_argument("'*' must be the last segment: " + path);
  }
  std::string upper = method;
  std::transform(upper.begin(), upper.end(), upper.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  routes_.push_back(Route{std::move(upper), std::move(segments), std::move(handler),
                          std::move(fast), nullptr, flags, path});
}

void Router::addAsync(const std::string& method, const std::string& path, AsyncHandler handler,
                      RouteFlags flags) {
  add(method, path, nullptr, nullptr, flags);
  routes_.back().async = std::move(handler);
}

std::vector<std::string> Router::paths() const {
  std::vector<std::string> out;
  out.reserve(routes_.size());
  for (const Route& r : routes_) out.push_back(r.path);
  return out;
}

Router::Match Router::match(const std::string& method, const std::string& path) const {
  Match result;
  std::vector<std::string> parts = splitPath(path);
  std::vector<int> best_ranks;
  std::map<std::string, std::string> params;
  std::vector<int> ranks;
  for (const Route& route : routes_) {
    if (!matchRoute(route.segments, parts, params, ranks)) continue;
    result.path_flags = result.path_flags | route.flags;
    if (std::find(result.allowed_methods.begin(), result.allowed_methods.end(), route.method) ==
        result.allowed_methods.end()) {
      result.allowed_methods.push_back(route.method);
    }
    if (route.method != method) continue;
    // Strictly better only, so among equals the route added first wins.
    if (!result.found() || ranks > best_ranks) {
      result.handler = route.async ? nullptr : &route.handler;
      result.async = route.async ? &route.async : nullptr;
      result.fast = route.fast ? &route.fast : nullptr;
      result.flags = route.flags;
      result.params = params;
      result.route = static_cast<int>(&route - routes_.data());
      best_ranks = ranks;
    }
  }
  result.path_known = !result.found() && !result.allowed_methods.empty();
  return result;
}

}  // namespace broker::http
