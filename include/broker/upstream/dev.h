#pragma once
// The development upstream: a page where you type a username (and optional groups). Enabled only
// with `dev_mode: true` on a loopback issuer; it checks no password.

#include <memory>
#include <string>

#include "broker/upstream/upstream.h"

namespace broker::upstream {

std::shared_ptr<UpstreamProvider> makeDevUpstream(const std::string& id, const std::string& issuer,
                                                  const std::string& display_name);

}  // namespace broker::upstream
