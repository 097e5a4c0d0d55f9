#include "policy/rules.h"

#include <algorithm>
#include <cctype>

#include "broker/policy/policy.h"

namespace broker::policy {
namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

const std::string* findAny(const PrincipalSet& set, const std::string& upstream,
                           const std::vector<std::string>& values) {
  for (const auto& v : values) {
    if (const auto* label = set.find(upstream, v)) return label;
  }
  return nullptr;
}

}  // namespace

const char* kindName(RuleKind kind) {
  switch (kind) {
    case RuleKind::kUsers:
      return "users";
    case RuleKind::kGroups:
      return "groups";
    case RuleKind::kOrgs:
      return "orgs";
    case RuleKind::kTeams:
      return "teams";
    case RuleKind::kEmails:
      return "emails";
    case RuleKind::kEmailDomains:
      return "email_domains";
  }
  return "unknown";
}

void PrincipalSet::add(const std::string& upstream, const std::string& value,
                       const std::string& label) {
  insert(names_, upstream, value, label);
}

void PrincipalSet::addId(const std::string& upstream, const std::string& subject,
                         const std::string& label) {
  insert(ids_, upstream, subject, label);
}

void PrincipalSet::insert(Entries& entries, const std::string& upstream, const std::string& value,
                          const std::string& label) {
  auto& holders = entries[value];
  // The first entry written for one (upstream, value) names the rule.
  if (std::none_of(holders.begin(), holders.end(),
                   [&](const Holder& h) { return h.upstream == upstream; })) {
    holders.push_back({upstream, label});
  }
  if (std::find(labels_.begin(), labels_.end(), label) == labels_.end()) labels_.push_back(label);
}

bool PrincipalSet::namesUpstream(const std::string& upstream) const {
  for (const Entries* entries : {&names_, &ids_}) {
    for (const auto& [value, holders] : *entries) {
      for (const Holder& h : holders) {
        if (h.upstream == upstream || h.upstream == kAnyUpstream) return true;
      }
    }
  }
  return false;
}

bool RuleSet::readsMemberships(const std::string& upstream) const {
  for (RuleKind kind : {RuleKind::kOrgs, RuleKind::kTeams, RuleKind::kGroups}) {
    const auto i = static_cast<size_t>(kind);
    if (allow[i].namesUpstream(upstream) || deny[i].namesUpstream(upstream)) return true;
  }
  return false;
}

const std::string* PrincipalSet::find(const std::string& upstream, const std::string& value) const {
  return lookup(names_, upstream, value);
}

const std::string* PrincipalSet::findId(const std::string& upstream,
                                        const std::string& subject) const {
  return ids_.empty() || subject.empty() ? nullptr : lookup(ids_, upstream, subject);
}

const std::string* PrincipalSet::lookup(const Entries& entries, const std::string& upstream,
                                        const std::string& value) {
  auto it = entries.find(value);
  if (it == entries.end()) return nullptr;
  const std::string* any = nullptr;
  for (const Holder& h : it->second) {
    if (h.upstream == upstream) return &h.label;  // an entry for this upstream wins
    if (h.upstream == kAnyUpstream && !any) any = &h.label;
  }
  return any;
}

Subject::Subject(const Identity& identity) : who(identity), username(lower(identity.username)) {
  if (identity.email_verified && !identity.email.empty()) {
    email = lower(identity.email);
    size_t at = email.rfind('@');
    if (at != std::string::npos) email_domain = email.substr(at + 1);
  }
  for (const auto& g : identity.groups) {
    std::string l = lower(g);
    (l.find('/') == std::string::npos ? orgs : teams).push_back(std::move(l));
  }
}

bool RuleSet::hasAllowRules() const {
  return std::any_of(allow.begin(), allow.end(), [](const PrincipalSet& s) { return !s.empty(); });
}

std::optional<Match> RuleSet::match(const std::array<PrincipalSet, kRuleKinds>& sets,
                                    const Subject& s) {
  const std::string& upstream = s.who.upstream_id;
  for (RuleKind kind : kAllRuleKinds) {
    const PrincipalSet& set = sets[static_cast<size_t>(kind)];
    if (set.empty()) continue;
    const std::string* label = nullptr;
    switch (kind) {
      case RuleKind::kUsers:
        // The id first: it decides even when the login has since been renamed.
        if ((label = set.findId(upstream, s.who.subject))) return Match{kind, *label, true};
        if (!s.username.empty()) label = set.find(upstream, s.username);
        // "*" is every signed-in person; a machine client is admitted only by its own name.
        if (!label && upstream != kClientUpstream) label = set.find(upstream, "*");
        break;
      case RuleKind::kGroups:
        label = findAny(set, upstream, s.who.groups);
        break;
      case RuleKind::kOrgs:
        label = findAny(set, upstream, s.orgs);
        break;
      case RuleKind::kTeams:
        label = findAny(set, upstream, s.teams);
        break;
      case RuleKind::kEmails:
        if (!s.email.empty()) label = set.find(upstream, s.email);
        break;
      case RuleKind::kEmailDomains:
        if (!s.email_domain.empty()) label = set.find(upstream, s.email_domain);
        break;
    }
    if (label) return Match{kind, *label};
  }
  return std::nullopt;
}

}  // namespace broker::policy
