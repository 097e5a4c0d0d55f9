#pragma once
// application/x-www-form-urlencoded parsing shared by query strings and form bodies.

#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace broker::http {

struct UrlEncoded {
  std::map<std::string, std::string> values;  // first value wins
  std::vector<std::string> duplicates;        // each repeated name once, in order of repetition
  bool malformed = false;                     // a pair had a bad %-escape and was dropped
};

UrlEncoded parseUrlEncoded(std::string_view s);

}  // namespace broker::http
