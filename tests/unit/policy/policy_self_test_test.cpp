// A policy file's own tests: section, its parsing, its failures and the refusal to load a file
// whose tests fail.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <iterator>

#include "broker/policy/policy.h"

namespace broker::policy {
namespace {

namespace fs = std::filesystem;

constexpr const char* kPolicy = R"(default_upstream: github
groups:
  oncall: ["github:id:1001"]
servers:
  example.com:
    tools:
      allowed_teams: [acme/platform]
      denied_teams: [acme/contractors]
      allowed_users: ["client:ci-bot"]
      scopes:
        admin: {allowed_users: [group:oncall]}
    docs:
      upstreams: [github, corp]
      allowed_users: ["*"]
      allowed_groups: ["corp:writers"]
      allowed_email_domains: ["corp:example.com"]
)";

std::shared_ptr<const Policy> loadUntested(const std::string& tests) {
  LoadOptions o;
  o.run_tests = false;
  return Policy::loadString(std::string(kPolicy) + tests, "test.yaml", o);
}

// One case: the identity (a flow mapping), the scope and whether it must pass.
struct Row {
  std::string identity;
  std::string scope;
  const char* expect;
  bool holds;
};

// Each row becomes a one-case tests: section; the row says whether the case holds.
void expectCases(std::initializer_list<Row> rows) {
  for (const Row& r : rows) {
    const std::string tests = "tests:\n  - identity: " + r.identity + "\n    scope: " + r.scope +
                              "\n    expect: " + r.expect + "\n";
    SCOPED_TRACE(tests);
    auto p = loadUntested(tests);
    ASSERT_EQ(p->tests().size(), 1u);
    auto failures = runPolicyTests(*p);
    EXPECT_EQ(failures.empty(), r.holds) << (failures.empty() ? "" : failures[0].explanation());
  }
}

TEST(PolicySelfTests, IdentitiesOfEveryKindAreDecidedLikeSignIns) {
  expectCases({
      {"{user: pat, teams: [acme/platform]}", "mcp:example.com:tools", "allow", true},
      {"{user: pat, teams: [acme/platform]}", "mcp:example.com:tools", "deny", false},
      {"{user: pat, teams: [acme/platform, acme/contractors]}", "mcp:example.com:tools", "deny",
       true},
      {"{upstream: corp, user: pat, teams: [acme/platform]}", "mcp:example.com:tools", "deny",
       true},
      {"{user: pat, orgs: [acme]}", "mcp:example.com:tools", "deny", true},
      {"{user: al, id: '1001', teams: [acme/platform]}", "mcp:example.com:tools:admin", "allow",
       true},
      {"{user: al, id: '1002', teams: [acme/platform]}", "mcp:example.com:tools:admin", "deny",
       true},
      {"{upstream: corp, user: w, groups: [writers]}", "mcp:example.com:docs", "allow", true},
      {"{upstream: corp, user: w, groups: [Writers]}", "mcp:example.com:docs", "allow", true},
      {"{upstream: corp, user: e, email: e@example.com}", "mcp:example.com:docs", "allow", true},
      {"{upstream: dev, user: e, email: e@example.com}", "mcp:example.com:docs", "deny", true},
      {"{upstream: corp, id: s1}", "mcp:example.com:docs", "allow", true},
  });
}

TEST(PolicySelfTests, MachineClientsMatchOnlyTheirOwnClientEntry) {
  expectCases({
      {"{client: ci-bot}", "mcp:example.com:tools", "allow", true},
      {"{client: other-bot}", "mcp:example.com:tools", "deny", true},
      // "*" is any signed-in person, never a machine client.
      {"{client: ci-bot}", "mcp:example.com:docs", "deny", true},
      {"{client: ci-bot}", "mcp:example.com:docs", "allow", false},
      // A person whose login reads like the client id is not the client.
      {"{user: ci-bot}", "mcp:example.com:tools", "deny", true},
  });
}

TEST(PolicySelfTests, AFailureExplainsTheActualDecision) {
  auto p = loadUntested(R"(tests:
  - name: contractors stay out
    identity: {user: con, teams: [acme/platform]}
    scope: [mcp:example.com:tools, mcp:example.com:docs]
    expect: deny
)");
  auto failures = runPolicyTests(*p);
  ASSERT_EQ(failures.size(), 2u);
  EXPECT_EQ(failures[0].scope, "mcp:example.com:tools");
  EXPECT_TRUE(failures[0].actual.allowed);
  EXPECT_EQ(failures[0].summary(),
            "test.yaml:18:5: tests[0] (contractors stay out): expected deny for "
            "mcp:example.com:tools, got allow by "
            "servers.example.com.tools.allowed_teams[acme/platform]");
  const std::string text = failures[1].explanation();
  EXPECT_NE(text.find("expected deny for mcp:example.com:docs, got allow by "
                      "servers.example.com.docs.allowed_users[*]"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("identity: github user con, memberships acme/platform"), std::string::npos)
      << text;
  EXPECT_NE(text.find("why:      con (github) may use mcp:example.com:docs"), std::string::npos)
      << text;
}

TEST(PolicySelfTests, AFileWhoseTestsFailIsRefused) {
  const std::string failing = std::string(kPolicy) + R"(tests:
  - identity: {user: pat, teams: [acme/platform]}
    scope: mcp:example.com:tools
    expect: allow
  - name: admin is on-call only
    identity: {user: pat, teams: [acme/platform]}
    scope: mcp:example.com:tools:admin
    expect: allow
  - identity: {client: ci-bot}
    scope: mcp:example.com:docs
    expect: allow
)";
  auto outcome = Policy::tryLoadString(failing, "p.yaml");
  EXPECT_EQ(outcome.policy, nullptr);
  EXPECT_EQ(outcome.error,
            "the policy's own tests fail: p.yaml:21:5: tests[1] (admin is on-call only): "
            "expected allow for mcp:example.com:tools:admin, got deny by no allow rule matched "
            "(and 1 more; run mcp-auth-broker policy test)");
  EXPECT_THROW(Policy::loadString(failing, "p.yaml"), PolicyError);
  // Passing tests load as before.
  auto ok = Policy::tryLoadString(std::string(kPolicy) + R"(tests:
  - identity: {user: pat, teams: [acme/platform]}
    scope: mcp:example.com:tools
    expect: allow
)",
                                  "p.yaml");
  ASSERT_NE(ok.policy, nullptr) << ok.error;
  EXPECT_EQ(ok.policy->tests().size(), 1u);
}

// The error for a tests: section, which must start with test.yaml:<line>: and name `key`.
void expectTestsError(const std::string& tests, int line, const std::string& key,
                      const std::string& text) {
  try {
    loadUntested(tests);
    ADD_FAILURE() << "loaded:\n" << tests;
  } catch (const PolicyError& e) {
    const std::string message = e.what();
    EXPECT_EQ(message.rfind("test.yaml:" + std::to_string(line) + ":", 0), 0u) << message;
    EXPECT_NE(message.find(" " + key + ": "), std::string::npos) << message;
    EXPECT_NE(message.find(text), std::string::npos) << message;
  }
}

TEST(PolicySelfTests, MalformedCasesAreErrorsWithTheirPlace) {
  expectTestsError("tests: {a: 1}\n", 17, "tests", "expected a list");
  expectTestsError("tests:\n  - identity: {user: a}\n    expect: allow\n", 18, "tests[0].scope",
                   "required");
  expectTestsError(
      "tests:\n  - identity: {user: a}\n    scope: mcp:example.com:tool\n"
      "    expect: allow\n",
      19, "tests[0].scope", "is not a scope of this policy");
  expectTestsError(
      "tests:\n  - identity: {user: a}\n    scope: mcp:example.com:tools\n"
      "    expect: yes\n",
      20, "tests[0].expect", "expected allow or deny");
  expectTestsError(
      "tests:\n  - identity: {usr: a}\n    scope: mcp:example.com:tools\n"
      "    expect: deny\n",
      18, "tests[0].identity.usr", "user");
  expectTestsError(
      "tests:\n  - identity: {orgs: [acme]}\n    scope: mcp:example.com:tools\n"
      "    expect: deny\n",
      18, "tests[0].identity", "give user, id or both");
  expectTestsError(
      "tests:\n  - identity: {client: bot, user: a}\n"
      "    scope: mcp:example.com:tools\n    expect: deny\n",
      18, "tests[0].identity", "a machine client is only");
  expectTestsError(
      "tests:\n  - identity: {user: a, teams: [platform]}\n"
      "    scope: mcp:example.com:tools\n    expect: deny\n",
      18, "tests[0].identity.teams[0]", "has no org");
  expectTestsError(
      "tests:\n  - identity: {user: a, orgs: [acme/platform]}\n"
      "    scope: mcp:example.com:tools\n    expect: deny\n",
      18, "tests[0].identity.orgs[0]", "is a team");
  expectTestsError(
      "tests:\n  - identity: {upstream: client, user: a}\n"
      "    scope: mcp:example.com:tools\n    expect: deny\n",
      18, "tests[0].identity.upstream", "not an upstream id");
}

TEST(PolicySelfTests, TestUpstreamsMustBeKnownWhenTheBrokerSaysWhichItHas) {
  LoadOptions o;
  o.known_upstreams = {"github", "corp"};
  o.run_tests = false;
  EXPECT_THROW(Policy::loadString(std::string(kPolicy) +
                                      "tests:\n  - identity: {upstream: gihtub, user: a}\n"
                                      "    scope: mcp:example.com:tools\n    expect: deny\n",
                                  "test.yaml", o),
               PolicyError);
}

TEST(PolicySelfTests, ClientEntriesAreUsersAndNeedAClientId) {
  for (const char* bad : {"allowed_teams: [\"client:bot\"]", "allowed_users: [\"client:*\"]",
                          "allowed_users: [\"client:\"]"}) {
    SCOPED_TRACE(bad);
    EXPECT_THROW(
        Policy::loadString(std::string("servers:\n  example.com:\n    t:\n      ") + bad + "\n"),
        PolicyError);
  }
  // A client entry is accepted when the broker names its upstreams: "client" is none of them.
  LoadOptions o;
  o.known_upstreams = {"github"};
  EXPECT_NO_THROW(Policy::loadString(
      "servers:\n  example.com:\n    t:\n      allowed_users: [\"client:bot\"]\n", "t.yaml", o));
}

fs::path policiesDir() {
  return fs::path(BROKER_SOURCE_DIR) / "policies";
}

// Every shipped example carries tests, and they pass: loading runs them.
TEST(PolicySelfTests, EveryShippedPolicyHasPassingTests) {
  size_t count = 0;
  for (const auto& entry : fs::directory_iterator(policiesDir())) {
    if (entry.path().extension() != ".yaml") continue;
    SCOPED_TRACE(entry.path().string());
    LoadOptions o;
    o.run_tests = false;
    auto p = Policy::loadFile(entry.path().string(), o);
    EXPECT_GE(p->tests().size(), 4u);
    for (const auto& f : runPolicyTests(*p)) ADD_FAILURE() << f.explanation();
    // Each example tests both sides: some case expects allow, some deny.
    bool allow = false, deny = false;
    for (const auto& t : p->tests()) (t.expect_allowed ? allow : deny) = true;
    EXPECT_TRUE(allow && deny);
    ++count;
  }
  EXPECT_GE(count, 5u);
}

// The shipped tests are not vacuous: breaking the rule each example relies on fails them.
TEST(PolicySelfTests, ShippedTestsCatchALockOutAndAnOpening) {
  struct Edit {
    const char* file;
    std::string from, to;
  };
  for (const Edit& e : std::initializer_list<Edit>{
           {"single-team.yaml", "allowed_teams: [acme/platform]", "allowed_teams: [acme/web]"},
           {"single-team.yaml", "denied_teams: [acme/contractors]", "denied_teams: [acme/x]"},
           {"orgs-and-teams.yaml", "allowed_users: [group:oncall]    #",
            "allowed_users: [\"*\"]    #"},
           {"dev.yaml", "allowed_users: [group:operators]", "allowed_users: [\"*\"]"},
           {"email-domains.yaml", "denied_emails: [former.employee@example.com]",
            "denied_emails: [other@example.com]"},
           {"mixed-github-oidc.yaml", "denied_groups: [corp:offboarding]",
            "denied_groups: [corp:leavers]"},
       }) {
    SCOPED_TRACE(std::string(e.file) + ": " + e.to);
    std::ifstream in(policiesDir() / e.file);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const size_t at = text.find(e.from);
    ASSERT_NE(at, std::string::npos);
    text.replace(at, e.from.size(), e.to);
    auto outcome = Policy::tryLoadString(text, e.file);
    EXPECT_EQ(outcome.policy, nullptr);
    EXPECT_NE(outcome.error.find("the policy's own tests fail"), std::string::npos)
        << outcome.error;
  }
}

}  // namespace
}  // namespace broker::policy
