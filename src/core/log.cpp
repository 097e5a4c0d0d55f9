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

std::string timestamp() {
  auto now = std::chrono::system_clock::now();
  auto secs = std::chrono::system_clock::to_time_t(now);
  auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[96];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms));
  return buf;
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
