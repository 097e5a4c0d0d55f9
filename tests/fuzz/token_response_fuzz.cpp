// libFuzzer target for upstream token endpoint answers (RFC 6749 §5.1, §5.2, and GitHub's errors
// sent with HTTP 200): oauth_client::requestToken, which both upstreams use for the code exchange
// and for refreshes. The input is a script of one response (see scripted_http.h).
//
// Properties: nothing throws or crashes; an accepted answer has an access token, and lifetimes
// that are never negative. The seed corpus is replayed by a plain ctest
// (token_response_fuzz_corpus) with any compiler.

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "broker/core/log.h"
#include "fuzz/scripted_http.h"
#include "upstream/oidc/oauth_client.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const bool quiet = (broker::log::setLevel(broker::log::Level::kError), true);
  (void)quiet;
  namespace oc = broker::upstream::oauth_client;
  broker::fuzz::ScriptedHttp http(std::string_view(reinterpret_cast<const char*>(data), size));
  oc::TokenRequest request;
  request.url = "https://idp.example.com/token";
  request.form = {{"grant_type", "authorization_code"}, {"code", "fuzz-code"}};
  request.client_id = "broker";
  request.client_secret = broker::Secret("fuzz-secret");
  request.auth = size % 2 ? oc::ClientAuth::kSecretBasic : oc::ClientAuth::kSecretPost;

  auto token = oc::requestToken(http, "Example SSO", request);
  if (token.ok()) {
    if (token->access_token.empty() || token->expires_in < 0 ||
        token->refresh_token_expires_in < 0) {
      __builtin_trap();
    }
  } else if (token.error().description.empty()) {
    __builtin_trap();
  }
  return 0;
}
