// OpenID Connect upstream: the authorization code flow (OIDC Core §3.1) with PKCE S256 (RFC 7636),
// state and nonce; the issuer check on the authorization response when the provider sends one
// (RFC 9207 §2.4); ID token verification (§3.1.3.7, see id_token.h); userinfo (§5.3, sub must
// match, §5.3.2); and re-reading the identity with the provider's refresh token (§12.2: same iss,
// sub and aud) when a broker refresh token is used.

#include <algorithm>

#include <nlohmann/json.hpp>

#include "broker/core/crypto.h"
#include "broker/core/log.h"
#include "broker/upstream/oidc.h"
#include "upstream/oidc/discovery.h"
#include "upstream/oidc/id_token.h"
#include "upstream/oidc/oauth_client.h"

namespace broker::upstream {
namespace {

using nlohmann::json;
namespace oc = oauth_client;
using oidc::IdTokenStatus;

// A claim by name; a dotted name walks nested objects when no claim has the literal name.
const json* claim(const json& claims, const std::string& name) {
  auto it = claims.find(name);
  if (it != claims.end()) return &*it;
  const json* cur = &claims;
  size_t pos = 0;
  while (true) {
    size_t dot = name.find('.', pos);
    if (!cur->is_object()) return nullptr;
    auto next = cur->find(name.substr(pos, dot == std::string::npos ? dot : dot - pos));
    if (next == cur->end()) return nullptr;
    cur = &*next;
    if (dot == std::string::npos) return cur;
    pos = dot + 1;
  }
}

std::string claimString(const json& claims, const std::string& name) {
  const json* v = claim(claims, name);
  return v && v->is_string() ? v->get<std::string>() : std::string();
}

class OidcUpstream final : public UpstreamProvider {
 public:
  OidcUpstream(OidcOptions o, std::shared_ptr<HttpClient> http, Clock& clock, Random& random)
      : o_(std::move(o)),
        type_("oidc"),
        who_(o_.display_name.empty() ? o_.id : o_.display_name),
        http_(http ? std::move(http) : HttpClient::create(o_.http)),
        clock_(clock),
        random_(random),
        provider_(o_, who_, *http_, clock_) {}

  const std::string& id() const override { return o_.id; }
  const std::string& type() const override { return type_; }
  std::string displayName() const override { return who_; }
  bool supportsRefresh() const override { return true; }

  std::string loginUrl() override {
    auto meta = provider_.metadata();
    return meta.ok() ? meta->authorization_endpoint : std::string();
  }

  Result<LoginRedirect, OAuthError> beginLogin(const BeginLogin& request) override {
    auto meta = provider_.metadata();
    if (!meta.ok()) return meta.error();
    oc::Pkce pkce = oc::makePkce(random_);
    std::string nonce = random_.token(24);
    std::string scope;
    for (const auto& s : o_.scopes) scope += (scope.empty() ? "" : " ") + s;
    oc::Params params = {{"response_type", "code"},
                         {"client_id", o_.client_id},
                         {"redirect_uri", request.callback_url},
                         {"scope", scope},
                         {"state", request.state},
                         {"nonce", nonce},
                         {"code_challenge", pkce.challenge},
                         {"code_challenge_method", "S256"}};
    for (const auto& [k, v] : o_.auth_params) params.emplace_back(k, v);
    return LoginRedirect{oc::withQuery(meta->authorization_endpoint, params),
                         json{{"v", pkce.verifier}, {"n", nonce}}.dump()};
  }

  Result<LoginResult, OAuthError> completeLogin(const Callback& cb) override {
    if (auto e = oc::callbackError(who_, cb.params)) return *e;
    auto iss = cb.params.find("iss");
    if (iss != cb.params.end() && iss->second != o_.issuer) {
      return OAuthError{OAuthCode::kAccessDenied,
                        "The sign-in response did not come from " + who_ + ". Start again.",
                        "authorization response iss mismatch (RFC 9207)"};
    }
    auto code = cb.params.find("code");
    if (code == cb.params.end() || code->second.empty()) {
      return oc::malformedResponse(who_, "authorization response without code");
    }
    auto data = oc::parseJson(cb.upstream_data);
    std::string verifier = data ? oc::stringMember(*data, "v") : "";
    std::string nonce = data ? oc::stringMember(*data, "n") : "";
    if (verifier.empty() || nonce.empty()) {
      return OAuthError{OAuthCode::kServerError, "The sign-in data was lost. Start again.",
                        "upstream_data without PKCE verifier or nonce"};
    }
    auto meta = provider_.metadata();
    if (!meta.ok()) return meta.error();
    auto token = oc::requestToken(*http_, who_,
                                  tokenRequest(meta.value(), {{"grant_type", "authorization_code"},
                                                              {"code", code->second},
                                                              {"redirect_uri", cb.callback_url},
                                                              {"code_verifier", verifier}}));
    if (!token.ok()) return token.error();
    if (token->id_token.empty()) {
      return oc::malformedResponse(who_, "token response without id_token");
    }
    auto claims = verify(token->id_token, nonce);
    if (!claims.ok()) return claims.error();
    if (o_.userinfo) {
      auto merged = withUserinfo(meta.value(), token->access_token, claims.value());
      if (!merged.ok()) return merged.error();
      claims = std::move(merged.value());
    }
    Identity who = mapIdentity(claims.value());
    if (auto denied = checkEmail(who)) return *denied;
    const int64_t now = clock_.now();
    cache_.put(who.subject, who, now + o_.membership_cache_ttl, now);
    log::info("oidc_identity_read", {{"upstream", o_.id},
                                     {"groups", static_cast<int64_t>(who.groups.size())},
                                     {"refreshable", !token->refresh_token.empty()}});
    return LoginResult{std::move(who), sessionJson(token->refresh_token)};
  }

  Result<LoginResult, OAuthError> refreshIdentity(const Identity& current,
                                                  const std::string& session_data) override {
    const int64_t now = clock_.now();
    if (auto cached = cache_.get(current.subject, now)) {
      return LoginResult{std::move(*cached), session_data};
    }
    auto session = oc::parseJson(session_data);
    std::string refresh_token = session ? oc::stringMember(*session, "rt") : "";
    // Without a refresh token the provider cannot be asked again; the login stands as it was.
    if (refresh_token.empty()) return LoginResult{current, session_data};
    auto meta = provider_.metadata();
    if (!meta.ok()) return meta.error();
    using TokenResult = Result<oc::TokenResponse, OAuthError>;
    TokenResult token = flights_.run(
        sha256Hex(refresh_token), now,
        [&]() -> TokenResult {
          return oc::requestToken(*http_, who_,
                                  tokenRequest(meta.value(), {{"grant_type", "refresh_token"},
                                                              {"refresh_token", refresh_token}}));
        },
        [](const TokenResult& r) { return r.ok(); });
    if (!token.ok()) return token.error();

    Identity who = current;
    std::optional<json> claims;
    if (!token->id_token.empty()) {
      auto verified = verify(token->id_token, "");
      if (!verified.ok()) return verified.error();
      claims = std::move(verified.value());
    }
    if (o_.userinfo) {
      auto merged = withUserinfo(meta.value(), token->access_token,
                                 claims ? *claims : json{{"sub", current.subject}});
      if (!merged.ok()) return merged.error();
      claims = std::move(merged.value());
    }
    if (claims) {
      who = mapIdentity(*claims);
      if (who.subject != current.subject) {
        return OAuthError{OAuthCode::kAccessDenied, "Your sign-in at " + who_ + " changed.",
                          "refreshed identity has another sub"};
      }
      if (auto denied = checkEmail(who)) return *denied;
    }
    cache_.put(who.subject, who, now + o_.membership_cache_ttl, now);
    return LoginResult{
        std::move(who),
        sessionJson(token->refresh_token.empty() ? refresh_token : token->refresh_token)};
  }

 private:
  static std::string sessionJson(const std::string& refresh_token) {
    return refresh_token.empty() ? std::string() : json{{"rt", refresh_token}}.dump();
  }

  oc::TokenRequest tokenRequest(const oidc::ProviderMetadata& meta, oc::Params form) const {
    oc::TokenRequest r;
    r.url = meta.token_endpoint;
    r.form = std::move(form);
    r.client_id = o_.client_id;
    r.client_secret = o_.client_secret;
    const auto& m = o_.token_endpoint_auth_method;
    const auto& advertised = meta.token_endpoint_auth_methods;
    auto offers = [&](const char* name) {
      return std::find(advertised.begin(), advertised.end(), name) != advertised.end();
    };
    if (m == "none") {
      r.auth = oc::ClientAuth::kNone;
    } else if (m == "client_secret_post" ||
               (m.empty() && offers("client_secret_post") && !offers("client_secret_basic"))) {
      r.auth = oc::ClientAuth::kSecretPost;
    } else {
      r.auth = oc::ClientAuth::kSecretBasic;  // RFC 6749 §2.3.1: every server must support it
    }
    return r;
  }

  Result<json, OAuthError> verify(const std::string& id_token, const std::string& nonce) {
    auto keys = provider_.keys();
    if (!keys.ok()) return keys.error();
    oidc::IdTokenRules rules{o_.issuer, o_.client_id, nonce, clock_.now(), o_.leeway};
    auto claims = oidc::verifyIdToken(id_token, *keys.value(), rules);
    if (!claims.ok() && claims.error() == IdTokenStatus::kUnknownKid) {
      // The provider may have rotated its keys since the set was cached.
      keys = provider_.keysAfterUnknownKid();
      if (!keys.ok()) return keys.error();
      claims = oidc::verifyIdToken(id_token, *keys.value(), rules);
    }
    if (claims.ok()) return std::move(claims.value());
    IdTokenStatus status = claims.error();
    log::security("oidc_id_token_rejected", {{"upstream", o_.id}, {"reason", toString(status)}});
    if (status == IdTokenStatus::kUnknownKid) {
      return OAuthError{OAuthCode::kTemporarilyUnavailable,
                        who_ +
                            " signed in with a key the broker does not know yet. Try again in "
                            "a minute.",
                        "id token: unknown kid"};
    }
    return OAuthError{OAuthCode::kServerError,
                      "The sign-in from " + who_ + " could not be verified.",
                      std::string("id token: ") + toString(status)};
  }

  // Userinfo claims are added to the ID token's; sub must be the same user (OIDC Core §5.3.2).
  Result<json, OAuthError> withUserinfo(const oidc::ProviderMetadata& meta,
                                        const std::string& access_token, json claims) {
    if (meta.userinfo_endpoint.empty()) {
      return OAuthError{OAuthCode::kServerError,
                        "The broker's configuration for " + who_ + " does not match the provider.",
                        "userinfo: true but the provider has no userinfo_endpoint"};
    }
    auto info =
        oc::getJson(*http_, who_, "userinfo", meta.userinfo_endpoint,
                    {{"Accept", "application/json"}, {"Authorization", "Bearer " + access_token}});
    if (!info.ok()) return info.error();
    if (!info->body.is_object() ||
        oc::stringMember(info->body, "sub") != oc::stringMember(claims, "sub")) {
      return oc::malformedResponse(who_, "userinfo (missing or different sub)");
    }
    for (const auto& [k, v] : info->body.items()) {
      if (k != "iss" && k != "aud" && k != "sub") claims[k] = v;
    }
    return claims;
  }

  Identity mapIdentity(const json& claims) const {
    Identity who;
    who.upstream_id = o_.id;
    who.upstream_type = type_;
    who.subject = oc::stringMember(claims, "sub");
    who.username = claimString(claims, o_.username_claim);
    // Policies match usernames, so never fill one from a claim nobody configured.
    if (who.username.empty()) who.username = who.subject;
    who.name = claimString(claims, o_.name_claim);
    std::string email = claimString(claims, o_.email_claim);
    const json* verified = claim(claims, "email_verified");
    // Some providers send the boolean as a string.
    bool is_verified =
        verified && ((verified->is_boolean() && verified->get<bool>()) ||
                     (verified->is_string() && verified->get<std::string>() == "true"));
    if (!email.empty() && (is_verified || o_.insecure_skip_email_verified)) {
      who.email = email;
      who.email_verified = true;
    }
    if (const json* groups = claim(claims, o_.groups_claim)) {
      auto add = [&](const json& g) {
        if (!g.is_string() || g.get_ref<const std::string&>().empty()) return;
        if (std::find(who.groups.begin(), who.groups.end(), g.get<std::string>()) ==
            who.groups.end()) {
          who.groups.push_back(g.get<std::string>());
        }
      };
      if (groups->is_array()) {
        for (const auto& g : *groups) add(g);
      } else {
        add(*groups);
      }
    }
    return who;
  }

  std::optional<OAuthError> checkEmail(const Identity& who) const {
    if (!o_.require_verified_email || !who.email.empty()) return std::nullopt;
    return OAuthError{OAuthCode::kAccessDenied,
                      who_ + " did not confirm a verified email address for your account.",
                      "no verified email"};
  }

  OidcOptions o_;
  const std::string type_;
  const std::string who_;
  std::shared_ptr<HttpClient> http_;
  Clock& clock_;
  Random& random_;
  oidc::ProviderCache provider_;
  oc::TtlCache<Identity> cache_;
  oc::SingleFlight<Result<oc::TokenResponse, OAuthError>> flights_;
};

}  // namespace

OidcOptions parseOidcSettings(const config::UpstreamSettings& settings) {
  oc::SettingsReader r(
      settings, {"issuer", "client_id", "client_secret", "token_endpoint_auth_method", "scopes",
                 "claims", "insecure_skip_email_verified", "require_verified_email", "userinfo",
                 "auth_params", "authorization_endpoint", "token_endpoint", "userinfo_endpoint",
                 "jwks_uri", "membership_cache_ttl", "ca_file", "timeout"});
  OidcOptions o;
  o.id = settings.id;
  o.display_name = settings.display_name.empty() ? settings.id : settings.display_name;
  // Kept as written: it is compared byte for byte with `iss`.
  o.issuer = r.url("issuer", "", false);
  if (o.issuer.empty()) r.fail("issuer", "required");
  if (o.issuer.find('?') != std::string::npos) r.fail("issuer", "must not have a query");
  o.client_id = r.requiredString("client_id");
  o.token_endpoint_auth_method = r.string("token_endpoint_auth_method");
  if (!o.token_endpoint_auth_method.empty() && o.token_endpoint_auth_method != "none" &&
      o.token_endpoint_auth_method != "client_secret_basic" &&
      o.token_endpoint_auth_method != "client_secret_post") {
    r.fail("token_endpoint_auth_method",
           "expected client_secret_basic, client_secret_post or none");
  }
  o.client_secret = r.clientSecret(o.token_endpoint_auth_method != "none");
  o.scopes = r.words("scopes", o.scopes);
  if (std::find(o.scopes.begin(), o.scopes.end(), "openid") == o.scopes.end()) {
    r.fail("scopes", "must include openid");
  }
  auto claims = r.stringMap("claims");
  for (const auto& [name, value] : claims) {
    if (value.empty()) r.fail("claims." + name, "must not be empty");
    if (name == "username") {
      o.username_claim = value;
    } else if (name == "email") {
      o.email_claim = value;
    } else if (name == "groups") {
      o.groups_claim = value;
    } else if (name == "name") {
      o.name_claim = value;
    } else {
      r.fail("claims." + name, "unknown; expected username, email, groups or name");
    }
  }
  o.insecure_skip_email_verified = r.boolean("insecure_skip_email_verified", false);
  o.require_verified_email = r.boolean("require_verified_email", false);
  o.userinfo = r.boolean("userinfo", false);
  o.auth_params = r.stringMap("auth_params");
  static const char* const kReserved[] = {
      "response_type", "client_id", "redirect_uri",   "scope",
      "state",         "nonce",     "code_challenge", "code_challenge_method"};
  for (const char* reserved : kReserved) {
    if (o.auth_params.count(reserved)) {
      r.fail(std::string("auth_params.") + reserved, "is set by the broker");
    }
  }
  o.authorization_endpoint = r.url("authorization_endpoint", "", false);
  o.token_endpoint = r.url("token_endpoint", "", false);
  o.userinfo_endpoint = r.url("userinfo_endpoint", "", false);
  o.jwks_uri = r.url("jwks_uri", "", false);
  o.membership_cache_ttl = r.membershipCacheTtl(o.membership_cache_ttl);
  o.http = r.httpOptions();
  r.finish();
  return o;
}

std::shared_ptr<UpstreamProvider> makeOidcUpstream(OidcOptions options,
                                                   std::shared_ptr<HttpClient> http, Clock& clock,
                                                   Random& random) {
  return std::make_shared<OidcUpstream>(std::move(options), std::move(http), clock, random);
}

}  // namespace broker::upstream
