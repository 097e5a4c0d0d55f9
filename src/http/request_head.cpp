#include "http/request_head.h"

#include <array>

#include "broker/core/encoding.h"
#include "http/strings.h"
#include "http/url_encoded.h"

namespace broker::http {
namespace {

// Fields whose repetition would let two parties read one request differently.
constexpr std::array<std::string_view, 5> kSingletons = {
    "authorization", "content-length", "content-type", "host", "transfer-encoding"};

bool isSingleton(std::string_view name) {
  return std::find(kSingletons.begin(), kSingletons.end(), name) != kSingletons.end();
}

Unexpected<Error> bad(const char* why) {
  return fail(Error::invalid(why));
}

std::optional<uint64_t> parseContentLength(std::string_view v) {
  if (v.empty() || v.size() > 18) return std::nullopt;
  uint64_t n = 0;
  for (char c : v) {
    if (c < '0' || c > '9') return std::nullopt;
    n = n * 10 + static_cast<uint64_t>(c - '0');
  }
  return n;
}

// Visible ASCII only: no control character, space or raw non-ASCII byte (RFC 3986 §2; RFC 9112
// §3.2 origin-form).
bool isTargetChar(unsigned char c) {
  return c > 0x20 && c < 0x7f;
}

// uri-host [ ":" port ] (RFC 9110 §7.2), checked by character: reg-name, IP literals and a port.
bool isHostChar(unsigned char c) {
  static constexpr std::string_view kOther = "-._~!$&'()*+,;=:[]%";
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         kOther.find(static_cast<char>(c)) != std::string_view::npos;
}

Result<bool> parseTarget(std::string_view target, Request& req) {
  if (target.empty() || target.front() != '/') return bad("request target must be a path");
  if (!std::all_of(target.begin(), target.end(), [](char c) { return isTargetChar(c); })) {
    return bad("malformed request target");
  }
  size_t hash = target.find('#');
  if (hash != std::string_view::npos) target = target.substr(0, hash);
  size_t q = target.find('?');
  std::string_view raw_path = target.substr(0, q);
  auto path = urlDecode(raw_path, false);
  if (!path || path->find('\0') != std::string::npos) return bad("malformed path");
  req.path = std::move(*path);
  req.raw_query = q == std::string_view::npos ? std::string() : std::string(target.substr(q + 1));
  // A bad escape only drops that pair: endpoints that must refuse it (authorize) read raw_query
  // and answer in their own format.
  UrlEncoded query = parseUrlEncoded(req.raw_query);
  req.query = std::move(query.values);
  req.query_duplicates = std::move(query.duplicates);
  return true;
}

}  // namespace

bool keepAliveRequested(bool http10, std::string_view connection) {
  bool close = false;
  bool keep = false;
  forEachListItem(connection, [&](std::string_view item) {
    close = close || equalsIgnoreCase(item, "close");
    keep = keep || equalsIgnoreCase(item, "keep-alive");
  });
  return !close && (!http10 || keep);
}

Result<RequestHead> parseRequestHead(std::string_view head, Request& req) {
  RequestHead out;
  size_t eol = head.find("\r\n");
  if (eol == std::string_view::npos) return bad("malformed request line");
  std::string_view line = head.substr(0, eol);
  head.remove_prefix(eol + 2);

  size_t sp1 = line.find(' ');
  size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || line.find(' ', sp2 + 1) != std::string_view::npos) {
    return bad("malformed request line");
  }
  std::string_view method = line.substr(0, sp1);
  std::string_view version = line.substr(sp2 + 1);
  if (!isToken(method)) return bad("malformed method");
  if (version == "HTTP/1.0") {
    out.http10 = true;
  } else if (version != "HTTP/1.1") {
    return bad("unsupported HTTP version");
  }
  // Methods are case-sensitive (RFC 9110 §9.1): "get" is not GET.
  req.method.assign(method.data(), method.size());
  auto target = parseTarget(line.substr(sp1 + 1, sp2 - sp1 - 1), req);
  if (!target) return fail(target.error());

  req.headers.clear();
  while (!head.empty()) {
    eol = head.find("\r\n");
    if (eol == std::string_view::npos) return bad("malformed header");
    std::string_view field = head.substr(0, eol);
    head.remove_prefix(eol + 2);
    if (field.empty()) break;
    size_t colon = field.find(':');
    // No whitespace before the colon and no obsolete line folding (RFC 9112 §5.1, §5.2).
    if (colon == std::string_view::npos || !isToken(field.substr(0, colon))) {
      return bad("malformed header");
    }
    std::string_view value = trimOws(field.substr(colon + 1));
    if (!std::all_of(value.begin(), value.end(), [](char c) { return isFieldValueChar(c); })) {
      return bad("malformed header");
    }
    std::string name = toLower(field.substr(0, colon));
    auto [it, inserted] = req.headers.emplace(name, std::string(value));
    if (inserted) continue;
    if (isSingleton(name)) return bad("repeated header");
    it->second += name == "cookie" ? "; " : ", ";
    it->second += value;
  }

  if (auto it = req.headers.find("content-length"); it != req.headers.end()) {
    out.content_length = parseContentLength(it->second);
    if (!out.content_length) return bad("malformed Content-Length");
    if (req.headers.count("transfer-encoding")) return bad("Content-Length with Transfer-Encoding");
  }
  if (auto te = req.headers.find("transfer-encoding"); te != req.headers.end()) {
    // An HTTP/1.0 recipient cannot be relied on to read chunked framing (RFC 9112 §6.1).
    if (out.http10) return bad("Transfer-Encoding in HTTP/1.0");
    int codings = 0;
    forEachListItem(te->second, [&](std::string_view item) {
      ++codings;
      out.chunked = codings == 1 && equalsIgnoreCase(item, "chunked");
    });
    // "chunked" alone: any other coding (or one after chunked) leaves the length unknown.
    if (codings != 1 || !out.chunked) return bad("unsupported Transfer-Encoding");
  }
  auto host = req.headers.find("host");
  if (host == req.headers.end()) {
    if (!out.http10) return bad("missing Host");
  } else if (!std::all_of(host->second.begin(), host->second.end(),
                          [](char c) { return isHostChar(c); })) {
    return bad("malformed Host");
  }
  out.has_body = (out.content_length && *out.content_length > 0) || out.chunked;
  auto connection = req.header("connection");
  out.keep_alive = keepAliveRequested(out.http10, connection.value_or(""));
  auto expect = req.header("expect");
  out.expect_continue = !out.http10 && expect && equalsIgnoreCase(*expect, "100-continue");
  return out;
}

}  // namespace broker::http
