// Forward authentication for reverse proxies (nginx `auth_request`, Traefik `forwardAuth`, Envoy
// `ext_authz` over HTTP) and protected-resource metadata (RFC 9728).
//
// /forward-auth answers for the request the proxy is about to pass on. Which request that is comes
// from exactly one header contract, the one of the proxy named by `forward_auth.proxy`:
//   nginx    GET /forward-auth from `auth_request`, with X-Original-URL and X-Original-Method as
//            config/nginx/mcp-locations.conf sets them (proxy_set_header: a client value of either
//            never arrives).
//   traefik  GET /forward-auth from `forwardAuth`, with X-Forwarded-Method, -Proto, -Host and -Uri,
//            which Traefik sets itself unless `trustForwardHeader` is on.
//   envoy    the ext_authz HTTP service: Envoy sends the original method, the original path after
//            the service's `path_prefix` (set it to /forward-auth), and Host (the original
//            :authority), plus Authorization (envoy source/extensions/filters/common/ext_authz/
//            ext_authz_http_impl.cc, toRequestMatchers and check(); the HttpService message in
//            api/envoy/extensions/filters/http/ext_authz/v3/ext_authz.proto). The scheme comes from
//            X-Forwarded-Proto, which Envoy's connection manager sanitises, when it is in
//            `allowed_headers`; https otherwise. The path is judged percent-decoded (this server
//            decodes request targets), so Envoy must route on the same: normalize_path and
//            path_with_escaped_slashes_action: REJECT_REQUEST.
// A proxy that passes client headers on (nginx's subrequest copies them all; so does Traefik
// without `authRequestHeaders`) lets a client add the other contracts' headers. They are never
// read for the decision; when one of them disagrees with the contract's own, the request is
// refused 400 invalid_request (a request that describes two different requests is malformed, and
// it never reaches the MCP server: nginx turns any status but 2xx/401/403 into 500).
//
// The answers:
//   200  the bearer token is valid for the MCP server at that URL; X-Auth-* identity headers
//   400  the contract's headers are missing, or another proxy's headers contradict them
//   401  no token, or an invalid one (RFC 6750 §3.1), with WWW-Authenticate naming the server's
//        protected-resource metadata (RFC 9728 §5.1) so an MCP client can start the OAuth flow
//   403  a valid token without the server's scope (error="insufficient_scope"), or a URL that is
//        no MCP server of the policy
// The required scope is the policy server's scope, never a request header: any header the broker
// sees may have come from the client.
// A CORS preflight (the contract's method is OPTIONS) is answered 200: browsers never send
// credentials on it, so it must reach the MCP server, which answers the CORS questions itself.
// Only the method the proxy itself supplies counts; another contract's method header is the
// client's.
//
// The decision runs on the reactor thread: keys, policy and the revocation list are in memory and
// RS256 verification costs tens of microseconds (once per token: verified tokens are cached), so
// there is no database round-trip and no hand-off to a worker. A revocation is seen within the
// revocation list's reload interval (at once when made on this instance).

#include <nlohmann/json.hpp>
#include <string_view>

#include "broker/core/log.h"
#include "broker/oauth/uri.h"
#include "broker/token/access_token.h"
#include "http/strings.h"
#include "mcp_auth/verifier.h"
#include "resource_server.h"
#include "verified_tokens.h"

namespace broker::oauth {
namespace {

using nlohmann::json;

constexpr char kWellKnown[] = "/.well-known/oauth-protected-resource";
constexpr int64_t kForwardAuthLeeway = 5;

// Header values from upstream identities could carry CR/LF; a proxy would refuse (or worse, split)
// such a header, so control characters are dropped.
std::string headerSafe(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    const auto u = static_cast<unsigned char>(c);
    if (u >= 0x20 && u != 0x7f) out += c;
  }
  return out;
}

std::string stripQuery(std::string url) {
  const size_t q = url.find_first_of("?#");
  if (q != std::string::npos) url.resize(q);
  return url;
}

using config::ForwardAuthProxy;

// Header names as the request's map holds them, built once: looking a name up by a literal longer
// than the small-string buffer would allocate on every request.
const std::string kXOriginalUrl = "x-original-url";
const std::string kXOriginalMethod = "x-original-method";
const std::string kXForwardedMethod = "x-forwarded-method";
const std::string kXForwardedProto = "x-forwarded-proto";
const std::string kXForwardedHost = "x-forwarded-host";
const std::string kXForwardedUri = "x-forwarded-uri";
const std::string kHost = "host";
const std::string kAuthorization = "authorization";

std::string_view headerView(const http::Request& req, const std::string& name) {
  auto it = req.headers.find(name);
  return it == req.headers.end() ? std::string_view() : std::string_view(it->second);
}

// A comma-separated chain names the proxy the client talked to first.
std::string_view firstOfChain(std::string_view v) {
  return http::trimOws(v.substr(0, v.find(',')));
}

// What one proxy's headers say about the request it is about to pass on; an empty part is one the
// headers do not name. Views into the request, so reading costs no allocation.
struct Described {
  std::string_view scheme;
  std::string_view authority;
  std::string_view path;   // from '/', without query
  std::string_view query;  // after '?'
  std::string_view method;
  // The header each part came from, for the refusal's reason.
  const char* url_header = "";
  const char* method_header = "";
  bool present = false;    // at least one of the contract's headers was sent
  bool malformed = false;  // a URL header that is no absolute URL
};

void splitTarget(std::string_view target, Described& d) {
  target = target.substr(0, target.find('#'));
  const size_t q = target.find('?');
  d.path = target.substr(0, q);
  d.query = q == std::string_view::npos ? std::string_view() : target.substr(q + 1);
}

// nginx `auth_request`: X-Original-URL ($mcp_origin$request_uri) and X-Original-Method.
Described nginxHeaders(const http::Request& req) {
  Described d;
  d.url_header = "X-Original-URL";
  d.method_header = "X-Original-Method";
  const std::string_view url = headerView(req, kXOriginalUrl);
  d.method = headerView(req, kXOriginalMethod);
  d.present = !url.empty() || !d.method.empty();
  if (url.empty()) return d;
  const size_t sep = url.find("://");
  if (sep == std::string_view::npos || sep == 0) {
    d.malformed = true;
    return d;
  }
  d.scheme = url.substr(0, sep);
  const std::string_view rest = url.substr(sep + 3);
  const size_t end = rest.find_first_of("/?#");
  d.authority = rest.substr(0, end);
  if (d.authority.empty()) d.malformed = true;
  if (end != std::string_view::npos) splitTarget(rest.substr(end), d);
  return d;
}

// Traefik `forwardAuth`: X-Forwarded-Method, -Proto, -Host, -Uri.
Described traefikHeaders(const http::Request& req) {
  Described d;
  d.url_header = "X-Forwarded-Proto/-Host/-Uri";
  d.method_header = "X-Forwarded-Method";
  d.method = headerView(req, kXForwardedMethod);
  d.scheme = firstOfChain(headerView(req, kXForwardedProto));
  d.authority = firstOfChain(headerView(req, kXForwardedHost));
  splitTarget(headerView(req, kXForwardedUri), d);
  d.present = !d.method.empty() || !d.scheme.empty() || !d.authority.empty() || !d.path.empty() ||
              !d.query.empty();
  return d;
}

// Envoy ext_authz HTTP service: the request itself, its path after the route's prefix.
Described envoyRequest(const http::Request& req, std::string_view route) {
  Described d;
  d.url_header = "Host and path";
  d.method_header = "method";
  d.method = req.method;
  d.scheme = firstOfChain(headerView(req, kXForwardedProto));
  d.authority = headerView(req, kHost);
  std::string_view path = req.path;
  if (path.compare(0, route.size(), route) == 0) path.remove_prefix(route.size());
  d.path = path;
  d.query = req.raw_query;
  d.present = true;
  return d;
}

// Parts both name must be the same; a part only one names is no contradiction.
bool partAgrees(std::string_view ours, std::string_view theirs, bool ignore_case) {
  if (ours.empty() || theirs.empty()) return true;
  return ignore_case ? http::equalsIgnoreCase(ours, theirs) : ours == theirs;
}

std::string_view pathOrRoot(std::string_view path) {
  return path.empty() ? std::string_view("/") : path;
}

// Why `other` describes a different request than `ours`, or empty when it does not.
std::string contradiction(const Described& ours, const Described& other) {
  if (!other.present) return {};
  if (other.malformed) return std::string(other.url_header) + " is no absolute URL";
  const bool names_target = !other.path.empty() || !other.query.empty();
  const bool url_agrees = partAgrees(ours.scheme, other.scheme, true) &&
                          partAgrees(ours.authority, other.authority, true) &&
                          (!names_target || (pathOrRoot(ours.path) == pathOrRoot(other.path) &&
                                             ours.query == other.query));
  if (!url_agrees) return std::string(other.url_header) + " disagrees with " + ours.url_header;
  if (!partAgrees(ours.method, other.method, false)) {
    return std::string(other.method_header) + " disagrees with " + ours.method_header;
  }
  return {};
}

// The contract's own description, and a refusal when it is missing or another contradicts it.
struct OriginalRequest {
  Described described;
  std::string refusal;  // non-empty: answer 400 with this reason
};

OriginalRequest originalRequest(const http::Request& req, ForwardAuthProxy proxy,
                                std::string_view route) {
  OriginalRequest out;
  const Described nginx = nginxHeaders(req);
  const Described traefik = traefikHeaders(req);
  const char* missing = "";
  switch (proxy) {
    case ForwardAuthProxy::kNginx:
      out.described = nginx;
      missing = "send X-Original-URL (forward_auth.proxy is nginx)";
      out.refusal = contradiction(nginx, traefik);
      break;
    case ForwardAuthProxy::kTraefik:
      out.described = traefik;
      missing = "send X-Forwarded-Host (forward_auth.proxy is traefik)";
      out.refusal = contradiction(traefik, nginx);
      break;
    case ForwardAuthProxy::kEnvoy:
      out.described = envoyRequest(req, route);
      missing = "send Host (forward_auth.proxy is envoy)";
      out.refusal = contradiction(out.described, nginx);
      if (out.refusal.empty()) out.refusal = contradiction(out.described, traefik);
      break;
  }
  if (out.described.malformed) {
    out.refusal = std::string(out.described.url_header) + " is no absolute URL";
  } else if (out.described.authority.empty()) {
    out.refusal = missing;
  }
  return out;
}

// scheme://authority/path of the described request (the query plays no part in the decision).
std::string urlOf(const Described& d) {
  const std::string_view scheme = d.scheme.empty() ? std::string_view("https") : d.scheme;
  std::string url;
  url.reserve(scheme.size() + 3 + d.authority.size() + d.path.size() + 1);
  url.append(scheme).append("://").append(d.authority);
  if (d.path.empty() || d.path.front() != '/') url += '/';
  url.append(d.path);
  return url;
}

// True when the space-separated `granted` scopes satisfy `required`, without splitting them into
// strings.
bool grants(std::string_view granted, std::string_view required) {
  while (!granted.empty()) {
    const size_t start = granted.find_first_not_of(" \t\r\n");
    if (start == std::string_view::npos) break;
    granted.remove_prefix(start);
    const size_t end = granted.find_first_of(" \t\r\n");
    if (mcp_auth::scopeSatisfies(granted.substr(0, end), required)) return true;
    granted.remove_prefix(end == std::string_view::npos ? granted.size() : end);
  }
  return false;
}

// A proxy routes on the normalised path but sends the URI as the client wrote it, so
// /mcp/../admin would reach the admin location while looking like /mcp here. Paths with dot
// segments or encoded dots, slashes or backslashes are therefore no server's.
bool ambiguousPath(std::string_view url) {
  const size_t scheme = url.find("://");
  const size_t start = url.find('/', scheme == std::string_view::npos ? 0 : scheme + 3);
  if (start == std::string_view::npos) return false;
  const std::string_view path = url.substr(start);
  if (path.find('\\') != std::string_view::npos) return true;
  for (size_t i = 0; i + 2 < path.size(); ++i) {
    if (path[i] != '%') continue;
    const char a = path[i + 1], b = static_cast<char>(path[i + 2] | 0x20);
    if ((a == '2' && (b == 'e' || b == 'f')) || (a == '5' && b == 'c')) return true;
  }
  size_t pos = 0;
  while (pos < path.size()) {
    const size_t next = path.find('/', pos + 1);
    const std::string_view segment = path.substr(
        pos + 1, next == std::string_view::npos ? std::string_view::npos : next - pos - 1);
    if (segment == "." || segment == "..") return true;
    if (next == std::string_view::npos) break;
    pos = next;
  }
  return false;
}

// The policy server whose resource is the URL or a path prefix of it (segment-wise), preferring
// the longest: https://h/mcp matches https://h/mcp, https://h/mcp/ and https://h/mcp/messages.
const policy::ServerInfo* serverForUrl(const policy::Policy& policy, const std::string& url) {
  const std::string without_query = stripQuery(url);
  if (ambiguousPath(without_query)) return nullptr;
  auto canonical = canonicalResource(without_query);
  if (!canonical) return nullptr;
  std::string candidate = *canonical;
  const size_t origin_end = candidate.find('/', candidate.find("://") + 3);
  while (true) {
    while (candidate.size() > 1 && candidate.back() == '/') candidate.pop_back();
    if (const auto* s = policy.findResource(candidate)) return s;
    if (origin_end == std::string::npos || candidate.size() <= origin_end) return nullptr;
    candidate.resize(candidate.rfind('/'));
  }
}

// RFC 9728 §3.1: the metadata of https://h/p is at
// https://h/.well-known/oauth-protected-resource/p.
std::string metadataUrlFor(const std::string& resource) {
  const size_t scheme_end = resource.find("://");
  const size_t path_start = resource.find('/', scheme_end + 3);
  if (path_start == std::string::npos) return resource + kWellKnown;
  return resource.substr(0, path_start) + kWellKnown + resource.substr(path_start);
}

struct ResourceRoutes {
  AuthorizationServer::Impl& impl;
  std::string forward_auth_path;  // the route, which Envoy's path_prefix puts before the path

  http::Response challenge(int status, const policy::ServerInfo& server, const std::string& error,
                           const std::string& description) const {
    mcp_auth::Challenge c;
    c.resource_metadata = metadataUrlFor(server.resources.front());
    c.scope = server.scope;
    c.error = error;
    c.error_description = description;
    auto resp = http::Response::json(
        status, error.empty()
                    ? std::string(R"({"error":"unauthorized"})")
                    : json({{"error", error}, {"error_description", description}}).dump());
    resp.header("WWW-Authenticate", mcp_auth::buildWwwAuthenticate(c));
    return resp;
  }

  http::Response forwardAuth(const http::Request& req) const {
    const auto& d = impl.deps;
    const auto original = originalRequest(req, d.config->forward_auth.proxy, forward_auth_path);
    if (!original.refusal.empty()) {
      log::warn("forward_auth_refused", {{"reason", original.refusal}});
      return http::Response::json(
          400,
          json({{"error", "invalid_request"}, {"error_description", original.refusal}}).dump());
    }
    if (original.described.method == "OPTIONS") return http::Response::text(200, "");
    const std::string url = urlOf(original.described);
    auto policy = d.policy->current();
    const auto* server = serverForUrl(*policy, url);
    if (!server) {
      // The proxy protects a URL the policy does not know: no token could be right for it.
      log::warn("forward_auth_unknown_resource", {{"url", stripQuery(url)}});
      return http::Response::json(
          403, R"({"error":"access_denied","error_description":"no MCP server at this URL"})");
    }
    const std::string_view authorization = headerView(req, kAuthorization);
    if (authorization.empty()) return challenge(401, *server, "", "");
    auto bearer = mcp_auth::bearerToken(authorization);
    if (!bearer) return challenge(401, *server, "invalid_token", "not a bearer token");

    const int64_t now = d.clock->now();
    auto verified = impl.verifyAccessToken(*bearer, now, kForwardAuthLeeway);
    if (!verified.ok()) {
      return challenge(401, *server, "invalid_token",
                       std::string("token ") + token::toString(verified.error()));
    }
    const auto& c = (*verified)->claims;
    // Revocations are known from the in-memory list (reloaded every second, at once for this
    // instance's own). While the store is unreachable the last list loaded still answers, for
    // tokens.revocation_max_staleness; past that the broker cannot know whether the token was
    // revoked elsewhere and refuses it (fails closed) with a 503 the client may retry.
    if (d.revocations) {
      switch (d.revocations->check(c.jti, c.family_id)) {
        case store::RevocationList::Answer::kRevoked:
          return challenge(401, *server, "invalid_token", "token revoked");
        case store::RevocationList::Answer::kUnknown: {
          auto resp = http::Response::json(
              503, json({{"error", "temporarily_unavailable"},
                         {"error_description", "revocation state unknown: storage unavailable"}})
                       .dump());
          resp.header("Retry-After", std::to_string(kStoreRetryAfterSeconds));
          return resp;
        }
        case store::RevocationList::Answer::kNotRevoked:
          break;
      }
    }
    // The audience names this server's resource (RFC 8707; the MCP authorization spec: a server
    // accepts only tokens issued for it as audience), by the same rule as the mcp_token_verifier
    // library. The mcp:<domain>:<server> identifier that a token requested without `resource`
    // carries names no resource, so it is not enough: such a token passes no MCP server.
    bool audience_ok = false;
    for (const auto& r : server->resources) {
      audience_ok =
          audience_ok || mcp_auth::checkResourceAudience(c.aud, r) == token::JwtStatus::kOk;
    }
    if (!audience_ok) {
      return challenge(401, *server, "invalid_token", "token is for another resource");
    }
    if (!grants(c.scope, server->scope)) {
      return challenge(403, *server, "insufficient_scope", "token lacks the server's scope");
    }
    auto resp = http::Response::text(200, "");
    // Empty values are left out; the proxy config overwrites these names on the way upstream,
    // so a client cannot smuggle its own.
    auto put = [&resp](const char* name, const std::string& value) {
      std::string safe = headerSafe(value);
      if (!safe.empty()) resp.header(name, std::move(safe));
    };
    put("X-Auth-Subject", c.sub);
    put("X-Auth-User", c.preferred_username);
    put("X-Auth-Email", c.email);
    put("X-Auth-Scopes", c.scope);
    put("X-Auth-Client-Id", c.client_id);
    resp.header("Cache-Control", "no-store");
    return resp;
  }

  // RFC 9728 §3: /.well-known/oauth-protected-resource[/<path of the resource>] on the MCP
  // server's origin, routed here by the proxy. The origin comes from the configured proxy's
  // contract, as for /forward-auth (another proxy's headers may be the client's own, and the
  // answer is cached publicly); without a proxy in front, from Host.
  http::Response metadata(const http::Request& req) const {
    const auto& d = impl.deps;
    std::string suffix = req.path.substr(req.path.find(kWellKnown) + sizeof(kWellKnown) - 1);
    const auto original = originalRequest(req, d.config->forward_auth.proxy, "");
    const Described& said = original.described;
    if (said.present && !original.refusal.empty()) {
      return http::Response::json(
          400,
          json({{"error", "invalid_request"}, {"error_description", original.refusal}}).dump());
    }
    std::string_view scheme = said.present ? said.scheme : std::string_view();
    std::string_view authority = said.present ? said.authority : headerView(req, kHost);
    if (scheme.empty()) scheme = d.config->issuer.rfind("https://", 0) == 0 ? "https" : "http";
    std::string origin = std::string(scheme) + "://" + std::string(authority);
    auto policy = d.policy->current();
    const policy::ServerInfo* server = nullptr;
    auto canonical = canonicalResource(origin + suffix);
    if (canonical) server = policy->findResource(*canonical);
    if (!server && suffix.empty() && canonical) {
      // The root form names the origin; it identifies a server when exactly one lives there.
      for (const auto* s : policy->servers()) {
        for (const auto& r : s->resources) {
          if (r == *canonical || r.rfind(*canonical + "/", 0) == 0) {
            if (server && server != s) return notFound();
            server = s;
          }
        }
      }
    }
    if (!server || server->resources.empty()) return notFound();
    std::vector<std::string> scopes = {server->scope};
    scopes.insert(scopes.end(), server->sub_scopes.begin(), server->sub_scopes.end());
    std::string resource = server->resources.front();
    for (const auto& r : server->resources) {
      if (canonical && r == *canonical) resource = r;
    }
    json doc = {{"resource", resource},
                {"authorization_servers", {d.config->issuer}},
                {"scopes_supported", scopes},
                {"bearer_methods_supported", {"header"}},
                {"resource_name", server->name.empty() ? server->scope : server->name}};
    auto resp = http::Response::json(200, doc.dump());
    resp.header("Cache-Control", "public, max-age=300");
    return resp;
  }

  static http::Response notFound() {
    return http::Response::json(
        404, R"({"error":"not_found","error_description":"no protected resource here"})");
  }
};

}  // namespace

void registerResourceServerRoutes(http::Router& router, AuthorizationServer::Impl& impl,
                                  const std::string& prefix) {
  using http::RouteFlags;
  auto routes = std::make_shared<ResourceRoutes>(ResourceRoutes{impl, prefix + "/forward-auth"});
  auto fa = [routes](const http::Request& r) { return routes->forwardAuth(r); };
  const auto forward_auth_flags =
      RouteFlags::kInline | RouteFlags::kNoStore | RouteFlags::kRateValidate;
  if (impl.deps.config->forward_auth.proxy == config::ForwardAuthProxy::kEnvoy) {
    // Envoy asks with the original method, at path_prefix + the original path.
    for (const char* method : {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}) {
      router.add(method, routes->forward_auth_path, fa, forward_auth_flags);
      router.add(method, routes->forward_auth_path + "/*", fa, forward_auth_flags);
    }
  } else {
    router.add("GET", routes->forward_auth_path, fa, forward_auth_flags);
    router.add("HEAD", routes->forward_auth_path, fa, forward_auth_flags);
  }
  auto meta = [routes](const http::Request& r) { return routes->metadata(r); };
  const auto discovery = RouteFlags::kInline | RouteFlags::kCors;
  router.add("GET", kWellKnown, meta, discovery);
  router.add("GET", std::string(kWellKnown) + "/*", meta, discovery);
}

}  // namespace broker::oauth
