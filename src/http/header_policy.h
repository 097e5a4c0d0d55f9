#pragma once
// Headers every answer carries, and the answers the HTTP layer gives on its own (errors,
// CORS preflight). Pure functions so the rules are testable without a socket.

#include <string>
#include <string_view>
#include <vector>

#include "broker/core/oauth_error.h"
#include "broker/http/http.h"

namespace broker::http {

// Security headers; CSP on HTML unless the handler set one; no-store when `flags` asks for it
// and the handler did not choose its own Cache-Control; `Access-Control-Allow-Origin: *` when
// `cors`; the request id.
void applyHeaderPolicy(Response& r, RouteFlags flags, bool cors, const std::string& request_id);

// Answer to an OPTIONS preflight (Fetch standard, CORS protocol). `requested_headers` is the
// Access-Control-Request-Headers value; valid names are echoed after the ones always allowed.
Response preflightResponse(const std::vector<std::string>& methods,
                           std::string_view requested_headers);

// {"error": ..., "error_description": ...} with the status the code maps to.
Response errorResponse(OAuthCode code, std::string description = {});
// 429 Too Many Requests with Retry-After: OAuth error JSON, or a short HTML page for a browser.
// `reason` says which limit was hit.
Response tooManyRequests(int64_t retry_after_s, bool html,
                         std::string_view reason = "too many requests from this address");
// 503 Service Unavailable with Retry-After, for work refused before it starts because every
// worker is busy and the queue is full: the same two shapes.
Response serviceUnavailable(int64_t retry_after_s, bool html);

// False when a handler-set header would break the framing or inject a line (CR, LF, NUL, or a
// name that is not a token).
bool headersWellFormed(const Response& r);

}  // namespace broker::http
