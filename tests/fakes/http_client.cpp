#include "fakes/http_client.h"

#include <curl/curl.h>

#include <algorithm>
#include <stdexcept>

#include "broker/core/encoding.h"

namespace broker::testing {
namespace {

size_t writeBody(char* data, size_t size, size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}

struct HeaderSink {
  HttpResult* result;
  std::map<std::string, std::string>* cookies;
};

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\r' || s.back() == '\n' || s.back() == ' ')) s.pop_back();
  size_t b = s.find_first_not_of(' ');
  return b == std::string::npos ? std::string() : s.substr(b);
}

size_t writeHeader(char* data, size_t size, size_t n, void* user) {
  auto* sink = static_cast<HeaderSink*>(user);
  std::string line(data, size * n);
  auto colon = line.find(':');
  if (colon != std::string::npos) {
    std::string name = line.substr(0, colon);
    std::transform(name.begin(), name.end(), name.begin(), ::tolower);
    std::string value = trim(line.substr(colon + 1));
    sink->result->headers.emplace(name, value);
    if (name == "set-cookie") {
      auto eq = value.find('=');
      auto semi = value.find(';');
      if (eq != std::string::npos) {
        std::string cname = value.substr(0, eq);
        std::string cvalue =
            value.substr(eq + 1, semi == std::string::npos ? std::string::npos : semi - eq - 1);
        if (value.find("Max-Age=0") != std::string::npos) {
          sink->cookies->erase(cname);
        } else {
          (*sink->cookies)[cname] = cvalue;
        }
      }
    }
  }
  return size * n;
}

std::string htmlUnescape(std::string s) {
  const std::pair<const char*, const char*> table[] = {
      {"&quot;", "\""}, {"&#39;", "'"}, {"&lt;", "<"}, {"&gt;", ">"}, {"&amp;", "&"}};
  for (const auto& [from, to] : table) {
    size_t pos = 0;
    while ((pos = s.find(from, pos)) != std::string::npos) {
      s.replace(pos, std::string(from).size(), to);
      pos += std::string(to).size();
    }
  }
  return s;
}

std::string attributeAfter(const std::string& html, size_t from, const std::string& attr) {
  auto tag_end = html.find('>', from);
  auto pos = html.find(attr + "=\"", from);
  if (pos == std::string::npos || pos > tag_end) return {};
  pos += attr.size() + 2;
  auto end = html.find('"', pos);
  return htmlUnescape(html.substr(pos, end - pos));
}

}  // namespace

std::string HttpResult::header(const std::string& lower_name) const {
  auto it = headers.find(lower_name);
  return it == headers.end() ? std::string() : it->second;
}

std::vector<std::string> HttpResult::headerValues(const std::string& lower_name) const {
  std::vector<std::string> out;
  auto range = headers.equal_range(lower_name);
  for (auto it = range.first; it != range.second; ++it) out.push_back(it->second);
  return out;
}

HttpClient::HttpClient() : curl_(curl_easy_init()) {
  if (!curl_) throw std::runtime_error("curl_easy_init failed");
}

HttpClient::~HttpClient() {
  curl_easy_cleanup(static_cast<CURL*>(curl_));
}

HttpResult HttpClient::get(const std::string& url, const std::vector<std::string>& headers) {
  return request("GET", url, "", headers);
}

HttpResult HttpClient::post(const std::string& url, const std::string& body,
                            const std::string& content_type,
                            const std::vector<std::string>& headers) {
  auto h = headers;
  h.push_back("Content-Type: " + content_type);
  return request("POST", url, body, h);
}

HttpResult HttpClient::request(const std::string& method, const std::string& url,
                               const std::string& body, const std::vector<std::string>& headers) {
  CURL* c = static_cast<CURL*>(curl_);
  curl_easy_reset(c);
  HttpResult result;
  HeaderSink sink{&result, &cookies_};
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method.c_str());
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, writeBody);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &result.body);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, writeHeader);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &sink);
  curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  if (method == "POST" || !body.empty()) {
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.c_str());
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
  }
  if (method == "HEAD") curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
  struct curl_slist* list = nullptr;
  for (const auto& h : headers) list = curl_slist_append(list, h.c_str());
  if (!cookies_.empty()) {
    std::string cookie;
    for (const auto& [k, v] : cookies_) cookie += (cookie.empty() ? "" : "; ") + k + "=" + v;
    list = curl_slist_append(list, ("Cookie: " + cookie).c_str());
  }
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, list);
  CURLcode rc = curl_easy_perform(c);
  curl_slist_free_all(list);
  if (rc != CURLE_OK) {
    result.status = 0;
    result.body = curl_easy_strerror(rc);
    return result;
  }
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &result.status);
  curl_easy_getinfo(c, CURLINFO_NUM_CONNECTS, &result.new_connections);
  return result;
}

std::string formEncode(const std::vector<std::pair<std::string, std::string>>& fields) {
  std::string out;
  for (const auto& [k, v] : fields) {
    if (!out.empty()) out += '&';
    out += urlEncode(k) + "=" + urlEncode(v);
  }
  return out;
}

std::string queryParam(const std::string& url, const std::string& name) {
  auto q = url.find('?');
  if (q == std::string::npos) return {};
  std::map<std::string, std::string> params;
  parseUrlEncoded(url.substr(q + 1), params);
  auto it = params.find(name);
  return it == params.end() ? std::string() : it->second;
}

std::string inputValue(const std::string& html, const std::string& name) {
  auto pos = html.find("name=\"" + name + "\"");
  if (pos == std::string::npos) return {};
  auto tag = html.rfind('<', pos);
  return attributeAfter(html, tag, "value");
}

std::string linkHref(const std::string& html, const std::string& id) {
  auto pos = html.find("id=\"" + id + "\"");
  if (pos == std::string::npos) return {};
  auto tag = html.rfind('<', pos);
  return attributeAfter(html, tag, "href");
}

}  // namespace broker::testing
