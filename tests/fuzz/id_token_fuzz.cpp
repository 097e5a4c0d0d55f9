// libFuzzer target for upstream ID tokens (OIDC Core §3.1.3.7): decodeJws, the algorithm and
// signature checks against a JWK Set holding an RS256 and an ES256 key, and the claim checks. The
// input is the compact token as a provider's token endpoint returns it.
//
// Forged signatures never verify, so checkClaims also runs on the payload of every token that
// decodes. Properties: nothing throws or crashes; verifyIdToken accepts a token exactly when every
// step accepts it, and returns its payload. The seed corpus is replayed by a plain ctest
// (id_token_fuzz_corpus) with any compiler.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "fuzz/fuzz_keys.h"
#include "upstream/oidc/id_token.h"

namespace {

namespace oidc = broker::upstream::oidc;

const oidc::JwkSet& keys() {
  static const oidc::JwkSet set = [] {
    namespace f = broker::fuzz;
    nlohmann::json doc = {
        {"keys",
         {{{"kty", "RSA"}, {"kid", f::kRsaKid}, {"use", "sig"}, {"n", f::kRsaN}, {"e", f::kRsaE}},
          {{"kty", "EC"}, {"kid", f::kEcKid}, {"crv", "P-256"}, {"x", f::kEcX}, {"y", f::kEcY}}}}};
    auto parsed = oidc::JwkSet::fromJson(doc);
    if (!parsed.ok() || parsed->size() != 2) __builtin_trap();
    return std::move(parsed.value());
  }();
  return set;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view token(reinterpret_cast<const char*>(data), size);
  const oidc::IdTokenRules rules{"https://idp.example.com", "broker", "fuzz-nonce",
                                 broker::fuzz::kNow, 60};
  const oidc::JwkSet& set = keys();

  auto jws = oidc::decodeJws(token);
  oidc::IdTokenStatus signature = oidc::IdTokenStatus::kMalformed;
  oidc::IdTokenStatus claims = oidc::IdTokenStatus::kMalformed;
  if (jws.ok()) {
    if (jws->signing_input.size() >= token.size()) __builtin_trap();
    const bool alg_ok = oidc::checkAlgorithm(jws.value()) == oidc::IdTokenStatus::kOk;
    signature = oidc::checkSignature(jws.value(), set);
    if (!alg_ok && signature != oidc::IdTokenStatus::kUnsupportedAlg) __builtin_trap();
    claims = oidc::checkClaims(jws->payload, rules);
    (void)oidc::toString(claims);
  }

  auto verified = oidc::verifyIdToken(token, set, rules);
  const bool every_step =
      signature == oidc::IdTokenStatus::kOk && claims == oidc::IdTokenStatus::kOk;
  if (verified.ok() != every_step) __builtin_trap();
  if (verified.ok() && verified.value() != jws->payload) __builtin_trap();
  return 0;
}
