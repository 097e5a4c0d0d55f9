#include <gtest/gtest.h>

#include "broker/http/server.h"

namespace broker::http {
namespace {

Handler answer(const std::string& body) {
  return [body](const Request&) { return Response::text(200, body); };
}

std::string call(const Router::Match& m) {
  return m.handler ? (*m.handler)(Request{}).body : "";
}

TEST(Router, MatchesMethodAndPath) {
  Router r;
  r.add("GET", "/token", answer("get"));
  r.add("post", "/token", answer("post"));
  EXPECT_EQ(call(r.match("GET", "/token")), "get");
  EXPECT_EQ(call(r.match("POST", "/token")), "post");
  EXPECT_EQ(r.match("GET", "/token/").handler, nullptr);
  EXPECT_EQ(r.match("GET", "/tok").handler, nullptr);
  EXPECT_EQ(r.match("GET", "/").handler, nullptr);
}

TEST(Router, BindsNamedSegments) {
  Router r;
  r.add("GET", "/auth/:upstream/callback", answer("cb"));
  auto m = r.match("GET", "/auth/github/callback");
  ASSERT_NE(m.handler, nullptr);
  EXPECT_EQ(m.params.at("upstream"), "github");
  EXPECT_EQ(r.match("GET", "/auth//callback").handler, nullptr);  // a parameter is never empty
  EXPECT_EQ(r.match("GET", "/auth/github").handler, nullptr);
  EXPECT_EQ(r.match("GET", "/auth/github/callback/x").handler, nullptr);
}

TEST(Router, ReportsOtherMethodsOfAKnownPathFor405) {
  Router r;
  r.add("POST", "/token", answer("t"), RouteFlags::kCors);
  r.add("DELETE", "/token", answer("d"));
  auto m = r.match("GET", "/token");
  EXPECT_EQ(m.handler, nullptr);
  EXPECT_TRUE(m.path_known);
  EXPECT_EQ(m.allowed_methods, (std::vector<std::string>{"POST", "DELETE"}));
  EXPECT_TRUE(has(m.path_flags, RouteFlags::kCors));

  auto unknown = r.match("GET", "/nothing");
  EXPECT_FALSE(unknown.path_known);
  EXPECT_TRUE(unknown.allowed_methods.empty());
}

TEST(Router, FoundRouteIsNotReportedAsKnownPath) {
  Router r;
  r.add("GET", "/x", answer("x"), RouteFlags::kInline | RouteFlags::kNoStore);
  auto m = r.match("GET", "/x");
  ASSERT_NE(m.handler, nullptr);
  EXPECT_FALSE(m.path_known);
  EXPECT_TRUE(has(m.flags, RouteFlags::kInline));
  EXPECT_TRUE(has(m.flags, RouteFlags::kNoStore));
  EXPECT_FALSE(has(m.flags, RouteFlags::kCors));
}

TEST(Router, TrailingWildcardMatchesTheRest) {
  Router r;
  r.add("GET", "/.well-known/oauth-protected-resource/*", answer("prm"));
  auto m = r.match("GET", "/.well-known/oauth-protected-resource/mcp/v1");
  ASSERT_NE(m.handler, nullptr);
  EXPECT_EQ(m.params.at("*"), "mcp/v1");
  EXPECT_EQ(r.match("GET", "/.well-known/oauth-protected-resource").handler, nullptr);
  EXPECT_NE(r.match("GET", "/.well-known/oauth-protected-resource/").handler, nullptr);
}

TEST(Router, MostSpecificRouteWins) {
  Router r;
  r.add("GET", "/files/*", answer("wild"));
  r.add("GET", "/files/:name", answer("param"));
  r.add("GET", "/files/readme", answer("literal"));
  EXPECT_EQ(call(r.match("GET", "/files/readme")), "literal");
  EXPECT_EQ(call(r.match("GET", "/files/other")), "param");
  EXPECT_EQ(call(r.match("GET", "/files/a/b")), "wild");
}

TEST(Router, FirstOfEquallySpecificRoutesWins) {
  Router r;
  r.add("GET", "/a/:x", answer("first"));
  r.add("GET", "/a/:y", answer("second"));
  EXPECT_EQ(call(r.match("GET", "/a/1")), "first");
}

TEST(Router, RejectsMalformedRoutes) {
  Router r;
  EXPECT_THROW(r.add("GET", "token", answer("")), std::invalid_argument);
  EXPECT_THROW(r.add("GET", "/a/*/b", answer("")), std::invalid_argument);
}

TEST(Router, AsyncRoutesAreFoundWithoutAPlainHandler) {
  Router r;
  r.addAsync("GET", "/authorize",
             [](const Request&, Respond respond) { respond(Response::text(200, "async")); });
  r.add("POST", "/authorize", answer("post"));
  auto m = r.match("GET", "/authorize");
  EXPECT_TRUE(m.found());
  EXPECT_EQ(m.handler, nullptr);
  ASSERT_NE(m.async, nullptr);
  std::string body;
  (*m.async)(Request{}, [&](Response resp) { body = resp.body; });
  EXPECT_EQ(body, "async");
  EXPECT_FALSE(m.path_known);
  auto post = r.match("POST", "/authorize");
  EXPECT_EQ(post.async, nullptr);
  EXPECT_EQ(call(post), "post");
}

}  // namespace
}  // namespace broker::http
