// Pieces both grants use: resource narrowing (RFC 8707 §2.2) and policy re-evaluation.

#include <algorithm>

#include "broker/oauth/uri.h"
#include "oauth/internal.h"

namespace broker::oauth {

Result<std::string, OAuthError> resolveTokenResource(const policy::Policy& policy,
                                                     const std::string& requested,
                                                     const std::string& bound,
                                                     std::vector<std::string>& scopes) {
  if (requested.empty()) return bound;
  auto canonical = canonicalResource(requested);
  if (!canonical) return OAuthError{OAuthCode::kInvalidTarget, "resource is not an absolute URI"};
  if (!bound.empty()) {
    if (*canonical != bound) {
      return OAuthError{OAuthCode::kInvalidTarget, "resource is wider than the grant"};
    }
    return bound;
  }
  const auto* server = policy.findResource(*canonical);
  if (!server || std::find(scopes.begin(), scopes.end(), server->scope) == scopes.end()) {
    return OAuthError{OAuthCode::kInvalidTarget, "resource is not covered by the grant"};
  }
  // Keep the server's scope and its sub-scopes only.
  std::vector<std::string> narrowed;
  for (const auto& s : scopes) {
    if (s == server->scope || s.rfind(server->scope + ":", 0) == 0) narrowed.push_back(s);
  }
  scopes = std::move(narrowed);
  return *canonical;
}

ScopeReview reviewScopes(const policy::Policy& policy, const Identity& who,
                         const std::vector<std::string>& scopes) {
  ScopeReview out;
  for (const auto& s : scopes) {
    auto decision = policy.evaluate(who, s);
    if (policy.findScope(s) && decision.allowed) {
      out.kept.push_back(s);
      continue;
    }
    out.dropped.push_back(s);
    if (out.rule.empty()) {
      out.rule = policy.findScope(s) ? decision.rule : "unknown scope";
      out.reason = decision.reason;
    }
  }
  return out;
}

std::vector<std::string> allowedScopes(const policy::Policy& policy, const Identity& who,
                                       const std::vector<std::string>& scopes) {
  return reviewScopes(policy, who, scopes).kept;
}

bool clientHasGrant(const store::ClientRecord& client, const std::string& grant) {
  return std::find(client.grant_types.begin(), client.grant_types.end(), grant) !=
         client.grant_types.end();
}

}  // namespace broker::oauth
