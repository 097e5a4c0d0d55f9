#pragma once
// OAuth errors as values (RFC 6749 §4.1.2.1, §5.2; RFC 6750 §3.1; RFC 7591 §3.2.2; RFC 8707 §2).
// `description` is safe to show to clients; `debug` is for logs only and never leaves the broker.

#include <string>
#include <utility>

namespace broker {

enum class OAuthCode {
  kInvalidRequest,
  kInvalidClient,
  kInvalidGrant,
  kUnauthorizedClient,
  kUnsupportedGrantType,
  kUnsupportedResponseType,
  kInvalidScope,
  kAccessDenied,
  kServerError,
  kTemporarilyUnavailable,
  kInvalidTarget,
  kInvalidRedirectUri,
  kInvalidClientMetadata,
  kInvalidToken,
  kInsufficientScope,
  kUnsupportedTokenType,
  kNotFound,
  kMethodNotAllowed,
  kPayloadTooLarge,
};

struct OAuthError {
  OAuthCode code = OAuthCode::kServerError;
  std::string description;
  std::string debug;

  OAuthError() = default;
  OAuthError(OAuthCode c, std::string desc, std::string dbg = {})
      : code(c), description(std::move(desc)), debug(std::move(dbg)) {}

  // Registered error string, e.g. "invalid_grant".
  const char* name() const;
  // HTTP status for this error when returned from an endpoint (token, register, ...).
  int httpStatus() const;
  // {"error": ..., "error_description": ...}
  std::string toJson() const;
};

const char* oauthCodeName(OAuthCode code);
int oauthCodeStatus(OAuthCode code);

}  // namespace broker
