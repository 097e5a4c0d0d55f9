#pragma once
// Strict JSON object parsing for JOSE headers, JWT claims sets and JWKs (RFC 7515 §4, RFC 7519
// §4). Never throws. Rejects duplicate member names at every level instead of silently keeping the
// last one, so two parsers can never disagree about what a signed document says, and bounds nesting
// so hostile input cannot exhaust the stack.

#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace broker::token::detail {

inline constexpr int kMaxJsonDepth = 16;

inline std::optional<nlohmann::json> parseJsonObject(std::string_view text) {
  using nlohmann::json;
  std::vector<std::set<std::string>> open_objects;
  bool rejected = false;
  auto check = [&](int depth, json::parse_event_t event, json& parsed) {
    if (depth > kMaxJsonDepth) rejected = true;
    switch (event) {
      case json::parse_event_t::object_start:
        open_objects.emplace_back();
        break;
      case json::parse_event_t::object_end:
        if (!open_objects.empty()) open_objects.pop_back();
        break;
      case json::parse_event_t::key:
        if (open_objects.empty() || parsed.is_discarded() || !parsed.is_string() ||
            !open_objects.back().insert(parsed.get_ref<const std::string&>()).second) {
          rejected = true;
        }
        break;
      default:
        break;
    }
    return !rejected;
  };
  json value = json::parse(text.begin(), text.end(), check, /*allow_exceptions=*/false);
  if (rejected || value.is_discarded() || !value.is_object()) return std::nullopt;
  return value;
}

}  // namespace broker::token::detail
