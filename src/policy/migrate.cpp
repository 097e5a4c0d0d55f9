#include "broker/policy/migrate.h"

#include <algorithm>
#include <cctype>
#include <nlohmann/json.hpp>

#include "broker/policy/policy.h"
#include "policy/rules.h"

namespace broker::policy {
namespace {

using Json = nlohmann::ordered_json;

// A scalar written plain when YAML cannot read it as anything but that string, else quoted.
// JSON string syntax is a subset of YAML's double-quoted scalars, so json::dump quotes it.
std::string yamlScalar(const std::string& s) {
  static const char* const kReserved[] = {"true", "false", "yes", "no", "on",
                                          "off",  "null",  "y",   "n",  "~"};
  std::string lower = s;
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  bool plain = !s.empty() && std::isalpha(static_cast<unsigned char>(s[0])) &&
               std::all_of(s.begin(), s.end(),
                           [](unsigned char c) {
                             return std::isalnum(c) || c == '.' || c == '_' || c == '-' ||
                                    c == '@' || c == '/';
                           }) &&
               std::none_of(std::begin(kReserved), std::end(kReserved),
                            [&](const char* r) { return lower == r; });
  return plain ? s : Json(s).dump();
}

std::vector<std::string> settingKeys() {
  std::vector<std::string> keys = {"name", "description", "resource", "access_ttl", "upstreams"};
  for (const char* side : {"allowed_", "denied_"}) {
    for (RuleKind kind : kAllRuleKinds) keys.push_back(side + std::string(kindName(kind)));
  }
  return keys;
}

class Migrator {
 public:
  explicit Migrator(std::string source) : source_(std::move(source)) {}

  Migration run(const std::string& text) {
    Json root = Json::parse(text, nullptr, false);
    if (root.is_discarded()) fail("", "not valid JSON");
    if (!root.is_object()) fail("", "expected a JSON object with a servers key");
    for (const auto& [key, value] : root.items()) {
      if (key != "servers") out_.notes.push_back(key + ": not part of the policy; ignored");
    }
    if (!root.contains("servers") || !root["servers"].is_object() || root["servers"].empty()) {
      fail("servers", "expected an object of domains to servers");
    }
    yaml_ =
        "# Migrated from " + source_ +
        " by `mcp-auth-broker policy migrate`.\n"
        "# No default_upstream is set, so bare user names match that name from every upstream,\n"
        "# as before. Set default_upstream (or write upstream:name) to pin them to one.\n"
        "servers:\n";
    for (const auto& [domain, servers] : root["servers"].items()) {
      const std::string path = "servers." + domain;
      if (!servers.is_object() || servers.empty()) fail(path, "expected an object of servers");
      yaml_ += "  " + yamlScalar(domain) + ":\n";
      for (const auto& [server, settings] : servers.items()) {
        writeServer(path + "." + server, server, settings);
      }
    }
    try {
      Policy::loadString(yaml_, source_ + " (migrated)");
    } catch (const PolicyError& e) {
      throw PolicyError(std::string("the migrated policy does not load: ") + e.what());
    }
    out_.yaml = std::move(yaml_);
    return std::move(out_);
  }

 private:
  [[noreturn]] void fail(const std::string& path, const std::string& message) const {
    throw PolicyError(source_ + ": " + (path.empty() ? "" : path + ": ") + message);
  }

  std::string scalar(const Json& v, const std::string& path) const {
    if (v.is_string()) return yamlScalar(v.get<std::string>());
    if (v.is_number_integer()) return v.dump();
    fail(path, "expected a string");
  }

  void writeServer(const std::string& path, const std::string& server, const Json& settings) {
    if (!settings.is_object()) fail(path, "expected an object");
    static const std::vector<std::string> kKeys = settingKeys();
    yaml_ += "    " + yamlScalar(server) + ":";
    // Like a top-level key other than servers, a setting the policy has no place for (a url,
    // an owner) is named on stderr and left behind; the rest of the server still migrates.
    std::string body;
    for (const auto& [key, value] : settings.items()) {
      const std::string at = path + "." + key;
      if (std::find(kKeys.begin(), kKeys.end(), key) == kKeys.end()) {
        out_.notes.push_back(at + ": not a server setting the policy knows; ignored");
        continue;
      }
      body += "      " + key + ":";
      if (value.is_array()) {
        body += " [";
        for (size_t i = 0; i < value.size(); ++i) {
          body += (i ? ", " : "") + scalar(value[i], at + "[" + std::to_string(i) + "]");
        }
        body += "]\n";
      } else {
        body += " " + scalar(value, at) + "\n";
      }
    }
    yaml_ += body.empty() ? " {}\n" : "\n" + body;
  }

  std::string source_;
  std::string yaml_;
  Migration out_;
};

}  // namespace

Migration migrateJsonServers(const std::string& json_text, const std::string& source) {
  return Migrator(source).run(json_text);
}

}  // namespace broker::policy
