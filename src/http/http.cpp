#include "broker/http/http.h"

#include <algorithm>
#include <string_view>

#include "broker/core/encoding.h"
#include "http/strings.h"
#include "http/url_encoded.h"

namespace broker::http {
namespace {

Response withBody(int status, const char* content_type, std::string body) {
  Response r;
  r.status = status;
  r.body = std::move(body);
  r.header("Content-Type", content_type);
  return r;
}

}  // namespace

UrlEncoded parseUrlEncoded(std::string_view s) {
  UrlEncoded out;
  while (!s.empty()) {
    size_t amp = s.find('&');
    std::string_view pair = s.substr(0, amp);
    s = amp == std::string_view::npos ? std::string_view() : s.substr(amp + 1);
    if (pair.empty()) continue;
    size_t eq = pair.find('=');
    auto key = urlDecode(pair.substr(0, eq));
    auto value = urlDecode(eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1));
    if (!key || !value) {
      out.malformed = true;
      continue;
    }
    if (key->empty()) continue;
    if (!out.values.emplace(*key, std::move(*value)).second &&
        std::find(out.duplicates.begin(), out.duplicates.end(), *key) == out.duplicates.end()) {
      out.duplicates.push_back(*key);
    }
  }
  return out;
}

std::optional<std::string> Request::header(const std::string& lower_name) const {
  auto it = headers.find(lower_name);
  if (it == headers.end()) return std::nullopt;
  return it->second;
}

std::map<std::string, std::string> Request::form(std::vector<std::string>* duplicates,
                                                 bool* malformed) const {
  UrlEncoded parsed = parseUrlEncoded(body);
  if (duplicates) *duplicates = std::move(parsed.duplicates);
  if (malformed) *malformed = parsed.malformed;
  return std::move(parsed.values);
}

std::optional<std::string> Request::cookie(const std::string& name) const {
  auto it = headers.find("cookie");
  if (it == headers.end()) return std::nullopt;
  std::string_view rest = it->second;
  while (!rest.empty()) {
    size_t semi = rest.find(';');
    std::string_view item = trimOws(rest.substr(0, semi));
    rest = semi == std::string_view::npos ? std::string_view() : rest.substr(semi + 1);
    size_t eq = item.find('=');
    if (eq == std::string_view::npos || trimOws(item.substr(0, eq)) != name) continue;
    std::string_view value = trimOws(item.substr(eq + 1));
    // RFC 6265 §4.1.1 allows the value in double quotes; the quotes are not part of it.
    if (value.size() >= 2 && value.front() == '"' && value.back() == '"') {
      value = value.substr(1, value.size() - 2);
    }
    return std::string(value);
  }
  return std::nullopt;
}

bool Response::hasHeader(const std::string& name) const {
  return std::any_of(headers.begin(), headers.end(),
                     [&](const auto& h) { return equalsIgnoreCase(h.first, name); });
}

Response Response::json(int status, std::string body) {
  return withBody(status, "application/json", std::move(body));
}

Response Response::html(int status, std::string body) {
  return withBody(status, "text/html; charset=utf-8", std::move(body));
}

Response Response::text(int status, std::string body) {
  return withBody(status, "text/plain; charset=utf-8", std::move(body));
}

Response Response::redirect(const std::string& location, int status) {
  Response r;
  r.status = status;
  r.header("Location", location);
  return r;
}

}  // namespace broker::http
