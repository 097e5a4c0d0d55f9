#pragma once
// Verifies a broker access token the way an MCP server does: against the JWKS the broker serves.

#include <string>

#include <nlohmann/json.hpp>

#include "broker/token/jwt.h"
#include "fakes/http_client.h"

namespace broker::testing {

// `claims` (may be null) receives the payload of a valid token.
token::JwtStatus verifyWithJwks(HttpClient& http, const std::string& base, const std::string& jwt,
                                nlohmann::json* claims = nullptr);

}  // namespace broker::testing
