// Development upstream. It goes through the same UpstreamProvider interface as GitHub and OIDC so
// the whole flow (state, callback, policy, code) is exercised without an external provider.

#include <algorithm>

#include "broker/core/encoding.h"
#include "broker/core/log.h"
#include "broker/upstream/dev.h"
#include "upstream/oidc/oauth_client.h"

namespace broker::upstream {
namespace {

bool validName(const std::string& s, size_t max) {
  if (s.empty() || s.size() > max) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-' || c == '@' || c == '/';
  });
}

std::string trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return {};
  size_t e = s.find_last_not_of(" \t\r\n");
  return s.substr(b, e - b + 1);
}

class DevUpstream : public UpstreamProvider {
 public:
  DevUpstream(std::string id, std::string issuer, std::string display)
      : id_(std::move(id)),
        type_("dev"),
        issuer_(std::move(issuer)),
        display_(std::move(display)) {}

  const std::string& id() const override { return id_; }
  const std::string& type() const override { return type_; }
  std::string displayName() const override {
    return display_.empty() ? "development login" : display_;
  }

  std::string loginUrl() override { return issuer_ + "/auth/" + id_ + "/login"; }

  Result<LoginRedirect, OAuthError> beginLogin(const BeginLogin& request) override {
    return LoginRedirect{loginUrl() + "?state=" + urlEncode(request.state), ""};
  }

  Result<LoginResult, OAuthError> completeLogin(const Callback& cb) override {
    auto get = [&](const char* k) {
      auto it = cb.params.find(k);
      return it == cb.params.end() ? std::string() : trim(it->second);
    };
    std::string username = get("username");
    if (!validName(username, 64) || username.find('/') != std::string::npos) {
      return OAuthError{OAuthCode::kAccessDenied,
                        "the username must be 1-64 letters, digits, '.', '_', '-' or '@'"};
    }
    Identity who;
    who.upstream_id = id_;
    who.upstream_type = type_;
    who.subject = username;
    who.username = username;
    std::string groups = get("groups");
    size_t pos = 0;
    while (pos <= groups.size()) {
      size_t comma = groups.find_first_of(", ", pos);
      if (comma == std::string::npos) comma = groups.size();
      std::string g = trim(groups.substr(pos, comma - pos));
      pos = comma + 1;
      if (g.empty()) continue;
      if (!validName(g, 128)) {
        return OAuthError{OAuthCode::kAccessDenied,
                          "group names use letters, digits, '.', '_', '-', '/'"};
      }
      if (std::find(who.groups.begin(), who.groups.end(), g) == who.groups.end()) {
        who.groups.push_back(g);
      }
    }
    std::string email = get("email");
    if (!email.empty()) {
      if (email.size() > 254 || email.find('@') == std::string::npos || !validName(email, 254)) {
        return OAuthError{OAuthCode::kAccessDenied, "the email address is malformed"};
      }
      who.email = email;
      who.email_verified = true;  // development only: nothing is verified here
    }
    log::security("dev_login", {{"user", username},
                                {"upstream", id_},
                                {"warning", "development login: no password was checked"}});
    return LoginResult{who, ""};
  }

 private:
  std::string id_, type_, issuer_, display_;
};

}  // namespace

std::shared_ptr<UpstreamProvider> makeDevUpstream(const std::string& id, const std::string& issuer,
                                                  const std::string& display_name) {
  return std::make_shared<DevUpstream>(id, issuer, display_name);
}

void checkDevSettings(const config::UpstreamSettings& settings) {
  // The dev upstream takes nothing besides type, enabled and display_name.
  oauth_client::SettingsReader(settings, {}).finish();
}

}  // namespace broker::upstream
