#pragma once
// Mutations of a known-good value for negative tests: a check that accepts the original must
// reject every single-bit flip and every truncation of it.

#include <cstddef>
#include <string>
#include <string_view>

namespace broker::testing {

template <class Fn>
void forEachBitFlip(std::string_view data, Fn&& fn) {
  for (size_t i = 0; i < data.size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      std::string mutated(data);
      mutated[i] = static_cast<char>(mutated[i] ^ (1 << bit));
      fn(mutated, i, bit);
    }
  }
}

// Every strict prefix, the empty one included.
template <class Fn>
void forEachTruncation(std::string_view data, Fn&& fn) {
  for (size_t n = 0; n < data.size(); ++n) fn(std::string(data.substr(0, n)));
}

}  // namespace broker::testing
