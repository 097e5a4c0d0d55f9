// Client authentication at the token, revocation and introspection endpoints (RFC 6749 §2.3.1,
// OAuth 2.1 §2.4): exactly the method the client registered — none, client_secret_basic or
// client_secret_post. Secrets are compared by hash in constant time.

#include "broker/core/crypto.h"
#include "broker/core/encoding.h"
#include "http/strings.h"
#include "internal.h"

namespace broker::oauth {
namespace {

struct BasicCredentials {
  std::string id;
  std::string secret;
  std::string raw_id;  // as sent, for clients that do not form-encode (common in practice)
  std::string raw_secret;
};

std::optional<BasicCredentials> parseBasic(const std::string& header) {
  if (header.size() < 6) return std::nullopt;
  std::string scheme = header.substr(0, 6);
  for (auto& c : scheme) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (scheme != "basic ") return std::nullopt;
  auto decoded = base64Decode(header.substr(6));
  if (!decoded) return std::nullopt;
  auto colon = decoded->find(':');
  if (colon == std::string::npos) return std::nullopt;
  BasicCredentials c;
  c.raw_id = decoded->substr(0, colon);
  c.raw_secret = decoded->substr(colon + 1);
  auto id = urlDecode(c.raw_id), secret = urlDecode(c.raw_secret);
  c.id = id ? *id : c.raw_id;
  c.secret = secret ? *secret : c.raw_secret;
  return c;
}

bool secretMatches(const store::ClientRecord& client, const std::string& secret) {
  return !client.secret_hash.empty() && constantTimeEquals(sha256Hex(secret), client.secret_hash);
}

OAuthError invalidClient(const std::string& debug) {
  return {OAuthCode::kInvalidClient, "client authentication failed", debug};
}

}  // namespace

http::Response clientAuthErrorResponse(const http::Request& req, const OAuthError& e) {
  auto auth = req.header("authorization");
  if (!auth) return errorResponse(e);
  // The scheme as RFC 9110 §11.1 spells it; one that is no token (a garbled header) is answered
  // with the only scheme this server accepts.
  const std::string_view scheme = std::string_view(*auth).substr(0, auth->find(' '));
  if (http::equalsIgnoreCase(scheme, "basic") || !http::isToken(scheme)) {
    return errorResponse(e, "Basic");
  }
  return errorResponse(e, scheme);
}

std::string claimedClientId(const http::Request& req,
                            const std::map<std::string, std::string>& form) {
  std::string id;
  if (auto auth = req.header("authorization")) {
    if (auto basic = parseBasic(*auth)) id = basic->id;
  }
  if (id.empty()) {
    if (auto it = form.find("client_id"); it != form.end()) id = it->second;
  }
  return id.substr(0, 256);  // bounds the memory an attacker's ids can take
}

Result<ClientAuthResult, OAuthError> authenticateClient(
    store::Store& store, const http::Request& req, const std::map<std::string, std::string>& form) {
  ClientAuthResult out;
  auto auth = req.header("authorization");
  std::optional<BasicCredentials> basic;
  if (auth) {
    basic = parseBasic(*auth);
    const bool basic_attempted = auth->size() >= 5 && (auth->compare(0, 5, "Basic") == 0 ||
                                                       auth->compare(0, 5, "basic") == 0);
    if (basic_attempted && !basic) return fail(invalidClient("malformed basic credentials"));
  }
  auto form_id = form.find("client_id");
  auto form_secret = form.find("client_secret");
  if (basic && form_secret != form.end()) {
    return fail(OAuthError{OAuthCode::kInvalidRequest,
                           "use one client authentication method, not several"});
  }
  std::string client_id;
  if (basic) {
    client_id = basic->id;
    if (form_id != form.end() && form_id->second != basic->id && form_id->second != basic->raw_id) {
      return fail(invalidClient("client_id in form differs from basic credentials"));
    }
  } else if (form_id != form.end()) {
    client_id = form_id->second;
  } else {
    return fail(invalidClient("no client identification"));
  }
  auto client = store.getClient(client_id);
  if (!client.ok() && basic && basic->raw_id != client_id) client = store.getClient(basic->raw_id);
  if (!client.ok()) {
    if (client.error().code == ErrorCode::kNotFound) return fail(invalidClient("unknown client"));
    return fail(storeFailure(client.error()));
  }
  const auto& c = client.value();
  const auto& method = c.token_endpoint_auth_method;
  if (method == "none") {
    if (basic || form_secret != form.end()) {
      return fail(invalidClient("public client sent a secret"));
    }
  } else if (method == "client_secret_basic") {
    if (!basic) return fail(invalidClient("client registered for client_secret_basic"));
    if (!secretMatches(c, basic->secret) && !secretMatches(c, basic->raw_secret)) {
      return fail(invalidClient("bad client secret"));
    }
  } else if (method == "client_secret_post") {
    if (basic || form_secret == form.end()) {
      return fail(invalidClient("client registered for client_secret_post"));
    }
    if (!secretMatches(c, form_secret->second)) return fail(invalidClient("bad client secret"));
  } else {
    return fail(invalidClient("unsupported registered method"));
  }
  out.client = c;
  return out;
}

}  // namespace broker::oauth
