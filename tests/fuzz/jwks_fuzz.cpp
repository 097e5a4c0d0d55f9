// libFuzzer target for JWK Sets (RFC 7517 §5): the OpenID upstream's parser (RS256 and ES256 keys
// from a provider) and the verifier library's (the broker's own RS256 or ES256 keys, as MCP
// servers read them). Properties: nothing throws or crashes; every key kept has a kid the lookup
// finds again (the verifier library keeps one key per kid, RSA within its size bounds or P-256),
// and a key of the set never verifies an empty signature. The seed corpus is replayed by a plain
// ctest (jwks_fuzz_corpus) with any compiler.

#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <string_view>

#include "mcp_auth/verifier.h"
#include "upstream/oidc/id_token.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);

  auto set = broker::upstream::oidc::JwkSet::parse(text);
  if (set.ok()) {
    for (const char* alg : {"RS256", "ES256", "none", "HS256"}) {
      for (const char* kid : {"", "fuzz-rsa", "fuzz-ec", "1"}) {
        const auto* key = set->find(kid, alg);
        if (!key) continue;
        if (key->alg() != alg || (*kid && key->kid() != kid)) __builtin_trap();
        if (key->verify("a.b", "")) __builtin_trap();
      }
    }
  }

  if (auto keys = mcp_auth::parseJwks(text)) {
    std::set<std::string> kids;
    for (const auto& k : *keys) {
      if (k.kid.empty() || !k.key || !kids.insert(k.kid).second) __builtin_trap();
      // An RSA key within the size bounds, or a P-256 key (ES256); nothing else is kept.
      const int bits = k.key->bits();
      const std::string_view alg = k.key->alg();
      if (alg == "RS256") {
        if (bits < mcp_auth::kMinRsaBits || bits > mcp_auth::kMaxRsaBits) __builtin_trap();
      } else if (alg != "ES256" || bits != 256) {
        __builtin_trap();
      }
      if (k.key->verify("a.b", "")) __builtin_trap();
    }
  }
  return 0;
}
