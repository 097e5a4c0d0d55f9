#include <gtest/gtest.h>

#include "broker/http/http.h"
#include "http/header_policy.h"
#include "http/request_head.h"

namespace broker::http {
namespace {

Request withBody(std::string body) {
  Request r;
  r.body = std::move(body);
  return r;
}

TEST(HttpForm, DecodesPercentEscapesAndPlus) {
  auto form =
      withBody("grant_type=authorization_code&redirect_uri=http%3A%2F%2Fa%2Fb&x=a+b").form();
  EXPECT_EQ(form.at("grant_type"), "authorization_code");
  EXPECT_EQ(form.at("redirect_uri"), "http://a/b");
  EXPECT_EQ(form.at("x"), "a b");
}

TEST(HttpForm, KeepsFirstValueAndReportsDuplicatesOnce) {
  std::vector<std::string> dups;
  auto form = withBody("a=1&b=2&a=3&a=4&b=5&c=").form(&dups);
  EXPECT_EQ(form.at("a"), "1");
  EXPECT_EQ(form.at("b"), "2");
  EXPECT_EQ(form.at("c"), "");
  EXPECT_EQ(dups, (std::vector<std::string>{"a", "b"}));
}

TEST(HttpForm, DropsPairsWithBadEscapesAndSaysSo) {
  std::vector<std::string> dups;
  bool malformed = false;
  auto form = withBody("a=%zz&b=ok&c=%4").form(&dups, &malformed);
  EXPECT_TRUE(malformed);
  EXPECT_EQ(form.count("a"), 0u);
  EXPECT_EQ(form.count("c"), 0u);
  EXPECT_EQ(form.at("b"), "ok");

  withBody("a=1").form(nullptr, &malformed);
  EXPECT_FALSE(malformed);
}

TEST(HttpForm, IgnoresEmptyPairsAndKeys) {
  auto form = withBody("&&=x&a&b=1&").form();
  EXPECT_EQ(form.size(), 2u);
  EXPECT_EQ(form.at("a"), "");
  EXPECT_EQ(form.at("b"), "1");
}

TEST(HttpCookie, FindsNamedCookie) {
  Request r;
  r.headers["cookie"] = "a=1; session=abc=def;b=\"quoted\" ;  c = 3";
  EXPECT_EQ(r.cookie("a"), "1");
  EXPECT_EQ(r.cookie("session"), "abc=def");
  EXPECT_EQ(r.cookie("b"), "quoted");
  EXPECT_EQ(r.cookie("c"), "3");
  EXPECT_FALSE(r.cookie("sess").has_value());
  EXPECT_FALSE(Request{}.cookie("a").has_value());
}

TEST(HttpCookie, FirstOfRepeatedNamesWins) {
  Request r;
  r.headers["cookie"] = "csrf=first; csrf=second";
  EXPECT_EQ(r.cookie("csrf"), "first");
}

TEST(HttpResponse, FactoriesSetContentType) {
  EXPECT_EQ(Response::json(201, "{}").headers.at(0).second, "application/json");
  EXPECT_EQ(Response::json(201, "{}").status, 201);
  EXPECT_EQ(Response::html(200, "<p>").headers.at(0).second, "text/html; charset=utf-8");
  EXPECT_EQ(Response::text(200, "x").headers.at(0).second, "text/plain; charset=utf-8");
  auto redirect = Response::redirect("https://client/cb?code=x");
  EXPECT_EQ(redirect.status, 302);
  EXPECT_TRUE(redirect.hasHeader("location"));
  EXPECT_EQ(Response::redirect("/x", 303).status, 303);
}

Result<RequestHead> parse(const std::string& head, Request& req) {
  return parseRequestHead(head, req);
}

TEST(HttpRequestHead, ParsesLineQueryAndHeaders) {
  Request req;
  auto info = parse(
      "GET /a%20b/c?x=1&y=%2F&x=2 HTTP/1.1\r\nHost: h\r\nX-Thing:  v  \r\n"
      "Accept: a\r\nAccept: b\r\nCookie: a=1\r\nCookie: b=2\r\n\r\n",
      req);
  ASSERT_TRUE(info.ok()) << info.error().message;
  EXPECT_EQ(req.method, "GET");
  EXPECT_EQ(req.path, "/a b/c");
  EXPECT_EQ(req.raw_query, "x=1&y=%2F&x=2");
  EXPECT_EQ(req.query.at("x"), "1");
  EXPECT_EQ(req.query.at("y"), "/");
  EXPECT_EQ(req.query_duplicates, (std::vector<std::string>{"x"}));
  EXPECT_EQ(req.headers.at("x-thing"), "v");
  EXPECT_EQ(req.headers.at("accept"), "a, b");
  EXPECT_EQ(req.headers.at("cookie"), "a=1; b=2");
  EXPECT_TRUE(info->keep_alive);
  EXPECT_FALSE(info->http10);
}

// Methods are case-sensitive (RFC 9110 §9.1): "get" is another method than GET, and routes as
// one (this parser used to upper-case it).
TEST(HttpRequestHead, MethodKeepsItsCase) {
  Request req;
  ASSERT_TRUE(parse("get / HTTP/1.1\r\nHost: h\r\n\r\n", req).ok());
  EXPECT_EQ(req.method, "get");
}

TEST(HttpRequestHead, PlusInPathIsNotASpace) {
  Request req;
  ASSERT_TRUE(parse("GET /a+b HTTP/1.1\r\nHost: h\r\n\r\n", req).ok());
  EXPECT_EQ(req.path, "/a+b");
}

TEST(HttpRequestHead, MalformedQueryPairIsDroppedNotFatal) {
  Request req;
  ASSERT_TRUE(parse("GET /x?a=%zz&b=1 HTTP/1.1\r\nHost: h\r\n\r\n", req).ok());
  EXPECT_EQ(req.raw_query, "a=%zz&b=1");
  EXPECT_EQ(req.query.count("a"), 0u);
  EXPECT_EQ(req.query.at("b"), "1");
}

TEST(HttpRequestHead, RejectsBadPathsAndFraming) {
  const char* bad[] = {
      "GET /a%00b HTTP/1.1\r\nHost: h\r\n\r\n",
      "GET /a%zzb HTTP/1.1\r\nHost: h\r\n\r\n",
      "GET /a%2 HTTP/1.1\r\nHost: h\r\n\r\n",
      "GET http://host/a HTTP/1.1\r\nHost: h\r\n\r\n",
      "GET /a HTTP/2.0\r\nHost: h\r\n\r\n",
      "GET  /a HTTP/1.1\r\nHost: h\r\n\r\n",
      "GET /a HTTP/1.1\r\nHost: h\r\nBad Name: x\r\n\r\n",
      "GET /a HTTP/1.1\r\nHost: h\r\nNoColon\r\n\r\n",
      "GET /a HTTP/1.1\r\nHost: h\r\nX: a\r\n folded\r\n\r\n",
      "GET /a HTTP/1.1\r\nHost: h\r\nAuthorization: a\r\nAuthorization: b\r\n\r\n",
      "POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n",
      "POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n",
      "POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 1, 1\r\n\r\n",
      "POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
  };
  for (const char* head : bad) {
    Request req;
    EXPECT_FALSE(parse(head, req).ok()) << head;
  }
}

// A bare CR or LF in a value ends the line for some parsers and not for others; so do other
// control characters for some. RFC 9110 §5.5 allows none but HTAB.
TEST(HttpRequestHead, RefusesControlCharactersInFieldValues) {
  for (const std::string& ctl :
       std::vector<std::string>{"\r", "\n", std::string(1, '\0'), "\x01", "\x1f", "\x7f"}) {
    Request req;
    auto info = parse("GET /a HTTP/1.1\r\nHost: h\r\nX: a" + ctl + "b\r\n\r\n", req);
    ASSERT_FALSE(info.ok()) << static_cast<int>(ctl[0]);
    EXPECT_EQ(info.error().message, "malformed header");
  }
  Request req;
  ASSERT_TRUE(parse("GET /a HTTP/1.1\r\nHost: h\r\nX: a\tb \x80\r\n\r\n", req).ok());
  EXPECT_EQ(req.headers.at("x"), "a\tb \x80");
}

TEST(HttpRequestHead, RefusesControlCharactersAndSpacesInTheTarget) {
  for (const std::string& c :
       std::vector<std::string>{"\t", "\r", "\x01", "\x7f", "\x80", "\xff", std::string(1, '\0')}) {
    Request req;
    auto info = parse("GET /a" + c + "b HTTP/1.1\r\nHost: h\r\n\r\n", req);
    ASSERT_FALSE(info.ok()) << static_cast<int>(static_cast<unsigned char>(c[0]));
    EXPECT_EQ(info.error().message, "malformed request target");
  }
  Request req;
  EXPECT_FALSE(parse("GET /a b HTTP/1.1\r\nHost: h\r\n\r\n", req).ok());
  EXPECT_TRUE(parse("GET /a-._~!$&'()*+,;=:@%20?b=/?#f HTTP/1.1\r\nHost: h\r\n\r\n", req).ok());
}

// RFC 9112 §3.2: an HTTP/1.1 request has exactly one Host, and a valid one.
TEST(HttpRequestHead, Http11NeedsExactlyOneValidHost) {
  Request req;
  auto missing = parse("GET /a HTTP/1.1\r\nX: y\r\n\r\n", req);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().message, "missing Host");
  EXPECT_FALSE(parse("GET /a HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", req).ok());
  EXPECT_FALSE(parse("GET /a HTTP/1.1\r\nHost: a b\r\n\r\n", req).ok());
  EXPECT_FALSE(parse("GET /a HTTP/1.1\r\nHost: a/b\r\n\r\n", req).ok());
  EXPECT_FALSE(parse("GET /a HTTP/1.1\r\nHost: u@a\r\n\r\n", req).ok());
  for (const char* ok : {"Host: a.example:8080", "Host: [::1]:80", "Host: 127.0.0.1", "Host:"}) {
    EXPECT_TRUE(parse(std::string("GET /a HTTP/1.1\r\n") + ok + "\r\n\r\n", req).ok()) << ok;
  }
  EXPECT_TRUE(parse("GET /a HTTP/1.0\r\n\r\n", req).ok());  // HTTP/1.0 may leave it out
}

// RFC 9112 §6.1, §7: "chunked" is the only transfer coding, alone; HTTP/1.0 has none.
TEST(HttpRequestHead, ChunkedIsTheOnlyTransferCoding) {
  Request req;
  auto chunked = parse("POST /a HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: Chunked\r\n\r\n", req);
  ASSERT_TRUE(chunked.ok());
  EXPECT_TRUE(chunked->chunked);
  EXPECT_TRUE(chunked->has_body);
  for (const char* te : {"ch", "chunkedx", "gzip", "gzip, chunked", "chunked, gzip",
                         "chunked, chunked", "chunked;q=1", "identity", ""}) {
    auto info = parse(
        std::string("POST /a HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: ") + te + "\r\n\r\n", req);
    ASSERT_FALSE(info.ok()) << te;
    EXPECT_EQ(info.error().message, "unsupported Transfer-Encoding") << te;
  }
  EXPECT_FALSE(parse("POST /a HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", req).ok());
}

TEST(HttpRequestHead, ReportsContentLengthAndExpectContinue) {
  Request req;
  auto info = parse(
      "POST /t HTTP/1.1\r\nHost: h\r\nContent-Length: 42\r\nExpect: 100-Continue\r\n\r\n", req);
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->content_length, 42u);
  EXPECT_TRUE(info->expect_continue);
}

TEST(HttpKeepAlive, FollowsVersionDefaultsAndConnectionTokens) {
  EXPECT_TRUE(keepAliveRequested(false, ""));
  EXPECT_TRUE(keepAliveRequested(false, "Keep-Alive"));
  EXPECT_FALSE(keepAliveRequested(false, "close"));
  EXPECT_FALSE(keepAliveRequested(false, "TE, Close"));
  EXPECT_FALSE(keepAliveRequested(true, ""));
  EXPECT_TRUE(keepAliveRequested(true, "keep-alive"));
  EXPECT_FALSE(keepAliveRequested(true, "keep-alive, close"));
}

std::string headerOf(const Response& r, const std::string& name) {
  for (const auto& [n, v] : r.headers) {
    if (n == name) return v;
  }
  return "<absent>";
}

TEST(HttpHeaderPolicy, AddsSecurityHeadersAndRequestId) {
  Response r = Response::json(200, "{}");
  applyHeaderPolicy(r, RouteFlags::kNone, false, "0123456789abcdef");
  EXPECT_EQ(headerOf(r, "X-Content-Type-Options"), "nosniff");
  EXPECT_EQ(headerOf(r, "Referrer-Policy"), "no-referrer");
  EXPECT_EQ(headerOf(r, "X-Frame-Options"), "DENY");
  EXPECT_EQ(headerOf(r, "X-Request-Id"), "0123456789abcdef");
  EXPECT_EQ(headerOf(r, "Content-Security-Policy"), "<absent>");
  EXPECT_EQ(headerOf(r, "Cache-Control"), "<absent>");
  EXPECT_EQ(headerOf(r, "Access-Control-Allow-Origin"), "<absent>");
}

TEST(HttpHeaderPolicy, HtmlGetsCspUnlessHandlerChoseOne) {
  Response page = Response::html(200, "<p>");
  applyHeaderPolicy(page, RouteFlags::kNone, false, "");
  EXPECT_NE(headerOf(page, "Content-Security-Policy").find("frame-ancestors 'none'"),
            std::string::npos);

  Response own = Response::html(200, "<p>");
  own.header("content-security-policy", "default-src 'self'");
  applyHeaderPolicy(own, RouteFlags::kNone, false, "");
  EXPECT_EQ(headerOf(own, "Content-Security-Policy"), "<absent>");
  EXPECT_EQ(headerOf(own, "content-security-policy"), "default-src 'self'");
}

TEST(HttpHeaderPolicy, NoStoreNeverOverridesHandlerCacheControl) {
  Response r = Response::json(200, "{}");
  applyHeaderPolicy(r, RouteFlags::kNoStore, false, "");
  EXPECT_EQ(headerOf(r, "Cache-Control"), "no-store");
  EXPECT_EQ(headerOf(r, "Pragma"), "no-cache");

  Response own = Response::json(200, "{}");
  own.header("Cache-Control", "public, max-age=60");
  applyHeaderPolicy(own, RouteFlags::kNoStore, false, "");
  EXPECT_EQ(headerOf(own, "Cache-Control"), "public, max-age=60");
  EXPECT_EQ(headerOf(own, "Pragma"), "<absent>");
}

TEST(HttpHeaderPolicy, CorsIsPublicWithoutCredentials) {
  Response r = Response::json(200, "{}");
  applyHeaderPolicy(r, RouteFlags::kCors, true, "");
  EXPECT_EQ(headerOf(r, "Access-Control-Allow-Origin"), "*");
  EXPECT_EQ(headerOf(r, "Access-Control-Allow-Credentials"), "<absent>");
}

TEST(HttpHeaderPolicy, PreflightListsMethodsAndAlwaysAllowedHeaders) {
  Response r = preflightResponse({"POST", "GET"}, "X-Custom, content-type, bad header");
  EXPECT_EQ(r.status, 204);
  EXPECT_EQ(headerOf(r, "Access-Control-Allow-Methods"), "POST, GET, OPTIONS");
  EXPECT_EQ(headerOf(r, "Access-Control-Allow-Headers"),
            "Authorization, Content-Type, mcp-protocol-version, x-custom");
  EXPECT_EQ(headerOf(r, "Access-Control-Max-Age"), "86400");
}

TEST(HttpHeaderPolicy, RefusesHeadersThatWouldInjectLines) {
  Response ok = Response::text(200, "");
  ok.header("Set-Cookie", "a=b; Path=/");
  EXPECT_TRUE(headersWellFormed(ok));
  Response crlf = Response::text(200, "");
  crlf.header("Location", "/x\r\nSet-Cookie: evil=1");
  EXPECT_FALSE(headersWellFormed(crlf));
  Response name = Response::text(200, "");
  name.header("Bad Name", "x");
  EXPECT_FALSE(headersWellFormed(name));
}

TEST(HttpErrorResponse, IsOAuthStyleJson) {
  Response r = errorResponse(OAuthCode::kServerError);
  EXPECT_EQ(r.status, 500);
  EXPECT_EQ(r.body, R"({"error":"server_error"})");
  Response nf = errorResponse(OAuthCode::kNotFound, "no such endpoint");
  EXPECT_EQ(nf.status, 404);
  EXPECT_EQ(nf.body, R"({"error":"not_found","error_description":"no such endpoint"})");
}

}  // namespace
}  // namespace broker::http
