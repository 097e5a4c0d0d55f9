#pragma once
// The rules every registered client follows, however it is registered: POST /register (RFC 7591),
// a client metadata document, or the `client register` command. One set of rules, so a client an
// operator registers by hand can do nothing a dynamically registered one could not.

#include <string>
#include <vector>

#include "broker/core/oauth_error.h"
#include "broker/core/result.h"

namespace broker::oauth {

struct ClientRegistration {
  std::vector<std::string> redirect_uris;
  std::string token_endpoint_auth_method;
  std::vector<std::string> grant_types;
};

// invalid_redirect_uri: none, more than 20, or one that checkRedirectUri refuses (https, http on
// loopback, or a native app's private-use scheme; at most 2000 characters).
// invalid_client_metadata: an auth method other than none, client_secret_basic or
// client_secret_post; a grant other than authorization_code and refresh_token.
Result<void, OAuthError> checkClientRegistration(const ClientRegistration& registration);

}  // namespace broker::oauth
