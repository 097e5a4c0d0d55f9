#pragma once
// The immutable tree a policy file compiles into. Built only by the loader; read concurrently by
// every request afterwards, so nothing here changes after construction.

#include <memory>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "broker/policy/policy.h"
#include "policy/rules.h"

namespace broker::policy {

struct SubScope {
  std::string name;
  std::string scope;
  std::string description;
  RuleSet rules;
};

struct CompiledServer {
  ServerInfo info;
  RuleSet rules;
  std::vector<std::string> upstreams;  // empty: every upstream
  std::unordered_set<std::string> upstream_set;
  std::vector<SubScope> sub_scopes;
};

class CompiledPolicy final : public Policy {
 public:
  struct Parts {
    std::string source;
    std::string version;  // the file's optional `version:` ("" when absent)
    std::string sha256;   // of the file's bytes, lowercase hex
    std::string default_upstream;
    std::vector<std::string> default_scopes;
    // Top-level groups as written, for the summary; references were expanded at load time.
    std::vector<std::pair<std::string, std::vector<std::string>>> groups;
    std::vector<std::unique_ptr<CompiledServer>> servers;
    std::vector<std::string> warnings;
    std::vector<PolicyTest> tests;
  };
  explicit CompiledPolicy(Parts parts);

  const ServerInfo* findScope(const std::string& scope) const override;
  const ServerInfo* findResource(const std::string& resource) const override;
  std::vector<const ServerInfo*> servers() const override;
  std::vector<std::string> defaultScopes() const override { return parts_.default_scopes; }
  Decision evaluate(const Identity& who, const std::string& scope) const override;
  bool needsMemberships(const std::string& upstream) const override;
  std::string summary() const override;
  const std::vector<std::string>& warnings() const override { return parts_.warnings; }
  const std::string& version() const override { return parts_.version; }
  const std::string& sha256() const override { return parts_.sha256; }
  const std::vector<PolicyTest>& tests() const override { return parts_.tests; }

 private:
  struct ScopeTarget {
    const CompiledServer* server;
    const SubScope* sub;  // nullptr for the server's own scope
  };

  Parts parts_;
  std::unordered_map<std::string, ScopeTarget> scopes_;
  std::unordered_map<std::string, const ServerInfo*> resources_;
};

}  // namespace broker::policy
