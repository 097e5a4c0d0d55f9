// The command line as an operator meets it: the real binary, its exit codes and what it prints.

#include <gtest/gtest.h>

#include <algorithm>
#include <regex>
#include <string>

#include <nlohmann/json.hpp>

#include "fakes/broker_process.h"
#include "fakes/oauth_driver.h"

namespace broker::testing {
namespace {

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// config/dev.yaml's master key is accepted only with dev_mode and a warning at start-up; the
// warning reaches the log of `serve` and the stderr of the one-shot commands.
TEST(BrokerCli, DevelopmentOnlyMasterKeyIsWarnedAboutAtStartUp) {
  TempDir dir;
  BrokerConfig cfg;
  cfg.master_keys = {"dev-only-master-key-do-not-use-in-production-0123"};
  BrokerProcess broker(dir, cfg);
  broker.start();
  ASSERT_EQ(broker.stop(), 0);
  const std::string logs = broker.logs();
  EXPECT_TRUE(contains(logs, "\"event\":\"config_warning\"")) << logs;
  EXPECT_TRUE(contains(logs, "a master key marked for development only is in use")) << logs;
  EXPECT_TRUE(contains(logs, "dev_mode is on")) << logs;

  auto list = broker.cli({"keys", "list"});
  ASSERT_EQ(list.exit_code, 0) << list.output;
  EXPECT_TRUE(contains(list.output, "mcp-auth-broker: warning: " + broker.configPath() +
                                        ": a master key marked for development only is in use"))
      << list.output;
}

class BrokerCliFlow : public ::testing::Test {
 protected:
  void SetUp() override {
    broker_ = std::make_unique<BrokerProcess>(dir_, BrokerConfig{});
    broker_->start();
    driver_ = std::make_unique<OAuthDriver>(broker_->url());
  }
  CommandResult registerByHand(const std::vector<std::string>& extra) {
    std::vector<std::string> args = {"client", "register", "--name", "Hand-made"};
    args.insert(args.end(), extra.begin(), extra.end());
    return broker_->cli(args);
  }
  // The client_id that `client register` printed.
  static std::string printedClientId(const std::string& output) {
    std::smatch m;
    return std::regex_search(output, m, std::regex("client_id: (\\S+)")) ? m[1].str() : "";
  }

  TempDir dir_;
  std::unique_ptr<BrokerProcess> broker_;
  std::unique_ptr<OAuthDriver> driver_;
};

}  // namespace
}  // namespace broker::testing
