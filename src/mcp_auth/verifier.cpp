// Resource-server side of MCP authorization: RFC 6750 §2.1 (bearer header), §3 (challenges),
// RFC 9728 §5.1 (resource_metadata in the challenge), RFC 9068 §4 (validation), RFC 8707 (the
// audience is this server's resource).

#include <stdexcept>

#include "mcp_auth/verifier.h"

namespace mcp_auth {
namespace {

bool isSpace(char c) {
  return c == ' ' || c == '\t';
}

// RFC 9110 §5.6.4: inside a quoted-string only '"' and '\' need a backslash; control characters
// cannot appear at all, so they are dropped rather than let split the header.
void appendQuoted(std::string& out, std::string_view value) {
  out += '"';
  for (char c : value) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) continue;
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  out += '"';
}

bool isToken68Char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~' || c == '+' || c == '/' || c == '=';
}

class VerifierImpl final : public Verifier {
 public:
  using Keys = std::function<std::shared_ptr<const PublicKey>(const std::string&)>;

  VerifierImpl(VerifierOptions options, Keys keys, NowFn now)
      : options_(std::move(options)), keys_(std::move(keys)), now_(std::move(now)) {}

  Verification verify(std::string_view token,
                      const std::vector<std::string>& required_scopes) const override {
    Verification v;
    AccessTokenRules rules;
    rules.issuer = options_.issuer;
    rules.resource = options_.resource;
    rules.now = now_();
    rules.leeway = options_.leeway;
    VerifiedJwt verified;
    const Keys& keys = keys_;
    v.status = verifyAccessToken(
        token, [&keys](const DecodedJwt& jwt) { return checkSignature(jwt, keys(jwt.kid).get()); },
        rules, verified);
    if (v.status != JwtStatus::kOk) {
      v.outcome = Outcome::kInvalidToken;
      return v;
    }
    v.claims = std::move(verified.claims);
    const auto& required = required_scopes.empty() ? options_.required_scopes : required_scopes;
    if (auto missing = missingScope(splitScopes(v.claims.scope), required)) {
      v.outcome = Outcome::kInsufficientScope;
      v.missing_scope = *missing;
      return v;
    }
    v.outcome = Outcome::kOk;
    return v;
  }

  Verification verifyAuthorization(std::string_view authorization) const override {
    auto token = bearerToken(authorization);
    if (!token) {
      Verification v;
      // A header that is present but not a usable bearer token is an invalid request, which a
      // client fixes the same way as a bad token: by getting a new one.
      v.outcome = authorization.empty() ? Outcome::kNoToken : Outcome::kInvalidToken;
      return v;
    }
    return verify(*token, {});
  }

  std::string challenge(const Verification& v) const override {
    Challenge c;
    c.resource_metadata = options_.resource_metadata_url;
    c.scope = joinScopes(options_.required_scopes);
    if (v.outcome == Outcome::kInvalidToken) {
      c.error = "invalid_token";
      c.error_description = std::string("token ") + toString(v.status);
    } else if (v.outcome == Outcome::kInsufficientScope) {
      c.error = "insufficient_scope";
    }
    return buildWwwAuthenticate(c);
  }

 private:
  const VerifierOptions options_;
  const Keys keys_;
  const NowFn now_;
};

}  // namespace

std::vector<std::string> splitScopes(std::string_view scope) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < scope.size()) {
    while (i < scope.size() && isSpace(scope[i])) ++i;
    size_t j = i;
    while (j < scope.size() && !isSpace(scope[j])) ++j;
    if (j > i) out.emplace_back(scope.substr(i, j - i));
    i = j;
  }
  return out;
}

std::string joinScopes(const std::vector<std::string>& scopes) {
  std::string out;
  for (const auto& s : scopes) {
    if (!out.empty()) out += ' ';
    out += s;
  }
  return out;
}

bool scopeSatisfies(std::string_view granted, std::string_view required) {
  if (granted.empty()) return false;
  if (granted == required) return true;
  return required.size() > granted.size() + 1 && required.substr(0, granted.size()) == granted &&
         required[granted.size()] == ':';
}

std::optional<std::string> missingScope(const std::vector<std::string>& granted,
                                        const std::vector<std::string>& required) {
  for (const auto& r : required) {
    bool found = false;
    for (const auto& g : granted) {
      if (scopeSatisfies(g, r)) {
        found = true;
        break;
      }
    }
    if (!found) return r;
  }
  return std::nullopt;
}

std::string buildWwwAuthenticate(const Challenge& c) {
  std::string out = "Bearer";
  bool first = true;
  auto param = [&](const char* name, const std::string& value) {
    if (value.empty()) return;
    out += first ? " " : ", ";
    first = false;
    out += name;
    out += '=';
    appendQuoted(out, value);
  };
  param("realm", c.realm);
  param("resource_metadata", c.resource_metadata);
  param("scope", c.scope);
  param("error", c.error);
  param("error_description", c.error_description);
  return out;
}

std::optional<std::string_view> bearerToken(std::string_view header) {
  constexpr std::string_view kScheme = "bearer";
  if (header.size() <= kScheme.size()) return std::nullopt;
  for (size_t i = 0; i < kScheme.size(); ++i) {
    char c = header[i];
    if (c >= 'A' && c <= 'Z') c = char(c - 'A' + 'a');
    if (c != kScheme[i]) return std::nullopt;
  }
  std::string_view rest = header.substr(kScheme.size());
  if (!isSpace(rest.front())) return std::nullopt;
  while (!rest.empty() && isSpace(rest.front())) rest.remove_prefix(1);
  while (!rest.empty() && isSpace(rest.back())) rest.remove_suffix(1);
  if (rest.empty()) return std::nullopt;
  for (char c : rest) {
    if (!isToken68Char(c)) return std::nullopt;
  }
  return rest;
}

int Verification::httpStatus() const {
  switch (outcome) {
    case Outcome::kOk:
      return 200;
    case Outcome::kInsufficientScope:
      return 403;
    case Outcome::kNoToken:
    case Outcome::kInvalidToken:
      return 401;
  }
  return 401;
}

std::shared_ptr<Verifier> Verifier::create(
    VerifierOptions options,
    std::function<std::shared_ptr<const PublicKey>(const std::string& kid)> keys, NowFn now) {
  // The issuer is compared byte for byte (RFC 9068 §4), so it is not normalised here.
  if (options.issuer.empty()) throw std::invalid_argument("mcp_auth: issuer is required");
  if (!canonicalResourceUri(options.resource)) {
    throw std::invalid_argument("mcp_auth: resource must be an absolute URI");
  }
  if (options.jwks_uri.empty()) options.jwks_uri = options.issuer + "/.well-known/jwks.json";
  if (!now) now = systemNow;
  if (!keys) {
    JwksOptions jwks = options.jwks;
    jwks.jwks_uri = options.jwks_uri;
    auto cache = JwksCache::create(jwks, curlHttpGet(options.http), now);
    keys = [cache](const std::string& kid) { return cache->key(kid); };
  }
  return std::make_shared<VerifierImpl>(std::move(options), std::move(keys), std::move(now));
}

}  // namespace mcp_auth
