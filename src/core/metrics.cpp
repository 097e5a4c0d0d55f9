// Prometheus text exposition format 0.0.4: "# HELP", "# TYPE", then one line per sample;
// histograms as cumulative `_bucket{le=...}` lines with `_sum` and `_count`.

#include "broker/core/metrics.h"

#include <fmt/format.h>

#include <cmath>

namespace broker::metrics {
namespace {

const char* typeName(Type t) {
  switch (t) {
    case Type::kCounter:
      return "counter";
    case Type::kGauge:
      return "gauge";
    case Type::kHistogram:
      return "histogram";
  }
  return "untyped";
}

void header(std::string& out, const std::string& name, const std::string& help, Type type) {
  out += "# HELP " + name + " ";
  for (char c : help) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  out += "\n# TYPE " + name + " " + typeName(type) + "\n";
}

// `a="x",b="y"`: the pairs without braces, so a histogram appends its `le` without copying them.
std::string labelPairs(const std::vector<std::string>& names,
                       const std::vector<std::string>& values) {
  std::string out;
  for (size_t i = 0; i < names.size(); ++i) {
    if (i > 0) out += ',';
    out += names[i];
    out += "=\"";
    out += escapeLabelValue(values[i]);
    out += '"';
  }
  return out;
}

// One sample: name{pairs} value.
void line(std::string& out, const std::string& name, const char* suffix, const std::string& pairs,
          const std::string& value) {
  out += name;
  out += suffix;
  if (!pairs.empty()) {
    out += '{';
    out += pairs;
    out += '}';
  }
  out += ' ';
  out += value;
  out += '\n';
}

template <class T>
constexpr Type typeOf();
template <>
constexpr Type typeOf<Counter>() {
  return Type::kCounter;
}
template <>
constexpr Type typeOf<Gauge>() {
  return Type::kGauge;
}
template <>
constexpr Type typeOf<Histogram>() {
  return Type::kHistogram;
}

void writeSample(std::string& out, const std::string& name, const std::vector<std::string>& names,
                 const std::vector<std::string>& values, const Counter& c) {
  line(out, name, "", labelPairs(names, values), std::to_string(c.value()));
}

void writeSample(std::string& out, const std::string& name, const std::vector<std::string>& names,
                 const std::vector<std::string>& values, const Gauge& g) {
  line(out, name, "", labelPairs(names, values), std::to_string(g.value()));
}

void writeSample(std::string& out, const std::string& name, const std::vector<std::string>& names,
                 const std::vector<std::string>& values, const Histogram& h) {
  const auto snap = h.snapshot();
  const std::string pairs = labelPairs(names, values);
  const std::string le = pairs.empty() ? "le=\"" : pairs + ",le=\"";
  for (size_t i = 0; i <= h.bounds().size(); ++i) {
    line(out, name, "_bucket",
         le + (i < h.bounds().size() ? formatNumber(h.bounds()[i]) : "+Inf") + '"',
         std::to_string(snap.cumulative[i]));
  }
  line(out, name, "_sum", pairs, formatNumber(snap.sum));
  line(out, name, "_count", pairs, std::to_string(snap.count));
}

}  // namespace

std::string escapeLabelValue(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string formatNumber(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  return fmt::format("{}", v);
}

// ---- Histogram ----

Histogram::Histogram(const std::vector<double>& bounds)
    : bounds_(bounds), buckets_(new std::atomic<uint64_t>[bounds.size() + 1]) {
  for (size_t i = 0; i <= bounds_.size(); ++i) buckets_[i].store(0);
}

void Histogram::observe(double seconds) {
  size_t i = 0;
  while (i < bounds_.size() && seconds > bounds_[i]) ++i;
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  if (seconds > 0) {
    sum_ns_.fetch_add(static_cast<uint64_t>(std::llround(seconds * 1e9)),
                      std::memory_order_relaxed);
  }
}

void Histogram::observe(std::chrono::steady_clock::duration d) {
  observe(std::chrono::duration<double>(d).count());
}

// Read without stopping writers: the count is the sum of the buckets read, so the `+Inf` bucket
// always equals `_count` as the format requires.
Histogram::Snapshot Histogram::snapshot() const {
  Snapshot s;
  s.cumulative.resize(bounds_.size() + 1);
  uint64_t running = 0;
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    running += buckets_[i].load(std::memory_order_relaxed);
    s.cumulative[i] = running;
  }
  s.count = running;
  s.sum = static_cast<double>(sum_ns_.load(std::memory_order_relaxed)) / 1e9;
  return s;
}

const std::vector<double>& defaultLatencyBuckets() {
  static const std::vector<double> b = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                        0.1,    0.25,  0.5,    1,     2.5,  5,     10};
  return b;
}

const std::vector<double>& upstreamLatencyBuckets() {
  static const std::vector<double> b = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                                        1,     2.5,  5,     10,   20,  30};
  return b;
}

// ---- Family ----

template <class T>
Family<T>::Family(std::string name, std::string help, std::vector<std::string> label_names,
                  std::function<std::unique_ptr<T>()> make)
    : name_(std::move(name)),
      help_(std::move(help)),
      label_names_(std::move(label_names)),
      make_(std::move(make)) {
  overflow_ =
      std::make_unique<Child>(Child{Labels(label_names_.size(), std::string("other")), make_()});
}

template <class T>
Family<T>::~Family() {
  const size_t n = size_.load();
  for (size_t i = 0; i < n; ++i) delete children_[i].load();
}

template <class T>
template <class Values>
bool Family<T>::same(const Labels& labels, const Values& values) {
  size_t i = 0;
  for (const auto& v : values) {
    if (labels[i] != std::string_view(v)) return false;
    ++i;
  }
  return true;
}

template <class T>
template <class Values>
T& Family<T>::find(const Values& values) {
  if (values.size() != label_names_.size()) return *overflow_->metric;
  size_t n = size_.load(std::memory_order_acquire);
  for (size_t i = 0; i < n; ++i) {
    Child* c = children_[i].load(std::memory_order_relaxed);
    if (same(c->labels, values)) return *c->metric;
  }
  std::lock_guard<std::mutex> lock(add_mu_);
  const size_t now = size_.load(std::memory_order_relaxed);
  for (size_t i = n; i < now; ++i) {
    Child* c = children_[i].load(std::memory_order_relaxed);
    if (same(c->labels, values)) return *c->metric;
  }
  if (now == kMaxChildren) return *overflow_->metric;
  auto* child = new Child{Labels(values.begin(), values.end()), make_()};
  children_[now].store(child, std::memory_order_relaxed);
  size_.store(now + 1, std::memory_order_release);
  return *child->metric;
}

template <class T>
T& Family<T>::with(std::initializer_list<std::string_view> values) {
  return find(values);
}

template <class T>
T& Family<T>::with(const std::vector<std::string>& values) {
  return find(values);
}

template <class T>
void Family<T>::render(std::string& out) const {
  header(out, name_, help_, typeOf<T>());
  const size_t n = size_.load(std::memory_order_acquire);
  for (size_t i = 0; i < n; ++i) {
    const Child* c = children_[i].load(std::memory_order_relaxed);
    writeSample(out, name_, label_names_, c->labels, *c->metric);
  }
  // Label sets past the limit, if any arrived; a family without labels shows its one child.
  if (n == kMaxChildren)
    writeSample(out, name_, label_names_, overflow_->labels, *overflow_->metric);
}

template class Family<Counter>;
template class Family<Gauge>;
template class Family<Histogram>;

// ---- CallbackGauge ----

void CallbackGauge::set(Read read) {
  std::lock_guard<std::mutex> lock(mu_);
  read_ = std::move(read);
}

void CallbackGauge::render(std::string& out) const {
  header(out, name_, help_, Type::kGauge);
  std::lock_guard<std::mutex> lock(mu_);
  if (!read_) return;
  if (auto v = read_()) out += name_ + " " + formatNumber(*v) + "\n";
}

// ---- Registry ----

template <class C>
C& Registry::add(std::unique_ptr<C> collector) {
  auto& ref = *collector;
  std::lock_guard<std::mutex> lock(mu_);
  collectors_.push_back(std::move(collector));
  return ref;
}

Family<Counter>& Registry::counter(const std::string& name, const std::string& help,
                                   std::vector<std::string> labels) {
  return add(std::make_unique<Family<Counter>>(name, help, std::move(labels),
                                               [] { return std::make_unique<Counter>(); }));
}

Family<Gauge>& Registry::gauge(const std::string& name, const std::string& help,
                               std::vector<std::string> labels) {
  return add(std::make_unique<Family<Gauge>>(name, help, std::move(labels),
                                             [] { return std::make_unique<Gauge>(); }));
}

Family<Histogram>& Registry::histogram(const std::string& name, const std::string& help,
                                       std::vector<std::string> labels,
                                       const std::vector<double>& bounds) {
  return add(std::make_unique<Family<Histogram>>(
      name, help, std::move(labels), [bounds] { return std::make_unique<Histogram>(bounds); }));
}

CallbackGauge& Registry::callbackGauge(const std::string& name, const std::string& help) {
  return add(std::make_unique<CallbackGauge>(name, help));
}

std::string Registry::render() const {
  std::string out;
  out.reserve(16 * 1024);
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& c : collectors_) c->render(out);
  return out;
}

}  // namespace broker::metrics
