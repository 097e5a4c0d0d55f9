// Shared helpers: RFC 6749 §5.2 error bodies, scope lists (RFC 6749 §3.3), PKCE S256 (RFC 7636
// §4.1-4.6), and the HTML page frame (every value escaped).

#include <algorithm>
#include <set>

#include "broker/core/crypto.h"
#include "broker/core/encoding.h"
#include "broker/oauth/uri.h"
#include "internal.h"
#include "mcp_auth/verifier.h"

namespace broker::oauth {

http::Response jsonResponse(int status, const std::string& body) {
  return http::Response::json(status, body);
}

http::Response errorResponse(const OAuthError& e, std::string_view client_auth_scheme) {
  auto resp = http::Response::json(e.httpStatus(), e.toJson());
  if (e.code == OAuthCode::kInvalidClient) {
    if (!client_auth_scheme.empty()) {
      resp.header("WWW-Authenticate",
                  std::string(client_auth_scheme) + " realm=\"mcp-auth-broker\"");
    }
  } else if (e.httpStatus() == 401) {
    resp.header("WWW-Authenticate", std::string("Bearer error=\"") + e.name() + "\"");
  }
  if (e.code == OAuthCode::kTemporarilyUnavailable) {
    resp.header("Retry-After", std::to_string(kStoreRetryAfterSeconds));
  }
  resp.header("Cache-Control", "no-store");
  return resp;
}

OAuthError storeFailure(const Error& e) {
  if (e.code == ErrorCode::kUnavailable) {
    return {OAuthCode::kTemporarilyUnavailable, "storage unavailable", e.message};
  }
  return {OAuthCode::kServerError, "storage error", e.message};
}

std::vector<std::string> splitScopes(const std::string& s) {
  std::vector<std::string> out;
  std::set<std::string> seen;
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')) ++i;
    size_t j = i;
    while (j < s.size() && s[j] != ' ' && s[j] != '\t' && s[j] != '\n' && s[j] != '\r') ++j;
    if (j > i) {
      std::string tok = s.substr(i, j - i);
      if (seen.insert(tok).second) out.push_back(std::move(tok));
    }
    i = j;
  }
  return out;
}

std::string joinScopes(const std::vector<std::string>& scopes) {
  return mcp_auth::joinScopes(scopes);
}

bool isSubset(const std::vector<std::string>& a, const std::vector<std::string>& of) {
  return std::all_of(a.begin(), a.end(), [&](const std::string& s) {
    return std::find(of.begin(), of.end(), s) != of.end();
  });
}

namespace {
bool unreservedOnly(const std::string& s) {
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~';
  });
}
}  // namespace

// S256 challenge: base64url of a SHA-256 digest, 43 characters.
bool validCodeChallenge(const std::string& challenge) {
  return challenge.size() == 43 && base64urlDecode(challenge).has_value();
}

bool validCodeVerifier(const std::string& verifier) {
  return verifier.size() >= 43 && verifier.size() <= 128 && unreservedOnly(verifier);
}

bool pkceMatches(const std::string& verifier, const std::string& challenge) {
  return constantTimeEquals(base64urlEncode(sha256(verifier)), challenge);
}

namespace {

// The one style sheet of every page. It is a constant: no request data ever goes into it, so the
// CSP can allow exactly this block by its hash instead of every inline style.
constexpr const char* kPageStyle =
    "body{font-family:system-ui,sans-serif;max-width:34rem;margin:3rem auto;padding:0 1rem;"
    "color:#1f2328;overflow-wrap:anywhere}h1{font-size:1.4rem}.box{border:1px solid #d0d7de;"
    "border-radius:8px;padding:1rem 1.25rem;margin:1rem 0}.muted{color:#59636e;font-size:.9rem}"
    ".warning{color:#9a3412}button,.button{font-size:1rem;padding:.5rem 1.1rem;border-radius:6px;"
    "border:1px solid #d0d7de;background:#f6f8fa;cursor:pointer;text-decoration:none;"
    "color:inherit;display:inline-block;margin:0 .25rem .5rem 0}"
    "button.primary{background:#1f883d;color:#fff;border-color:#1f883d}"
    "input[type=text]{font-size:1rem;padding:.4rem;width:100%;box-sizing:border-box}"
    "code{background:#f6f8fa;padding:0 .25rem}.warn{color:#9a6700}";

const std::string& styleHashSource() {
  static const std::string source = "'sha256-" + base64Encode(sha256(kPageStyle)) + "'";
  return source;
}

}  // namespace

std::string renderPage(const std::string& title, const std::string& body_html) {
  return "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
         "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
         "<meta name=\"referrer\" content=\"no-referrer\"><link rel=\"icon\" href=\"data:,\">"
         "<title>" +
         htmlEscape(title) + "</title><style>" + kPageStyle + "</style></head><body>" + body_html +
         "</body></html>";
}

// Content-Security-Policy of every page, directive by directive:
//   default-src 'none'    a page loads nothing: no script, image, font, frame or connection.
//   style-src 'sha256-…'  the one constant <style> block of renderPage, by its hash.
//   img-src data:         the page names an empty icon ("data:,"), so the browser fetches no
//                         favicon (Firefox reports a refused one as a CSP violation).
//   base-uri 'none'       an injected <base> cannot re-point the relative form actions.
//   form-action …         where a form may send the browser. Chromium and Firefox check every
//                         redirect that follows a form submission against it, so it lists the
//                         form's own target ('self') and each origin the answer redirects to: the
//                         upstream login page, the client's redirect URI. 'none' without a form.
//   frame-ancestors 'none'  no page can be framed (no clickjacking of the consent buttons).
std::string pageCsp(const std::vector<std::string>& form_targets) {
  std::vector<std::string> sources;
  for (const auto& target : form_targets) {
    auto source = target == "'self'" ? std::optional<std::string>(target) : cspSourceFor(target);
    if (source && std::find(sources.begin(), sources.end(), *source) == sources.end()) {
      sources.push_back(std::move(*source));
    }
  }
  std::string form_action = sources.empty() ? "'none'" : sources.front();
  for (size_t i = 1; i < sources.size(); ++i) form_action += " " + sources[i];
  return "default-src 'none'; style-src " + styleHashSource() +
         "; img-src data:; base-uri 'none'; form-action " + form_action +
         "; frame-ancestors 'none'";
}

http::Response htmlPage(int status, const std::string& title, const std::string& body_html,
                        const std::vector<std::string>& form_targets) {
  auto resp = http::Response::html(status, renderPage(title, body_html));
  if (status == 503) resp.header("Retry-After", std::to_string(kStoreRetryAfterSeconds));
  resp.header("Content-Security-Policy", pageCsp(form_targets));
  resp.header("Cache-Control", "no-store");
  return resp;
}

http::Response errorPage(int status, const std::string& title, const std::string& message,
                         const std::optional<PageLink>& link) {
  std::string body = "<h1>" + htmlEscape(title) + "</h1><p>" + htmlEscape(message) + "</p>";
  if (link) {
    body += "<p><a class=\"button\" id=\"continue\" href=\"" + htmlEscape(link->href) + "\">" +
            htmlEscape(link->label) + "</a></p>";
  }
  return htmlPage(status, title, body);
}

}  // namespace broker::oauth
