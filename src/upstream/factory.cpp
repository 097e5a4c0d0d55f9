// Builds the configured upstreams (dev, GitHub, OpenID Connect) from their settings.

#include "broker/upstream/factory.h"

#include "broker/core/log.h"
#include "broker/upstream/dev.h"
#include "broker/upstream/github.h"
#include "broker/upstream/oidc.h"

namespace broker::upstream {

config::Config parseCheckedConfig(const std::string& yaml_text, const std::string& path,
                                  const config::EnvLookup& env) {
  config::Config config = config::parseConfig(yaml_text, path, env);
  checkUpstreamSettings(config);
  return config;
}

config::Config loadCheckedConfig(const std::string& path, const config::EnvLookup& env) {
  config::Config config = config::loadConfig(path, env);
  checkUpstreamSettings(config);
  return config;
}

void checkUpstreamSettings(const config::Config& config) {
  for (const auto& [id, settings] : config.upstreams) {
    if (!settings.enabled) continue;
    if (settings.type == "dev") {
      checkDevSettings(settings);
    } else if (settings.type == "github") {
      (void)parseGitHubSettings(settings);
    } else if (settings.type == "oidc") {
      (void)parseOidcSettings(settings);
    }
  }
}

void buildUpstreams(const config::Config& config, UpstreamRegistry& registry) {
  for (const auto& [id, settings] : config.upstreams) {
    if (!settings.enabled) continue;
    if (settings.type == "dev") {
      if (!config.dev_mode || !config.issuerIsLoopback()) {
        throw config::ConfigError(settings.source + ": upstreams." + id +
                                  ": the dev upstream needs dev_mode: true and a loopback issuer");
      }
      log::warn("dev_upstream_enabled",
                {{"upstream", id},
                 {"warning", "development login enabled: anyone can sign in as anyone"}});
      checkDevSettings(settings);
      registry.add(makeDevUpstream(id, config.issuer, settings.display_name));
    } else if (settings.type == "github") {
      registry.add(makeGitHubUpstream(parseGitHubSettings(settings)));
    } else if (settings.type == "oidc") {
      registry.add(makeOidcUpstream(parseOidcSettings(settings)));
    } else {
      throw config::ConfigError(settings.source + ": upstreams." + id + ".type: '" + settings.type +
                                "' is not supported by this build");
    }
  }
  if (registry.all().empty()) {
    throw config::ConfigError(config.source_path +
                              ": upstreams: at least one enabled upstream is required");
  }
}

}  // namespace broker::upstream
