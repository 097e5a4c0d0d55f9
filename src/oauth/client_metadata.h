#pragma once
// OAuth Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document, the
// registration path the MCP authorization spec prefers): a client_id that is an HTTPS URL names a
// JSON document, served by the client, that describes it.

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "broker/core/clock.h"
#include "broker/core/oauth_error.h"
#include "broker/core/result.h"
#include "broker/store/store.h"
#include "mcp_auth/verifier.h"

namespace broker::oauth {

struct ClientMetadataOptions {
  // Development and tests only (dev_mode): http:// documents and loopback addresses are allowed.
  bool allow_loopback = false;
  std::string ca_file;  // development and tests only: trust this CA for HTTPS documents
  long timeout_ms = 5000;
  size_t max_bytes = 5 * 1024;
  int64_t default_ttl = 300;  // when the response says nothing about caching
  int64_t max_ttl = 86400;
  size_t max_entries = 1000;
  // Name resolution gets this much of `timeout_ms` at most (getaddrinfo has no limit of its own).
  long resolve_timeout_ms = 2000;
  // Lookups running at once, those waited for and those given up on that have not returned yet;
  // beyond this a fetch fails at once instead of starting another thread.
  int max_lookups = 8;
  // Fetches run on a pool of their own: at most `fetch_threads` at once and `fetch_queue`
  // waiting; beyond that resolveAsync refuses, so a slow document server costs a bounded number
  // of threads and never the workers that serve the other endpoints.
  int fetch_threads = 4;
  size_t fetch_queue = 4;
  // A URL whose document could not be fetched or was invalid is not fetched again for this long.
  int64_t failure_ttl = 30;
  size_t max_failures = 1000;
  // Tests only: replaces getaddrinfo; answers the addresses of `host` (empty: does not resolve).
  std::function<std::vector<std::string>(const std::string& host, const std::string& port)> lookup;
};

// An address a document may be fetched from: not private (RFC 1918, fc00::/7), loopback,
// link-local (which holds the cloud metadata endpoints 169.254.169.254 and fd00:ec2::254 is in
// fc00::/7), CGNAT, unspecified, multicast, documentation or reserved; IPv4-mapped IPv6 is judged
// as its IPv4 address. IPv6 ranges that embed an IPv4 address a translator or relay would reach
// (IPv4-compatible ::/96, NAT64 64:ff9b::/32, Teredo 2001::/32, 6to4 2002::/16) are refused whole.
// Loopback is allowed when `allow_loopback`.
bool isFetchableAddress(const std::string& ip, bool allow_loopback);

// Whether `client_id` is meant as a metadata document URL (https://, or http:// on loopback when
// allowed). Any other client_id is an ordinary registered one.
bool isClientMetadataUrl(std::string_view client_id, bool allow_loopback);

// Checks a fetched document against the URL it came from and turns it into a public client:
// client_id equal to the URL, redirect_uris valid for registration, token_endpoint_auth_method
// "none" (or absent), no client_secret. Errors are invalid_client with a description that says
// what is wrong.
Result<store::ClientRecord, OAuthError> clientFromMetadataDocument(const std::string& url,
                                                                   std::string_view body);

class ClientMetadataResolver {
 public:
  using Resolved = Result<store::ClientRecord, OAuthError>;

  ClientMetadataResolver(ClientMetadataOptions options, Clock& clock, mcp_auth::HttpGet get = {});
  ~ClientMetadataResolver();
  ClientMetadataResolver(const ClientMetadataResolver&) = delete;
  ClientMetadataResolver& operator=(const ClientMetadataResolver&) = delete;

  // Without the network: a URL that is not a usable client_id, a document cached per its
  // Cache-Control, or a failure remembered for `failure_ttl`. Nothing when it must be fetched.
  std::optional<Resolved> cached(const std::string& url);
  // Fetches (or takes from the cache) and validates the document. Blocks on the network.
  Resolved resolve(const std::string& url);
  // resolve() on the resolver's own fetch threads; `done` runs there with the result. False, and
  // `done` is dropped without being called, when fetch_threads are busy and fetch_queue is full.
  [[nodiscard]] bool resolveAsync(const std::string& url, std::function<void(Resolved)> done);

 private:
  struct Entry {
    store::ClientRecord client;
    int64_t expires_at = 0;
  };
  struct Failure {
    OAuthError error;
    int64_t expires_at = 0;
  };
  Resolved fetch(const std::string& url, int64_t* ttl);
  Result<std::string, OAuthError> lookupAddresses(const std::string& host, const std::string& port,
                                                  long wait_ms);
  void remember(const std::string& url, const Resolved& result, int64_t ttl, int64_t now);

  const ClientMetadataOptions options_;
  Clock& clock_;
  mcp_auth::HttpGet get_;  // empty: libcurl with the SSRF guard
  std::mutex mu_;
  std::map<std::string, Entry> cache_;
  std::map<std::string, Failure> failures_;
  // Lookup threads not yet returned; shared with them, since one given up on outlives the wait.
  std::shared_ptr<std::atomic<int>> lookups_ = std::make_shared<std::atomic<int>>(0);
  struct FetchPool;
  std::unique_ptr<FetchPool> pool_;
};

}  // namespace broker::oauth
