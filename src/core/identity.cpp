#include "broker/core/identity.h"

#include <nlohmann/json.hpp>

namespace broker {

std::string Identity::toJson() const {
  nlohmann::json j = {{"upstream_id", upstream_id},
                      {"upstream_type", upstream_type},
                      {"subject", subject},
                      {"username", username},
                      {"name", name},
                      {"email", email},
                      {"email_verified", email_verified},
                      {"groups", groups}};
  return j.dump();
}

bool Identity::fromJson(const std::string& json, Identity& out) {
  auto j = nlohmann::json::parse(json, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return false;
  try {
    out.upstream_id = j.value("upstream_id", "");
    out.upstream_type = j.value("upstream_type", "");
    out.subject = j.value("subject", "");
    out.username = j.value("username", "");
    out.name = j.value("name", "");
    out.email = j.value("email", "");
    out.email_verified = j.value("email_verified", false);
    out.groups = j.value("groups", std::vector<std::string>{});
  } catch (const nlohmann::json::exception&) {
    return false;
  }
  return !out.upstream_id.empty() && !out.subject.empty();
}

}  // namespace broker
