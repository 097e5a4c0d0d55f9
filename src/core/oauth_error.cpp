#include "broker/core/oauth_error.h"

#include <nlohmann/json.hpp>

namespace broker {

const char* oauthCodeName(OAuthCode code) {
  switch (code) {
    case OAuthCode::kInvalidRequest:
      return "invalid_request";
    case OAuthCode::kInvalidClient:
      return "invalid_client";
    case OAuthCode::kInvalidGrant:
      return "invalid_grant";
    case OAuthCode::kUnauthorizedClient:
      return "unauthorized_client";
    case OAuthCode::kUnsupportedGrantType:
      return "unsupported_grant_type";
    case OAuthCode::kUnsupportedResponseType:
      return "unsupported_response_type";
    case OAuthCode::kInvalidScope:
      return "invalid_scope";
    case OAuthCode::kAccessDenied:
      return "access_denied";
    case OAuthCode::kServerError:
      return "server_error";
    case OAuthCode::kTemporarilyUnavailable:
      return "temporarily_unavailable";
    case OAuthCode::kInvalidTarget:
      return "invalid_target";
    case OAuthCode::kInvalidRedirectUri:
      return "invalid_redirect_uri";
    case OAuthCode::kInvalidClientMetadata:
      return "invalid_client_metadata";
    case OAuthCode::kInvalidToken:
      return "invalid_token";
    case OAuthCode::kInsufficientScope:
      return "insufficient_scope";
    case OAuthCode::kUnsupportedTokenType:
      return "unsupported_token_type";
    case OAuthCode::kNotFound:
      return "not_found";
    case OAuthCode::kMethodNotAllowed:
      return "method_not_allowed";
    case OAuthCode::kPayloadTooLarge:
      return "invalid_request";
  }
  return "server_error";
}

// One table: each code's HTTP status when an endpoint answers with it directly.
int oauthCodeStatus(OAuthCode code) {
  switch (code) {
    case OAuthCode::kInvalidClient:
      return 401;
    case OAuthCode::kInvalidToken:
      return 401;
    case OAuthCode::kAccessDenied:
      return 403;
    case OAuthCode::kInsufficientScope:
      return 403;
    case OAuthCode::kServerError:
      return 500;
    case OAuthCode::kTemporarilyUnavailable:
      return 503;
    case OAuthCode::kNotFound:
      return 404;
    case OAuthCode::kMethodNotAllowed:
      return 405;
    case OAuthCode::kPayloadTooLarge:
      return 413;
    default:
      return 400;
  }
}

const char* OAuthError::name() const {
  return oauthCodeName(code);
}
int OAuthError::httpStatus() const {
  return oauthCodeStatus(code);
}

std::string OAuthError::toJson() const {
  nlohmann::json j;
  j["error"] = name();
  if (!description.empty()) j["error_description"] = description;
  return j.dump();
}

}  // namespace broker
