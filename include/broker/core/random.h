#pragma once
// Every random value comes from an injected Random (OpenSSL RAND_bytes in production).

#include <cstdint>
#include <string>
#include <vector>

namespace broker {

class Random {
 public:
  virtual ~Random() = default;
  virtual void fill(uint8_t* out, size_t n) = 0;

  std::vector<uint8_t> bytes(size_t n);
  // n random bytes, base64url without padding (a token of n*8 bits of entropy).
  std::string token(size_t n = 32);
  static Random& system();
};

// Deterministic generator for tests (xorshift; not for production).
class FakeRandom : public Random {
 public:
  explicit FakeRandom(uint64_t seed = 42) : s_(seed ? seed : 1) {}
  void fill(uint8_t* out, size_t n) override;

 private:
  uint64_t s_;
};

}  // namespace broker
