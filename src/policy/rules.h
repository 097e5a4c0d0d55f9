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

// One allowed_* or denied_* list.
class PrincipalSet {
 public:
  // `value` is already normalised for its kind; `label` is the entry as written.
  void add(const std::string& upstream, const std::string& value, const std::string& label);
  // The label of the entry matching `value` for `upstream` (or for any upstream), else nullptr.
  const std::string* find(const std::string& upstream, const std::string& value) const;
  bool empty() const { return entries_.empty(); }
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
  std::unordered_map<std::string, std::vector<Holder>> entries_;
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
