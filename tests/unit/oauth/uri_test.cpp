#include "broker/oauth/uri.h"

#include <gtest/gtest.h>

#include <initializer_list>

namespace broker::oauth {
namespace {

TEST(UriParse, SplitsEveryComponent) {
  auto u = parseUri("HTTPS://User:Pw@Example.COM:8443/a/b?x=1&y=2#frag");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->scheme, "https");
  EXPECT_TRUE(u->has_userinfo);
  EXPECT_EQ(u->userinfo, "User:Pw");
  EXPECT_EQ(u->host, "example.com");
  EXPECT_EQ(u->port, "8443");
  EXPECT_EQ(u->path, "/a/b");
  EXPECT_TRUE(u->has_query);
  EXPECT_EQ(u->query, "x=1&y=2");
  EXPECT_TRUE(u->has_fragment);
  EXPECT_TRUE(u->has_authority);
}

TEST(UriParse, KeepsIpv6LiteralWithoutBrackets) {
  auto u = parseUri("http://[::1]:3000/cb");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->host, "::1");
  EXPECT_EQ(u->port, "3000");
  EXPECT_EQ(u->path, "/cb");
  auto v = parseUri("https://[2001:DB8::1]/");
  ASSERT_TRUE(v);
  EXPECT_EQ(v->host, "2001:db8::1");
  EXPECT_TRUE(v->port.empty());
}

TEST(UriParse, ParsesPrivateUseSchemes) {
  auto a = parseUri("com.example.app:/oauth/cb");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->scheme, "com.example.app");
  EXPECT_FALSE(a->has_authority);
  EXPECT_EQ(a->path, "/oauth/cb");
  auto b = parseUri("cursor://callback");
  ASSERT_TRUE(b);
  EXPECT_EQ(b->host, "callback");
  EXPECT_TRUE(b->path.empty());
}

TEST(UriParse, DistinguishesEmptyQueryFromNone) {
  EXPECT_TRUE(parseUri("https://a.example/?")->has_query);
  EXPECT_FALSE(parseUri("https://a.example/")->has_query);
  EXPECT_TRUE(parseUri("https://@a.example/")->has_userinfo);
}

TEST(UriParse, RejectsMalformedInput) {
  const char* bad[] = {
      "",
      "no-scheme",
      "/relative/path",
      "//host/path",
      "1http://a.example/",
      "ht tp://a.example/",
      "https://a.example/has space",
      " https://a.example/",
      "https://a.example/\t",
      "https://a.example/\n",
      "https://a.example/\x7f",
      "https://a.example/caf\xc3\xa9",
      "https://a.example/<script>",
      "https://a.example/\"q\"",
      "https://a.example/a|b",
      "https://a.example/a\\b",
      "https://a.example/{x}",
      "https://a.example/%",
      "https://a.example/%4",
      "https://a.example/%zz",
      "https://a.example:/",
      "https://a.example:99999/",
      "https://a.example:123456/",
      "https://a.example:80a/",
      "https://a.example:-1/",
      "https://[::1/",
      "https://[not-ipv6]/",
      "https://[127.0.0.1]/",
      "https://[::1]x/",
      "https://a.example/#frag#again",
      "https://a.example/#<x>",
      "https://a.example/?q=<x>",
      "https://a.ex ample/",
      "https://a^b.example/",
  };
  for (const char* text : bad) EXPECT_FALSE(parseUri(text)) << text;
}

TEST(UriParse, RejectsEmbeddedNul) {
  std::string text = "https://a.example/x";
  text[10] = '\0';
  EXPECT_FALSE(parseUri(text));
}

TEST(UriOrigin, IsSchemeHostAndPortWithIpv6InBrackets) {
  EXPECT_EQ(originOf("https://A.example:8443/p?q#f"), "https://a.example:8443");
  EXPECT_EQ(originOf("http://127.0.0.1/cb"), "http://127.0.0.1");
  EXPECT_EQ(originOf("http://[::1]:7777/cb"), "http://[::1]:7777");
  EXPECT_EQ(originOf("cursor://callback"), "cursor://callback");
  EXPECT_FALSE(originOf("com.example.app:/callback"));
  EXPECT_FALSE(originOf("not a uri"));
}

// One row per shape of redirect target a page's form-action must allow.
TEST(UriCspSource, IsTheNarrowestSourceTheCspGrammarCanSay) {
  const std::vector<std::pair<const char*, std::optional<std::string>>> rows = {
      {"https://github.com/login/oauth/authorize", "https://github.com"},
      {"http://127.0.0.1:7777/callback?x=1", "http://127.0.0.1:7777"},
      {"http://localhost:5000/cb", "http://localhost:5000"},
      {"com.example.app:/callback", "com.example.app:"},  // a native app's scheme
      {"cursor://cb/x", "cursor:"},
      {"http://[::1]:7777/cb", "http:"},  // no IPv6 host-source in CSP
      {"bad uri", std::nullopt},
  };
  for (const auto& [uri, source] : rows) EXPECT_EQ(cspSourceFor(uri), source) << uri;
}

TEST(UriLoopback, RecognisesLoopbackHosts) {
  for (const char* h : {"127.0.0.1", "127.1.2.3", "127.255.255.255", "::1", "[::1]", "localhost",
                        "LOCALHOST", "0:0:0:0:0:0:0:1"}) {
    EXPECT_TRUE(isLoopbackHost(h)) << h;
  }
}

TEST(UriLoopback, RejectsLookAlikes) {
  for (const char* h :
       {"", "128.0.0.1", "126.255.255.255", "10.0.0.1", "0.0.0.0", "::", "::2", "localhost.",
        "localhost.evil.example", "evil-localhost", "127.0.0.1.nip.io", "127.0.0.01", "0x7f.0.0.1",
        "127.1", "::ffff:127.0.0.1", "[::1"}) {
    EXPECT_FALSE(isLoopbackHost(h)) << h;
  }
}

TEST(ResourceCanonical, LowerCasesSchemeAndHostAndDropsDefaults) {
  EXPECT_EQ(*canonicalResource("HTTPS://Example.COM/"), "https://example.com");
  EXPECT_EQ(*canonicalResource("https://example.com:443/mcp"), "https://example.com/mcp");
  EXPECT_EQ(*canonicalResource("http://127.0.0.1:80/mcp"), "http://127.0.0.1/mcp");
  EXPECT_EQ(*canonicalResource("https://example.com"), "https://example.com");
}

TEST(ResourceCanonical, KeepsPathQueryAndNonDefaultPortAsWritten) {
  EXPECT_EQ(*canonicalResource("https://example.com:8443/MCP/"), "https://example.com:8443/MCP/");
  EXPECT_EQ(*canonicalResource("http://example.com:443/x"), "http://example.com:443/x");
  EXPECT_EQ(*canonicalResource("https://example.com:80/x"), "https://example.com:80/x");
  EXPECT_EQ(*canonicalResource("https://example.com/mcp?tenant=A"),
            "https://example.com/mcp?tenant=A");
  EXPECT_EQ(*canonicalResource("https://example.com//"), "https://example.com//");
}

TEST(ResourceCanonical, NormalisesPortDigitsAndBracketsIpv6) {
  EXPECT_EQ(*canonicalResource("https://example.com:0443/"), "https://example.com");
  EXPECT_EQ(*canonicalResource("http://127.0.0.1:09000/mcp"), "http://127.0.0.1:9000/mcp");
  EXPECT_EQ(*canonicalResource("http://[::1]:9000/mcp"), "http://[::1]:9000/mcp");
}

TEST(ResourceCanonical, RejectsWhatCannotBeAnAudience) {
  for (const char* r :
       {"", "example.com/mcp", "/mcp", "https://example.com/mcp#x", "https://example.com/#",
        "https:///mcp", "https://user@example.com/mcp", "https://@example.com/", "urn:example:mcp",
        "mailto:a@example.com", "https://exa mple.com/"}) {
    EXPECT_FALSE(canonicalResource(r)) << r;
  }
}

TEST(RedirectCheck, AcceptsHttpsLoopbackHttpAndNativeSchemes) {
  for (const char* u :
       {"https://app.example.com/callback", "https://app.example.com/cb?x=1",
        "https://app.example.com:8443/", "http://127.0.0.1/callback", "http://127.0.0.1:33418/cb",
        "http://[::1]:8080/cb", "http://localhost:3000/cb", "cursor://callback",
        "com.example.app:/oauth2redirect", "vscode://vscode.github-authentication/did-authenticate",
        "claude://oauth/callback"}) {
    EXPECT_EQ(checkRedirectUri(u), RedirectCheck::kOk) << u;
  }
}

TEST(RedirectCheck, ForbidsDangerousSchemes) {
  for (const char* u :
       {"javascript:alert(1)", "JavaScript:alert(1)", "javascript://x/%0Aalert(1)",
        "data:text/html,hi", "file:///etc/passwd", "vbscript:msgbox(1)", "about:blank",
        "blob:https://a.example/uuid", "ftp://a.example/", "ws://127.0.0.1/", "wss://a.example/",
        "mailto:a@example.com", "tel:123", "urn:ietf:wg:oauth:2.0:oob",
        "view-source:https://a.example/", "c:/windows/cb", "javascript:alert(1)#frag"}) {
    EXPECT_EQ(checkRedirectUri(u), RedirectCheck::kForbiddenScheme) << u;
  }
}

TEST(RedirectCheck, RejectsFragmentUserinfoAndPlainHttp) {
  EXPECT_EQ(checkRedirectUri("https://app.example.com/cb#x"), RedirectCheck::kFragment);
  EXPECT_EQ(checkRedirectUri("https://app.example.com/cb#"), RedirectCheck::kFragment);
  EXPECT_EQ(checkRedirectUri("cursor://callback#x"), RedirectCheck::kFragment);
  EXPECT_EQ(checkRedirectUri("https://evil@app.example.com/cb"), RedirectCheck::kUserinfo);
  EXPECT_EQ(checkRedirectUri("https://@app.example.com/cb"), RedirectCheck::kUserinfo);
  EXPECT_EQ(checkRedirectUri("http://u:p@127.0.0.1/cb"), RedirectCheck::kUserinfo);
  EXPECT_EQ(checkRedirectUri("http://app.example.com/cb"), RedirectCheck::kInsecureHttp);
  EXPECT_EQ(checkRedirectUri("http://10.0.0.1/cb"), RedirectCheck::kInsecureHttp);
  EXPECT_EQ(checkRedirectUri("http://127.0.0.1.evil.example/cb"), RedirectCheck::kInsecureHttp);
  EXPECT_EQ(checkRedirectUri("http://localhost.evil.example/cb"), RedirectCheck::kInsecureHttp);
}

TEST(RedirectCheck, RejectsMalformedAndHostless) {
  for (const char* u :
       {"", "callback", "/cb", "https:/cb", "https:///cb", "http:cb", "https://app.example.com/c b",
        "https://app.example.com/\r\nx", "myapp:", "https://app.example.com:/cb"}) {
    EXPECT_EQ(checkRedirectUri(u), RedirectCheck::kMalformed) << u;
  }
}

TEST(RedirectCheck, DescribesEveryOutcome) {
  for (auto c :
       {RedirectCheck::kOk, RedirectCheck::kMalformed, RedirectCheck::kForbiddenScheme,
        RedirectCheck::kFragment, RedirectCheck::kUserinfo, RedirectCheck::kInsecureHttp}) {
    EXPECT_STRNE(describe(c), "");
  }
}

struct MatchCase {
  const char* registered;
  const char* requested;
  bool matches;
};

void expectMatches(std::initializer_list<MatchCase> cases) {
  for (const auto& c : cases) {
    EXPECT_EQ(redirectUriMatches(c.registered, c.requested), c.matches)
        << c.registered << " vs " << c.requested;
  }
}

TEST(RedirectMatch, RequiresExactMatchForHttpsAndNativeSchemes) {
  expectMatches({
      {"https://a.example/cb", "https://a.example/cb", true},
      {"https://a.example/cb", "https://a.example/cb/", false},
      {"https://a.example/cb", "https://A.example/cb", false},
      {"https://a.example/cb", "https://a.example:443/cb", false},
      {"https://a.example/cb", "https://a.example:8443/cb", false},
      {"https://a.example/cb", "https://a.example/cb?x=1", false},
      {"https://a.example/cb", "https://a.example/CB", false},
      {"https://a.example/cb", "https://a.example/cb%2F", false},
      {"cursor://callback", "cursor://callback", true},
      {"cursor://callback", "cursor://callback/x", false},
      {"https://localhost:3000/cb", "https://localhost:4000/cb", false},
  });
}

TEST(RedirectMatch, LetsOnlyTheLoopbackPortVary) {
  expectMatches({
      {"http://127.0.0.1/cb", "http://127.0.0.1:51234/cb", true},
      {"http://127.0.0.1:1000/cb", "http://127.0.0.1:2000/cb", true},
      {"http://127.0.0.1:1000/cb", "http://127.0.0.1/cb", true},
      {"http://[::1]:1000/cb?a=b", "http://[::1]:2000/cb?a=b", true},
      {"http://localhost/cb", "http://localhost:9999/cb", true},
      {"http://127.0.0.1:1000", "http://127.0.0.1:2000", true},
  });
}

TEST(RedirectMatch, LoopbackStillComparesEverythingButThePort) {
  expectMatches({
      {"http://127.0.0.1/cb", "http://127.0.0.1:5000/cb2", false},
      {"http://127.0.0.1/cb", "http://127.0.0.1:5000/CB", false},
      {"http://127.0.0.1/cb", "http://127.0.0.1:5000/cb?x=1", false},
      {"http://127.0.0.1/cb?", "http://127.0.0.1:5000/cb", false},
      {"http://127.0.0.1/cb", "http://127.0.0.1:5000/cb#x", false},
      {"http://127.0.0.1/cb", "http://127.0.0.2:5000/cb", false},
      {"http://127.0.0.1/cb", "http://localhost:5000/cb", false},
      {"http://127.0.0.1/cb", "http://[::1]:5000/cb", false},
      {"http://127.0.0.1/cb", "https://127.0.0.1:5000/cb", false},
      {"http://127.0.0.1/cb", "http://x@127.0.0.1:5000/cb", false},
      {"http://127.0.0.1/cb", "http://127.0.0.1:99999/cb", false},
      {"http://127.0.0.1/cb", "HTTP://127.0.0.1:5000/cb", false},
      {"http://127.0.0.1/cb", "http://127.0.0.1:5000/cb/../cb", false},
      {"http://app.example/cb", "http://app.example:5000/cb", false},
      {"http://127.0.0.1/cb", "", false},
  });
}

}  // namespace
}  // namespace broker::oauth
