// JSON encoding of string lists stored in TEXT columns.

#include "store/row_mapping.h"

#include <nlohmann/json.hpp>

namespace broker::store {

std::string toJsonList(const std::vector<std::string>& items) {
  // Replacing invalid UTF-8 instead of throwing: a store method must not throw.
  return nlohmann::json(items).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::vector<std::string> fromJsonList(const std::string& text) {
  std::vector<std::string> out;
  auto parsed = nlohmann::json::parse(text, nullptr, false);
  if (!parsed.is_array()) return out;
  for (const auto& item : parsed) {
    if (item.is_string()) out.push_back(item.get<std::string>());
  }
  return out;
}

}  // namespace broker::store
