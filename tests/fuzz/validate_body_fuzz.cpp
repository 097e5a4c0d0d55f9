// libFuzzer target for the JSON body of POST /validate ({"token": "..."}): the fast path that
// reads the common body without a JSON parser must agree with the parser on every body it
// accepts, and the whole reader never throws or crashes.
// The seed corpus is replayed by a plain ctest (validate_body_fuzz_corpus) with any compiler.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "oauth/request_bodies.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  const auto token = broker::oauth::validationBodyToken(body);
  const auto plain = broker::oauth::plainTokenBody(body);

  // What a JSON parser makes of the body.
  auto doc = nlohmann::json::parse(body.begin(), body.end(), nullptr, false);
  std::optional<std::string> parsed;
  if (!doc.is_discarded() && doc.is_object()) {
    auto it = doc.find("token");
    if (it != doc.end() && it->is_string()) parsed = it->get<std::string>();
  }
  if (plain) {
    // The fast path reads only bodies the parser reads the same way.
    if (!parsed || *parsed != *plain) __builtin_trap();
    for (char c : *plain) {
      const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '-' || c == '_' || c == '.';
      if (!ok) __builtin_trap();
    }
  }
  if (token != parsed) __builtin_trap();
  return 0;
}
