#pragma once
// Broker configuration: one YAML file, secrets overridable from the environment, `${VAR}`
// expansion, validated once at start-up. Errors name the file, line, column and key
// ("config/broker.yaml:3:9: issuer: must be ..."); a value taken from the environment is named by
// its variable instead of a line.
//
// `${VAR}` is expanded inside scalar values (never keys); an unset VAR is an error; `$${` writes a
// literal `${`. Expansion happens after YAML parsing, so a variable's value is never read as YAML.
//
// Environment overrides (an empty variable counts as unset; the file's value for an overridden key
// is neither expanded nor required):
//   ISSUER_URL -> issuer            BROKER_LISTEN -> listen        DATABASE_URL -> storage
//   BROKER_MASTER_KEYS (comma-separated) -> secrets.master_keys
//   REFRESH_ENCRYPTION_KEY -> one more master key: appended (decrypt only) when master keys are
//                             set, else the only one
//   JWT_PRIVATE_KEY (PEM text; literal "\n" sequences become newlines) -> jwt_private_key_pem
//   <ID>_CLIENT_ID / <ID>_CLIENT_SECRET -> upstreams.<id>.client_id / client_secret, where <ID>
//                             is the upstream id upper-cased with '-' as '_' (GITHUB_CLIENT_SECRET)
//
// Durations are seconds, or a number with s, m, h or d ("90s", "15m", "1h", "30d"); the server.*
// timeouts also take "ms".

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "broker/core/secret.h"

namespace broker::config {

struct ConfigError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct TokenSettings {
  int64_t access_ttl = 3600;             // tokens.access_ttl
  int64_t refresh_ttl = 30 * 86400;      // tokens.refresh_ttl (absolute family lifetime)
  int64_t refresh_idle_ttl = 7 * 86400;  // tokens.refresh_idle_ttl
  int64_t code_ttl = 60;                 // tokens.code_ttl
  int64_t refresh_grace = 30;            // tokens.refresh_grace
  // tokens.revocation_sync: how often the in-memory revocation list reloads (another instance's
  // revocations are seen within this); 0 = no list, every revocation question asks the store.
  int64_t revocation_sync = 1;
  // tokens.revocation_max_staleness: while the store cannot be reached, the last revocation list
  // loaded is trusted this long; past it, answers that need it fail closed.
  int64_t revocation_max_staleness = 60;
  int64_t login_ttl = 600;  // tokens.login_ttl (pending upstream login)
};

struct KeySettings {
  int64_t rotation_period = 30 * 86400;  // keys.rotation_period (0 = manual only)
  int64_t publish_ahead = 3600;          // keys.publish_ahead
  int64_t sync_interval = 10;            // keys.sync_interval (reload from the store, rotate)
  std::string algorithm = "RS256";       // keys.algorithm: RS256 | ES256
};

struct ServerSettings {
  int threads = 2;                       // server.threads (Pistache reactor threads)
  int workers = 4;                       // server.workers (blocking work: DB, RSA, upstream HTTP)
  int queue_limit = 1024;                // server.queue_limit (answers 503 past this)
  size_t max_request_size = 64 * 1024;   // server.max_request_size
  int max_connections = 1024;            // server.max_connections (503 past this)
  int64_t header_timeout_ms = 5000;      // server.header_timeout
  int64_t body_timeout_ms = 10000;       // server.body_timeout
  int64_t keepalive_timeout_ms = 60000;  // server.keepalive_timeout
  bool trust_proxy = false;              // server.trust_proxy: the direct peer is a proxy
  std::vector<std::string> trusted_proxies;  // server.trusted_proxies: addresses and networks
};

// rate_limits.<group>: {burst, per_second}; burst 0 turns the group's limit off.
struct RateLimitSetting {
  int64_t burst = 0;
  double per_second = 0;
};

// forward_auth.proxy: the reverse proxy in front of /forward-auth, and so the one set of request
// headers the broker reads to learn which request it is asked about (see src/oauth/forward_auth.cpp
// for each contract). Headers of the other proxies are never trusted, only checked for agreement.
enum class ForwardAuthProxy {
  kNginx,    // auth_request: X-Original-URL, X-Original-Method (config/nginx/mcp-locations.conf)
  kTraefik,  // forwardAuth: X-Forwarded-Method, -Proto, -Host, -Uri
  kEnvoy,    // ext_authz HTTP service: the original method, Host and path after path_prefix
};
const char* toString(ForwardAuthProxy proxy);

struct ForwardAuthSettings {
  ForwardAuthProxy proxy = ForwardAuthProxy::kNginx;  // forward_auth.proxy
};

// Who may ask about tokens (src/oauth/inspection.cpp).
struct IntrospectionSettings {
  // introspection.allowed_clients: clients that, authenticated with their secret, may introspect
  // any token (resource servers, admin tools). Every other client learns only about tokens
  // issued to itself: dynamic registration is open, so "confidential" alone proves nothing.
  std::vector<std::string> allowed_clients;
};

struct ValidateSettings {
  // validate.enabled: serve the unauthenticated /validate debugging endpoint. Default: on with
  // dev_mode or a loopback `listen` address, off otherwise (404).
  bool enabled = true;
};

// metrics.*: GET /metrics (Prometheus text format).
struct MetricsSettings {
  bool enabled = true;  // metrics.enabled
  // metrics.listen: host:port of a listener of its own that serves only /metrics; empty = on the
  // main listener.
  std::string listen;
};

// audit.*: the audit table of security events.
struct AuditSettings {
  int64_t retention = 90 * 86400;  // audit.retention: older events are collected (0 = kept)
};

struct UpstreamSettings {
  std::string id;  // [a-z0-9][a-z0-9_-]*, at most 32 characters; "group" is reserved by the policy
  std::string type;  // dev | github | oidc
  bool enabled = true;
  std::string display_name;
  // Every other key of the upstream's mapping, as JSON text, for the upstream's own parser.
  std::string settings_json;
  std::string source;  // "file:line" of the mapping, for the upstream's own error messages
  // Where each setting was written, by its path below the upstream ("timeout", "claims.email"),
  // for the upstream's own error messages: "file:line:column" of the value (of the key when the
  // value is empty) or "file: environment variable NAME"; and of the key itself.
  std::map<std::string, std::string> value_where;
  std::map<std::string, std::string> key_where;
};

struct Config {
  std::string source_path;  // the file read
  // Only the groups the file sets; the others keep the server's defaults.
  std::map<std::string, RateLimitSetting> rate_limits;
  std::string issuer;  // canonical: no trailing slash
  std::string listen = "127.0.0.1:8080";
  // sqlite:PATH | sqlite::memory: | postgresql://... | postgres://...
  // A relative sqlite PATH is opened relative to the working directory of the process, not the
  // config file: it names runtime data, which belongs with the process, not with the config.
  std::string storage;
  // storage_timeout: the time limit of each database call (PostgreSQL statement_timeout, the wait
  // for a pooled connection, the SQLite busy timeout); a call past it is answered 503.
  int64_t storage_timeout_ms = 2000;
  std::string policy_path;          // resolved against the config file's directory
  std::vector<Secret> master_keys;  // the first seals, all open; each at least 32 characters
  std::optional<Secret> jwt_private_key_pem;  // JWT_PRIVATE_KEY
  bool dev_mode = false;
  TokenSettings tokens;
  KeySettings keys;
  ServerSettings server;
  ForwardAuthSettings forward_auth;
  IntrospectionSettings introspection;
  ValidateSettings validate;
  MetricsSettings metrics;
  AuditSettings audit;
  int64_t client_idle_ttl = 90 * 86400;  // clients.idle_ttl: unused dynamic clients expire
  int64_t gc_interval = 300;             // gc_interval
  std::string log_level = "info";
  std::map<std::string, UpstreamSettings> upstreams;
  std::string default_upstream;  // default_upstream, else the first enabled one in file order
  // Things that are allowed but should be said loudly at start-up (dev_mode, a development key).
  std::vector<std::string> warnings;

  bool issuerIsLoopback() const;
};

using EnvLookup = std::function<std::optional<std::string>(const std::string&)>;
EnvLookup processEnv();

// Reads, expands, applies env overrides, validates. Throws ConfigError.
Config loadConfig(const std::string& path, const EnvLookup& env = processEnv());
Config parseConfig(const std::string& yaml_text, const std::string& path, const EnvLookup& env);

// Every key the loader accepts, as the README's configuration table names them: each top-level
// key, with "section.key" for each key of secrets, tokens, keys, server, clients and
// forward_auth. (The entries of `upstreams` are each upstream type's own; see the README's
// upstream sections.)
const std::vector<std::string>& acceptedKeys();

// Upstream ids: [a-z0-9][a-z0-9_-]*, at most 32 characters. They appear in callback paths, in the
// `sub` claim and as the `upstream:` prefix of policy principals.
bool isValidUpstreamId(const std::string& id);

// Parses durations like "3600", "90s", "15m", "1h", "30d" into seconds. Returns nullopt when
// malformed (empty, signed, fractional, unknown unit, overflow).
std::optional<int64_t> parseDuration(const std::string& text);

}  // namespace broker::config
