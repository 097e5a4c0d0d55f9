// Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document §3, §4, §6) as the
// MCP authorization spec (2025-11-25, "Client ID Metadata Documents") uses them.
//
// Fetching a URL a stranger chose is a server-side request forgery risk, so: HTTPS only, no
// redirects, at most 5 KB within 5 s, and every address the name resolves to must be public. The
// addresses are checked before connecting (so nothing is sent to a refused one) and pinned for the
// transfer, and the connected peer is checked again before the request goes out, so a DNS answer
// that changes in between cannot reach an internal service.
//
// Fetching is also a way to tie up the server: a document server (or a name server) that answers
// slowly holds whatever thread waits for it. So fetches run on a few threads of their own with a
// short queue (beyond it /authorize is refused at once), name resolution has a time limit of its
// own, and a URL that failed is not fetched again for failure_ttl.

#include "client_metadata.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <sys/socket.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <system_error>
#include <thread>

#include "broker/core/log.h"
#include "broker/oauth/client_rules.h"
#include "broker/oauth/uri.h"
#include "http/worker_pool.h"

namespace broker::oauth {
namespace {

using nlohmann::json;

OAuthError invalidClient(std::string description, std::string debug = {}) {
  return {OAuthCode::kInvalidClient, std::move(description), std::move(debug)};
}

bool v4Fetchable(uint32_t a, bool allow_loopback) {
  auto in = [a](uint32_t net, int bits) {
    return bits == 0 || (a >> (32 - bits)) == (net >> (32 - bits));
  };
  if (in(0x7F000000, 8)) return allow_loopback;  // 127/8
  return !(in(0x00000000, 8) ||                  // "this network"
           in(0x0A000000, 8) ||                  // 10/8
           in(0x64400000, 10) ||                 // 100.64/10 CGNAT
           in(0xA9FE0000, 16) ||                 // 169.254/16 link-local, cloud metadata
           in(0xAC100000, 12) ||                 // 172.16/12
           in(0xC0000000, 24) ||                 // 192.0.0/24 IETF protocol assignments
           in(0xC0000200, 24) ||                 // 192.0.2/24 TEST-NET-1
           in(0xC0A80000, 16) ||                 // 192.168/16
           in(0xC6120000, 15) ||                 // 198.18/15 benchmarking
           in(0xC6336400, 24) ||                 // 198.51.100/24 TEST-NET-2
           in(0xCB007100, 24) ||                 // 203.0.113/24 TEST-NET-3
           in(0xE0000000, 4) ||                  // multicast
           in(0xF0000000, 4));                   // reserved, broadcast
}

// IPv6 ranges no document is fetched from (the IPv4-mapped range is judged as its IPv4 address
// before these apply). Several embed an IPv4 address that a relay or translator on the path would
// reach, so a public-looking IPv6 address could still land on a private IPv4 one.
struct V6Range {
  uint8_t prefix[16];
  int bits;
};
constexpr V6Range kRefusedV6[] = {
    {{0}, 96},                       // ::/96 IPv4-compatible (deprecated), with ::
    {{0xfc}, 7},                     // fc00::/7 unique local
    {{0xfe, 0x80}, 10},              // fe80::/10 link-local
    {{0xfe, 0xc0}, 10},              // fec0::/10 site-local (deprecated)
    {{0xff}, 8},                     // ff00::/8 multicast
    {{0x20, 0x01, 0x0d, 0xb8}, 32},  // 2001:db8::/32 documentation
    {{0x20, 0x01, 0x00, 0x00}, 32},  // 2001::/32 Teredo (embeds an IPv4 server)
    {{0x20, 0x02}, 16},              // 2002::/16 6to4 (embeds any IPv4 address)
    // NAT64: 64:ff9b::/96 and 64:ff9b:1::/48, and the rest of the /32, which is unallocated.
    {{0x00, 0x64, 0xff, 0x9b}, 32},
};

bool inV6Range(const uint8_t* b, const V6Range& r) {
  const int whole = r.bits / 8;
  if (std::memcmp(b, r.prefix, whole) != 0) return false;
  const int rest = r.bits % 8;
  if (rest == 0) return true;
  const uint8_t mask = static_cast<uint8_t>(0xff << (8 - rest));
  return (b[whole] & mask) == (r.prefix[whole] & mask);
}

}  // namespace

bool isFetchableAddress(const std::string& ip, bool allow_loopback) {
  in_addr v4{};
  if (inet_pton(AF_INET, ip.c_str(), &v4) == 1)
    return v4Fetchable(ntohl(v4.s_addr), allow_loopback);
  in6_addr v6{};
  if (inet_pton(AF_INET6, ip.c_str(), &v6) != 1) return false;
  const uint8_t* b = v6.s6_addr;
  static const uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (std::memcmp(b, kMapped, 12) == 0) {
    uint32_t a = (uint32_t(b[12]) << 24) | (uint32_t(b[13]) << 16) | (uint32_t(b[14]) << 8) | b[15];
    return v4Fetchable(a, allow_loopback);
  }
  if (IN6_IS_ADDR_LOOPBACK(&v6)) return allow_loopback;
  return std::none_of(std::begin(kRefusedV6), std::end(kRefusedV6),
                      [b](const V6Range& r) { return inV6Range(b, r); });
}

bool isClientMetadataUrl(std::string_view client_id, bool allow_loopback) {
  auto u = parseUri(client_id);
  if (!u || !u->has_authority || u->host.empty()) return false;
  if (u->scheme == "https") return true;
  return allow_loopback && u->scheme == "http" && isLoopbackHost(u->host);
}

Result<store::ClientRecord, OAuthError> clientFromMetadataDocument(const std::string& url,
                                                                   std::string_view body) {
  auto doc = json::parse(body.begin(), body.end(), nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) {
    return invalidClient("the client metadata document is not a JSON object");
  }
  auto cid = doc.find("client_id");
  if (cid == doc.end() || !cid->is_string() || cid->get<std::string>() != url) {
    return invalidClient("the client metadata document does not name itself as client_id");
  }
  if (doc.contains("client_secret") || doc.contains("client_secret_expires_at")) {
    return invalidClient("a client metadata document must not carry a client secret");
  }
  if (auto m = doc.find("token_endpoint_auth_method"); m != doc.end()) {
    if (!m->is_string() || m->get<std::string>() != "none") {
      return invalidClient("token_endpoint_auth_method must be \"none\" for a metadata document");
    }
  }
  auto redirects = doc.find("redirect_uris");
  if (redirects == doc.end() || !redirects->is_array() || redirects->empty()) {
    return invalidClient("the client metadata document has no redirect_uris");
  }
  store::ClientRecord c;
  for (const auto& r : *redirects) {
    if (!r.is_string()) return invalidClient("redirect_uris must be strings");
    auto check = checkRedirectUri(r.get<std::string>());
    if (check != RedirectCheck::kOk) {
      return invalidClient(std::string("redirect_uri is not allowed: ") + describe(check));
    }
    c.redirect_uris.push_back(r.get<std::string>());
  }
  c.grant_types = defaultGrantTypes();
  if (auto g = doc.find("grant_types"); g != doc.end()) {
    if (!g->is_array()) return invalidClient("grant_types must be an array");
    c.grant_types.clear();
    for (const auto& v : *g) {
      if (!v.is_string()) return invalidClient("grant_types must be strings");
      const std::string grant = v.get<std::string>();
      if (grant == "authorization_code" || grant == "refresh_token") c.grant_types.push_back(grant);
    }
  }
  if (auto n = doc.find("client_name"); n != doc.end() && n->is_string()) {
    c.client_name = n->get<std::string>().substr(0, 200);
  }
  c.client_id = url;
  c.token_endpoint_auth_method = "none";
  json echoed = {{"client_id", url},
                 {"redirect_uris", c.redirect_uris},
                 {"grant_types", c.grant_types},
                 {"token_endpoint_auth_method", "none"},
                 {"client_name", c.client_name},
                 {"client_id_metadata_document", true}};
  c.metadata_json = echoed.dump(-1, ' ', false, json::error_handler_t::replace);
  return c;
}

// The fetch threads. Held by pointer so the header does not need the pool's.
struct ClientMetadataResolver::FetchPool {
  explicit FetchPool(const ClientMetadataOptions& o) : pool(o.fetch_threads, o.fetch_queue) {}
  http::WorkerPool pool;
};

ClientMetadataResolver::ClientMetadataResolver(ClientMetadataOptions options, Clock& clock,
                                               mcp_auth::HttpGet get)
    : options_(std::move(options)),
      clock_(clock),
      get_(std::move(get)),
      pool_(std::make_unique<FetchPool>(options_)) {}

ClientMetadataResolver::~ClientMetadataResolver() {
  // Fetches are bounded by timeout_ms: wait for them rather than leave a thread inside `this`.
  pool_->pool.shutdown(http::WorkerPool::Clock::now() +
                       std::chrono::milliseconds(options_.timeout_ms + 1000));
}

namespace {

// One getaddrinfo call, shared by the thread that makes it and the fetch that waits for it.
struct LookupCall {
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  std::vector<std::string> addresses;  // numeric, IPv6 in brackets
};

std::vector<std::string> systemLookup(const std::string& host, const std::string& port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  std::vector<std::string> out;
  if (getaddrinfo(host.c_str(), port.c_str(), &hints, &found) != 0 || !found) return out;
  for (addrinfo* ai = found; ai; ai = ai->ai_next) {
    char ip[INET6_ADDRSTRLEN] = {0};
    const void* addr =
        ai->ai_family == AF_INET
            ? static_cast<const void*>(&reinterpret_cast<sockaddr_in*>(ai->ai_addr)->sin_addr)
            : static_cast<const void*>(&reinterpret_cast<sockaddr_in6*>(ai->ai_addr)->sin6_addr);
    if (inet_ntop(ai->ai_family, addr, ip, sizeof(ip))) out.emplace_back(ip);
  }
  freeaddrinfo(found);
  return out;
}

}  // namespace

// getaddrinfo has no time limit of its own, and curl's (CURLOPT_CONNECTTIMEOUT, which covers
// resolution with the threaded resolver Debian's libcurl is built with) never applies: the name
// is resolved here, so every address can be checked before anything connects, and curl gets the
// checked addresses pinned. So the lookup runs on a thread of its own and is waited for at most
// `wait_ms`; one that takes longer is abandoned (its thread finishes on its own and frees only
// what it shares with us). `max_lookups` bounds such threads, waited for or abandoned.
Result<std::string, OAuthError> ClientMetadataResolver::lookupAddresses(const std::string& host,
                                                                        const std::string& port,
                                                                        long wait_ms) {
  if (lookups_->fetch_add(1) >= options_.max_lookups) {
    lookups_->fetch_sub(1);
    return OAuthError{OAuthCode::kTemporarilyUnavailable,
                      "too many client metadata lookups are pending; try again shortly"};
  }
  auto call = std::make_shared<LookupCall>();
  auto lookup = options_.lookup ? options_.lookup : systemLookup;
  try {
    std::thread([call, lookup, host, port, counter = lookups_] {
      auto addresses = lookup(host, port);
      {
        std::lock_guard<std::mutex> lock(call->mu);
        call->addresses = std::move(addresses);
        call->done = true;
      }
      call->cv.notify_all();
      counter->fetch_sub(1);
    }).detach();
  } catch (const std::system_error& e) {
    lookups_->fetch_sub(1);
    return OAuthError{OAuthCode::kTemporarilyUnavailable, "cannot resolve the client_id host now",
                      e.what()};
  }
  std::unique_lock<std::mutex> lock(call->mu);
  if (!call->cv.wait_for(lock, std::chrono::milliseconds(wait_ms), [&] { return call->done; })) {
    log::warn("client_metadata_lookup_timeout", {{"host", host}});
    return invalidClient("the client_id host did not resolve within " + std::to_string(wait_ms) +
                         " ms");
  }
  if (call->addresses.empty()) return invalidClient("the client_id host does not resolve");
  std::string pinned;
  bool refused = false;
  for (const auto& ip : call->addresses) {
    if (!isFetchableAddress(ip, options_.allow_loopback)) refused = true;
    const std::string entry = ip.find(':') != std::string::npos ? "[" + ip + "]" : ip;
    if (pinned.find(entry) == std::string::npos) pinned += (pinned.empty() ? "" : ",") + entry;
  }
  // One refused address refuses the name: curl might pick any of them.
  if (refused) {
    log::security("client_metadata_address_refused", {{"host", host}});
    return invalidClient("the client_id host is not a public address");
  }
  return pinned;
}

Result<store::ClientRecord, OAuthError> ClientMetadataResolver::fetch(const std::string& url,
                                                                      int64_t* ttl) {
  auto u = parseUri(url);
  mcp_auth::HttpResponse response;
  if (get_) {
    response = get_(url);
  } else {
    using Steady = std::chrono::steady_clock;
    const auto start = Steady::now();
    const std::string port = !u->port.empty() ? u->port : (u->scheme == "https" ? "443" : "80");
    auto pinned =
        lookupAddresses(u->host, port, std::min(options_.resolve_timeout_ms, options_.timeout_ms));
    if (!pinned.ok()) return pinned.error();
    const long spent =
        std::chrono::duration_cast<std::chrono::milliseconds>(Steady::now() - start).count();
    mcp_auth::HttpGetOptions o;
    // One budget for the whole fetch, resolution included.
    o.timeout_ms = std::max(1L, options_.timeout_ms - spent);
    o.max_bytes = options_.max_bytes;
    o.allow_http = options_.allow_loopback;
    o.ca_file = options_.ca_file;
    o.headers = {"Accept: application/json"};
    o.resolve = {u->host + ":" + port + ":" + *pinned};
    const bool allow_loopback = options_.allow_loopback;
    o.allow_address = [allow_loopback](const std::string& ip) {
      return isFetchableAddress(ip, allow_loopback);
    };
    response = mcp_auth::curlHttpGet(o)(url);
  }
  if (!response.ok) {
    return invalidClient("the client metadata document could not be fetched", response.error);
  }
  if (response.status != 200) {
    // 3xx included: redirects are not followed (a document must be served at its own URL).
    return invalidClient("the client metadata document answered HTTP " +
                         std::to_string(response.status));
  }
  if (response.body.size() > options_.max_bytes) {
    return invalidClient("the client metadata document is larger than 5 KB");
  }
  auto client = clientFromMetadataDocument(url, response.body);
  if (!client.ok()) return client;
  int64_t t = response.max_age >= 0 ? response.max_age : options_.default_ttl;
  if (response.no_store) t = 0;
  *ttl = std::clamp<int64_t>(t, 0, options_.max_ttl);
  return client;
}

namespace {

// What can be said of a client_id URL without fetching it.
std::optional<OAuthError> urlProblem(const std::string& url, bool allow_loopback) {
  auto u = parseUri(url);
  if (!u || !isClientMetadataUrl(url, allow_loopback)) {
    return invalidClient("client_id is not an https URL");
  }
  if (u->has_fragment || u->has_userinfo || !u->userinfo.empty()) {
    return invalidClient("a client_id URL must not have a fragment or userinfo");
  }
  // The draft requires a path: the bare origin names a site, not a client.
  if (u->path.empty() || u->path == "/") return invalidClient("a client_id URL needs a path");
  return std::nullopt;
}

}  // namespace

std::optional<ClientMetadataResolver::Resolved> ClientMetadataResolver::cached(
    const std::string& url) {
  if (auto problem = urlProblem(url, options_.allow_loopback)) return Resolved(*problem);
  const int64_t now = clock_.now();
  std::lock_guard<std::mutex> lock(mu_);
  if (auto it = cache_.find(url); it != cache_.end() && now < it->second.expires_at) {
    return Resolved(it->second.client);
  }
  if (auto it = failures_.find(url); it != failures_.end() && now < it->second.expires_at) {
    return Resolved(it->second.error);
  }
  return std::nullopt;
}

void ClientMetadataResolver::remember(const std::string& url, const Resolved& result, int64_t ttl,
                                      int64_t now) {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto it = cache_.begin(); it != cache_.end();) {
    it = it->second.expires_at <= now ? cache_.erase(it) : std::next(it);
  }
  for (auto it = failures_.begin(); it != failures_.end();) {
    it = it->second.expires_at <= now ? failures_.erase(it) : std::next(it);
  }
  if (result.ok()) {
    failures_.erase(url);
    if (ttl > 0 && cache_.size() < options_.max_entries) {
      cache_[url] = Entry{*result, now + ttl};
    }
    return;
  }
  // Too busy to look is not an answer about this URL.
  if (result.error().code == OAuthCode::kTemporarilyUnavailable || options_.failure_ttl <= 0) {
    return;
  }
  if (failures_.size() >= options_.max_failures && !failures_.count(url)) {
    // Full of live failures: the one closest to expiry makes room.
    failures_.erase(std::min_element(
        failures_.begin(), failures_.end(),
        [](const auto& a, const auto& b) { return a.second.expires_at < b.second.expires_at; }));
  }
  failures_[url] = Failure{result.error(), now + options_.failure_ttl};
}

ClientMetadataResolver::Resolved ClientMetadataResolver::resolve(const std::string& url) {
  if (auto known = cached(url)) return std::move(*known);
  const int64_t now = clock_.now();
  int64_t ttl = 0;
  auto client = fetch(url, &ttl);
  if (!client.ok()) {
    log::info("client_metadata_refused",
              {{"client_id", url}, {"description", client.error().description}});
  }
  remember(url, client, ttl, now);
  return client;
}

bool ClientMetadataResolver::resolveAsync(const std::string& url,
                                          std::function<void(Resolved)> done) {
  // Several requests may queue for one URL: the later ones find the first one's answer cached.
  return pool_->pool.tryPost([this, url, done = std::move(done)] { done(resolve(url)); });
}

}  // namespace broker::oauth
