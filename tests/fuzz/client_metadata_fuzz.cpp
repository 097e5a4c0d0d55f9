// libFuzzer target for client ID metadata documents (oauth/client_metadata): the JSON a client
// serves at its client_id URL, the Cache-Control of that response, and the client_id and address
// checks made before a fetch. Properties: a document is either refused with invalid_client or
// becomes a public client named by its URL whose redirect URIs follow the registration rules and
// whose stored metadata is valid JSON; nothing throws or crashes. The seed corpus is replayed by
// a plain ctest (client_metadata_fuzz_corpus) with any compiler.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "broker/oauth/uri.h"
#include "mcp_auth/verifier.h"
#include "oauth/client_metadata.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  const std::string url = "https://app.example.com/oauth/client.json";

  auto client = broker::oauth::clientFromMetadataDocument(url, body);
  if (!client.ok()) {
    if (client.error().code != broker::OAuthCode::kInvalidClient) __builtin_trap();
  } else {
    const auto& c = client.value();
    if (c.client_id != url || c.token_endpoint_auth_method != "none" || c.redirect_uris.empty() ||
        !c.secret_hash.empty() || c.client_name.size() > 200) {
      __builtin_trap();
    }
    for (const auto& uri : c.redirect_uris) {
      if (broker::oauth::checkRedirectUri(uri) != broker::oauth::RedirectCheck::kOk) {
        __builtin_trap();
      }
    }
    for (const auto& g : c.grant_types) {
      if (g != "authorization_code" && g != "refresh_token") __builtin_trap();
    }
    auto stored = nlohmann::json::parse(c.metadata_json, nullptr, false);
    if (stored.is_discarded() || !stored.is_object()) __builtin_trap();
  }

  // The same bytes as the response's Cache-Control, as a client_id and as a peer address.
  bool no_store = false;
  const int64_t max_age = mcp_auth::parseMaxAge(body, &no_store);
  if (max_age < -1) __builtin_trap();
  const std::string text(body);
  for (bool loopback : {false, true}) {
    if (broker::oauth::isClientMetadataUrl(text, loopback)) {
      if (!broker::oauth::parseUri(text)) __builtin_trap();
    }
    (void)broker::oauth::isFetchableAddress(text, loopback);
  }
  return 0;
}
