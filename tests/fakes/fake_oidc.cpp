// Fake OpenID Connect provider (see fake_oidc.h) and the test signing keys it uses, built on the
// OpenSSL 3 EVP API.

#include "fakes/fake_oidc.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <stdexcept>

#include "broker/core/crypto.h"
#include "broker/core/encoding.h"

namespace broker::testing {
namespace {

using nlohmann::json;

std::string bnParam(EVP_PKEY* key, const char* name, int pad) {
  BIGNUM* bn = nullptr;
  if (EVP_PKEY_get_bn_param(key, name, &bn) != 1) throw std::runtime_error("no key parameter");
  std::string out(pad > 0 ? pad : BN_num_bytes(bn), '\0');
  BN_bn2binpad(bn, reinterpret_cast<unsigned char*>(out.data()), int(out.size()));
  BN_free(bn);
  return out;
}

std::string b64json(const json& j) {
  return base64urlEncode(j.dump());
}

std::string queryValue(const http::Request& req, const std::string& name) {
  auto it = req.query.find(name);
  return it == req.query.end() ? std::string() : it->second;
}

std::string appendQuery(const std::string& url, const std::string& query) {
  return url + (url.find('?') == std::string::npos ? "?" : "&") + query;
}

}  // namespace

// ---- TestSigningKey ----

TestSigningKey TestSigningKey::generate(const std::string& alg, const std::string& kid) {
  EVP_PKEY* raw = nullptr;
  if (alg == "RS256") {
    raw = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(2048));
  } else if (alg == "ES256") {
    raw = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
  }
  if (!raw) throw std::runtime_error("cannot generate a " + alg + " key");
  TestSigningKey k;
  k.alg_ = alg;
  k.kid_ = kid;
  k.key_ = std::shared_ptr<EVP_PKEY>(raw, EVP_PKEY_free);
  return k;
}

json TestSigningKey::publicJwk() const {
  json jwk = {{"kid", kid_}, {"use", "sig"}, {"alg", alg_}};
  if (alg_ == "RS256") {
    jwk["kty"] = "RSA";
    jwk["n"] = base64urlEncode(bnParam(key_.get(), OSSL_PKEY_PARAM_RSA_N, 0));
    jwk["e"] = base64urlEncode(bnParam(key_.get(), OSSL_PKEY_PARAM_RSA_E, 0));
  } else {
    jwk["kty"] = "EC";
    jwk["crv"] = "P-256";
    jwk["x"] = base64urlEncode(bnParam(key_.get(), OSSL_PKEY_PARAM_EC_PUB_X, 32));
    jwk["y"] = base64urlEncode(bnParam(key_.get(), OSSL_PKEY_PARAM_EC_PUB_Y, 32));
  }
  return jwk;
}

std::string TestSigningKey::publicPem() const {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PUBKEY(bio, key_.get());
  char* data = nullptr;
  long len = BIO_get_mem_data(bio, &data);
  std::string out(data, len);
  BIO_free(bio);
  return out;
}

std::string TestSigningKey::sign(std::string_view input) const {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  size_t len = 0;
  std::string sig;
  auto data = reinterpret_cast<const unsigned char*>(input.data());
  if (EVP_DigestSignInit(ctx, nullptr, EVP_sha256(), nullptr, key_.get()) != 1 ||
      EVP_DigestSign(ctx, nullptr, &len, data, input.size()) != 1) {
    EVP_MD_CTX_free(ctx);
    throw std::runtime_error("signing failed");
  }
  sig.resize(len);
  if (EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(sig.data()), &len, data, input.size()) !=
      1) {
    EVP_MD_CTX_free(ctx);
    throw std::runtime_error("signing failed");
  }
  EVP_MD_CTX_free(ctx);
  sig.resize(len);
  if (alg_ == "RS256") return sig;
  // DER ECDSA-Sig-Value -> JWS r || s.
  const unsigned char* p = reinterpret_cast<const unsigned char*>(sig.data());
  ECDSA_SIG* es = d2i_ECDSA_SIG(nullptr, &p, long(sig.size()));
  if (!es) throw std::runtime_error("bad ECDSA signature");
  std::string out(64, '\0');
  BN_bn2binpad(ECDSA_SIG_get0_r(es), reinterpret_cast<unsigned char*>(out.data()), 32);
  BN_bn2binpad(ECDSA_SIG_get0_s(es), reinterpret_cast<unsigned char*>(out.data()) + 32, 32);
  ECDSA_SIG_free(es);
  return out;
}

std::string TestSigningKey::jwt(const json& payload, json header) const {
  if (!header.contains("alg")) header["alg"] = alg_;
  if (!header.contains("kid") && !kid_.empty()) header["kid"] = kid_;
  if (!header.contains("typ")) header["typ"] = "JWT";
  std::string input = b64json(header) + "." + b64json(payload);
  return input + "." + base64urlEncode(sign(input));
}

std::string rawJws(const json& header, const json& payload, std::string_view signature) {
  return b64json(header) + "." + b64json(payload) + "." + base64urlEncode(signature);
}

// ---- FakeOidc ----

FakeOidc::FakeOidc(FakeOidcOptions options)
    : FakeUpstreamServer(options.clock),
      options_(std::move(options)),
      published_{TestSigningKey::generate(options_.alg, "key-1")},
      outsider_(TestSigningKey::generate(options_.alg, "outsider")) {
  const std::string& p = options_.issuer_path;
  route("GET", p + "/.well-known/openid-configuration", [this](const http::Request&) {
    const std::string iss = issuer();
    std::lock_guard<std::mutex> lock(state_mutex_);
    json doc = {{"issuer", iss},
                {"authorization_endpoint", iss + "/authorize"},
                {"token_endpoint", iss + "/token"},
                {"userinfo_endpoint", iss + "/userinfo"},
                {"jwks_uri", iss + "/jwks"},
                {"response_types_supported", {"code"}},
                {"subject_types_supported", {"public"}},
                {"id_token_signing_alg_values_supported", {"RS256", "ES256"}},
                {"scopes_supported", {"openid", "email", "profile", "groups", "offline_access"}},
                {"token_endpoint_auth_methods_supported", options_.auth_methods},
                {"code_challenge_methods_supported", {"S256"}},
                {"grant_types_supported", {"authorization_code", "refresh_token"}},
                {"authorization_response_iss_parameter_supported", options_.send_iss}};
    doc.merge_patch(discovery_patch_);
    return jsonReply(200, doc);
  });
  route("GET", p + "/jwks", [this](const http::Request&) {
    std::lock_guard<std::mutex> lock(state_mutex_);
    json keys = json::array();
    for (const auto& k : published_) keys.push_back(k.publicJwk());
    return jsonReply(200, {{"keys", keys}});
  });
  route("GET", p + "/authorize", [this](const http::Request& r) { return authorize(r); });
  route("POST", p + "/token", [this](const http::Request& r) { return token(r); });
  route("GET", p + "/userinfo", [this](const http::Request& r) { return userinfo(r); });
  start();
}

FakeOidc::~FakeOidc() {
  stop();
}

void FakeOidc::signIn(const json& claims) {
  std::lock_guard<std::mutex> lock(state_mutex_);
  signed_in_ = claims.at("sub").get<std::string>();
  claims_[signed_in_] = claims;
}

void FakeOidc::setClaims(const json& claims) {
  std::lock_guard<std::mutex> lock(state_mutex_);
  claims_[claims.at("sub").get<std::string>()] = claims;
}

void FakeOidc::setUserinfoClaims(const json& claims) {
  std::lock_guard<std::mutex> lock(state_mutex_);
  userinfo_claims_ = claims;
}

void FakeOidc::setUserinfoSub(const std::string& sub) {
  std::lock_guard<std::mutex> lock(state_mutex_);
  userinfo_sub_ = sub;
}

void FakeOidc::setDenyAuthorization(bool deny) {
  std::lock_guard<std::mutex> lock(state_mutex_);
  deny_ = deny;
}

void FakeOidc::setIdTokenFault(IdTokenFault fault) {
  std::lock_guard<std::mutex> lock(state_mutex_);
  fault_ = fault;
}

void FakeOidc::rotateKey(const std::string& alg, bool keep_old) {
  auto key = TestSigningKey::generate(alg, "key-" + std::to_string(published_.size() + 1));
  auto outsider = TestSigningKey::generate(alg, "outsider");
  std::lock_guard<std::mutex> lock(state_mutex_);
  if (!keep_old) published_.clear();
  published_.push_back(std::move(key));
  outsider_ = std::move(outsider);
}

void FakeOidc::patchDiscovery(const json& patch) {
  std::lock_guard<std::mutex> lock(state_mutex_);
  discovery_patch_.merge_patch(patch);
}

void FakeOidc::revokeRefreshTokens() {
  std::lock_guard<std::mutex> lock(state_mutex_);
  refresh_tokens_.clear();
}

void FakeOidc::setTokenError(const std::string& error) {
  std::lock_guard<std::mutex> lock(state_mutex_);
  token_error_ = error;
}

TestSigningKey FakeOidc::signingKey() const {
  std::lock_guard<std::mutex> lock(state_mutex_);
  return published_.back();
}

std::map<std::string, std::string> FakeOidc::lastAuthorizeParams() const {
  std::lock_guard<std::mutex> lock(state_mutex_);
  return last_authorize_;
}

std::string FakeOidc::lastClientAuth() const {
  std::lock_guard<std::mutex> lock(state_mutex_);
  return last_client_auth_;
}

http::Response FakeOidc::authorize(const http::Request& req) {
  const std::string iss = issuer();
  std::lock_guard<std::mutex> lock(state_mutex_);
  last_authorize_ = req.query;
  const std::string redirect_uri = queryValue(req, "redirect_uri");
  if (queryValue(req, "client_id") != options_.client_id || redirect_uri.empty()) {
    return http::Response::html(400, "<h1>Unknown client or missing redirect_uri</h1>");
  }
  std::string back = "&state=" + urlEncode(queryValue(req, "state"));
  if (options_.send_iss) back += "&iss=" + urlEncode(iss);
  auto error = [&](const std::string& code, const std::string& description) {
    return http::Response::redirect(appendQuery(
        redirect_uri, "error=" + code + "&error_description=" + urlEncode(description) + back));
  };
  if (queryValue(req, "response_type") != "code") {
    return error("unsupported_response_type", "only code");
  }
  if (queryValue(req, "code_challenge").empty() ||
      queryValue(req, "code_challenge_method") != "S256") {
    return error("invalid_request", "PKCE S256 is required");
  }
  if (deny_) return error("access_denied", "The resource owner denied the request");
  if (signed_in_.empty()) return http::Response::html(400, "<h1>nobody is signed in</h1>");
  std::string code = "oidc-code-" + std::to_string(++serial_);
  codes_[code] = {signed_in_, queryValue(req, "nonce"), redirect_uri,
                  queryValue(req, "code_challenge"), now() + 600};
  return http::Response::redirect(appendQuery(redirect_uri, "code=" + urlEncode(code) + back));
}

http::Response FakeOidc::token(const http::Request& req) {
  std::lock_guard<std::mutex> lock(state_mutex_);
  auto f = form(req);
  std::string client_id = f["client_id"], secret = f["client_secret"];
  last_client_auth_ = f.count("client_secret") ? "client_secret_post" : "none";
  if (auto basic = basicAuth(req)) {
    std::tie(client_id, secret) = *basic;
    last_client_auth_ = "client_secret_basic";
  }
  auto fail = [](int status, const std::string& error) {
    auto r = jsonReply(status, {{"error", error}, {"error_description", error + " (fake)"}});
    if (status == 401) r.header("WWW-Authenticate", "Basic realm=\"fake\"");
    return r;
  };
  if (client_id != options_.client_id || secret != options_.client_secret) {
    return fail(401, "invalid_client");
  }
  if (!token_error_.empty()) return fail(400, token_error_);
  if (f["grant_type"] == "authorization_code") {
    auto it = codes_.find(f["code"]);
    if (it == codes_.end()) return fail(400, "invalid_grant");
    Grant g = it->second;
    codes_.erase(it);
    if (g.expires_at <= now() || f["redirect_uri"] != g.redirect_uri ||
        !pkceMatches(g.challenge, f["code_verifier"])) {
      return fail(400, "invalid_grant");
    }
    return jsonReply(200, tokenSet(g.sub, g.nonce));
  }
  if (f["grant_type"] == "refresh_token") {
    auto it = refresh_tokens_.find(f["refresh_token"]);
    if (it == refresh_tokens_.end()) return fail(400, "invalid_grant");
    std::string sub = it->second;
    refresh_tokens_.erase(it);  // rotation: single use
    return jsonReply(200, tokenSet(sub, ""));
  }
  return fail(400, "unsupported_grant_type");
}

json FakeOidc::tokenSet(const std::string& sub, const std::string& nonce) {
  const std::string n = std::to_string(++serial_);
  access_tokens_["oidc-at-" + n] = sub;
  json out = {{"access_token", "oidc-at-" + n},
              {"token_type", "Bearer"},
              {"expires_in", options_.token_ttl},
              {"scope", "openid email profile"},
              {"id_token", idToken(sub, nonce)}};
  if (options_.refresh_tokens) {
    refresh_tokens_["oidc-rt-" + n] = sub;
    out["refresh_token"] = "oidc-rt-" + n;
  }
  return out;
}

std::string FakeOidc::idToken(const std::string& sub, const std::string& nonce) const {
  const int64_t t = now();
  json payload = claims_.count(sub) ? claims_.at(sub) : json{{"sub", sub}};
  payload.update({{"iss", issuer()},
                  {"sub", sub},
                  {"aud", options_.client_id},
                  {"iat", t},
                  {"exp", t + options_.token_ttl},
                  {"auth_time", t}});
  if (!nonce.empty()) payload["nonce"] = nonce;
  switch (fault_) {
    case IdTokenFault::kWrongIssuer:
      payload["iss"] = "https://issuer.invalid";
      break;
    case IdTokenFault::kWrongAudience:
      payload["aud"] = "another-client";
      break;
    case IdTokenFault::kWrongAzp:
      payload["aud"] = {options_.client_id, "another-client"};
      payload["azp"] = "another-client";
      break;
    case IdTokenFault::kExpired:
      payload["iat"] = t - 3720;
      payload["exp"] = t - 120;
      break;
    case IdTokenFault::kIssuedInFuture:
      payload["iat"] = t + 600;
      payload["exp"] = t + 600 + options_.token_ttl;
      break;
    case IdTokenFault::kWrongNonce:
      payload["nonce"] = "not-the-nonce-that-was-sent";
      break;
    case IdTokenFault::kNoNonce:
      payload.erase("nonce");
      break;
    default:
      break;
  }
  return signedWith(payload);
}

std::string FakeOidc::signedWith(const json& payload) const {
  const TestSigningKey& key = published_.back();
  switch (fault_) {
    case IdTokenFault::kWrongKey:
      return outsider_.jwt(payload, {{"kid", key.kid()}});
    case IdTokenFault::kUnknownKid:
      return outsider_.jwt(payload, {{"kid", "unpublished-kid"}});
    case IdTokenFault::kAlgNone:
      return rawJws({{"alg", "none"}, {"typ", "JWT"}}, payload, "");
    case IdTokenFault::kHs256: {
      json header = {{"alg", "HS256"}, {"typ", "JWT"}, {"kid", key.kid()}};
      std::string input = base64urlEncode(header.dump()) + "." + base64urlEncode(payload.dump());
      return input + "." + base64urlEncode(hmacSha256(key.publicPem(), input));
    }
    case IdTokenFault::kFlippedSignature: {
      std::string good = key.jwt(payload);
      size_t dot = good.rfind('.');
      std::string sig = *base64urlDecode(good.substr(dot + 1));
      sig[sig.size() / 2] = static_cast<char>(sig[sig.size() / 2] ^ 0x01);
      return good.substr(0, dot + 1) + base64urlEncode(sig);
    }
    default:
      return key.jwt(payload);
  }
}

http::Response FakeOidc::userinfo(const http::Request& req) {
  std::lock_guard<std::mutex> lock(state_mutex_);
  auto it = access_tokens_.find(bearer(req));
  if (it == access_tokens_.end()) {
    auto r = jsonReply(401, {{"error", "invalid_token"}});
    r.header("WWW-Authenticate", "Bearer error=\"invalid_token\"");
    return r;
  }
  json out = claims_.count(it->second) ? claims_.at(it->second) : json{{"sub", it->second}};
  out.update(userinfo_claims_);
  out["sub"] = userinfo_sub_.empty() ? it->second : userinfo_sub_;
  return jsonReply(200, out);
}

}  // namespace broker::testing
