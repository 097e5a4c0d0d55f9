#include <gtest/gtest.h>

#include "broker/policy/migrate.h"
#include "broker/policy/policy.h"

namespace broker::policy {
namespace {

Identity user(const std::string& upstream, const std::string& name) {
  Identity w;
  w.upstream_id = upstream;
  w.subject = name;
  w.username = name;
  return w;
}

std::string migrateError(const std::string& json) {
  try {
    migrateJsonServers(json, "config.json");
  } catch (const PolicyError& e) {
    return e.what();
  }
  ADD_FAILURE() << "migrated without error: " << json;
  return "";
}

TEST(PolicyMigrate, ConvertsTheJsonServerListIntoAnEquivalentPolicy) {
  auto m = migrateJsonServers(R"({
    "issuer": "https://auth.example.com",
    "servers": {
      "example.com": {
        "github-tools": {"name": "GitHub Tools", "description": "Tools: issues & PRs",
                         "allowed_users": ["alice", "Bob"]},
        "wiki": {"name": "yes", "allowed_users": ["*"]}
      },
      "localhost": {"demo": {}}
    }})",
                              "config.json");
  EXPECT_EQ(m.notes, std::vector<std::string>{"issuer: not part of the policy; ignored"});
  auto p = Policy::loadString(m.yaml, "migrated.yaml");
  ASSERT_EQ(p->servers().size(), 3u);
  const auto* tools = p->findScope("mcp:example.com:github-tools");
  ASSERT_NE(tools, nullptr);
  EXPECT_EQ(tools->name, "GitHub Tools");
  EXPECT_EQ(tools->description, "Tools: issues & PRs");
  EXPECT_EQ(p->findScope("mcp:example.com:wiki")->name, "yes");  // quoted, not a boolean
  // As in the JSON file, bare names match that user from any upstream.
  for (const char* upstream : {"github", "corp"}) {
    EXPECT_TRUE(p->evaluate(user(upstream, "alice"), tools->scope).allowed);
    EXPECT_TRUE(p->evaluate(user(upstream, "bob"), tools->scope).allowed);
    EXPECT_FALSE(p->evaluate(user(upstream, "carol"), tools->scope).allowed);
    EXPECT_TRUE(p->evaluate(user(upstream, "carol"), "mcp:example.com:wiki").allowed);
    EXPECT_FALSE(p->evaluate(user(upstream, "alice"), "mcp:localhost:demo").allowed);
  }
  // File order is kept so the YAML reads like the JSON did.
  EXPECT_LT(m.yaml.find("github-tools"), m.yaml.find("wiki"));
  EXPECT_LT(m.yaml.find("example.com"), m.yaml.find("localhost"));
}

// docs/POLICY.md: migrate names what it cannot carry over. A server setting the policy has no
// place for is treated like an unknown top-level key: left out, named with its path, and the
// migration goes on.
TEST(PolicyMigrate, SettingsThePolicyHasNoPlaceForAreNamedAndLeftOut) {
  auto m = migrateJsonServers(R"({
    "port": 8080,
    "servers": {
      "example.com": {
        "tools": {"name": "Tools", "url": "http://10.0.0.5:9000/mcp", "allowed_users": ["alice"],
                  "owner": "x"},
        "bare": {"url": "http://10.0.0.6:9000/mcp"}
      }
    }})",
                              "config.json");
  EXPECT_EQ(m.notes,
            (std::vector<std::string>{
                "port: not part of the policy; ignored",
                "servers.example.com.tools.url: not a server setting the policy knows; ignored",
                "servers.example.com.tools.owner: not a server setting the policy knows; ignored",
                "servers.example.com.bare.url: not a server setting the policy knows; ignored"}));
  EXPECT_EQ(m.yaml.find("10.0.0."), std::string::npos) << m.yaml;
  auto p = Policy::loadString(m.yaml, "migrated.yaml");
  ASSERT_EQ(p->servers().size(), 2u);
  const auto* tools = p->findScope("mcp:example.com:tools");
  ASSERT_NE(tools, nullptr);
  EXPECT_EQ(tools->name, "Tools");
  EXPECT_TRUE(p->evaluate(user("github", "alice"), tools->scope).allowed);
  EXPECT_FALSE(p->evaluate(user("github", "bob"), tools->scope).allowed);
  EXPECT_NE(p->findScope("mcp:example.com:bare"), nullptr);
}

TEST(PolicyMigrate, ReportsProblemsWithTheirJsonPath) {
  EXPECT_EQ(migrateError("{not json"), "config.json: not valid JSON");
  EXPECT_EQ(migrateError("[]"), "config.json: expected a JSON object with a servers key");
  EXPECT_EQ(migrateError("{}"), "config.json: servers: expected an object of domains to servers");
  EXPECT_EQ(migrateError(R"({"servers": {"example.com": []}})"),
            "config.json: servers.example.com: expected an object of servers");
  EXPECT_EQ(migrateError(R"({"servers": {"example.com": {"t": {"allowed_users": [1.5]}}}})"),
            "config.json: servers.example.com.t.allowed_users[0]: expected a string");
  // What the policy language itself rejects is reported as the policy loader words it.
  std::string bad = migrateError(R"({"servers": {"Example.com": {"t": {}}}})");
  EXPECT_NE(bad.find("the migrated policy does not load"), std::string::npos) << bad;
  EXPECT_NE(bad.find("not a lower-case DNS name"), std::string::npos) << bad;
}

}  // namespace
}  // namespace broker::policy
