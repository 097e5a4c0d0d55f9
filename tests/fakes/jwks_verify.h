#pragma once
// Verifies a broker access token the way an MCP server does: against the JWKS the broker serves.

#include <string>

#include <nlohmann/json.hpp>

#include "broker/token/jwt.h"
#include "fakes/http_client.h"

namespace broker::testing {

// `claims` (may be null) receives the payload of a valid token. `issuer`: the expected `iss` when
// it is not `base` (an instance behind a proxy, whose issuer is the proxy's origin).
token::JwtStatus verifyWithJwks(HttpClient& http, const std::string& base, const std::string& jwt,
                                nlohmann::json* claims = nullptr, const std::string& issuer = "");

}  // namespace broker::testing
