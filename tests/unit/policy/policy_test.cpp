#include "broker/policy/policy.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <initializer_list>

#include "broker/core/crypto.h"

namespace broker::policy {
namespace {

namespace fs = std::filesystem;

Identity person(const std::string& upstream, const std::string& username,
                std::vector<std::string> groups = {}, const std::string& email = "",
                bool verified = true) {
  Identity who;
  who.upstream_id = upstream;
  who.upstream_type = upstream == "github" ? "github" : "oidc";
  who.subject = "id-" + username;
  who.username = username;
  who.groups = std::move(groups);
  who.email = email;
  who.email_verified = verified && !email.empty();
  return who;
}

// An account as its upstream proves it: `id` is the subject (GitHub numeric user id, OIDC sub),
// `name` the login or preferred_username it has today.
Identity account(const std::string& upstream, const std::string& id, const std::string& name) {
  Identity who = person(upstream, name);
  who.subject = id;
  return who;
}

std::shared_ptr<const Policy> load(const std::string& yaml) {
  return Policy::loadString(yaml, "test.yaml");
}

// The PolicyError message for `yaml`; fails the test when it loads.
std::string error(const std::string& yaml) {
  try {
    load(yaml);
  } catch (const PolicyError& e) {
    return e.what();
  }
  ADD_FAILURE() << "loaded without error:\n" << yaml;
  return "";
}

// Expects the error to start with "test.yaml:<line>:" and to name `key` and contain `text`.
void expectError(const std::string& yaml, int line, const std::string& key,
                 const std::string& text) {
  std::string message = error(yaml);
  std::string prefix = "test.yaml:" + std::to_string(line) + ":";
  EXPECT_EQ(message.rfind(prefix, 0), 0u) << message;
  EXPECT_NE(message.find(" " + key + ": "), std::string::npos) << message;
  EXPECT_NE(message.find(text), std::string::npos) << message;
}

// One server "mcp:example.com:tools" with the given rule lines (indented by the caller).
std::string serverWith(const std::string& rules, const std::string& head = "") {
  return head + "servers:\n  example.com:\n    tools:\n" + rules;
}

const char* const kScope = "mcp:example.com:tools";

TEST(PolicyLoad, CompilesServersScopesAndResources) {
  auto p = load(R"(default_scopes: [mcp:example.com:tools]
servers:
  example.com:
    tools:
      name: Tools
      description: Some tools
      resource: HTTPS://Example.COM:443/mcp
      access_ttl: 15m
      allowed_users: [alice]
      scopes:
        read: {allowed_users: [alice]}
        write:
  localhost:
    demo:
      resource: [http://127.0.0.1:9000/mcp, "http://[::1]:9000/mcp"]
)");
  auto servers = p->servers();
  ASSERT_EQ(servers.size(), 2u);
  const ServerInfo* tools = p->findScope("mcp:example.com:tools");
  ASSERT_NE(tools, nullptr);
  EXPECT_EQ(tools, servers[0]);
  EXPECT_EQ(tools->domain, "example.com");
  EXPECT_EQ(tools->server, "tools");
  EXPECT_EQ(tools->scope, "mcp:example.com:tools");
  EXPECT_EQ(tools->name, "Tools");
  EXPECT_EQ(tools->description, "Some tools");
  EXPECT_EQ(tools->resources, std::vector<std::string>{"https://example.com/mcp"});
  EXPECT_EQ(tools->access_ttl, 900);
  EXPECT_EQ(tools->sub_scopes, (std::vector<std::string>{"mcp:example.com:tools:read",
                                                         "mcp:example.com:tools:write"}));
  EXPECT_EQ(p->findScope("mcp:example.com:tools:read"), tools);
  EXPECT_EQ(p->findScope("mcp:example.com:tools:write"), tools);
  EXPECT_EQ(p->findResource("https://example.com/mcp"), tools);
  EXPECT_EQ(p->findResource("HTTPS://Example.COM:443/mcp"), nullptr);  // callers canonicalise

  const ServerInfo* demo = p->findScope("mcp:localhost:demo");
  ASSERT_NE(demo, nullptr);
  EXPECT_EQ(demo->name, "demo");  // defaults to the server key
  EXPECT_EQ(demo->access_ttl, 0);
  EXPECT_EQ(p->findResource("http://127.0.0.1:9000/mcp"), demo);
  EXPECT_EQ(p->findResource("http://[::1]:9000/mcp"), demo);
  EXPECT_EQ(p->defaultScopes(), std::vector<std::string>{"mcp:example.com:tools"});

  EXPECT_EQ(p->findScope("mcp:example.com:tools:admin"), nullptr);
  EXPECT_EQ(p->findScope("mcp:example.com"), nullptr);
  EXPECT_EQ(p->findScope("MCP:example.com:tools"), nullptr);
  EXPECT_EQ(p->findScope(""), nullptr);
  EXPECT_EQ(p->findResource("https://example.com/other"), nullptr);
}

TEST(PolicyLoad, DefaultScopesAreEmptyUnlessWritten) {
  EXPECT_TRUE(load(serverWith("      allowed_users: [a]\n"))->defaultScopes().empty());
}

// /health shows both, so an operator sees when every instance of a group runs the same file.
TEST(PolicyLoad, VersionIsTheFilesLabelAndTheHashItsBytes) {
  const std::string body = serverWith("      allowed_users: [a]\n");
  auto unlabelled = load(body);
  EXPECT_EQ(unlabelled->version(), "");
  EXPECT_EQ(unlabelled->sha256(), sha256Hex(body));
  auto labelled = load("version: \"2026-12-06.1\"\n" + body);
  EXPECT_EQ(labelled->version(), "2026-12-06.1");
  EXPECT_EQ(labelled->sha256(), sha256Hex("version: \"2026-12-06.1\"\n" + body));
  // A comment changes the hash though not the rules: the hash names the file, not its meaning.
  EXPECT_NE(load("# edited\n" + body)->sha256(), unlabelled->sha256());
  expectError("version: \"\"\n" + body, 1, "version", "non-empty label");
  expectError("version: [1]\n" + body, 1, "version", "");
}

TEST(PolicyEval, UnknownScopeIsDenied) {
  auto d = load(serverWith("      allowed_users: [\"*\"]\n"))
               ->evaluate(person("github", "alice"), "mcp:example.com:nope");
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.rule, "unknown scope");
  EXPECT_NE(d.reason.find("mcp:example.com:nope"), std::string::npos);
}

TEST(PolicyEval, NoAllowRuleMeansDenied) {
  auto p = load(serverWith("      name: Nobody\n"));
  auto d = p->evaluate(person("github", "alice"), kScope);
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.rule, "no allow rule matched");
  EXPECT_NE(d.reason.find("alice (github)"), std::string::npos) << d.reason;
  EXPECT_NE(d.reason.find(kScope), std::string::npos) << d.reason;
}

// One identity and the allow rule expected to admit it ("" when it must be denied).
struct Case {
  Identity who;
  std::string rule;
};

// Evaluates every case against kScope of the one-server policy built from `rules` and `head`.
void expectDecisions(const std::string& rules, std::initializer_list<Case> cases,
                     const std::string& head = "") {
  auto p = load(serverWith(rules, head));
  for (const Case& c : cases) {
    auto d = p->evaluate(c.who, kScope);
    SCOPED_TRACE(c.who.upstream_id + ":" + c.who.username + " " + d.reason);
    if (c.rule.empty()) {
      EXPECT_FALSE(d.allowed);
    } else {
      EXPECT_TRUE(d.allowed);
      EXPECT_EQ(d.rule, "servers.example.com.tools." + c.rule);
      EXPECT_NE(d.reason.find("may use"), std::string::npos);
    }
  }
}

TEST(PolicyEval, AllowedUsersMatchCaseInsensitively) {
  expectDecisions("      allowed_users: [Alice, bob]\n",
                  {{person("github", "alice"), "allowed_users[Alice]"},
                   {person("github", "BOB"), "allowed_users[bob]"},
                   {person("github", "carol"), ""},
                   {person("github", "alice2"), ""},
                   {person("github", ""), ""}});
}

TEST(PolicyEval, StarAllowsEverySignedInUser) {
  expectDecisions("      allowed_users: [\"*\"]\n",
                  {{person("corp", "anyone"), "allowed_users[*]"},
                   {person("github", "other"), "allowed_users[*]"}});
  expectDecisions(
      "      allowed_users: [\"corp:*\"]\n",
      {{person("corp", "anyone"), "allowed_users[corp:*]"}, {person("github", "anyone"), ""}});
}

TEST(PolicyEval, BareStarIgnoresTheDefaultUpstreamButNotTheServersUpstreams) {
  expectDecisions("      upstreams: [github, corp]\n      allowed_users: [\"*\", alice]\n",
                  {{person("github", "anyone"), "allowed_users[*]"},
                   {person("corp", "anyone"), "allowed_users[*]"},
                   {person("dev", "alice"), ""}},
                  "default_upstream: github\n");
  // Bare names still mean the default upstream only.
  expectDecisions("      allowed_users: [alice]\n      denied_users: [\"*\"]\n",
                  {{person("github", "alice"), ""}, {person("corp", "alice"), ""}},
                  "default_upstream: github\n");
}

TEST(PolicyEval, CoreIssueAllowedUsersFilesKeepWorking) {
  auto p = load(R"(servers:
  example.com:              # <domain>
    github-tools:           # <server>  -> scope mcp:example.com:github-tools
      name: GitHub Tools
      description: Tools for ...
      resource: https://example.com/mcp      # optional RFC 8707 URI of this MCP server
      allowed_users: [alice, bob]
)");
  const std::string scope = "mcp:example.com:github-tools";
  EXPECT_EQ(p->findResource("https://example.com/mcp"), p->findScope(scope));
  EXPECT_EQ(p->findScope(scope)->description, "Tools for ...");
  for (const char* upstream : {"dev", "github", "corp"}) {
    EXPECT_TRUE(p->evaluate(person(upstream, "alice"), scope).allowed) << upstream;
    EXPECT_TRUE(p->evaluate(person(upstream, "bob"), scope).allowed) << upstream;
    EXPECT_FALSE(p->evaluate(person(upstream, "carol"), scope).allowed) << upstream;
  }
}

TEST(PolicyEval, AllowedGroupsMatchExactly) {
  expectDecisions("      allowed_groups: [admins, Domain Admins]\n",
                  {{person("corp", "a", {"staff", "admins"}), "allowed_groups[admins]"},
                   {person("corp", "a", {"Domain Admins"}), "allowed_groups[Domain Admins]"},
                   {person("corp", "a", {"Admins"}), ""},
                   {person("corp", "a", {"admins2"}), ""},
                   {person("corp", "admins"), ""}});  // a user, not a group
}

TEST(PolicyEval, AllowedOrgsMatchOrgMembership) {
  expectDecisions("      allowed_orgs: [Acme]\n",
                  {{person("github", "a", {"acme", "acme/platform"}), "allowed_orgs[Acme]"},
                   {person("github", "a", {"ACME"}), "allowed_orgs[Acme]"},
                   {person("github", "a", {"acme/platform"}), ""},
                   {person("github", "a", {"acme-corp"}), ""},
                   {person("github", "acme"), ""}});
}

TEST(PolicyEval, AllowedTeamsMatchTeamMembership) {
  expectDecisions(
      "      allowed_teams: [acme/platform]\n",
      {{person("github", "a", {"acme", "Acme/Platform"}), "allowed_teams[acme/platform]"},
       {person("github", "a", {"acme"}), ""},
       {person("github", "a", {"acme/platform-2"}), ""},
       {person("github", "a", {"other/platform"}), ""}});
}

TEST(PolicyEval, AllowedEmailsNeedAVerifiedAddress) {
  expectDecisions(
      "      allowed_emails: [Alice@Example.com]\n",
      {{person("corp", "a", {}, "alice@example.COM"), "allowed_emails[Alice@Example.com]"},
       {person("corp", "a", {}, "alice@example.com", false), ""},
       {person("corp", "a", {}, "bob@example.com"), ""},
       {person("corp", "alice@example.com"), ""}});
}

TEST(PolicyEval, AllowedEmailDomainsMatchTheExactDomain) {
  expectDecisions("      allowed_email_domains: [Example.com]\n",
                  {{person("corp", "a", {}, "a@EXAMPLE.com"), "allowed_email_domains[Example.com]"},
                   {person("corp", "a", {}, "a@example.com", false), ""},
                   {person("corp", "a", {}, "a@mail.example.com"), ""},
                   {person("corp", "a", {}, "a@notexample.com"), ""},
                   {person("corp", "a", {}, "a@example.com.evil"), ""}});
}

TEST(PolicyEval, EveryDenyListBeatsEveryAllowList) {
  const std::string allow_all =
      "      allowed_users: [\"*\", alice]\n      allowed_groups: [staff]\n"
      "      allowed_orgs: [acme]\n      allowed_teams: [acme/platform]\n"
      "      allowed_emails: [alice@example.com]\n      allowed_email_domains: [example.com]\n";
  const Identity alice =
      person("github", "alice", {"staff", "acme", "acme/platform", "acme/contractors"},
             "alice@example.com");
  ASSERT_TRUE(load(serverWith(allow_all))->evaluate(alice, kScope).allowed);
  const std::pair<const char*, const char*> denies[] = {
      {"denied_users: [ALICE]", "denied_users[ALICE]"},
      {"denied_users: [\"*\"]", "denied_users[*]"},
      {"denied_groups: [staff]", "denied_groups[staff]"},
      {"denied_orgs: [acme]", "denied_orgs[acme]"},
      {"denied_teams: [acme/contractors]", "denied_teams[acme/contractors]"},
      {"denied_emails: [alice@example.com]", "denied_emails[alice@example.com]"},
      {"denied_email_domains: [example.com]", "denied_email_domains[example.com]"},
  };
  for (const auto& [line, rule] : denies) {
    SCOPED_TRACE(line);
    auto d = load(serverWith(allow_all + "      " + line + "\n"))->evaluate(alice, kScope);
    EXPECT_FALSE(d.allowed);
    EXPECT_EQ(d.rule, std::string("servers.example.com.tools.") + rule);
    EXPECT_NE(d.reason.find("may not use"), std::string::npos);
  }
}

TEST(PolicyEval, DenyListsMissThoseTheyDoNotName) {
  auto p = load(serverWith(
      "      allowed_users: [\"*\"]\n      denied_users: [mallory]\n"
      "      denied_teams: [acme/contractors]\n      denied_email_domains: [evil.example]\n"));
  EXPECT_TRUE(p->evaluate(person("github", "alice", {"acme", "acme/platform"}), kScope).allowed);
  EXPECT_FALSE(p->evaluate(person("github", "mallory"), kScope).allowed);
  // An unverified email cannot be used to dodge or trigger a deny either way.
  EXPECT_TRUE(p->evaluate(person("github", "eve", {}, "eve@evil.example", false), kScope).allowed);
  EXPECT_FALSE(p->evaluate(person("github", "eve", {}, "eve@evil.example"), kScope).allowed);
}

TEST(PolicyEval, BareNamesMatchOnlyTheDefaultUpstream) {
  expectDecisions("      allowed_users: [alice]\n      allowed_teams: [acme/platform]\n",
                  {{person("github", "alice"), "allowed_users[alice]"},
                   {person("corp", "alice"), ""},
                   {person("github", "x", {"acme/platform"}), "allowed_teams[acme/platform]"},
                   {person("corp", "x", {"acme/platform"}), ""}},
                  "default_upstream: github\n");
}

TEST(PolicyEval, BareNamesMatchEveryUpstreamWithoutADefault) {
  expectDecisions("      allowed_users: [alice]\n",
                  {{person("github", "alice"), "allowed_users[alice]"},
                   {person("corp", "alice"), "allowed_users[alice]"}});
}

TEST(PolicyEval, QualifiedNamesNeverCrossUpstreams) {
  expectDecisions(
      "      allowed_users: [corp:alice]\n      allowed_teams: [github:acme/platform]\n"
      "      allowed_groups: [corp:admins]\n      allowed_emails: [corp:bob@example.com]\n"
      "      denied_users: [github:mallory]\n",
      {{person("corp", "alice"), "allowed_users[corp:alice]"},
       {person("github", "alice"), ""},
       {person("corp2", "alice"), ""},
       {person("", "alice"), ""},
       {person("github", "x", {"acme/platform"}), "allowed_teams[github:acme/platform]"},
       {person("corp", "x", {"acme/platform"}), ""},
       {person("corp", "x", {"admins"}), "allowed_groups[corp:admins]"},
       {person("github", "x", {"admins"}), ""},
       {person("corp", "x", {}, "bob@example.com"), "allowed_emails[corp:bob@example.com]"},
       {person("github", "x", {}, "bob@example.com"), ""},
       // The deny names GitHub's mallory; corp's mallory is someone else.
       {person("corp", "mallory", {"admins"}), "allowed_groups[corp:admins]"}},
      "default_upstream: github\n");
}

TEST(PolicyEval, GithubIdRulesFollowTheAccountNotItsLogin) {
  expectDecisions("      allowed_users: [\"github:id:12345\"]\n",
                  {{account("github", "12345", "alice"), "allowed_users[github:id:12345]"},
                   // Renamed: same account, new login.
                   {account("github", "12345", "alice-renamed"), "allowed_users[github:id:12345]"},
                   // Someone else registered the freed login "alice".
                   {account("github", "99999", "alice"), ""},
                   {account("github", "123456", "x"), ""},
                   {account("github", "1234", "x"), ""},
                   {account("github", "", "12345"), ""},  // a login that reads like the id
                   {account("corp", "12345", "alice"), ""},
                   {account("", "12345", "alice"), ""}},
                  "default_upstream: github\n");
  // The same file naming the login instead admits whoever holds it today.
  expectDecisions("      allowed_users: [alice]\n",
                  {{account("github", "99999", "alice"), "allowed_users[alice]"},
                   {account("github", "12345", "alice-renamed"), ""}},
                  "default_upstream: github\n");
}

TEST(PolicyEval, OidcSubRulesAreScopedToTheirUpstreamAndExact) {
  expectDecisions(
      "      allowed_users: [\"corp:sub:248289761001\", \"okta:sub:00uAbC|x:1\"]\n",
      {{account("corp", "248289761001", "jane"), "allowed_users[corp:sub:248289761001]"},
       // preferred_username changed (or was never set): the sub still decides.
       {account("corp", "248289761001", "jane.doe@example.com"),
        "allowed_users[corp:sub:248289761001]"},
       // The same sub from another issuer is another person.
       {account("okta", "248289761001", "jane"), ""},
       {account("corp2", "248289761001", "jane"), ""},
       {account("okta", "00uAbC|x:1", "x"), "allowed_users[okta:sub:00uAbC|x:1]"},
       {account("okta", "00uabc|x:1", "x"), ""},  // a sub is case-sensitive
       {account("corp", "00uAbC|x:1", "x"), ""},
       // A preferred_username equal to someone's sub is still only a username.
       {person("corp", "248289761001"), ""}});
}

TEST(PolicyEval, IdDenyHoldsAcrossARename) {
  expectDecisions("      allowed_users: [\"*\"]\n      denied_users: [\"github:id:666\"]\n",
                  {{account("github", "666", "mallory"), ""},
                   {account("github", "666", "not-mallory"), ""},
                   {account("github", "667", "mallory"), "allowed_users[*]"},
                   {account("corp", "666", "mallory"), "allowed_users[*]"}});
}

TEST(PolicyEval, DecisionsSayWhenAnAccountIdDecided) {
  auto p =
      load(serverWith("      allowed_users: [group:admins, bob]\n"
                      "      denied_users: [\"github:id:666\"]\n",
                      "groups:\n  admins: [\"github:id:12345\"]\n"));
  const struct {
    Identity who;
    bool allowed;
    std::string rule;
    std::string reason;
  } cases[] = {
      {account("github", "12345", "alice-renamed"), true, "allowed_users[group:admins]",
       "alice-renamed (github) may use mcp:example.com:tools (allowed_users: group:admins, by "
       "account id 12345)"},
      {account("github", "666", "bob"), false, "denied_users[github:id:666]",
       "bob (github) may not use mcp:example.com:tools (denied_users: github:id:666, by account "
       "id 666)"},
      {account("github", "7", "bob"), true, "allowed_users[bob]",
       "bob (github) may use mcp:example.com:tools (allowed_users: bob)"},
  };
  for (const auto& c : cases) {
    auto d = p->evaluate(c.who, kScope);
    EXPECT_EQ(d.allowed, c.allowed) << c.reason;
    EXPECT_EQ(d.rule, "servers.example.com.tools." + c.rule);
    EXPECT_EQ(d.reason, c.reason);
  }
}

TEST(PolicyEval, UpstreamsRestrictWhoCanReachAServer) {
  auto p = load(serverWith("      upstreams: [github]\n      allowed_users: [alice]\n"));
  EXPECT_TRUE(p->evaluate(person("github", "alice"), kScope).allowed);
  auto d = p->evaluate(person("corp", "alice"), kScope);
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.rule, "servers.example.com.tools.upstreams");
  EXPECT_NE(d.reason.find("corp"), std::string::npos);
  auto q = load(serverWith("      upstreams: github\n      allowed_users: [alice]\n"));
  EXPECT_FALSE(q->evaluate(person("dev", "alice"), kScope).allowed);
}

TEST(PolicyEval, GroupsExpandIntoTheListThatUsesThem) {
  auto p =
      load(serverWith("      allowed_users: [group:platform]\n"
                      "      denied_teams: [group:outsiders]\n",
                      "groups:\n  platform: [alice, corp:bob]\n"
                      "  outsiders: [acme/contractors]\n"));
  auto d = p->evaluate(person("github", "alice"), kScope);
  EXPECT_TRUE(d.allowed);
  EXPECT_EQ(d.rule, "servers.example.com.tools.allowed_users[group:platform]");
  EXPECT_TRUE(p->evaluate(person("corp", "bob"), kScope).allowed);
  EXPECT_FALSE(p->evaluate(person("github", "bob"), kScope).allowed);
  auto denied = p->evaluate(person("github", "alice", {"acme/contractors"}), kScope);
  EXPECT_FALSE(denied.allowed);
  EXPECT_EQ(denied.rule, "servers.example.com.tools.denied_teams[group:outsiders]");
}

TEST(PolicyEval, SubScopesNeedTheServerFirst) {
  auto p =
      load(serverWith("      allowed_users: [alice, bob, carol]\n"
                      "      denied_users: [dave]\n"
                      "      scopes:\n"
                      "        read:\n"
                      "        write:\n"
                      "          allowed_users: [bob]\n"
                      "        admin:\n"
                      "          denied_users: [carol]\n"));
  // read has no rules of its own: the server's decision holds.
  auto read = p->evaluate(person("github", "alice"), "mcp:example.com:tools:read");
  EXPECT_TRUE(read.allowed);
  EXPECT_EQ(read.rule, "servers.example.com.tools.allowed_users[alice]");
  EXPECT_FALSE(p->evaluate(person("github", "dave"), "mcp:example.com:tools:read").allowed);
  EXPECT_FALSE(p->evaluate(person("github", "eve"), "mcp:example.com:tools:read").allowed);

  auto write = p->evaluate(person("github", "bob"), "mcp:example.com:tools:write");
  EXPECT_TRUE(write.allowed);
  EXPECT_EQ(write.rule, "servers.example.com.tools.scopes.write.allowed_users[bob]");
  auto alice_write = p->evaluate(person("github", "alice"), "mcp:example.com:tools:write");
  EXPECT_FALSE(alice_write.allowed);
  EXPECT_EQ(alice_write.rule, "no allow rule matched");

  auto carol_admin = p->evaluate(person("github", "carol"), "mcp:example.com:tools:admin");
  EXPECT_FALSE(carol_admin.allowed);
  EXPECT_EQ(carol_admin.rule, "servers.example.com.tools.scopes.admin.denied_users[carol]");
  EXPECT_TRUE(p->evaluate(person("github", "alice"), "mcp:example.com:tools:admin").allowed);
}

TEST(PolicyEval, SubScopeAllowCannotWidenTheServer) {
  auto p =
      load(serverWith("      allowed_users: [alice]\n"
                      "      scopes:\n        read: {allowed_users: [bob]}\n"));
  auto d = p->evaluate(person("github", "bob"), "mcp:example.com:tools:read");
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.rule, "no allow rule matched");
}

TEST(PolicyEval, EvaluationIsRepeatableAndIndependent) {
  auto p = load(serverWith("      allowed_users: [alice]\n"));
  for (int i = 0; i < 1000; ++i) {
    ASSERT_TRUE(p->evaluate(person("github", "alice"), kScope).allowed);
    ASSERT_FALSE(p->evaluate(person("github", "bob"), kScope).allowed);
  }
}

TEST(PolicyErrors, FileLevelProblems) {
  EXPECT_EQ(error(""), "test.yaml:1:1: the policy file is empty");
  EXPECT_EQ(error("# nothing\n"), "test.yaml:1:1: the policy file is empty");
  EXPECT_EQ(error("- a\n"), "test.yaml:1:1: the policy must be a mapping with a servers key");
  EXPECT_EQ(error("just text\n"), "test.yaml:1:1: the policy must be a mapping with a servers key");
  expectError("default_upstream: github\n", 1, "servers", "required");
  expectError("servers: {}\n", 1, "servers", "expected a mapping of domains");
  std::string syntax = error("servers:\n  example.com: [unclosed\n");
  EXPECT_EQ(syntax.rfind("test.yaml:", 0), 0u) << syntax;
  EXPECT_NE(error("servers: {}\n---\nservers: {}\n").find("one YAML document"), std::string::npos);
  EXPECT_EQ(error("servers: {}\n---\nservers: {}\n"),
            "test.yaml:2:1: ---: a second YAML document starts here; the file must be one YAML "
            "document");
  // yaml-cpp 0.7's LoadAll never returns on these; the loader must answer.
  EXPECT_EQ(error(",\n"), "test.yaml:1:1: not valid YAML here");
  EXPECT_EQ(error("servers:\n  example.com: {}\n,\n").rfind("test.yaml:", 0), 0u);
}

TEST(PolicyErrors, SelfContainingAndExplodingAliasesAreRefused) {
  EXPECT_NE(error("servers: &x {example.com: *x}\n").find("nests too deeply"), std::string::npos);
  std::string laughs = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n";
  for (int i = 1; i <= 7; ++i) {
    std::string prev = "*a" + std::to_string(i - 1);
    laughs += "a" + std::to_string(i) + ": &a" + std::to_string(i) + " [";
    for (int j = 0; j < 10; ++j) laughs += (j ? ", " : "") + prev;
    laughs += "]\n";
  }
  EXPECT_NE(error(laughs + "servers: *a7\n").find("too many nodes"), std::string::npos);
}

TEST(PolicyErrors, UnknownKeysAnywhere) {
  expectError("server:\n  x: y\n", 1, "server", "did you mean 'servers'");
  expectError(serverWith("      allowed_user: [a]\n"), 4, "servers.example.com.tools.allowed_user",
              "did you mean 'allowed_users'");
  expectError(serverWith("      allow_teams: [a/b]\n"), 4, "servers.example.com.tools.allow_teams",
              "unknown key");
  expectError(serverWith("      scopes:\n        read: {resource: https://a.example/}\n"), 5,
              "servers.example.com.tools.scopes.read.resource", "unknown key");
}

TEST(PolicyErrors, DuplicateKeys) {
  expectError(
      "servers:\n  example.com:\n    tools: {allowed_users: [a]}\n"
      "    tools: {allowed_users: [b]}\n",
      4, "tools", "duplicate key (first defined at line 3)");
  expectError("servers:\n  example.com:\n    a: {}\n  example.com:\n    b: {}\n", 4, "example.com",
              "duplicate key");
  expectError(serverWith("      allowed_users: [a]\n      allowed_users: [b]\n"), 5,
              "allowed_users", "duplicate key");
}

TEST(PolicyErrors, MalformedDomainsAndServerNames) {
  for (const char* domain : {"Example.com", "exa_mple.com", "example.com.", "-example.com",
                             "example..com", "example.com:8080", "*.example.com"}) {
    SCOPED_TRACE(domain);
    expectError(std::string("servers:\n  \"") + domain + "\":\n    tools: {}\n", 2,
                std::string("servers.") + domain, "is not a lower-case DNS name");
  }
  for (const char* name : {"Tools", "-tools", "_tools", "to ols", "tools:read", "tools/x"}) {
    SCOPED_TRACE(name);
    expectError(std::string("servers:\n  example.com:\n    \"") + name + "\": {}\n", 3,
                std::string("servers.example.com.") + name, "is not a valid server name");
  }
  expectError("servers:\n  example.com:\n", 2, "servers.example.com",
              "expected a mapping of server names");
  expectError("servers:\n  example.com:\n    tools: yes\n", 3, "servers.example.com.tools",
              "expected a mapping");
  expectError(serverWith("      scopes:\n        Read: {}\n"), 5,
              "servers.example.com.tools.scopes.Read", "not a valid scope name");
}

TEST(PolicyErrors, DefaultScopesMustNameAServer) {
  const std::string servers = serverWith("      allowed_users: [a]\n");
  for (const char* bad : {"tools", "mcp:tools", "mcp:example.com", "mcp:Example.com:tools",
                          "mcp:example.com:tools:", "mcp:example.com:tools:read:x", "mcp::tools"}) {
    SCOPED_TRACE(bad);
    expectError(std::string("default_scopes: [\"") + bad + "\"]\n" + servers, 1,
                "default_scopes[0]", "malformed scope");
  }
  expectError("default_scopes:\n  - mcp:example.com:tools\n  - mcp:example.com:other\n" + servers,
              3, "default_scopes[1]", "names no server");
  expectError("default_scopes: [mcp:example.com:tools:read]\n" + servers, 1, "default_scopes[0]",
              "names no server");
  EXPECT_EQ(load("default_scopes: mcp:example.com:tools\n" + servers)->defaultScopes().size(), 1u);
}

TEST(PolicyErrors, PrincipalsAreValidatedByKind) {
  struct Case {
    const char* line;
    const char* key;
    const char* text;
  };
  const Case cases[] = {
      {"allowed_teams: [platform]", "allowed_teams[0]", "has no org"},
      {"allowed_teams: [/platform]", "allowed_teams[0]", "has no org"},
      {"allowed_teams: [acme/]", "allowed_teams[0]", "not an org/team name"},
      {"allowed_teams: [acme/a/b]", "allowed_teams[0]", "not an org/team name"},
      {"denied_teams: [ok/team, nope]", "denied_teams[1]", "has no org"},
      {"allowed_orgs: [acme/platform]", "allowed_orgs[0]", "is a team"},
      {"allowed_orgs: [\"ac me\"]", "allowed_orgs[0]", "not an org name"},
      {"allowed_teams: [\"*\"]", "allowed_teams[0]", "only allowed in allowed_users"},
      {"allowed_groups: [\"*\"]", "allowed_groups[0]", "only allowed in allowed_users"},
      {"allowed_users: [\"al ice\"]", "allowed_users[0]", "not a user name"},
      {"allowed_users: [\"\"]", "allowed_users[0]", "empty name"},
      {"allowed_users: [\"corp:\"]", "allowed_users[0]", "empty name"},
      {"allowed_users: [\"Corp:alice\"]", "allowed_users[0]", "not an upstream id"},
      {"allowed_users: [\":alice\"]", "allowed_users[0]", "not an upstream id"},
      {"allowed_users: [\"corp:a:b\"]", "allowed_users[0]", "not a user name"},
      {"allowed_groups: [\" padded\"]", "allowed_groups[0]", "not a group name"},
      {"allowed_emails: [alice]", "allowed_emails[0]", "not an email address"},
      {"allowed_emails: [\"@example.com\"]", "allowed_emails[0]", "not an email address"},
      {"allowed_emails: [\"a@b@example.com\"]", "allowed_emails[0]", "not an email address"},
      {"allowed_emails: [\"a@\"]", "allowed_emails[0]", "not an email address"},
      {"allowed_email_domains: [\"@example.com\"]", "allowed_email_domains[0]", "not a domain"},
      {"allowed_email_domains: [\"*.example.com\"]", "allowed_email_domains[0]", "not a domain"},
      {"allowed_users: alice", "allowed_users", "expected a list"},
      {"allowed_users: [[a]]", "allowed_users[0]", "expected a single value"},
      {"access_ttl: 2d", "access_ttl", "between 1s and 24h"},
      {"access_ttl: soon", "access_ttl", "between 1s and 24h"},
      {"upstreams: [GitHub]", "upstreams[0]", "not an upstream id"},
      {"name: [a]", "name", "expected a single value"},
      {"allowed_users: [\"github:id:\"]", "allowed_users[0]", "'' is not a numeric id"},
      {"allowed_users: [\"github:id:12a\"]", "allowed_users[0]", "not a numeric id"},
      {"allowed_users: [\"github:id:0123\"]", "allowed_users[0]", "not a numeric id"},
      {"allowed_users: [\"github:id:-5\"]", "allowed_users[0]", "not a numeric id"},
      {"allowed_users: [\"github:id:12345678901234567890\"]", "allowed_users[0]",
       "not a numeric id"},
      {"denied_users: [\"github:id:alice\"]", "denied_users[0]",
       "write github:sub:VALUE for an OIDC sub"},
      {"allowed_users: [\"corp:sub:\"]", "allowed_users[0]", "not a subject"},
      {"allowed_users: [\"corp:sub:a b\"]", "allowed_users[0]", "not a subject"},
      {"allowed_users: [\"id:12345\"]", "allowed_users[0]",
       "an id always names its upstream: write github:id:12345"},
      {"allowed_users: [\"sub:abc\"]", "allowed_users[0]", "write github:sub:abc"},
      {"allowed_teams: [\"github:id:5\"]", "allowed_teams[0]", "ids name user accounts only"},
      {"denied_orgs: [\"github:sub:5\"]", "denied_orgs[0]", "ids name user accounts only"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.line);
    expectError(serverWith(std::string("      ") + c.line + "\n"), 4,
                std::string("servers.example.com.tools.") + c.key, c.text);
  }
}

TEST(PolicyErrors, IdFormsAreCheckedWhereverTheyAreWritten) {
  expectError(serverWith("      allowed_users: [\"corp:sub:" + std::string(256, 'a') + "\"]\n"), 4,
              "servers.example.com.tools.allowed_users[0]", "not a subject");
  EXPECT_NO_THROW(
      load(serverWith("      allowed_users: [\"corp:sub:" + std::string(255, 'a') + "\"]\n")));
  expectError(serverWith("      allowed_users: [\"id:7\"]\n", "default_upstream: corp\n"), 5,
              "servers.example.com.tools.allowed_users[0]", "write corp:id:7");
  expectError(serverWith("      allowed_users: [group:ops]\n", "groups:\n  ops: [\"gh:id:x\"]\n"),
              2, "groups.ops[0]", "used by servers.example.com.tools.allowed_users[0]");
  // An OIDC group claim value may start with "sub:"; groups are not ids.
  auto p = load(serverWith("      allowed_groups: [\"corp:sub:team\"]\n"));
  EXPECT_TRUE(p->evaluate(person("corp", "x", {"sub:team"}), kScope).allowed);
  // An upstream really called "id" keeps "id:name" meaning one of its users.
  LoadOptions known;
  known.known_upstreams = {"id", "github"};
  auto named = Policy::tryLoadString(serverWith("      allowed_users: [\"id:alice\"]\n"),
                                     "test.yaml", known);
  ASSERT_NE(named.policy, nullptr) << named.error;
  EXPECT_TRUE(named.policy->evaluate(person("id", "alice"), kScope).allowed);
}

TEST(PolicyErrors, GroupReferencesMustResolve) {
  expectError(serverWith("      allowed_users: [group:missing]\n"), 4,
              "servers.example.com.tools.allowed_users[0]", "group 'missing' is not defined");
  expectError(serverWith("      allowed_users: [a]\n", "groups:\n  a: [group:b]\n  b: [x]\n"), 2,
              "groups.a[0]", "cannot include another group");
  expectError(serverWith("      allowed_users: [a]\n", "groups:\n  Team: [x]\n"), 2, "groups.Team",
              "group names are lower-case");
  expectError(serverWith("      allowed_users: [a]\n", "groups:\n  a: x\n"), 2, "groups.a",
              "expected a list");
  // A member that does not fit the list using it is reported where the member is written.
  std::string message = error(
      serverWith("      allowed_teams: [group:people]\n", "groups:\n  people: [alice, bob]\n"));
  EXPECT_EQ(message.rfind("test.yaml:2:", 0), 0u) << message;
  EXPECT_NE(message.find("groups.people[0]: team 'alice' has no org"), std::string::npos)
      << message;
  EXPECT_NE(message.find("used by servers.example.com.tools.allowed_teams[0]"), std::string::npos)
      << message;
}

TEST(PolicyErrors, ResourcesMustBeHttpsOrLoopbackAndUnique) {
  for (const char* bad :
       {"http://example.com/mcp", "https://example.com/mcp#x", "/mcp", "example.com/mcp",
        "https://user@example.com/mcp", "ftp://example.com/mcp", "urn:mcp:tools",
        "http://10.0.0.1/mcp", "https:///mcp"}) {
    SCOPED_TRACE(bad);
    expectError(serverWith(std::string("      resource: \"") + bad + "\"\n"), 4,
                "servers.example.com.tools.resource", "must be an absolute https URI");
  }
  expectError(serverWith("      resource: [https://a.example/mcp, \"https://a.example/#\"]\n"), 4,
              "servers.example.com.tools.resource[1]", "must be an absolute https URI");
  expectError(
      "servers:\n  example.com:\n    a:\n      resource: https://a.example/mcp\n"
      "    b:\n      resource: HTTPS://A.example:443/mcp\n",
      6, "servers.example.com.b.resource",
      "'https://a.example/mcp' is already the resource of servers.example.com.a "
      "(test.yaml:4)");
  expectError(serverWith("      resource: [https://a.example/, https://a.example]\n"), 4,
              "servers.example.com.tools.resource[1]", "already the resource of");
}

TEST(PolicyErrors, DefaultUpstreamMustBeAnId) {
  expectError(serverWith("      allowed_users: [a]\n", "default_upstream: Git Hub\n"), 1,
              "default_upstream", "expected an upstream id");
}

TEST(PolicyErrors, UpstreamsMustBeKnownWhenTheBrokerSaysWhichItHas) {
  LoadOptions known;
  known.known_upstreams = {"github", "corp"};
  auto expectUnknown = [&](const std::string& yaml, int line, const std::string& key,
                           const std::string& id) {
    SCOPED_TRACE(yaml);
    EXPECT_NO_THROW(Policy::loadString(yaml, "test.yaml"));  // without the list: any id
    auto loaded = Policy::tryLoadString(yaml, "test.yaml", known);
    EXPECT_EQ(loaded.policy, nullptr);
    EXPECT_EQ(loaded.error.rfind("test.yaml:" + std::to_string(line) + ":", 0), 0u) << loaded.error;
    EXPECT_NE(loaded.error.find(" " + key + ": upstream '" + id + "' is not configured"),
              std::string::npos)
        << loaded.error;
    EXPECT_NE(loaded.error.find("github, corp"), std::string::npos) << loaded.error;
  };
  expectUnknown(serverWith("      allowed_users: [a]\n", "default_upstream: gihtub\n"), 1,
                "default_upstream", "gihtub");
  expectUnknown(serverWith("      upstreams: [github, okta]\n      allowed_users: [a]\n"), 4,
                "servers.example.com.tools.upstreams[1]", "okta");
  expectUnknown(serverWith("      allowed_users: [corp:a, okta:b]\n"), 4,
                "servers.example.com.tools.allowed_users[1]", "okta");
  expectUnknown(serverWith("      allowed_teams: [group:ops]\n", "groups:\n  ops: [gh:acme/ops]\n"),
                2, "groups.ops[0]", "gh");
  EXPECT_NE(load(serverWith("      allowed_users: [a]\n"))->findScope(kScope), nullptr);
  auto fine = Policy::tryLoadString(
      serverWith("      upstreams: [corp]\n      allowed_users: [corp:a, \"github:*\"]\n",
                 "default_upstream: github\n"),
      "test.yaml", known);
  EXPECT_NE(fine.policy, nullptr) << fine.error;
  EXPECT_EQ(fine.error, "");
}

TEST(PolicyErrors, TryLoadNeverThrowsAndNeverHalfLoads) {
  auto bad = Policy::tryLoadString(serverWith("      allowed_teams: [platform]\n"), "test.yaml");
  EXPECT_EQ(bad.policy, nullptr);
  EXPECT_NE(bad.error.find("test.yaml:4:"), std::string::npos) << bad.error;
  auto missing = Policy::tryLoadFile((fs::temp_directory_path() / "no-such-policy.yaml").string());
  EXPECT_EQ(missing.policy, nullptr);
  EXPECT_NE(missing.error.find("cannot read"), std::string::npos);
}

TEST(PolicySummary, ListsServersAndWhoCanReachThem) {
  auto p =
      load(serverWith("      name: Tools\n      resource: https://a.example/mcp\n"
                      "      upstreams: [github]\n      access_ttl: 10m\n"
                      "      allowed_users: [group:platform, carol]\n"
                      "      denied_teams: [acme/contractors]\n"
                      "      scopes:\n        read:\n        write: {allowed_users: [bob]}\n"
                      "  other.example:\n    closed: {}\n",
                      "default_upstream: github\ndefault_scopes: [mcp:example.com:tools]\n"
                      "groups:\n  platform: [alice, bob]\n"));
  std::string s = p->summary();
  for (const char* expected :
       {"test.yaml: 2 servers", "default upstream: github", "default scopes: mcp:example.com:tools",
        "group platform: alice bob", "mcp:example.com:tools  (Tools)",
        "resource: https://a.example/mcp", "upstreams: github", "access_ttl: 600s",
        "allow: users group:platform, carol", "deny: teams acme/contractors",
        "mcp:example.com:tools:read\n    allow: as the server",
        "mcp:example.com:tools:write\n    allow: users bob", "mcp:other.example:closed\n",
        "allow: nobody (no allow rules)"}) {
    EXPECT_NE(s.find(expected), std::string::npos) << expected << "\n---\n" << s;
  }
}

TEST(PolicyWarnings, UsersNamedByLoginAreFlaggedWithFileLineAndKey) {
  auto loaded = Policy::tryLoadString(R"(default_upstream: github
groups:
  ops: [carol, "github:id:7"]
servers:
  example.com:
    tools:
      allowed_users: [alice, "github:id:12345", "*", "corp:*", "corp:sub:abc", group:ops]
      denied_users: [corp:mallory]
      allowed_teams: [acme/platform]
      allowed_emails: [bob@example.com]
    other:
      allowed_users: [group:ops, "corp:jane@example.com"]
)",
                                      "test.yaml");
  ASSERT_NE(loaded.policy, nullptr) << loaded.error;  // warnings never refuse a file
  EXPECT_EQ(loaded.error, "");
  const auto& w = loaded.policy->warnings();
  ASSERT_EQ(w.size(), 4u) << ::testing::PrintToString(w);
  EXPECT_EQ(w[0],
            "test.yaml:3:9: groups.ops[0]: 'carol' is a username, which can be renamed and then "
            "taken by another account; name the account by its id instead: github:id:<GitHub "
            "user id> or github:sub:<OIDC sub> (used by "
            "servers.example.com.tools.allowed_users[5])");
  EXPECT_EQ(w[1].rfind("test.yaml:7:23: servers.example.com.tools.allowed_users[0]: 'alice' is a "
                       "username",
                       0),
            0u)
      << w[1];
  EXPECT_EQ(w[2].rfind("test.yaml:8:22: servers.example.com.tools.denied_users[0]: 'mallory'", 0),
            0u)
      << w[2];
  EXPECT_NE(w[2].find("corp:id:<GitHub user id> or corp:sub:<OIDC sub>"), std::string::npos)
      << w[2];
  EXPECT_EQ(w[3].rfind("test.yaml:12:34: servers.example.com.other.allowed_users[1]: "
                       "'jane@example.com' is a username that looks like an email (it is not "
                       "checked as one: allowed_emails matches only a verified email)",
                       0),
            0u)
      << w[3];

  EXPECT_TRUE(load(serverWith("      allowed_users: [\"github:id:1\", \"*\", \"corp:sub:x\"]\n"
                              "      allowed_teams: [acme/platform]\n"
                              "      allowed_groups: [admins]\n"
                              "      allowed_email_domains: [example.com]\n"))
                  ->warnings()
                  .empty());
  // Without a default upstream, the suggestion cannot name one.
  auto bare = load(serverWith("      allowed_users: [alice]\n"));
  ASSERT_EQ(bare->warnings().size(), 1u);
  EXPECT_NE(bare->warnings()[0].find("<upstream>:id:<GitHub user id>"), std::string::npos);
}

TEST(PolicySummary, ListsIdEntriesAsWritten) {
  auto p =
      load(serverWith("      allowed_users: [\"github:id:12345\", alice]\n"
                      "      denied_users: [\"corp:sub:abc\"]\n"));
  EXPECT_NE(p->summary().find("allow: users github:id:12345, alice"), std::string::npos)
      << p->summary();
  EXPECT_NE(p->summary().find("deny: users corp:sub:abc"), std::string::npos) << p->summary();
  EXPECT_FALSE(p->needsMemberships("github"));
}

fs::path policiesDir() {
  return fs::path(__FILE__).parent_path().parent_path().parent_path().parent_path() / "policies";
}

TEST(PolicyExamples, EveryShippedPolicyLoads) {
  size_t count = 0;
  for (const auto& entry : fs::directory_iterator(policiesDir())) {
    if (entry.path().extension() != ".yaml") continue;
    SCOPED_TRACE(entry.path().string());
    std::shared_ptr<const Policy> p;
    EXPECT_NO_THROW(p = Policy::loadFile(entry.path().string()));
    if (p) {
      EXPECT_FALSE(p->servers().empty());
    }
    ++count;
  }
  EXPECT_GE(count, 5u);
}

TEST(PolicyExamples, DevPolicyGrantsPartially) {
  auto p = Policy::loadFile((policiesDir() / "dev.yaml").string());
  const std::string demo = "mcp:localhost:demo";
  const std::string admin = "mcp:localhost:admin";
  EXPECT_EQ(p->defaultScopes(), std::vector<std::string>{demo});
  EXPECT_EQ(p->findResource("http://127.0.0.1:9000/mcp"), p->findScope(demo));
  EXPECT_TRUE(p->evaluate(person("dev", "alice"), demo).allowed);
  EXPECT_FALSE(p->evaluate(person("dev", "alice"), admin).allowed);
  EXPECT_TRUE(p->evaluate(person("dev", "bob"), demo).allowed);
  EXPECT_TRUE(p->evaluate(person("dev", "bob"), admin).allowed);
  EXPECT_TRUE(p->evaluate(person("dev", "bob"), admin + ":write").allowed);
  EXPECT_FALSE(p->evaluate(person("dev", "carol"), demo).allowed);
  EXPECT_TRUE(p->evaluate(person("dev", "carol", {"admins"}), demo).allowed);
  EXPECT_FALSE(p->evaluate(person("dev", "carol", {"admins"}), admin).allowed);
  EXPECT_FALSE(p->evaluate(person("github", "alice"), demo).allowed);  // another upstream
}

TEST(PolicyExamples, OrgsAndTeamsPolicyBehavesAsCommented) {
  auto p = Policy::loadFile((policiesDir() / "orgs-and-teams.yaml").string());
  Identity platform = account("github", "1001", "alice");  // on call, by id
  platform.groups = {"acme", "acme/platform"};
  Identity mallory = account("github", "6666", "mallory");  // denied by id
  mallory.groups = {"acme", "acme/platform"};
  EXPECT_TRUE(p->evaluate(platform, "mcp:tools.example.com:docs").allowed);
  EXPECT_TRUE(p->evaluate(platform, "mcp:tools.example.com:deploy").allowed);
  EXPECT_TRUE(p->evaluate(platform, "mcp:tools.example.com:deploy:production").allowed);
  EXPECT_FALSE(p->evaluate(mallory, "mcp:tools.example.com:deploy").allowed);
  // The ids follow the accounts, not the logins.
  Identity renamed_mallory = mallory;
  renamed_mallory.username = "not-mallory";
  EXPECT_FALSE(p->evaluate(renamed_mallory, "mcp:tools.example.com:deploy").allowed);
  Identity new_alice = platform;  // someone else who registered the login "alice"
  new_alice.subject = "424242";
  EXPECT_FALSE(p->evaluate(new_alice, "mcp:tools.example.com:deploy:production").allowed);
  const Identity dana = person("github", "dana", {"acme", "acme/platform"});
  EXPECT_FALSE(p->evaluate(dana, "mcp:tools.example.com:deploy:production").allowed);
  EXPECT_FALSE(p->evaluate(person("github", "x", {"other"}), "mcp:tools.example.com:docs").allowed);
}

TEST(PolicyExamples, MixedUpstreamPolicyKeepsUpstreamsApart) {
  auto p = Policy::loadFile((policiesDir() / "mixed-github-oidc.yaml").string());
  EXPECT_TRUE(p->evaluate(person("github", "a", {"acme/platform"}), "mcp:example.com:github-tools")
                  .allowed);
  EXPECT_FALSE(
      p->evaluate(person("corp", "a", {"acme/platform"}), "mcp:example.com:github-tools").allowed);
  EXPECT_TRUE(p->evaluate(person("corp", "a", {"employees"}), "mcp:example.com:wiki").allowed);
  EXPECT_FALSE(
      p->evaluate(person("corp", "a", {"employees", "offboarding"}), "mcp:example.com:wiki")
          .allowed);
  EXPECT_FALSE(p->evaluate(person("github", "a", {"employees"}), "mcp:example.com:wiki").allowed);
  const std::string finance = "mcp:example.com:finance";
  EXPECT_TRUE(p->evaluate(account("corp", "248289761001", "cfo"), finance).allowed);
  EXPECT_FALSE(p->evaluate(account("corp", "1", "cfo"), finance).allowed);
}

TEST(PolicyExamples, EmailDomainPolicyNeedsVerifiedEmail) {
  auto p = Policy::loadFile((policiesDir() / "email-domains.yaml").string());
  const std::string support = "mcp:example.com:support";
  EXPECT_TRUE(p->evaluate(person("corp", "a", {}, "a@example.org"), support).allowed);
  EXPECT_FALSE(p->evaluate(person("corp", "a", {}, "a@example.org", false), support).allowed);
  EXPECT_FALSE(
      p->evaluate(person("corp", "a", {}, "former.employee@example.com"), support).allowed);
  EXPECT_FALSE(p->evaluate(person("github", "a", {}, "a@example.org"), support).allowed);
  const std::string demo = "mcp:example.com:public-demo";
  EXPECT_TRUE(p->evaluate(person("corp", "anyone"), demo).allowed);
  EXPECT_FALSE(p->evaluate(person("github", "anyone"), demo).allowed);
  EXPECT_FALSE(p->evaluate(person("corp", "x", {}, "x@competitor.example"), demo).allowed);
}

TEST(PolicyExamples, SingleTeamPolicyAdmitsTheTeamOnlyThroughGithub) {
  auto p = Policy::loadFile((policiesDir() / "single-team.yaml").string());
  const std::string tools = "mcp:example.com:github-tools";
  EXPECT_TRUE(p->evaluate(person("github", "a", {"acme", "acme/platform"}), tools).allowed);
  EXPECT_FALSE(
      p->evaluate(person("github", "a", {"acme/platform", "acme/contractors"}), tools).allowed);
  EXPECT_FALSE(p->evaluate(person("corp", "a", {"acme/platform"}), tools).allowed);
  EXPECT_FALSE(p->evaluate(person("github", "a", {"acme"}), tools).allowed);
  EXPECT_EQ(p->findScope(tools)->access_ttl, 900);
}

TEST(PolicyExamples, LoadFileReportsAMissingFile) {
  try {
    Policy::loadFile((policiesDir() / "absent.yaml").string());
    FAIL() << "loaded";
  } catch (const PolicyError& e) {
    EXPECT_NE(std::string(e.what()).find("absent.yaml: cannot read"), std::string::npos);
  }
}

TEST(PolicyMemberships, NeededOnlyWhereOrgTeamOrGroupRulesCanMatchTheUpstream) {
  auto users_only = load(R"(
servers:
  example.com:
    tools:
      allowed_users: [alice]
      denied_emails: [eve@example.com]
)");
  EXPECT_FALSE(users_only->needsMemberships("github"));

  auto orgs = load(R"(
servers:
  example.com:
    tools:
      allowed_users: [alice]
    admin:
      allowed_users: [alice]
      scopes:
        write:
          denied_teams: [github:acme/contractors]
)");
  EXPECT_TRUE(orgs->needsMemberships("github"));  // a sub-scope's deny list counts
  EXPECT_FALSE(orgs->needsMemberships("corp"));   // qualified with another upstream

  auto bare = load(R"(
servers:
  example.com:
    tools:
      allowed_orgs: [acme]
)");
  EXPECT_TRUE(bare->needsMemberships("github"));
  EXPECT_TRUE(bare->needsMemberships("corp"));  // a bare name matches every upstream here

  auto restricted = load(R"(
servers:
  example.com:
    tools:
      upstreams: [corp]
      allowed_groups: [engineering]
)");
  EXPECT_FALSE(restricted->needsMemberships("github"));  // github cannot reach that server
  EXPECT_TRUE(restricted->needsMemberships("corp"));
}

}  // namespace
}  // namespace broker::policy
