// Token minting: RFC 9068 access tokens and sealed, rotating refresh tokens.
//
// A refresh token is "mcpr_" + MasterKeyring::seal("<token_id>.<client_id>", aad "refresh"). The
// store keeps only sha256(token_id). The successor of a token is derived with an HMAC under a
// purpose key, so the same successor can be handed out again inside the grace window without ever
// storing a usable token.

#include <algorithm>

#include "broker/core/crypto.h"
#include "broker/core/encoding.h"
#include "broker/token/access_token.h"
#include "internal.h"

namespace broker::oauth {

TokenMinter::TokenMinter(const Dependencies& deps)
    : deps_(deps), successor_key_(deps.master->deriveKey("refresh-successor")) {}

Result<std::pair<std::string, int64_t>> TokenMinter::accessToken(
    const Identity& identity, const std::string& client_id, const std::vector<std::string>& scopes,
    const std::string& resource, const std::string& family_id, const policy::Policy& policy) const {
  const int64_t now = deps_.clock->now();
  int64_t ttl = deps_.config->tokens.access_ttl;
  token::AccessTokenClaims c;
  c.iss = deps_.config->issuer;
  c.sub = identity.qualifiedSubject();
  if (!resource.empty()) c.aud.push_back(resource);
  for (const auto& s : scopes) {
    if (const auto* server = policy.findScope(s)) {
      if (std::find(c.aud.begin(), c.aud.end(), server->scope) == c.aud.end()) {
        c.aud.push_back(server->scope);
      }
      if (server->access_ttl > 0) ttl = std::min(ttl, server->access_ttl);
    }
  }
  c.scope = joinScopes(scopes);
  c.client_id = client_id;
  c.iat = now;
  c.exp = now + ttl;
  c.jti = deps_.random->token(16);
  c.family_id = family_id;
  c.preferred_username = identity.username;
  if (identity.email_verified) c.email = identity.email;
  c.idp = identity.upstream_id;
  c.groups = identity.groups;
  auto signer = deps_.keys->currentSigner();
  if (!signer.key) return Error::unavailable("no signing key");
  auto jwt = token::signJwt(*signer.key, signer.kid, "at+jwt", c.toJson());
  if (!jwt.ok()) return jwt.error();
  return std::make_pair(std::move(jwt.value()), ttl);
}

std::string TokenMinter::sealRefresh(const RefreshPayload& p) const {
  return kRefreshPrefix + deps_.master->seal(p.token_id + "." + p.client_id, "refresh");
}

std::optional<RefreshPayload> TokenMinter::openRefresh(const std::string& token) const {
  const std::string prefix = kRefreshPrefix;
  if (token.size() <= prefix.size() || token.compare(0, prefix.size(), prefix) != 0) {
    return std::nullopt;
  }
  auto plain = deps_.master->open(token.substr(prefix.size()), "refresh");
  if (!plain.ok()) return std::nullopt;
  const std::string& text = plain.value();
  auto dot = text.find('.');
  if (dot == std::string::npos || dot == 0 || dot + 1 >= text.size()) return std::nullopt;
  return RefreshPayload{text.substr(0, dot), text.substr(dot + 1)};
}

std::string TokenMinter::successorId(const std::string& token_id) const {
  return base64urlEncode(hmacSha256(successor_key_, token_id));
}

std::string TokenMinter::hashId(const std::string& token_id) {
  return sha256Hex(token_id);
}

}  // namespace broker::oauth
