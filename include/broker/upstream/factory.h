#pragma once
// Builds the configured upstreams, and reads the configuration the way every command does: the
// file's own checks (config::loadConfig) and then each enabled upstream's settings, so a mistake
// in an upstream stops `migrate`, `keys`, `client` and `revoke` as it stops `serve`, with the file,
// line, column and key. Throws config::ConfigError.

#include "broker/config/config.h"
#include "broker/upstream/upstream.h"

namespace broker::upstream {

config::Config loadCheckedConfig(const std::string& path,
                                 const config::EnvLookup& env = config::processEnv());
config::Config parseCheckedConfig(const std::string& yaml_text, const std::string& path,
                                  const config::EnvLookup& env);
// Parses every enabled upstream's settings as buildUpstreams would, building nothing.
void checkUpstreamSettings(const config::Config& config);

void buildUpstreams(const config::Config& config, UpstreamRegistry& registry);

}  // namespace broker::upstream
