// Real server on 127.0.0.1, driven by libcurl (and a raw socket where curl hides the protocol).

#include "broker/http/server.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <future>
#include <mutex>
#include <thread>

#include "broker/core/log.h"
#include "fakes/http_client.h"
#include "fakes/raw_connection.h"
#include "unit/http/latch.h"

namespace broker::http {
namespace {

using broker::testing::HttpClient;
using broker::testing::HttpResult;
using broker::testing::RawConnection;

ServerOptions testOptions() {
  ServerOptions o;
  o.host = "127.0.0.1";
  o.port = 0;
  o.threads = 2;
  o.workers = 2;
  o.access_log = false;
  return o;
}

Response echo(const Request& req) {
  std::string out = req.method + " " + req.path + "\n";
  out += "body=" + req.body + "\n";
  for (const auto& [k, v] : req.path_params) out += "param:" + k + "=" + v + "\n";
  for (const auto& [k, v] : req.query) out += "query:" + k + "=" + v + "\n";
  for (const auto& d : req.query_duplicates) out += "dup:" + d + "\n";
  out += "raw_query=" + req.raw_query + "\n";
  out += "x-test=" + req.header("x-test").value_or("") + "\n";
  out += "remote=" + req.remote_ip + "\n";
  out += "id=" + req.request_id + "\n";
  return Response::text(200, out);
}

// Signals `started`, then holds its worker until `release` opens.
Handler blockingEcho(Latch& started, Latch& release) {
  return [&started, &release](const Request& req) {
    started.open();
    release.wait();
    return echo(req);
  };
}

std::string lowered(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

class HttpServer : public ::testing::Test {
 protected:
  void start(Router router, ServerOptions o = testOptions()) {
    server_ = Server::create(o, std::move(router));
    server_->start();
  }
  void TearDown() override {
    if (server_) server_->stop(5000);
  }
  std::string url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(server_->port()) + path;
  }

  std::unique_ptr<Server> server_;
};

bool startsWith(const std::string& s, const std::string& prefix) {
  return s.rfind(prefix, 0) == 0;
}

TEST_F(HttpServer, KeepsHttp11ConnectionsOpen) {
  Router r;
  r.add("GET", "/inline", echo, RouteFlags::kInline);
  r.add("GET", "/worker", echo);
  start(std::move(r));
  HttpClient client;
  HttpResult first = client.get(url("/inline"));
  ASSERT_EQ(first.status, 200);
  EXPECT_EQ(first.new_connections, 1);
  EXPECT_EQ(first.header("connection"), "");
  for (const char* path : {"/inline", "/worker", "/inline"}) {
    HttpResult next = client.get(url(path));
    EXPECT_EQ(next.status, 200);
    EXPECT_EQ(next.new_connections, 0) << path;
  }
}

TEST_F(HttpServer, HonoursConnectionCloseFromClient) {
  Router r;
  r.add("GET", "/x", echo, RouteFlags::kInline);
  r.add("GET", "/w", echo);
  start(std::move(r));
  HttpClient client;
  ASSERT_EQ(client.get(url("/x")).new_connections, 1);
  HttpResult closing = client.get(url("/w"), {"Connection: close"});
  EXPECT_EQ(closing.status, 200);
  EXPECT_EQ(closing.new_connections, 0);
  EXPECT_STRCASEEQ(closing.header("connection").c_str(), "close");
  EXPECT_EQ(client.get(url("/x")).new_connections, 1);

  for (const char* path : {"/x", "/w"}) {
    RawConnection raw(server_->port());
    ASSERT_TRUE(raw.connected());
    ASSERT_TRUE(raw.send(
        std::string("GET ") + path +
        " HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\nGET /x HTTP/1.1\r\nHost: t\r\n\r\n"));
    EXPECT_TRUE(startsWith(raw.readResponse(), "HTTP/1.1 200"));
    EXPECT_TRUE(raw.readsEof())
        << path;  // the server closed, and did not answer the second request
  }
}

TEST_F(HttpServer, Http10ClosesUnlessKeepAliveWasAsked) {
  Router r;
  r.add("GET", "/x", echo, RouteFlags::kInline);
  start(std::move(r));
  {
    RawConnection raw(server_->port());
    ASSERT_TRUE(raw.send("GET /x HTTP/1.0\r\n\r\n"));
    std::string resp = raw.readResponse();
    EXPECT_TRUE(startsWith(resp, "HTTP/1.0 200")) << resp;
    // Connection options are case-insensitive tokens (RFC 9110 §7.6.1).
    EXPECT_NE(lowered(resp).find("\r\nconnection: close\r\n"), std::string::npos) << resp;
    EXPECT_TRUE(raw.readsEof());
  }
  RawConnection raw(server_->port());
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(raw.send("GET /x HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
    std::string resp = raw.readResponse();
    EXPECT_TRUE(startsWith(resp, "HTTP/1.0 200")) << resp;
    EXPECT_NE(lowered(resp).find("\r\nconnection: keep-alive\r\n"), std::string::npos) << resp;
  }
}

// Pipelining (RFC 9112 §9.3.2): answers must leave in the order of the requests. The server
// answers the first request and closes; the client sends the rest again.
TEST_F(HttpServer, PipelinedRequestsInOneSegmentGetTheFirstAnswerThenAClose) {
  Router r;
  r.add("GET", "/x", echo, RouteFlags::kInline);
  start(std::move(r));
  RawConnection raw(server_->port());
  ASSERT_TRUE(
      raw.send("GET /x?n=1 HTTP/1.1\r\nHost: t\r\n\r\nGET /x?n=2 HTTP/1.1\r\nHost: t\r\n\r\n"));
  const std::string first = raw.readResponse();
  EXPECT_TRUE(startsWith(first, "HTTP/1.1 200")) << first;
  EXPECT_NE(first.find("query:n=1"), std::string::npos) << first;
  EXPECT_NE(lowered(first).find("\r\nconnection: close\r\n"), std::string::npos) << first;
  EXPECT_TRUE(raw.readsEof());
}

const std::string kChunkedPost =
    "POST /e HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n";

Router chunkedEchoRouter() {
  Router r;
  r.add("POST", "/e", echo, RouteFlags::kInline);
  r.add("GET", "/x", echo, RouteFlags::kInline);
  return r;
}

// The trailer section and the final CRLF belong to the chunked request; what follows them is a
// pipelined request (answered first, then the connection closes) and not dropped unseen.
TEST_F(HttpServer, RequestAfterAChunkedBodyInOneSegmentGetsTheFirstAnswerThenAClose) {
  start(chunkedEchoRouter());
  RawConnection raw(server_->port());
  ASSERT_TRUE(raw.send(kChunkedPost + "5;ext=1\r\nhello\r\n0\r\nX-Trailer: 1\r\n\r\n" +
                       "GET /x HTTP/1.1\r\nHost: t\r\n\r\n"));
  const std::string first = raw.readResponse();
  EXPECT_TRUE(startsWith(first, "HTTP/1.1 200")) << first;
  EXPECT_NE(first.find("body=hello\n"), std::string::npos) << first;
  EXPECT_NE(lowered(first).find("\r\nconnection: close\r\n"), std::string::npos) << first;
  EXPECT_TRUE(raw.readsEof(5000));
}

// A proxy that reuses the connection must get exactly one answer per request: the final CRLF of
// a chunked body arriving on its own is part of that request, not a bad next one.
TEST_F(HttpServer, FinalCrlfOfAChunkedBodyInALaterSegmentGetsNoAnswerOfItsOwn) {
  start(chunkedEchoRouter());
  RawConnection raw(server_->port());
  ASSERT_TRUE(raw.send(kChunkedPost + "5\r\nhello\r\n0\r\n"));
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  ASSERT_TRUE(raw.send("\r\n"));
  const std::string first = raw.readResponse();
  EXPECT_TRUE(startsWith(first, "HTTP/1.1 200")) << first;
  EXPECT_NE(first.find("body=hello\n"), std::string::npos) << first;
  ASSERT_TRUE(raw.send("GET /x HTTP/1.1\r\nHost: t\r\n\r\n"));
  const std::string second = raw.readResponse();
  EXPECT_TRUE(startsWith(second, "HTTP/1.1 200")) << second;
  EXPECT_NE(second.find("GET /x\n"), std::string::npos) << second;
}

// Framing the broker and a proxy could read differently is refused, and the connection closes.
TEST_F(HttpServer, AmbiguousOrMalformedFramingGets400AndAClose) {
  start(chunkedEchoRouter());
  const std::string tail = "3\r\nabc\r\n0\r\n\r\n";
  const std::vector<std::string> cases = {
      kChunkedPost + "0xf\r\n" + std::string(15, 'a') + "\r\n0\r\n\r\n",
      kChunkedPost + "+f\r\n" + std::string(15, 'a') + "\r\n0\r\n\r\n",
      kChunkedPost + " f\r\n" + std::string(15, 'a') + "\r\n0\r\n\r\n",
      kChunkedPost + "3\r\nabcXY0\r\n\r\n",
      kChunkedPost + "3;a b\r\nabc\r\n0\r\n\r\n",
      kChunkedPost + "0\r\n folded: x\r\n\r\n",
      "POST /e HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: ch\r\n\r\n" + tail,
      "POST /e HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip, chunked\r\n\r\n" + tail,
      "POST /e HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n" +
          tail,
      "POST /e HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
      "GET /x HTTP/1.1\nHost: t\n\n",
      "GET /x HTTP/1.1\r\nHost: t\r\nX: a\rb\r\n\r\n",
      "GET /x HTTP/1.1\r\nHost: t\r\nX: a\nb\r\n\r\n",
      "GET /x\x01 HTTP/1.1\r\nHost: t\r\n\r\n",
      "GET /x\t HTTP/1.1\r\nHost: t\r\n\r\n",
      "GET /x HTTP/1.1\r\n\r\n",
      "GET /x HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
  };
  for (const std::string& bytes : cases) {
    SCOPED_TRACE(bytes);
    RawConnection raw(server_->port());
    ASSERT_TRUE(raw.send(bytes));
    const std::string answer = raw.readResponse(5000);
    EXPECT_TRUE(startsWith(answer, "HTTP/1.1 400")) << answer;
    EXPECT_NE(lowered(answer).find("\r\nconnection: close\r\n"), std::string::npos) << answer;
    EXPECT_TRUE(raw.readsEof(5000));
  }
}

// A declared chunk size past server.max_request_size is refused before its data is read (and
// before anything is allocated for it).
TEST_F(HttpServer, OversizeChunkSizeGets413BeforeItsData) {
  start(chunkedEchoRouter());
  RawConnection raw(server_->port());
  ASSERT_TRUE(raw.send(kChunkedPost + "7fffffff\r\n"));
  const std::string answer = raw.readResponse(5000);
  EXPECT_TRUE(startsWith(answer, "HTTP/1.1 413")) << answer;
  EXPECT_TRUE(raw.readsEof(5000));
}

TEST_F(HttpServer, RequestArrivingWhileAWorkerAnswersIsNotAnsweredFirst) {
  Latch slow_started, release;
  Router r;
  r.add("GET", "/slow", blockingEcho(slow_started, release));
  r.add("GET", "/fast", echo, RouteFlags::kInline);
  ServerOptions o = testOptions();
  o.threads = 1;
  start(std::move(r), o);
  RawConnection raw(server_->port());
  ASSERT_TRUE(raw.send("GET /slow HTTP/1.1\r\nHost: t\r\n\r\n"));
  slow_started.wait();
  ASSERT_TRUE(raw.send("GET /fast HTTP/1.1\r\nHost: t\r\n\r\n"));
  // The one reactor has read that input once it has answered another connection after it.
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(HttpClient().get(url("/fast")).status, 200);
  release.open();
  const std::string first = raw.readResponse();
  EXPECT_TRUE(startsWith(first, "HTTP/1.1 200")) << first;
  EXPECT_NE(first.find("GET /slow"), std::string::npos) << first;
  EXPECT_NE(lowered(first).find("\r\nconnection: close\r\n"), std::string::npos) << first;
  EXPECT_TRUE(raw.readsEof());
}

TEST_F(HttpServer, BlockedWorkerDoesNotBlockInlineRoute) {
  Latch slow_started, release;
  std::atomic<bool> slow_done{false};
  Router r;
  r.add("GET", "/slow", blockingEcho(slow_started, release));
  r.add("GET", "/fast", echo, RouteFlags::kInline);
  ServerOptions o = testOptions();
  o.threads = 1;  // one reactor: the inline answer proves the worker did not hold it
  start(std::move(r), o);

  auto slow = std::async(std::launch::async, [&] {
    HttpClient c;
    HttpResult res = c.get(url("/slow"));
    slow_done = true;
    return res.status;
  });
  slow_started.wait();
  HttpClient c;
  EXPECT_EQ(c.get(url("/fast")).status, 200);
  EXPECT_FALSE(slow_done.load());  // answered while the worker handler was still blocked
  release.open();
  EXPECT_EQ(slow.get(), 200);
}

// An async handler lets go of its worker at once and answers from its own thread: with one
// worker, a second request is answered while the first still waits; a handler that drops its
// Respond unanswered still gets a 503 out.
TEST_F(HttpServer, AsyncHandlerFreesItsWorkerAndAnswersFromAnotherThread) {
  Latch waiting, release;
  std::vector<std::thread> helpers;
  std::mutex helpers_mu;
  Router r;
  r.addAsync("GET", "/wait", [&](const Request& req, Respond respond) {
    std::lock_guard<std::mutex> lock(helpers_mu);
    helpers.emplace_back([&, req, respond] {
      waiting.open();
      release.wait();
      respond(echo(req));
    });
  });
  r.addAsync("GET", "/drop", [](const Request&, Respond) {});
  r.add("GET", "/work", echo);
  ServerOptions o = testOptions();
  o.workers = 1;
  o.queue_limit = 1;
  start(std::move(r), o);

  auto slow = std::async(std::launch::async, [&] { return HttpClient().get(url("/wait")); });
  waiting.wait();
  HttpClient c;
  EXPECT_EQ(c.get(url("/work")).status, 200) << "the only worker is free again";
  auto dropped = c.get(url("/drop"));
  EXPECT_EQ(dropped.status, 503);
  EXPECT_EQ(dropped.body, R"({"error":"temporarily_unavailable"})");
  EXPECT_EQ(dropped.header("retry-after"), "1");
  release.open();
  auto answered = slow.get();
  EXPECT_EQ(answered.status, 200);
  EXPECT_EQ(answered.body.rfind("GET /wait\n", 0), 0u) << answered.body;
  std::lock_guard<std::mutex> lock(helpers_mu);
  for (auto& t : helpers) t.join();
}

TEST_F(HttpServer, FullQueueAnswers503) {
  Latch busy_started, release;
  Router r;
  r.add("GET", "/block", blockingEcho(busy_started, release));
  r.add("GET", "/work", echo);
  ServerOptions o = testOptions();
  o.workers = 1;
  o.queue_limit = 1;
  start(std::move(r), o);

  auto blocker = std::async(std::launch::async, [&] { return HttpClient().get(url("/block")); });
  busy_started.wait();
  // The worker is busy: of three more requests one queues and two are refused at once.
  std::mutex m;
  std::condition_variable cv;
  int finished = 0;
  std::vector<std::future<HttpResult>> more;
  for (int i = 0; i < 3; ++i) {
    more.push_back(std::async(std::launch::async, [&] {
      HttpResult res = HttpClient().get(url("/work"));
      std::lock_guard<std::mutex> lock(m);
      ++finished;
      cv.notify_all();
      return res;
    }));
  }
  {
    std::unique_lock<std::mutex> lock(m);
    cv.wait(lock, [&] { return finished == 2; });
  }
  release.open();
  EXPECT_EQ(blocker.get().status, 200);
  int ok = 0, refused = 0;
  for (auto& f : more) {
    HttpResult res = f.get();
    if (res.status == 200) ++ok;
    if (res.status == 503) {
      ++refused;
      EXPECT_EQ(res.body, R"({"error":"temporarily_unavailable"})");
      EXPECT_EQ(res.header("retry-after"), "1");
      EXPECT_EQ(res.header("content-type"), "application/json");
    }
  }
  EXPECT_EQ(ok, 1);
  EXPECT_EQ(refused, 2);
}

// With no room for more work, a browser's request is refused as a short page at once, an API
// request as an OAuth error, and what the reactor answers alone still answers.
TEST_F(HttpServer, ShedWorkIsAPageForTheBrowserAndInlineRoutesStillAnswer) {
  Latch busy_started, release;
  Router r;
  r.add("GET", "/block", blockingEcho(busy_started, release));
  r.add("GET", "/authorize", echo, RouteFlags::kRateBrowser);
  r.add("POST", "/token", echo, RouteFlags::kRateToken);
  r.add("GET", "/jwks", echo, RouteFlags::kInline);
  ServerOptions o = testOptions();
  o.workers = 1;
  o.queue_limit = 0;
  start(std::move(r), o);

  auto blocker = std::async(std::launch::async, [&] { return HttpClient().get(url("/block")); });
  busy_started.wait();
  HttpClient c;
  HttpResult page = c.get(url("/authorize"));
  EXPECT_EQ(page.status, 503);
  EXPECT_EQ(page.header("retry-after"), "1");
  EXPECT_EQ(page.header("content-type").rfind("text/html", 0), 0u) << page.header("content-type");
  EXPECT_NE(page.body.find("<title>Temporarily unavailable</title>"), std::string::npos)
      << page.body;
  EXPECT_NE(page.header("content-security-policy").find("default-src 'none'"), std::string::npos);
  HttpResult api = c.post(url("/token"), "grant_type=x");
  EXPECT_EQ(api.status, 503);
  EXPECT_EQ(api.header("retry-after"), "1");
  EXPECT_EQ(api.body, R"({"error":"temporarily_unavailable"})");
  EXPECT_EQ(c.get(url("/jwks")).status, 200);
  release.open();
  EXPECT_EQ(blocker.get().status, 200);
  EXPECT_EQ(c.get(url("/authorize")).status, 200);
}

TEST_F(HttpServer, CorsRoutesPreflightAnd404UnderWellKnown) {
  Router r;
  r.add("POST", "/token", echo, RouteFlags::kCors | RouteFlags::kNoStore);
  r.add("GET", "/.well-known/oauth-authorization-server", echo,
        RouteFlags::kCors | RouteFlags::kInline);
  r.add("GET", "/private", echo);
  start(std::move(r));
  HttpClient c;

  HttpResult meta = c.get(url("/.well-known/oauth-authorization-server"));
  EXPECT_EQ(meta.status, 200);
  EXPECT_EQ(meta.header("access-control-allow-origin"), "*");
  EXPECT_EQ(meta.header("access-control-allow-credentials"), "");

  HttpResult pre = c.request("OPTIONS", url("/token"), "",
                             {"Origin: https://app.example", "Access-Control-Request-Method: POST",
                              "Access-Control-Request-Headers: mcp-protocol-version, x-extra"});
  EXPECT_EQ(pre.status, 204);
  EXPECT_EQ(pre.header("access-control-allow-origin"), "*");
  EXPECT_EQ(pre.header("access-control-allow-methods"), "POST, OPTIONS");
  EXPECT_EQ(pre.header("access-control-allow-headers"),
            "Authorization, Content-Type, mcp-protocol-version, x-extra");
  EXPECT_EQ(pre.header("access-control-max-age"), "86400");

  HttpResult wrong_method = c.get(url("/token"));
  EXPECT_EQ(wrong_method.status, 405);
  EXPECT_EQ(wrong_method.header("allow"), "POST, OPTIONS");
  EXPECT_EQ(wrong_method.header("access-control-allow-origin"), "*");

  HttpResult missing = c.get(url("/.well-known/oauth-protected-resource"));
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(missing.header("content-type"), "application/json");
  EXPECT_TRUE(startsWith(missing.body, R"({"error":"not_found","error_description":)"));
  EXPECT_EQ(missing.header("access-control-allow-origin"), "*");
  HttpResult missing_pre = c.request("OPTIONS", url("/.well-known/anything"), "", {});
  EXPECT_EQ(missing_pre.status, 204);
  EXPECT_EQ(missing_pre.header("access-control-allow-methods"), "GET, OPTIONS");

  HttpResult priv = c.get(url("/private"));
  EXPECT_EQ(priv.status, 200);
  EXPECT_EQ(priv.header("access-control-allow-origin"), "");
  HttpResult priv_pre = c.request("OPTIONS", url("/private"), "", {});
  EXPECT_EQ(priv_pre.status, 405);
  EXPECT_EQ(priv_pre.header("allow"), "GET");
  EXPECT_EQ(priv_pre.header("access-control-allow-origin"), "");
  HttpResult other = c.get(url("/nope"));
  EXPECT_EQ(other.status, 404);
  EXPECT_EQ(other.header("access-control-allow-origin"), "");
}

TEST_F(HttpServer, SecurityHeadersAndNoStore) {
  Router r;
  r.add(
      "GET", "/page", [](const Request&) { return Response::html(200, "<p>hi</p>"); },
      RouteFlags::kNoStore);
  r.add(
      "GET", "/own",
      [](const Request&) {
        Response resp = Response::html(200, "<p>own</p>");
        resp.header("Content-Security-Policy", "default-src 'self'");
        resp.header("Cache-Control", "private, max-age=5");
        return resp;
      },
      RouteFlags::kNoStore | RouteFlags::kInline);
  r.add("GET", "/cookies", [](const Request&) {
    return Response::text(200, "")
        .header("Set-Cookie", "a=1; Path=/")
        .header("Set-Cookie", "b=2; Path=/");
  });
  start(std::move(r));
  HttpClient c;

  HttpResult page = c.get(url("/page"));
  EXPECT_EQ(page.header("x-content-type-options"), "nosniff");
  EXPECT_EQ(page.header("referrer-policy"), "no-referrer");
  EXPECT_EQ(page.header("x-frame-options"), "DENY");
  EXPECT_EQ(page.header("content-type"), "text/html; charset=utf-8");
  EXPECT_EQ(page.header("content-security-policy"),
            "default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'");
  EXPECT_EQ(page.header("cache-control"), "no-store");
  EXPECT_EQ(page.header("pragma"), "no-cache");
  EXPECT_EQ(page.header("x-request-id").size(), 16u);

  HttpResult own = c.get(url("/own"));
  EXPECT_EQ(own.headerValues("content-security-policy"),
            std::vector<std::string>{"default-src 'self'"});
  EXPECT_EQ(own.headerValues("cache-control"), std::vector<std::string>{"private, max-age=5"});
  EXPECT_EQ(own.header("x-frame-options"), "DENY");

  HttpResult cookies = c.get(url("/cookies"));
  EXPECT_EQ(cookies.headerValues("set-cookie"),
            (std::vector<std::string>{"a=1; Path=/", "b=2; Path=/"}));
  EXPECT_EQ(cookies.header("cache-control"), "");
  EXPECT_EQ(cookies.header("x-content-type-options"), "nosniff");

  HttpResult notfound = c.get(url("/missing"));
  EXPECT_EQ(notfound.header("x-content-type-options"), "nosniff");
}

TEST_F(HttpServer, HandlerExceptionBecomesOpaque500) {
  Router r;
  r.add("GET", "/boom",
        [](const Request&) -> Response { throw std::runtime_error("secret detail"); });
  r.add(
      "GET", "/boom-inline", [](const Request&) -> Response { throw 42; }, RouteFlags::kInline);
  r.add("GET", "/bad-header", [](const Request&) {
    return Response::text(200, "").header("Location", "/x\r\nSet-Cookie: evil=1");
  });
  start(std::move(r));
  HttpClient c;
  for (const char* path : {"/boom", "/boom-inline", "/bad-header"}) {
    HttpResult res = c.get(url(path));
    EXPECT_EQ(res.status, 500) << path;
    EXPECT_EQ(res.body, R"({"error":"server_error"})") << path;
    EXPECT_EQ(res.header("content-type"), "application/json");
    EXPECT_EQ(res.header("set-cookie"), "");
  }
  EXPECT_EQ(c.get(url("/boom")).new_connections, 0);  // the connection survives
}

TEST_F(HttpServer, DeliversRequestParts) {
  Router r;
  r.add("POST", "/items/:id", echo);
  start(std::move(r));
  HttpClient c;
  const std::string big(20000, 'b');  // big enough for curl to send Expect: 100-continue
  HttpResult res =
      c.post(url("/items/a%20b?x=1&x=2&y=%2Fz"), "k=v&" + big, "text/plain", {"X-Test: hello"});
  ASSERT_EQ(res.status, 200) << res.body;
  EXPECT_NE(res.body.find("POST /items/a b\n"), std::string::npos) << res.body;
  EXPECT_NE(res.body.find("body=k=v&" + big + "\n"), std::string::npos);
  EXPECT_NE(res.body.find("param:id=a b\n"), std::string::npos);
  EXPECT_NE(res.body.find("query:x=1\n"), std::string::npos);
  EXPECT_NE(res.body.find("query:y=/z\n"), std::string::npos);
  EXPECT_NE(res.body.find("dup:x\n"), std::string::npos);
  EXPECT_NE(res.body.find("raw_query=x=1&x=2&y=%2Fz\n"), std::string::npos);
  EXPECT_NE(res.body.find("x-test=hello\n"), std::string::npos);
  EXPECT_NE(res.body.find("remote=127.0.0.1\n"), std::string::npos);
  EXPECT_NE(res.body.find("id=" + res.header("x-request-id") + "\n"), std::string::npos);
}

TEST_F(HttpServer, RejectsMalformedPathWith400) {
  Router r;
  r.add("GET", "/a", echo);
  start(std::move(r));
  HttpClient c;
  for (const char* path : {"/a%00", "/a%zz"}) {
    HttpResult res = c.get(url(path));
    EXPECT_EQ(res.status, 400) << path;
    EXPECT_EQ(res.body, R"({"error":"invalid_request","error_description":"malformed path"})");
    EXPECT_STRCASEEQ(res.header("connection").c_str(), "close");
  }
}

TEST_F(HttpServer, RejectsOversizeRequestsWith413AndCloses) {
  std::atomic<int> calls{0};
  Router r;
  r.add("POST", "/t", [&](const Request& req) {
    ++calls;
    return echo(req);
  });
  ServerOptions o = testOptions();
  o.max_request_size = 2048;
  start(std::move(r), o);
  HttpClient c;
  EXPECT_EQ(c.post(url("/t"), std::string(1000, 'a')).status, 200);

  HttpResult declared = c.post(url("/t"), std::string(100000, 'a'));
  EXPECT_EQ(declared.status, 413);
  EXPECT_EQ(declared.body,
            R"({"error":"invalid_request","error_description":"request too large"})");
  EXPECT_STRCASEEQ(declared.header("connection").c_str(), "close");

  HttpResult chunked =
      c.post(url("/t"), std::string(100000, 'a'), "text/plain", {"Transfer-Encoding: chunked"});
  EXPECT_EQ(chunked.status, 413);

  for (const char* end : {"\r\n\r\n", ""}) {  // a whole head, and one that never ends
    RawConnection raw(server_->port());
    ASSERT_TRUE(raw.send("GET /t HTTP/1.1\r\nHost: t\r\nX-Big: " + std::string(1000, 'h')));
    ASSERT_TRUE(raw.send(std::string(3000, 'h') + end));
    const std::string answer = raw.readResponse();
    EXPECT_TRUE(startsWith(answer, "HTTP/1.1 413")) << answer;
    EXPECT_TRUE(raw.readsEof());
  }
  EXPECT_EQ(calls.load(), 1);
  EXPECT_EQ(c.post(url("/t"), "ok").status, 200);
}

TEST_F(HttpServer, AccessLogNeverContainsTheQuery) {
  Router r;
  r.add("GET", "/cb", echo);
  ServerOptions o = testOptions();
  o.access_log = true;
  start(std::move(r), o);
  HttpClient c;
  ::testing::internal::CaptureStderr();
  HttpResult res = c.get(url("/cb?code=SECRETCODE&state=s"));
  log::flush();  // access lines are written in batches
  std::string err = ::testing::internal::GetCapturedStderr();
  ASSERT_EQ(res.status, 200);
  EXPECT_EQ(err.find("SECRETCODE"), std::string::npos) << err;
  EXPECT_NE(err.find(R"("event":"http")"), std::string::npos) << err;
  EXPECT_NE(err.find(R"("path":"/cb")"), std::string::npos) << err;
  EXPECT_NE(err.find(R"("method":"GET")"), std::string::npos) << err;
  EXPECT_NE(err.find(R"("status":200)"), std::string::npos) << err;
  EXPECT_NE(err.find(R"("request_id":")" + res.header("x-request-id") + "\""), std::string::npos);
  EXPECT_NE(err.find(R"("remote_ip":"127.0.0.1")"), std::string::npos) << err;
  EXPECT_NE(err.find(R"("duration_us":)"), std::string::npos) << err;
  EXPECT_NE(err.find(R"("bytes":)"), std::string::npos) << err;
}

struct Descriptors {
  int sockets = 0;
  int other = 0;
};

Descriptors openDescriptors() {
  Descriptors d;
  DIR* dir = ::opendir("/proc/self/fd");
  while (dirent* e = ::readdir(dir)) {
    char target[256];
    std::string link = std::string("/proc/self/fd/") + e->d_name;
    ssize_t n = ::readlink(link.c_str(), target, sizeof target - 1);
    if (n <= 0) continue;
    (startsWith(std::string(target, static_cast<size_t>(n)), "socket:") ? d.sockets : d.other)++;
  }
  ::closedir(dir);
  return d;
}

TEST_F(HttpServer, StartsAndStopsRepeatedlyWithoutLeakingConnections) {
  constexpr int kRounds = 20;
  ServerOptions o = testOptions();
  const Descriptors before = openDescriptors();
  for (int i = 0; i < kRounds; ++i) {
    Router r;
    r.add("GET", "/w", echo);
    r.add("GET", "/i", echo, RouteFlags::kInline);
    auto server = Server::create(o, std::move(r));
    server->start();
    ASSERT_NE(server->port(), 0);
    const std::string base = "http://127.0.0.1:" + std::to_string(server->port());
    HttpClient idle;  // a keep-alive connection still open while the server stops
    EXPECT_EQ(idle.get(base + "/i").status, 200);
    EXPECT_EQ(HttpClient().get(base + "/w").status, 200);
    server->stop(1000);
    server->stop(1000);  // a second stop is a no-op
  }
  const Descriptors after = openDescriptors();
  EXPECT_EQ(after.sockets, before.sockets);
  // Pistache 0.0.5 never closes one eventfd per listener and an eventfd, a second eventfd and a
  // timerfd per reactor thread (NotifyFd has no destructor); nothing else may grow.
  EXPECT_LE(after.other - before.other, kRounds * (1 + 3 * o.threads));
}

TEST_F(HttpServer, StopDrainsInFlightRequest) {
  Latch started, release;
  Router r;
  r.add("GET", "/slow", blockingEcho(started, release));
  r.add("GET", "/other", echo);
  start(std::move(r));
  const std::string slow_url = url("/slow");
  const std::string other_url = url("/other");
  HttpClient other;  // connected before stop: the listener may already be closed later
  ASSERT_EQ(other.get(other_url).status, 200);

  auto slow = std::async(std::launch::async, [&] { return HttpClient().get(slow_url); });
  started.wait();
  auto stopping = std::async(std::launch::async, [&] { server_->stop(10000); });
  // New worker requests are refused once stop() is draining; that is the sign to let the
  // in-flight one finish.
  long status = 0;
  for (int i = 0; i < 100000 && status != 503; ++i) status = other.get(other_url).status;
  EXPECT_EQ(status, 503);
  release.open();
  HttpResult res = slow.get();
  EXPECT_EQ(res.status, 200);
  EXPECT_NE(res.body.find("GET /slow"), std::string::npos);
  stopping.get();
}

TEST_F(HttpServer, StartThrowsWhenThePortIsTaken) {
  Router r;
  start(std::move(r));
  ServerOptions o = testOptions();
  o.port = server_->port();
  auto second = Server::create(o, Router());
  EXPECT_THROW(second->start(), std::runtime_error);
}

}  // namespace
}  // namespace broker::http
