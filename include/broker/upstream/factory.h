#pragma once
// Builds the configured upstreams. Throws config::ConfigError naming the upstream on bad settings.

#include "broker/config/config.h"
#include "broker/upstream/upstream.h"

namespace broker::upstream {

void buildUpstreams(const config::Config& config, UpstreamRegistry& registry);

}  // namespace broker::upstream
