// OAuth 2.0 client pieces shared by the GitHub and OpenID Connect upstreams (see oauth_client.h).

#include "upstream/oidc/oauth_client.h"

#include <unistd.h>

#include <algorithm>
#include <cctype>

#include "broker/core/crypto.h"
#include "broker/core/encoding.h"
#include "broker/oauth/uri.h"
#include "config/yaml_source.h"

namespace broker::upstream::oauth_client {

using nlohmann::json;

// ---- settings ----

SettingsReader::SettingsReader(const config::UpstreamSettings& settings,
                               std::vector<std::string> keys)
    : settings_(settings), keys_(std::move(keys)) {
  json_ = settings.settings_json.empty() ? json::object()
                                         : json::parse(settings.settings_json, nullptr, false);
  if (json_.is_discarded() || !json_.is_object()) {
    throw config::ConfigError(settings_.source + ": upstreams." + settings_.id +
                              ": settings must be a mapping");
  }
  std::vector<std::string> suggestions = keys_;
  suggestions.insert(suggestions.end(), {"type", "enabled", "display_name"});
  for (const auto& [key, value] : json_.items()) {
    if (std::find(keys_.begin(), keys_.end(), key) != keys_.end()) continue;
    auto at = settings_.key_where.find(key);
    throw config::ConfigError((at != settings_.key_where.end() ? at->second : settings_.source) +
                              ": upstreams." + settings_.id + "." + key + ": " +
                              yamlsrc::unknownKeyMessage(key, suggestions));
  }
}

void SettingsReader::fail(const std::string& key, const std::string& what) const {
  auto at = settings_.value_where.find(key);
  throw config::ConfigError((at != settings_.value_where.end() ? at->second : settings_.source) +
                            ": upstreams." + settings_.id + "." + key + ": " + what);
}

bool SettingsReader::has(const std::string& key) const {
  auto it = json_.find(key);
  return it != json_.end() && !it->is_null();
}

const json* SettingsReader::find(const std::string& key) {
  read_.insert(key);
  auto it = json_.find(key);
  return it == json_.end() || it->is_null() ? nullptr : &*it;
}

// A plain YAML scalar made of digits arrives as a number; an id like 12345 is still text.
std::string SettingsReader::scalarText(const std::string& key, const json& v) const {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number_integer()) return v.dump();
  fail(key, "expected a string");
}

std::string SettingsReader::string(const std::string& key, const std::string& fallback) {
  const json* v = find(key);
  return v ? scalarText(key, *v) : fallback;
}

std::string SettingsReader::requiredString(const std::string& key) {
  std::string v = string(key);
  if (v.empty()) fail(key, "required");
  return v;
}

bool SettingsReader::boolean(const std::string& key, bool fallback) {
  const json* v = find(key);
  if (!v) return fallback;
  if (!v->is_boolean()) fail(key, "expected true or false");
  return v->get<bool>();
}

int64_t SettingsReader::duration(const std::string& key, int64_t fallback) {
  const json* v = find(key);
  if (!v) return fallback;
  std::optional<int64_t> seconds;
  if (v->is_number_unsigned() || (v->is_number_integer() && v->get<int64_t>() >= 0)) {
    seconds = v->get<int64_t>();
  } else if (v->is_string()) {
    seconds = config::parseDuration(v->get<std::string>());
  }
  if (!seconds) fail(key, "expected a duration such as 600, 90s, 10m or 1h");
  return *seconds;
}

std::vector<std::string> SettingsReader::words(const std::string& key,
                                               const std::vector<std::string>& fallback) {
  const json* v = find(key);
  if (!v) return fallback;
  std::vector<std::string> out;
  auto add = [&](const std::string& text) {
    size_t pos = 0;
    while (pos < text.size()) {
      size_t space = text.find_first_of(" \t", pos);
      if (space == std::string::npos) space = text.size();
      std::string w = text.substr(pos, space - pos);
      if (!w.empty() && std::find(out.begin(), out.end(), w) == out.end()) out.push_back(w);
      pos = space + 1;
    }
  };
  if (v->is_string()) {
    add(v->get<std::string>());
  } else if (v->is_array()) {
    for (const auto& item : *v) {
      if (!item.is_string()) fail(key, "expected a list of strings");
      add(item.get<std::string>());
    }
  } else {
    fail(key, "expected a list of strings or one space-separated string");
  }
  if (out.empty()) fail(key, "must not be empty");
  return out;
}

std::map<std::string, std::string> SettingsReader::stringMap(const std::string& key) {
  const json* v = find(key);
  std::map<std::string, std::string> out;
  if (!v) return out;
  if (!v->is_object()) fail(key, "expected a mapping of names to strings");
  for (const auto& [k, item] : v->items()) out[k] = scalarText(key + "." + k, item);
  return out;
}

std::string SettingsReader::url(const std::string& key, const std::string& fallback,
                                bool strip_slash) {
  std::string text = string(key, fallback);
  if (text.empty()) return text;
  auto uri = oauth::parseUri(text);
  if (!uri || !uri->has_authority || uri->host.empty()) fail(key, "expected an absolute URL");
  if (uri->has_fragment || uri->has_userinfo) fail(key, "must not have a fragment or userinfo");
  if (uri->scheme != "https" && !(uri->scheme == "http" && oauth::isLoopbackHost(uri->host))) {
    fail(key, "must be https (plain http only on a loopback address)");
  }
  if (strip_slash) {
    while (!text.empty() && text.back() == '/') text.pop_back();
  }
  return text;
}

Secret SettingsReader::clientSecret(bool required) {
  std::string v = string("client_secret");
  if (required && v.empty()) {
    fail(
        "client_secret", "required (or set " + [&] {
          std::string env = settings_.id;
          for (char& c : env) c = c == '-' ? '_' : static_cast<char>(std::toupper(c));
          return env;
        }() + "_CLIENT_SECRET)");
  }
  return Secret(v);
}

HttpClientOptions SettingsReader::httpOptions() {
  HttpClientOptions o;
  o.ca_file = string("ca_file");
  if (!o.ca_file.empty() && ::access(o.ca_file.c_str(), R_OK) != 0) {
    fail("ca_file", "cannot read '" + o.ca_file + "'");
  }
  int64_t timeout = duration("timeout", o.timeout_ms / 1000);
  if (timeout < 1 || timeout > 120) fail("timeout", "must be between 1s and 120s");
  o.timeout_ms = timeout * 1000;
  o.connect_timeout_ms = std::min(o.connect_timeout_ms, o.timeout_ms);
  return o;
}

int64_t SettingsReader::membershipCacheTtl(int64_t fallback) {
  int64_t ttl = duration("membership_cache_ttl", fallback);
  if (ttl > 86400) fail("membership_cache_ttl", "must be at most 1d");
  return ttl;
}

void SettingsReader::finish() const {
  for (const auto& [key, value] : json_.items()) {
    if (!read_.count(key)) fail(key, "unknown setting for a " + settings_.type + " upstream");
  }
}

// ---- protocol helpers ----

Pkce makePkce(Random& random) {
  Pkce p;
  p.verifier = random.token(32);  // 43 characters, RFC 7636 §4.1
  p.challenge = base64urlEncode(sha256(p.verifier));
  return p;
}

std::string formEncode(const Params& params) {
  std::string out;
  for (const auto& [k, v] : params) {
    if (!out.empty()) out += '&';
    out += urlEncode(k) + "=" + urlEncode(v);
  }
  return out;
}

std::string withQuery(const std::string& url, const Params& params) {
  if (params.empty()) return url;
  return url + (url.find('?') == std::string::npos ? '?' : '&') + formEncode(params);
}

std::optional<json> parseJson(const std::string& body) {
  auto j = json::parse(body, nullptr, false);
  if (j.is_discarded() || !(j.is_object() || j.is_array())) return std::nullopt;
  return j;
}

std::string stringMember(const json& object, const char* key) {
  if (!object.is_object()) return {};
  auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
}

OAuthError transportFailure(const std::string& who, const std::string& what, const Error& e) {
  if (e.code == ErrorCode::kUnavailable) {
    return {OAuthCode::kTemporarilyUnavailable,
            who + " did not answer in time. Try again in a few minutes.", what + ": " + e.message};
  }
  return {OAuthCode::kServerError, "The broker could not talk to " + who + ".",
          what + ": " + e.message};
}

OAuthError statusFailure(const std::string& who, const std::string& what, long status) {
  std::string debug = what + ": HTTP " + std::to_string(status);
  if (status >= 500 || status == 429) {
    return {OAuthCode::kTemporarilyUnavailable,
            who + " is not available right now. Try again in a few minutes.", debug};
  }
  return {OAuthCode::kServerError, who + " gave an unexpected answer.", debug};
}

OAuthError malformedResponse(const std::string& who, const std::string& what) {
  return {OAuthCode::kServerError, who + " gave an unexpected answer.",
          what + ": malformed response"};
}

std::optional<OAuthError> callbackError(const std::string& who,
                                        const std::map<std::string, std::string>& params) {
  auto it = params.find("error");
  if (it == params.end()) return std::nullopt;
  const std::string& error = it->second;
  auto desc = params.find("error_description");
  std::string debug = "authorization response error: " + error.substr(0, 100);
  if (desc != params.end()) debug += ": " + desc->second.substr(0, 300);
  // OIDC Core §3.1.2.6: the user could not or would not sign in.
  static const char* const kDenied[] = {"access_denied", "login_required", "interaction_required",
                                        "consent_required", "account_selection_required"};
  for (const char* d : kDenied) {
    if (error == d) {
      return OAuthError{OAuthCode::kAccessDenied,
                        "Sign-in at " + who + " was cancelled or refused.", debug};
    }
  }
  if (error == "temporarily_unavailable" || error == "server_error") {
    return OAuthError{OAuthCode::kTemporarilyUnavailable,
                      who + " could not complete the sign-in. Try again in a few minutes.", debug};
  }
  return OAuthError{OAuthCode::kServerError,
                    who + " refused the sign-in request; the broker may be misconfigured.", debug};
}

OAuthError tokenEndpointError(const std::string& who, const std::string& error,
                              const std::string& error_description) {
  std::string debug =
      "token endpoint error: " + error.substr(0, 100) + ": " + error_description.substr(0, 300);
  // A used, expired or revoked code or refresh token: the user has to sign in again.
  if (error == "invalid_grant" || error == "bad_verification_code" ||
      error == "bad_refresh_token" || error == "unverified_user_email") {
    return {OAuthCode::kAccessDenied,
            who + " no longer accepts this sign-in. Start again from the application.", debug};
  }
  if (error == "temporarily_unavailable" || error == "server_error" || error == "slow_down") {
    return {OAuthCode::kTemporarilyUnavailable,
            who + " could not complete the sign-in. Try again in a few minutes.", debug};
  }
  return {OAuthCode::kServerError,
          who + " refused the broker's credentials; the broker may be misconfigured.", debug};
}

namespace {

// expires_in is a number in RFC 6749, but some servers send it as a string.
int64_t seconds(const json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end()) return 0;
  if (it->is_number_integer() && it->get<int64_t>() > 0) return it->get<int64_t>();
  if (it->is_number_float() && it->get<double>() > 0 && it->get<double>() < 1e12) {
    return static_cast<int64_t>(it->get<double>());
  }
  if (it->is_string()) {
    auto s = it->get<std::string>();
    if (!s.empty() && s.size() < 12 &&
        std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isdigit(c); })) {
      return std::stoll(s);
    }
  }
  return 0;
}

}  // namespace

Result<TokenResponse, OAuthError> requestToken(HttpClient& http, const std::string& who,
                                               const TokenRequest& request) {
  const std::string what = "token request";
  Params form = request.form;
  HttpRequest req;
  req.method = "POST";
  req.url = request.url;
  req.headers = {{"Accept", "application/json"},
                 {"Content-Type", "application/x-www-form-urlencoded"}};
  switch (request.auth) {
    case ClientAuth::kSecretBasic:
      // RFC 6749 §2.3.1: both parts form-encoded before base64.
      req.headers.emplace_back("Authorization",
                               "Basic " + base64Encode(urlEncode(request.client_id) + ":" +
                                                       urlEncode(request.client_secret.reveal())));
      break;
    case ClientAuth::kSecretPost:
      form.emplace_back("client_id", request.client_id);
      form.emplace_back("client_secret", request.client_secret.reveal());
      break;
    case ClientAuth::kNone:
      form.emplace_back("client_id", request.client_id);
      break;
  }
  req.body = formEncode(form);
  auto sent = http.send(req);
  if (!sent.ok()) return transportFailure(who, what, sent.error());
  const HttpResponse& resp = sent.value();
  auto body = parseJson(resp.body);
  if (body && body->is_object() && body->contains("error")) {
    return tokenEndpointError(who, stringMember(*body, "error"),
                              stringMember(*body, "error_description"));
  }
  if (resp.status != 200) return statusFailure(who, what, resp.status);
  if (!body || !body->is_object()) return malformedResponse(who, what);
  TokenResponse out;
  out.access_token = stringMember(*body, "access_token");
  out.refresh_token = stringMember(*body, "refresh_token");
  out.id_token = stringMember(*body, "id_token");
  out.scope = stringMember(*body, "scope");
  out.expires_in = seconds(*body, "expires_in");
  out.refresh_token_expires_in = seconds(*body, "refresh_token_expires_in");
  std::string type = stringMember(*body, "token_type");
  std::transform(type.begin(), type.end(), type.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (out.access_token.empty() || (!type.empty() && type != "bearer")) {
    return malformedResponse(who, what + " (no bearer access_token)");
  }
  return out;
}

Result<JsonResponse, OAuthError> getJson(HttpClient& http, const std::string& who,
                                         const std::string& what, const std::string& url,
                                         const Params& headers) {
  HttpRequest req;
  req.url = url;
  req.headers = headers;
  auto sent = http.send(req);
  if (!sent.ok()) return transportFailure(who, what, sent.error());
  const bool bearer = std::any_of(headers.begin(), headers.end(),
                                  [](const auto& h) { return h.first == "Authorization"; });
  if (sent->status == 401 && bearer) {
    return OAuthError{OAuthCode::kAccessDenied,
                      who + " no longer accepts this sign-in. Sign in again.",
                      what + ": HTTP 401 (token revoked or expired)"};
  }
  if (sent->status != 200) return statusFailure(who, what, sent->status);
  auto body = parseJson(sent->body);
  if (!body) return malformedResponse(who, what);
  return JsonResponse{std::move(*body), std::move(sent.value())};
}

}  // namespace broker::upstream::oauth_client
