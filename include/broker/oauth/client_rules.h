#pragma once
// The rules every registered client follows, however it is registered: POST /register (RFC 7591),
// a client metadata document, or the `client register` command. One set of rules, so a client an
// operator registers by hand can do nothing a dynamically registered one could not.

#include <string>
#include <vector>

#include "broker/core/oauth_error.h"
#include "broker/core/result.h"

namespace broker::oauth {

// grant_types of a registration that names none: authorization_code and refresh_token.
// RFC 7591 §2's default is authorization_code alone, but MCP clients expect to stay signed in
// (the MCP SDKs' own clients register both explicitly), and a client that omitted the field would
// otherwise never get a refresh token, without a word. RFC 7591 §3.2.1 lets the server fill in
// values; the registration response says which grants the client got.
const std::vector<std::string>& defaultGrantTypes();

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
