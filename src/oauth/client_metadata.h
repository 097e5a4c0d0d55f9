#pragma once
// OAuth Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document, the
// registration path the MCP authorization spec prefers): a client_id that is an HTTPS URL names a
// JSON document, served by the client, that describes it.

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>

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
  ClientMetadataResolver(ClientMetadataOptions options, Clock& clock, mcp_auth::HttpGet get = {});
  // Fetches (or takes from the cache) and validates the document. Blocks on the network: call it
  // on a worker thread, never on the reactor.
  Result<store::ClientRecord, OAuthError> resolve(const std::string& url);

 private:
  struct Entry {
    store::ClientRecord client;
    int64_t expires_at = 0;
  };
  Result<store::ClientRecord, OAuthError> fetch(const std::string& url, int64_t* ttl);

  const ClientMetadataOptions options_;
  Clock& clock_;
  mcp_auth::HttpGet get_;  // empty: libcurl with the SSRF guard
  std::mutex mu_;
  std::map<std::string, Entry> cache_;
};

}  // namespace broker::oauth
