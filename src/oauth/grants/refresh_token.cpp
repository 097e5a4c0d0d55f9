// Refresh token grant (OAuth 2.1 §4.3, RFC 6749 §6) with rotation on every use (OAuth 2.1 §4.3.1,
// RFC 9700 §4.14.2). A token replayed within tokens.refresh_grace of its rotation, before its
// successor was used, gets the same successor back; any other replay revokes the whole family.
// Policy is applied again on every refresh, with the identity re-read from the upstream when the
// upstream can.

#include "broker/core/log.h"
#include "oauth/internal.h"

namespace broker::oauth {
namespace {

OAuthError invalidGrant(const std::string& why) {
  return {OAuthCode::kInvalidGrant, why};
}

// An audit event about a refresh family, caused by the client presenting its token.
store::AuditEvent familyEvent(const char* event, int64_t now, const store::RefreshToken& row,
                              const std::string& servers, std::string detail) {
  store::AuditEvent e;
  e.at = now;
  e.event = event;
  e.actor = "client:" + row.client_id;
  e.client_id = row.client_id;
  e.subject = row.subject;
  e.upstream = row.subject.substr(0, row.subject.find(':'));
  e.servers = servers;
  e.detail = std::move(detail);
  return e;
}

}  // namespace

Result<IssuedTokens, OAuthError> refreshTokenGrant(AuthorizationServer::Impl& impl,
                                                   const GrantRequest& req) {
  const auto& d = impl.deps;
  const int64_t now = d.clock->now();
  auto param = [&](const char* k) {
    auto it = req.form.find(k);
    return it == req.form.end() ? std::string() : it->second;
  };
  if (!clientHasGrant(req.client, "refresh_token")) {
    return OAuthError{OAuthCode::kUnauthorizedClient, "client may not use this grant"};
  }
  const std::string presented = param("refresh_token");
  if (presented.empty()) return OAuthError{OAuthCode::kInvalidRequest, "refresh_token is missing"};
  auto payload = impl.minter.openRefresh(presented);
  if (!payload) return invalidGrant("the refresh token is invalid");
  if (payload->client_id != req.client.client_id) {
    return invalidGrant("the refresh token was issued to another client");
  }
  const std::string hash = TokenMinter::hashId(payload->token_id);
  auto found = d.store->getRefreshTokenAndFamily(hash);
  if (!found.ok()) {
    if (found.error().code == ErrorCode::kNotFound)
      return invalidGrant("the refresh token is invalid");
    return storeFailure(found.error());
  }
  const store::RefreshToken* row = &found->token;
  const store::Family* family = &found->family;
  if (family->revoked_at != 0) return invalidGrant("the refresh token has been revoked");
  if (family->expires_at < now) return invalidGrant("the refresh token has expired");

  const std::string successor_id = impl.minter.successorId(payload->token_id);
  // A replay: the successor again inside the grace window, otherwise the family is revoked.
  auto on_replay = [&](int64_t rotated_at, bool successor_used) -> Result<std::string, OAuthError> {
    if (!successor_used && now - rotated_at <= d.config->tokens.refresh_grace) {
      log::info("refresh_grace_replay",
                {{"client_id", row->client_id}, {"family", row->family_id}});
      return std::string("grace");
    }
    auto revoked = d.store->revokeFamily(row->family_id, "refresh_reuse", now);
    impl.revocationsChanged();
    log::security("refresh_reuse", {{"client_id", row->client_id},
                                    {"sub", row->subject},
                                    {"family", row->family_id},
                                    {"revoked", revoked.ok()}});
    if (auto* m = impl.metrics()) {
      m->refresh_reuse.inc();
      if (revoked.ok()) m->revocations.with({"refresh_family", "refresh_reuse"}).inc();
    }
    impl.audit(familyEvent("refresh_reuse", now, *row, row->scope,
                           std::string("{\"family\":\"") + row->family_id +
                               "\",\"revoked\":" + (revoked.ok() ? "true" : "false") + "}"));
    return invalidGrant("the refresh token was already used");
  };

  std::string successor_scope;
  std::string identity_json = row->identity_json;
  bool grace = false;
  if (row->rotated_at != 0) {
    auto successor = d.store->getRefreshToken(TokenMinter::hashId(successor_id));
    // Whether the successor was used decides between grace and revoking the family: not without
    // an answer from the store.
    if (!successor.ok() && successor.error().code != ErrorCode::kNotFound) {
      return storeFailure(successor.error());
    }
    bool used = successor.ok() && successor->rotated_at != 0;
    auto r = on_replay(row->rotated_at, used);
    if (!r.ok()) return r.error();
    if (!successor.ok()) return invalidGrant("the refresh token is invalid");
    grace = true;
    successor_scope = successor->scope;
    identity_json = successor->identity_json;
  }
  if (!grace && row->expires_at < now) return invalidGrant("the refresh token has expired (idle)");

  auto requested = splitScopes(param("scope"));
  auto granted = splitScopes(grace ? successor_scope : row->scope);
  if (!isSubset(requested, splitScopes(row->scope))) {
    return OAuthError{OAuthCode::kInvalidScope, "scope is wider than the grant"};
  }

  Identity who;
  if (!Identity::fromJson(identity_json, who)) {
    return OAuthError{OAuthCode::kServerError, "stored identity is unreadable"};
  }
  auto policy = d.policy->current();
  if (!grace) {
    // Re-read the identity where the upstream supports it, then apply the current policy.
    auto provider = d.upstreams->find(who.upstream_id);
    if (provider && provider->supportsRefresh()) {
      std::string session;
      if (!family->upstream_data.empty()) {
        auto opened = d.master->open(family->upstream_data, "upstream-session");
        if (opened.ok()) session = opened.value();
      }
      auto* meter = impl.metrics();
      auto refreshed = [&] {
        metrics::Timer timer(meter ? &meter->upstream_duration.with({who.upstream_id, "refresh"})
                                   : nullptr);
        return provider->refreshIdentity(who, session);
      }();
      if (!refreshed.ok()) {
        if (refreshed.error().code == OAuthCode::kTemporarilyUnavailable) {
          if (meter) meter->upstream_errors.with({who.upstream_id, "refresh"}).inc();
          return refreshed.error();
        }
        log::security("refresh_identity_rejected",
                      {{"sub", who.qualifiedSubject()}, {"error", refreshed.error().name()}});
        impl.audit(familyEvent("refresh_identity_rejected", now, *row, row->scope,
                               std::string("{\"family\":\"") + row->family_id + "\",\"error\":\"" +
                                   refreshed.error().name() + "\"}"));
        return invalidGrant("the identity provider no longer accepts this login");
      }
      who = refreshed->identity;
      if (refreshed->session_data != session) {
        auto sealed = refreshed->session_data.empty()
                          ? std::string()
                          : d.master->seal(refreshed->session_data, "upstream-session");
        (void)d.store->updateFamilyUpstreamData(row->family_id, sealed);
      }
    }
    // The policy again, scope by scope, so a denial names the rule that decided it.
    auto review = reviewScopes(*policy, who, granted);
    if (auto* m = impl.metrics()) {
      for (const auto& s : review.dropped) m->denials.with({who.upstream_id, s, "refresh"}).inc();
    }
    auto& kept = review.kept;
    auto& dropped = review.dropped;
    const std::string& rule = review.rule;
    granted = std::move(kept);
    if (!dropped.empty()) {
      store::AuditEvent e = familyEvent(
          granted.empty() ? "refresh_denied_by_policy" : "refresh_narrowed_by_policy", now, *row,
          joinScopes(dropped), std::string("{\"family\":\"") + row->family_id + "\"}");
      e.rule = rule;
      impl.audit(std::move(e));
    }
    if (granted.empty()) {
      log::security("refresh_denied_by_policy",
                    {{"sub", who.qualifiedSubject()}, {"family", row->family_id}});
      return invalidGrant("the access policy no longer allows this grant");
    }
    store::RefreshToken next;
    next.token_hash = TokenMinter::hashId(successor_id);
    next.family_id = row->family_id;
    next.client_id = row->client_id;
    next.subject = row->subject;
    next.identity_json = who.toJson();
    next.scope = joinScopes(granted);
    next.resource = row->resource;
    next.created_at = now;
    next.expires_at = std::min(family->expires_at, now + d.config->tokens.refresh_idle_ttl);
    auto rotated = d.store->rotateRefreshToken(hash, next, now);
    if (!rotated.ok()) {
      if (rotated.error().code == ErrorCode::kConflict)
        return invalidGrant("the refresh token has been revoked");
      if (rotated.error().code == ErrorCode::kNotFound)
        return invalidGrant("the refresh token is invalid");
      return storeFailure(rotated.error());
    }
    if (rotated->kind == store::RotateOutcome::Kind::kAlreadyRotated) {
      // Lost a race with a concurrent refresh of the same token.
      auto r = on_replay(rotated->old.rotated_at, rotated->successor_used);
      if (!r.ok()) return r.error();
      auto successor = d.store->getRefreshToken(next.token_hash);
      if (!successor.ok()) {
        // Unreachable now: the client retries within the grace window and gets the successor.
        if (successor.error().code != ErrorCode::kNotFound) return storeFailure(successor.error());
        return invalidGrant("the refresh token is invalid");
      }
      granted = splitScopes(successor->scope);
    }
  }

  std::vector<std::string> scopes = granted;
  if (!requested.empty()) {
    std::vector<std::string> narrowed;
    for (const auto& s : requested) {
      if (std::find(granted.begin(), granted.end(), s) != granted.end()) narrowed.push_back(s);
    }
    if (narrowed.empty())
      return invalidGrant("the access policy no longer allows the requested scope");
    scopes = narrowed;
  }
  auto resource = resolveTokenResource(*policy, param("resource"), row->resource, scopes);
  if (!resource.ok()) return resource.error();
  if (scopes.empty())
    return OAuthError{OAuthCode::kInvalidTarget, "resource is not covered by the grant"};

  IssuedTokens out;
  auto access = impl.minter.accessToken(who, row->client_id, scopes, resource.value(),
                                        row->family_id, *policy);
  if (!access.ok())
    return OAuthError{OAuthCode::kServerError, "could not sign the token", access.error().message};
  out.access_token = access->first;
  out.expires_in = access->second;
  out.scope = joinScopes(scopes);
  out.refresh_token = impl.minter.sealRefresh({successor_id, row->client_id});
  log::info("token_issued", {{"grant", "refresh_token"},
                             {"client_id", row->client_id},
                             {"sub", row->subject},
                             {"family", row->family_id},
                             {"grace", grace}});
  return out;
}

}  // namespace broker::oauth
