#pragma once
// A small libcurl client for tests: no redirects followed, a per-client cookie jar, response
// headers kept. Tests use it to drive the real broker like a browser and an MCP client would.

#include <map>
#include <string>
#include <vector>

namespace broker::testing {

struct HttpResult {
  long status = 0;
  std::string body;
  std::multimap<std::string, std::string> headers;  // lower-case names
  long new_connections = 0;

  std::string header(const std::string& lower_name) const;
  std::vector<std::string> headerValues(const std::string& lower_name) const;
};

class HttpClient {
 public:
  HttpClient();
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  HttpResult get(const std::string& url, const std::vector<std::string>& headers = {});
  HttpResult post(const std::string& url, const std::string& body,
                  const std::string& content_type = "application/x-www-form-urlencoded",
                  const std::vector<std::string>& headers = {});
  HttpResult request(const std::string& method, const std::string& url, const std::string& body,
                     const std::vector<std::string>& headers);
  // Cookies are kept by name (Set-Cookie attributes are ignored; Max-Age=0 deletes).
  std::map<std::string, std::string>& cookies() { return cookies_; }

 private:
  void* curl_;
  std::map<std::string, std::string> cookies_;
};

std::string formEncode(const std::vector<std::pair<std::string, std::string>>& fields);
// Value of a query parameter in a URL ("" when absent).
std::string queryParam(const std::string& url, const std::string& name);
// Value of the first <input name="NAME" value="..."> in an HTML page (HTML-unescaped).
std::string inputValue(const std::string& html, const std::string& name);
// href of the first <a ... id="ID" href="..."> (HTML-unescaped).
std::string linkHref(const std::string& html, const std::string& id);

}  // namespace broker::testing
