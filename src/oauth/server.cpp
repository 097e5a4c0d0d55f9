// Wiring of the authorization server: discovery (RFC 8414 §3, OpenID Connect Discovery §4), JWKS
// (RFC 7517), health, and the route table.

#include <algorithm>
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "broker/core/log.h"
#include "broker/oauth/uri.h"
#include "broker/store/store_monitor.h"
#include "client_metadata.h"
#include "internal.h"
#include "resource_server.h"

namespace broker::oauth {

using nlohmann::json;

AuthorizationServer::AuthorizationServer(Dependencies deps)
    : impl_(std::make_unique<Impl>(std::move(deps))) {
  auto& d = impl_->deps;
  impl_->cookie_key = d.master->deriveKey("consent-cookie");
  impl_->secure_cookies = d.config->issuer.rfind("https://", 0) == 0;
  ClientMetadataOptions cimd;
  // Development and tests serve metadata documents from loopback over plain HTTP.
  cimd.allow_loopback = d.config->dev_mode;
  // ...and over HTTPS with a private CA (the interop tests' MCP SDK client insists on https).
  if (const char* ca = std::getenv("BROKER_DEV_CA_FILE"); ca && d.config->dev_mode) {
    cimd.ca_file = ca;
  }
  impl_->cimd = std::make_shared<ClientMetadataResolver>(cimd, *d.clock);
}

AuthorizationServer::~AuthorizationServer() = default;

namespace {

// The algorithms of the keys in the JWKS, newest key first: both while keys.algorithm switches,
// so a verifier configured from the metadata accepts every token it can meet.
std::vector<std::string> signingAlgs(const std::string& jwks) {
  std::vector<std::string> algs;
  auto doc = json::parse(jwks, nullptr, false);
  if (doc.is_object() && doc["keys"].is_array()) {
    for (const auto& k : doc["keys"]) {
      const std::string alg = k.is_object() ? k.value("alg", "") : "";
      if (!alg.empty() && std::find(algs.begin(), algs.end(), alg) == algs.end()) {
        algs.push_back(alg);
      }
    }
  }
  return algs;
}

std::string buildMetadata(const Dependencies& d, const policy::Policy& policy,
                          const std::string& jwks) {
  const std::string& iss = d.config->issuer;
  std::vector<std::string> scopes;
  for (const auto* s : policy.servers()) scopes.push_back(s->scope);
  const std::vector<std::string> auth_methods = {"none", "client_secret_basic",
                                                 "client_secret_post"};
  json m = {
      {"issuer", iss},
      {"authorization_endpoint", iss + "/authorize"},
      {"token_endpoint", iss + "/token"},
      {"registration_endpoint", iss + "/register"},
      {"revocation_endpoint", iss + "/revoke"},
      {"introspection_endpoint", iss + "/introspect"},
      {"jwks_uri", iss + "/.well-known/jwks.json"},
      {"scopes_supported", scopes},
      {"response_types_supported", {"code"}},
      {"response_modes_supported", {"query"}},
      {"grant_types_supported", {"authorization_code", "refresh_token"}},
      {"code_challenge_methods_supported", {"S256"}},
      {"token_endpoint_auth_methods_supported", auth_methods},
      {"revocation_endpoint_auth_methods_supported", auth_methods},
      {"introspection_endpoint_auth_methods_supported", auth_methods},
      {"authorization_response_iss_parameter_supported", true},
      {"client_id_metadata_document_supported", true},
      {"subject_types_supported", {"public"}},
      {"access_token_signing_alg_values_supported", signingAlgs(jwks)},
  };
  return m.dump();
}

}  // namespace

http::Response AuthorizationServer::metadata(const http::Request&) const {
  // Built per policy generation: scopes_supported follows the policy file,
  // and the signing algorithms the JWKS document (rebuilt only when keys change).
  static thread_local std::weak_ptr<const policy::Policy> cached_for;
  static thread_local std::weak_ptr<const std::string> cached_jwks;
  static thread_local std::string cached;
  static thread_local const Impl* cached_impl = nullptr;
  auto policy = impl_->deps.policy->current();
  auto jwks = impl_->deps.keys->jwksJson();
  if (cached_impl != impl_.get() || cached_for.lock() != policy || cached_jwks.lock() != jwks) {
    cached = buildMetadata(impl_->deps, *policy, jwks ? *jwks : std::string());
    cached_for = policy;
    cached_jwks = jwks;
    cached_impl = impl_.get();
  }
  auto resp = http::Response::json(200, cached);
  resp.header("Cache-Control", "public, max-age=300");
  return resp;
}

http::Response AuthorizationServer::jwks(const http::Request&) const {
  auto doc = impl_->deps.keys->jwksJson();
  auto resp = http::Response::json(200, doc ? *doc : std::string(R"({"keys":[]})"));
  resp.header("Cache-Control", "public, max-age=300");
  return resp;
}

// 200 while the broker can serve every endpoint; 503 while the store is unreachable or no key
// signs, so a load balancer sends new sign-ins and refreshes to an instance that can serve them.
// The body says which part is down either way.
http::Response AuthorizationServer::health(const http::Request&) {
  auto& d = impl_->deps;
  bool storage_ok = false;
  int64_t storage_since = 0;
  if (d.store_monitor) {
    auto state = d.store_monitor->state();
    storage_ok = state.reachable;
    storage_since = state.since;
  } else {
    storage_ok = d.store->ping().ok();
  }
  auto signer = d.keys->currentSigner();
  std::string policy_error = d.policy->lastError();
  json out = {{"storage", storage_ok ? "ok" : "unavailable"},
              {"storage_backend", d.store->backendName()},
              {"policy", policy_error.empty() ? "loaded" : "stale"},
              {"keys", signer.key ? "ok" : "missing"}};
  if (!storage_ok && storage_since != 0) {
    out["storage_unavailable_for"] = std::max<int64_t>(0, d.clock->now() - storage_since);
  }
  if (!policy_error.empty()) out["policy_error"] = policy_error;
  // Which file this instance enforces, so an operator rolling a change out to a group sees when
  // every instance has the same one.
  auto loaded = d.policy->current();
  out["policy_version"] = loaded->version();
  out["policy_sha256"] = loaded->sha256();
  bool healthy = storage_ok && signer.key != nullptr;
  out["status"] = healthy ? "ok" : "unavailable";
  auto resp = http::Response::json(healthy ? 200 : 503, out.dump());
  resp.header("Cache-Control", "no-store");
  if (!healthy) resp.header("Retry-After", std::to_string(kStoreRetryAfterSeconds));
  return resp;
}

void AuthorizationServer::registerRoutes(http::Router& router) {
  using http::RouteFlags;
  std::string prefix;
  if (auto u = parseUri(impl_->deps.config->issuer)) prefix = u->path;
  while (!prefix.empty() && prefix.back() == '/') prefix.pop_back();

  auto bind = [this](http::Response (AuthorizationServer::*fn)(const http::Request&)) {
    return [this, fn](const http::Request& r) { return (this->*fn)(r); };
  };
  auto meta = [this](const http::Request& r) { return metadata(r); };
  const auto discovery = RouteFlags::kInline | RouteFlags::kCors;
  for (const char* doc :
       {"/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"}) {
    router.add("GET", doc, meta, discovery);
    if (!prefix.empty()) {
      router.add("GET", std::string(doc) + prefix, meta, discovery);  // RFC 8414 §3.1 insertion
      router.add("GET", prefix + doc, meta, discovery);               // OIDC Discovery §4.1
    }
  }
  auto keys = [this](const http::Request& r) { return jwks(r); };
  router.add("GET", "/.well-known/jwks.json", keys, discovery);
  if (!prefix.empty()) router.add("GET", prefix + "/.well-known/jwks.json", keys, discovery);

  const auto api = RouteFlags::kCors | RouteFlags::kNoStore;
  router.add("POST", prefix + "/register", bind(&AuthorizationServer::registerClient),
             api | RouteFlags::kRateRegister);
  router.add("POST", prefix + "/token", bind(&AuthorizationServer::token),
             api | RouteFlags::kRateToken);
  router.add("POST", prefix + "/revoke", bind(&AuthorizationServer::revoke),
             api | RouteFlags::kRateInspect);
  router.add("POST", prefix + "/introspect", bind(&AuthorizationServer::introspect),
             RouteFlags::kNoStore | RouteFlags::kRateInspect);
  // Unauthenticated, so served only where the operator wants it (validate.enabled); 404 else.
  if (impl_->deps.config->validate.enabled) {
    router.add(
        "POST", prefix + "/validate", bind(&AuthorizationServer::validate),
        [this](const http::Request& r) { return validateFromMemory(r); },
        RouteFlags::kNoStore | RouteFlags::kRateValidate);
  }
  const auto browser = RouteFlags::kNoStore | RouteFlags::kRateBrowser;
  router.addAsync(
      "GET", prefix + "/authorize",
      [this](const http::Request& r, http::Respond respond) { authorizeAsync(r, respond); },
      browser);
  router.add("POST", prefix + "/authorize/consent", bind(&AuthorizationServer::consent), browser);
  router.add("GET", prefix + "/auth/:upstream/callback",
             bind(&AuthorizationServer::upstreamCallback), browser);
  router.add("POST", prefix + "/auth/:upstream/callback",
             bind(&AuthorizationServer::upstreamCallback), browser);
  router.add("GET", prefix + "/auth/:upstream/login", bind(&AuthorizationServer::devLoginPage),
             RouteFlags::kInline | browser);
  // From memory on the reactor when the store's state is monitored (see health()).
  router.add("GET", prefix + "/health", bind(&AuthorizationServer::health),
             impl_->deps.store_monitor ? RouteFlags::kNoStore | RouteFlags::kInline
                                       : RouteFlags::kNoStore);
  registerResourceServerRoutes(router, *impl_, prefix);
}

}  // namespace broker::oauth
