#pragma once
// `policy migrate`: converts the JSON server list of the closest existing broker,
//   {"servers": {"<domain>": {"<server>": {"name", "description", "allowed_users": [...]}}}}
// into a policy YAML file that loads unchanged (bare user names keep matching every upstream,
// as they did there). The result is checked by loading it before it is returned. Keys the policy
// has no place for (top-level keys other than servers, server settings such as url) are left
// out and named, with their JSON path, in `notes`.

#include <string>
#include <vector>

namespace broker::policy {

struct Migration {
  std::string yaml;
  std::vector<std::string> notes;  // "path: why", one per key left out, for stderr
};

// Throws PolicyError naming `source` and the JSON path of the problem.
Migration migrateJsonServers(const std::string& json_text, const std::string& source);

}  // namespace broker::policy
