// Authorization code grant (OAuth 2.1 §4.1.3, RFC 6749 §4.1.3 and §10.5): single-use codes,
// PKCE S256 verification (RFC 7636 §4.6), redirect_uri check, resource narrowing (RFC 8707 §2.2).
// A replayed code is refused and every token minted from it revoked (RFC 6749 §4.1.2): the
// revocation is keyed by the code's family_id, which every token minted from it carries, so it
// holds for a client without the refresh grant (no family) and for a replay that overtakes the
// first exchange (no family yet; the store then refuses to create it).

#include <algorithm>

#include "broker/core/crypto.h"
#include "broker/core/log.h"
#include "oauth/internal.h"

namespace broker::oauth {

Result<IssuedTokens, OAuthError> authorizationCodeGrant(AuthorizationServer::Impl& impl,
                                                        const GrantRequest& req) {
  const auto& d = impl.deps;
  const int64_t now = d.clock->now();
  auto param = [&](const char* k) {
    auto it = req.form.find(k);
    return it == req.form.end() ? std::string() : it->second;
  };
  if (!clientHasGrant(req.client, "authorization_code")) {
    return OAuthError{OAuthCode::kUnauthorizedClient, "client may not use this grant"};
  }
  const std::string code = param("code");
  const std::string verifier = param("code_verifier");
  if (code.empty()) return OAuthError{OAuthCode::kInvalidRequest, "code is missing"};
  if (verifier.empty()) return OAuthError{OAuthCode::kInvalidRequest, "code_verifier is missing"};
  if (!validCodeVerifier(verifier)) {
    return OAuthError{OAuthCode::kInvalidRequest, "code_verifier is malformed"};
  }

  auto consumed = d.store->consumeAuthCode(sha256Hex(code), now);
  if (!consumed.ok()) {
    if (consumed.error().code == ErrorCode::kNotFound) {
      return OAuthError{OAuthCode::kInvalidGrant, "the authorization code is invalid"};
    }
    return storeFailure(consumed.error());
  }
  const auto& c = consumed->code;
  if (consumed->kind == store::CodeConsumption::Kind::kReplayed) {
    // Past this nothing minted from the code is valid: a family created from it (at the latest
    // when the code expires) lives refresh_ttl, an access token access_ttl.
    const auto& t = d.config->tokens;
    const int64_t until = std::max(now, c.expires_at) + t.refresh_ttl + t.access_ttl;
    auto revoked = d.store->revokeGrant(c.family_id, "code_reuse", now, until);
    impl.revocationsChanged();
    log::security("code_reuse", {{"client_id", c.client_id},
                                 {"sub", c.subject},
                                 {"family", c.family_id},
                                 {"revoked", revoked.ok()}});
    if (auto* m = impl.metrics()) {
      m->code_reuse.inc();
      if (revoked.ok()) m->revocations.with({"grant", "code_reuse"}).inc();
    }
    store::AuditEvent e;
    e.at = now;
    e.event = "code_reuse";
    e.actor = "client:" + req.client.client_id;
    e.client_id = c.client_id;
    e.subject = c.subject;
    e.upstream = c.subject.substr(0, c.subject.find(':'));
    e.servers = c.scope;
    e.detail = std::string("{\"family\":\"") + c.family_id +
               "\",\"revoked\":" + (revoked.ok() ? "true" : "false") + "}";
    impl.audit(std::move(e));
    return OAuthError{OAuthCode::kInvalidGrant, "the authorization code was already used"};
  }
  if (c.client_id != req.client.client_id) {
    return OAuthError{OAuthCode::kInvalidGrant, "the code was issued to another client"};
  }
  if (c.expires_at < now) return OAuthError{OAuthCode::kInvalidGrant, "the code has expired"};
  if (param("redirect_uri") != c.redirect_uri) {
    return OAuthError{OAuthCode::kInvalidGrant,
                      "redirect_uri does not match the authorization request"};
  }
  if (!pkceMatches(verifier, c.code_challenge)) {
    return OAuthError{OAuthCode::kInvalidGrant, "code_verifier does not match the code_challenge"};
  }

  auto policy = d.policy->current();
  auto scopes = splitScopes(c.scope);
  auto resource = resolveTokenResource(*policy, param("resource"), c.resource, scopes);
  if (!resource.ok()) return resource.error();
  Identity who;
  if (!Identity::fromJson(c.identity_json, who)) {
    return OAuthError{OAuthCode::kServerError, "stored identity is unreadable"};
  }

  IssuedTokens out;
  if (clientHasGrant(req.client, "refresh_token")) {
    RefreshPayload first{d.random->token(32), req.client.client_id};
    store::Family f;
    f.family_id = c.family_id;
    f.client_id = c.client_id;
    f.subject = c.subject;
    f.upstream_data = c.upstream_data;
    f.created_at = now;
    f.expires_at = now + d.config->tokens.refresh_ttl;
    store::RefreshToken t;
    t.token_hash = TokenMinter::hashId(first.token_id);
    t.family_id = f.family_id;
    t.client_id = c.client_id;
    t.subject = c.subject;
    t.identity_json = c.identity_json;
    t.scope = c.scope;  // the refresh token keeps the full grant; narrowing is per access token
    t.resource = c.resource;
    t.created_at = now;
    t.expires_at = std::min(f.expires_at, now + d.config->tokens.refresh_idle_ttl);
    auto created = d.store->createFamily(f, t);
    if (!created.ok() && created.error().code == ErrorCode::kConflict) {
      // A replay of this code got in first and revoked the grant.
      return OAuthError{OAuthCode::kInvalidGrant, "the authorization code was already used"};
    }
    if (!created.ok()) {
      return storeFailure(created.error());
    }
    out.refresh_token = impl.minter.sealRefresh(first);
  }
  auto access =
      impl.minter.accessToken(who, c.client_id, scopes, resource.value(), c.family_id, *policy);
  if (!access.ok())
    return OAuthError{OAuthCode::kServerError, "could not sign the token", access.error().message};
  out.access_token = access->first;
  out.expires_in = access->second;
  out.scope = joinScopes(scopes);
  log::info("token_issued", {{"grant", "authorization_code"},
                             {"client_id", c.client_id},
                             {"sub", c.subject},
                             {"family", c.family_id},
                             {"scope", out.scope}});
  return out;
}

}  // namespace broker::oauth
