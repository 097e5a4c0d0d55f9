// Client ID Metadata Documents end to end: the client's document is served on loopback (allowed
// because the test broker runs with dev_mode), the real broker fetches it at /authorize, and the
// whole flow ends in a token that /forward-auth accepts.

#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <nlohmann/json.hpp>

#include "broker/http/server.h"
#include "fakes/broker_process.h"
#include "fakes/oauth_driver.h"

namespace broker::testing {
namespace {

using nlohmann::json;

// Serves /client.json (and /other.json) from the document the test sets.
class DocumentServer {
 public:
  DocumentServer() {
    http::Router router;
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
  auto other = document();
  other["client_id"] = docs_.url("/other.json");
  docs_.set(other.dump(), "no-store");
  expectRefused(client_.client_id, "does not name itself");
  auto secret = document();
  secret["token_endpoint_auth_method"] = "client_secret_basic";
  docs_.set(secret.dump(), "no-store");
  expectRefused(client_.client_id, "token_endpoint_auth_method must be");
  docs_.set(document({"https://evil.example/cb"}).dump(), "no-store");
  expectRefused(client_.client_id, "not registered for this application");
  docs_.set(document().dump(), "no-store");
  expectRefused(docs_.url("/redirect.json"), "HTTP 302");
  expectRefused(docs_.url("/missing.json"), "HTTP 404");
  expectRefused("https://10.20.30.40/client.json", "not a public address");
  expectRefused("https://169.254.169.254/latest/meta-data", "not a public address");
}

}  // namespace
}  // namespace broker::testing
