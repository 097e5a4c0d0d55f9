// libcurl implementation of upstream::HttpClient, and RFC 8288 Link header parsing for paginated
// upstream APIs. One easy handle per call keeps the client thread-safe without locks; upstream
// calls are rare (a few per login or refresh) so connection reuse is not worth shared state.

#include "broker/upstream/http_client.h"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <mutex>

namespace broker::upstream {
namespace {

void globalInit() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

std::string trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return {};
  size_t e = s.find_last_not_of(" \t\r\n");
  return s.substr(b, e - b + 1);
}

struct Transfer {
  HttpResponse response;
  size_t limit = 0;
  bool too_large = false;
};

size_t onBody(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  size_t bytes = size * n;
  if (t->response.body.size() + bytes > t->limit) {
    t->too_large = true;
    return 0;  // makes curl abort with CURLE_WRITE_ERROR
  }
  t->response.body.append(data, bytes);
  return bytes;
}

size_t onHeader(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  std::string line(data, size * n);
  // A new status line starts another response (1xx, or a followed redirect): keep only the last.
  if (line.rfind("HTTP/", 0) == 0) {
    t->response.headers.clear();
    return size * n;
  }
  auto colon = line.find(':');
  if (colon != std::string::npos) {
    t->response.headers.emplace(lower(trim(line.substr(0, colon))), trim(line.substr(colon + 1)));
  }
  return size * n;
}

struct EasyDeleter {
  void operator()(CURL* c) const { curl_easy_cleanup(c); }
};
struct SlistDeleter {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};

class CurlHttpClient final : public HttpClient {
 public:
  explicit CurlHttpClient(HttpClientOptions options) : options_(std::move(options)) {
    globalInit();
  }

  Result<HttpResponse> send(const HttpRequest& request) override {
    std::unique_ptr<CURL, EasyDeleter> curl(curl_easy_init());
    if (!curl) return Error::internal("curl_easy_init failed");
    CURL* c = curl.get();
    Transfer transfer;
    transfer.limit = options_.max_response_size;

    std::unique_ptr<curl_slist, SlistDeleter> headers;
    for (const auto& [name, value] : request.headers) {
      std::string line = name + ": " + value;
      curl_slist* next = curl_slist_append(headers.get(), line.c_str());
      if (!next) return Error::internal("curl_slist_append failed");
      (void)headers.release();
      headers.reset(next);
    }
    // curl would otherwise send "Expect: 100-continue" for larger bodies and wait for an answer
    // some servers never give.
    if (!request.body.empty()) {
      curl_slist* next = curl_slist_append(headers.get(), "Expect:");
      if (!next) return Error::internal("curl_slist_append failed");
      (void)headers.release();
      headers.reset(next);
    }

    const int64_t total = request.timeout_ms > 0 ? request.timeout_ms : options_.timeout_ms;
    curl_easy_setopt(c, CURLOPT_URL, request.url.c_str());
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);  // signals are process-wide; timeouts use threads
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(options_.connect_timeout_ms));
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(total));
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, request.follow_redirects ? 1L : 0L);
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, 5L);
    curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE,
                     static_cast<curl_off_t>(options_.max_response_size));
    curl_easy_setopt(c, CURLOPT_USERAGENT, options_.user_agent.c_str());
    curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "");  // whatever this libcurl can decode
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
    if (!options_.ca_file.empty()) curl_easy_setopt(c, CURLOPT_CAINFO, options_.ca_file.c_str());
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, onBody);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &transfer);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, onHeader);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &transfer);
    if (request.method == "GET") {
      curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
    } else {
      if (request.method != "POST") {
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, request.method.c_str());
      }
      curl_easy_setopt(c, CURLOPT_POST, 1L);
      curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE,
                       static_cast<curl_off_t>(request.body.size()));
      curl_easy_setopt(c, CURLOPT_POSTFIELDS, request.body.data());
    }

    CURLcode rc = curl_easy_perform(c);
    if (transfer.too_large || rc == CURLE_FILESIZE_EXCEEDED) {
      return Error::invalid("response larger than " + std::to_string(options_.max_response_size) +
                            " bytes from " + hostOf(request.url));
    }
    if (rc != CURLE_OK) {
      std::string what = std::string(curl_easy_strerror(rc)) + " (" + hostOf(request.url) + ")";
      switch (rc) {
        case CURLE_URL_MALFORMAT:
        case CURLE_UNSUPPORTED_PROTOCOL:
          return Error::invalid(what);
        case CURLE_COULDNT_RESOLVE_HOST:
        case CURLE_COULDNT_RESOLVE_PROXY:
        case CURLE_COULDNT_CONNECT:
        case CURLE_OPERATION_TIMEDOUT:
        case CURLE_SEND_ERROR:
        case CURLE_RECV_ERROR:
        case CURLE_GOT_NOTHING:
        case CURLE_PARTIAL_FILE:
        case CURLE_HTTP2:
        case CURLE_HTTP2_STREAM:
          return Error::unavailable(what);
        default:
          return Error::internal(what);
      }
    }
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &transfer.response.status);
    return std::move(transfer.response);
  }

 private:
  // For error messages: never the query string, which may carry a code or token.
  static std::string hostOf(const std::string& url) {
    auto scheme = url.find("://");
    size_t start = scheme == std::string::npos ? 0 : scheme + 3;
    size_t end = url.find_first_of("/?#", start);
    return url.substr(0, end == std::string::npos ? url.size() : end);
  }

  HttpClientOptions options_;
};

}  // namespace

std::optional<std::string> HttpResponse::header(const std::string& lower_name) const {
  auto it = headers.find(lower_name);
  if (it == headers.end()) return std::nullopt;
  return it->second;
}

std::shared_ptr<HttpClient> HttpClient::create(const HttpClientOptions& options) {
  return std::make_shared<CurlHttpClient>(options);
}

std::string nextLink(const std::string& link_header) {
  // Link: <url>; rel="next", <url>; rel="last"   (a URL cannot contain an unescaped '>')
  size_t pos = 0;
  while (true) {
    size_t open = link_header.find('<', pos);
    if (open == std::string::npos) return {};
    size_t close = link_header.find('>', open);
    if (close == std::string::npos) return {};
    size_t end = link_header.find('<', close);
    std::string params = link_header.substr(
        close + 1, end == std::string::npos ? std::string::npos : end - close - 1);
    size_t p = 0;
    while (p < params.size()) {
      size_t semi = params.find(';', p);
      std::string param =
          trim(params.substr(p, semi == std::string::npos ? std::string::npos : semi - p));
      p = semi == std::string::npos ? params.size() : semi + 1;
      if (!param.empty() && param.back() == ',') param.pop_back();
      auto eq = param.find('=');
      if (eq == std::string::npos || lower(trim(param.substr(0, eq))) != "rel") continue;
      std::string value = trim(param.substr(eq + 1));
      value.erase(std::remove(value.begin(), value.end(), '"'), value.end());
      // rel may list several relation types: rel="next last".
      size_t t = 0;
      while (t < value.size()) {
        size_t space = value.find(' ', t);
        if (space == std::string::npos) space = value.size();
        if (lower(value.substr(t, space - t)) == "next") {
          return link_header.substr(open + 1, close - open - 1);
        }
        t = space + 1;
      }
    }
    pos = close + 1;
  }
}

}  // namespace broker::upstream
