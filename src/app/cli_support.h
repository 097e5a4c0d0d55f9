#pragma once
// Small pieces every subcommand file uses.

#include <cstdint>
#include <ctime>
#include <exception>
#include <iostream>
#include <string>

namespace broker::app {

// Runs `fn`, turning start-up exceptions into one clear line and exit code 1.
template <class Fn>
int guarded(Fn&& fn) {
  try {
    return fn();
  } catch (const std::exception& e) {
    std::cerr << "mcp-auth-broker: " << e.what() << "\n";
    return 1;
  }
}

// "2026-12-06T13:05:00Z" (ISO 8601, UTC); "-" for a time not set yet (0).
inline std::string isoTime(int64_t seconds) {
  if (seconds == 0) return "-";
  std::time_t t = static_cast<std::time_t>(seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char out[32];
  std::strftime(out, sizeof out, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return out;
}

}  // namespace broker::app
