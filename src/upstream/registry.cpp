#include "broker/upstream/upstream.h"

namespace broker::upstream {

void UpstreamRegistry::add(std::shared_ptr<UpstreamProvider> provider) {
  providers_.push_back(std::move(provider));
}

std::shared_ptr<UpstreamProvider> UpstreamRegistry::find(const std::string& id) const {
  for (const auto& p : providers_) {
    if (p->id() == id) return p;
  }
  return nullptr;
}

}  // namespace broker::upstream
