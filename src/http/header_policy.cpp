#include "http/header_policy.h"

#include "http/strings.h"

namespace broker::http {
namespace {

constexpr const char* kAlwaysAllowedHeaders = "Authorization, Content-Type, mcp-protocol-version";
// The fallback for an HTML answer that brings no policy of its own (the broker's pages each set
// theirs): nothing loads, no form goes anywhere, no framing.
constexpr const char* kHtmlCsp =
    "default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

void addIfMissing(Response& r, const char* name, const char* value) {
  if (!r.hasHeader(name)) r.header(name, value);
}

bool isHtml(const Response& r) {
  for (const auto& [name, value] : r.headers) {
    if (equalsIgnoreCase(name, "content-type")) {
      return toLower(value).rfind("text/html", 0) == 0;
    }
  }
  return false;
}

}  // namespace

void applyHeaderPolicy(Response& r, RouteFlags flags, bool cors, const std::string& request_id) {
  addIfMissing(r, "X-Content-Type-Options", "nosniff");
  addIfMissing(r, "Referrer-Policy", "no-referrer");
  addIfMissing(r, "X-Frame-Options", "DENY");
  if (isHtml(r)) addIfMissing(r, "Content-Security-Policy", kHtmlCsp);
  if (has(flags, RouteFlags::kNoStore) && !r.hasHeader("Cache-Control")) {
    r.header("Cache-Control", "no-store");
    addIfMissing(r, "Pragma", "no-cache");
  }
  if (cors) {
    // A public CORS answer never carries credentials; "*" is what makes that so.
    addIfMissing(r, "Access-Control-Allow-Origin", "*");
    addIfMissing(r, "Access-Control-Expose-Headers", "WWW-Authenticate, X-Request-Id");
  }
  if (!request_id.empty()) r.header("X-Request-Id", request_id);
}

Response preflightResponse(const std::vector<std::string>& methods,
                           std::string_view requested_headers) {
  Response r;
  r.status = 204;
  std::string allow;
  for (const auto& m : methods) {
    if (m == "OPTIONS") continue;
    allow += m + ", ";
  }
  allow += "OPTIONS";
  std::string allowed_headers = kAlwaysAllowedHeaders;
  std::vector<std::string> seen;
  forEachListItem(kAlwaysAllowedHeaders, [&](std::string_view h) { seen.push_back(toLower(h)); });
  forEachListItem(requested_headers, [&](std::string_view h) {
    std::string lower = toLower(h);
    if (!isToken(h) || std::find(seen.begin(), seen.end(), lower) != seen.end()) return;
    allowed_headers += ", " + lower;
    seen.push_back(std::move(lower));
  });
  r.header("Access-Control-Allow-Methods", allow);
  r.header("Access-Control-Allow-Headers", allowed_headers);
  r.header("Access-Control-Max-Age", "86400");
  return r;
}

Response errorResponse(OAuthCode code, std::string description) {
  OAuthError e(code, std::move(description));
  return Response::json(e.httpStatus(), e.toJson());
}

namespace {

// A request refused before any work: a short HTML page titled `title` saying `text` (plain, no
// markup) for a browser, else the OAuth error `json`; both with Retry-After.
Response refusal(int status, const char* title, const std::string& text, std::string json,
                 int64_t retry_after_s, bool html) {
  Response r = html ? Response::html(status, std::string("<!DOCTYPE html><html><head>"
                                                         "<meta charset=\"utf-8\"><title>") +
                                                 title + "</title></head><body><p>" + text +
                                                 "</p></body></html>")
                    : Response::json(status, std::move(json));
  r.header("Retry-After", std::to_string(retry_after_s));
  return r;
}

}  // namespace

Response tooManyRequests(int64_t retry_after_s, bool html, std::string_view reason) {
  const std::string text =
      std::string(reason) + "; retry after " + std::to_string(retry_after_s) + " s";
  return refusal(429, "Too many requests", text,
                 R"({"error":"temporarily_unavailable","error_description":")" + text + "\"}",
                 retry_after_s, html);
}

Response serviceUnavailable(int64_t retry_after_s, bool html) {
  return refusal(503, "Temporarily unavailable",
                 "the server is busy; retry after " + std::to_string(retry_after_s) + " s",
                 R"({"error":"temporarily_unavailable"})", retry_after_s, html);
}

bool headersWellFormed(const Response& r) {
  for (const auto& [name, value] : r.headers) {
    if (!isToken(name)) return false;
    if (value.find_first_of(std::string_view("\r\n\0", 3)) != std::string::npos) return false;
  }
  return true;
}

}  // namespace broker::http
