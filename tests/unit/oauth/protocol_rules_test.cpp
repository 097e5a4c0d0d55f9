// Protocol rules that need no server: PKCE S256, scope lists, error shapes.

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "broker/core/crypto.h"
#include "broker/core/encoding.h"
#include "oauth/internal.h"

namespace broker::oauth {
namespace {

TEST(Pkce, MatchesTheRfc7636AppendixBExample) {
  const std::string verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
  const std::string challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
  EXPECT_TRUE(validCodeVerifier(verifier));
  EXPECT_TRUE(validCodeChallenge(challenge));
  EXPECT_TRUE(pkceMatches(verifier, challenge));
  EXPECT_FALSE(pkceMatches(verifier + "x", challenge));
  EXPECT_FALSE(pkceMatches(verifier, challenge.substr(1) + "A"));
}

TEST(Pkce, RejectsMalformedVerifiersAndChallenges) {
  EXPECT_FALSE(validCodeVerifier(std::string(42, 'a')));
  EXPECT_FALSE(validCodeVerifier(std::string(129, 'a')));
  EXPECT_FALSE(validCodeVerifier(std::string(43, 'a') + "+"));
  EXPECT_FALSE(validCodeVerifier(std::string(43, 'a') + " "));
  EXPECT_TRUE(validCodeVerifier(std::string(128, '~')));
  EXPECT_FALSE(validCodeChallenge("short"));
  EXPECT_FALSE(validCodeChallenge(std::string(42, 'A') + "+"));
  EXPECT_FALSE(validCodeChallenge(std::string(44, 'A')));
}

TEST(Scopes, SplitIsWhitespaceRobustAndDeduplicates) {
  auto s = splitScopes("  a\tb \n a  c\r\n");
  ASSERT_EQ(s.size(), 3u);
  EXPECT_EQ(joinScopes(s), "a b c");
  EXPECT_TRUE(splitScopes("   ").empty());
  EXPECT_TRUE(isSubset({"a"}, s));
  EXPECT_TRUE(isSubset({}, s));
  EXPECT_FALSE(isSubset({"d"}, s));
}

TEST(OAuthErrors, UseRegisteredCodesStatusesAndJsonShape) {
  OAuthError e{OAuthCode::kInvalidGrant, "the code \"x\" expired", "private detail"};
  auto j = nlohmann::json::parse(e.toJson());
  EXPECT_EQ(j["error"], "invalid_grant");
  EXPECT_EQ(j["error_description"], "the code \"x\" expired");
  EXPECT_EQ(e.toJson().find("private detail"), std::string::npos);
  EXPECT_EQ(e.httpStatus(), 400);
  EXPECT_EQ(OAuthError(OAuthCode::kInvalidClient, "").httpStatus(), 401);
  EXPECT_EQ(OAuthError(OAuthCode::kServerError, "").httpStatus(), 500);
  EXPECT_EQ(OAuthError(OAuthCode::kTemporarilyUnavailable, "").httpStatus(), 503);
  EXPECT_STREQ(OAuthError(OAuthCode::kInvalidTarget, "").name(), "invalid_target");
}

std::string wwwAuthenticate(const http::Response& r) {
  std::string out;
  for (const auto& [k, v] : r.headers) {
    if (k == "WWW-Authenticate") out += v;
  }
  return out;
}

TEST(OAuthErrors, InvalidClientWithBasicAuthCarriesAChallenge) {
  auto r = errorResponse({OAuthCode::kInvalidClient, "bad"}, "Basic");
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(wwwAuthenticate(r), "Basic realm=\"mcp-auth-broker\"");
}

// RFC 6749 §5.2: the challenge names the scheme of the client's Authorization header, and there is
// none when the client authenticated without that header.
TEST(OAuthErrors, InvalidClientChallengesWithTheSchemeOfTheAuthorizationHeaderOnly) {
  const OAuthError e{OAuthCode::kInvalidClient, "bad"};
  struct Row {
    const char* authorization;  // nullptr: no header
    const char* challenge;
  };
  const Row rows[] = {
      {nullptr, ""},
      {"Basic Zm9vOmJhcg==", "Basic realm=\"mcp-auth-broker\""},
      {"basic Zm9vOmJhcg==", "Basic realm=\"mcp-auth-broker\""},
      {"Basic", "Basic realm=\"mcp-auth-broker\""},
      {"Bearer abc", "Bearer realm=\"mcp-auth-broker\""},
      {"b@d value", "Basic realm=\"mcp-auth-broker\""},
  };
  for (const auto& row : rows) {
    http::Request req;
    if (row.authorization) req.headers["authorization"] = row.authorization;
    auto r = clientAuthErrorResponse(req, e);
    EXPECT_EQ(r.status, 401);
    EXPECT_EQ(wwwAuthenticate(r), row.challenge) << (row.authorization ? row.authorization : "-");
  }
  // Errors other than invalid_client never challenge for a client scheme.
  http::Request basic;
  basic.headers["authorization"] = "Basic Zm9vOmJhcg==";
  EXPECT_EQ(wwwAuthenticate(clientAuthErrorResponse(basic, {OAuthCode::kInvalidRequest, "x"})), "");
}

TEST(Pages, CspAllowsFormsOnlyWhereTheyLead) {
  const std::string none = pageCsp({});
  EXPECT_NE(none.find("form-action 'none';"), std::string::npos) << none;
  EXPECT_NE(none.find("default-src 'none';"), std::string::npos) << none;
  EXPECT_NE(none.find("base-uri 'none';"), std::string::npos) << none;
  EXPECT_NE(none.find("frame-ancestors 'none'"), std::string::npos) << none;
  EXPECT_EQ(none.find("unsafe-inline"), std::string::npos) << none;

  const std::string consent =
      pageCsp({"'self'", "http://127.0.0.1:7777/cb", "https://github.com/login/oauth/authorize",
               "https://github.com/other", "cursor://cb", "not a uri"});
  EXPECT_NE(consent.find("form-action 'self' http://127.0.0.1:7777 https://github.com cursor:;"),
            std::string::npos)
      << consent;
}

TEST(Pages, StyleIsAllowedByTheHashOfTheOneStyleBlock) {
  auto page = errorPage(400, "t", "m");
  const std::string body = page.body;
  const size_t open = body.find("<style>") + 7;
  const std::string style = body.substr(open, body.find("</style>") - open);
  std::string csp;
  for (const auto& [name, value] : page.headers) {
    if (name == "Content-Security-Policy") csp = value;
  }
  EXPECT_NE(csp.find("style-src 'sha256-" + base64Encode(sha256(style)) + "'"), std::string::npos)
      << csp;
}

TEST(Pages, ErrorPagesEscapeEverything) {
  auto r = errorPage(400, "<title>", "<script>alert(1)</script>",
                     PageLink{"go \"now\"", "https://x.example/?a=1&b=<2>"});
  EXPECT_EQ(r.body.find("<script>"), std::string::npos);
  EXPECT_NE(r.body.find("&lt;script&gt;"), std::string::npos);
  EXPECT_NE(r.body.find("a=1&amp;b=&lt;2&gt;"), std::string::npos);
}

}  // namespace
}  // namespace broker::oauth
