// libFuzzer target for the JSON body of POST /register (RFC 7591 §2): any bytes are either refused
// with invalid_client_metadata / invalid_redirect_uri or parse into a registration that follows
// every client rule, and whose echoed metadata serialises. Nothing throws or crashes.
// The seed corpus is replayed by a plain ctest (register_body_fuzz_corpus) with any compiler.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "broker/oauth/client_rules.h"
#include "broker/oauth/uri.h"
#include "oauth/request_bodies.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  auto parsed = broker::oauth::parseRegistrationRequest(body);
  if (!parsed.ok()) {
    const auto code = parsed.error().code;
    if (code != broker::OAuthCode::kInvalidClientMetadata &&
        code != broker::OAuthCode::kInvalidRedirectUri) {
      __builtin_trap();
    }
    return 0;
  }
  const auto& r = parsed.value();
  if (!broker::oauth::checkClientRegistration(
           {r.redirect_uris, r.token_endpoint_auth_method, r.grant_types})
           .ok()) {
    __builtin_trap();
  }
  for (const auto& uri : r.redirect_uris) {
    if (broker::oauth::checkRedirectUri(uri) != broker::oauth::RedirectCheck::kOk) {
      __builtin_trap();
    }
  }
  for (const auto& t : r.response_types) {
    if (t != "code") __builtin_trap();
  }
  if (r.application_type != "web" && r.application_type != "native") __builtin_trap();
  if (r.client_name.size() > 2000 || r.scope.size() > 2000) __builtin_trap();
  // The response and the stored metadata are this echo, serialised; it must not throw.
  const std::string echoed = r.echo.dump();
  if (echoed.empty() || !r.echo.is_object()) __builtin_trap();
  return 0;
}
