// Token endpoint (OAuth 2.1 §3.2, RFC 6749 §5.1-5.2): form-encoded requests, client
// authentication as registered, dispatch to one grant handler, `Cache-Control: no-store`.

#include <algorithm>

#include <nlohmann/json.hpp>

#include "broker/core/log.h"
#include "http/header_policy.h"
#include "internal.h"

namespace broker::oauth {

namespace {
bool isFormRequest(const http::Request& req) {
  auto ct = req.header("content-type");
  return ct && ct->rfind("application/x-www-form-urlencoded", 0) == 0;
}
}  // namespace

// Parses the form of a token/revoke/introspect request. Repeated parameters are an error.
Result<std::map<std::string, std::string>, OAuthError> parseOAuthForm(const http::Request& req) {
  if (!isFormRequest(req)) {
    return OAuthError{OAuthCode::kInvalidRequest,
                      "the body must be application/x-www-form-urlencoded"};
  }
  std::vector<std::string> dups;
  bool malformed = false;
  auto form = req.form(&dups, &malformed);
  // A pair with a bad %-escape would otherwise be dropped, and the request judged without it: a
  // client_secret that vanished turns into a missing one. Refuse the whole body instead.
  if (malformed) {
    return OAuthError{OAuthCode::kInvalidRequest, "the body has a malformed %-escape"};
  }
  if (!dups.empty()) {
    return OAuthError{OAuthCode::kInvalidRequest, "parameter '" + dups.front() + "' is repeated"};
  }
  return form;
}

http::Response AuthorizationServer::token(const http::Request& req) {
  auto form = parseOAuthForm(req);
  if (!form.ok()) return errorResponse(form.error());
  // Failures are counted per client_id and address: keyed on the id alone, anyone who knows a
  // client's id (a public client's is no secret) could lock out every user of that client.
  const std::string claimed = claimedClientId(req, *form);
  // broker_token_grants_total: the grant type only when it is one the broker knows (it comes
  // from the client), the outcome "issued" or the OAuth error code.
  auto count = [&](const char* outcome) {
    auto* m = impl_->metrics();
    if (!m) return;
    const std::string& type = (*form)["grant_type"];
    const bool known = type == "authorization_code" || type == "refresh_token";
    m->grants.with({known ? type.c_str() : "other", outcome}).inc();
  };
  const std::string failure_key = claimed + '\n' + http::rateKey(req.remote_ip);
  if (auto wait = impl_->client_failures.peek(http::RateGroup::kToken, failure_key)) {
    log::info("client_auth_locked", {{"client_id", claimed}});
    count("client_locked");
    return http::tooManyRequests(
        *wait, false, "too many failed client authentications for this client from this address");
  }
  auto client = authenticateClient(*impl_->deps.store, req, *form);
  if (!client.ok()) {
    count(client.error().name());
    log::info("client_auth_failed", {{"debug", client.error().debug}});
    if (client.error().code == OAuthCode::kInvalidClient) {
      (void)impl_->client_failures.admit(http::RateGroup::kToken, failure_key);
    }
    return clientAuthErrorResponse(req, client.error());
  }
  const auto& grant_type = (*form)["grant_type"];
  Result<IssuedTokens, OAuthError> result = OAuthError{};
  GrantRequest grant{client->client, *form};
  if (grant_type == "authorization_code") {
    result = authorizationCodeGrant(*impl_, grant);
  } else if (grant_type == "refresh_token") {
    result = refreshTokenGrant(*impl_, grant);
  } else if (grant_type.empty()) {
    result = OAuthError{OAuthCode::kInvalidRequest, "grant_type is missing"};
  } else {
    result = OAuthError{OAuthCode::kUnsupportedGrantType, "unsupported grant_type"};
  }
  if (!result.ok()) {
    const auto& e = result.error();
    count(e.name());
    if (e.code == OAuthCode::kServerError) {
      log::error("token_error", {{"error", e.name()}, {"debug", e.debug}});
    } else if (e.code == OAuthCode::kTemporarilyUnavailable) {
      log::warn("token_error", {{"error", e.name()}, {"debug", e.debug}});
    } else {
      log::info("token_error", {{"error", e.name()},
                                {"description", e.description},
                                {"client_id", client->client.client_id}});
    }
    return errorResponse(e);
  }
  // last_used_at only feeds idle-client expiry (days), so it is written at most once per
  // interval instead of on every token request: one write fewer on the hot path.
  const int64_t now = impl_->deps.clock->now();
  const int64_t touch_every =
      std::clamp<int64_t>(impl_->deps.config->client_idle_ttl / 16, 1, 3600);
  if (now - client->client.last_used_at >= touch_every) {
    (void)impl_->deps.store->touchClient(client->client.client_id, now);
  }
  count("issued");
  nlohmann::json out = {{"access_token", result->access_token},
                        {"token_type", "Bearer"},
                        {"expires_in", result->expires_in},
                        {"scope", result->scope}};
  if (!result->refresh_token.empty()) out["refresh_token"] = result->refresh_token;
  auto resp = jsonResponse(200, out.dump());
  resp.header("Cache-Control", "no-store");
  resp.header("Pragma", "no-cache");
  return resp;
}

}  // namespace broker::oauth
