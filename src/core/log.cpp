#include "broker/core/log.h"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <mutex>

#include "json_escape.h"

namespace broker::log {
namespace {
std::atomic<int> g_level{static_cast<int>(Level::kInfo)};
std::mutex g_mutex;

const char* levelName(Level l) {
  switch (l) {
    case Level::kDebug:
      return "debug";
    case Level::kInfo:
      return "info";
    case Level::kWarn:
      return "warn";
    case Level::kError:
      return "error";
  }
  return "info";
}

// The date and time change once a second, so each thread formats them once a second and only
// the milliseconds per line.
std::string timestamp() {
  thread_local std::time_t cached_secs = -1;
  thread_local char cached[32];
  auto now = std::chrono::system_clock::now();
  auto secs = std::chrono::system_clock::to_time_t(now);
  auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  if (secs != cached_secs) {
    std::tm tm{};
    gmtime_r(&secs, &tm);
    std::strftime(cached, sizeof cached, "%Y-%m-%dT%H:%M:%S", &tm);
    cached_secs = secs;
  }
  std::string out(cached);
  out += '.';
  out += static_cast<char>('0' + ms / 100);
  out += static_cast<char>('0' + ms / 10 % 10);
  out += static_cast<char>('0' + ms % 10);
  out += 'Z';
  return out;
}

template <class Fields>
void emit(Level level, const std::string& event, const Fields& fields, bool security) {
  if (!enabled(level)) return;
  std::string line;
  line.reserve(160);
  line += "{\"ts\":\"" + timestamp() + "\",\"level\":\"" + levelName(level) + "\",\"event\":";
  appendJsonString(line, event);
  if (security) line += ",\"security\":true";
  for (const auto& f : fields) {
    line += ',';
    appendJsonString(line, f.key);
    line += ':';
    if (f.raw) {
      line += f.value;
    } else {
      appendJsonString(line, f.value);
    }
  }
  line += "}\n";
  std::lock_guard<std::mutex> lock(g_mutex);
  std::fwrite(line.data(), 1, line.size(), stderr);
}
}  // namespace

void setLevel(Level level) {
  g_level.store(static_cast<int>(level));
}

bool parseLevel(const std::string& name, Level& out) {
  if (name == "debug")
    out = Level::kDebug;
  else if (name == "info")
    out = Level::kInfo;
  else if (name == "warn" || name == "warning")
    out = Level::kWarn;
  else if (name == "error")
    out = Level::kError;
  else
    return false;
  return true;
}

bool enabled(Level level) {
  return static_cast<int>(level) >= g_level.load();
}

void write(Level level, const std::string& event, std::initializer_list<Field> fields) {
  emit(level, event, fields, false);
}
void write(Level level, const std::string& event, const std::vector<Field>& fields) {
  emit(level, event, fields, false);
}
void security(const std::string& event, std::initializer_list<Field> fields) {
  emit(Level::kWarn, event, fields, true);
}

}  // namespace broker::log
