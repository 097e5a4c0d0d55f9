#pragma once
// Access policy: which identities may reach which MCP server. The YAML file is compiled once into
// an immutable Policy; evaluation is pure (no I/O) and returns the rule that decided.

#include <memory>
#include <string>
#include <vector>

#include "broker/core/identity.h"

namespace broker::policy {

struct ServerInfo {
  std::string domain;
  std::string server;
  std::string scope;  // "mcp:<domain>:<server>"
  std::string name;
  std::string description;
  std::vector<std::string> resources;  // canonical RFC 8707 URIs
  int64_t access_ttl = 0;              // 0 = broker default
};

struct Decision {
  bool allowed = false;
  std::string rule;    // e.g. "servers.example.com.github-tools.allowed_users[alice]"
  std::string reason;  // human sentence for pages and logs
};

// Thrown by the loader: message names file, line, column and key.
struct PolicyError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class Policy {
 public:
  // Throws PolicyError.
  static std::shared_ptr<const Policy> loadFile(const std::string& path);
  static std::shared_ptr<const Policy> loadString(const std::string& yaml,
                                                  const std::string& filename = "<policy>");
  virtual ~Policy() = default;

  virtual const ServerInfo* findScope(const std::string& scope) const = 0;
  // `resource` must already be canonical (see oauth::canonicalResource).
  virtual const ServerInfo* findResource(const std::string& resource) const = 0;
  virtual std::vector<const ServerInfo*> servers() const = 0;
  // Scopes granted when a request names neither scope nor resource.
  virtual std::vector<std::string> defaultScopes() const = 0;
  virtual Decision evaluate(const Identity& who, const std::string& scope) const = 0;
  // Short description of the file (servers and who can reach each), for `policy check`.
  virtual std::string summary() const = 0;
};

}  // namespace broker::policy
