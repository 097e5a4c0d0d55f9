#pragma once
// Access policy: which identities may reach which MCP server. The YAML file is compiled once into
// an immutable Policy; evaluation is pure (no I/O) and returns the rule that decided.
//
// Principals in allowed_* / denied_* lists:
//   name            a bare name matches only the policy's `default_upstream`; when the policy sets
//                   none, it matches that name from every upstream
//   upstream:name   that upstream only ("corp:alice", "github:acme/platform")
//   group:NAME      the entries of the top-level `groups: {NAME: [...]}` list, read as entries of
//                   the list that references it (so a group can hold users, teams, emails...)
//   "*"             (users lists only) any signed-in user of the upstreams that may reach the
//                   server (its `upstreams:` list; every upstream without one), whatever
//                   `default_upstream` says; "corp:*" any user of upstream corp
//   upstream:id:N   (users lists only) the account whose subject at that upstream is N: GitHub's
//   upstream:sub:S  numeric user id ("github:id:12345"), an OIDC `sub` ("corp:sub:248289761001").
//                   The subject is never reassigned, unlike a login or preferred_username, which
//                   can be renamed and then taken by someone else. `id:` takes digits only (a
//                   typo check for GitHub ids), `sub:` any opaque value; both compare exactly
//                   against the identity's subject and always name their upstream.
// A name from one upstream never matches an entry qualified with another. Usernames, orgs, teams,
// emails and email domains compare case-insensitively; groups (OIDC claim values) compare exactly.
// Emails and email domains match only a verified email; a domain matches exactly, not subdomains.
//
// Order: a server's `upstreams` restriction, then every denied_* list (deny wins), then the
// allowed_* lists; nothing matched means denied. A sub-scope (scopes: {read: ...}, scope
// mcp:<domain>:<server>:read) first needs the server's decision to allow, then applies its own
// denied_* lists, then its own allowed_* lists if it has any (none means the server's allow holds).

#include <cstdint>
#include <memory>
#include <stdexcept>
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
  std::vector<std::string> resources;   // canonical RFC 8707 URIs
  int64_t access_ttl = 0;               // 0 = broker default
  std::vector<std::string> sub_scopes;  // "mcp:<domain>:<server>:<name>", in file order
};

struct Decision {
  bool allowed = false;
  // e.g. "servers.example.com.github-tools.allowed_users[alice]",
  // "servers.example.com.github-tools.denied_teams[acme/contractors]",
  // "servers.example.com.github-tools.allowed_users[github:id:12345]", "no allow rule matched",
  // "servers.example.com.github-tools.upstreams", "unknown scope". The bracket holds the entry
  // as written ("corp:alice", "group:platform").
  std::string rule;
  // Human sentence for pages and logs. It names the identity, the scope and at most the one
  // entry that matched this identity, never the rest of a list; an id entry is said to have
  // matched "by account id <subject>".
  std::string reason;
};

// Thrown by the loader: message names file, line, column and key.
struct PolicyError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct LoadOptions {
  // The upstream ids the broker is configured with. When set, `default_upstream`, every
  // `upstreams:` entry and every `upstream:` qualifier must name one of them (a typo such as
  // "gihtub:alice" would otherwise silently match nobody). Empty: any well-formed id.
  std::vector<std::string> known_upstreams;
  // Run the file's own `tests:` and refuse it (PolicyError naming the first failure) when one
  // fails: what `serve` does at start-up and on every reload. `policy test`, `check` and
  // `explain` load with false and report the failures themselves.
  bool run_tests = true;
};

// The upstream id of a machine client's identity: its principal is `client:<client_id>`, named
// like an account id in users lists. No configured upstream may use this id.
inline constexpr const char* kClientUpstream = "client";

// One case of the policy file's own `tests:` section: an identity, the scopes it asks for and
// the decision the author expects for each.
struct PolicyTest {
  std::string where;  // "file:line:column: tests[2]"
  std::string name;   // as written; may be empty
  Identity who;
  std::vector<std::string> scopes;
  bool expect_allowed = false;
};

// A scope of a test whose decision is not the expected one, with the decision that was made.
struct PolicyTestFailure {
  const PolicyTest* test;
  std::string scope;
  Decision actual;
  // "file:line:column: tests[2] (name): expected allow for SCOPE, got deny by RULE"
  std::string summary() const;
  // summary(), then the identity, the rule and the decision's sentence, one per line.
  std::string explanation() const;
};

class Policy;

// What trying a new policy gives: a fully loaded policy, or the error and no policy at all.
struct LoadOutcome {
  std::shared_ptr<const Policy> policy;
  std::string error;  // file:line:column: key: message
};

class Policy {
 public:
  // Never throws: what a reload uses, so a bad file can only ever be reported, not installed.
  static LoadOutcome tryLoadFile(const std::string& path, const LoadOptions& options = {});
  static LoadOutcome tryLoadString(const std::string& yaml, const std::string& filename,
                                   const LoadOptions& options = {});

  // Throws PolicyError.
  static std::shared_ptr<const Policy> loadFile(const std::string& path,
                                                const LoadOptions& options = {});
  static std::shared_ptr<const Policy> loadString(const std::string& yaml,
                                                  const std::string& filename = "<policy>",
                                                  const LoadOptions& options = {});
  virtual ~Policy() = default;

  // A sub-scope resolves to its server (same resources and audience).
  virtual const ServerInfo* findScope(const std::string& scope) const = 0;
  // `resource` must already be canonical (see oauth::canonicalResource).
  virtual const ServerInfo* findResource(const std::string& resource) const = 0;
  virtual std::vector<const ServerInfo*> servers() const = 0;
  // Scopes granted when a request names neither scope nor resource.
  virtual std::vector<std::string> defaultScopes() const = 0;
  virtual Decision evaluate(const Identity& who, const std::string& scope) const = 0;
  // Whether some rule can only be decided with the memberships (orgs, teams, groups) of
  // `upstream`'s users. A GitHub login asks for read:org and reads memberships only then.
  virtual bool needsMemberships(const std::string& upstream) const = 0;
  // Short description of the file (servers and who can reach each), for `policy check`.
  virtual std::string summary() const = 0;
  // Entries that load but deserve a second look, each "file:line:column: key: message" like an
  // error: a user named by a login or preferred_username, which can change hands, where an id
  // would not. `policy check` prints them; they never stop a file from loading.
  virtual const std::vector<std::string>& warnings() const = 0;
  // What /health shows so an operator can see when every instance of a group runs the same file:
  // the file's optional top-level `version:` (free text, "" when absent) and the SHA-256 of its
  // bytes (lowercase hex).
  virtual const std::string& version() const = 0;
  virtual const std::string& sha256() const = 0;
  // The file's `tests:` cases, in file order.
  virtual const std::vector<PolicyTest>& tests() const = 0;
};

// Evaluates every case of `p.tests()`; empty when all hold.
std::vector<PolicyTestFailure> runPolicyTests(const Policy& p);
// One line naming the first failure and how many there are, for the log and /health.
std::string describeFailures(const std::vector<PolicyTestFailure>& failures);

}  // namespace broker::policy
