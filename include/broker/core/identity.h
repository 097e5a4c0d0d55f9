#pragma once
// The identity an upstream proves. `subject` is upstream-local and stable (GitHub numeric id, OIDC
// sub); the broker's `sub` claim is "<upstream_id>:<subject>" so two upstreams never collide.

#include <string>
#include <vector>

namespace broker {

struct Identity {
  std::string upstream_id;    // config key of the upstream, e.g. "github", "corp", "dev"
  std::string upstream_type;  // "github", "oidc", "dev"
  std::string subject;        // stable id at the upstream
  std::string username;       // login / preferred_username
  std::string name;           // display name, may be empty
  std::string email;          // empty unless verified (or explicitly trusted by config)
  bool email_verified = false;
  std::vector<std::string> groups;  // GitHub: "org" and "org/team"; OIDC: groups claim

  std::string qualifiedSubject() const { return upstream_id + ":" + subject; }
  std::string toJson() const;
  static bool fromJson(const std::string& json, Identity& out);
};

}  // namespace broker
