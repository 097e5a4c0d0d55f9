#pragma once
// The JSON request bodies of POST /register and POST /validate, parsed by pure functions of the
// bytes so that they can be fuzzed on their own (tests/fuzz). The endpoints add what needs state:
// the policy's scopes for a registration, the token lookup for a validation.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "broker/core/oauth_error.h"
#include "broker/core/result.h"

namespace broker::oauth {

// A registration request (RFC 7591 §2) that passed every rule but the policy's: the client rules
// of checkClientRegistration, response_types "code", application_type "web" or "native", and the
// free-text members as strings of at most 2000 bytes.
struct RegistrationRequest {
  std::vector<std::string> redirect_uris;
  std::string token_endpoint_auth_method;
  std::vector<std::string> grant_types;
  std::vector<std::string> response_types;
  std::string application_type;
  std::string scope;  // as sent (space-separated); the endpoint checks it against the policy
  std::string client_name;
  // The accepted metadata with defaults filled in, echoed in the response (RFC 7591 §3.2.1).
  nlohmann::json echo;
};
// invalid_client_metadata or invalid_redirect_uri for anything else. Never throws.
Result<RegistrationRequest, OAuthError> parseRegistrationRequest(std::string_view body);

// The token of a /validate body: {"token": "<string>"}. The common form, a token of base64url
// characters and dots with optional whitespace around the JSON tokens, is read without a JSON
// parser; any other body is parsed as JSON. nullopt when the body is not such an object.
std::optional<std::string> validationBodyToken(std::string_view body);
// The fast path of validationBodyToken alone: nullopt for anything it does not read itself.
std::optional<std::string> plainTokenBody(std::string_view body);

}  // namespace broker::oauth
