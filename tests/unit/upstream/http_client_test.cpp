// The libcurl upstream HTTP client against a real server on 127.0.0.1: timeouts, the response size
// cap, no redirects unless asked, schemes other than http(s) refused, thread safety; and Link
// header parsing for paginated APIs.

#include "broker/upstream/http_client.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "broker/http/server.h"

namespace broker::upstream {
namespace {

HttpRequest get(const std::string& url) {
  HttpRequest r;
  r.url = url;
  return r;
}

// A port nothing listens on: bound, then closed.
uint16_t closedPort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

class UpstreamHttp : public ::testing::Test {
 protected:
  void SetUp() override {
    http::Router router;
    router.add("GET", "/ok", [](const http::Request&) {
      return http::Response::json(200, R"({"ok":true})").header("X-Thing", "one");
    });
    router.add("POST", "/echo", [](const http::Request& req) {
      return http::Response::text(200, req.method + "|" + req.header("x-custom").value_or("") +
                                           "|" + req.header("user-agent").value_or("") + "|" +
                                           req.body);
    });
    router.add("GET", "/redirect",
               [this](const http::Request&) { return http::Response::redirect(url("/ok")); });
    router.add("GET", "/big", [](const http::Request&) {
      return http::Response::text(200, std::string(64 * 1024, 'x'));
    });
    router.add("GET", "/slow", [this](const http::Request&) {
      std::unique_lock<std::mutex> lock(mutex_);
      cv_.wait_for(lock, std::chrono::seconds(5), [&] { return released_; });
      return http::Response::text(200, "late");
    });
    router.add("GET", "/status/503",
               [](const http::Request&) { return http::Response::text(503, "down"); });
    http::ServerOptions o;
    o.port = 0;
    o.threads = 1;
    o.workers = 4;
    o.access_log = false;
    server_ = http::Server::create(o, router);
    server_->start();
  }
  void TearDown() override {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      released_ = true;
    }
    cv_.notify_all();
    server_->stop(2000);
  }
  std::string url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(server_->port()) + path;
  }

  std::unique_ptr<http::Server> server_;
  std::mutex mutex_;
  std::condition_variable cv_;
  bool released_ = false;
};

TEST_F(UpstreamHttp, GetReturnsStatusHeadersAndBody) {
  auto client = HttpClient::create();
  auto r = client->send(get(url("/ok")));
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, R"({"ok":true})");
  EXPECT_EQ(r->header("x-thing").value_or(""), "one");
  EXPECT_FALSE(r->header("x-missing"));
}

TEST_F(UpstreamHttp, PostSendsHeadersBodyAndUserAgent) {
  HttpClientOptions o;
  o.user_agent = "broker-test/1";
  auto client = HttpClient::create(o);
  HttpRequest req = get(url("/echo"));
  req.method = "POST";
  req.headers = {{"X-Custom", "yes"}};
  req.body = "a=1&b=2";
  auto r = client->send(req);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->body, "POST|yes|broker-test/1|a=1&b=2");
}

TEST_F(UpstreamHttp, NonSuccessStatusIsAResponseNotAnError) {
  auto r = HttpClient::create()->send(get(url("/status/503")));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 503);
}

TEST_F(UpstreamHttp, RedirectsAreNotFollowedUnlessAsked) {
  auto client = HttpClient::create();
  auto r = client->send(get(url("/redirect")));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 302);
  EXPECT_EQ(r->header("location").value_or(""), url("/ok"));

  HttpRequest follow = get(url("/redirect"));
  follow.follow_redirects = true;
  auto followed = client->send(follow);
  ASSERT_TRUE(followed.ok());
  EXPECT_EQ(followed->status, 200);
  EXPECT_EQ(followed->header("x-thing").value_or(""), "one");  // headers of the last response
}

TEST_F(UpstreamHttp, OversizedResponseIsRefused) {
  HttpClientOptions o;
  o.max_response_size = 1024;
  auto r = HttpClient::create(o)->send(get(url("/big")));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
}

TEST_F(UpstreamHttp, SlowServerTimesOutAsUnavailable) {
  HttpClientOptions o;
  o.timeout_ms = 300;
  auto started = std::chrono::steady_clock::now();
  auto r = HttpClient::create(o)->send(get(url("/slow")));
  auto elapsed = std::chrono::steady_clock::now() - started;
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kUnavailable);
  EXPECT_LT(elapsed, std::chrono::milliseconds(2000));
}

TEST_F(UpstreamHttp, PerRequestTimeoutOverridesTheDefault) {
  HttpRequest req = get(url("/slow"));
  req.timeout_ms = 200;
  auto started = std::chrono::steady_clock::now();
  auto r = HttpClient::create()->send(req);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kUnavailable);
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::milliseconds(2000));
}

TEST_F(UpstreamHttp, ConnectionRefusedIsUnavailable) {
  auto r =
      HttpClient::create()->send(get("http://127.0.0.1:" + std::to_string(closedPort()) + "/"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kUnavailable);
}

TEST_F(UpstreamHttp, OnlyHttpAndHttpsAreSpoken) {
  auto client = HttpClient::create();
  for (const char* u : {"file:///etc/passwd", "gopher://127.0.0.1/", "not a url"}) {
    auto r = client->send(get(u));
    ASSERT_FALSE(r.ok()) << u;
    EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument) << u;
  }
}

TEST_F(UpstreamHttp, ErrorMessagesNeverCarryTheQuery) {
  auto r = HttpClient::create()->send(
      get("http://127.0.0.1:" + std::to_string(closedPort()) + "/x?code=secret-code"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message.find("secret-code"), std::string::npos);
}

TEST_F(UpstreamHttp, OneClientServesManyThreads) {
  auto client = HttpClient::create();
  std::atomic<int> good{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 6; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 5; ++i) {
        auto r = client->send(get(url("/ok")));
        if (r.ok() && r->status == 200 && r->body == R"({"ok":true})") ++good;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(good.load(), 30);
}

TEST(UpstreamHttpLink, FindsTheNextRelation) {
  EXPECT_EQ(nextLink(R"(<https://api.github.com/user/orgs?page=2>; rel="next", )"
                     R"(<https://api.github.com/user/orgs?page=5>; rel="last")"),
            "https://api.github.com/user/orgs?page=2");
  EXPECT_EQ(nextLink(R"(<https://a/?page=1>; rel="first", <https://a/?page=3>; rel="next")"),
            "https://a/?page=3");
  EXPECT_EQ(nextLink(R"(<https://a/?p=2>; rel=next)"), "https://a/?p=2");
  EXPECT_EQ(nextLink(R"(<https://a/?p=2>; title="x"; REL="prev next")"), "https://a/?p=2");
}

TEST(UpstreamHttpLink, NoNextRelationIsEmpty) {
  EXPECT_EQ(nextLink(""), "");
  EXPECT_EQ(nextLink(R"(<https://a/?page=1>; rel="prev", <https://a/?page=1>; rel="first")"), "");
  EXPECT_EQ(nextLink(R"(<https://a/?page=9>; rel="nextpage")"), "");
  EXPECT_EQ(nextLink(R"(<https://a/?page=9; rel="next")"), "");
}

}  // namespace
}  // namespace broker::upstream
