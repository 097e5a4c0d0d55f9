// libFuzzer target for form and query decoding: the parser behind every query string and
// application/x-www-form-urlencoded body (http::parseUrlEncoded, as Request::query and
// Request::form use it), the stricter one the authorize endpoint applies to its query
// (parseUrlEncoded in core/encoding.h), percent-decoding of paths, and Cookie header lookup.
//
// Properties: the two parsers agree on every input both accept; a pair is refused only for a bad
// %-escape; every decoded pair encodes and decodes back to itself; nothing throws or crashes.
// The seed corpus is replayed by a plain ctest (url_encoded_fuzz_corpus) with any compiler.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "broker/core/encoding.h"
#include "broker/http/http.h"
#include "http/url_encoded.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);

  const broker::http::UrlEncoded lenient = broker::http::parseUrlEncoded(text);
  std::map<std::string, std::string> strict;
  std::vector<std::string> strict_dups;
  const bool strict_ok = broker::parseUrlEncoded(text, strict, &strict_dups);

  // The strict parser refuses exactly the inputs where the lenient one dropped a bad pair.
  if (strict_ok == lenient.malformed) __builtin_trap();
  if (strict_ok) {
    // Same pairs, except that the lenient parser ignores a pair without a name.
    strict.erase("");
    if (strict != lenient.values) __builtin_trap();
    std::vector<std::string> named;
    for (const auto& d : strict_dups) {
      if (!d.empty() && std::find(named.begin(), named.end(), d) == named.end()) {
        named.push_back(d);
      }
    }
    if (named != lenient.duplicates) __builtin_trap();
  }
  for (const auto& [name, value] : lenient.values) {
    if (name.empty()) __builtin_trap();
    const std::string again = broker::urlEncode(name) + "=" + broker::urlEncode(value);
    const auto round = broker::http::parseUrlEncoded(again);
    if (round.malformed || round.values.size() != 1 || round.values.begin()->first != name ||
        round.values.begin()->second != value) {
      __builtin_trap();
    }
  }

  // The same bytes as a form body and as a path; a path keeps '+' as it is.
  broker::http::Request req;
  req.body = std::string(text);
  std::vector<std::string> dups;
  bool malformed = false;
  if (req.form(&dups, &malformed) != lenient.values || dups != lenient.duplicates ||
      malformed != lenient.malformed) {
    __builtin_trap();
  }
  if (auto path = broker::urlDecode(text, false)) {
    if (path->size() > text.size()) __builtin_trap();
    if (text.find('%') == std::string_view::npos && *path != text) __builtin_trap();
  }

  // The bytes as a Cookie header.
  req.headers["cookie"] = std::string(text);
  for (const char* name : {"__Host-broker_session", "broker_csrf", "a", ""}) {
    if (auto value = req.cookie(name)) {
      if (value->size() > text.size()) __builtin_trap();
    }
  }
  return 0;
}
