// Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document §3, §4, §6) as the
// MCP authorization spec (2025-11-25, "Client ID Metadata Documents") uses them.
//
// Fetching a URL a stranger chose is a server-side request forgery risk, so: HTTPS only, no
// redirects, at most 5 KB within 5 s, and every address the name resolves to must be public. The
// addresses are checked before connecting (so nothing is sent to a refused one) and pinned for the
// transfer, and the connected peer is checked again before the request goes out, so a DNS answer
// that changes in between cannot reach an internal service.

#include "client_metadata.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstring>

#include "broker/core/log.h"
#include "broker/oauth/client_rules.h"
#include "broker/oauth/uri.h"

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
  if (IN6_IS_ADDR_UNSPECIFIED(&v6)) return false;
  if ((b[0] & 0xfe) == 0xfc) return false;                  // fc00::/7 unique local
  if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80) return false;  // fe80::/10 link-local
  if (b[0] == 0xfe && (b[1] & 0xc0) == 0xc0) return false;  // fec0::/10 site-local
  if (b[0] == 0xff) return false;                           // multicast
  if (b[0] == 0x20 && b[1] == 0x01 && b[2] == 0x0d && b[3] == 0xb8) return false;  // 2001:db8::/32
  if (b[0] == 0x00 && b[1] == 0x64 && b[2] == 0xff && b[3] == 0x9b) return false;  // NAT64
  if (b[0] == 0x20 && b[1] == 0x02) return false;  // 6to4 can embed any IPv4 address
  return true;
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

ClientMetadataResolver::ClientMetadataResolver(ClientMetadataOptions options, Clock& clock,
                                               mcp_auth::HttpGet get)
    : options_(options), clock_(clock), get_(std::move(get)) {}

Result<store::ClientRecord, OAuthError> ClientMetadataResolver::fetch(const std::string& url,
                                                                      int64_t* ttl) {
  auto u = parseUri(url);
  if (!u || !isClientMetadataUrl(url, options_.allow_loopback)) {
    return invalidClient("client_id is not an https URL");
  }
  if (u->has_fragment || u->has_userinfo || !u->userinfo.empty()) {
    return invalidClient("a client_id URL must not have a fragment or userinfo");
  }
  // The draft requires a path: the bare origin names a site, not a client.
  if (u->path.empty() || u->path == "/") return invalidClient("a client_id URL needs a path");

  mcp_auth::HttpResponse response;
  if (get_) {
    response = get_(url);
  } else {
    const std::string port = !u->port.empty() ? u->port : (u->scheme == "https" ? "443" : "80");
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* found = nullptr;
    if (getaddrinfo(u->host.c_str(), port.c_str(), &hints, &found) != 0 || !found) {
      return invalidClient("the client_id host does not resolve");
    }
    std::string pinned;
    bool refused = false;
    for (addrinfo* ai = found; ai; ai = ai->ai_next) {
      char ip[INET6_ADDRSTRLEN] = {0};
      const void* addr =
          ai->ai_family == AF_INET
              ? static_cast<const void*>(&reinterpret_cast<sockaddr_in*>(ai->ai_addr)->sin_addr)
              : static_cast<const void*>(&reinterpret_cast<sockaddr_in6*>(ai->ai_addr)->sin6_addr);
      if (!inet_ntop(ai->ai_family, addr, ip, sizeof(ip))) continue;
      if (!isFetchableAddress(ip, options_.allow_loopback)) refused = true;
      std::string entry = ai->ai_family == AF_INET6 ? "[" + std::string(ip) + "]" : ip;
      if (pinned.find(entry) == std::string::npos) pinned += (pinned.empty() ? "" : ",") + entry;
    }
    freeaddrinfo(found);
    // One refused address refuses the name: curl might pick any of them.
    if (refused || pinned.empty()) {
      log::security("client_metadata_address_refused", {{"host", u->host}});
      return invalidClient("the client_id host is not a public address");
    }
    mcp_auth::HttpGetOptions o;
    o.timeout_ms = options_.timeout_ms;
    o.max_bytes = options_.max_bytes;
    o.allow_http = options_.allow_loopback;
    o.ca_file = options_.ca_file;
    o.headers = {"Accept: application/json"};
    o.resolve = {u->host + ":" + port + ":" + pinned};
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

Result<store::ClientRecord, OAuthError> ClientMetadataResolver::resolve(const std::string& url) {
  const int64_t now = clock_.now();
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = cache_.find(url);
    if (it != cache_.end() && now < it->second.expires_at) return it->second.client;
  }
  int64_t ttl = 0;
  auto client = fetch(url, &ttl);
  if (!client.ok()) {
    log::info("client_metadata_refused",
              {{"client_id", url}, {"description", client.error().description}});
    return client;
  }
  std::lock_guard<std::mutex> lock(mu_);
  for (auto it = cache_.begin(); it != cache_.end();) {
    it = it->second.expires_at <= now ? cache_.erase(it) : std::next(it);
  }
  if (ttl > 0 && cache_.size() < options_.max_entries) {
    cache_[url] = Entry{*client, now + ttl};
  }
  return client;
}

}  // namespace broker::oauth
