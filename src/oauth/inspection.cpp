// Token revocation (RFC 7009 §2), introspection (RFC 7662 §2) and the /validate debugging
// endpoint. All three look at a token the same way: an RFC 9068 JWT verified offline against the
// key set plus the store's revocation state, or a sealed refresh token looked up by hash.

#include <algorithm>
#include <nlohmann/json.hpp>
#include <optional>
#include <string_view>

#include "broker/core/log.h"
#include "broker/token/access_token.h"
#include "internal.h"
#include "request_bodies.h"

namespace broker::oauth {
namespace {

using nlohmann::json;

struct Inspection {
  bool active = false;
  std::string error;             // why not active: malformed, bad_signature, expired, revoked, ...
  std::string kind;              // "access_token" | "refresh_token"
  json claims = json::object();  // refresh tokens; access tokens carry payload_json instead
  std::string payload_json;      // an access token's verified payload, as signed
  std::string client_id;
  std::string family_id;
  std::string jti;
  int64_t exp = 0;
  Identity who;       // as the token carries it, for the policy explanation
  std::string scope;  // space-separated
};

// POST /revoke by the token's own client: into the audit table and the metrics.
void revokedEvent(AuthorizationServer::Impl& impl, const Inspection& seen, const char* kind,
                  int64_t now) {
  if (auto* m = impl.metrics()) m->revocations.with({kind, "client"}).inc();
  store::AuditEvent e;
  e.at = now;
  e.event = "token_revoked";
  e.actor = "client:" + seen.client_id;
  e.client_id = seen.client_id;
  e.subject = seen.who.upstream_id.empty() ? "" : seen.who.qualifiedSubject();
  e.upstream = seen.who.upstream_id;
  e.servers = seen.scope;
  e.detail = json{{"kind", kind}, {"family", seen.family_id}, {"jti", seen.jti}}.dump();
  impl.audit(std::move(e));
}

json claimsOf(const Inspection& seen) {
  if (seen.payload_json.empty()) return seen.claims;
  auto parsed = json::parse(seen.payload_json, nullptr, false);
  return parsed.is_discarded() ? json::object() : parsed;
}

// For each scope of the token: the rule of the CURRENT policy that grants it, or, when the
// policy no longer grants it, the rule that denies it (the next refresh drops that scope).
// Evaluated against the identity the token carries, so it is what the policy said at the last
// login or refresh unless the policy or the upstream identity has changed since.
json policyExplanation(const policy::Policy& policy, const Inspection& seen) {
  json out = json::object();
  for (const auto& scope : splitScopes(seen.scope)) {
    auto d = policy.evaluate(seen.who, scope);
    out[scope] = {{"allowed", d.allowed}, {"rule", d.rule}};
  }
  return out;
}

Inspection inspectRefresh(AuthorizationServer::Impl& impl, const std::string& token) {
  const auto& d = impl.deps;
  Inspection out;
  out.kind = "refresh_token";
  auto payload = impl.minter.openRefresh(token);
  if (!payload) {
    out.error = "malformed";
    return out;
  }
  out.client_id = payload->client_id;
  auto row = d.store->getRefreshToken(TokenMinter::hashId(payload->token_id));
  if (!row.ok()) {
    out.error = row.error().code == ErrorCode::kNotFound ? "unknown" : "storage_unavailable";
    return out;
  }
  out.family_id = row->family_id;
  out.exp = row->expires_at;
  auto family = d.store->getFamily(row->family_id);
  const int64_t now = d.clock->now();
  if (!family.ok() || family->revoked_at != 0) {
    out.error = "revoked";
  } else if (row->rotated_at != 0) {
    out.error = "rotated";
  } else if (row->expires_at < now || family->expires_at < now) {
    out.error = "expired";
  } else {
    out.active = true;
  }
  Identity& who = out.who;
  Identity::fromJson(row->identity_json, who);
  out.scope = row->scope;
  out.claims = {{"iss", d.config->issuer},     {"sub", row->subject},
                {"client_id", row->client_id}, {"scope", row->scope},
                {"exp", row->expires_at},      {"iat", row->created_at},
                {"username", who.username},    {"token_type", "refresh_token"}};
  return out;
}

// The identity an access token carries, as the policy sees it.
Identity identityFromClaims(const token::AccessTokenClaims& c) {
  Identity who;
  who.upstream_id = c.idp;
  const std::string upstream_prefix = c.idp + ":";
  who.subject = c.sub.rfind(upstream_prefix, 0) == 0 ? c.sub.substr(upstream_prefix.size()) : c.sub;
  who.username = c.preferred_username;
  who.email = c.email;
  who.email_verified = !c.email.empty();  // the claim is present only when verified
  who.groups = c.groups;
  return who;
}

using Revocation = store::RevocationList::Answer;

// What a verified access token says, with its revocation state.
Inspection inspectVerified(const token::VerifiedAccessToken& verified, Revocation revocation) {
  Inspection out;
  out.kind = "access_token";
  const auto& c = verified.claims;
  out.payload_json = verified.payload_json;
  out.who = identityFromClaims(c);
  out.scope = c.scope;
  out.client_id = c.client_id;
  out.family_id = c.family_id;
  out.jti = c.jti;
  out.exp = c.exp;
  if (revocation == Revocation::kRevoked) {
    out.error = "revoked";
  } else {
    out.active = true;
  }
  return out;
}

// The in-memory revocation list's answer; kUnknown without one or when it is too old.
Revocation revocationFromMemory(const AuthorizationServer::Impl& impl,
                                const token::AccessTokenClaims& c) {
  const auto* list = impl.deps.revocations;
  return list ? list->check(c.jti, c.family_id) : Revocation::kUnknown;
}

// `check_time`: false for revocation, where an expired token may still be named.
Inspection inspectAccess(AuthorizationServer::Impl& impl, const std::string& token,
                         bool check_time) {
  const auto& d = impl.deps;
  auto checked = check_time ? impl.verifyAccessToken(token, d.clock->now(), 0)
                            : impl.verifyAccessToken(token, 0, int64_t{1} << 40);
  if (!checked.ok()) {
    Inspection out;
    out.kind = "access_token";
    out.error = token::toString(checked.error());
    return out;
  }
  const VerifiedTokens::Entry& verified = *checked;
  const auto& c = verified->claims;
  Revocation known = revocationFromMemory(impl, c);
  if (known == Revocation::kUnknown) {
    auto revoked = d.store->isAccessGrantRevoked(c.jti, c.family_id);
    if (!revoked.ok()) {
      Inspection out = inspectVerified(*verified, Revocation::kNotRevoked);
      out.active = false;
      out.error = "storage_unavailable";
      return out;
    }
    known = revoked.value() ? Revocation::kRevoked : Revocation::kNotRevoked;
  }
  return inspectVerified(*verified, known);
}

Inspection inspect(AuthorizationServer::Impl& impl, const std::string& token, bool check_time) {
  if (token.rfind(kRefreshPrefix, 0) == 0) return inspectRefresh(impl, token);
  return inspectAccess(impl, token, check_time);
}

// What /revoke and /introspect are asked: an authenticated client names a token.
struct TokenQuestion {
  ClientAuthResult client;
  std::string token;
};

Result<TokenQuestion, http::Response> tokenQuestion(store::Store& store, const http::Request& req) {
  auto form = parseOAuthForm(req);
  if (!form.ok()) return fail(errorResponse(form.error()));
  auto client = authenticateClient(store, req, *form);
  if (!client.ok()) {
    return fail(clientAuthErrorResponse(req, client.error()));
  }
  std::string token = (*form)["token"];
  if (token.empty()) return fail(errorResponse({OAuthCode::kInvalidRequest, "token is missing"}));
  return TokenQuestion{std::move(*client), std::move(token)};
}

}  // namespace

http::Response AuthorizationServer::revoke(const http::Request& req) {
  auto& d = impl_->deps;
  auto asked = tokenQuestion(*d.store, req);
  if (!asked.ok()) return asked.error();
  const auto& client = asked->client;
  const std::string& token = asked->token;
  const int64_t now = d.clock->now();
  auto seen = inspect(*impl_, token, false);
  // A token the store could not be asked about may be live: the client must try again rather
  // than believe it revoked.
  if (seen.error == "storage_unavailable") {
    return errorResponse({OAuthCode::kTemporarilyUnavailable, "storage unavailable"});
  }
  // RFC 7009 §2.2: answer 200 whether or not the token was valid; only the owner can revoke.
  if (seen.client_id == client.client.client_id) {
    if (seen.kind == "refresh_token" && !seen.family_id.empty()) {
      auto r = d.store->revokeFamily(seen.family_id, "revoked_by_client", now);
      impl_->revocationsChanged();
      if (!r.ok() && r.error().code != ErrorCode::kNotFound) {
        return errorResponse(storeFailure(r.error()));
      }
      log::security(
          "token_revoked",
          {{"kind", "refresh_family"}, {"family", seen.family_id}, {"client_id", seen.client_id}});
      revokedEvent(*impl_, seen, "refresh_family", now);
    } else if (seen.kind == "access_token" && !seen.jti.empty()) {
      auto r = d.store->revokeAccessToken(seen.jti, seen.exp);
      impl_->revocationsChanged();
      if (!r.ok()) return errorResponse(storeFailure(r.error()));
      log::security("token_revoked",
                    {{"kind", "access_token"}, {"jti", seen.jti}, {"client_id", seen.client_id}});
      revokedEvent(*impl_, seen, "access_token", now);
    }
  }
  auto resp = jsonResponse(200, "{}");
  resp.header("Cache-Control", "no-store");
  return resp;
}

http::Response AuthorizationServer::introspect(const http::Request& req) {
  auto& d = impl_->deps;
  auto asked = tokenQuestion(*d.store, req);
  if (!asked.ok()) return asked.error();
  const auto& client = asked->client;
  const std::string& token = asked->token;
  // RFC 7662 §2.1, §4: introspection is for protected resources that authenticate. A public
  // client proves nothing by its id, and letting it ask would tell whoever stole one of its
  // refresh tokens whether that token still works, without rotating it (which reuse detection
  // would notice).
  if (client.client.token_endpoint_auth_method == "none") {
    return clientAuthErrorResponse(
        req, {OAuthCode::kInvalidClient,
              "introspection needs a client that authenticates (client_secret_basic or "
              "client_secret_post); a public client cannot ask"});
  }
  auto seen = inspect(*impl_, token, true);
  json out = {{"active", false}};
  // RFC 7662 §2.2, §4: a client learns about the tokens issued to it. Other tokens only for the
  // clients named in introspection.allowed_clients, and only when they proved it with a secret:
  // anyone can register a confidential client, and a public client's id is no secret.
  const auto& allowed = d.config->introspection.allowed_clients;
  const bool may_see =
      seen.client_id == client.client.client_id ||
      std::find(allowed.begin(), allowed.end(), client.client.client_id) != allowed.end();
  if (seen.active && may_see) {
    out = claimsOf(seen);
    out["active"] = true;
    out["policy"] = policyExplanation(*d.policy->current(), seen);
    if (seen.kind == "access_token") {
      out["token_type"] = "Bearer";
      if (out.contains("preferred_username")) out["username"] = out["preferred_username"];
    }
  }
  auto resp = jsonResponse(200, out.dump());
  resp.header("Cache-Control", "no-store");
  return resp;
}

// {"token":"<JWT or refresh token>"} with optional whitespace. The tokens are base64url and dots,
// which JSON never escapes, so this common body needs no JSON parser; anything else (escapes,
// other members, other characters) returns nothing and goes to the parser.
std::optional<std::string> plainTokenBody(std::string_view body) {
  size_t i = 0;
  auto ws = [&] {
    while (i < body.size() &&
           (body[i] == ' ' || body[i] == '\t' || body[i] == '\r' || body[i] == '\n')) {
      ++i;
    }
  };
  auto literal = [&](std::string_view lit) {
    ws();
    if (body.substr(i, lit.size()) != lit) return false;
    i += lit.size();
    return true;
  };
  if (!literal("{") || !literal("\"token\"") || !literal(":") || !literal("\"")) {
    return std::nullopt;
  }
  const size_t start = i;
  while (i < body.size() && body[i] != '"') {
    const char c = body[i];
    const bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                       c == '-' || c == '_' || c == '.';
    if (!plain) return std::nullopt;
    ++i;
  }
  const size_t end = i;
  if (!literal("\"") || !literal("}")) return std::nullopt;
  ws();
  if (i != body.size()) return std::nullopt;
  return std::string(body.substr(start, end - start));
}

std::optional<std::string> validationBodyToken(std::string_view body) {
  if (auto plain = plainTokenBody(body)) return plain;
  auto parsed = json::parse(body.begin(), body.end(), nullptr, false);
  if (parsed.is_discarded() || !parsed.is_object()) return std::nullopt;
  auto token = parsed.find("token");
  if (token == parsed.end() || !token->is_string()) return std::nullopt;
  return token->get<std::string>();
}

namespace {

// The token a /validate request names (Authorization: Bearer, or {"token": ...}), or the 400.
Result<std::string, http::Response> validationToken(const http::Request& req) {
  std::string token;
  auto auth = req.header("authorization");
  if (auth && auth->size() > 7 &&
      (auth->compare(0, 7, "Bearer ") == 0 || auth->compare(0, 7, "bearer ") == 0)) {
    token = auth->substr(7);
  } else if (!req.body.empty()) {
    auto from_body = validationBodyToken(req.body);
    if (!from_body) {
      return fail(
          jsonResponse(400, R"({"valid":false,"error":"the body must be {\"token\": \"...\"}"})"));
    }
    token = std::move(*from_body);
  }
  while (!token.empty() && (token.back() == ' ' || token.back() == '\n')) token.pop_back();
  if (token.empty()) {
    return fail(jsonResponse(
        400,
        R"({"valid":false,"error":"no token: send Authorization: Bearer or {\"token\": ...}"})"));
  }
  return token;
}

http::Response validationAnswer(const policy::Policy& policy, const Inspection& seen) {
  std::string body;
  if (seen.active && !seen.payload_json.empty()) {
    // The verified payload goes out as signed; no parse and re-serialisation per answer.
    body = R"({"valid":true,"token_type":"access_token","payload":)" + seen.payload_json +
           R"(,"policy":)" + policyExplanation(policy, seen).dump() + "}";
  } else {
    json out;
    out["valid"] = seen.active;
    out["token_type"] = seen.kind;
    const json claims = claimsOf(seen);
    if (seen.active) {
      out["payload"] = claims;
      out["policy"] = policyExplanation(policy, seen);
    } else {
      out["error"] = seen.error;
      if (seen.error != "malformed" && !claims.empty()) out["payload"] = claims;
    }
    body = out.dump();
  }
  auto resp = jsonResponse(200, body);
  resp.header("Cache-Control", "no-store");
  return resp;
}

}  // namespace

http::Response AuthorizationServer::validate(const http::Request& req) {
  auto token = validationToken(req);
  if (!token.ok()) return token.error();
  auto seen = inspect(*impl_, *token, true);
  return validationAnswer(*impl_->deps.policy->current(), seen);
}

std::optional<http::Response> AuthorizationServer::validateFromMemory(const http::Request& req) {
  auto token = validationToken(req);
  if (!token.ok()) return token.error();
  // Refresh tokens live in the store; an access token seen for the first time needs its
  // signature checked. Both go to a worker, as does everything when the revocation list is old.
  if (token->rfind(kRefreshPrefix, 0) == 0) return std::nullopt;
  auto verified = impl_->verified.find(*token, impl_->deps.clock->now(), 0);
  if (!verified) return std::nullopt;
  const Revocation known = revocationFromMemory(*impl_, verified->claims);
  if (known == Revocation::kUnknown) return std::nullopt;
  return validationAnswer(*impl_->deps.policy->current(), inspectVerified(*verified, known));
}

}  // namespace broker::oauth
