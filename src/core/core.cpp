#include <openssl/rand.h>

#include <stdexcept>

#include "broker/core/clock.h"
#include "broker/core/encoding.h"
#include "broker/core/random.h"
#include "broker/core/result.h"

namespace broker {

const char* toString(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalidArgument:
      return "invalid_argument";
    case ErrorCode::kNotFound:
      return "not_found";
    case ErrorCode::kAlreadyExists:
      return "already_exists";
    case ErrorCode::kConflict:
      return "conflict";
    case ErrorCode::kUnavailable:
      return "unavailable";
    case ErrorCode::kPermissionDenied:
      return "permission_denied";
    case ErrorCode::kInternal:
      return "internal";
  }
  return "internal";
}

namespace {
class SystemClock : public Clock {
 public:
  int64_t now() const override {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
};

class OpenSslRandom : public Random {
 public:
  void fill(uint8_t* out, size_t n) override {
    if (RAND_bytes(out, static_cast<int>(n)) != 1) {
      throw std::runtime_error("RAND_bytes failed");  // entropy failure: nothing safe to do
    }
  }
};
}  // namespace

Clock& Clock::system() {
  static SystemClock clock;
  return clock;
}

Random& Random::system() {
  static OpenSslRandom random;
  return random;
}

std::vector<uint8_t> Random::bytes(size_t n) {
  std::vector<uint8_t> out(n);
  fill(out.data(), n);
  return out;
}

std::string Random::token(size_t n) {
  return base64urlEncode(bytes(n));
}

void FakeRandom::fill(uint8_t* out, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    s_ ^= s_ << 13;
    s_ ^= s_ >> 7;
    s_ ^= s_ << 17;
    out[i] = static_cast<uint8_t>(s_ >> 24);
  }
}

}  // namespace broker
