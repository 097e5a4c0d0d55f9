#pragma once
// Upstream identity providers: the broker's second OAuth hop. Every upstream (dev, GitHub, OIDC)
// implements this interface; the authorize/callback code never knows which one it talks to.
// Implementations may block (upstream HTTP); they are only called from worker threads.

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "broker/core/identity.h"
#include "broker/core/oauth_error.h"
#include "broker/core/result.h"

namespace broker::upstream {

struct BeginLogin {
  std::string state;         // random, single use; the broker stores only its hash
  std::string callback_url;  // ISSUER/auth/<id>/callback
  // The current policy has rules on this upstream's orgs, teams or groups. Without them a
  // provider asks for no membership scope (GitHub's read:org) and reads no memberships, for this
  // login and its refreshes.
  bool memberships = true;
};

struct LoginRedirect {
  std::string url;            // where the browser goes next
  std::string upstream_data;  // private per-login data (PKCE verifier, nonce); sealed by the caller
};

struct Callback {
  std::map<std::string, std::string> params;  // query (GET) or form (POST) parameters
  std::string callback_url;
  std::string upstream_data;  // what beginLogin returned, unsealed
};

struct LoginResult {
  Identity identity;
  // Private session data to keep for refresh-time re-checks (upstream tokens). Sealed by the caller
  // before storage; never leaves the broker.
  std::string session_data;
};

class UpstreamProvider {
 public:
  virtual ~UpstreamProvider() = default;
  virtual const std::string& id() const = 0;
  virtual const std::string& type() const = 0;
  virtual std::string displayName() const = 0;

  virtual Result<LoginRedirect, OAuthError> beginLogin(const BeginLogin& request) = 0;
  // Where beginLogin sends the browser, without the per-login query: the consent page allows
  // its origin as a form target (CSP form-action covers the redirect that follows the form).
  // Empty while unknown (an OIDC provider whose discovery has not answered yet).
  virtual std::string loginUrl() = 0;
  // Errors: access_denied (user refused), temporarily_unavailable (upstream down/slow),
  // server_error (upstream misbehaved).
  virtual Result<LoginResult, OAuthError> completeLogin(const Callback& callback) = 0;

  // Optional capability: re-read the identity at refresh time. The default keeps the identity.
  virtual bool supportsRefresh() const { return false; }
  virtual Result<LoginResult, OAuthError> refreshIdentity(const Identity& current,
                                                          const std::string& session_data) {
    return LoginResult{current, session_data};
  }
};

class UpstreamRegistry {
 public:
  void add(std::shared_ptr<UpstreamProvider> provider);
  std::shared_ptr<UpstreamProvider> find(const std::string& id) const;
  std::vector<std::shared_ptr<UpstreamProvider>> all() const { return providers_; }

 private:
  std::vector<std::shared_ptr<UpstreamProvider>> providers_;
};

}  // namespace broker::upstream
