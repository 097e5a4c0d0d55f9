#pragma once
// Structured logging: one JSON object per line on stderr. Fields are key/value strings; never pass
// tokens, codes, secrets, verifiers or upstream tokens (log ids and hashes instead).

#include <cstdint>
#include <initializer_list>
#include <string>
#include <utility>
#include <vector>

namespace broker::log {

enum class Level { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

struct Field {
  std::string key;
  std::string value;
  bool raw = false;  // value is already JSON (number, bool, object)
  Field(std::string k, std::string v) : key(std::move(k)), value(std::move(v)) {}
  Field(std::string k, const char* v) : key(std::move(k)), value(v ? v : "") {}
  Field(std::string k, int64_t v) : key(std::move(k)), value(std::to_string(v)), raw(true) {}
  Field(std::string k, int v) : key(std::move(k)), value(std::to_string(v)), raw(true) {}
  Field(std::string k, bool v) : key(std::move(k)), value(v ? "true" : "false"), raw(true) {}
};

void setLevel(Level level);
bool parseLevel(const std::string& name, Level& out);
bool enabled(Level level);

// {"ts":"...","level":"info","event":"<event>", ...fields}
void write(Level level, const std::string& event, std::initializer_list<Field> fields);
void write(Level level, const std::string& event, const std::vector<Field>& fields);

inline void info(const std::string& e, std::initializer_list<Field> f = {}) {
  write(Level::kInfo, e, f);
}
inline void warn(const std::string& e, std::initializer_list<Field> f = {}) {
  write(Level::kWarn, e, f);
}
inline void error(const std::string& e, std::initializer_list<Field> f = {}) {
  write(Level::kError, e, f);
}
inline void debug(const std::string& e, std::initializer_list<Field> f = {}) {
  write(Level::kDebug, e, f);
}

// For high-volume lines (the access line of each request): written within about a millisecond by
// a background writer, in batches, instead of at once. Any immediate line writes out what is
// batched first, so the order of lines is kept; flush() does the same, and runs at exit.
void deferred(Level level, const std::string& event, std::initializer_list<Field> fields);
void flush();

// Security events (login, denial, code reuse, refresh reuse, revocation) carry "security":true.
void security(const std::string& event, std::initializer_list<Field> fields);

}  // namespace broker::log
