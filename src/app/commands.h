#pragma once
// The subcommands of mcp-auth-broker. Each returns the process exit code.

#include <string>
#include <vector>

namespace broker::app {

struct GlobalOptions {
  std::string config_path = "config/dev.yaml";
};

int runServe(const GlobalOptions& g);
int runMigrate(const GlobalOptions& g);
int runKeysList(const GlobalOptions& g);
int runKeysRotate(const GlobalOptions& g, bool immediate);
int runKeysJwks(const GlobalOptions& g);
int runClientRegister(const GlobalOptions& g, const std::string& name,
                      const std::vector<std::string>& redirect_uris, const std::string& auth_method,
                      bool refresh, const std::string& client_id);
int runClientList(const GlobalOptions& g);
int runClientDelete(const GlobalOptions& g, const std::string& client_id);
int runRevoke(const GlobalOptions& g, const std::string& subject, const std::string& client_id);

// Policy commands (policy_commands.cpp). `upstreams`: ids the broker is configured with; when
// given, references to any other upstream are errors.
// `check` also runs the file's tests: section and fails when one of them does.
int runPolicyCheck(const std::string& file, const std::vector<std::string>& upstreams);
// Runs the tests: section, printing each failure with the decision actually made; 0 all pass,
// 1 a test fails, 2 the file cannot be loaded.
int runPolicyTest(const std::string& file, const std::vector<std::string>& upstreams);
struct ExplainOptions {
  std::string file;
  std::vector<std::string> known_upstreams;
  std::string user;
  std::string id;  // subject at the upstream: GitHub numeric user id, OIDC sub
  std::string upstream;
  std::vector<std::string> orgs, teams, groups, emails, scopes;
  bool email_unverified = false;
};
// Prints each scope's decision and the rule that made it; 0 all allowed, 1 any denied, 2 error.
int runPolicyExplain(const ExplainOptions& options);
int runPolicyMigrate(const std::string& json_file, const std::string& out_file);

}  // namespace broker::app
