// libFuzzer target for an OpenID provider's discovery document (OIDC Discovery §4) and the JWK Set
// it points at, read by the upstream's ProviderCache through its HTTP client. The input is a script
// of two responses (see scripted_http.h): /.well-known/openid-configuration, then the JWKS.
//
// Properties: nothing throws or crashes; metadata that is accepted has https (or loopback http)
// endpoints and is about the configured issuer, and the JWKS is fetched from its jwks_uri only.
// The seed corpus is replayed by a plain ctest (oidc_discovery_fuzz_corpus) with any compiler.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "broker/core/clock.h"
#include "broker/core/log.h"
#include "broker/oauth/uri.h"
#include "broker/upstream/oidc.h"
#include "fuzz/scripted_http.h"
#include "upstream/oidc/discovery.h"

namespace {

bool secureEndpoint(const std::string& url) {
  auto u = broker::oauth::parseUri(url);
  return u && u->has_authority && !u->host.empty() &&
         (u->scheme == "https" || (u->scheme == "http" && broker::oauth::isLoopbackHost(u->host)));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const bool quiet = (broker::log::setLevel(broker::log::Level::kError), true);
  (void)quiet;
  broker::fuzz::ScriptedHttp http(std::string_view(reinterpret_cast<const char*>(data), size));
  broker::FakeClock clock;
  broker::upstream::OidcOptions o;
  o.id = "corp";
  o.issuer = "https://idp.example.com";
  o.client_id = "broker";
  broker::upstream::oidc::ProviderCache provider(o, "Example SSO", http, clock);

  auto meta = provider.metadata();
  if (meta.ok()) {
    for (const auto* url :
         {&meta->authorization_endpoint, &meta->token_endpoint, &meta->jwks_uri}) {
      if (!secureEndpoint(*url)) __builtin_trap();
    }
    if (!meta->userinfo_endpoint.empty() && !secureEndpoint(meta->userinfo_endpoint)) {
      __builtin_trap();
    }
  }
  // The key set comes from the jwks_uri of the metadata the provider holds (fetched again by
  // keys() when the first fetch failed), and metadata once fetched is served from the cache.
  auto keys = provider.keys();
  const size_t asked = http.requests().size();
  auto held = provider.metadata();
  if (http.requests().size() != asked && (meta.ok() || keys.ok())) __builtin_trap();
  if (keys.ok() && (!held.ok() || asked == 0 || http.requests()[asked - 1].url != held->jwks_uri)) {
    __builtin_trap();
  }
  return 0;
}
