// Client ID Metadata Documents end to end: the client's document is served on loopback (allowed
// because the test broker runs with dev_mode), the real broker fetches it at /authorize, and the
// whole flow ends in a token that /forward-auth accepts.

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "broker/http/server.h"
#include "fakes/broker_process.h"
#include "fakes/oauth_driver.h"

namespace broker::testing {
namespace {

using nlohmann::json;

using Steady = std::chrono::steady_clock;

// Serves /client.json (and /other.json) from the document the test sets, and /slow.json, which
// answers after kSlowDocumentMs with a document naming whatever URL it was asked for.
constexpr int kSlowDocumentMs = 3000;

class DocumentServer {
 public:
  DocumentServer() {
    http::Router router;
    router.add("GET", "/slow.json", [this](const http::Request& req) {
      std::this_thread::sleep_for(std::chrono::milliseconds(kSlowDocumentMs));
      json doc = {{"client_id", url("/slow.json?" + req.raw_query)},
                  {"redirect_uris", {"http://127.0.0.1:7777/callback"}},
                  {"token_endpoint_auth_method", "none"}};
      return http::Response::json(200, doc.dump());
    });
    auto serve = [this](const http::Request& req) {
      ++hits_;
      std::lock_guard<std::mutex> lock(mu_);
      if (req.path == "/redirect.json") return http::Response::redirect(url("/client.json"));
      auto resp = http::Response::json(200, body_);
      resp.header("Cache-Control", cache_control_);
      return resp;
    };
    router.add("GET", "/client.json", serve);
    router.add("GET", "/redirect.json", serve);
    http::ServerOptions o;
    o.port = 0;
    o.access_log = false;
    o.workers = 32;  // the slow documents are slow each, not one after another
    server_ = http::Server::create(o, std::move(router));
    server_->start();
  }
  ~DocumentServer() { server_->stop(1000); }
  std::string url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(server_->port()) + path;
  }
  void set(std::string body, std::string cache_control = "max-age=60") {
    std::lock_guard<std::mutex> lock(mu_);
    body_ = std::move(body);
    cache_control_ = std::move(cache_control);
  }
  int hits() const { return hits_; }

 private:
  std::unique_ptr<http::Server> server_;
  std::mutex mu_;
  std::string body_ = "{}";
  std::string cache_control_;
  std::atomic<int> hits_{0};
};

class ClientMetadataFlow : public ::testing::Test {
 protected:
  void SetUp() override {
    broker_ = std::make_unique<BrokerProcess>(dir_, BrokerConfig{});
    broker_->start();
    driver_ = std::make_unique<OAuthDriver>(broker_->url());
    client_.client_id = docs_.url("/client.json");
    client_.redirect_uri = "http://127.0.0.1:7777/callback";
    client_.auth_method = "none";
  }
  json document(const std::vector<std::string>& redirects = {"http://127.0.0.1:7777/callback"}) {
    return {{"client_id", client_.client_id},
            {"client_name", "Metadata <Client>"},
            {"redirect_uris", redirects},
            {"grant_types", {"authorization_code", "refresh_token"}},
            {"token_endpoint_auth_method", "none"}};
  }
  std::string authorizeUrl(const std::string& client_id, const std::string& redirect) {
    auto pkce = makePkce();
    return broker_->url() + "/authorize?" +
           formEncode({{"response_type", "code"},
                       {"client_id", client_id},
                       {"redirect_uri", redirect},
                       {"code_challenge", pkce.challenge},
                       {"code_challenge_method", "S256"},
                       {"resource", "http://127.0.0.1:9000/mcp"}});
  }

  DocumentServer docs_;
  TempDir dir_;
  std::unique_ptr<BrokerProcess> broker_;
  std::unique_ptr<OAuthDriver> driver_;
  RegisteredClient client_;
};

TEST_F(ClientMetadataFlow, MetadataAdvertisesSupport) {
  HttpClient http;
  auto m = json::parse(http.get(broker_->url() + "/.well-known/oauth-authorization-server").body);
  EXPECT_EQ(m["client_id_metadata_document_supported"], true);
}

TEST_F(ClientMetadataFlow, UrlClientIdLogsInWithoutRegistrationAndItsTokenPassesForwardAuth) {
  docs_.set(document().dump());
  AuthorizeRequest req;
  req.resource = "http://127.0.0.1:9000/mcp";
  PkcePair pkce;
  auto a = driver_->authorize(client_, req, &pkce);
  ASSERT_FALSE(a.code.empty()) << a.status << " " << a.error << a.page;
  EXPECT_EQ(a.iss, broker_->url());
  auto t = driver_->exchange(client_, a.code, pkce.verifier, req.resource);
  ASSERT_EQ(t.status, 200) << t.body;
  EXPECT_FALSE(t.refresh_token.empty());
  auto refreshed = driver_->refresh(client_, t.refresh_token);
  ASSERT_EQ(refreshed.status, 200) << refreshed.body;

  HttpClient http;
  auto fa = http.get(broker_->url() + "/forward-auth",
                     {"X-Original-URL: http://127.0.0.1:9000/mcp",
                      "Authorization: Bearer " + refreshed.access_token});
  EXPECT_EQ(fa.status, 200) << fa.body;
  EXPECT_EQ(fa.header("x-auth-client-id"), client_.client_id);
  EXPECT_EQ(docs_.hits(), 1) << "the document is cached per its max-age";
}

TEST_F(ClientMetadataFlow, ConsentShowsTheRedirectHostAndWarnsForLoopbackOnlyRedirects) {
  docs_.set(document().dump(), "no-store");
  HttpClient browser;
  auto page = browser.get(authorizeUrl(client_.client_id, client_.redirect_uri));
  ASSERT_EQ(page.status, 200) << page.body;
  EXPECT_NE(page.body.find("Metadata &lt;Client&gt;"), std::string::npos);
  EXPECT_NE(page.body.find("<strong>127.0.0.1</strong>"), std::string::npos);
  EXPECT_NE(page.body.find("class=\"warning\""), std::string::npos);
  EXPECT_NE(page.body.find("loopback"), std::string::npos);

  // A document that also names an HTTPS redirect is not loopback-only: no warning.
  docs_.set(document({"http://127.0.0.1:7777/callback", "https://app.example/cb"}).dump(),
            "no-store");
  page = browser.get(authorizeUrl(client_.client_id, client_.redirect_uri));
  ASSERT_EQ(page.status, 200);
  EXPECT_EQ(page.body.find("class=\"warning\""), std::string::npos);
}

TEST_F(ClientMetadataFlow, BadDocumentsAreInvalidClientAndNeverRedirected) {
  HttpClient browser;
  auto expectRefused = [&](const std::string& client_id, const std::string& why) {
    auto r = browser.get(authorizeUrl(client_id, client_.redirect_uri));
    EXPECT_EQ(r.status, 400) << why;
    EXPECT_EQ(r.header("location"), "") << why;
    EXPECT_NE(r.body.find(why), std::string::npos) << r.body;
  };
  // A refused document is remembered for a while per URL, so each case has a URL of its own
  // (the query string is part of the client_id; the server ignores it).
  int case_number = 0;
  auto serveCase = [&](json doc) {
    const std::string id = docs_.url("/client.json?case=" + std::to_string(++case_number));
    if (doc["client_id"] == client_.client_id) doc["client_id"] = id;
    docs_.set(doc.dump(), "no-store");
    return id;
  };
  auto other = document();
  other["client_id"] = docs_.url("/other.json");
  expectRefused(serveCase(other), "does not name itself");
  auto secret = document();
  secret["token_endpoint_auth_method"] = "client_secret_basic";
  expectRefused(serveCase(secret), "token_endpoint_auth_method must be");
  expectRefused(serveCase(document({"https://evil.example/cb"})),
                "not registered for this application");
  docs_.set(document().dump(), "no-store");
  expectRefused(docs_.url("/redirect.json"), "HTTP 302");
  expectRefused(docs_.url("/missing.json"), "HTTP 404");
  expectRefused("https://10.20.30.40/client.json", "not a public address");
  expectRefused("https://169.254.169.254/latest/meta-data", "not a public address");
}

TEST_F(ClientMetadataFlow, AFailedDocumentIsNotFetchedAgainByEveryRequest) {
  HttpClient browser;
  auto other = document();
  other["client_id"] = docs_.url("/other.json");
  docs_.set(other.dump(), "no-store");
  for (int i = 0; i < 3; ++i) {
    auto r = browser.get(authorizeUrl(client_.client_id, client_.redirect_uri));
    EXPECT_EQ(r.status, 400);
    EXPECT_NE(r.body.find("does not name itself"), std::string::npos) << r.body;
  }
  EXPECT_EQ(docs_.hits(), 1);
}

// More /authorize requests naming slow metadata documents than the broker has workers: they wait
// on the metadata fetch threads (4, with 4 more queued) while /health and /token keep answering
// at once, and those beyond the queue are refused at once with a 503 page.
TEST_F(ClientMetadataFlow, SlowDocumentsHoldOnlyTheirOwnFetchThreadsNeverTheWorkers) {
  constexpr int kRequests = 12;
  constexpr int kAccepted = 4 + 4;  // ClientMetadataOptions: fetch_threads + fetch_queue
  struct Outcome {
    long status = 0;
    std::string body;
    std::string retry_after;
    Steady::duration took{};
  };
  std::vector<Outcome> outcomes(kRequests);
  std::vector<std::thread> browsers;
  for (int i = 0; i < kRequests; ++i) {
    browsers.emplace_back([&, i] {
      HttpClient browser;
      const auto start = Steady::now();
      auto r = browser.get(
          authorizeUrl(docs_.url("/slow.json?n=" + std::to_string(i)), client_.redirect_uri));
      outcomes[i] = {r.status, r.body, r.header("retry-after"), Steady::now() - start};
    });
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // every request has arrived
  HttpClient other;
  for (int i = 0; i < 3; ++i) {
    auto start = Steady::now();
    auto health = other.get(broker_->url() + "/health");
    EXPECT_EQ(health.status, 200);
    EXPECT_LT(Steady::now() - start, std::chrono::milliseconds(1000)) << "/health waited";
    start = Steady::now();
    auto token =
        other.post(broker_->url() + "/token", formEncode({{"grant_type", "refresh_token"},
                                                          {"refresh_token", "mcpr_not-a-token"},
                                                          {"client_id", "no-such-client"}}));
    EXPECT_TRUE(token.status == 400 || token.status == 401) << token.status << token.body;
    EXPECT_LT(Steady::now() - start, std::chrono::milliseconds(1000)) << "/token waited";
  }
  for (auto& t : browsers) t.join();
  int refused = 0, answered = 0;
  for (const auto& o : outcomes) {
    if (o.status == 503) {
      ++refused;
      EXPECT_LT(o.took, std::chrono::milliseconds(1500)) << "a refusal is not queued";
      EXPECT_EQ(o.retry_after, "5");
      EXPECT_NE(o.body.find("temporarily_unavailable"), std::string::npos) << o.body;
    } else {
      ++answered;
      EXPECT_EQ(o.status, 200) << o.body;
      EXPECT_GE(o.took, std::chrono::milliseconds(kSlowDocumentMs - 500));
    }
  }
  EXPECT_EQ(answered, kAccepted);
  EXPECT_EQ(refused, kRequests - kAccepted);
}

}  // namespace
}  // namespace broker::testing
