// The real binary's limits on slow and numerous clients: the header timeout on every request of a
// kept-alive connection (server.header_timeout) and the connection cap (server.max_connections).

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <thread>
#include <vector>

#include "fakes/broker_process.h"
#include "fakes/raw_connection.h"

namespace broker::testing {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

const std::string kHealth = "GET /health HTTP/1.1\r\nHost: t\r\n\r\n";

bool startsWith(const std::string& s, const std::string& prefix) {
  return s.rfind(prefix, 0) == 0;
}

std::string lowered(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

bool answered200(RawConnection& c) {
  return c.send(kHealth) && startsWith(c.readResponse(5000), "HTTP/1.1 200");
}

// Runs until the server closes `raw` (or 10 s pass); how long that took.
Clock::duration timeToClose(RawConnection& raw, Clock::time_point since) {
  EXPECT_TRUE(raw.readsEof(10000));
  return Clock::now() - since;
}

class HttpLimits : public ::testing::Test {
 protected:
  void start(const std::string& server_yaml) {
    BrokerConfig cfg;
    cfg.extra_yaml = "server:\n" + server_yaml;
    broker_ = std::make_unique<BrokerProcess>(dir_, cfg);
    broker_->start();
  }

  TempDir dir_;
  std::unique_ptr<BrokerProcess> broker_;
};

// Slowloris on a kept-alive connection: after its first request, a head that never ends was held
// to the 60 s keep-alive timeout instead of the header timeout.
TEST_F(HttpLimits, PartialHeadOnAKeptAliveConnectionGetsTheHeaderTimeout) {
  start("  header_timeout: 1s\n  keepalive_timeout: 30s\n");
  RawConnection raw(broker_->port());
  ASSERT_TRUE(answered200(raw));
  // Idle between requests longer than the header timeout: the keep-alive timeout applies.
  std::this_thread::sleep_for(1500ms);
  ASSERT_TRUE(answered200(raw));
  const auto start = Clock::now();
  ASSERT_TRUE(raw.send("GET /health HTTP/1.1\r\nHost: t\r\n"));
  const auto took = timeToClose(raw, start);
  EXPECT_GE(took, 900ms);
  EXPECT_LT(took, 5s);
}

// The header timer starts at the first byte of a request; more bytes do not restart it.
TEST_F(HttpLimits, TricklingHeadIsCutOffAtTheHeaderTimeout) {
  start("  header_timeout: 1s\n  keepalive_timeout: 30s\n");
  RawConnection raw(broker_->port());
  ASSERT_TRUE(answered200(raw));
  const auto start = Clock::now();
  const std::string head = "GET /health HTTP/1.1\r\nX-Slow: ";
  bool refused = false;
  for (int i = 0; i < 40 && !refused; ++i) {  // 40 bytes at 100 ms: 4 s if never cut off
    refused = !raw.send(i < static_cast<int>(head.size()) ? head.substr(i, 1) : "a");
    if (raw.readsEof(100)) break;
  }
  const auto took = Clock::now() - start;
  EXPECT_TRUE(raw.readsEof(100) || refused);
  EXPECT_LT(took, 3s);
}

TEST_F(HttpLimits, ConnectionsPastMaxConnectionsGet503AndAClose) {
  start("  max_connections: 2\n");
  std::vector<std::unique_ptr<RawConnection>> held;
  // start()'s own health checks may not be closed on the broker's side yet: try a few times.
  for (int attempt = 0; attempt < 50 && held.size() < 2; ++attempt) {
    auto c = std::make_unique<RawConnection>(broker_->port());
    if (answered200(*c)) {
      held.push_back(std::move(c));
    } else {
      std::this_thread::sleep_for(100ms);
    }
  }
  ASSERT_EQ(held.size(), 2u);

  RawConnection third(broker_->port());
  ASSERT_TRUE(third.connected());
  const std::string refusal = third.readResponse(5000);  // at once, before any request
  EXPECT_TRUE(startsWith(refusal, "HTTP/1.1 503")) << refusal;
  EXPECT_NE(lowered(refusal).find("\r\nretry-after: 1\r\n"), std::string::npos) << refusal;
  EXPECT_NE(lowered(refusal).find("\r\nconnection: close\r\n"), std::string::npos) << refusal;
  EXPECT_NE(refusal.find("too many connections"), std::string::npos) << refusal;
  EXPECT_TRUE(third.readsEof(5000));

  EXPECT_TRUE(answered200(*held[0]));  // the admitted ones are served as before
  held.pop_back();                     // one closes: room for a new one
  bool served = false;
  for (int attempt = 0; attempt < 50 && !served; ++attempt) {
    RawConnection next(broker_->port());
    served = answered200(next);
    if (!served) std::this_thread::sleep_for(100ms);
  }
  EXPECT_TRUE(served);
}

}  // namespace
}  // namespace broker::testing
