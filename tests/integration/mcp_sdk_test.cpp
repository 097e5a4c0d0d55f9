// Proven with the real client: nginx (Debian's, on loopback) in front of an MCP server built with
// the official MCP TypeScript SDK, protected by the broker's /forward-auth through the tested
// config/nginx/mcp-locations.conf; the SDK's own client runs its auth() flow headlessly
// (tests/mcp-sdk/client.mjs). scripts/deps --test installs nginx, scripts/test runs `npm ci`.

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <tuple>

#include "fakes/broker_process.h"
#include "fakes/child_process.h"
#include "fakes/http_client.h"
#include "fakes/nginx_process.h"

namespace broker::testing {
namespace {

using nlohmann::json;

const std::string kSdkDir = std::string(BROKER_SOURCE_DIR) + "/tests/mcp-sdk";

class McpSdkBehindNginx : public ::testing::Test {
 protected:
  void SetUp() override {
    if (findProgram("nginx").empty() || findProgram("node").empty() ||
        !std::filesystem::exists(kSdkDir + "/node_modules/@modelcontextprotocol/sdk")) {
      GTEST_SKIP() << "needs nginx, node and `npm ci` in tests/mcp-sdk (scripts/test does both)";
    }
    nginx_port_ = freePort();
    other_port_ = freePort();
    const uint16_t mcp_port = freePort();
    BrokerConfig cfg;
    cfg.policy_yaml = "servers:\n  localhost:\n    demo:\n      name: SDK demo\n      resource: " +
                      mcpUrl(nginx_port_) +
                      "\n      allowed_users: [alice]\n    other:\n      name: Other\n"
                      "      resource: " +
                      mcpUrl(other_port_) + "\n      allowed_users: [alice]\n";
    // Short-lived access tokens, so that the client has to refresh within the test.
    cfg.extra_yaml = "tokens:\n  access_ttl: 2s\n";
    // A private CA for the client's HTTPS metadata document (the SDK requires https); the broker
    // trusts it only in dev_mode, through BROKER_DEV_CA_FILE.
    std::tie(cert_, key_) = loopbackCertificate(dir_, "cimd");
    setenv("BROKER_DEV_CA_FILE", cert_.c_str(), 1);
    broker_ = std::make_unique<BrokerProcess>(dir_, cfg);
    broker_->start();
    unsetenv("BROKER_DEV_CA_FILE");

    mcp_ = std::make_unique<ChildProcess>(
        std::vector<std::string>{"node", kSdkDir + "/server.mjs", std::to_string(mcp_port)},
        dir_.file("mcp-server.log"));
    ASSERT_TRUE(mcp_->waitForHttp("http://127.0.0.1:" + std::to_string(mcp_port) + "/"))
        << mcp_->log();

    const std::string locations =
        std::string(BROKER_SOURCE_DIR) + "/config/nginx/mcp-locations.conf";
    nginx_ = std::make_unique<NginxProcess>(
        dir_, "  upstream mcp_auth_broker { server 127.0.0.1:" + std::to_string(broker_->port()) +
                  "; keepalive 8; }\n"
                  "  upstream mcp_server { server 127.0.0.1:" +
                  std::to_string(mcp_port) + "; keepalive 8; }\n" + site(nginx_port_, locations) +
                  site(other_port_, locations));
    ASSERT_TRUE(nginx_->waitFor(mcpUrl(nginx_port_))) << nginx_->log();
  }

  static std::string site(uint16_t port, const std::string& locations) {
    const std::string p = std::to_string(port);
    return "  server { listen 127.0.0.1:" + p + "; set $mcp_origin http://127.0.0.1:" + p +
           "; include " + locations + "; }\n";
  }

  static std::string mcpUrl(uint16_t port) {
    return "http://127.0.0.1:" + std::to_string(port) + "/mcp";
  }

  CommandResult client(std::vector<std::string> args) {
    std::vector<std::string> argv = {findProgram("node"), kSdkDir + "/client.mjs"};
    argv.insert(argv.end(), args.begin(), args.end());
    return runCommand(argv);
  }

  static json lastJsonLine(const std::string& output) {
    const size_t start = output.rfind("\n{");
    return json::parse(start == std::string::npos ? output : output.substr(start + 1), nullptr,
                       false);
  }

  TempDir dir_;
  std::string cert_, key_;
  uint16_t nginx_port_ = 0, other_port_ = 0;
  std::unique_ptr<BrokerProcess> broker_;
  std::unique_ptr<ChildProcess> mcp_;
  std::unique_ptr<NginxProcess> nginx_;
};

TEST_F(McpSdkBehindNginx, UnauthenticatedRequestGetsTheBrokersChallengeThroughNginx) {
  HttpClient http;
  auto r = http.post(mcpUrl(nginx_port_), R"({"jsonrpc":"2.0","id":1,"method":"tools/list"})",
                     "application/json", {"Accept: application/json, text/event-stream"});
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(r.header("www-authenticate"),
            "Bearer resource_metadata=\"http://127.0.0.1:" + std::to_string(nginx_port_) +
                "/.well-known/oauth-protected-resource/mcp\", scope=\"mcp:localhost:demo\"");
  auto prm = http.get("http://127.0.0.1:" + std::to_string(nginx_port_) +
                      "/.well-known/oauth-protected-resource/mcp");
  ASSERT_EQ(prm.status, 200) << prm.body;
  auto doc = json::parse(prm.body);
  EXPECT_EQ(doc["resource"], mcpUrl(nginx_port_));
  EXPECT_EQ(doc["authorization_servers"], json::array({broker_->url()}));
  // A client cannot smuggle identity headers past forward-auth.
  auto spoofed = http.post(mcpUrl(nginx_port_), "{}", "application/json",
                           {"X-Auth-Subject: dev:root", "Authorization: Bearer forged"});
  EXPECT_EQ(spoofed.status, 401);
  // The Host header does not choose the server: the challenge still names this origin's.
  auto other_host = http.post(mcpUrl(nginx_port_), "{}", "application/json",
                              {"Host: 127.0.0.1:" + std::to_string(other_port_)});
  EXPECT_EQ(other_host.status, 401);
  EXPECT_NE(other_host.header("www-authenticate").find("scope=\"mcp:localhost:demo\""),
            std::string::npos);
}

TEST_F(McpSdkBehindNginx, SdkClientRegistersLogsInListsToolsRefreshesAndIsRefusedElsewhere) {
  auto r = client(
      {mcpUrl(nginx_port_), "alice", "--refresh-after", "8", "--other-url", mcpUrl(other_port_)});
  auto report = lastJsonLine(r.output);
  ASSERT_EQ(r.exit_code, 0) << r.output << "\n" << broker_->logs();
  EXPECT_EQ(report["registrations"], 1) << "dynamic client registration";
  EXPECT_EQ(report["tools"], json::array({"whoami"}));
  EXPECT_NE(report["whoami"].get<std::string>().find("user=alice sub=dev:alice"),
            std::string::npos);
  EXPECT_EQ(report["tools_after_expiry"], json::array({"whoami"}));
  EXPECT_EQ(report["refreshed"], true);
  EXPECT_EQ(report["other_status"], 401);
  // Streamable HTTP answers as an event stream, which nginx passes through unbuffered.
  EXPECT_EQ(report["raw_content_type"], "text/event-stream");
  EXPECT_EQ(report["raw_has_event"], true);
}

TEST_F(McpSdkBehindNginx, SdkClientWithAClientIdMetadataDocumentLogsInWithoutRegistering) {
  auto r = client({mcpUrl(nginx_port_), "alice", "--cimd", cert_, key_});
  auto report = lastJsonLine(r.output);
  ASSERT_EQ(r.exit_code, 0) << r.output << "\n" << broker_->logs();
  EXPECT_EQ(report["registrations"], 0) << "no dynamic registration with a metadata document";
  EXPECT_EQ(report["client_id"].get<std::string>().rfind("https://127.0.0.1:", 0), 0u);
  EXPECT_EQ(report["document_fetches"], 1) << "the broker fetched it once (max-age=300)";
  EXPECT_EQ(report["tools"], json::array({"whoami"}));
}

TEST_F(McpSdkBehindNginx, UserThePolicyDoesNotAllowEndsInAccessDenied) {
  auto r = client({mcpUrl(nginx_port_), "mallory", "--expect-denied"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(lastJsonLine(r.output)["outcome"]["error"], "access_denied");
}

}  // namespace
}  // namespace broker::testing
