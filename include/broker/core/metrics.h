#pragma once
// Prometheus metrics: counters, gauges and histograms kept in atomics, and their text exposition
// (format 0.0.4). Updating a metric never takes a lock; finding a labelled child takes none
// either once the child exists (children are only ever added, into a fixed array, and read with
// acquire loads). The first use of a new label set takes a mutex shared with nothing on the hot
// path but other first uses.
//
// Label values must come from a bounded set (routes, upstream ids, policy servers, OAuth error
// codes), never from a user, token or client id. A family holds at most kMaxChildren label sets;
// further ones are all counted under the label value "other".

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace broker::metrics {

class Counter {
 public:
  void inc(uint64_t n = 1) { value_.fetch_add(n, std::memory_order_relaxed); }
  uint64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> value_{0};
};

class Gauge {
 public:
  void set(int64_t v) { value_.store(v, std::memory_order_relaxed); }
  void add(int64_t d) { value_.fetch_add(d, std::memory_order_relaxed); }
  int64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<int64_t> value_{0};
};

// Durations in seconds. Buckets are upper bounds, ascending; +Inf is implied.
class Histogram {
 public:
  explicit Histogram(const std::vector<double>& bounds);
  void observe(double seconds);
  void observe(std::chrono::steady_clock::duration d);

  struct Snapshot {
    std::vector<uint64_t> cumulative;  // one per bound, then +Inf
    uint64_t count = 0;
    double sum = 0;
  };
  Snapshot snapshot() const;
  const std::vector<double>& bounds() const { return bounds_; }

 private:
  const std::vector<double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> buckets_;  // per bucket (not cumulative), then +Inf
  std::atomic<uint64_t> count_{0};
  std::atomic<uint64_t> sum_ns_{0};
};

// Request and store latencies: 0.5 ms to 10 s.
const std::vector<double>& defaultLatencyBuckets();
// Calls to other servers: 5 ms to 30 s.
const std::vector<double>& upstreamLatencyBuckets();

// Times a scope into a histogram (when it is not null).
class Timer {
 public:
  explicit Timer(Histogram* h) : h_(h), start_(std::chrono::steady_clock::now()) {}
  ~Timer() {
    if (h_) h_->observe(std::chrono::steady_clock::now() - start_);
  }
  Timer(const Timer&) = delete;
  Timer& operator=(const Timer&) = delete;

 private:
  Histogram* h_;
  std::chrono::steady_clock::time_point start_;
};

class Collector {
 public:
  virtual ~Collector() = default;
  virtual void render(std::string& out) const = 0;
};

enum class Type { kCounter, kGauge, kHistogram };

// One metric name and its children, one per label set.
template <class T>
class Family final : public Collector {
 public:
  static constexpr size_t kMaxChildren = 256;
  using Labels = std::vector<std::string>;

  Family(std::string name, std::string help, std::vector<std::string> label_names,
         std::function<std::unique_ptr<T>()> make);
  ~Family() override;

  // The child for these label values (as many as label names). Lock-free when it exists.
  T& with(std::initializer_list<std::string_view> values);
  T& with(const std::vector<std::string>& values);
  // Without labels: the one child.
  T& get() { return with(std::initializer_list<std::string_view>{}); }

  void render(std::string& out) const override;

 private:
  struct Child {
    Labels labels;
    std::unique_ptr<T> metric;
  };
  template <class Values>
  T& find(const Values& values);
  template <class Values>
  static bool same(const Labels& labels, const Values& values);

  const std::string name_;
  const std::string help_;
  const std::vector<std::string> label_names_;
  const std::function<std::unique_ptr<T>()> make_;
  std::array<std::atomic<Child*>, kMaxChildren> children_{};
  std::atomic<size_t> size_{0};
  std::mutex add_mu_;
  std::unique_ptr<Child> overflow_;
};

// A gauge read when scraped (queue depths, key ages): `read` runs at every scrape, on the thread
// that renders, and must be quick and must not block. It returns nothing when it has no value.
class CallbackGauge final : public Collector {
 public:
  using Read = std::function<std::optional<double>()>;
  CallbackGauge(std::string name, std::string help)
      : name_(std::move(name)), help_(std::move(help)) {}
  void set(Read read);
  void render(std::string& out) const override;

 private:
  const std::string name_;
  const std::string help_;
  mutable std::mutex mu_;  // taken by set() (start-up, shut-down) and render() only
  Read read_;
};

class Registry {
 public:
  Registry() = default;
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  Family<Counter>& counter(const std::string& name, const std::string& help,
                           std::vector<std::string> labels = {});
  Family<Gauge>& gauge(const std::string& name, const std::string& help,
                       std::vector<std::string> labels = {});
  Family<Histogram>& histogram(const std::string& name, const std::string& help,
                               std::vector<std::string> labels, const std::vector<double>& bounds);
  CallbackGauge& callbackGauge(const std::string& name, const std::string& help);

  // The text exposition format, every family in the order it was registered.
  std::string render() const;

 private:
  template <class C>
  C& add(std::unique_ptr<C> collector);

  mutable std::mutex mu_;  // registration (start-up) and rendering; never an update
  std::vector<std::unique_ptr<Collector>> collectors_;
};

// Content-Type of the text exposition format.
constexpr const char* kContentType = "text/plain; version=0.0.4; charset=utf-8";

// "\\", "\"" and newline escaped, as label values need.
std::string escapeLabelValue(std::string_view v);
// A number as the format writes it: shortest round trip, "+Inf", "NaN".
std::string formatNumber(double v);

}  // namespace broker::metrics
