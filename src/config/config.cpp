#include "broker/config/config.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "broker/core/log.h"
#include "broker/oauth/uri.h"
#include "config/yaml_source.h"
#include "http/rate_limiter.h"

namespace broker::config {
namespace {

using yamlsrc::Entry;
using yamlsrc::SourceError;

constexpr int64_t kMinute = 60;
constexpr int64_t kHour = 3600;
constexpr int64_t kDay = 86400;

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

bool allDigits(const std::string& s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

std::optional<int64_t> parseCount(const std::string& s) {
  // Ten digits (over 300 years in seconds) keep every later multiplication inside int64.
  if (!allDigits(s) || s.size() > 10) return std::nullopt;
  return std::stoll(s);
}

bool validEnvName(const std::string& name) {
  if (name.empty() || std::isdigit(static_cast<unsigned char>(name[0]))) return false;
  return std::all_of(name.begin(), name.end(),
                     [](unsigned char c) { return std::isalnum(c) || c == '_'; });
}

std::string envPrefix(const std::string& upstream_id) {
  std::string out;
  for (unsigned char c : upstream_id) out += std::isalnum(c) ? std::toupper(c) : '_';
  return out;
}

// Values people paste from documentation instead of generating a key.
bool looksLikePlaceholder(const std::string& value) {
  const std::string v = lower(value);
  for (const char* marker : {"changeme", "change-me", "change_me", "replaceme", "replace-me",
                             "replace_me", "example", "placeholder", "xxxxx"}) {
    if (v.find(marker) != std::string::npos) return true;
  }
  if (v == "secret") return true;
  return std::all_of(v.begin(), v.end(), [&](char c) { return c == v[0]; });
}

// Keys written for development only, like the one in config/dev.yaml. They are accepted with a
// warning in dev_mode so the dev config works as shipped, and refused otherwise so that config
// cannot be promoted to production by flipping dev_mode.
bool markedDevelopmentOnly(const std::string& value) {
  const std::string v = lower(value);
  return v.find("dev-only") != std::string::npos || v.find("do-not-use") != std::string::npos ||
         v.find("insecure") != std::string::npos;
}

bool validListen(const std::string& listen) {
  size_t colon = listen.rfind(':');
  if (colon == std::string::npos) return false;
  std::string host = listen.substr(0, colon);
  std::string port = listen.substr(colon + 1);
  if (!allDigits(port) || port.size() > 5 || std::stoi(port) < 1 || std::stoi(port) > 65535) {
    return false;
  }
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    in6_addr addr{};
    return inet_pton(AF_INET6, host.substr(1, host.size() - 2).c_str(), &addr) == 1;
  }
  // An empty host means every interface.
  return std::all_of(host.begin(), host.end(), [](unsigned char c) {
    return std::isalnum(c) || c == '.' || c == '-' || c == '_';
  });
}

// server.* timeouts are kept in milliseconds; "250ms" is allowed besides the usual durations.
std::optional<int64_t> parseMillis(const std::string& text) {
  if (text.size() > 2 && text.compare(text.size() - 2, 2, "ms") == 0) {
    return parseCount(text.substr(0, text.size() - 2));
  }
  auto seconds = parseDuration(text);
  if (!seconds) return std::nullopt;
  return *seconds * 1000;
}

// How one kind of number is written and the range it must fall in.
struct NumberFormat {
  std::optional<int64_t> (*parse)(const std::string&);
  const char* expected;  // message when `parse` fails
  int64_t min;
  int64_t max;
  const char* unit;  // appended to min and max in messages
};

// Every key the loader accepts: the top level, then the keys of each section that is a fixed
// mapping. acceptedKeys() lists them for the README's configuration table check.
const std::vector<std::string> kTopLevelKeys = {
    "issuer",        "listen",   "storage",          "policy",      "secrets",
    "tokens",        "keys",     "server",           "clients",     "gc_interval",
    "log_level",     "dev_mode", "default_upstream", "upstreams",   "forward_auth",
    "introspection", "validate", "rate_limits",      "metrics",     "audit",
    "storage_timeout"};
const std::map<std::string, std::vector<std::string>> kSectionKeys = {
    {"secrets", {"master_keys"}},
    {"tokens",
     {"access_ttl", "refresh_ttl", "refresh_idle_ttl", "code_ttl", "refresh_grace", "login_ttl",
      "revocation_sync", "revocation_max_staleness"}},
    {"keys", {"rotation_period", "publish_ahead", "sync_interval", "algorithm"}},
    {"server",
     {"threads", "workers", "queue_limit", "max_request_size", "max_connections", "header_timeout",
      "body_timeout", "keepalive_timeout", "trust_proxy", "trusted_proxies"}},
    {"rate_limits", {"register", "browser", "token", "revoke", "validate"}},
    {"clients", {"idle_ttl"}},
    {"forward_auth", {"proxy"}},
    {"introspection", {"allowed_clients"}},
    {"validate", {"enabled"}},
    {"metrics", {"enabled", "listen"}},
    {"audit", {"retention"}}};

// Where a value came from and the key it sets; errors about it are reported against both.
struct Value {
  std::string text;
  std::string where;  // "file:line:column" or "file: environment variable NAME"
  std::string key;
};

[[noreturn]] void fail(const Value& v, const std::string& message) {
  throw SourceError(v.where + ": " + v.key + ": " + message);
}

class Loader {
 public:
  Loader(const std::string& path, const EnvLookup& env) : src_(path), env_(env) {}

  Config load(const std::string& text);

 private:
  // The environment variable's value, or nullopt when unset or empty.
  std::optional<std::string> fromEnv(const std::string& name) const {
    auto v = env_(name);
    if (!v || v->empty()) return std::nullopt;
    return v;
  }
  Value envValue(const std::string& name, const std::string& key, std::string text) const {
    return Value{std::move(text), src_.file() + ": environment variable " + name, key};
  }
  Value fileValue(const Entry& e) const {
    return Value{expand(src_.scalar(e), src_.where(e.at), e.key), src_.where(e.at), e.key};
  }
  Value itemValue(const yamlsrc::Item& item) const {
    return Value{expand(item.node.Scalar(), src_.where(item.node), item.key), src_.where(item.node),
                 item.key};
  }
  // The value of `key` in `entries`, the environment variable `env_name` taking precedence.
  std::optional<Value> lookup(const std::map<std::string, Entry>& entries, const std::string& name,
                              const std::string& env_name = "") const;
  std::string expand(const std::string& raw, const std::string& where,
                     const std::string& key) const;
  // The entries of section `name`, checked against its keys in kSectionKeys.
  std::map<std::string, Entry> section(const std::map<std::string, Entry>& parent,
                                       const std::string& name) const;
  Value required(const std::map<std::string, Entry>& entries, const std::string& name,
                 const std::string& env_name = "") const;

  int64_t number(const std::map<std::string, Entry>& entries, const std::string& name,
                 int64_t current, const NumberFormat& format);
  int64_t duration(const std::map<std::string, Entry>& entries, const std::string& name,
                   int64_t current, int64_t min, int64_t max) {
    return number(
        entries, name, current,
        {parseDuration, "expected a duration such as 3600, 90s, 15m, 1h or 30d", min, max, "s"});
  }
  int64_t millis(const std::map<std::string, Entry>& entries, const std::string& name,
                 int64_t current) {
    return number(
        entries, name, current,
        {parseMillis, "expected a duration such as 500ms, 5s or 1m", 1, 10 * kMinute * 1000, "ms"});
  }
  int64_t count(const std::map<std::string, Entry>& entries, const std::string& name,
                int64_t current, int64_t min, int64_t max) {
    return number(entries, name, current, {parseCount, "expected a whole number", min, max, ""});
  }
  // Checks lower < upper (or lower <= upper when `strict` is false).
  void requireBelow(const std::string& lower_key, int64_t lower, const std::string& upper_key,
                    int64_t upper, bool strict) const;

  void readIssuer(const std::map<std::string, Entry>& top);
  void readStorage(const std::map<std::string, Entry>& top);
  void readPolicy(const std::map<std::string, Entry>& top);
  void readMasterKeys(const std::map<std::string, Entry>& top);
  void readJwtKey();
  void readTokens(const std::map<std::string, Entry>& top);
  void readServer(const std::map<std::string, Entry>& top);
  void readRateLimits(const std::map<std::string, Entry>& top);
  void readUpstreams(const std::map<std::string, Entry>& top);
  void readInspection(const std::map<std::string, Entry>& top);
  void readOperations(const std::map<std::string, Entry>& top);
  nlohmann::json toJson(const YAML::Node& node, const std::string& key) const;
  // Records where `e` (and every entry of a mapping below it) was written, by its path below the
  // upstream.
  void recordPositions(const Entry& e, const std::string& path, UpstreamSettings& u) const;

  yamlsrc::Source src_;
  const EnvLookup& env_;
  YAML::Node root_;
  Config config_;
  // Positions of the values read, for checks that involve more than one key.
  std::map<std::string, std::string> where_;
};

std::optional<Value> Loader::lookup(const std::map<std::string, Entry>& entries,
                                    const std::string& name, const std::string& env_name) const {
  auto it = entries.find(name);
  const std::string key = it != entries.end() ? it->second.key : name;
  if (!env_name.empty()) {
    if (auto v = fromEnv(env_name)) return envValue(env_name, key, *v);
  }
  if (it == entries.end()) return std::nullopt;
  return fileValue(it->second);
}

Value Loader::required(const std::map<std::string, Entry>& entries, const std::string& name,
                       const std::string& env_name) const {
  auto v = lookup(entries, name, env_name);
  if (!v) {
    src_.fail(root_, name,
              "required" +
                  (env_name.empty() ? "" : " (or set the environment variable " + env_name + ")"));
  }
  return *v;
}

std::string Loader::expand(const std::string& raw, const std::string& where,
                           const std::string& key) const {
  Value at{"", where, key};
  std::string out;
  for (size_t i = 0; i < raw.size(); ++i) {
    if (raw.compare(i, 3, "$${") == 0) {
      out += "${";
      i += 2;
      continue;
    }
    if (raw.compare(i, 2, "${") != 0) {
      out += raw[i];
      continue;
    }
    size_t close = raw.find('}', i + 2);
    if (close == std::string::npos) fail(at, "unterminated ${ (write $${ for a literal ${)");
    std::string name = raw.substr(i + 2, close - i - 2);
    if (!validEnvName(name)) fail(at, "'${" + name + "}' is not a valid variable name");
    auto value = env_(name);
    if (!value) fail(at, "environment variable " + name + " is not set");
    out += *value;
    i = close;
  }
  return out;
}

std::map<std::string, Entry> Loader::section(const std::map<std::string, Entry>& parent,
                                             const std::string& name) const {
  const std::vector<std::string>& allowed = kSectionKeys.at(name);
  std::map<std::string, Entry> out;
  auto it = parent.find(name);
  if (it == parent.end() || it->second.value.IsNull()) return out;
  src_.requireMap(it->second);
  for (auto& e : src_.entries(it->second.value, it->second.key, allowed)) out.emplace(e.name, e);
  return out;
}

int64_t Loader::number(const std::map<std::string, Entry>& entries, const std::string& name,
                       int64_t current, const NumberFormat& format) {
  auto v = lookup(entries, name);
  if (!v) return current;
  auto n = format.parse(v->text);
  if (!n) fail(*v, format.expected);
  if (*n < format.min || *n > format.max) {
    fail(*v, "must be between " + std::to_string(format.min) + format.unit + " and " +
                 std::to_string(format.max) + format.unit);
  }
  where_[v->key] = v->where;
  return *n;
}

// Blames whichever of the two keys the file sets (the upper one when only it is set), since a
// default the user never wrote is not where the fix goes.
void Loader::requireBelow(const std::string& lower_key, int64_t lower, const std::string& upper_key,
                          int64_t upper, bool strict) const {
  if (strict ? lower < upper : lower <= upper) return;
  bool blame_upper = where_.count(upper_key) && !where_.count(lower_key);
  const std::string& key = blame_upper ? upper_key : lower_key;
  auto it = where_.find(key);
  std::string where = it != where_.end() ? it->second : src_.where(root_);
  throw SourceError(where + ": " + key + ": " + lower_key + " (" + std::to_string(lower) +
                    "s) must be " + (strict ? "shorter than " : "at most ") + upper_key + " (" +
                    std::to_string(upper) + "s)");
}

Config Loader::load(const std::string& text) {
  config_.source_path = src_.file();
  root_ = src_.load(text);
  if (root_.IsNull()) throw SourceError(src_.file() + ":1:1: the configuration file is empty");
  if (!root_.IsMap()) src_.fail(root_, "", "the configuration must be a mapping of keys");

  std::map<std::string, Entry> top;
  for (auto& e : src_.entries(root_, "", kTopLevelKeys)) {
    top.emplace(e.name, e);
  }
  if (auto it = top.find("dev_mode"); it != top.end()) config_.dev_mode = src_.boolean(it->second);
  if (config_.dev_mode) {
    config_.warnings.push_back("dev_mode is on: development shortcuts are allowed");
  }

  readIssuer(top);
  if (auto v = lookup(top, "listen", "BROKER_LISTEN")) {
    if (!validListen(v->text)) fail(*v, "expected host:port (e.g. 127.0.0.1:8080 or [::1]:8080)");
    config_.listen = v->text;
  }
  readStorage(top);
  readPolicy(top);
  readMasterKeys(top);
  readJwtKey();
  readTokens(top);
  readServer(top);
  auto forward_auth = section(top, "forward_auth");
  if (auto v = lookup(forward_auth, "proxy")) {
    if (v->text == "nginx") {
      config_.forward_auth.proxy = ForwardAuthProxy::kNginx;
    } else if (v->text == "traefik") {
      config_.forward_auth.proxy = ForwardAuthProxy::kTraefik;
    } else if (v->text == "envoy") {
      config_.forward_auth.proxy = ForwardAuthProxy::kEnvoy;
    } else {
      fail(*v, "expected nginx, traefik or envoy (the proxy that calls /forward-auth)");
    }
  }
  readInspection(top);
  readOperations(top);
  auto clients = section(top, "clients");
  config_.client_idle_ttl =
      duration(clients, "idle_ttl", config_.client_idle_ttl, kHour, 3650 * kDay);
  config_.gc_interval = duration(top, "gc_interval", config_.gc_interval, 1, kDay);
  if (auto v = lookup(top, "log_level")) {
    log::Level level;
    if (!log::parseLevel(v->text, level)) fail(*v, "expected debug, info, warn or error");
    config_.log_level = v->text;
  }
  readUpstreams(top);
  return config_;
}

void Loader::readOperations(const std::map<std::string, Entry>& top) {
  auto metrics = section(top, "metrics");
  if (auto it = metrics.find("enabled"); it != metrics.end()) {
    config_.metrics.enabled = src_.boolean(it->second);
  }
  if (auto v = lookup(metrics, "listen")) {
    if (!validListen(v->text)) fail(*v, "expected host:port (e.g. 127.0.0.1:9464)");
    config_.metrics.listen = v->text;
  }
  auto audit = section(top, "audit");
  if (auto v = lookup(audit, "retention"); v && v->text == "0") {
    config_.audit.retention = 0;
  } else {
    config_.audit.retention =
        duration(audit, "retention", config_.audit.retention, kDay, 3650 * kDay);
  }
}

// After `listen` and `dev_mode`: /validate's default depends on them.
void Loader::readInspection(const std::map<std::string, Entry>& top) {
  auto introspection = section(top, "introspection");
  if (auto it = introspection.find("allowed_clients"); it != introspection.end()) {
    for (const auto& item : src_.scalarList(it->second)) {
      Value v = itemValue(item);
      if (v.text.empty()) fail(v, "expected a client id");
      config_.introspection.allowed_clients.push_back(v.text);
    }
  }
  // Off unless dev_mode: a loopback listener is also what a reverse proxy in front connects to,
  // and then the endpoint is as public as the proxy.
  config_.validate.enabled = config_.dev_mode;
  auto validate = section(top, "validate");
  if (auto it = validate.find("enabled"); it != validate.end()) {
    config_.validate.enabled = src_.boolean(it->second);
  }
}

void Loader::readIssuer(const std::map<std::string, Entry>& top) {
  Value v = required(top, "issuer", "ISSUER_URL");
  auto uri = oauth::parseUri(v.text);
  if (!uri || (uri->scheme != "http" && uri->scheme != "https") || !uri->has_authority ||
      uri->host.empty() || uri->has_query || uri->has_fragment || uri->has_userinfo) {
    fail(v, "must be an absolute URL without query or fragment");
  }
  if (uri->scheme == "http" && !config_.dev_mode && !oauth::isLoopbackHost(uri->host)) {
    fail(v, "must use https (http is allowed only for a loopback host or with dev_mode: true)");
  }
  std::string canonical = *oauth::canonicalResource(v.text);
  while (!canonical.empty() && canonical.back() == '/') canonical.pop_back();
  config_.issuer = canonical;
}

void Loader::readStorage(const std::map<std::string, Entry>& top) {
  Value v = required(top, "storage", "DATABASE_URL");
  const std::string& s = v.text;
  // The value may hold a database password, so messages never repeat it.
  if (s.rfind("sqlite:", 0) == 0) {
    std::string path = s.substr(7);
    if (path.empty()) fail(v, "sqlite: needs a file path (or sqlite::memory:)");
    if (path.rfind("//", 0) == 0) {
      fail(v, "write sqlite:/absolute/path or sqlite:relative/path (not a sqlite:// URL)");
    }
  } else if (s.rfind("postgresql://", 0) != 0 && s.rfind("postgres://", 0) != 0) {
    fail(v, "expected sqlite:PATH, sqlite::memory:, postgresql://... or postgres://...");
  }
  config_.storage = s;
  config_.storage_timeout_ms = number(
      top, "storage_timeout", config_.storage_timeout_ms,
      {parseMillis, "expected a duration such as 500ms, 2s or 1m", 100, kMinute * 1000, "ms"});
}

void Loader::readPolicy(const std::map<std::string, Entry>& top) {
  Value v = required(top, "policy");
  namespace fs = std::filesystem;
  fs::path path(v.text);
  if (path.empty()) fail(v, "must name the policy file");
  if (path.is_relative()) path = fs::path(src_.file()).parent_path() / path;
  path = path.lexically_normal();
  std::error_code ec;
  bool regular = fs::is_regular_file(path, ec);
  std::ifstream probe(path);
  if (!regular || !probe.is_open()) {
    fail(v, "cannot read policy file " + path.string() + ": " +
                (regular ? std::strerror(errno) : "not found or not a regular file"));
  }
  config_.policy_path = path.string();
}

void Loader::readMasterKeys(const std::map<std::string, Entry>& top) {
  auto secrets = section(top, "secrets");
  std::vector<Value> keys;
  if (auto env = fromEnv("BROKER_MASTER_KEYS")) {
    std::stringstream in(*env);
    std::string item;
    for (size_t i = 0; std::getline(in, item, ','); ++i) {
      item.erase(0, item.find_first_not_of(" \t\r\n"));
      item.erase(item.find_last_not_of(" \t\r\n") + 1);
      if (!item.empty()) {
        keys.push_back(envValue("BROKER_MASTER_KEYS",
                                "secrets.master_keys[" + std::to_string(keys.size()) + "]", item));
      }
    }
  } else if (auto it = secrets.find("master_keys"); it != secrets.end()) {
    for (const auto& item : src_.scalarList(it->second)) keys.push_back(itemValue(item));
  }
  // REFRESH_ENCRYPTION_KEY often repeats a configured key; one copy is enough.
  auto extra = fromEnv("REFRESH_ENCRYPTION_KEY");
  if (extra &&
      std::none_of(keys.begin(), keys.end(), [&](const Value& k) { return k.text == *extra; })) {
    keys.push_back(envValue("REFRESH_ENCRYPTION_KEY",
                            "secrets.master_keys[" + std::to_string(keys.size()) + "]", *extra));
  }
  if (keys.empty()) {
    // Point at what the file wrote: master_keys, else an empty `secrets:`, else nothing at all.
    auto it = secrets.find("master_keys");
    auto section_it = top.find("secrets");
    const YAML::Node& at = it != secrets.end()       ? it->second.at
                           : section_it != top.end() ? section_it->second.at
                                                     : root_;
    src_.fail(at, "secrets.master_keys",
              "at least one master key is required (or set BROKER_MASTER_KEYS)");
  }
  std::set<std::string> seen;
  bool dev_key = false;
  for (const Value& k : keys) {
    if (k.text.size() < 32) fail(k, "must be at least 32 characters");
    if (looksLikePlaceholder(k.text)) {
      fail(k, "looks like a placeholder; generate a key with `openssl rand -base64 48`");
    }
    if (markedDevelopmentOnly(k.text)) {
      if (!config_.dev_mode) {
        fail(k,
             "is marked for development only and dev_mode is off; generate a key with "
             "`openssl rand -base64 48`");
      }
      dev_key = true;
    }
    if (!seen.insert(k.text).second) fail(k, "duplicate master key");
    config_.master_keys.emplace_back(k.text);
  }
  if (dev_key) {
    config_.warnings.push_back(
        "a master key marked for development only is in use; never use it in production");
  }
}

void Loader::readJwtKey() {
  auto pem = fromEnv("JWT_PRIVATE_KEY");
  if (!pem) return;
  std::string text = *pem;
  // Container environments often carry PEM on one line with "\n" written out.
  if (text.find('\n') == std::string::npos) {
    for (size_t at = text.find("\\n"); at != std::string::npos; at = text.find("\\n", at + 1)) {
      text.replace(at, 2, "\n");
    }
  }
  if (text.find("-----BEGIN ") == std::string::npos ||
      text.find("PRIVATE KEY-----") == std::string::npos) {
    fail(envValue("JWT_PRIVATE_KEY", "jwt_private_key", ""), "expected a PEM private key");
  }
  config_.jwt_private_key_pem = Secret(text);
}

void Loader::readTokens(const std::map<std::string, Entry>& top) {
  auto t = section(top, "tokens");
  TokenSettings& s = config_.tokens;
  s.access_ttl = duration(t, "access_ttl", s.access_ttl, 1, kDay);
  s.refresh_ttl = duration(t, "refresh_ttl", s.refresh_ttl, kMinute, 365 * kDay);
  s.refresh_idle_ttl = duration(t, "refresh_idle_ttl", s.refresh_idle_ttl, kMinute, 365 * kDay);
  s.code_ttl = duration(t, "code_ttl", s.code_ttl, 1, 10 * kMinute);
  s.refresh_grace = duration(t, "refresh_grace", s.refresh_grace, 0, kHour);
  s.login_ttl = duration(t, "login_ttl", s.login_ttl, kMinute, kHour);
  s.revocation_sync = duration(t, "revocation_sync", s.revocation_sync, 0, 5 * kMinute);
  s.revocation_max_staleness =
      duration(t, "revocation_max_staleness", s.revocation_max_staleness, 1, kDay);
  if (s.revocation_sync > 0) {
    requireBelow("tokens.revocation_sync", s.revocation_sync, "tokens.revocation_max_staleness",
                 s.revocation_max_staleness, false);
  }
  requireBelow("tokens.refresh_grace", s.refresh_grace, "tokens.refresh_idle_ttl",
               s.refresh_idle_ttl, true);
  requireBelow("tokens.refresh_idle_ttl", s.refresh_idle_ttl, "tokens.refresh_ttl", s.refresh_ttl,
               false);

  auto k = section(top, "keys");
  KeySettings& keys = config_.keys;
  keys.rotation_period = duration(k, "rotation_period", keys.rotation_period, 0, 365 * kDay);
  keys.publish_ahead = duration(k, "publish_ahead", keys.publish_ahead, 0, 30 * kDay);
  keys.sync_interval = duration(k, "sync_interval", keys.sync_interval, 1, kHour);
  if (auto v = lookup(k, "algorithm")) {
    if (v->text != "RS256" && v->text != "ES256") fail(*v, "expected RS256 or ES256");
    keys.algorithm = v->text;
  }
  if (keys.rotation_period > 0) {
    requireBelow("keys.publish_ahead", keys.publish_ahead, "keys.rotation_period",
                 keys.rotation_period, true);
    // Another instance of the group loads a new key at most one sync interval after it was
    // stored; with less notice it may sign before every JWKS publishes the key.
    if (keys.publish_ahead < 2 * keys.sync_interval) {
      config_.warnings.push_back(
          "keys.publish_ahead is shorter than twice keys.sync_interval: with several instances, "
          "one may sign with a new key before another publishes it");
    }
  }
}

void Loader::readServer(const std::map<std::string, Entry>& top) {
  auto t = section(top, "server");
  ServerSettings& s = config_.server;
  s.threads = static_cast<int>(count(t, "threads", s.threads, 1, 256));
  s.workers = static_cast<int>(count(t, "workers", s.workers, 1, 1024));
  s.queue_limit = static_cast<int>(count(t, "queue_limit", s.queue_limit, 1, 1000000));
  s.max_request_size = static_cast<size_t>(
      count(t, "max_request_size", static_cast<int64_t>(s.max_request_size), 1024, 64 << 20));
  s.max_connections = static_cast<int>(count(t, "max_connections", s.max_connections, 1, 1000000));
  s.header_timeout_ms = millis(t, "header_timeout", s.header_timeout_ms);
  s.body_timeout_ms = millis(t, "body_timeout", s.body_timeout_ms);
  s.keepalive_timeout_ms = millis(t, "keepalive_timeout", s.keepalive_timeout_ms);
  if (auto it = t.find("trust_proxy"); it != t.end()) s.trust_proxy = src_.boolean(it->second);
  if (auto it = t.find("trusted_proxies"); it != t.end()) {
    for (const auto& item : src_.scalarList(it->second, true)) {
      Value v = itemValue(item);
      if (!http::Cidr::parse(v.text)) {
        fail(v,
             "expected an IP address or network (\"10.0.0.0/8\", \"::1\"), got \"" + v.text + "\"");
      }
      s.trusted_proxies.push_back(v.text);
    }
  }
  readRateLimits(top);
}

// rate_limits.<group>: 0 (off) or {burst: N, per_second: R}.
void Loader::readRateLimits(const std::map<std::string, Entry>& top) {
  for (const auto& [name, entry] : section(top, "rate_limits")) {
    RateLimitSetting limit;
    if (entry.value.IsScalar()) {
      auto v = lookup({{name, entry}}, name);
      if (v && v->text != "0") fail(*v, "expected 0 (off) or a mapping with burst and per_second");
    } else {
      src_.requireMap(entry);
      std::map<std::string, Entry> fields;
      for (auto& e : src_.entries(entry.value, entry.key, {"burst", "per_second"})) {
        fields.emplace(e.name, e);
      }
      limit.burst = count(fields, "burst", -1, 0, 10000000);
      auto rate = lookup(fields, "per_second");
      if (limit.burst < 0 || !rate) src_.fail(entry.at, entry.key, "expected burst and per_second");
      char* end = nullptr;
      limit.per_second = std::strtod(rate->text.c_str(), &end);
      if (rate->text.empty() || *end != '\0' || !(limit.per_second >= 0.001) ||
          limit.per_second > 1e7) {
        fail(*rate, "expected a number of requests per second between 0.001 and 10000000");
      }
    }
    config_.rate_limits[name] = limit;
  }
}

// Plain scalars get YAML's core types; quoted ones, and any value that came from a variable,
// stay strings so a secret made of digits never turns into a number.
nlohmann::json Loader::toJson(const YAML::Node& node, const std::string& key) const {
  if (node.IsNull()) return nullptr;
  if (node.IsSequence()) {
    nlohmann::json out = nlohmann::json::array();
    size_t i = 0;
    for (const auto& child : node) {
      out.push_back(toJson(child, key + "[" + std::to_string(i++) + "]"));
    }
    return out;
  }
  if (node.IsMap()) {
    nlohmann::json out = nlohmann::json::object();
    for (const auto& e : src_.entries(node, key, {})) out[e.name] = toJson(e.value, e.key);
    return out;
  }
  const std::string& raw = node.Scalar();
  std::string text = expand(raw, src_.where(node), key);
  if (node.Tag() != "?" || raw.find("${") != std::string::npos) return text;
  if (text == "true" || text == "True" || text == "TRUE") return true;
  if (text == "false" || text == "False" || text == "FALSE") return false;
  bool negative = !text.empty() && text[0] == '-';
  if (auto n = parseCount(negative ? text.substr(1) : text)) return negative ? -*n : *n;
  return text;
}

void Loader::recordPositions(const Entry& e, const std::string& path, UpstreamSettings& u) const {
  u.key_where[path] = src_.where(e.key_node);
  u.value_where[path] = src_.where(e.at);
  if (!e.value.IsMap()) return;
  for (const auto& child : src_.entries(e.value, e.key, {})) {
    recordPositions(child, path + "." + child.name, u);
  }
}

void Loader::readUpstreams(const std::map<std::string, Entry>& top) {
  auto it = top.find("upstreams");
  if (it == top.end() || it->second.value.IsNull()) {
    src_.fail(it == top.end() ? root_ : it->second.at, "upstreams",
              "at least one upstream is required");
  }
  src_.requireMap(it->second);
  std::vector<std::string> enabled_in_order;
  for (const auto& up : src_.entries(it->second.value, "upstreams", {})) {
    if (!isValidUpstreamId(up.name) || up.name == "group" || up.name == "client") {
      src_.fail(up.key_node, up.key,
                up.name == "group" ? "'group' is reserved (policy files write group:NAME)"
                : up.name == "client"
                    ? "'client' is reserved (policy files name machine clients "
                      "client:<client_id>)"
                    : "upstream ids are [a-z0-9][a-z0-9_-]*, at most 32 characters");
    }
    src_.requireMap(up);
    UpstreamSettings u;
    u.id = up.name;
    u.source = src_.whereLine(up.key_node);
    nlohmann::json settings = nlohmann::json::object();
    std::optional<Entry> type_entry;
    const std::string env_prefix = envPrefix(u.id);
    const std::map<std::string, std::string> overrides = {
        {"client_id", env_prefix + "_CLIENT_ID"}, {"client_secret", env_prefix + "_CLIENT_SECRET"}};
    for (const auto& e : src_.entries(up.value, up.key, {})) {
      if (e.name == "type") {
        u.type = fileValue(e).text;
        type_entry = e;
      } else if (e.name == "enabled") {
        u.enabled = src_.boolean(e);
      } else if (e.name == "display_name") {
        u.display_name = fileValue(e).text;
      } else if (!overrides.count(e.name) || !fromEnv(overrides.at(e.name))) {
        settings[e.name] = toJson(e.value, e.key);
      }
      recordPositions(e, e.name, u);
    }
    for (const auto& [field, var] : overrides) {
      if (auto v = fromEnv(var)) {
        settings[field] = *v;
        u.value_where[field] = src_.file() + ": environment variable " + var;
      }
    }
    if (!type_entry) src_.fail(up.key_node, up.key + ".type", "required (dev, github or oidc)");
    Value type = fileValue(*type_entry);
    if (u.type != "dev" && u.type != "github" && u.type != "oidc") {
      fail(type, "expected dev, github or oidc");
    }
    if (u.type == "dev" && u.enabled && (!config_.dev_mode || !config_.issuerIsLoopback())) {
      fail(type,
           "the dev upstream lets anyone sign in as anyone; it needs dev_mode: true and a "
           "loopback issuer");
    }
    if (u.display_name.empty()) u.display_name = u.id;
    u.settings_json = settings.dump();
    if (u.enabled) enabled_in_order.push_back(u.id);
    config_.upstreams.emplace(u.id, std::move(u));
  }
  if (enabled_in_order.empty()) {
    src_.fail(it->second.key_node, "upstreams", "at least one enabled upstream is required");
  }
  config_.default_upstream = enabled_in_order.front();
  if (auto v = lookup(top, "default_upstream")) {
    auto found = config_.upstreams.find(v->text);
    if (found == config_.upstreams.end()) fail(*v, "names no upstream in upstreams");
    if (!found->second.enabled) fail(*v, "names a disabled upstream");
    config_.default_upstream = v->text;
  }
}

}  // namespace

const std::vector<std::string>& acceptedKeys() {
  static const std::vector<std::string> keys = [] {
    std::vector<std::string> out;
    for (const auto& top : kTopLevelKeys) {
      auto section = kSectionKeys.find(top);
      if (section == kSectionKeys.end()) {
        out.push_back(top);
        continue;
      }
      for (const auto& key : section->second) out.push_back(top + "." + key);
    }
    return out;
  }();
  return keys;
}

const char* toString(ForwardAuthProxy proxy) {
  switch (proxy) {
    case ForwardAuthProxy::kNginx:
      return "nginx";
    case ForwardAuthProxy::kTraefik:
      return "traefik";
    case ForwardAuthProxy::kEnvoy:
      return "envoy";
  }
  return "nginx";
}

bool Config::issuerIsLoopback() const {
  auto uri = oauth::parseUri(issuer);
  return uri && oauth::isLoopbackHost(uri->host);
}

bool isValidUpstreamId(const std::string& id) {
  if (id.empty() || id.size() > 32) return false;
  if (!std::islower(static_cast<unsigned char>(id[0])) &&
      !std::isdigit(static_cast<unsigned char>(id[0]))) {
    return false;
  }
  return std::all_of(id.begin(), id.end(), [](unsigned char c) {
    return std::islower(c) || std::isdigit(c) || c == '_' || c == '-';
  });
}

EnvLookup processEnv() {
  return [](const std::string& name) -> std::optional<std::string> {
    const char* v = std::getenv(name.c_str());
    if (v == nullptr) return std::nullopt;
    return std::string(v);
  };
}

std::optional<int64_t> parseDuration(const std::string& text) {
  if (text.empty()) return std::nullopt;
  int64_t unit = 1;
  std::string digits = text;
  switch (text.back()) {
    case 's':
      unit = 1;
      break;
    case 'm':
      unit = kMinute;
      break;
    case 'h':
      unit = kHour;
      break;
    case 'd':
      unit = kDay;
      break;
    default:
      return parseCount(text);
  }
  digits.pop_back();
  auto n = parseCount(digits);
  if (!n) return std::nullopt;
  return *n * unit;
}

Config parseConfig(const std::string& yaml_text, const std::string& path, const EnvLookup& env) {
  try {
    return Loader(path, env).load(yaml_text);
  } catch (const SourceError& e) {
    throw ConfigError(e.what());
  }
}

Config loadConfig(const std::string& path, const EnvLookup& env) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ConfigError(path + ": cannot read: " + std::strerror(errno));
  std::stringstream text;
  text << in.rdbuf();
  return parseConfig(text.str(), path, env);
}

}  // namespace broker::config
