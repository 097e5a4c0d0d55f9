#pragma once
// Outbound HTTP for the upstreams (GitHub, OIDC providers). An interface so tests can inject a
// fake; the libcurl implementation bounds every call (connect and total timeouts, response size),
// follows no redirect unless asked, speaks only http and https, and is safe to share across
// threads. Upstream calls run on worker threads, so a blocking call is fine there.

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "broker/core/result.h"

namespace broker::upstream {

struct HttpRequest {
  std::string method = "GET";
  std::string url;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  // 0 = the client's default.
  int64_t timeout_ms = 0;
  bool follow_redirects = false;
};

struct HttpResponse {
  long status = 0;
  std::multimap<std::string, std::string> headers;  // lower-case names, final response only
  std::string body;

  // First value of a header, or nullopt.
  std::optional<std::string> header(const std::string& lower_name) const;
};

struct HttpClientOptions {
  int64_t connect_timeout_ms = 5000;
  int64_t timeout_ms = 10000;
  size_t max_response_size = 1024 * 1024;
  std::string ca_file;  // empty = the system trust store
  std::string user_agent = "mcp-auth-broker";
};

class HttpClient {
 public:
  virtual ~HttpClient() = default;
  // Any HTTP status is a response. Errors: kUnavailable when the upstream could not be reached or
  // did not answer in time; kInvalidArgument for a malformed URL or an oversized response;
  // kInternal for TLS and other local failures.
  virtual Result<HttpResponse> send(const HttpRequest& request) = 0;

  static std::shared_ptr<HttpClient> create(const HttpClientOptions& options = {});
};

// The URL of the `rel="next"` link of an RFC 8288 Link header, or "" when there is none.
std::string nextLink(const std::string& link_header);

}  // namespace broker::upstream
