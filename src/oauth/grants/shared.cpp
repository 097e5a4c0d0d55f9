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

std::vector<std::string> allowedScopes(const policy::Policy& policy, const Identity& who,
                                       const std::vector<std::string>& scopes) {
  std::vector<std::string> out;
  for (const auto& s : scopes) {
    if (policy.findScope(s) && policy.evaluate(who, s).allowed) out.push_back(s);
  }
  return out;
}

bool clientHasGrant(const store::ClientRecord& client, const std::string& grant) {
  return std::find(client.grant_types.begin(), client.grant_types.end(), grant) !=
         client.grant_types.end();
}

}  // namespace broker::oauth
