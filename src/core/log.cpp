#include "broker/core/log.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <mutex>
#include <thread>

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

void writeOut(const std::string& text) {
  if (!text.empty()) std::fwrite(text.data(), 1, text.size(), stderr);
}

// Lines that may wait a moment (the access line of each request) gather here; one thread writes
// them out in batches, so a busy server makes one write per millisecond instead of one per
// request. The first line into an empty batch wakes the writer, which waits kGather for more.
// Lock order: g_mutex (the stream), then the batch's own mutex.
// Never destroyed: threads may still log while the process exits; an exit handler writes out
// what is left.
class Batch {
 public:
  static Batch& instance() {
    static Batch* batch = [] {
      auto* b = new Batch();
      std::atexit([] { Batch::instance().flush(); });
      return b;
    }();
    return *batch;
  }

  void add(const std::string& line) {
    bool wake;
    bool full;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      wake = pending_.empty();
      pending_ += line;
      full = pending_.size() >= kMaxPending;
    }
    if (full) {
      flush();  // far behind: this caller writes
    } else if (wake) {
      cv_.notify_one();
    }
  }

  void flush() {
    std::lock_guard<std::mutex> lock(g_mutex);
    flushLocked();
  }

  // With g_mutex held.
  void flushLocked() {
    std::string out;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      out.swap(pending_);
    }
    writeOut(out);
  }

 private:
  static constexpr size_t kMaxPending = 256 * 1024;
  static constexpr std::chrono::milliseconds kGather{1};

  Batch() {
    std::thread([this] { run(); }).detach();
  }

  void run() {
    while (true) {
      {
        std::unique_lock<std::mutex> lock(mutex_);
        cv_.wait(lock, [&] { return !pending_.empty(); });
      }
      std::this_thread::sleep_for(kGather);
      flush();
    }
  }

  std::mutex mutex_;
  std::condition_variable cv_;
  std::string pending_;
};

template <class Fields>
std::string formatLine(Level level, const std::string& event, const Fields& fields, bool security) {
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
  return line;
}

template <class Fields>
void emit(Level level, const std::string& event, const Fields& fields, bool security) {
  if (!enabled(level)) return;
  const std::string line = formatLine(level, event, fields, security);
  Batch& batch = Batch::instance();
  std::lock_guard<std::mutex> lock(g_mutex);
  batch.flushLocked();  // what is batched goes out first, so lines keep their order
  writeOut(line);
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
void deferred(Level level, const std::string& event, std::initializer_list<Field> fields) {
  if (!enabled(level)) return;
  Batch::instance().add(formatLine(level, event, fields, false));
}
void flush() {
  Batch::instance().flush();
}
void security(const std::string& event, std::initializer_list<Field> fields) {
  emit(Level::kWarn, event, fields, true);
}

}  // namespace broker::log
