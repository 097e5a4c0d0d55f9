#pragma once
// Strict JSON object parsing for JOSE headers, JWT claims sets and JWKs (RFC 7515 §4, RFC 7519 §4):
// duplicate members and deep nesting are refused. One implementation, in the verification library.

#include "mcp_auth/jwt.h"

namespace broker::token::detail {

using mcp_auth::detail::kMaxJsonDepth;
using mcp_auth::detail::parseJsonObject;

}  // namespace broker::token::detail
