#pragma once
// The subcommands of mcp-auth-broker. Each returns the process exit code.

#include <cstdint>
#include <optional>
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

// Audit trail and live sessions (audit_commands.cpp).
struct AuditOptions {
  std::string subject, client, server, since;
  int64_t limit = 1000;
  bool json = false;
};
int runAudit(const GlobalOptions& g, const AuditOptions& options);
struct SessionsOptions {
  std::string subject, client, server;
  bool json = false;
};
int runSessionsList(const GlobalOptions& g, const SessionsOptions& options);
struct SessionsRevokeOptions {
  std::string session, subject, client;
  bool all = false;
};
int runSessionsRevoke(const GlobalOptions& g, const SessionsRevokeOptions& options);
// Which live sessions `file` would cut or narrow at their next refresh.
int runPolicyCheckAgainstStore(const GlobalOptions& g, const std::string& file);
// --since: "24h", "7d" (back from `now`), "2026-12-06T13:05:00Z" or "2026-12-06" (UTC).
std::optional<int64_t> parseSince(const std::string& text, int64_t now);

}  // namespace broker::app
