// Who has access, and what happened: `audit`, `sessions list|revoke` and
// `policy check --against-store`. They read the store directly; nothing here needs the signing
// keys or the master keyring.

#include <algorithm>
#include <ctime>
#include <iostream>
#include <map>
#include <memory>

#include <nlohmann/json.hpp>

#include "app/cli_support.h"
#include "app/commands.h"
#include "broker/config/config.h"
#include "broker/core/clock.h"
#include "broker/core/identity.h"
#include "broker/core/log.h"
#include "broker/core/random.h"
#include "broker/policy/policy.h"
#include "broker/store/audit_log.h"
#include "broker/store/store.h"
#include "broker/upstream/factory.h"
#include "oauth/internal.h"

namespace broker::app {
namespace {

using nlohmann::json;

struct StoreRuntime {
  config::Config config;
  std::unique_ptr<store::Store> store;
  std::unique_ptr<store::AuditLog> audit;  // after the store: flushed before it closes

  explicit StoreRuntime(const GlobalOptions& g) {
    config = upstream::loadCheckedConfig(g.config_path);
    log::Level level;
    if (log::parseLevel(config.log_level, level)) log::setLevel(level);
    for (const auto& warning : config.warnings) {
      std::cerr << "mcp-auth-broker: warning: " << config.source_path << ": " << warning << "\n";
    }
    store::StoreOptions so;
    so.pool_size = 2;
    store = store::openStore(config.storage, so);
    audit = std::make_unique<store::AuditLog>(*store, Clock::system(), Random::system());
  }
};

// Columns padded to their widest cell; the last column is not padded.
void printTable(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> width;
  for (const auto& row : rows) {
    width.resize(std::max(width.size(), row.size()));
    for (size_t i = 0; i < row.size(); ++i) width[i] = std::max(width[i], row[i].size());
  }
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line += std::string(width[i] - row[i].size() + 2, ' ');
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    std::cout << line << "\n";
  }
}

std::string orDash(const std::string& s) {
  return s.empty() ? "-" : s;
}

// The detail object as "key=value" pairs, for the table.
std::string detailText(const std::string& detail) {
  auto j = json::parse(detail, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return detail;
  std::string out;
  for (const auto& [k, v] : j.items()) {
    out += (out.empty() ? "" : " ") + k + "=" + (v.is_string() ? v.get<std::string>() : v.dump());
  }
  return out;
}

std::string usernameOf(const std::string& identity_json) {
  Identity who;
  if (!Identity::fromJson(identity_json, who)) return "";
  return who.username;
}

}  // namespace

std::optional<int64_t> parseSince(const std::string& text, int64_t now) {
  if (text.empty()) return std::nullopt;
  // A duration back from now: "24h", "7d", "90m", "30s".
  if (std::isalpha(static_cast<unsigned char>(text.back()))) {
    if (auto d = config::parseDuration(text)) return now - *d;
  }
  // A moment in UTC: "2026-12-06T13:05:00Z" or a day, "2026-12-06".
  for (const char* format : {"%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%d"}) {
    std::tm tm{};
    const char* end = strptime(text.c_str(), format, &tm);
    if (end && *end == '\0') return static_cast<int64_t>(timegm(&tm));
  }
  return std::nullopt;
}

int runAudit(const GlobalOptions& g, const AuditOptions& o) {
  return guarded([&] {
    store::AuditQuery q;
    q.subject = o.subject;
    q.client_id = o.client;
    q.server = o.server;
    q.limit = o.limit;
    if (!o.since.empty()) {
      auto since = parseSince(o.since, Clock::system().now());
      if (!since) {
        std::cerr << "audit: --since takes a duration back from now (24h, 7d) or a UTC time "
                     "(2026-12-06T13:05:00Z, 2026-12-06)\n";
        return 2;
      }
      q.since = *since;
    }
    StoreRuntime rt(g);
    auto events = rt.store->listAudit(q);
    if (!events.ok()) {
      std::cerr << "audit: " << events.error().message << "\n";
      return 1;
    }
    if (o.json) {
      json out = json::array();
      for (const auto& e : events.value()) {
        auto detail = json::parse(e.detail, nullptr, false);
        out.push_back({{"id", e.event_id},
                       {"time", isoTime(e.at)},
                       {"at", e.at},
                       {"event", e.event},
                       {"actor", e.actor},
                       {"client_id", e.client_id},
                       {"subject", e.subject},
                       {"upstream", e.upstream},
                       {"servers", oauth::splitScopes(e.servers)},
                       {"rule", e.rule},
                       {"detail", detail.is_discarded() ? json(e.detail) : detail}});
      }
      std::cout << out.dump(2) << "\n";
      return 0;
    }
    std::vector<std::vector<std::string>> rows = {
        {"TIME", "EVENT", "ACTOR", "CLIENT", "SUBJECT", "SERVERS", "RULE", "DETAIL"}};
    for (const auto& e : events.value()) {
      rows.push_back({isoTime(e.at), e.event, orDash(e.actor), orDash(e.client_id),
                      orDash(e.subject), orDash(e.servers), orDash(e.rule), detailText(e.detail)});
    }
    printTable(rows);
    return 0;
  });
}

int runSessionsList(const GlobalOptions& g, const SessionsOptions& o) {
  return guarded([&] {
    StoreRuntime rt(g);
    store::SessionQuery q;
    q.now = Clock::system().now();
    q.subject = o.subject;
    q.client_id = o.client;
    q.server = o.server;
    auto sessions = rt.store->listSessions(q);
    if (!sessions.ok()) {
      std::cerr << "sessions list: " << sessions.error().message << "\n";
      return 1;
    }
    if (o.json) {
      json out = json::array();
      for (const auto& s : sessions.value()) {
        out.push_back({{"session", s.family_id},
                       {"subject", s.subject},
                       {"username", usernameOf(s.identity_json)},
                       {"client_id", s.client_id},
                       {"client_name", s.client_name},
                       {"servers", oauth::splitScopes(s.scope)},
                       {"since", isoTime(s.created_at)},
                       {"last_used", isoTime(s.last_used_at)},
                       {"expires", isoTime(s.expires_at)}});
      }
      std::cout << out.dump(2) << "\n";
      return 0;
    }
    std::vector<std::vector<std::string>> rows = {
        {"SESSION", "SUBJECT", "USER", "CLIENT", "SERVERS", "SINCE", "LAST_USED", "EXPIRES"}};
    for (const auto& s : sessions.value()) {
      std::string client = s.client_id;
      if (!s.client_name.empty()) client += " (" + s.client_name + ")";
      rows.push_back({s.family_id, s.subject, orDash(usernameOf(s.identity_json)), client, s.scope,
                      isoTime(s.created_at), isoTime(s.last_used_at), isoTime(s.expires_at)});
    }
    printTable(rows);
    return 0;
  });
}

int runSessionsRevoke(const GlobalOptions& g, const SessionsRevokeOptions& o) {
  const int given = !o.session.empty() + !o.subject.empty() + !o.client.empty() + o.all;
  if (given != 1) {
    std::cerr << "sessions revoke: give exactly one of SESSION, --subject, --client or --all\n";
    return 2;
  }
  return guarded([&] {
    StoreRuntime rt(g);
    const int64_t now = Clock::system().now();
    Result<int64_t> n = int64_t{0};
    if (!o.session.empty()) {
      auto st = rt.store->revokeFamily(o.session, "admin_revoked", now);
      if (!st.ok() && st.error().code == ErrorCode::kNotFound) {
        std::cerr << "sessions revoke: no session " << o.session
                  << " (`sessions list` shows the live ones)\n";
        return 1;
      }
      n = st.ok() ? Result<int64_t>(1) : Result<int64_t>(st.error());
    } else if (!o.subject.empty()) {
      n = rt.store->revokeFamiliesBySubject(o.subject, now);
    } else if (!o.client.empty()) {
      n = rt.store->revokeFamiliesByClient(o.client, now);
    } else {
      n = rt.store->revokeAllFamilies(now);
    }
    if (!n.ok()) {
      std::cerr << "sessions revoke: " << n.error().message << "\n";
      return 1;
    }
    log::security("sessions_revoked", {{"session", o.session},
                                       {"subject", o.subject},
                                       {"client_id", o.client},
                                       {"all", o.all},
                                       {"sessions", n.value()}});
    store::AuditEvent e;
    e.event = "sessions_revoked";
    e.actor = "admin";
    e.client_id = o.client;
    e.subject = o.subject;
    e.upstream = o.subject.substr(0, o.subject.find(':'));
    e.detail = json{{"session", o.session}, {"all", o.all}, {"sessions", n.value()}}.dump();
    rt.audit->record(std::move(e));
    std::cout << "revoked " << n.value() << (n.value() == 1 ? " session\n" : " sessions\n");
    return 0;
  });
}

int runPolicyCheckAgainstStore(const GlobalOptions& g, const std::string& file) {
  return guarded([&] {
    StoreRuntime rt(g);
    policy::LoadOptions options;
    for (const auto& [id, settings] : rt.config.upstreams) options.known_upstreams.push_back(id);
    auto loaded = policy::Policy::tryLoadFile(file, options);
    if (!loaded.policy) {
      std::cerr << "mcp-auth-broker: " << loaded.error << "\n";
      return 1;
    }
    store::SessionQuery q;
    q.now = Clock::system().now();
    auto sessions = rt.store->listSessions(q);
    if (!sessions.ok()) {
      std::cerr << "policy check: " << sessions.error().message << "\n";
      return 1;
    }
    // Each session as its next refresh would see it: the identity as last seen (the refresh
    // reads it again from upstreams that can), the scopes of its current token, this policy.
    std::vector<std::vector<std::string>> rows = {
        {"EFFECT", "SESSION", "SUBJECT", "USER", "CLIENT", "LOSES", "RULE"}};
    size_t cut = 0, narrowed = 0;
    for (const auto& s : sessions.value()) {
      Identity who;
      if (!Identity::fromJson(s.identity_json, who)) continue;
      auto review = oauth::reviewScopes(*loaded.policy, who, oauth::splitScopes(s.scope));
      if (review.dropped.empty()) continue;
      const bool all = review.kept.empty();
      ++(all ? cut : narrowed);
      rows.push_back({all ? "cut" : "narrowed", s.family_id, s.subject, orDash(who.username),
                      s.client_id, oauth::joinScopes(review.dropped), review.rule});
    }
    std::cout << file << " against the store: " << sessions->size() << " live sessions, " << cut
              << " cut at their next refresh, " << narrowed << " narrowed\n";
    if (rows.size() > 1) printTable(rows);
    return 0;
  });
}

}  // namespace broker::app
