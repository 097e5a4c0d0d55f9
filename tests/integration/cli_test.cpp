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

// Every command reads the configuration through the same checks as serve: a mistake in an
// upstream's settings stops `migrate` and `keys list` too, named by file, line, column and key.
TEST(BrokerCli, EveryCommandRefusesAnUpstreamMistakeWithItsPosition) {
  TempDir dir;
  BrokerConfig cfg;
  cfg.upstreams_yaml =
      "  dev:\n    type: dev\n  gh:\n    type: github\n    client_id: Iv1.abc\n"
      "    client_secret: gh-secret\n    timeout: 500s\n";
  BrokerProcess broker(dir, cfg);
  // The upstreams mapping is the config's last part: timeout is its last line.
  const std::string config = readFile(broker.configPath());
  const int line = static_cast<int>(std::count(config.begin(), config.end(), '\n'));
  const std::string expected = broker.configPath() + ":" + std::to_string(line) +
                               ":14: upstreams.gh.timeout: must be between 1s and 120s";
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"migrate"}, {"keys", "list"}, {"client", "list"}}) {
    auto out = broker.cli(args);
    EXPECT_EQ(out.exit_code, 1) << args[0] << ": " << out.output;
    EXPECT_TRUE(contains(out.output, expected)) << args[0] << ": " << out.output;
  }
  cfg.upstreams_yaml = "  dev:\n    type: dev\n    displayname: typo\n";
  broker.rewriteConfig(cfg);
  // Bounded: a broker that accepted the file would serve until stopped.
  auto serve = runCommand(
      {"/usr/bin/timeout", "20", BROKER_BINARY, "--config", broker.configPath(), "serve"});
  EXPECT_EQ(serve.exit_code, 1) << serve.output;
  EXPECT_TRUE(contains(serve.output,
                       "upstreams.dev.displayname: unknown key (did you mean "
                       "'display_name'?)"))
      << serve.output;
}

}  // namespace
}  // namespace broker::testing
