#pragma once
// The development upstream: a page where you type a username (and optional groups). Enabled only
// with `dev_mode: true` on a loopback issuer; it checks no password.

#include <memory>
#include <string>

#include "broker/config/config.h"
#include "broker/upstream/upstream.h"

namespace broker::upstream {

std::shared_ptr<UpstreamProvider> makeDevUpstream(const std::string& id, const std::string& issuer,
                                                  const std::string& display_name);

// The dev upstream has no settings of its own: any key besides type, enabled and display_name is
// an error naming its file, line and column. Throws config::ConfigError.
void checkDevSettings(const config::UpstreamSettings& settings);

}  // namespace broker::upstream
