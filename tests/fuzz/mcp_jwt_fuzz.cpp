// libFuzzer target for JWT parsing in the verifier library (mcp_auth, what MCP servers link):
// decodeJwt, the pure checks, verifyAccessToken and Verifier::verifyAuthorization with the
// WWW-Authenticate challenge it builds. The input is a token (or an Authorization header value).
//
// Forged signatures never verify, so the claim readers are also run behind a signature check that
// accepts every token: claims are still read only through the library's own pipeline. Properties:
// nothing throws or crashes, an accepted token satisfies every rule it was checked against, and
// the challenge is a single header line. The seed corpus is replayed by a plain ctest
// (mcp_jwt_fuzz_corpus) with any compiler.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz/fuzz_keys.h"
#include "mcp_auth/jwt.h"
#include "mcp_auth/verifier.h"

namespace {

constexpr const char* kIssuer = "https://auth.example.com";
constexpr const char* kResource = "https://mcp.example.com/mcp";

const std::shared_ptr<const mcp_auth::RsaPublicKey>& trustedKey() {
  static const auto key = mcp_auth::RsaPublicKey::fromJwk(broker::fuzz::kRsaN, broker::fuzz::kRsaE);
  return key;
}

const mcp_auth::Verifier& verifier() {
  static const auto v = [] {
    mcp_auth::VerifierOptions o;
    o.issuer = kIssuer;
    o.resource = kResource;
    o.resource_metadata_url = "https://mcp.example.com/.well-known/oauth-protected-resource/mcp";
    o.required_scopes = {"mcp:example.com:files"};
    return mcp_auth::Verifier::create(
        o,
        [](const std::string& kid) {
          return kid == broker::fuzz::kRsaKid ? trustedKey()
                                              : std::shared_ptr<const mcp_auth::RsaPublicKey>();
        },
        [] { return int64_t{broker::fuzz::kNow}; });
  }();
  return *v;
}

bool singleLine(const std::string& s) {
  for (unsigned char c : s) {
    if (c < 0x20 || c == 0x7f) return false;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (!trustedKey()) __builtin_trap();
  const std::string_view token(reinterpret_cast<const char*>(data), size);

  mcp_auth::DecodedJwt jwt;
  if (mcp_auth::decodeJwt(token, jwt) == mcp_auth::JwtStatus::kOk) {
    (void)mcp_auth::checkAlgorithm(jwt);
    (void)mcp_auth::checkAccessTokenType(jwt.typ);
    (void)mcp_auth::checkSignature(jwt, trustedKey().get());
    if (jwt.signing_input.size() + 1 > token.size()) __builtin_trap();
  }

  // Past the signature, as if a trusted key had signed it.
  mcp_auth::AccessTokenRules rules{kIssuer, "", kResource, broker::fuzz::kNow, 30};
  mcp_auth::VerifiedJwt out;
  auto any_signature = [](const mcp_auth::DecodedJwt&) { return mcp_auth::JwtStatus::kOk; };
  if (mcp_auth::verifyAccessToken(token, any_signature, rules, out) == mcp_auth::JwtStatus::kOk) {
    const auto& c = out.claims;
    if (c.iss != kIssuer || c.sub.empty() || c.jti.empty() || c.client_id.empty()) {
      __builtin_trap();
    }
    if (mcp_auth::checkTimes(c.exp, c.iat, c.nbf, rules.now, rules.leeway) !=
            mcp_auth::JwtStatus::kOk ||
        mcp_auth::checkResourceAudience(c.aud, kResource) != mcp_auth::JwtStatus::kOk) {
      __builtin_trap();
    }
    (void)mcp_auth::splitScopes(c.scope);
  }

  // The verifier as a resource server runs it, on the token and on the bytes as a header value.
  const auto& v = verifier();
  for (const auto& result : {v.verify(token), v.verifyAuthorization(token),
                             v.verifyAuthorization("Bearer " + std::string(token))}) {
    if (result.ok() && result.claims.iss != kIssuer) __builtin_trap();
    const int status = result.httpStatus();
    if (status != 200 && status != 401 && status != 403) __builtin_trap();
    if (!result.ok() && !singleLine(v.challenge(result))) __builtin_trap();
  }
  if (auto bearer = mcp_auth::bearerToken(token)) {
    if (bearer->empty() || bearer->size() >= token.size()) __builtin_trap();
  }
  return 0;
}
