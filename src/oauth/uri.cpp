// RFC 3986 (generic syntax), RFC 8252 §7 and §8.3 (native app redirect URIs, loopback ports),
// RFC 6749 §3.1.2 (no fragment in a redirect URI), RFC 8707 §2 (resource indicators),
// OAuth 2.1 §7.5 (exact redirect URI matching).
#include "broker/oauth/uri.h"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cstring>

namespace broker::oauth {
namespace {

bool isAlpha(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
bool isDigit(char c) {
  return c >= '0' && c <= '9';
}
bool isHex(char c) {
  return isDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

bool isUnreserved(char c) {
  return isAlpha(c) || isDigit(c) || c == '-' || c == '.' || c == '_' || c == '~';
}

bool isSubDelim(char c) {
  return std::strchr("!$&'()*+,;=", c) != nullptr && c != '\0';
}

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

// True when every character of `s` is allowed by the component's grammar: unreserved, sub-delims,
// the component's `extra` characters, and well-formed percent escapes. Spaces, controls, non-ASCII
// and characters such as <>"{}|\^` never pass, which is what keeps redirect URIs unambiguous.
bool validComponent(std::string_view s, const char* extra) {
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '%') {
      if (i + 2 >= s.size() || !isHex(s[i + 1]) || !isHex(s[i + 2])) return false;
      i += 2;
      continue;
    }
    if (isUnreserved(c) || isSubDelim(c)) continue;
    if (std::strchr(extra, c) != nullptr && c != '\0') continue;
    return false;
  }
  return true;
}

bool validScheme(std::string_view s) {
  if (s.empty() || !isAlpha(s[0])) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return isAlpha(c) || isDigit(c) || c == '+' || c == '-' || c == '.';
  });
}

bool validPort(std::string_view p) {
  if (p.empty() || p.size() > 5 || !std::all_of(p.begin(), p.end(), isDigit)) return false;
  return std::stoul(std::string(p)) <= 65535;
}

bool parseAuthority(std::string_view authority, Uri& uri) {
  size_t at = authority.rfind('@');
  if (at != std::string_view::npos) {
    uri.has_userinfo = true;
    uri.userinfo = std::string(authority.substr(0, at));
    if (!validComponent(uri.userinfo, ":")) return false;
    authority.remove_prefix(at + 1);
  }
  std::string_view host = authority;
  std::string_view port;
  bool has_port = false;
  if (!authority.empty() && authority[0] == '[') {
    size_t close = authority.find(']');
    if (close == std::string_view::npos) return false;
    host = authority.substr(1, close - 1);
    std::string_view rest = authority.substr(close + 1);
    if (!rest.empty()) {
      if (rest[0] != ':') return false;
      has_port = true;
      port = rest.substr(1);
    }
    in6_addr addr{};
    if (inet_pton(AF_INET6, std::string(host).c_str(), &addr) != 1) return false;
  } else {
    size_t colon = authority.find(':');
    if (colon != std::string_view::npos) {
      host = authority.substr(0, colon);
      port = authority.substr(colon + 1);
      has_port = true;
    }
    if (!validComponent(host, "")) return false;
  }
  // RFC 3986 allows "host:" with an empty port; rejecting it keeps one spelling per URI, which
  // exact redirect matching depends on.
  if (has_port && !validPort(port)) return false;
  uri.host = lower(host);
  uri.port = std::string(port);
  return true;
}

// Schemes that run code, read local data, or are not redirect targets at all. Everything else that
// is not http(s) is taken as a native app's private-use scheme.
constexpr std::array<std::string_view, 21> kForbiddenSchemes = {
    "javascript",  "vbscript", "data",   "file", "about", "blob",   "filesystem",
    "view-source", "ftp",      "ftps",   "sftp", "ws",    "wss",    "mailto",
    "tel",         "sms",      "gopher", "ldap", "jar",   "intent", "urn"};

bool forbiddenScheme(const std::string& scheme) {
  // A one-letter scheme is a Windows drive letter ("c:/..."), not an application.
  if (scheme.size() == 1) return true;
  return std::find(kForbiddenSchemes.begin(), kForbiddenSchemes.end(), scheme) !=
         kForbiddenSchemes.end();
}

// `text` without the ":port" of its authority; `uri` is its parse.
std::string withoutPort(std::string_view text, const Uri& uri) {
  std::string out(text);
  if (uri.port.empty()) return out;
  size_t start = uri.scheme.size() + 3;
  size_t end = out.find_first_of("/?#", start);
  if (end == std::string::npos) end = out.size();
  size_t colon = out.rfind(':', end);
  if (colon == std::string::npos || colon < start) return out;
  out.erase(colon, end - colon);
  return out;
}

}  // namespace

std::optional<Uri> parseUri(std::string_view text) {
  if (text.empty()) return std::nullopt;
  for (unsigned char c : text) {
    if (c <= 0x20 || c >= 0x7f) return std::nullopt;
  }
  size_t colon = text.find(':');
  if (colon == std::string_view::npos || !validScheme(text.substr(0, colon))) return std::nullopt;

  Uri uri;
  uri.scheme = lower(text.substr(0, colon));
  std::string_view rest = text.substr(colon + 1);

  size_t hash = rest.find('#');
  if (hash != std::string_view::npos) {
    if (!validComponent(rest.substr(hash + 1), ":@/?")) return std::nullopt;
    uri.has_fragment = true;
    rest = rest.substr(0, hash);
  }
  size_t question = rest.find('?');
  if (question != std::string_view::npos) {
    uri.query = std::string(rest.substr(question + 1));
    if (!validComponent(uri.query, ":@/?")) return std::nullopt;
    uri.has_query = true;
    rest = rest.substr(0, question);
  }
  if (rest.substr(0, 2) == "//") {
    uri.has_authority = true;
    rest.remove_prefix(2);
    size_t slash = rest.find('/');
    std::string_view authority = rest.substr(0, slash);
    if (!parseAuthority(authority, uri)) return std::nullopt;
    rest = slash == std::string_view::npos ? std::string_view() : rest.substr(slash);
  }
  if (!validComponent(rest, ":@/")) return std::nullopt;
  uri.path = std::string(rest);
  return uri;
}

bool isLoopbackHost(std::string_view host) {
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  if (lower(host) == "localhost") return true;
  std::string h(host);
  in_addr v4{};
  if (inet_pton(AF_INET, h.c_str(), &v4) == 1) {
    return (ntohl(v4.s_addr) >> 24) == 127;
  }
  in6_addr v6{};
  if (inet_pton(AF_INET6, h.c_str(), &v6) == 1) {
    return std::memcmp(&v6, &in6addr_loopback, sizeof(v6)) == 0;
  }
  return false;
}

std::optional<std::string> originOf(std::string_view uri) {
  auto u = parseUri(uri);
  if (!u || !u->has_authority || u->host.empty()) return std::nullopt;
  const bool v6 = u->host.find(':') != std::string::npos;
  std::string out = u->scheme + "://" + (v6 ? "[" + u->host + "]" : u->host);
  if (!u->port.empty()) out += ":" + u->port;
  return out;
}

std::optional<std::string> cspSourceFor(std::string_view uri) {
  auto u = parseUri(uri);
  if (!u) return std::nullopt;
  const bool web = u->scheme == "http" || u->scheme == "https";
  if (!web || !u->has_authority || u->host.empty() || u->host.find(':') != std::string::npos) {
    return u->scheme + ":";
  }
  return originOf(uri);
}

std::optional<std::string> canonicalResource(std::string_view resource) {
  auto uri = parseUri(resource);
  // Userinfo has no place in an audience and would let two spellings name one server.
  if (!uri || uri->has_fragment || !uri->has_authority || uri->host.empty() ||
      !uri->userinfo.empty() ||
      resource.find('@') < resource.find_first_of("/?", uri->scheme.size() + 3)) {
    return std::nullopt;
  }
  std::string out = uri->scheme + "://";
  out += uri->host.find(':') != std::string::npos ? "[" + uri->host + "]" : uri->host;
  if (!uri->port.empty()) {
    unsigned long port = std::stoul(uri->port);
    bool is_default =
        (uri->scheme == "https" && port == 443) || (uri->scheme == "http" && port == 80);
    if (!is_default) out += ":" + std::to_string(port);
  }
  if (uri->path != "/") out += uri->path;
  if (uri->has_query) out += "?" + uri->query;
  return out;
}

RedirectCheck checkRedirectUri(std::string_view text) {
  auto uri = parseUri(text);
  if (!uri) return RedirectCheck::kMalformed;
  if (forbiddenScheme(uri->scheme)) return RedirectCheck::kForbiddenScheme;
  if (uri->has_fragment) return RedirectCheck::kFragment;
  if (!uri->userinfo.empty() ||
      (uri->has_authority && text.find('@') != std::string_view::npos &&
       text.find('@') < text.find_first_of("/?", uri->scheme.size() + 3))) {
    return RedirectCheck::kUserinfo;
  }
  if (uri->scheme == "https" || uri->scheme == "http") {
    if (!uri->has_authority || uri->host.empty()) return RedirectCheck::kMalformed;
    if (uri->scheme == "http" && !isLoopbackHost(uri->host)) return RedirectCheck::kInsecureHttp;
    return RedirectCheck::kOk;
  }
  // Private-use scheme (RFC 8252 §7.1): it must still lead somewhere.
  if (uri->host.empty() && uri->path.empty()) return RedirectCheck::kMalformed;
  return RedirectCheck::kOk;
}

const char* describe(RedirectCheck c) {
  switch (c) {
    case RedirectCheck::kOk:
      return "ok";
    case RedirectCheck::kMalformed:
      return "redirect_uri is not a valid absolute URI";
    case RedirectCheck::kForbiddenScheme:
      return "redirect_uri uses a scheme that cannot be a redirect target";
    case RedirectCheck::kFragment:
      return "redirect_uri must not contain a fragment";
    case RedirectCheck::kUserinfo:
      return "redirect_uri must not contain user information";
    case RedirectCheck::kInsecureHttp:
      return "redirect_uri must use https unless it points at a loopback address";
  }
  return "redirect_uri is invalid";
}

bool redirectUriMatches(std::string_view registered, std::string_view requested) {
  if (registered == requested) return true;
  auto reg = parseUri(registered);
  auto req = parseUri(requested);
  if (!reg || !req) return false;
  if (reg->scheme != "http" || req->scheme != "http" || !isLoopbackHost(reg->host)) return false;
  if (reg->has_fragment || req->has_fragment) return false;
  // Only the port may vary: the rest must be the same text, not just equivalent.
  return withoutPort(registered, *reg) == withoutPort(requested, *req);
}

}  // namespace broker::oauth
