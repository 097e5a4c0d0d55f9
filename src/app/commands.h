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
int runPolicyCheck(const std::string& file);

}  // namespace broker::app
