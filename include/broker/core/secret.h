#pragma once
// A string that never prints: logging or formatting a Secret shows "[redacted]".

#include <ostream>
#include <string>
#include <utility>

namespace broker {

class Secret {
 public:
  Secret() = default;
  explicit Secret(std::string v) : v_(std::move(v)) {}
  const std::string& reveal() const { return v_; }
  bool empty() const { return v_.empty(); }
  size_t size() const { return v_.size(); }
  friend std::ostream& operator<<(std::ostream& os, const Secret&) { return os << "[redacted]"; }

 private:
  std::string v_;
};

}  // namespace broker
