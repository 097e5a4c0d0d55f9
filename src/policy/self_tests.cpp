// A policy file's own `tests:`: each case is evaluated like a request would be, and a failure
// carries the decision actually made, so the author sees which rule to change.
#include <string>
#include <vector>

#include "broker/policy/policy.h"

namespace broker::policy {
namespace {

std::string describeIdentity(const Identity& who) {
  if (who.upstream_id == kClientUpstream) return "machine client " + who.subject;
  std::string out = who.upstream_id + " user";
  if (!who.username.empty()) out += " " + who.username;
  if (!who.subject.empty()) out += " (id " + who.subject + ")";
  if (!who.groups.empty()) {
    out += ", memberships";
    for (size_t i = 0; i < who.groups.size(); ++i) out += (i ? ", " : " ") + who.groups[i];
  }
  if (!who.email.empty()) {
    out += ", email " + who.email + (who.email_verified ? "" : " (unverified)");
  }
  return out;
}

}  // namespace

std::string PolicyTestFailure::summary() const {
  return test->where + (test->name.empty() ? "" : " (" + test->name + ")") + ": expected " +
         (test->expect_allowed ? "allow" : "deny") + " for " + scope + ", got " +
         (actual.allowed ? "allow" : "deny") + " by " + actual.rule;
}

std::string PolicyTestFailure::explanation() const {
  return summary() + "\n  identity: " + describeIdentity(test->who) +
         "\n  rule:     " + actual.rule + "\n  why:      " + actual.reason + "\n";
}

std::vector<PolicyTestFailure> runPolicyTests(const Policy& p) {
  std::vector<PolicyTestFailure> failures;
  for (const PolicyTest& test : p.tests()) {
    for (const std::string& scope : test.scopes) {
      Decision d = p.evaluate(test.who, scope);
      if (d.allowed != test.expect_allowed) failures.push_back({&test, scope, std::move(d)});
    }
  }
  return failures;
}

std::string describeFailures(const std::vector<PolicyTestFailure>& failures) {
  if (failures.empty()) return "";
  std::string out = "the policy's own tests fail: " + failures.front().summary();
  if (failures.size() > 1) {
    out +=
        " (and " + std::to_string(failures.size() - 1) + " more; run mcp-auth-broker policy test)";
  }
  return out;
}

}  // namespace broker::policy
