// JWKS retrieval and caching for resource servers (RFC 7517 §5, RFC 8414 §2 jwks_uri), with the
// HTTP caching rule of RFC 9111 §5.2.2.1 (max-age) bounded on both sides.

#include <curl/curl.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <mutex>

#include "mcp_auth/verifier.h"

namespace mcp_auth {
namespace {

struct CurlFree {
  void operator()(CURL* c) const { curl_easy_cleanup(c); }
};

struct SlistFree {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};

// A curl list of `items` (as far as memory allows: a failed append keeps what is there).
std::unique_ptr<curl_slist, SlistFree> slistOf(const std::vector<std::string>& items) {
  std::unique_ptr<curl_slist, SlistFree> list;
  for (const auto& item : items) {
    curl_slist* next = curl_slist_append(list.get(), item.c_str());
    if (!next) break;
    list.release();
    list.reset(next);
  }
  return list;
}

struct Sink {
  const HttpGetOptions* options = nullptr;
  bool address_refused = false;
  std::string body;
  size_t max_bytes = 0;
  bool too_large = false;
  std::string cache_control;
};

size_t onBody(char* data, size_t size, size_t n, void* user) {
  auto* sink = static_cast<Sink*>(user);
  const size_t len = size * n;
  if (sink->body.size() + len > sink->max_bytes) {
    sink->too_large = true;
    return 0;  // aborts the transfer
  }
  sink->body.append(data, len);
  return len;
}

size_t onHeader(char* data, size_t size, size_t n, void* user) {
  auto* sink = static_cast<Sink*>(user);
  std::string_view line(data, size * n);
  constexpr std::string_view kName = "cache-control:";
  if (line.size() > kName.size()) {
    std::string lowered;
    for (char c : line.substr(0, kName.size())) lowered += char(std::tolower((unsigned char)c));
    if (lowered == kName) {
      std::string_view value = line.substr(kName.size());
      while (!value.empty() && (value.back() == '\r' || value.back() == '\n')) {
        value.remove_suffix(1);
      }
      if (!sink->cache_control.empty()) sink->cache_control += ',';
      sink->cache_control += value;
    }
  }
  return size * n;
}

int onConnected(void* user, char* peer_ip, char*, int, int) {
  auto* sink = static_cast<Sink*>(user);
  if (sink->options->allow_address && !sink->options->allow_address(peer_ip ? peer_ip : "")) {
    sink->address_refused = true;
    return CURL_PREREQFUNC_ABORT;
  }
  return CURL_PREREQFUNC_OK;
}

std::once_flag g_curl_init;

}  // namespace

int64_t systemNow() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

int64_t parseMaxAge(std::string_view cc, bool* no_store) {
  int64_t max_age = -1;
  if (no_store) *no_store = false;
  size_t pos = 0;
  while (pos <= cc.size()) {
    size_t comma = cc.find(',', pos);
    std::string_view part = cc.substr(pos, comma == std::string_view::npos ? cc.npos : comma - pos);
    pos = comma == std::string_view::npos ? cc.size() + 1 : comma + 1;
    while (!part.empty() && (part.front() == ' ' || part.front() == '\t')) part.remove_prefix(1);
    while (!part.empty() && (part.back() == ' ' || part.back() == '\t')) part.remove_suffix(1);
    std::string d;
    for (char c : part) d += char(std::tolower((unsigned char)c));
    if (d == "no-store" || d == "no-cache") {
      if (no_store) *no_store = true;
      continue;
    }
    for (std::string_view name : {std::string_view("s-maxage="), std::string_view("max-age=")}) {
      if (d.compare(0, name.size(), name) != 0) continue;
      std::string_view digits = std::string_view(d).substr(name.size());
      if (digits.size() >= 2 && digits.front() == '"' && digits.back() == '"') {
        digits = digits.substr(1, digits.size() - 2);
      }
      if (digits.empty() || digits.size() > 12) break;
      int64_t v = 0;
      bool ok = true;
      for (char c : digits) {
        if (c < '0' || c > '9') ok = false;
        v = v * 10 + (c - '0');
      }
      // s-maxage is listed first and wins for shared caches; keep the first one seen.
      if (ok && max_age < 0) max_age = v;
      break;
    }
  }
  return max_age;
}

HttpGet curlHttpGet(HttpGetOptions options) {
  std::call_once(g_curl_init, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  return [options](const std::string& url) {
    HttpResponse out;
    std::unique_ptr<CURL, CurlFree> curl(curl_easy_init());
    if (!curl) {
      out.error = "curl_easy_init failed";
      return out;
    }
    Sink sink;
    sink.options = &options;
    sink.max_bytes = options.max_bytes;
    auto headers = slistOf(options.headers);
    auto pinned = slistOf(options.resolve);
    CURL* c = curl.get();
    if (pinned) curl_easy_setopt(c, CURLOPT_RESOLVE, pinned.get());
    if (!options.ca_file.empty()) curl_easy_setopt(c, CURLOPT_CAINFO, options.ca_file.c_str());
    curl_easy_setopt(c, CURLOPT_URL, url.c_str());
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, options.allow_http ? "https,http" : "https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_PROXY, "");
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, options.timeout_ms);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, options.timeout_ms);
    curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, static_cast<curl_off_t>(options.max_bytes));
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, onBody);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &sink);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, onHeader);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &sink);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());
    curl_easy_setopt(c, CURLOPT_PREREQFUNCTION, onConnected);
    curl_easy_setopt(c, CURLOPT_PREREQDATA, &sink);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "mcp-auth-verifier/1");
    CURLcode rc = curl_easy_perform(c);
    if (rc != CURLE_OK) {
      out.address_refused = sink.address_refused;
      out.error = sink.address_refused ? "address refused"
                  : sink.too_large     ? "response too large"
                                       : curl_easy_strerror(rc);
      return out;
    }
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out.status);
    out.ok = true;
    out.body = std::move(sink.body);
    out.max_age = parseMaxAge(sink.cache_control, &out.no_store);
    return out;
  };
}

std::optional<std::vector<JwksKey>> parseJwks(std::string_view text) {
  auto doc = detail::parseJsonObject(text);
  if (!doc) return std::nullopt;
  auto keys = doc->find("keys");
  if (keys == doc->end() || !keys->is_array()) return std::nullopt;
  std::vector<JwksKey> out;
  auto str = [](const nlohmann::json& k, const char* name) -> std::optional<std::string> {
    auto it = k.find(name);
    if (it == k.end() || !it->is_string()) return std::nullopt;
    return it->get<std::string>();
  };
  for (const auto& k : *keys) {
    if (!k.is_object()) continue;
    auto kty = str(k, "kty"), kid = str(k, "kid");
    if (!kty || (*kty != "RSA" && *kty != "EC") || !kid || kid->empty()) continue;
    const char* alg = *kty == "RSA" ? kRs256 : kEs256;
    if (k.contains("use") && str(k, "use") != std::optional<std::string>("sig")) continue;
    if (k.contains("alg") && str(k, "alg") != std::optional<std::string>(alg)) continue;
    // Two keys with one kid would make the choice of key depend on the order of the document.
    if (std::any_of(out.begin(), out.end(),
                    [&](const JwksKey& have) { return have.kid == *kid; })) {
      continue;
    }
    std::shared_ptr<const PublicKey> key;
    if (*kty == "RSA") {
      auto n = str(k, "n"), e = str(k, "e");
      if (n && e) key = PublicKey::fromJwk(*n, *e);
    } else {
      auto crv = str(k, "crv"), x = str(k, "x"), y = str(k, "y");
      if (crv && x && y) key = PublicKey::fromEcJwk(*crv, *x, *y);
    }
    if (key) out.push_back({*kid, std::move(key)});
  }
  return out;
}

namespace {

class JwksCacheImpl final : public JwksCache {
 public:
  JwksCacheImpl(JwksOptions options, HttpGet get, NowFn now)
      : options_(std::move(options)), get_(std::move(get)), now_(std::move(now)) {}

  std::shared_ptr<const PublicKey> key(const std::string& kid) override {
    const int64_t now = now_();
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = keys_.find(kid);
      const bool known = it != keys_.end();
      const bool stale = !loaded_ || now >= expires_at_;
      if (known && !stale) return it->second;
      // A stale or missing key set, or an unknown kid: fetch, but never more often than
      // min_refetch_interval, and never twice at once. Meanwhile the cached (possibly stale)
      // keys are served.
      const bool rate_ok =
          last_attempt_ == kNever || now - last_attempt_ >= options_.min_refetch_interval;
      if (fetching_ || !rate_ok) return known ? it->second : nullptr;
      fetching_ = true;
      last_attempt_ = now;
      ++fetches_;
    }
    refreshFromNetwork(now);
    std::lock_guard<std::mutex> lock(mu_);
    auto it = keys_.find(kid);
    return it != keys_.end() ? it->second : nullptr;
  }

  uint64_t fetchCount() const override {
    std::lock_guard<std::mutex> lock(mu_);
    return fetches_;
  }

 private:
  static constexpr int64_t kNever = INT64_MIN;

  void refreshFromNetwork(int64_t now) {
    HttpResponse response;
    try {
      response = get_(options_.jwks_uri);
    } catch (...) {
      // A fetcher that throws must not leave fetching_ set forever.
      response = HttpResponse{};
    }
    std::optional<std::vector<JwksKey>> parsed;
    if (response.ok && response.status == 200) parsed = parseJwks(response.body);
    std::lock_guard<std::mutex> lock(mu_);
    fetching_ = false;
    if (!parsed) return;  // keep what we had; the next attempt is rate-limited
    keys_.clear();
    for (auto& k : *parsed) keys_.emplace(k.kid, std::move(k.key));
    int64_t ttl = response.max_age >= 0 ? response.max_age : options_.default_ttl;
    if (response.no_store) ttl = options_.min_ttl;
    ttl = std::clamp(ttl, options_.min_ttl, options_.max_ttl);
    expires_at_ = now + ttl;
    loaded_ = true;
  }

  const JwksOptions options_;
  const HttpGet get_;
  const NowFn now_;
  mutable std::mutex mu_;
  std::map<std::string, std::shared_ptr<const PublicKey>> keys_;
  bool loaded_ = false;
  bool fetching_ = false;
  int64_t expires_at_ = 0;
  int64_t last_attempt_ = kNever;
  uint64_t fetches_ = 0;
};

}  // namespace

std::shared_ptr<JwksCache> JwksCache::create(JwksOptions options, HttpGet get, NowFn now) {
  if (!get) get = curlHttpGet();
  if (!now) now = systemNow;
  return std::make_shared<JwksCacheImpl>(std::move(options), std::move(get), std::move(now));
}

}  // namespace mcp_auth
