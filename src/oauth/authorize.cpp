// Authorization endpoint (OAuth 2.1 §4.1.1-4.1.2, RFC 6749 §4.1.2.1 errors), PKCE S256 only
// (RFC 7636), resource indicators (RFC 8707 §2), the issuer in every response (RFC 9207 §2),
// loopback redirect ports (RFC 8252 §7.3), the consent page and the upstream hop.
//
// Flow: GET /authorize validates and shows consent (or skips it when the signed consent cookie
// remembers this client, redirect URI, upstream and scopes) -> POST /authorize/consent starts the
// chosen upstream's login with a random single-use state, bound to this browser by a cookie ->
// /auth/<id>/callback finishes it in the same browser, applies policy and redirects to the client
// with a code.

#include <algorithm>
#include <memory>

#include <nlohmann/json.hpp>

#include "broker/core/crypto.h"
#include "broker/core/encoding.h"
#include "broker/core/log.h"
#include "broker/oauth/uri.h"
#include "client_metadata.h"
#include "internal.h"

namespace broker::oauth {
namespace {

using nlohmann::json;

constexpr int64_t kConsentFormTtl = 900;
constexpr int64_t kConsentMemory = 30 * 86400;
// Remembered approvals per browser; the oldest is forgotten first (and the cookie stays small).
constexpr size_t kMaxRememberedApprovals = 10;

struct AuthzRequest {
  std::string client_id;
  std::string client_name;
  std::string redirect_uri;  // effective redirect
  bool redirect_explicit = false;
  std::string state;
  std::string code_challenge;
  std::vector<std::string> scopes;
  std::string resource;
  std::string idp;
  // Shown on the consent page only (not carried through the form): the client is a metadata
  // document URL all of whose redirect URIs are loopback, so any local program could be it.
  bool loopback_only_metadata_client = false;
  // Not carried either: a remembered approval may skip the consent page only when the client's
  // identity is assured (RFC 8252 §8.6): it authenticates with a secret, or its redirect URI is
  // https, which only the owner of that host can receive. Any local program can claim a public
  // client's loopback port or private-use scheme, and would otherwise get a code without a click.
  bool identity_assured = false;

  json toJson() const {
    return {{"c", client_id}, {"n", client_name},    {"r", redirect_uri}, {"x", redirect_explicit},
            {"s", state},     {"p", code_challenge}, {"o", scopes},       {"t", resource},
            {"i", idp}};
  }
  static std::optional<AuthzRequest> fromJson(const json& j) {
    try {
      AuthzRequest a;
      a.client_id = j.at("c").get<std::string>();
      a.client_name = j.at("n").get<std::string>();
      a.redirect_uri = j.at("r").get<std::string>();
      a.redirect_explicit = j.at("x").get<bool>();
      a.state = j.at("s").get<std::string>();
      a.code_challenge = j.at("p").get<std::string>();
      a.scopes = j.at("o").get<std::vector<std::string>>();
      a.resource = j.at("t").get<std::string>();
      a.idp = j.at("i").get<std::string>();
      return a;
    } catch (const json::exception&) {
      return std::nullopt;
    }
  }
};

std::string withParams(const std::string& base,
                       const std::vector<std::pair<std::string, std::string>>& params) {
  std::string out = base;
  char sep = base.find('?') == std::string::npos ? '?' : '&';
  for (const auto& [k, v] : params) {
    out += sep;
    out += urlEncode(k) + "=" + urlEncode(v);
    sep = '&';
  }
  return out;
}

// An error that goes back to the client's redirect URI (RFC 6749 §4.1.2.1 + RFC 9207 iss).
std::string errorRedirectUrl(const std::string& issuer, const AuthzRequest& a,
                             const OAuthError& e) {
  std::vector<std::pair<std::string, std::string>> params = {{"error", e.name()}};
  if (!e.description.empty()) params.emplace_back("error_description", e.description);
  if (!a.state.empty()) params.emplace_back("state", a.state);
  params.emplace_back("iss", issuer);
  return withParams(a.redirect_uri, params);
}

struct AuthorizeFailure {
  bool redirect = false;  // false: show a page, never redirect (unknown client / bad redirect)
  OAuthError error;
  std::string redirect_uri;  // when redirect: the validated redirect URI
  std::string state;
};

AuthorizeFailure pageFailure(OAuthError e) {
  AuthorizeFailure f;
  f.error = std::move(e);
  return f;
}

std::string redirectHost(const std::string& uri) {
  auto u = parseUri(uri);
  if (!u) return uri;
  if (!u->host.empty()) return u->host;
  return u->scheme + ":";
}

std::string cookieName(bool secure, const char* base) {
  return (secure ? std::string("__Host-") : std::string()) + base;
}

std::string cookieAttributes(bool secure, int64_t max_age) {
  std::string a = "; Path=/; HttpOnly; SameSite=Lax; Max-Age=" + std::to_string(max_age);
  if (secure) a += "; Secure";
  return a;
}

// ---- the browser binding of an upstream login ----
// A login's `state` travels through the upstream and back, so whoever holds the upstream URL can
// finish the login: an attacker who consented for their own client could send that URL to a
// victim and receive the victim's code. Every login is therefore bound to the browser that
// started it: a random value in an HttpOnly cookie (one per browser, so logins in several tabs
// work), whose hash is sealed into the pending login and compared at the callback.
constexpr const char* kBindingCookie = "mcp_login";
constexpr size_t kBindingLength = 43;  // Random::token(32): base64url of 32 bytes

std::optional<std::string> browserBinding(const AuthorizationServer::Impl& impl,
                                          const http::Request& req) {
  auto value = req.cookie(cookieName(impl.secure_cookies, kBindingCookie));
  if (!value || value->size() != kBindingLength || !base64urlDecode(*value)) return std::nullopt;
  return value;
}

// True when `req` comes from the browser whose binding hash the login sealed.
bool sameBrowser(const AuthorizationServer::Impl& impl, const http::Request& req,
                 const std::string& binding_hash) {
  auto binding = browserBinding(impl, req);
  return binding && !binding_hash.empty() && constantTimeEquals(sha256Hex(*binding), binding_hash);
}

http::Response otherBrowserPage() {
  return errorPage(403, "Sign-in started elsewhere",
                   "This sign-in was started in another browser, or this browser's cookies were "
                   "cleared. For your safety it cannot be finished here. Start again from the "
                   "application.");
}

}  // namespace

// ---- remembered consent: a signed cookie listing approvals ----
namespace {

std::string signCookie(const std::string& key, const json& payload) {
  std::string body = base64urlEncode(payload.dump());
  return body + "." + base64urlEncode(hmacSha256(key, body));
}

std::optional<json> verifyCookie(const std::string& key, const std::string& value) {
  auto dot = value.find('.');
  if (dot == std::string::npos) return std::nullopt;
  std::string body = value.substr(0, dot);
  auto mac = base64urlDecode(value.substr(dot + 1));
  if (!mac || !constantTimeEquals(*mac, hmacSha256(key, body))) return std::nullopt;
  auto text = base64urlDecode(body);
  if (!text) return std::nullopt;
  auto j = json::parse(*text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return std::nullopt;
  return j;
}

// One approval the user gave on the consent page: this client, returning to this redirect URI,
// through this upstream, for these scopes. A later request skips the page only when it asks for
// no more than that; anything wider (another redirect URI or port, another upstream, one more
// scope) shows the page again.
struct Approval {
  std::string key;  // hash of client id and redirect URI (keeps the cookie small)
  std::string upstream;
  std::vector<std::string> scopes;
};

std::string approvalKey(const AuthzRequest& a) {
  return base64urlEncode(sha256(a.client_id + '\n' + a.redirect_uri)).substr(0, 22);
}

std::vector<Approval> rememberedApprovals(const AuthorizationServer::Impl& impl,
                                          const http::Request& req, int64_t now) {
  auto raw = req.cookie(cookieName(impl.secure_cookies, "mcp_consent"));
  if (!raw) return {};
  auto j = verifyCookie(impl.cookie_key, *raw);
  if (!j || !j->contains("a") || !j->contains("e") || !(*j)["e"].is_number_integer() ||
      (*j)["e"].get<int64_t>() < now || !(*j)["a"].is_array()) {
    return {};
  }
  std::vector<Approval> out;
  for (const auto& entry : (*j)["a"]) {
    try {
      out.push_back({entry.at("k").get<std::string>(), entry.at("u").get<std::string>(),
                     entry.at("s").get<std::vector<std::string>>()});
    } catch (const json::exception&) {
      // A cookie of an older format (or a broken entry) remembers nothing.
    }
  }
  return out;
}

bool approved(const std::vector<Approval>& approvals, const AuthzRequest& a,
              const std::string& upstream_id) {
  const std::string key = approvalKey(a);
  return std::any_of(approvals.begin(), approvals.end(), [&](const Approval& x) {
    return x.key == key && x.upstream == upstream_id && isSubset(a.scopes, x.scopes);
  });
}

// The cookie after the user approved `a` through `upstream_id`: that approval first (with the
// scopes approved before for the same client, redirect URI and upstream), then the others.
std::string approvalCookie(const AuthorizationServer::Impl& impl, std::vector<Approval> approvals,
                           const AuthzRequest& a, const std::string& upstream_id, int64_t now) {
  Approval fresh{approvalKey(a), upstream_id, a.scopes};
  for (const auto& x : approvals) {
    if (x.key != fresh.key || x.upstream != upstream_id) continue;
    for (const auto& s : x.scopes) {
      if (std::find(fresh.scopes.begin(), fresh.scopes.end(), s) == fresh.scopes.end()) {
        fresh.scopes.push_back(s);
      }
    }
  }
  approvals.erase(std::remove_if(approvals.begin(), approvals.end(),
                                 [&](const Approval& x) {
                                   return x.key == fresh.key && x.upstream == upstream_id;
                                 }),
                  approvals.end());
  approvals.insert(approvals.begin(), std::move(fresh));
  if (approvals.size() > kMaxRememberedApprovals) approvals.resize(kMaxRememberedApprovals);
  json list = json::array();
  for (const auto& x : approvals)
    list.push_back({{"k", x.key}, {"u", x.upstream}, {"s", x.scopes}});
  return cookieName(impl.secure_cookies, "mcp_consent") + "=" +
         signCookie(impl.cookie_key, {{"a", list}, {"e", now + kConsentMemory}}) +
         cookieAttributes(impl.secure_cookies, kConsentMemory);
}

}  // namespace

namespace {

// A metadata-document client is fetched (or taken from the cache) and kept in the store, where
// the token endpoint and the foreign keys of codes and refresh families find it.
// `prefetched`: the document's outcome when it was already resolved off the general workers.
Result<store::ClientRecord, OAuthError> lookupClient(
    const AuthorizationServer::Impl& impl, const std::string& client_id,
    const ClientMetadataResolver::Resolved* prefetched) {
  const auto& d = impl.deps;
  if (!isClientMetadataUrl(client_id, d.config->dev_mode)) {
    auto client = d.store->getClient(client_id);
    if (client.ok()) return std::move(client).value();
    if (client.error().code == ErrorCode::kNotFound) {
      return OAuthError{OAuthCode::kInvalidClient, "this application is not registered"};
    }
    return OAuthError{OAuthCode::kTemporarilyUnavailable, "storage unavailable",
                      client.error().message};
  }
  auto resolved = prefetched ? *prefetched : impl.cimd->resolve(client_id);
  if (!resolved.ok()) return resolved;
  auto stored = d.store->getClient(client_id);
  if (!stored.ok() && stored.error().code == ErrorCode::kNotFound) {
    store::ClientRecord row = *resolved;
    row.created_at = row.last_used_at = d.clock->now();
    auto created = d.store->createClient(row);
    if (!created.ok() && created.error().code != ErrorCode::kAlreadyExists) {
      return OAuthError{OAuthCode::kTemporarilyUnavailable, "storage unavailable",
                        created.error().message};
    }
  } else if (!stored.ok()) {
    return OAuthError{OAuthCode::kTemporarilyUnavailable, "storage unavailable",
                      stored.error().message};
  }
  // The document as fetched now decides redirect URIs and grants, not an older stored copy.
  return resolved;
}

Result<AuthzRequest, AuthorizeFailure> parseAuthorize(
    const AuthorizationServer::Impl& impl, const http::Request& req,
    const ClientMetadataResolver::Resolved* prefetched) {
  const auto& d = impl.deps;
  std::map<std::string, std::string> q;
  std::vector<std::string> dups;
  if (!parseUrlEncoded(req.raw_query, q, &dups)) {
    return pageFailure({OAuthCode::kInvalidRequest, "the query string is malformed"});
  }
  auto param = [&](const char* k) {
    auto it = q.find(k);
    return it == q.end() ? std::string() : it->second;
  };
  AuthzRequest a;
  a.client_id = param("client_id");
  if (a.client_id.empty()) {
    return pageFailure({OAuthCode::kInvalidRequest, "client_id is missing"});
  }
  auto client = lookupClient(impl, a.client_id, prefetched);
  if (!client.ok()) return pageFailure(client.error());
  if (isClientMetadataUrl(a.client_id, d.config->dev_mode)) {
    a.loopback_only_metadata_client = std::all_of(
        client->redirect_uris.begin(), client->redirect_uris.end(), [](const std::string& r) {
          auto u = parseUri(r);
          return u && u->has_authority && isLoopbackHost(u->host);
        });
  }
  a.client_name = client->client_name.empty() ? a.client_id : client->client_name;
  const auto& registered = client->redirect_uris;
  std::string redirect = param("redirect_uri");
  if (redirect.empty()) {
    if (registered.size() != 1) {
      return pageFailure({OAuthCode::kInvalidRequest, "redirect_uri is missing"});
    }
    a.redirect_uri = registered.front();
  } else {
    bool match = false;
    for (const auto& r : registered) match = match || redirectUriMatches(r, redirect);
    if (!match) {
      return pageFailure(
          {OAuthCode::kInvalidRequest, "redirect_uri is not registered for this application"});
    }
    a.redirect_uri = redirect;
    a.redirect_explicit = true;
  }
  const auto redirect_uri = parseUri(a.redirect_uri);
  a.identity_assured =
      client->token_endpoint_auth_method != "none" ||
      (redirect_uri && redirect_uri->scheme == "https" && !isLoopbackHost(redirect_uri->host));
  a.state = param("state");
  // From here on the redirect URI is trusted: errors go back to the client.
  auto fail_redirect = [&](OAuthCode code, std::string desc) {
    return AuthorizeFailure{true, {code, std::move(desc)}, a.redirect_uri, a.state};
  };
  if (!dups.empty()) {
    return fail_redirect(OAuthCode::kInvalidRequest,
                         "parameter '" + dups.front() + "' is repeated");
  }
  if (a.state.size() > 2048) return fail_redirect(OAuthCode::kInvalidRequest, "state is too long");
  std::string response_type = param("response_type");
  if (response_type.empty()) {
    return fail_redirect(OAuthCode::kInvalidRequest, "response_type is missing");
  }
  if (response_type != "code") {
    return fail_redirect(OAuthCode::kUnsupportedResponseType,
                         "only response_type=code is supported");
  }
  auto grants = client->grant_types;
  if (std::find(grants.begin(), grants.end(), "authorization_code") == grants.end()) {
    return fail_redirect(OAuthCode::kUnauthorizedClient,
                         "this client is not registered for the authorization_code grant");
  }
  a.code_challenge = param("code_challenge");
  std::string method = param("code_challenge_method");
  if (a.code_challenge.empty()) {
    return fail_redirect(OAuthCode::kInvalidRequest, "code_challenge is required (PKCE S256)");
  }
  if (method != "S256") {
    return fail_redirect(OAuthCode::kInvalidRequest, "code_challenge_method must be S256");
  }
  if (!validCodeChallenge(a.code_challenge)) {
    return fail_redirect(OAuthCode::kInvalidRequest,
                         "code_challenge is not a valid S256 challenge");
  }

  auto policy = d.policy->current();
  const policy::ServerInfo* resource_server = nullptr;
  std::string resource = param("resource");
  if (!resource.empty()) {
    auto canonical = canonicalResource(resource);
    if (!canonical)
      return fail_redirect(OAuthCode::kInvalidTarget, "resource is not an absolute URI");
    resource_server = policy->findResource(*canonical);
    if (!resource_server) {
      return fail_redirect(OAuthCode::kInvalidTarget, "resource is not served by this broker");
    }
    a.resource = *canonical;
  }
  auto scopes = splitScopes(param("scope"));
  for (const auto& s : scopes) {
    const auto* server = policy->findScope(s);
    if (!server) return fail_redirect(OAuthCode::kInvalidScope, "unknown scope '" + s + "'");
    if (resource_server && server->scope != resource_server->scope) {
      return fail_redirect(OAuthCode::kInvalidScope,
                           "scope '" + s + "' does not belong to the requested resource");
    }
  }
  if (scopes.empty()) {
    scopes = resource_server ? std::vector<std::string>{resource_server->scope}
                             : policy->defaultScopes();
  }
  if (scopes.empty()) {
    return fail_redirect(OAuthCode::kInvalidScope, "no scope requested and no default configured");
  }
  a.scopes = scopes;

  a.idp = param("idp");
  if (!a.idp.empty() && !d.upstreams->find(a.idp)) {
    return fail_redirect(OAuthCode::kInvalidRequest, "unknown identity provider '" + a.idp + "'");
  }
  return a;
}

http::Response failureResponse(const Dependencies& d, const AuthorizeFailure& f) {
  log::info("authorize_error", {{"error", f.error.name()}, {"description", f.error.description}});
  if (f.redirect) {
    AuthzRequest a;
    a.redirect_uri = f.redirect_uri;
    a.state = f.state;
    return http::Response::redirect(errorRedirectUrl(d.config->issuer, a, f.error));
  }
  if (f.error.code == OAuthCode::kTemporarilyUnavailable) {
    auto page = errorPage(503, "Authorization request rejected",
                          f.error.description + " (" + f.error.name() + ")");
    // Longer than a page's usual wait: a full client metadata fetch queue drains by fetches.
    for (auto& [name, value] : page.headers) {
      if (name == "Retry-After") value = "5";
    }
    return page;
  }
  return errorPage(400, "Authorization request rejected", f.error.description);
}

}  // namespace

// Starts the upstream hop: stores the pending login (state hashed, bound to this browser) and
// redirects the browser.
static http::Response beginUpstream(AuthorizationServer::Impl& impl, const http::Request& req,
                                    const AuthzRequest& a, const std::string& upstream_id) {
  const auto& d = impl.deps;
  auto provider = d.upstreams->find(upstream_id);
  if (!provider) {
    return http::Response::redirect(errorRedirectUrl(
        d.config->issuer, a, {OAuthCode::kInvalidRequest, "unknown identity provider"}));
  }
  const int64_t now = d.clock->now();
  std::string state = d.random->token(32);
  upstream::BeginLogin begin{state, d.config->issuer + "/auth/" + upstream_id + "/callback"};
  // Decided per login from the policy in force: it may be reloaded to start (or stop) naming
  // orgs and teams at any time.
  begin.memberships = d.policy->current()->needsMemberships(upstream_id);
  auto redirect = provider->beginLogin(begin);
  if (!redirect.ok()) {
    return http::Response::redirect(errorRedirectUrl(d.config->issuer, a, redirect.error()));
  }
  store::PendingLogin p;
  p.state_hash = sha256Hex(state);
  p.upstream_id = upstream_id;
  p.client_id = a.client_id;
  p.redirect_uri = a.redirect_uri;
  p.client_state = a.state;
  p.code_challenge = a.code_challenge;
  p.scope = joinScopes(a.scopes);
  p.resource = a.resource;
  // The browser keeps its binding across logins (tabs); a new one is drawn only when it has none.
  auto existing = browserBinding(impl, req);
  const std::string binding = existing ? *existing : d.random->token(32);
  json extra = {{"explicit", a.redirect_explicit},
                {"data", redirect->upstream_data},
                {"browser", sha256Hex(binding)}};
  p.upstream_data = d.master->seal(extra.dump(), "pending-login");
  p.created_at = now;
  p.expires_at = now + d.config->tokens.login_ttl;
  auto stored = d.store->createPendingLogin(p);
  if (!stored.ok()) {
    log::error("pending_login_store_failed", {{"error", stored.error().message}});
    return http::Response::redirect(errorRedirectUrl(
        d.config->issuer, a, {OAuthCode::kTemporarilyUnavailable, "storage unavailable"}));
  }
  log::info("upstream_login_started", {{"client_id", a.client_id},
                                       {"upstream", upstream_id},
                                       {"state_hash", p.state_hash.substr(0, 12)}});
  auto resp = http::Response::redirect(redirect->url);
  resp.header("Cache-Control", "no-store");
  resp.header("Set-Cookie", cookieName(impl.secure_cookies, kBindingCookie) + "=" + binding +
                                cookieAttributes(impl.secure_cookies, d.config->tokens.login_ttl));
  return resp;
}

using Upstreams = std::vector<std::shared_ptr<upstream::UpstreamProvider>>;

// The upstreams enabled for this request, default_upstream first: those whose sign-ins may reach
// at least one requested server (a server's `upstreams:` list in the policy excludes the others),
// or every one when the policy excludes them all (the login then ends in the policy's denial).
static Upstreams upstreamsFor(const Dependencies& d, const AuthzRequest& a) {
  auto policy = d.policy->current();
  Upstreams all = d.upstreams->all(), usable;
  for (const auto& p : all) {
    Identity probe;
    probe.upstream_id = p->id();
    probe.upstream_type = p->type();
    for (const auto& scope : a.scopes) {
      const std::string rule = policy->evaluate(probe, scope).rule;
      const std::string excluded = ".upstreams";
      if (rule.size() < excluded.size() ||
          rule.compare(rule.size() - excluded.size(), excluded.size(), excluded) != 0) {
        usable.push_back(p);
        break;
      }
    }
  }
  if (usable.empty()) usable = all;
  std::stable_partition(usable.begin(), usable.end(),
                        [&](const auto& p) { return p->id() == d.config->default_upstream; });
  return usable;
}

// The upstream this request signs in with: the client's `idp=`, or the only one enabled for the
// request. Empty when the user picks on the consent page.
static std::string chooseUpstream(const Dependencies& d, const AuthzRequest& a) {
  if (!a.idp.empty()) return a.idp;
  auto usable = upstreamsFor(d, a);
  if (usable.size() == 1) return usable.front()->id();
  return {};
}

static http::Response authorizeWith(AuthorizationServer::Impl& impl, const http::Request& req,
                                    const ClientMetadataResolver::Resolved* prefetched) {
  const auto& d = impl.deps;
  auto parsed = parseAuthorize(impl, req, prefetched);
  if (!parsed.ok()) return failureResponse(d, parsed.error());
  const AuthzRequest& a = parsed.value();
  const int64_t now = d.clock->now();

  std::string upstream_id = chooseUpstream(d, a);
  if (!upstream_id.empty() && a.identity_assured &&
      approved(rememberedApprovals(impl, req, now), a, upstream_id)) {
    return beginUpstream(impl, req, a, upstream_id);
  }

  // Consent page. The validated request travels sealed in the form, bound to a CSRF cookie.
  std::string csrf = d.random->token(24);
  json sealed_req = {{"a", a.toJson()}, {"csrf", csrf}, {"exp", now + kConsentFormTtl}};
  std::string blob = d.master->seal(sealed_req.dump(), "consent-form");

  auto policy = d.policy->current();
  std::string servers_html;
  for (const auto& s : a.scopes) {
    const auto* server = policy->findScope(s);
    std::string name = server && !server->name.empty() ? server->name : s;
    servers_html +=
        "<li><strong>" + htmlEscape(name) + "</strong> <code>" + htmlEscape(s) + "</code>";
    if (server && !server->description.empty()) {
      servers_html += "<br><span class=\"muted\">" + htmlEscape(server->description) + "</span>";
    }
    servers_html += "</li>";
  }
  // One button when the upstream is settled; otherwise the chooser, one button per upstream.
  Upstreams choices;
  if (!upstream_id.empty()) {
    if (auto p = d.upstreams->find(upstream_id)) choices.push_back(p);
  } else {
    choices = upstreamsFor(d, a);
  }
  // The form's answer redirects to an upstream's login page or, on Deny, to the client.
  std::vector<std::string> form_targets = {"'self'", a.redirect_uri};
  std::string buttons;
  for (const auto& p : choices) {
    // The dev login is on this origin, which 'self' already allows.
    if (p->type() != "dev") form_targets.push_back(p->loginUrl());
    buttons += std::string("<button class=\"") + (buttons.empty() ? "primary" : "choice") +
               "\" type=\"submit\" name=\"upstream\" value=\"" + htmlEscape(p->id()) +
               "\">Continue with " + htmlEscape(p->displayName()) + "</button> ";
  }
  if (choices.size() > 1) buttons = "</p><p class=\"muted\">Sign in with:</p><p>" + buttons;
  std::string loopback_warning;
  if (a.loopback_only_metadata_client) {
    loopback_warning =
        "<p class=\"warning\"><strong>Warning:</strong> this application identifies itself by " +
        htmlEscape(a.client_id) +
        " but only ever returns to this computer (a loopback address). Any program running "
        "here could claim to be it. Continue only if you just started it yourself.</p>";
  }
  std::string body =
      "<h1>Authorize " + htmlEscape(a.client_name) + "</h1><div class=\"box\"><p><strong>" +
      htmlEscape(a.client_name) +
      "</strong> wants to access these MCP servers on your behalf:</p><ul>" + servers_html +
      "</ul><p class=\"muted\">After you sign in you will be sent to <strong>" +
      htmlEscape(redirectHost(a.redirect_uri)) + "</strong>.</p>" + loopback_warning +
      "</div><form method=\"post\" action=\"authorize/consent\">"
      "<input type=\"hidden\" name=\"request\" value=\"" +
      htmlEscape(blob) + "\"><input type=\"hidden\" name=\"csrf\" value=\"" + htmlEscape(csrf) +
      "\"><p>" + buttons +
      "<button type=\"submit\" name=\"action\" value=\"deny\">Deny</button></p></form>";
  // The form posts relative to /authorize so issuers with a path work unchanged.
  auto resp = htmlPage(200, "Authorize " + a.client_name, body, form_targets);
  resp.header("Set-Cookie", cookieName(impl.secure_cookies, "mcp_csrf") + "=" + csrf +
                                cookieAttributes(impl.secure_cookies, kConsentFormTtl));
  return resp;
}

// GET /authorize. A client_id that names a metadata document not in the cache is fetched on the
// resolver's own threads and the request is answered from there, so a slow document server ties
// up at most those threads, never a general worker; when they and their queue are full the
// request is refused at once.
void AuthorizationServer::authorizeAsync(const http::Request& req, http::Respond respond) {
  auto& impl = *impl_;
  std::map<std::string, std::string> q;
  std::string client_id;
  if (parseUrlEncoded(req.raw_query, q, nullptr)) {
    if (auto it = q.find("client_id"); it != q.end()) client_id = it->second;
  }
  if (!isClientMetadataUrl(client_id, impl.deps.config->dev_mode)) {
    return respond(authorizeWith(impl, req, nullptr));
  }
  if (auto known = impl.cimd->cached(client_id)) {
    return respond(authorizeWith(impl, req, &*known));
  }
  const bool queued = impl.cimd->resolveAsync(
      client_id, [&impl, req, respond](ClientMetadataResolver::Resolved resolved) {
        respond(authorizeWith(impl, req, &resolved));
      });
  if (!queued) {
    log::warn("client_metadata_fetch_refused", {{"client_id", client_id}});
    respond(failureResponse(
        impl.deps, pageFailure({OAuthCode::kTemporarilyUnavailable,
                                "too many client metadata documents are being fetched; try "
                                "again in a few seconds"})));
  }
}

http::Response AuthorizationServer::authorize(const http::Request& req) {
  return authorizeWith(*impl_, req, nullptr);
}

http::Response AuthorizationServer::consent(const http::Request& req) {
  auto& impl = *impl_;
  const auto& d = impl.deps;
  const int64_t now = d.clock->now();
  auto form = req.form();
  auto blob = d.master->open(form["request"], "consent-form");
  if (!blob.ok()) {
    return errorPage(400, "Request expired",
                     "This consent form is invalid. Start again from the application.");
  }
  auto j = json::parse(blob.value(), nullptr, false);
  std::optional<AuthzRequest> a;
  if (!j.is_discarded() && j.is_object() && j.contains("a")) a = AuthzRequest::fromJson(j["a"]);
  if (!a || !j.contains("exp") || !j["exp"].is_number_integer() || !j.contains("csrf") ||
      !j["csrf"].is_string()) {
    return errorPage(400, "Request expired",
                     "This consent form is invalid. Start again from the application.");
  }
  if (j["exp"].get<int64_t>() < now) {
    return errorPage(400, "Request expired",
                     "This consent form has expired. Start again from the application.");
  }
  const std::string csrf = j["csrf"].get<std::string>();
  auto cookie = req.cookie(cookieName(impl.secure_cookies, "mcp_csrf"));
  if (!cookie || !constantTimeEquals(*cookie, csrf) || !constantTimeEquals(form["csrf"], csrf)) {
    log::security("consent_csrf_failed", {{"client_id", a->client_id}});
    return errorPage(
        403, "Request rejected",
        "This form was not submitted from the consent page. Start again from the application.");
  }
  if (form["action"] == "deny") {
    log::info("consent_denied", {{"client_id", a->client_id}});
    return http::Response::redirect(errorRedirectUrl(
        d.config->issuer, *a, {OAuthCode::kAccessDenied, "the user denied the request"}));
  }
  // The client's idp= wins over the button; a form without a button gets the default upstream.
  std::string upstream_id = chooseUpstream(d, *a);
  if (upstream_id.empty()) upstream_id = form["upstream"];
  if (upstream_id.empty()) upstream_id = d.config->default_upstream;
  auto resp = beginUpstream(impl, req, *a, upstream_id);
  if (d.upstreams->find(upstream_id)) {
    resp.header("Set-Cookie",
                approvalCookie(impl, rememberedApprovals(impl, req, now), *a, upstream_id, now));
  }
  resp.header("Set-Cookie", cookieName(impl.secure_cookies, "mcp_csrf") + "=deleted" +
                                cookieAttributes(impl.secure_cookies, 0));
  log::info("consent_granted", {{"client_id", a->client_id}, {"upstream", upstream_id}});
  return resp;
}

namespace {

// A pending login as the callback (and the dev login page) needs it.
struct PendingRequest {
  AuthzRequest request;
  std::string upstream_data;  // the provider's private per-login data
  std::string browser_hash;   // sha256 of the browser binding; empty when unreadable
};

http::Response pendingLoginErrorPage(const Error& e) {
  if (e.code == ErrorCode::kNotFound) {
    return errorPage(
        400, "Sign-in link expired",
        "This sign-in has expired or was already used. Start again from the application.");
  }
  return errorPage(503, "Temporarily unavailable",
                   "The broker cannot reach its storage. Try again shortly.");
}

PendingRequest openPending(const Dependencies& d, const store::PendingLogin& p) {
  PendingRequest out;
  AuthzRequest& a = out.request;
  a.client_id = p.client_id;
  a.redirect_uri = p.redirect_uri;
  a.state = p.client_state;
  a.code_challenge = p.code_challenge;
  a.scopes = splitScopes(p.scope);
  a.resource = p.resource;
  auto extra_plain = d.master->open(p.upstream_data, "pending-login");
  if (extra_plain.ok()) {
    auto extra = json::parse(extra_plain.value(), nullptr, false);
    if (!extra.is_discarded() && extra.is_object()) {
      a.redirect_explicit = extra.value("explicit", false);
      out.upstream_data = extra.value("data", "");
      out.browser_hash = extra.value("browser", "");
    }
  }
  return out;
}

}  // namespace

http::Response AuthorizationServer::upstreamCallback(const http::Request& req) {
  auto& impl = *impl_;
  const auto& d = impl.deps;
  const int64_t now = d.clock->now();
  std::map<std::string, std::string> params;
  parseUrlEncoded(req.raw_query, params);
  if (req.method == "POST") {
    for (auto& [k, v] : req.form()) params[k] = v;
  }
  const std::string upstream_id =
      req.path_params.count("upstream") ? req.path_params.at("upstream") : "";
  auto state = params["state"];
  if (state.empty()) {
    return errorPage(
        400, "Sign-in failed",
        "The identity provider did not return a state. Start again from the application.");
  }
  auto pending = d.store->consumePendingLogin(sha256Hex(state), now);
  if (!pending.ok()) {
    if (pending.error().code == ErrorCode::kNotFound) {
      log::security("login_state_unknown", {{"upstream", upstream_id}});
    }
    return pendingLoginErrorPage(pending.error());
  }
  const PendingRequest pr = openPending(d, pending.value());
  const AuthzRequest& a = pr.request;
  const std::string& upstream_data = pr.upstream_data;
  if (!sameBrowser(impl, req, pr.browser_hash)) {
    log::security("login_other_browser", {{"upstream", upstream_id}, {"client_id", a.client_id}});
    return otherBrowserPage();
  }
  auto fail_to_client = [&](int status, const std::string& title, const OAuthError& e) {
    log::info("login_failed", {{"client_id", a.client_id},
                               {"upstream", upstream_id},
                               {"error", e.name()},
                               {"debug", e.debug}});
    return errorPage(
        status, title, e.description,
        PageLink{"Return to the application", errorRedirectUrl(d.config->issuer, a, e)});
  };
  if (pending->upstream_id != upstream_id) {
    log::security("login_wrong_upstream",
                  {{"expected", pending->upstream_id}, {"got", upstream_id}});
    return fail_to_client(
        400, "Sign-in failed",
        {OAuthCode::kAccessDenied, "the sign-in came back from the wrong identity provider"});
  }
  auto provider = d.upstreams->find(upstream_id);
  if (!provider) {
    return fail_to_client(400, "Sign-in failed",
                          {OAuthCode::kServerError, "identity provider not configured"});
  }
  upstream::Callback cb{params, d.config->issuer + "/auth/" + upstream_id + "/callback",
                        upstream_data};
  auto* meter = impl.metrics();
  auto login = [&] {
    metrics::Timer timer(meter ? &meter->upstream_duration.with({upstream_id, "login"}) : nullptr);
    return provider->completeLogin(cb);
  }();
  if (!login.ok()) {
    if (meter) {
      // A refusal is the upstream's answer; anything else is the upstream failing.
      if (login.error().code != OAuthCode::kAccessDenied) {
        meter->upstream_errors.with({upstream_id, "login"}).inc();
      }
      meter->logins.with({upstream_id, "failed"}).inc();
    }
    // The provider refused (403), is down (503), or answered what the broker cannot accept: an
    // ID token that fails its checks, an error about the broker's own request, garbage (502,
    // a bad answer from the server the broker depends on).
    int status = 400;
    switch (login.error().code) {
      case OAuthCode::kAccessDenied:
        status = 403;
        break;
      case OAuthCode::kTemporarilyUnavailable:
        status = 503;
        break;
      case OAuthCode::kServerError:
        status = 502;
        break;
      default:
        break;
    }
    return fail_to_client(status, "Sign-in failed", login.error());
  }
  const Identity& who = login->identity;

  auto policy = d.policy->current();
  std::vector<std::string> granted, denied;
  std::string denied_reason, denied_rule;
  for (const auto& s : a.scopes) {
    auto decision = policy->evaluate(who, s);
    if (decision.allowed) {
      granted.push_back(s);
      if (meter) meter->signins.with({upstream_id, s}).inc();
    } else {
      denied.push_back(s);
      if (meter) meter->denials.with({upstream_id, s, "signin"}).inc();
      if (denied_reason.empty()) {
        denied_reason = decision.reason;
        denied_rule = decision.rule;
      }
    }
    log::info("policy_decision", {{"sub", who.qualifiedSubject()},
                                  {"scope", s},
                                  {"allowed", decision.allowed},
                                  {"rule", decision.rule}});
  }
  auto audit = [&](const char* event, const std::vector<std::string>& servers) {
    store::AuditEvent e;
    e.at = now;
    e.event = event;
    e.actor = "user:" + who.qualifiedSubject();
    e.client_id = a.client_id;
    e.subject = who.qualifiedSubject();
    e.upstream = upstream_id;
    e.servers = joinScopes(servers);
    e.rule = denied_rule;
    json detail = json::object();
    if (!denied.empty()) {
      detail["denied"] = joinScopes(denied);
      detail["reason"] = denied_reason;
    }
    e.detail = detail.dump();
    impl.audit(std::move(e));
  };
  if (granted.empty()) {
    log::security(
        "login_denied",
        {{"sub", who.qualifiedSubject()}, {"client_id", a.client_id}, {"reason", denied_reason}});
    if (meter) meter->logins.with({upstream_id, "denied"}).inc();
    audit("login_denied", denied);
    return fail_to_client(403, "Access denied",
                          {OAuthCode::kAccessDenied, "Signed in as " + who.username +
                                                         ", but the access policy does not allow "
                                                         "you to use the requested MCP servers. " +
                                                         denied_reason});
  }

  std::string code = d.random->token(32);
  store::AuthCode c;
  c.code_hash = sha256Hex(code);
  c.client_id = a.client_id;
  c.redirect_uri = a.redirect_explicit ? a.redirect_uri : "";
  c.code_challenge = a.code_challenge;
  c.subject = who.qualifiedSubject();
  c.identity_json = who.toJson();
  c.scope = joinScopes(granted);
  c.resource = a.resource;
  c.family_id = d.random->token(16);
  c.upstream_data =
      login->session_data.empty() ? "" : d.master->seal(login->session_data, "upstream-session");
  c.created_at = now;
  c.expires_at = now + d.config->tokens.code_ttl;
  auto stored = d.store->createAuthCode(c);
  if (!stored.ok()) {
    log::error("code_store_failed", {{"error", stored.error().message}});
    return fail_to_client(503, "Temporarily unavailable",
                          {OAuthCode::kTemporarilyUnavailable, "storage unavailable"});
  }
  log::security("login_succeeded", {{"sub", c.subject},
                                    {"client_id", a.client_id},
                                    {"upstream", upstream_id},
                                    {"scope", c.scope}});
  if (meter) meter->logins.with({upstream_id, "succeeded"}).inc();
  audit("login_succeeded", granted);
  std::vector<std::pair<std::string, std::string>> out = {{"code", code}};
  if (!a.state.empty()) out.emplace_back("state", a.state);
  out.emplace_back("iss", d.config->issuer);
  auto resp = http::Response::redirect(withParams(a.redirect_uri, out));
  resp.header("Cache-Control", "no-store");
  return resp;
}

http::Response AuthorizationServer::devLoginPage(const http::Request& req) {
  auto id = req.path_params.find("upstream");
  auto provider = id == req.path_params.end() ? nullptr : impl_->deps.upstreams->find(id->second);
  if (!provider || provider->type() != "dev") {
    return errorPage(404, "Not found", "There is no login page here.");
  }
  std::map<std::string, std::string> q;
  parseUrlEncoded(req.raw_query, q);
  // The page is shown only for a live login of this browser, and its form may lead back to the
  // broker's callback and from there to the client.
  const auto& d = impl_->deps;
  auto pending = d.store->getPendingLogin(sha256Hex(q["state"]), d.clock->now());
  if (!pending.ok()) return pendingLoginErrorPage(pending.error());
  const PendingRequest pr = openPending(d, pending.value());
  if (pending->upstream_id != id->second || !sameBrowser(*impl_, req, pr.browser_hash)) {
    log::security("login_other_browser", {{"upstream", id->second}});
    return otherBrowserPage();
  }
  std::string body =
      "<h1>Development sign-in</h1><p class=\"warn\">Development mode: no password is checked. "
      "Never enable this in production.</p><form method=\"post\" action=\"callback\">"
      "<input type=\"hidden\" name=\"state\" value=\"" +
      htmlEscape(q["state"]) +
      "\"><p><label>Username<br><input type=\"text\" name=\"username\" autofocus required "
      "pattern=\"[A-Za-z0-9._@\\-]{1,64}\"></label></p><p><label>Groups (optional, comma "
      "separated)<br><input type=\"text\" name=\"groups\"></label></p><p><label>Email "
      "(optional)<br><input type=\"text\" name=\"email\"></label></p>"
      "<p><button class=\"primary\" type=\"submit\">Sign in</button></p></form>";
  return htmlPage(200, "Development sign-in", body, {"'self'", pr.request.redirect_uri});
}

}  // namespace broker::oauth
