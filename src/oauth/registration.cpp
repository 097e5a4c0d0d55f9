// Dynamic Client Registration (RFC 7591 §2, §3.1-3.2.2), with the redirect URI rules of OAuth 2.1
// §2.3.1 and RFC 8252 §7 (https, http on loopback, private-use schemes of native apps).

#include <nlohmann/json.hpp>

#include "broker/core/crypto.h"
#include "broker/core/log.h"
#include "broker/oauth/client_rules.h"
#include "broker/oauth/uri.h"
#include "internal.h"
#include "request_bodies.h"

namespace broker::oauth {
namespace {

using nlohmann::json;

OAuthError badMetadata(const std::string& d) {
  return {OAuthCode::kInvalidClientMetadata, d};
}

Result<std::vector<std::string>, OAuthError> stringList(const json& body, const char* key,
                                                        std::vector<std::string> fallback) {
  if (!body.contains(key)) return fallback;
  const auto& v = body[key];
  if (!v.is_array()) return badMetadata(std::string(key) + " must be an array of strings");
  std::vector<std::string> out;
  for (const auto& e : v) {
    if (!e.is_string()) return badMetadata(std::string(key) + " must be an array of strings");
    out.push_back(e.get<std::string>());
  }
  return out;
}

}  // namespace

const std::vector<std::string>& defaultGrantTypes() {
  static const std::vector<std::string> grants = {"authorization_code", "refresh_token"};
  return grants;
}

Result<void, OAuthError> checkClientRegistration(const ClientRegistration& registration) {
  const auto& redirects = registration.redirect_uris;
  if (redirects.empty()) {
    return OAuthError{OAuthCode::kInvalidRedirectUri, "redirect_uris is required"};
  }
  if (redirects.size() > 20) {
    return OAuthError{OAuthCode::kInvalidRedirectUri, "at most 20 redirect_uris"};
  }
  for (const auto& uri : redirects) {
    auto check = checkRedirectUri(uri);
    if (check != RedirectCheck::kOk || uri.size() > 2000) {
      return OAuthError{OAuthCode::kInvalidRedirectUri,
                        "redirect_uri rejected: " + std::string(describe(check))};
    }
  }
  const std::string& method = registration.token_endpoint_auth_method;
  if (method != "none" && method != "client_secret_basic" && method != "client_secret_post") {
    return badMetadata("unsupported token_endpoint_auth_method '" + method + "'");
  }
  for (const auto& g : registration.grant_types) {
    if (g != "authorization_code" && g != "refresh_token") {
      return badMetadata("unsupported grant_type '" + g + "'");
    }
  }
  return {};
}

Result<RegistrationRequest, OAuthError> parseRegistrationRequest(std::string_view text) {
  auto body = json::parse(text.begin(), text.end(), nullptr, false);
  if (body.is_discarded() || !body.is_object()) {
    return badMetadata("the request body must be a JSON object");
  }
  RegistrationRequest out;
  auto redirects = stringList(body, "redirect_uris", {});
  if (!redirects.ok()) return redirects.error();
  out.redirect_uris = std::move(*redirects);
  out.token_endpoint_auth_method = "client_secret_basic";  // RFC 7591 §2 default
  if (body.contains("token_endpoint_auth_method")) {
    if (!body["token_endpoint_auth_method"].is_string()) {
      return badMetadata("token_endpoint_auth_method must be a string");
    }
    out.token_endpoint_auth_method = body["token_endpoint_auth_method"].get<std::string>();
  }

  auto grants = stringList(body, "grant_types", defaultGrantTypes());
  if (!grants.ok()) return grants.error();
  out.grant_types = std::move(*grants);
  auto rules =
      checkClientRegistration({out.redirect_uris, out.token_endpoint_auth_method, out.grant_types});
  if (!rules.ok()) return rules.error();
  auto response_types = stringList(body, "response_types", {"code"});
  if (!response_types.ok()) return response_types.error();
  out.response_types = std::move(*response_types);
  for (const auto& r : out.response_types) {
    if (r != "code") return badMetadata("unsupported response_type '" + r + "'");
  }
  out.application_type = "web";
  if (body.contains("application_type")) {
    if (!body["application_type"].is_string()) {
      return badMetadata("application_type must be a string");
    }
    out.application_type = body["application_type"].get<std::string>();
    if (out.application_type != "web" && out.application_type != "native") {
      return badMetadata("application_type must be 'web' or 'native'");
    }
  }
  for (const char* key : {"client_name", "client_uri", "logo_uri", "scope", "software_id",
                          "software_version", "tos_uri", "policy_uri"}) {
    if (body.contains(key) &&
        (!body[key].is_string() || body[key].get<std::string>().size() > 2000)) {
      return badMetadata(std::string(key) + " must be a string");
    }
  }
  out.scope = body.value("scope", "");
  out.client_name = body.value("client_name", "");

  out.echo = json::object();
  for (const char* key : {"client_name", "client_uri", "logo_uri", "scope", "software_id",
                          "software_version", "tos_uri", "policy_uri", "contacts"}) {
    if (body.contains(key)) out.echo[key] = body[key];
  }
  out.echo["redirect_uris"] = out.redirect_uris;
  out.echo["token_endpoint_auth_method"] = out.token_endpoint_auth_method;
  out.echo["grant_types"] = out.grant_types;
  out.echo["response_types"] = out.response_types;
  out.echo["application_type"] = out.application_type;
  return out;
}

http::Response AuthorizationServer::registerClient(const http::Request& req) {
  auto& d = impl_->deps;
  auto parsed = parseRegistrationRequest(req.body);
  if (!parsed.ok()) return errorResponse(parsed.error());
  const RegistrationRequest& r = parsed.value();
  if (!r.scope.empty()) {
    auto policy = d.policy->current();
    for (const auto& s : splitScopes(r.scope)) {
      if (!policy->findScope(s)) return errorResponse(badMetadata("unknown scope '" + s + "'"));
    }
  }

  const int64_t now = d.clock->now();
  store::ClientRecord rec;
  rec.client_id = d.random->token(18);
  rec.token_endpoint_auth_method = r.token_endpoint_auth_method;
  rec.redirect_uris = r.redirect_uris;
  rec.grant_types = r.grant_types;
  rec.client_name = r.client_name;
  rec.created_at = now;
  rec.last_used_at = now;
  rec.metadata_json = r.echo.dump();

  const std::string& method = r.token_endpoint_auth_method;
  std::string secret;
  if (method != "none") {
    secret = d.random->token(32);
    rec.secret_hash = sha256Hex(secret);
  }
  auto created = d.store->createClient(rec);
  if (!created.ok()) {
    log::write(
        created.error().code == ErrorCode::kUnavailable ? log::Level::kWarn : log::Level::kError,
        "register_failed", {{"error", created.error().message}});
    return errorResponse(storeFailure(created.error()));
  }
  log::info("client_registered",
            {{"client_id", rec.client_id}, {"method", method}, {"app_type", r.application_type}});
  store::AuditEvent event;
  event.at = now;
  event.event = "client_registered";
  event.actor = "registration";  // POST /register is open: nobody is signed in
  event.client_id = rec.client_id;
  event.detail = json{{"client_name", rec.client_name},
                      {"redirect_uris", rec.redirect_uris},
                      {"token_endpoint_auth_method", method},
                      {"remote_ip", req.remote_ip}}
                     .dump();
  impl_->audit(std::move(event));

  json out = r.echo;
  out["client_id"] = rec.client_id;
  out["client_id_issued_at"] = now;
  if (!secret.empty()) {
    out["client_secret"] = secret;
    out["client_secret_expires_at"] = 0;
  }
  auto resp = jsonResponse(201, out.dump());
  resp.header("Cache-Control", "no-store");
  return resp;
}

}  // namespace broker::oauth
