#pragma once
// The compiled allow/deny lists of one server or sub-scope, and matching an identity against them.
// Everything an evaluation needs is a hash lookup; the identity is normalised once per call.

#include <array>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "broker/core/identity.h"

namespace broker::policy {

enum class RuleKind { kUsers, kGroups, kOrgs, kTeams, kEmails, kEmailDomains };
constexpr size_t kRuleKinds = 6;
constexpr std::array<RuleKind, kRuleKinds> kAllRuleKinds = {
    RuleKind::kUsers, RuleKind::kGroups, RuleKind::kOrgs,
    RuleKind::kTeams, RuleKind::kEmails, RuleKind::kEmailDomains};

// "users", "groups", ... as in allowed_users.
const char* kindName(RuleKind kind);

// Entry for "any upstream": upstream ids never contain '*'.
constexpr const char* kAnyUpstream = "*";

// One allowed_* or denied_* list. It holds names (a login, a team slug: they can change hands)
// and, for users, ids: the subject an upstream proves ("github:id:12345", "corp:sub:abc"), which
// is never reassigned. The two never meet: a username that happens to read like an id cannot
// match an id entry.
class PrincipalSet {
 public:
  // `value` is already normalised for its kind; `label` is the entry as written.
  void add(const std::string& upstream, const std::string& value, const std::string& label);
  // An id entry: `subject` exactly as the upstream reports it, for `upstream` only.
  void addId(const std::string& upstream, const std::string& subject, const std::string& label);
  // The label of the entry matching `value` for `upstream` (or for any upstream), else nullptr.
  const std::string* find(const std::string& upstream, const std::string& value) const;
  // The label of the id entry matching `subject` for `upstream`, else nullptr.
  const std::string* findId(const std::string& upstream, const std::string& subject) const;
  bool empty() const { return names_.empty() && ids_.empty(); }
  // Whether any entry can match a principal of `upstream` (an entry for it, or for any upstream).
  bool namesUpstream(const std::string& upstream) const;
  // Distinct labels in file order, for summaries.
  const std::vector<std::string>& labels() const { return labels_; }

 private:
  struct Holder {
    std::string upstream;  // or kAnyUpstream
    std::string label;
  };
  // Keyed by the value alone so a lookup needs no new string; a value rarely has more than one
  // or two holders (the same name qualified with different upstreams).
  using Entries = std::unordered_map<std::string, std::vector<Holder>>;
  void insert(Entries& entries, const std::string& upstream, const std::string& value,
              const std::string& label);
  static const std::string* lookup(const Entries& entries, const std::string& upstream,
                                   const std::string& value);

  Entries names_;
  Entries ids_;
  std::vector<std::string> labels_;
};

// An identity prepared for matching: lower-cased where comparisons ignore case.
struct Subject {
  explicit Subject(const Identity& identity);

  const Identity& who;
  std::string username;
  std::string email;         // empty unless verified
  std::string email_domain;  // of a verified email
  std::vector<std::string> orgs;
  std::vector<std::string> teams;
};

struct Match {
  RuleKind kind;
  std::string label;
  bool by_id = false;  // matched the subject (an id entry), not a name
};

struct RuleSet {
  std::string path;  // "servers.example.com.github-tools" or "...github-tools.scopes.read"
  std::array<PrincipalSet, kRuleKinds> allow;
  std::array<PrincipalSet, kRuleKinds> deny;

  bool hasAllowRules() const;
  // Whether an org, team or group entry (allowed or denied) can match a principal of `upstream`:
  // then its identities must carry their memberships for this rule set to be decided.
  bool readsMemberships(const std::string& upstream) const;
  std::optional<Match> matchDeny(const Subject& s) const { return match(deny, s); }
  std::optional<Match> matchAllow(const Subject& s) const { return match(allow, s); }

 private:
  static std::optional<Match> match(const std::array<PrincipalSet, kRuleKinds>& sets,
                                    const Subject& s);
};

}  // namespace broker::policy
