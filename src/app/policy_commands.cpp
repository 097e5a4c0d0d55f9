// `policy check`, `policy explain` and `policy migrate`: the policy file on its own, without a
// running broker, a database or keys.

#include <fstream>
#include <iostream>
#include <sstream>

#include "app/commands.h"
#include "broker/policy/migrate.h"
#include "broker/policy/policy.h"

namespace broker::app {
namespace {

constexpr int kDenied = 1;
constexpr int kUsageOrFileError = 2;

std::shared_ptr<const policy::Policy> loadForCli(const std::string& file,
                                                 const std::vector<std::string>& upstreams) {
  policy::LoadOptions options;
  options.known_upstreams = upstreams;
  // The commands report failing tests themselves, with the decision that was made.
  options.run_tests = false;
  return policy::Policy::loadFile(file, options);
}

// Prints every failure with its explanation and a count line; true when all tests pass.
bool reportTests(const std::string& file, const policy::Policy& p, std::ostream& out) {
  auto failures = policy::runPolicyTests(p);
  for (const auto& f : failures) out << f.explanation();
  size_t checks = 0;
  for (const auto& t : p.tests()) checks += t.scopes.size();
  if (p.tests().empty()) {
    out << file << ": no tests (add a tests: section; see docs/POLICY.md)\n";
  } else {
    out << file << ": " << p.tests().size() << " tests, " << checks - failures.size() << " of "
        << checks << " decisions as expected\n";
  }
  return failures.empty();
}

}  // namespace

int runPolicyCheck(const std::string& file, const std::vector<std::string>& upstreams) {
  try {
    auto p = loadForCli(file, upstreams);
    // Warnings never fail the check: the file is valid, some entries are merely weak.
    for (const auto& w : p->warnings()) std::cerr << "mcp-auth-broker: warning: " << w << "\n";
    // A file whose own tests fail is one `serve` refuses: the check fails too.
    std::ostringstream tests;
    if (!reportTests(file, *p, tests)) {
      std::cerr << tests.str();
      return 1;
    }
    std::cout << file << ": OK\n" << p->summary() << tests.str();
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "mcp-auth-broker: " << e.what() << "\n";
    return 1;
  }
}

int runPolicyTest(const std::string& file, const std::vector<std::string>& upstreams) {
  std::shared_ptr<const policy::Policy> p;
  try {
    p = loadForCli(file, upstreams);
  } catch (const std::exception& e) {
    std::cerr << "mcp-auth-broker: " << e.what() << "\n";
    return kUsageOrFileError;
  }
  return reportTests(file, *p, std::cout) ? 0 : kDenied;
}

int runPolicyExplain(const ExplainOptions& o) {
  std::shared_ptr<const policy::Policy> p;
  try {
    p = loadForCli(o.file, o.known_upstreams);
  } catch (const std::exception& e) {
    std::cerr << "mcp-auth-broker: " << e.what() << "\n";
    return kUsageOrFileError;
  }
  if (o.emails.size() > 1) {
    std::cerr << "policy explain: an identity has one verified email; give --emails once\n";
    return kUsageOrFileError;
  }
  if (o.user.empty() && o.id.empty()) {
    std::cerr << "policy explain: give --user, --id or both\n";
    return kUsageOrFileError;
  }
  Identity who;
  who.upstream_id = o.upstream;
  // Id entries match only the id given here, never a username that happens to look like one.
  who.subject = o.id;
  who.username = o.user;
  who.groups = o.groups;
  // GitHub memberships travel in the same list as OIDC groups: "org" and "org/team".
  who.groups.insert(who.groups.end(), o.orgs.begin(), o.orgs.end());
  who.groups.insert(who.groups.end(), o.teams.begin(), o.teams.end());
  if (!o.emails.empty()) {
    who.email = o.emails.front();
    who.email_verified = !o.email_unverified;
  }
  std::vector<std::string> scopes = o.scopes;
  if (scopes.empty()) {
    for (const auto* s : p->servers()) {
      scopes.push_back(s->scope);
      scopes.insert(scopes.end(), s->sub_scopes.begin(), s->sub_scopes.end());
    }
  }
  bool all_allowed = true;
  for (const auto& scope : scopes) {
    auto d = p->evaluate(who, scope);
    all_allowed = all_allowed && d.allowed;
    std::cout << scope << ": " << (d.allowed ? "allowed" : "denied") << "\n"
              << "  rule: " << d.rule << "\n"
              << "  why:  " << d.reason << "\n";
  }
  return all_allowed ? 0 : kDenied;
}

int runPolicyMigrate(const std::string& json_file, const std::string& out_file) {
  try {
    std::ifstream in(json_file, std::ios::binary);
    if (!in) throw policy::PolicyError(json_file + ": cannot read the file");
    std::stringstream text;
    text << in.rdbuf();
    auto m = policy::migrateJsonServers(text.str(), json_file);
    for (const auto& note : m.notes) std::cerr << json_file << ": " << note << "\n";
    if (out_file.empty() || out_file == "-") {
      std::cout << m.yaml;
      return 0;
    }
    std::ofstream out(out_file, std::ios::binary | std::ios::trunc);
    out << m.yaml;
    out.close();
    if (!out) throw policy::PolicyError(out_file + ": cannot write the file");
    std::cerr << "wrote " << out_file << "\n";
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "mcp-auth-broker: " << e.what() << "\n";
    return 1;
  }
}

}  // namespace broker::app
