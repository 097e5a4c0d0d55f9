// Subcommand implementations. `serve` wires every module together; this is the one place that
// knows all concrete types.

#include "app/commands.h"
#include "app/cli_support.h"

#include <pthread.h>
#include <signal.h>

#include <algorithm>
#include <condition_variable>
#include <ctime>
#include <iostream>
#include <mutex>
#include <thread>

#include <nlohmann/json.hpp>

#include "broker/config/config.h"
#include "broker/core/broker_metrics.h"
#include "broker/core/crypto.h"
#include "broker/core/log.h"
#include "broker/http/server.h"
#include "broker/oauth/broker.h"
#include "broker/oauth/client_rules.h"
#include "broker/policy/file_watcher.h"
#include "broker/policy/policy.h"
#include "broker/store/audit_log.h"
#include "broker/store/revocation_list.h"
#include "broker/store/store.h"
#include "broker/store/store_monitor.h"
#include "broker/token/key_manager.h"
#include "broker/upstream/factory.h"
#include "oauth/client_metadata.h"

namespace broker::app {
namespace {

// The one place every command reads the configuration. What the file allows but should be said
// out loud (dev_mode, a development-only master key) is said here: as log lines when `serving`,
// as plain lines on stderr for the one-shot commands, whose output people read.
config::Config loadConfig(const GlobalOptions& g, bool serving) {
  config::Config config = upstream::loadCheckedConfig(g.config_path);
  log::Level level;
  if (log::parseLevel(config.log_level, level)) log::setLevel(level);
  for (const auto& warning : config.warnings) {
    if (serving) {
      log::warn("config_warning", {{"file", config.source_path}, {"warning", warning}});
    } else {
      std::cerr << "mcp-auth-broker: warning: " << config.source_path << ": " << warning << "\n";
    }
  }
  return config;
}

// What every database-backed command needs.
struct Runtime {
  config::Config config;
  metrics::Registry registry;
  std::unique_ptr<metrics::BrokerMetrics> metrics;  // `serve` with metrics.enabled only
  std::unique_ptr<store::Store> store;
  // Declared after the store: destroyed (and so flushed) before it.
  std::unique_ptr<store::AuditLog> audit;
  std::shared_ptr<const token::MasterKeyring> master;
  std::shared_ptr<token::KeyManager> keys;

  // `serving`: size the connection pool for the worker threads and the threads that answer
  // /authorize after fetching a client metadata document.
  explicit Runtime(const GlobalOptions& g, bool serving = false) {
    config = loadConfig(g, serving);
    if (serving && config.metrics.enabled) {
      metrics = std::make_unique<metrics::BrokerMetrics>(registry);
    }
    store::StoreOptions so;
    so.timeout_ms = static_cast<int>(config.storage_timeout_ms);
    so.pool_size =
        serving ? config.server.workers + oauth::ClientMetadataOptions{}.fetch_threads + 2 : 2;
    so.metrics = metrics.get();
    store = store::openStore(config.storage, so);
    audit =
        std::make_unique<store::AuditLog>(*store, Clock::system(), Random::system(), metrics.get());
    master = token::MasterKeyring::create(config.master_keys, Random::system());
    token::KeyPolicy kp;
    kp.rotation_period = config.keys.rotation_period;
    kp.publish_ahead = config.keys.publish_ahead;
    kp.algorithm =
        token::parseSigningAlg(config.keys.algorithm).value_or(token::SigningAlg::kRS256);
    kp.max_token_ttl = std::max<int64_t>(config.tokens.access_ttl, 3600);
    kp.on_rotated = [this](const std::string& kid, bool automatic) {
      log::security("key_rotated", {{"kid", kid}, {"automatic", automatic}});
      store::AuditEvent e;
      e.event = "key_rotated";
      e.actor = automatic ? "broker" : "admin";
      e.detail = nlohmann::json{{"kid", kid}, {"automatic", automatic}}.dump();
      audit->record(std::move(e));
    };
    keys = token::KeyManager::create(*store, master, Clock::system(), Random::system(), kp);
    keys->initialize(config.jwt_private_key_pem ? config.jwt_private_key_pem->reveal() : "");
  }
};

bool parseListen(const std::string& listen, std::string& host, uint16_t& port) {
  auto colon = listen.rfind(':');
  if (colon == std::string::npos) return false;
  host = listen.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  if (host.empty()) host = "0.0.0.0";
  try {
    int p = std::stoi(listen.substr(colon + 1));
    if (p < 0 || p > 65535) return false;
    port = static_cast<uint16_t>(p);
  } catch (const std::exception&) {
    return false;
  }
  return true;
}

// Periodic work: key refresh/rotation (every keys.sync_interval) and garbage collection,
// stoppable at once.
class Housekeeper {
 public:
  Housekeeper(Runtime& rt) : rt_(rt), thread_([this] { loop(); }) {}
  ~Housekeeper() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

 private:
  void loop() {
    int64_t next_gc = Clock::system().now() + 5;
    std::unique_lock<std::mutex> lock(mu_);
    const auto interval = std::chrono::seconds(rt_.config.keys.sync_interval);
    while (!cv_.wait_for(lock, interval, [this] { return stop_; })) {
      lock.unlock();
      auto refreshed = rt_.keys->refresh();
      if (!refreshed.ok()) log::warn("key_refresh_failed", {{"error", refreshed.error().message}});
      int64_t now = Clock::system().now();
      if (now >= next_gc) {
        next_gc = now + rt_.config.gc_interval;
        auto gc = rt_.store->collectGarbage(
            {now, rt_.config.client_idle_ttl, rt_.config.audit.retention});
        if (gc.ok()) {
          const auto& s = gc.value();
          if (s.clients > 0) {
            store::AuditEvent e;
            e.event = "clients_collected";
            e.actor = "broker";
            e.detail =
                nlohmann::json{{"clients", s.clients}, {"idle_ttl", rt_.config.client_idle_ttl}}
                    .dump();
            rt_.audit->record(std::move(e));
          }
          log::info("gc", {{"pending_logins", s.pending_logins},
                           {"codes", s.codes},
                           {"refresh_tokens", s.refresh_tokens},
                           {"families", s.families},
                           {"clients", s.clients},
                           {"revoked_jtis", s.revoked_jtis},
                           {"revoked_grants", s.revoked_grants},
                           {"signing_keys", s.signing_keys},
                           {"audit_events", s.audit_events}});
        } else {
          log::warn("gc_failed", {{"error", gc.error().message}});
        }
      }
      lock.lock();
    }
  }

  Runtime& rt_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

policy::LoadOptions policyOptions(const config::Config& config) {
  policy::LoadOptions options;
  for (const auto& [id, settings] : config.upstreams) options.known_upstreams.push_back(id);
  return options;
}

// One line however many entries: `policy check` lists them with file, line and key.
void logPolicyWarnings(const std::string& path, const policy::Policy& p) {
  if (p.warnings().empty()) return;
  log::warn("policy_names_mutable_users",
            {{"file", path},
             {"entries", static_cast<int64_t>(p.warnings().size())},
             {"hint", "name users by id; mcp-auth-broker policy check lists them"}});
}

// Called from the signal loop (SIGHUP) and from the file watcher's thread. A new policy replaces
// the old one in one atomic store; an invalid file leaves the old one in place and is reported
// on /health until a later reload succeeds.
void reloadPolicy(Runtime& rt, oauth::PolicySource& source, const char* trigger) {
  static std::mutex reload_mu;
  std::lock_guard<std::mutex> lock(reload_mu);
  const config::Config& config = rt.config;
  auto loaded = policy::Policy::tryLoadFile(config.policy_path, policyOptions(config));
  store::AuditEvent e;
  e.actor = std::string(trigger) == "SIGHUP" ? "signal" : "broker";
  if (loaded.policy) {
    logPolicyWarnings(config.policy_path, *loaded.policy);
    source.replace(std::move(loaded.policy));
    source.setLastError("");
    log::info("policy_reloaded", {{"file", config.policy_path}, {"trigger", trigger}});
    e.event = "policy_reloaded";
    e.detail = nlohmann::json{{"file", config.policy_path}, {"trigger", trigger}}.dump();
  } else {
    source.setLastError(loaded.error);
    log::error("policy_reload_failed",
               {{"error", loaded.error}, {"trigger", trigger}, {"kept", "previous policy"}});
    e.event = "policy_reload_failed";
    e.detail =
        nlohmann::json{{"file", config.policy_path}, {"trigger", trigger}, {"error", loaded.error}}
            .dump();
  }
  if (rt.metrics) {
    rt.metrics->policy_reloads.with({e.event == "policy_reloaded" ? "ok" : "error"}).inc();
    if (e.event == "policy_reloaded") rt.metrics->policy_generation.add(1);
  }
  rt.audit->record(std::move(e));
}

// /metrics: the text exposition of every metric. It reads atomics and in-memory snapshots only,
// never the database.
http::Response metricsResponse(const metrics::Registry& registry) {
  http::Response r;
  r.status = 200;
  r.body = registry.render();
  r.header("Content-Type", metrics::kContentType);
  r.header("Cache-Control", "no-store");
  return r;
}

// The gauges read at scrape time: signing-key age and the next rotation, the revocation list's
// age, the audit events waiting. Cleared by the caller before what they read goes away.
void watchKeysAndRevocations(Runtime& rt, store::RevocationList* revocations) {
  auto& m = *rt.metrics;
  auto keys = rt.keys;
  m.key_age.set([keys]() -> std::optional<double> {
    const int64_t now = Clock::system().now();
    for (const auto& k : keys->list()) {
      if (k.state == "current") return static_cast<double>(now - k.activates_at);
    }
    return std::nullopt;
  });
  const int64_t period = rt.config.keys.rotation_period;
  m.key_next_rotation.set([keys, period]() -> std::optional<double> {
    if (period <= 0) return std::nullopt;  // manual rotation only
    int64_t newest_created = 0, newest_generation = -1;
    for (const auto& k : keys->list()) {
      if (k.generation > newest_generation) {
        newest_generation = k.generation;
        newest_created = k.created_at;
      }
    }
    if (newest_generation < 0) return std::nullopt;
    return static_cast<double>(newest_created + period - Clock::system().now());
  });
  m.audit_queue_depth.set([audit = rt.audit.get()]() -> std::optional<double> {
    return static_cast<double>(audit->queued());
  });
  m.revocation_list_age.set([revocations]() -> std::optional<double> {
    if (!revocations || revocations->loadedAt() == 0) return std::nullopt;
    return static_cast<double>(Clock::system().now() - revocations->loadedAt());
  });
}

}  // namespace

int runServe(const GlobalOptions& g) {
  signal(SIGPIPE, SIG_IGN);
  // Signals are taken synchronously by the main thread; every other thread inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  return guarded([&] {
    Runtime rt(g, true);
    oauth::PolicySource policy(
        policy::Policy::loadFile(rt.config.policy_path, policyOptions(rt.config)));
    logPolicyWarnings(rt.config.policy_path, *policy.current());
    if (rt.metrics) rt.metrics->policy_generation.set(1);
    rt.audit->start();
    upstream::UpstreamRegistry upstreams;
    upstream::buildUpstreams(rt.config, upstreams);

    oauth::Dependencies deps;
    deps.config = &rt.config;
    deps.store = rt.store.get();
    deps.keys = rt.keys.get();
    deps.master = rt.master;
    deps.policy = &policy;
    deps.upstreams = &upstreams;
    deps.clock = &Clock::system();
    deps.random = &Random::system();
    deps.audit = rt.audit.get();
    deps.metrics = rt.metrics.get();
    // Revocation answers from memory: the list covers every revoked jti until it expires and the
    // families revoked within an access token's lifetime (plus a minute for clock skew).
    std::unique_ptr<store::RevocationList> revocations;
    if (rt.config.tokens.revocation_sync > 0) {
      store::RevocationList::Options ro;
      ro.horizon = rt.config.tokens.access_ttl + 60;
      ro.interval = rt.config.tokens.revocation_sync;
      ro.max_age = rt.config.tokens.revocation_max_staleness;
      revocations = std::make_unique<store::RevocationList>(*rt.store, Clock::system(), ro);
      (void)revocations->sync();  // a failure is logged; the store answers until a load succeeds
      revocations->start();
      deps.revocations = revocations.get();
    }
    // /health answers from this, and its pings reconnect an idle pool once the database is back.
    store::StoreMonitor store_monitor(*rt.store, Clock::system(), {});
    (void)store_monitor.probe();
    store_monitor.start();
    deps.store_monitor = &store_monitor;
    oauth::AuthorizationServer as(deps);
    http::Router router;
    as.registerRoutes(router);
    // /metrics on the main listener, or on metrics.listen alone.
    std::unique_ptr<http::Server> metrics_server;
    if (rt.metrics) {
      watchKeysAndRevocations(rt, revocations.get());
      http::Handler scrape = [&rt](const http::Request&) { return metricsResponse(rt.registry); };
      if (rt.config.metrics.listen.empty()) {
        // On a worker: rendering takes a millisecond or so, which a reactor thread owes to
        // the requests it frames.
        router.add("GET", "/metrics", scrape, http::RouteFlags::kNoStore);
      } else {
        http::ServerOptions mo;
        if (!parseListen(rt.config.metrics.listen, mo.host, mo.port)) {
          throw config::ConfigError(rt.config.source_path + ": metrics.listen: expected host:port");
        }
        mo.threads = 1;
        mo.workers = 1;
        mo.access_log = false;
        http::Router metrics_router;
        metrics_router.add("GET", "/metrics", scrape, http::RouteFlags::kInline);
        metrics_server = http::Server::create(mo, std::move(metrics_router));
        metrics_server->start();
        log::info("metrics_listening",
                  {{"host", mo.host}, {"port", static_cast<int>(metrics_server->port())}});
      }
    }

    http::ServerOptions so;
    if (!parseListen(rt.config.listen, so.host, so.port)) {
      throw config::ConfigError(rt.config.source_path + ": listen: expected host:port");
    }
    so.threads = rt.config.server.threads;
    so.workers = rt.config.server.workers;
    so.queue_limit = rt.config.server.queue_limit;
    so.max_request_size = rt.config.server.max_request_size;
    so.max_connections = rt.config.server.max_connections;
    so.header_timeout_ms = rt.config.server.header_timeout_ms;
    so.body_timeout_ms = rt.config.server.body_timeout_ms;
    so.keepalive_timeout_ms = rt.config.server.keepalive_timeout_ms;
    so.trust_proxy = rt.config.server.trust_proxy;
    so.trusted_proxies = rt.config.server.trusted_proxies;
    so.metrics = rt.metrics.get();
    for (const auto& [name, limit] : rt.config.rate_limits) {
      for (size_t g = 0; g < http::kRateGroupCount; ++g) {
        if (name == http::kRateGroupNames[g]) so.rate_limits[g] = {limit.burst, limit.per_second};
      }
    }
    auto server = http::Server::create(so, std::move(router));
    server->start();
    log::info("listening", {{"issuer", rt.config.issuer},
                            {"host", so.host},
                            {"port", static_cast<int>(server->port())},
                            {"storage", rt.store->backendName()},
                            {"kid", rt.keys->currentSigner().kid}});
    {
      Housekeeper housekeeper(rt);
      auto watcher = policy::FileWatcher::start(rt.config.policy_path,
                                                [&] { reloadPolicy(rt, policy, "file_changed"); });
      for (;;) {
        int sig = 0;
        if (sigwait(&signals, &sig) != 0) continue;
        if (sig == SIGHUP) {
          reloadPolicy(rt, policy, "SIGHUP");
          continue;
        }
        log::info("shutting_down", {{"signal", sig == SIGTERM ? "SIGTERM" : "SIGINT"}});
        break;
      }
    }
    server->stop(10000);
    if (metrics_server) metrics_server->stop(1000);
    if (rt.metrics) watchKeysAndRevocations(rt, nullptr);
    if (revocations) revocations->stop();
    store_monitor.stop();
    rt.audit->stop();
    log::info("stopped");
    return 0;
  });
}

int runMigrate(const GlobalOptions& g) {
  return guarded([&] {
    auto cfg = loadConfig(g, false);
    auto applied = store::migrateStore(cfg.storage);
    if (applied.empty()) std::cout << "database is up to date\n";
    for (const auto& v : applied) std::cout << "applied " << v << "\n";
    return 0;
  });
}

int runKeysList(const GlobalOptions& g) {
  return guarded([&] {
    Runtime rt(g);
    for (const auto& k : rt.keys->list()) {
      std::cout << k.kid << "  " << k.state << "  created=" << isoTime(k.created_at)
                << " activates=" << isoTime(k.activates_at) << " retires=" << isoTime(k.retires_at)
                << " expires=" << isoTime(k.expires_at) << "\n";
    }
    return 0;
  });
}

int runKeysRotate(const GlobalOptions& g, bool immediate) {
  return guarded([&] {
    Runtime rt(g);
    auto kid = rt.keys->rotate(immediate);
    if (!kid.ok()) {
      std::cerr << "mcp-auth-broker: rotation failed: " << kid.error().message << "\n";
      return 1;
    }
    std::cout << "new signing key " << kid.value()
              << (immediate ? " (signing now)\n"
                            : " (published now, signing after keys.publish_ahead)\n");
    return 0;
  });
}

int runKeysJwks(const GlobalOptions& g) {
  return guarded([&] {
    Runtime rt(g);
    auto doc = rt.keys->jwksJson();
    std::cout << nlohmann::json::parse(*doc).dump(2) << "\n";
    return 0;
  });
}

int runClientRegister(const GlobalOptions& g, const std::string& name,
                      const std::vector<std::string>& redirect_uris, const std::string& method,
                      bool refresh, const std::string& client_id) {
  // The rules of /register, so an operator cannot register by hand what a client could not.
  oauth::ClientRegistration registration{
      redirect_uris, method,
      refresh ? oauth::defaultGrantTypes() : std::vector<std::string>{"authorization_code"}};
  auto rules = oauth::checkClientRegistration(registration);
  if (!rules.ok()) {
    std::cerr << "client register: " << rules.error().description << "\n";
    return 2;
  }
  return guarded([&] {
    Runtime rt(g);
    store::ClientRecord c;
    c.client_id = client_id.empty() ? Random::system().token(18) : client_id;
    c.client_name = name;
    c.redirect_uris = redirect_uris;
    c.token_endpoint_auth_method = method;
    c.grant_types = registration.grant_types;
    c.preregistered = true;
    c.created_at = c.last_used_at = Clock::system().now();
    std::string secret;
    if (method != "none") {
      secret = Random::system().token(32);
      c.secret_hash = sha256Hex(secret);
    }
    nlohmann::json meta = {{"client_name", name},
                           {"redirect_uris", redirect_uris},
                           {"token_endpoint_auth_method", method},
                           {"grant_types", c.grant_types},
                           {"response_types", {"code"}}};
    c.metadata_json = meta.dump();
    auto st = rt.store->createClient(c);
    if (!st.ok() && st.error().code == ErrorCode::kAlreadyExists) {
      std::cerr << "client register: a client with client_id '" << c.client_id
                << "' already exists; choose another --client-id, or remove it first with "
                   "`client delete "
                << c.client_id << "`\n";
      return 1;
    }
    if (!st.ok()) {
      std::cerr << "client register: " << st.error().message << "\n";
      return 1;
    }
    store::AuditEvent e;
    e.event = "client_registered";
    e.actor = "admin";
    e.client_id = c.client_id;
    e.detail = nlohmann::json{
        {"client_name", name},
        {"redirect_uris", redirect_uris},
        {"token_endpoint_auth_method", method},
        {"preregistered",
         true}}.dump();
    rt.audit->record(std::move(e));
    std::cout << "client_id: " << c.client_id << "\n";
    if (!secret.empty())
      std::cout << "client_secret: " << secret << "  (shown once; store it now)\n";
    return 0;
  });
}

int runClientList(const GlobalOptions& g) {
  return guarded([&] {
    Runtime rt(g);
    auto clients = rt.store->listClients();
    if (!clients.ok()) {
      std::cerr << "client list: " << clients.error().message << "\n";
      return 1;
    }
    for (const auto& c : clients.value()) {
      std::cout << c.client_id << "  " << (c.preregistered ? "pre-registered" : "dynamic") << "  "
                << c.token_endpoint_auth_method << "  " << c.client_name << "\n";
    }
    return 0;
  });
}

int runClientDelete(const GlobalOptions& g, const std::string& client_id) {
  return guarded([&] {
    Runtime rt(g);
    auto st = rt.store->deleteClient(client_id);
    if (!st.ok()) {
      std::cerr << "client delete: " << st.error().message << "\n";
      return 1;
    }
    log::security("client_deleted", {{"client_id", client_id}});
    store::AuditEvent e;
    e.event = "client_deleted";
    e.actor = "admin";
    e.client_id = client_id;
    rt.audit->record(std::move(e));
    std::cout << "deleted " << client_id << "\n";
    return 0;
  });
}

int runRevoke(const GlobalOptions& g, const std::string& subject, const std::string& client_id) {
  return guarded([&] {
    Runtime rt(g);
    int64_t now = Clock::system().now();
    auto n = subject.empty() ? rt.store->revokeFamiliesByClient(client_id, now)
                             : rt.store->revokeFamiliesBySubject(subject, now);
    if (!n.ok()) {
      std::cerr << "revoke: " << n.error().message << "\n";
      return 1;
    }
    log::security("admin_revoke",
                  {{"subject", subject}, {"client_id", client_id}, {"families", n.value()}});
    store::AuditEvent e;
    e.event = "admin_revoke";
    e.actor = "admin";
    e.client_id = client_id;
    e.subject = subject;
    e.upstream = subject.substr(0, subject.find(':'));
    e.detail = nlohmann::json{{"families", n.value()}}.dump();
    rt.audit->record(std::move(e));
    std::cout << "revoked " << n.value() << " token families\n";
    // Subjects are "<upstream>:<id at the upstream>"; a bare name matches nothing.
    const std::string prefix = subject.substr(0, subject.find(':'));
    if (!subject.empty() &&
        (subject.find(':') == std::string::npos || rt.config.upstreams.count(prefix) == 0)) {
      std::string ids;
      for (const auto& [id, settings] : rt.config.upstreams) ids += (ids.empty() ? "" : ", ") + id;
      std::cerr << "revoke: subjects are written <upstream>:<id at that upstream>, e.g. "
                << rt.config.default_upstream << ":" << subject.substr(subject.find(':') + 1)
                << " (a GitHub id is the numeric user id); configured upstreams: " << ids << "\n";
    }
    return 0;
  });
}

}  // namespace broker::app
