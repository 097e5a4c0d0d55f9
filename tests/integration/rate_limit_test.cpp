// Per-client-address rate limits of the real binary (rate_limits, server.trusted_proxies): a
// flood from one address is refused with 429 and Retry-After, other groups and other addresses
// keep their own buckets, and X-Forwarded-For counts only when a trusted proxy sent it.

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "fakes/broker_process.h"
#include "fakes/http_client.h"

namespace broker::testing {
namespace {

const std::string kRegistration =
    R"({"redirect_uris":["http://127.0.0.1:5555/cb"],"token_endpoint_auth_method":"none",)"
    R"("application_type":"native","client_name":"CLI"})";

class RateLimits : public ::testing::Test {
 protected:
  void start(const std::string& rate_limits_yaml, const std::string& extra_yaml = "") {
    BrokerConfig cfg;
    cfg.rate_limits_yaml = "rate_limits:\n" + rate_limits_yaml;
    cfg.extra_yaml = extra_yaml;
    broker_ = std::make_unique<BrokerProcess>(dir_, cfg);
    broker_->start();
  }

  HttpResult registerFrom(const std::string& forwarded_for = "") {
    std::vector<std::string> headers;
    if (!forwarded_for.empty()) headers.push_back("X-Forwarded-For: " + forwarded_for);
    return http_.post(broker_->url() + "/register", kRegistration, "application/json", headers);
  }

  TempDir dir_;
  std::unique_ptr<BrokerProcess> broker_;
  HttpClient http_;
};

TEST_F(RateLimits, RegistrationFloodFromOneAddressGets429WithRetryAfterWhileTokenStillAnswers) {
  start("  register: {burst: 5, per_second: 0.01}\n");
  for (int i = 0; i < 5; ++i) EXPECT_EQ(registerFrom().status, 201) << i;
  for (int i = 0; i < 20; ++i) {
    auto refused = registerFrom();
    ASSERT_EQ(refused.status, 429) << refused.body;
    const std::string retry = refused.header("retry-after");
    ASSERT_FALSE(retry.empty());
    EXPECT_GE(std::stoi(retry), 1);
    EXPECT_LE(std::stoi(retry), 100);
    EXPECT_NE(refused.body.find(R"("error":"temporarily_unavailable")"), std::string::npos)
        << refused.body;
  }
  // Another group keeps its own bucket: /token answers (with its own error for an incomplete form).
  auto token = http_.post(broker_->url() + "/token", "grant_type=authorization_code");
  EXPECT_NE(token.status, 429) << token.body;
  EXPECT_GE(token.status, 400) << token.body;
}

TEST_F(RateLimits, BrowserEndpointsRefuseWithAnHtmlPage) {
  start("  browser: {burst: 1, per_second: 0.01}\n");
  EXPECT_NE(http_.get(broker_->url() + "/authorize").status, 429);
  auto refused = http_.get(broker_->url() + "/authorize");
  EXPECT_EQ(refused.status, 429);
  EXPECT_NE(refused.header("content-type").find("text/html"), std::string::npos);
  EXPECT_FALSE(refused.header("retry-after").empty());
}

TEST_F(RateLimits, BehindATrustedProxyEachForwardedForAddressHasItsOwnBucket) {
  start("  register: {burst: 2, per_second: 0.01}\n", "server:\n  trusted_proxies: [127.0.0.1]\n");
  EXPECT_EQ(registerFrom("198.51.100.1").status, 201);
  EXPECT_EQ(registerFrom("198.51.100.1").status, 201);
  EXPECT_EQ(registerFrom("198.51.100.1").status, 429);
  // The client's own earlier entries do not count: the proxy appended the right-most one.
  EXPECT_EQ(registerFrom("192.0.2.9, 198.51.100.1").status, 429);
  EXPECT_EQ(registerFrom("198.51.100.2").status, 201);
}

TEST_F(RateLimits, WithoutATrustedProxyAClientsOwnForwardedForIsIgnored) {
  start("  register: {burst: 2, per_second: 0.01}\n");
  EXPECT_EQ(registerFrom("198.51.100.1").status, 201);
  EXPECT_EQ(registerFrom("198.51.100.2").status, 201);
  // All three share the socket address's bucket.
  EXPECT_EQ(registerFrom("198.51.100.3").status, 429);
  EXPECT_EQ(registerFrom().status, 429);
}

// Guessing a client's secret: after 30 failed authentications for one client_id from one address,
// /token refuses that client_id from that address (429) without trying. Another address, and
// another client_id, are still judged: someone who knows a client's id cannot lock its users out.
TEST_F(RateLimits, RepeatedFailedClientAuthenticationLocksOutThatClientIdFromThatAddressOnly) {
  start("  token: {burst: 100000, per_second: 100000}\n",
        "server:\n  trusted_proxies: [127.0.0.1]\n");
  const std::string form = "grant_type=authorization_code&code=x&client_secret=guess&client_id=";
  auto post = [&](const std::string& client_id, const std::string& from) {
    return http_.post(broker_->url() + "/token", form + client_id,
                      "application/x-www-form-urlencoded", {"X-Forwarded-For: " + from});
  };
  for (int i = 0; i < 30; ++i) ASSERT_EQ(post("victim", "198.51.100.1").status, 401) << i;
  auto locked = post("victim", "198.51.100.1");
  EXPECT_EQ(locked.status, 429) << locked.body;
  EXPECT_FALSE(locked.header("retry-after").empty());
  EXPECT_NE(locked.body.find("too many failed client authentications"), std::string::npos)
      << locked.body;
  // Judged, not refused: a wrong secret from elsewhere is 401, so a right one would be 200.
  EXPECT_EQ(post("victim", "198.51.100.2").status, 401);
  EXPECT_EQ(post("bystander", "198.51.100.1").status, 401);
}

TEST_F(RateLimits, ZeroTurnsAGroupOff) {
  start("  register: 0\n");
  for (int i = 0; i < 40; ++i) ASSERT_EQ(registerFrom().status, 201) << i;
}

}  // namespace
}  // namespace broker::testing
