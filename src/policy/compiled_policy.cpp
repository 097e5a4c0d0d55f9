#include "policy/compiled_policy.h"

#include <sstream>

namespace broker::policy {
namespace {

constexpr const char* kNoAllowRule = "no allow rule matched";

std::string describeWho(const Identity& who) {
  const std::string& name = who.username.empty() ? who.subject : who.username;
  return name + " (" + (who.upstream_id.empty() ? "unknown upstream" : who.upstream_id) + ")";
}

Decision matched(bool allowed, const RuleSet& rules, const Match& m, const Identity& who,
                 const std::string& scope) {
  const std::string list = std::string(allowed ? "allowed_" : "denied_") + kindName(m.kind);
  // Through a group the label alone would not say that the id decided.
  const std::string how = m.by_id ? ", by account id " + who.subject : "";
  return {allowed, rules.path + "." + list + "[" + m.label + "]",
          describeWho(who) + (allowed ? " may use " : " may not use ") + scope + " (" + list +
              ": " + m.label + how + ")"};
}

Decision noAllowRule(const Identity& who, const std::string& scope) {
  return {false, kNoAllowRule, describeWho(who) + " is not allowed to use " + scope};
}

// Deny wins over allow; nothing matched means denied.
Decision applyRules(const RuleSet& rules, const Subject& s, const std::string& scope) {
  if (auto m = rules.matchDeny(s)) return matched(false, rules, *m, s.who, scope);
  if (auto m = rules.matchAllow(s)) return matched(true, rules, *m, s.who, scope);
  return noAllowRule(s.who, scope);
}

void describeRules(std::ostream& out, const RuleSet& rules, const std::string& indent,
                   bool inherits_allow) {
  auto line = [&](const char* side, const std::array<PrincipalSet, kRuleKinds>& sets) {
    std::string text;
    for (RuleKind kind : kAllRuleKinds) {
      const auto& labels = sets[static_cast<size_t>(kind)].labels();
      if (labels.empty()) continue;
      text += text.empty() ? "" : "; ";
      text += kindName(kind);
      for (size_t i = 0; i < labels.size(); ++i) text += (i ? ", " : " ") + labels[i];
    }
    if (!text.empty()) out << indent << side << ": " << text << "\n";
  };
  if (!rules.hasAllowRules()) {
    out << indent << "allow: " << (inherits_allow ? "as the server" : "nobody (no allow rules)")
        << "\n";
  }
  line("allow", rules.allow);
  line("deny", rules.deny);
}

}  // namespace

CompiledPolicy::CompiledPolicy(Parts parts) : parts_(std::move(parts)) {
  for (const auto& server : parts_.servers) {
    scopes_.emplace(server->info.scope, ScopeTarget{server.get(), nullptr});
    for (const auto& sub : server->sub_scopes) {
      scopes_.emplace(sub.scope, ScopeTarget{server.get(), &sub});
    }
    for (const auto& r : server->info.resources) resources_.emplace(r, &server->info);
  }
}

bool CompiledPolicy::needsMemberships(const std::string& upstream) const {
  for (const auto& server : parts_.servers) {
    if (!server->upstream_set.empty() && !server->upstream_set.count(upstream)) continue;
    if (server->rules.readsMemberships(upstream)) return true;
    for (const auto& sub : server->sub_scopes) {
      if (sub.rules.readsMemberships(upstream)) return true;
    }
  }
  return false;
}

const ServerInfo* CompiledPolicy::findScope(const std::string& scope) const {
  auto it = scopes_.find(scope);
  return it == scopes_.end() ? nullptr : &it->second.server->info;
}

const ServerInfo* CompiledPolicy::findResource(const std::string& resource) const {
  auto it = resources_.find(resource);
  return it == resources_.end() ? nullptr : it->second;
}

std::vector<const ServerInfo*> CompiledPolicy::servers() const {
  std::vector<const ServerInfo*> out;
  out.reserve(parts_.servers.size());
  for (const auto& s : parts_.servers) out.push_back(&s->info);
  return out;
}

Decision CompiledPolicy::evaluate(const Identity& who, const std::string& scope) const {
  auto it = scopes_.find(scope);
  if (it == scopes_.end()) {
    return {false, "unknown scope", scope + " is not defined by the access policy"};
  }
  const CompiledServer& server = *it->second.server;
  if (!server.upstream_set.empty() && !server.upstream_set.count(who.upstream_id)) {
    return {false, server.rules.path + ".upstreams",
            scope + " cannot be reached by signing in through " +
                (who.upstream_id.empty() ? "an unknown upstream" : who.upstream_id)};
  }
  Subject subject(who);
  Decision decision = applyRules(server.rules, subject, scope);
  const SubScope* sub = it->second.sub;
  if (!decision.allowed || sub == nullptr) return decision;

  if (auto m = sub->rules.matchDeny(subject)) return matched(false, sub->rules, *m, who, scope);
  if (!sub->rules.hasAllowRules()) return decision;
  if (auto m = sub->rules.matchAllow(subject)) return matched(true, sub->rules, *m, who, scope);
  return noAllowRule(who, scope);
}

std::string CompiledPolicy::summary() const {
  std::ostringstream out;
  out << parts_.source << ": " << parts_.servers.size()
      << (parts_.servers.size() == 1 ? " server\n" : " servers\n");
  out << "default upstream: "
      << (parts_.default_upstream.empty()
              ? "none (bare names match every upstream)"
              : parts_.default_upstream + " (bare names match only this upstream)")
      << "\n";
  for (const auto& [name, members] : parts_.groups) {
    out << "group " << name << ":";
    for (const auto& m : members) out << " " << m;
    out << "\n";
  }
  if (!parts_.default_scopes.empty()) {
    out << "default scopes:";
    for (const auto& s : parts_.default_scopes) out << " " << s;
    out << "\n";
  }
  for (const auto& server : parts_.servers) {
    const ServerInfo& info = server->info;
    out << "\n" << info.scope;
    if (info.name != info.server) out << "  (" << info.name << ")";
    out << "\n";
    for (const auto& r : info.resources) out << "  resource: " << r << "\n";
    if (info.access_ttl > 0) out << "  access_ttl: " << info.access_ttl << "s\n";
    if (!server->upstreams.empty()) {
      out << "  upstreams:";
      for (const auto& u : server->upstreams) out << " " << u;
      out << "\n";
    }
    describeRules(out, server->rules, "  ", false);
    for (const auto& sub : server->sub_scopes) {
      out << "  " << sub.scope << "\n";
      describeRules(out, sub.rules, "    ", true);
    }
  }
  return out.str();
}

}  // namespace broker::policy
