#include "bench/bench_client.h"

#include <curl/curl.h>
#include <strings.h>

#include <nlohmann/json.hpp>
#include <stdexcept>

#include "broker/core/crypto.h"
#include "broker/core/encoding.h"
#include "broker/core/random.h"

namespace broker::bench {
namespace {

struct Sink {
  Reply* reply;
};

size_t onBody(char* data, size_t size, size_t n, void* user) {
  static_cast<Sink*>(user)->reply->body.append(data, size * n);
  return size * n;
}

bool startsWithNoCase(const char* line, size_t len, const char* prefix, size_t prefix_len) {
  return len >= prefix_len && strncasecmp(line, prefix, prefix_len) == 0;
}

std::string headerValue(const char* line, size_t len, size_t skip) {
  std::string v(line + skip, len - skip);
  size_t b = v.find_first_not_of(" \t");
  size_t e = v.find_last_not_of(" \t\r\n");
  return b == std::string::npos ? std::string() : v.substr(b, e - b + 1);
}

size_t onHeader(char* data, size_t size, size_t n, void* user) {
  Reply& r = *static_cast<Sink*>(user)->reply;
  const size_t len = size * n;
  static constexpr char kLocation[] = "location:";
  static constexpr char kSetCookie[] = "set-cookie:";
  if (startsWithNoCase(data, len, kLocation, sizeof kLocation - 1)) {
    r.location = headerValue(data, len, sizeof kLocation - 1);
  } else if (startsWithNoCase(data, len, kSetCookie, sizeof kSetCookie - 1)) {
    std::string v = headerValue(data, len, sizeof kSetCookie - 1);
    size_t eq = v.find('=');
    if (eq != std::string::npos) {
      size_t end = v.find(';', eq);
      std::string value = v.substr(eq + 1, end == std::string::npos ? end : end - eq - 1);
      // A cookie set to expire now is a deletion, as a browser reads it.
      if (v.find("Max-Age=0", eq) != std::string::npos) value.clear();
      r.set_cookies.emplace_back(v.substr(0, eq), std::move(value));
    }
  }
  return len;
}

std::string cookieHeader(const CookieJar& jar) {
  std::string out = "Cookie: ";
  for (const auto& [name, value] : jar) {
    if (out.size() > 8) out += "; ";
    out += name + "=" + value;
  }
  return out;
}

// The value attribute of the <input> whose name is `name`, with the five entities the broker
// escapes turned back into characters.
std::string formInput(const std::string& html, const std::string& name) {
  size_t at = html.find("name=\"" + name + "\"");
  if (at == std::string::npos) return {};
  size_t tag_end = html.find('>', at);
  size_t v = html.find("value=\"", at);
  if (v == std::string::npos || v > tag_end) return {};
  v += 7;
  size_t end = html.find('"', v);
  if (end == std::string::npos) return {};
  std::string out;
  for (size_t i = v; i < end; ++i) {
    if (html[i] != '&') {
      out += html[i];
      continue;
    }
    size_t semi = html.find(';', i);
    std::string entity = html.substr(i, semi - i + 1);
    char c = entity == "&amp;"    ? '&'
             : entity == "&lt;"   ? '<'
             : entity == "&gt;"   ? '>'
             : entity == "&quot;" ? '"'
             : entity == "&#39;"  ? '\''
                                  : '\0';
    if (c == '\0') return {};
    out += c;
    i = semi;
  }
  return out;
}

std::string urlParam(const std::string& url, const std::string& name) {
  size_t q = url.find('?');
  if (q == std::string::npos) return {};
  std::map<std::string, std::string> params;
  if (!parseUrlEncoded(std::string_view(url).substr(q + 1), params)) return {};
  auto it = params.find(name);
  return it == params.end() ? std::string() : it->second;
}

// A fresh PKCE pair and state for one authorization request, and the code exchange that ends it.
struct Pkce {
  std::string verifier = Random::system().token(32);
  std::string challenge = base64urlEncode(sha256(verifier));
  std::string state = Random::system().token(12);

  std::vector<std::pair<std::string, std::string>> query(const Client& client) const {
    return {{"response_type", "code"},
            {"client_id", client.client_id},
            {"redirect_uri", client.redirect_uri},
            {"code_challenge", challenge},
            {"code_challenge_method", "S256"},
            {"state", state}};
  }
  std::vector<std::pair<std::string, std::string>> exchange(const Client& client,
                                                            const std::string& code) const {
    return {{"grant_type", "authorization_code"},
            {"code", code},
            {"code_verifier", verifier},
            {"redirect_uri", client.redirect_uri},
            {"client_id", client.client_id}};
  }
};

}  // namespace

void StepError::set(const std::string& step, const Reply& r) {
  what = step + ": HTTP " + std::to_string(r.status) + " " + r.body.substr(0, 200);
}

std::string formBody(const std::vector<std::pair<std::string, std::string>>& fields) {
  std::string out;
  for (const auto& [name, value] : fields) {
    if (!out.empty()) out += '&';
    out += urlEncode(name) + "=" + urlEncode(value);
  }
  return out;
}

HttpConnection::HttpConnection(long timeout_ms) : curl_(curl_easy_init()) {
  if (!curl_) throw std::runtime_error("curl_easy_init failed");
  CURL* c = static_cast<CURL*>(curl_);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, onBody);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, onHeader);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_TCP_NODELAY, 1L);
  // Loopback only: a proxy from the environment must never carry this traffic elsewhere.
  curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http");
}

HttpConnection::~HttpConnection() {
  curl_easy_cleanup(static_cast<CURL*>(curl_));
}

Reply HttpConnection::send(const std::string& url, const std::string& content_type,
                           const std::string& body, CookieJar* jar) {
  CURL* c = static_cast<CURL*>(curl_);
  Reply reply;
  Sink sink{&reply};
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &sink);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &sink);
  // A browser sends its form at once; curl would otherwise wait for 100 Continue on large bodies.
  curl_slist* headers = curl_slist_append(nullptr, "Expect:");
  if (content_type.empty()) {
    curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
  } else {
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.c_str());
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
    headers = curl_slist_append(headers, ("Content-Type: " + content_type).c_str());
  }
  if (jar && !jar->empty()) headers = curl_slist_append(headers, cookieHeader(*jar).c_str());
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
  CURLcode rc = curl_easy_perform(c);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, nullptr);
  curl_slist_free_all(headers);
  if (rc != CURLE_OK) {
    reply.status = 0;
    reply.body = curl_easy_strerror(rc);
    return reply;
  }
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &reply.status);
  if (jar) {
    for (auto& [name, value] : reply.set_cookies) {
      if (value.empty()) {
        jar->erase(name);
      } else {
        (*jar)[name] = value;
      }
    }
  }
  return reply;
}

bool OAuthClient::registerClient(Client& out, StepError& error) {
  static const std::string kRedirect = "http://127.0.0.1:7777/cb";
  nlohmann::json body = {{"client_name", "Load generator"},
                         {"redirect_uris", {kRedirect}},
                         {"token_endpoint_auth_method", "none"},
                         {"grant_types", {"authorization_code", "refresh_token"}},
                         {"response_types", {"code"}}};
  Reply r = http_.send(base_ + "/register", "application/json", body.dump());
  auto j = nlohmann::json::parse(r.body, nullptr, false);
  if (r.status != 201 || !j.is_object() || !j.contains("client_id")) {
    error.set("register", r);
    return false;
  }
  out.client_id = j["client_id"].get<std::string>();
  out.redirect_uri = kRedirect;
  return true;
}

bool OAuthClient::login(const Client& client, const std::string& user, Tokens& out,
                        StepError& error) {
  static const std::string kForm = "application/x-www-form-urlencoded";
  CookieJar jar;
  const Pkce pkce;
  Reply page = http_.send(base_ + "/authorize?" + formBody(pkce.query(client)), "", "", &jar);
  const std::string request = formInput(page.body, "request");
  if (page.status != 200 || request.empty()) {
    error.set("authorize", page);
    return false;
  }
  Reply consent = http_.send(
      base_ + "/authorize/consent", kForm,
      formBody({{"request", request}, {"csrf", formInput(page.body, "csrf")}, {"upstream", "dev"}}),
      &jar);
  if (consent.status != 302 || consent.location.empty()) {
    error.set("consent", consent);
    return false;
  }
  Reply login_page = http_.send(consent.location, "", "", &jar);
  const std::string login_state = formInput(login_page.body, "state");
  if (login_page.status != 200 || login_state.empty()) {
    error.set("login page", login_page);
    return false;
  }
  Reply callback =
      http_.send(base_ + "/auth/dev/callback", kForm,
                 formBody({{"state", login_state}, {"username", user}, {"groups", ""}}), &jar);
  const std::string code = urlParam(callback.location, "code");
  if (callback.status != 302 || code.empty() ||
      urlParam(callback.location, "state") != pkce.state) {
    error.set("callback", callback);
    return false;
  }
  return tokenRequest(formBody(pkce.exchange(client, code)), out, error);
}

bool OAuthClient::loginReference(const Client& client, const std::string& user, Tokens& out,
                                 StepError& error) {
  static const std::string kForm = "application/x-www-form-urlencoded";
  // The provider redirects with paths (/interaction/UID) or with absolute URLs.
  auto absolute = [&](const std::string& location) {
    return location.rfind("http", 0) == 0 ? location : base_ + location;
  };
  CookieJar jar;
  const Pkce pkce;
  auto query = pkce.query(client);
  query.emplace_back("scope", "openid");
  Reply start = http_.send(base_ + "/auth?" + formBody(query), "", "", &jar);
  if (start.status / 100 != 3 || start.location.empty()) {
    error.set("auth", start);
    return false;
  }
  const std::string interaction = absolute(start.location);
  Reply page = http_.send(interaction, "", "", &jar);
  if (page.status != 200) {
    error.set("login form", page);
    return false;
  }
  Reply login = http_.send(interaction + "/login", kForm, formBody({{"login", user}}), &jar);
  if (login.status / 100 != 3 || login.location.empty()) {
    error.set("login", login);
    return false;
  }
  Reply resume = http_.send(absolute(login.location), "", "", &jar);
  const std::string code = urlParam(resume.location, "code");
  if (resume.status / 100 != 3 || code.empty() ||
      urlParam(resume.location, "state") != pkce.state) {
    error.set("resume", resume);
    return false;
  }
  return tokenRequest(formBody(pkce.exchange(client, code)), out, error);
}

bool OAuthClient::refresh(const Client& client, Tokens& tokens, StepError& error) {
  return tokenRequest(formBody({{"grant_type", "refresh_token"},
                                {"refresh_token", tokens.refresh_token},
                                {"client_id", client.client_id}}),
                      tokens, error);
}

bool OAuthClient::tokenRequest(const std::string& form, Tokens& out, StepError& error) {
  Reply r = http_.send(base_ + "/token", "application/x-www-form-urlencoded", form);
  auto j = nlohmann::json::parse(r.body, nullptr, false);
  if (r.status != 200 || !j.is_object() || !j.contains("access_token")) {
    error.set("token", r);
    return false;
  }
  out.access_token = j["access_token"].get<std::string>();
  out.refresh_token = j.value("refresh_token", "");
  return true;
}

bool OAuthClient::validate(const std::string& access_token, StepError& error) {
  Reply r = http_.send(base_ + "/validate", "application/json",
                       nlohmann::json{{"token", access_token}}.dump());
  if (r.status != 200 || r.body.find("\"valid\":true") == std::string::npos) {
    error.set("validate", r);
    return false;
  }
  return true;
}

}  // namespace broker::bench
