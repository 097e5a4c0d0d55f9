// Compiles a policy file into a CompiledPolicy. Every check that can be made without an identity
// is made here, once, so evaluation has nothing left to validate.
#include <algorithm>
#include <cctype>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string_view>
#include <vector>

#include "broker/config/config.h"
#include "broker/core/crypto.h"
#include "broker/oauth/uri.h"
#include "config/yaml_source.h"
#include "policy/compiled_policy.h"

namespace broker::policy {
namespace {

using yamlsrc::Entry;
using yamlsrc::Item;
using yamlsrc::SourceError;

constexpr std::string_view kGroupPrefix = "group:";
// After "upstream:": the account's subject at that upstream rather than its name.
constexpr std::string_view kIdPrefix = "id:";    // GitHub numeric user id
constexpr std::string_view kSubPrefix = "sub:";  // OIDC sub (opaque, at most 255 characters)

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

bool startsWith(const std::string& s, std::string_view prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

bool hasSpaceOrControl(const std::string& s) {
  return std::any_of(s.begin(), s.end(), [](unsigned char c) { return c <= 0x20 || c == 0x7f; });
}

// Lower-case DNS name or IPv4 address: dot-separated labels of [a-z0-9-], no label starting or
// ending with '-'.
bool validDomain(const std::string& s) {
  if (s.empty() || s.size() > 253) return false;
  std::stringstream in(s);
  std::string label;
  size_t labels = 0;
  while (std::getline(in, label, '.')) {
    ++labels;
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') {
      return false;
    }
    for (unsigned char c : label) {
      if (!std::islower(c) && !std::isdigit(c) && c != '-') return false;
    }
  }
  return labels > 0 && s.back() != '.';
}

// Server, sub-scope and group names: [a-z0-9][a-z0-9._-]*.
bool validName(const std::string& s) {
  if (s.empty() || s.size() > 64) return false;
  if (!std::islower(static_cast<unsigned char>(s[0])) &&
      !std::isdigit(static_cast<unsigned char>(s[0]))) {
    return false;
  }
  return std::all_of(s.begin(), s.end(), [](unsigned char c) {
    return std::islower(c) || std::isdigit(c) || c == '.' || c == '_' || c == '-';
  });
}

// GitHub org and team slugs, compared case-insensitively.
bool validSlug(const std::string& s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](unsigned char c) {
    return std::isalnum(c) || c == '-' || c == '_' || c == '.';
  });
}

bool validScopeSyntax(const std::string& scope) {
  if (!startsWith(scope, "mcp:")) return false;
  std::vector<std::string> parts;
  std::stringstream in(scope.substr(4));
  std::string part;
  while (std::getline(in, part, ':')) parts.push_back(part);
  if (scope.back() == ':' || parts.size() < 2 || parts.size() > 3) return false;
  return validDomain(parts[0]) && validName(parts[1]) && (parts.size() == 2 || validName(parts[2]));
}

// The keys a server or sub-scope accepts: `own` plus every allowed_* and denied_* list.
std::vector<std::string> keysWithRules(std::vector<std::string> own) {
  for (const char* side : {"allowed_", "denied_"}) {
    for (RuleKind kind : kAllRuleKinds) own.push_back(side + std::string(kindName(kind)));
  }
  return own;
}

// Splits "allowed_teams" into (allow, kTeams); false for any other key.
bool ruleKey(const std::string& key, bool& allow, RuleKind& kind) {
  std::string rest;
  if (startsWith(key, "allowed_")) {
    allow = true;
    rest = key.substr(8);
  } else if (startsWith(key, "denied_")) {
    allow = false;
    rest = key.substr(7);
  } else {
    return false;
  }
  for (RuleKind k : kAllRuleKinds) {
    if (rest == kindName(k)) {
      kind = k;
      return true;
    }
  }
  return false;
}

class Loader {
 public:
  Loader(const std::string& file, const LoadOptions& options) : src_(file), options_(options) {}

  std::shared_ptr<const Policy> load(const std::string& text);

 private:
  void readGroups(const Entry& groups);
  void readServers(const Entry& servers);
  std::unique_ptr<CompiledServer> readServer(const Entry& e, const std::string& domain);
  void readSubScopes(const Entry& e, CompiledServer& server);
  void readResources(const Entry& e, const std::string& owner, ServerInfo& info);
  void readTests(const Entry& tests);
  PolicyTest readTest(const YAML::Node& node, const std::string& key);
  Identity readTestIdentity(const Entry& e);
  // Handles one allowed_* / denied_* entry; false when `e` is not a rule key.
  bool readRule(const Entry& e, RuleSet& rules);
  void addPrincipal(const Item& item, RuleKind kind, PrincipalSet& set);
  void addEntry(const Item& item, RuleKind kind, PrincipalSet& set, const std::string& label,
                const std::string& used_by);
  // "upstream:id:N" / "upstream:sub:S"; `id` is what follows "upstream:".
  void addId(const Item& item, const std::string& upstream, const std::string& id,
             PrincipalSet& set, const std::string& label, const std::string& used_by);
  // An entry's error or warning: where it is written, and which list uses it when that is
  // elsewhere (a group member).
  std::string entryMessage(const Item& item, const std::string& used_by,
                           const std::string& text) const {
    return src_.message(item.node, item.key,
                        text + (used_by.empty() ? "" : " (used by " + used_by + ")"));
  }
  [[noreturn]] void rejectEntry(const Item& item, const std::string& used_by,
                                const std::string& text) const {
    throw SourceError(entryMessage(item, used_by, text));
  }
  // Warns, once per entry as written, that a users entry names a login rather than an account.
  void warnMutableName(const Item& item, const std::string& upstream, const std::string& name,
                       const std::string& used_by);
  bool isKnownUpstream(const std::string& id) const {
    const auto& known = options_.known_upstreams;
    return std::find(known.begin(), known.end(), id) != known.end();
  }

  // Why a well-formed upstream id is not acceptable (the broker does not know it), or "".
  std::string unknownUpstream(const std::string& id) const;
  void checkKnownUpstream(const YAML::Node& at, const std::string& key, const std::string& id) {
    if (auto why = unknownUpstream(id); !why.empty()) src_.fail(at, key, why);
  }

  yamlsrc::Source src_;
  const LoadOptions& options_;
  CompiledPolicy::Parts parts_;
  std::map<std::string, std::vector<Item>> groups_;
  std::set<std::string> scopes_;
  std::map<std::string, std::string> resource_owner_;
  // Warnings by position, so they print in file order however groups are expanded.
  std::map<std::pair<int, int>, std::string> warnings_;
};

std::string Loader::unknownUpstream(const std::string& id) const {
  const auto& known = options_.known_upstreams;
  if (known.empty() || std::find(known.begin(), known.end(), id) != known.end()) return "";
  std::string list;
  for (const auto& k : known) list += (list.empty() ? "" : ", ") + k;
  return "upstream '" + id + "' is not configured (the broker knows: " + list + ")";
}

std::shared_ptr<const Policy> Loader::load(const std::string& text) {
  parts_.source = src_.file();
  parts_.sha256 = sha256Hex(text);
  YAML::Node root = src_.load(text);
  if (root.IsNull()) throw SourceError(src_.file() + ":1:1: the policy file is empty");
  if (!root.IsMap()) src_.fail(root, "", "the policy must be a mapping with a servers key");

  std::map<std::string, Entry> top;
  for (auto& e : src_.entries(
           root, "", {"default_scopes", "default_upstream", "groups", "servers", "version", "tests"})) {
    top.emplace(e.name, e);
  }
  if (auto it = top.find("version"); it != top.end()) {
    parts_.version = src_.scalar(it->second);
    if (parts_.version.empty() || parts_.version.size() > 128) {
      src_.fail(it->second.at, it->second.key,
                "expected a non-empty label of at most 128 characters");
    }
  }
  if (auto it = top.find("default_upstream"); it != top.end()) {
    parts_.default_upstream = src_.scalar(it->second);
    if (!config::isValidUpstreamId(parts_.default_upstream)) {
      src_.fail(it->second.at, it->second.key,
                "expected an upstream id ([a-z0-9][a-z0-9_-]*, as in the broker config)");
    }
    checkKnownUpstream(it->second.at, it->second.key, parts_.default_upstream);
  }
  if (auto it = top.find("groups"); it != top.end()) readGroups(it->second);
  auto servers = top.find("servers");
  if (servers == top.end()) src_.fail(root, "servers", "required");
  readServers(servers->second);

  if (auto it = top.find("default_scopes"); it != top.end()) {
    for (const Item& item : src_.scalarList(it->second, true)) {
      const std::string scope = item.node.Scalar();
      if (!validScopeSyntax(scope)) {
        src_.fail(item.node, item.key,
                  "malformed scope '" + scope + "' (expected mcp:<domain>:<server>[:<scope>])");
      }
      if (!scopes_.count(scope)) {
        src_.fail(item.node, item.key, "'" + scope + "' names no server defined under servers");
      }
      parts_.default_scopes.push_back(scope);
    }
  }
  if (auto it = top.find("tests"); it != top.end()) readTests(it->second);
  for (auto& [at, text] : warnings_) parts_.warnings.push_back(std::move(text));
  return std::make_shared<CompiledPolicy>(std::move(parts_));
}

void Loader::readTests(const Entry& tests) {
  if (!tests.value.IsSequence()) {
    src_.fail(tests.at, tests.key, "expected a list of {identity, scope, expect} cases");
  }
  size_t i = 0;
  for (const auto& node : tests.value) {
    parts_.tests.push_back(readTest(node, tests.key + "[" + std::to_string(i++) + "]"));
  }
}

PolicyTest Loader::readTest(const YAML::Node& node, const std::string& key) {
  if (!node.IsMap()) src_.fail(node, key, "expected a mapping with identity, scope and expect");
  PolicyTest test;
  test.where = src_.where(node) + ": " + key;
  bool has_identity = false, has_expect = false;
  for (const Entry& f : src_.entries(node, key, {"name", "identity", "scope", "expect"})) {
    if (f.name == "name") {
      test.name = src_.scalar(f);
    } else if (f.name == "identity") {
      test.who = readTestIdentity(f);
      has_identity = true;
    } else if (f.name == "scope") {
      for (const Item& item : src_.scalarList(f, true)) {
        const std::string scope = item.node.Scalar();
        // A typo would be denied and so pass every "expect: deny" case without testing anything.
        if (!scopes_.count(scope)) {
          src_.fail(item.node, item.key, "'" + scope + "' is not a scope of this policy");
        }
        test.scopes.push_back(scope);
      }
      if (test.scopes.empty()) src_.fail(f.at, f.key, "name at least one scope");
    } else if (f.name == "expect") {
      const std::string expect = src_.scalar(f);
      if (expect != "allow" && expect != "deny") src_.fail(f.at, f.key, "expected allow or deny");
      test.expect_allowed = expect == "allow";
      has_expect = true;
    }
  }
  if (!has_identity) src_.fail(node, key + ".identity", "required");
  if (test.scopes.empty()) src_.fail(node, key + ".scope", "required");
  if (!has_expect) src_.fail(node, key + ".expect", "required (allow or deny)");
  return test;
}

// The identity as an upstream would prove it: orgs and teams travel in `groups` as GitHub's
// memberships do; a machine client is the principal client:<client_id> and nothing else.
Identity Loader::readTestIdentity(const Entry& e) {
  src_.requireMap(e);
  Identity who;
  who.email_verified = true;
  bool has_client = false, has_person = false, has_upstream = false;
  for (const Entry& f : src_.entries(e.value, e.key,
                                     {"client", "upstream", "user", "id", "orgs", "teams", "groups",
                                      "email", "email_verified"})) {
    has_person = has_person || f.name != "client";
    if (f.name == "client") {
      who.upstream_id = kClientUpstream;
      who.upstream_type = kClientUpstream;
      who.subject = src_.scalar(f);
      if (who.subject.empty() || hasSpaceOrControl(who.subject)) {
        src_.fail(f.at, f.key, "expected a client_id");
      }
      has_client = true;
    } else if (f.name == "upstream") {
      who.upstream_id = src_.scalar(f);
      if (!config::isValidUpstreamId(who.upstream_id) || who.upstream_id == kClientUpstream) {
        src_.fail(f.at, f.key, "'" + who.upstream_id + "' is not an upstream id");
      }
      checkKnownUpstream(f.at, f.key, who.upstream_id);
      has_upstream = true;
    } else if (f.name == "user") {
      who.username = src_.scalar(f);
    } else if (f.name == "id") {
      who.subject = src_.scalar(f);
    } else if (f.name == "email") {
      who.email = src_.scalar(f);
    } else if (f.name == "email_verified") {
      who.email_verified = src_.boolean(f);
    } else {
      for (const Item& item : src_.scalarList(f, true)) {
        const std::string v = item.node.Scalar();
        const bool team = v.find('/') != std::string::npos;
        if ((f.name == "orgs" && team) || (f.name == "teams" && !team)) {
          src_.fail(item.node, item.key,
                    f.name == "orgs" ? "'" + v + "' is a team; list it under teams"
                                     : "team '" + v + "' has no org; write org/team");
        }
        who.groups.push_back(v);
      }
    }
  }
  if (has_client && has_person) {
    src_.fail(e.at, e.key, "a machine client is only `client: <client_id>`");
  }
  if (has_client) return who;
  if (!has_upstream) {
    if (parts_.default_upstream.empty()) src_.fail(e.at, e.key + ".upstream", "required");
    who.upstream_id = parts_.default_upstream;
  }
  if (who.username.empty() && who.subject.empty()) {
    src_.fail(e.at, e.key, "give user, id or both (or client for a machine client)");
  }
  return who;
}

void Loader::readGroups(const Entry& groups) {
  for (const Entry& g : src_.entries(groups.value, groups.key, {})) {
    if (!validName(g.name)) {
      src_.fail(g.key_node, g.key, "group names are lower-case [a-z0-9][a-z0-9._-]*");
    }
    std::vector<Item>& members = groups_[g.name];
    std::vector<std::string> written;
    for (const Item& m : src_.scalarList(g)) {
      if (startsWith(m.node.Scalar(), kGroupPrefix)) {
        src_.fail(m.node, m.key, "a group cannot include another group");
      }
      members.push_back(m);
      written.push_back(m.node.Scalar());
    }
    parts_.groups.emplace_back(g.name, std::move(written));
  }
}

void Loader::readServers(const Entry& servers) {
  if (!servers.value.IsMap() || servers.value.size() == 0) {
    src_.fail(servers.at, servers.key, "expected a mapping of domains to servers");
  }
  for (const Entry& domain : src_.entries(servers.value, servers.key, {})) {
    if (!validDomain(domain.name)) {
      src_.fail(domain.key_node, domain.key,
                "'" + domain.name + "' is not a lower-case DNS name such as example.com");
    }
    if (!domain.value.IsMap() || domain.value.size() == 0) {
      src_.fail(domain.at, domain.key, "expected a mapping of server names to their settings");
    }
    for (const Entry& server : src_.entries(domain.value, domain.key, {})) {
      parts_.servers.push_back(readServer(server, domain.name));
    }
  }
}

std::unique_ptr<CompiledServer> Loader::readServer(const Entry& e, const std::string& domain) {
  if (!validName(e.name)) {
    src_.fail(e.key_node, e.key,
              "'" + e.name + "' is not a valid server name ([a-z0-9][a-z0-9._-]*)");
  }
  src_.requireMap(e);
  auto server = std::make_unique<CompiledServer>();
  ServerInfo& info = server->info;
  info.domain = domain;
  info.server = e.name;
  info.scope = "mcp:" + domain + ":" + e.name;
  info.name = e.name;
  server->rules.path = "servers." + domain + "." + e.name;
  scopes_.insert(info.scope);

  static const std::vector<std::string> kServerKeys =
      keysWithRules({"name", "description", "resource", "access_ttl", "upstreams", "scopes"});
  for (const Entry& f : src_.entries(e.value, e.key, kServerKeys)) {
    if (readRule(f, server->rules)) continue;
    if (f.name == "name") {
      info.name = src_.scalar(f);
    } else if (f.name == "description") {
      info.description = src_.scalar(f);
    } else if (f.name == "resource") {
      readResources(f, server->rules.path, info);
    } else if (f.name == "access_ttl") {
      auto ttl = config::parseDuration(src_.scalar(f));
      if (!ttl || *ttl < 1 || *ttl > 86400) {
        src_.fail(f.at, f.key, "expected a duration between 1s and 24h, such as 900, 15m or 1h");
      }
      info.access_ttl = *ttl;
    } else if (f.name == "upstreams") {
      for (const Item& item : src_.scalarList(f, true)) {
        const std::string id = item.node.Scalar();
        if (!config::isValidUpstreamId(id)) {
          src_.fail(item.node, item.key, "'" + id + "' is not an upstream id");
        }
        checkKnownUpstream(item.node, item.key, id);
        if (server->upstream_set.insert(id).second) server->upstreams.push_back(id);
      }
    } else if (f.name == "scopes") {
      readSubScopes(f, *server);
    }
  }
  return server;
}

void Loader::readSubScopes(const Entry& e, CompiledServer& server) {
  src_.requireMap(e);
  for (const Entry& s : src_.entries(e.value, e.key, {})) {
    if (!validName(s.name)) {
      src_.fail(s.key_node, s.key, "'" + s.name + "' is not a valid scope name");
    }
    SubScope sub;
    sub.name = s.name;
    sub.scope = server.info.scope + ":" + s.name;
    sub.rules.path = server.rules.path + ".scopes." + s.name;
    if (!s.value.IsNull()) {
      static const std::vector<std::string> kSubScopeKeys = keysWithRules({"description"});
      for (const Entry& f : src_.entries(s.value, s.key, kSubScopeKeys)) {
        if (!readRule(f, sub.rules)) sub.description = src_.scalar(f);
      }
    }
    scopes_.insert(sub.scope);
    server.info.sub_scopes.push_back(sub.scope);
    server.sub_scopes.push_back(std::move(sub));
  }
}

void Loader::readResources(const Entry& e, const std::string& owner, ServerInfo& info) {
  for (const Item& item : src_.scalarList(e, true)) {
    auto canonical = oauth::canonicalResource(item.node.Scalar());
    auto uri = canonical ? oauth::parseUri(*canonical) : std::nullopt;
    if (!uri ||
        !(uri->scheme == "https" || (uri->scheme == "http" && oauth::isLoopbackHost(uri->host)))) {
      src_.fail(item.node, item.key,
                "must be an absolute https URI (http only on a loopback host) without fragment "
                "or user information");
    }
    auto [it, inserted] =
        resource_owner_.emplace(*canonical, owner + " (" + src_.whereLine(item.node) + ")");
    if (!inserted) {
      src_.fail(item.node, item.key,
                "'" + *canonical + "' is already the resource of " + it->second);
    }
    info.resources.push_back(*canonical);
  }
}

bool Loader::readRule(const Entry& e, RuleSet& rules) {
  bool allow = false;
  RuleKind kind = RuleKind::kUsers;
  if (!ruleKey(e.name, allow, kind)) return false;
  PrincipalSet& set = (allow ? rules.allow : rules.deny)[static_cast<size_t>(kind)];
  for (const Item& item : src_.scalarList(e)) addPrincipal(item, kind, set);
  return true;
}

void Loader::addPrincipal(const Item& item, RuleKind kind, PrincipalSet& set) {
  const std::string text = item.node.Scalar();
  if (!startsWith(text, kGroupPrefix)) {
    addEntry(item, kind, set, text, "");
    return;
  }
  const std::string name = text.substr(kGroupPrefix.size());
  auto group = groups_.find(name);
  if (group == groups_.end()) {
    src_.fail(item.node, item.key, "group '" + name + "' is not defined under groups");
  }
  for (const Item& member : group->second) addEntry(member, kind, set, text, item.key);
}

void Loader::addEntry(const Item& item, RuleKind kind, PrincipalSet& set, const std::string& label,
                      const std::string& used_by) {
  const std::string text = item.node.Scalar();
  auto reject = [&](const std::string& message) { rejectEntry(item, used_by, message); };
  std::string upstream = parts_.default_upstream.empty() ? kAnyUpstream : parts_.default_upstream;
  std::string name = text;
  if (size_t colon = text.find(':'); colon != std::string::npos) {
    upstream = text.substr(0, colon);
    name = text.substr(colon + 1);
    if (!config::isValidUpstreamId(upstream)) {
      reject("'" + upstream + "' is not an upstream id (write upstream:name)");
    }
    // A machine client: its client_id is assigned by the broker and never changes hands.
    if (upstream == kClientUpstream) {
      if (kind != RuleKind::kUsers)
        reject("machine clients (client:<client_id>) are users entries");
      if (name.empty() || name == "*" || hasSpaceOrControl(name)) {
        reject("'" + name + "' is not a client_id");
      }
      set.addId(upstream, name, label);
      return;
    }
    // "id:12345" reads as an id but would be user 12345 of an upstream called "id".
    if ((upstream + ":" == kIdPrefix || upstream + ":" == kSubPrefix) &&
        !isKnownUpstream(upstream)) {
      reject("an id always names its upstream: write " +
             (parts_.default_upstream.empty() ? "github" : parts_.default_upstream) + ":" + text);
    }
    if (auto why = unknownUpstream(upstream); !why.empty()) reject(why);
    // Only users take ids; an OIDC group claim value may well start with "sub:".
    const bool id_form = startsWith(name, kIdPrefix) || startsWith(name, kSubPrefix);
    if (id_form && kind == RuleKind::kUsers) {
      addId(item, upstream, name, set, label, used_by);
      return;
    }
    if (id_form && (kind == RuleKind::kOrgs || kind == RuleKind::kTeams)) {
      reject("ids name user accounts only: name the org or team by its slug");
    }
  }
  if (name.empty()) reject("empty name");
  // A bare "*" is every signed-in user of the upstreams that may reach the server (its
  // `upstreams:` list), not only of the default upstream; "corp:*" narrows it to one upstream.
  if (text == "*") upstream = kAnyUpstream;
  if (name == "*" && kind != RuleKind::kUsers) {
    reject("'*' is only allowed in allowed_users and denied_users");
  }
  std::string value = lower(name);
  switch (kind) {
    case RuleKind::kUsers:
      if (hasSpaceOrControl(name) || name.find(':') != std::string::npos) {
        reject("'" + name + "' is not a user name");
      }
      if (name != "*") warnMutableName(item, upstream, name, used_by);
      break;
    case RuleKind::kGroups:
      // OIDC group names are opaque claim values: kept exactly as written.
      if (name.front() == ' ' || name.back() == ' ' ||
          std::any_of(name.begin(), name.end(), [](unsigned char c) { return c < 0x20; })) {
        reject("'" + name + "' is not a group name");
      }
      value = name;
      break;
    case RuleKind::kOrgs:
      if (name.find('/') != std::string::npos) {
        reject("'" + name + "' is a team; put org/team entries under allowed_teams/denied_teams");
      }
      if (!validSlug(name)) reject("'" + name + "' is not an org name");
      break;
    case RuleKind::kTeams: {
      size_t slash = name.find('/');
      if (slash == std::string::npos || slash == 0) {
        reject("team '" + name + "' has no org; write org/team (e.g. acme/platform)");
      }
      if (!validSlug(name.substr(0, slash)) || !validSlug(name.substr(slash + 1))) {
        reject("'" + name + "' is not an org/team name");
      }
      break;
    }
    case RuleKind::kEmails: {
      size_t at = name.find('@');
      if (hasSpaceOrControl(name) || at == std::string::npos || at == 0 ||
          name.find('@', at + 1) != std::string::npos || !validDomain(value.substr(at + 1))) {
        reject("'" + name + "' is not an email address");
      }
      break;
    }
    case RuleKind::kEmailDomains:
      if (!validDomain(value)) {
        reject("'" + name + "' is not a domain such as example.com (no '@', no wildcard)");
      }
      break;
  }
  set.add(upstream, value, label);
}

void Loader::addId(const Item& item, const std::string& upstream, const std::string& id,
                   PrincipalSet& set, const std::string& label, const std::string& used_by) {
  auto reject = [&](const std::string& message) { rejectEntry(item, used_by, message); };
  std::string subject;
  if (startsWith(id, kIdPrefix)) {
    // As GitHub sends it: a positive 64-bit integer, no sign, no leading zero.
    subject = id.substr(kIdPrefix.size());
    if (subject.empty() || subject.size() > 19 || subject.front() == '0' ||
        !std::all_of(subject.begin(), subject.end(),
                     [](unsigned char c) { return std::isdigit(c); })) {
      reject("'" + subject + "' is not a numeric id (write " + upstream +
             ":sub:VALUE for an OIDC sub)");
    }
  } else {
    // OIDC Core 1.0 section 2: at most 255 ASCII characters, case-sensitive.
    subject = id.substr(kSubPrefix.size());
    if (subject.empty() || subject.size() > 255 || hasSpaceOrControl(subject)) {
      reject("'" + subject + "' is not a subject (1-255 characters, no spaces)");
    }
  }
  set.addId(upstream, subject, label);
}

void Loader::warnMutableName(const Item& item, const std::string& upstream, const std::string& name,
                             const std::string& used_by) {
  const auto at = std::make_pair(item.node.Mark().line, item.node.Mark().column);
  if (warnings_.count(at)) return;  // a group member used by several lists
  const std::string up = upstream == kAnyUpstream ? "<upstream>" : upstream;
  std::string what =
      name.find('@') == std::string::npos
          ? "'" + name + "' is a username"
          : "'" + name + "' is a username that looks like an email (it is not checked as one: " +
                "allowed_emails matches only a verified email)";
  warnings_.emplace(
      at,
      entryMessage(
          item, used_by,
          what + ", which can be renamed and then taken by another account; name the account by " +
              "its id instead: " + up + ":id:<GitHub user id> or " + up + ":sub:<OIDC sub>"));
}

}  // namespace

std::shared_ptr<const Policy> Policy::loadString(const std::string& yaml,
                                                 const std::string& filename,
                                                 const LoadOptions& options) {
  std::shared_ptr<const Policy> policy;
  try {
    policy = Loader(filename, options).load(yaml);
  } catch (const SourceError& e) {
    throw PolicyError(e.what());
  }
  if (options.run_tests) {
    if (auto failures = runPolicyTests(*policy); !failures.empty()) {
      throw PolicyError(describeFailures(failures));
    }
  }
  return policy;
}

std::shared_ptr<const Policy> Policy::loadFile(const std::string& path,
                                               const LoadOptions& options) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw PolicyError(path + ": cannot read the policy file");
  std::stringstream text;
  text << in.rdbuf();
  return loadString(text.str(), path, options);
}

namespace {

template <class Load>
LoadOutcome outcome(Load&& load) {
  try {
    return {load(), ""};
  } catch (const std::exception& e) {
    return {nullptr, e.what()};
  }
}

}  // namespace

LoadOutcome Policy::tryLoadFile(const std::string& path, const LoadOptions& options) {
  return outcome([&] { return loadFile(path, options); });
}

LoadOutcome Policy::tryLoadString(const std::string& yaml, const std::string& filename,
                                  const LoadOptions& options) {
  return outcome([&] { return loadString(yaml, filename, options); });
}

}  // namespace broker::policy
