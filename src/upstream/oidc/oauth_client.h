#pragma once
// The OAuth 2.0 client side shared by the GitHub and OpenID Connect upstreams: reading their
// settings, PKCE (RFC 7636), authorization error responses (RFC 6749 §4.1.2.1), the token request
// (RFC 6749 §4.1.3, §6) and the mapping of upstream failures onto the three errors the broker
// shows: access_denied, temporarily_unavailable and server_error.

#include <cstdint>
#include <functional>
#include <future>
#include <iterator>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "broker/config/config.h"
#include "broker/core/oauth_error.h"
#include "broker/core/random.h"
#include "broker/core/result.h"
#include "broker/core/secret.h"
#include "broker/upstream/http_client.h"

namespace broker::upstream::oauth_client {

using Params = std::vector<std::pair<std::string, std::string>>;

// Reads one upstream's settings_json. Every error names where the key or its value was written
// and the key ("broker.yaml:14:14: upstreams.github.timeout: ..."; the upstream's line when the
// key is missing). A key outside `keys` is refused at once, with the closest spelling among
// `keys` and the keys every upstream takes (type, enabled, display_name), so a misspelt key never
// silently falls back to a default.
class SettingsReader {
 public:
  SettingsReader(const config::UpstreamSettings& settings, std::vector<std::string> keys);

  std::string string(const std::string& key, const std::string& fallback = {});
  std::string requiredString(const std::string& key);
  bool boolean(const std::string& key, bool fallback);
  int64_t duration(const std::string& key, int64_t fallback);  // seconds
  // A YAML list of strings or one space-separated string.
  std::vector<std::string> words(const std::string& key, const std::vector<std::string>& fallback);
  std::map<std::string, std::string> stringMap(const std::string& key);
  // An absolute http(s) URL without fragment or userinfo; plain http only for a loopback host.
  // A trailing '/' is removed when `strip_slash`.
  std::string url(const std::string& key, const std::string& fallback, bool strip_slash);
  bool has(const std::string& key) const;
  // The client_secret, ca_file, timeout and membership_cache_ttl keys every OAuth upstream takes.
  Secret clientSecret(bool required);
  HttpClientOptions httpOptions();
  int64_t membershipCacheTtl(int64_t fallback);

  [[noreturn]] void fail(const std::string& key, const std::string& what) const;
  void finish() const;

 private:
  const nlohmann::json* find(const std::string& key);
  std::string scalarText(const std::string& key, const nlohmann::json& v) const;

  const config::UpstreamSettings& settings_;
  std::vector<std::string> keys_;
  nlohmann::json json_;
  std::set<std::string> read_;
};

struct Pkce {
  std::string verifier;
  std::string challenge;  // S256
};
Pkce makePkce(Random& random);

std::string formEncode(const Params& params);
std::string withQuery(const std::string& url, const Params& params);
// A JSON object or array, or nullopt for anything else (HTML error pages, truncated bodies).
std::optional<nlohmann::json> parseJson(const std::string& body);
// A string member, "" when absent or not a string.
std::string stringMember(const nlohmann::json& object, const char* key);

// `who` names the upstream in messages the user sees ("GitHub", "Example SSO").
OAuthError transportFailure(const std::string& who, const std::string& what, const Error& e);
// A response whose status is not what the call expects: 5xx and 429 are the upstream being down.
OAuthError statusFailure(const std::string& who, const std::string& what, long status);
OAuthError malformedResponse(const std::string& who, const std::string& what);
// The `error` parameter of an authorization response, when there is one.
std::optional<OAuthError> callbackError(const std::string& who,
                                        const std::map<std::string, std::string>& params);
// The `error` member of a token endpoint answer.
OAuthError tokenEndpointError(const std::string& who, const std::string& error,
                              const std::string& error_description);

enum class ClientAuth { kSecretBasic, kSecretPost, kNone };

struct TokenRequest {
  std::string url;
  Params form;  // grant-specific fields; client credentials are added per `auth`
  std::string client_id;
  Secret client_secret;
  ClientAuth auth = ClientAuth::kSecretPost;
};

struct TokenResponse {
  std::string access_token;
  std::string refresh_token;
  std::string id_token;
  std::string scope;
  int64_t expires_in = 0;                // 0 = does not expire
  int64_t refresh_token_expires_in = 0;  // 0 = unknown / does not expire
};

// POSTs the token request. Handles both shapes of failure: RFC 6749 §5.2 (400 + error JSON) and
// GitHub's (200 + error JSON).
Result<TokenResponse, OAuthError> requestToken(HttpClient& http, const std::string& who,
                                               const TokenRequest& request);

// GETs a JSON document. With an Authorization header, 401 is reported as access_denied (the
// upstream no longer accepts the token).
struct JsonResponse {
  nlohmann::json body;
  HttpResponse raw;
};
Result<JsonResponse, OAuthError> getJson(HttpClient& http, const std::string& who,
                                         const std::string& what, const std::string& url,
                                         const Params& headers);

// A small per-subject cache of re-read identities, so a burst of refreshes does not become a burst
// of upstream calls. Thread-safe; bounded.
template <class Value>
class TtlCache {
 public:
  explicit TtlCache(size_t max_entries = 10000) : max_(max_entries) {}
  std::optional<Value> get(const std::string& key, int64_t now) const {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = entries_.find(key);
    if (it == entries_.end() || it->second.first <= now) return std::nullopt;
    return it->second.second;
  }
  void put(const std::string& key, Value value, int64_t expires_at, int64_t now) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (entries_.size() >= max_) {
      for (auto it = entries_.begin(); it != entries_.end();) {
        it = it->second.first <= now ? entries_.erase(it) : std::next(it);
      }
      if (entries_.size() >= max_) entries_.clear();
    }
    entries_[key] = {expires_at, std::move(value)};
  }
  void erase(const std::string& key) {
    std::lock_guard<std::mutex> lock(mutex_);
    entries_.erase(key);
  }

 private:
  mutable std::mutex mutex_;
  size_t max_;
  std::map<std::string, std::pair<int64_t, Value>> entries_;
};

// Upstream refresh tokens are often single use (GitHub Apps, most OIDC providers rotate them). Two
// broker refreshes of one login can race (a client retrying on a slow network); the second must
// get what the first obtained instead of presenting a spent token and losing the login. Results
// that `keep` accepts are kept for two minutes by key (a hash of the refresh token); others go to
// the callers already waiting only.
template <class Value>
class SingleFlight {
 public:
  Value run(const std::string& key, int64_t now, const std::function<Value()>& fn,
            const std::function<bool(const Value&)>& keep) {
    std::promise<Value> promise;
    std::shared_future<Value> result;
    bool owner = false;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      for (auto it = flights_.begin(); it != flights_.end();) {
        it = now - it->second.started > kKeepSeconds ? flights_.erase(it) : std::next(it);
      }
      auto it = flights_.find(key);
      if (it != flights_.end()) {
        result = it->second.result;
      } else {
        result = promise.get_future().share();
        flights_.emplace(key, Flight{result, now});
        owner = true;
      }
    }
    if (owner) {
      Value value = fn();
      if (!keep(value)) {
        std::lock_guard<std::mutex> lock(mutex_);
        flights_.erase(key);
      }
      promise.set_value(std::move(value));
    }
    return result.get();
  }

 private:
  static constexpr int64_t kKeepSeconds = 120;
  struct Flight {
    std::shared_future<Value> result;
    int64_t started;
  };
  std::mutex mutex_;
  std::map<std::string, Flight> flights_;
};

}  // namespace broker::upstream::oauth_client
