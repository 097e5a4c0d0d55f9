#pragma once
// URI rules shared by registration, authorize, the policy loader and resource indicators.

#include <optional>
#include <string>
#include <string_view>

namespace broker::oauth {

struct Uri {
  std::string scheme;  // lower case
  std::string userinfo;
  bool has_userinfo = false;  // true even for an empty userinfo ("https://@host/")
  std::string host;           // lower case; IPv6 without brackets
  std::string port;           // empty when absent
  std::string path;
  std::string query;
  bool has_query = false;
  bool has_fragment = false;
  bool has_authority = false;
};

// RFC 3986 generic syntax, enough for redirect URIs and resource indicators. Only absolute URIs
// (with a scheme) parse. Rejects spaces, controls, non-ASCII, characters outside the RFC 3986 set,
// bad percent escapes, an empty or out-of-range port, and a bracketed host that is not IPv6.
std::optional<Uri> parseUri(std::string_view text);

bool isLoopbackHost(std::string_view host);  // 127.0.0.0/8, ::1, localhost

// "scheme://host[:port]" (an IPv6 host in brackets) of an absolute URI with an authority.
std::optional<std::string> originOf(std::string_view uri);

// The narrowest CSP source expression (CSP3 §2.3.1) that reliably allows navigating to `uri`: the
// origin of an http(s) URI; only the scheme ("cursor:") for a native app's private-use scheme
// (browsers disagree on the host of such URLs) and for an IPv6 host, which the host-source
// grammar cannot express. nullopt for a URI that does not parse.
std::optional<std::string> cspSourceFor(std::string_view uri);

// RFC 8707 resource canonical form: lower-case scheme and host, default port (443 https, 80 http)
// dropped, a lone "/" path dropped, other paths and the query kept as written. Returns nullopt for
// a URI without scheme or host, or one with a fragment or userinfo.
std::optional<std::string> canonicalResource(std::string_view resource);

enum class RedirectCheck { kOk, kMalformed, kForbiddenScheme, kFragment, kUserinfo, kInsecureHttp };
// Registration-time rules: https, http on loopback, or a private-use scheme of a native app
// (e.g. cursor://). javascript:, data:, file: and friends are forbidden.
RedirectCheck checkRedirectUri(std::string_view uri);
const char* describe(RedirectCheck c);

// Authorize-time match: exact, except the port of an http loopback redirect (RFC 8252 §7.3).
bool redirectUriMatches(std::string_view registered, std::string_view requested);

}  // namespace broker::oauth
