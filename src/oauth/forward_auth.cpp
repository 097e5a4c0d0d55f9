// Forward authentication for reverse proxies (nginx `auth_request`, Traefik `forwardAuth`, Envoy
// `ext_authz` over HTTP) and protected-resource metadata (RFC 9728).
//
// GET /forward-auth answers for the request the proxy is about to pass on, described by
// X-Original-URL (nginx) or X-Forwarded-Proto/-Host/-Uri (Traefik):
//   200  the bearer token is valid for the MCP server at that URL; X-Auth-* identity headers
//   401  no token, or an invalid one (RFC 6750 §3.1), with WWW-Authenticate naming the server's
//        protected-resource metadata (RFC 9728 §5.1) so an MCP client can start the OAuth flow
//   403  a valid token without the required scope (error="insufficient_scope"), or a URL that is
//        no MCP server of the policy
// A CORS preflight (X-Original-Method: OPTIONS) is answered 200: browsers never send credentials
// on it, so it must reach the MCP server, which answers the CORS questions itself.
//
// The decision runs on the reactor thread: keys, policy and the revocation list are in memory and
// RS256 verification costs tens of microseconds (once per token: verified tokens are cached), so
// there is no database round-trip and no hand-off to a worker. A revocation is seen within the
// revocation list's reload interval (at once when made on this instance).

#include <nlohmann/json.hpp>

#include "broker/core/log.h"
#include "broker/oauth/uri.h"
#include "broker/token/access_token.h"
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

// The URL the client asked the proxy for, or empty when the proxy sent none.
std::string originalUrl(const http::Request& req) {
  if (auto url = req.header("x-original-url"); url && !url->empty()) return *url;
  auto host = req.header("x-forwarded-host");
  if (!host || host->empty()) return {};
  std::string proto = req.header("x-forwarded-proto").value_or("https");
  // A comma-separated chain names the first proxy first (the one the client talked to).
  proto = proto.substr(0, proto.find(','));
  std::string h = host->substr(0, host->find(','));
  std::string uri = req.header("x-forwarded-uri").value_or("/");
  if (uri.empty() || uri.front() != '/') uri = "/" + uri;
  return proto + "://" + h + uri;
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
    if (req.header("x-original-method").value_or(req.header("x-forwarded-method").value_or("")) ==
        "OPTIONS") {
      return http::Response::text(200, "");
    }
    const std::string url = originalUrl(req);
    if (url.empty()) {
      return http::Response::json(
          400, R"({"error":"invalid_request","error_description":"send X-Original-URL or )"
               R"(X-Forwarded-Proto/Host/Uri"})");
    }
    auto policy = d.policy->current();
    const auto* server = serverForUrl(*policy, url);
    if (!server) {
      // The proxy protects a URL the policy does not know: no token could be right for it.
      log::warn("forward_auth_unknown_resource", {{"url", stripQuery(url)}});
      return http::Response::json(
          403, R"({"error":"access_denied","error_description":"no MCP server at this URL"})");
    }
    auto authorization = req.header("authorization").value_or("");
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
    // instance's own). When the list is too old to trust (the database is unreachable), the
    // token is judged on its signature and lifetime alone, as a resource server would offline.
    if (d.revocations &&
        d.revocations->check(c.jti, c.family_id) == store::RevocationList::Answer::kRevoked) {
      return challenge(401, *server, "invalid_token", "token revoked");
    }
    // The audience names this server: its resource (RFC 8707, trailing slash tolerated) or, for
    // a token requested without a resource, its mcp:<domain>:<server> identifier.
    bool audience_ok = mcp_auth::checkAudience(c.aud, server->scope) == token::JwtStatus::kOk;
    for (const auto& r : server->resources) {
      audience_ok =
          audience_ok || mcp_auth::checkResourceAudience(c.aud, r) == token::JwtStatus::kOk;
    }
    if (!audience_ok) {
      return challenge(401, *server, "invalid_token", "token is for another resource");
    }
    std::vector<std::string> required = {server->scope};
    if (auto extra = req.header("x-required-scope"); extra && !extra->empty()) {
      required = mcp_auth::splitScopes(*extra);
    }
    if (mcp_auth::missingScope(mcp_auth::splitScopes(c.scope), required)) {
      auto resp = challenge(403, *server, "insufficient_scope", "token lacks the required scope");
      return resp;
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
  // server's origin, routed here by the proxy (the origin comes from X-Forwarded-* or Host).
  http::Response metadata(const http::Request& req) const {
    const auto& d = impl.deps;
    std::string suffix = req.path.substr(req.path.find(kWellKnown) + sizeof(kWellKnown) - 1);
    std::string host = req.header("x-forwarded-host").value_or(req.header("host").value_or(""));
    host = host.substr(0, host.find(','));
    std::string proto = req.header("x-forwarded-proto").value_or("");
    proto = proto.substr(0, proto.find(','));
    if (proto.empty()) proto = d.config->issuer.rfind("https://", 0) == 0 ? "https" : "http";
    std::string origin = proto + "://" + host;
    // nginx names the origin it serves in X-Original-URL (see config/nginx/mcp-locations.conf).
    if (auto original = req.header("x-original-url"); original && !original->empty()) {
      const size_t scheme = original->find("://");
      const size_t path = scheme == std::string::npos ? scheme : original->find('/', scheme + 3);
      origin = original->substr(0, path);
    }
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
  auto routes = std::make_shared<ResourceRoutes>(ResourceRoutes{impl});
  auto fa = [routes](const http::Request& r) { return routes->forwardAuth(r); };
  router.add("GET", prefix + "/forward-auth", fa, RouteFlags::kInline | RouteFlags::kNoStore);
  router.add("HEAD", prefix + "/forward-auth", fa, RouteFlags::kInline | RouteFlags::kNoStore);
  auto meta = [routes](const http::Request& r) { return routes->metadata(r); };
  const auto discovery = RouteFlags::kInline | RouteFlags::kCors;
  router.add("GET", kWellKnown, meta, discovery);
  router.add("GET", std::string(kWellKnown) + "/*", meta, discovery);
}

}  // namespace broker::oauth
