#pragma once
// Expected-style result type. Anything that can fail at run time returns a Result; exceptions are
// reserved for start-up (config, policy, keys) and one catch-all at the HTTP boundary.

#include <cassert>
#include <string>
#include <utility>
#include <variant>

namespace broker {

// Generic error carried by infrastructure layers (crypto, parsing, storage drivers).
enum class ErrorCode {
  kInvalidArgument,  // input was malformed
  kNotFound,         // the row / key / thing does not exist
  kAlreadyExists,    // unique constraint hit
  kConflict,         // lost a race (already consumed, already rotated)
  kUnavailable,      // backend down, timeout
  kPermissionDenied,
  kInternal,
};

const char* toString(ErrorCode code);

struct Error {
  ErrorCode code = ErrorCode::kInternal;
  std::string message;  // for logs; never shown to clients verbatim

  static Error invalid(std::string m) { return {ErrorCode::kInvalidArgument, std::move(m)}; }
  static Error notFound(std::string m) { return {ErrorCode::kNotFound, std::move(m)}; }
  static Error exists(std::string m) { return {ErrorCode::kAlreadyExists, std::move(m)}; }
  static Error conflict(std::string m) { return {ErrorCode::kConflict, std::move(m)}; }
  static Error unavailable(std::string m) { return {ErrorCode::kUnavailable, std::move(m)}; }
  static Error internal(std::string m) { return {ErrorCode::kInternal, std::move(m)}; }
};

template <class E>
struct Unexpected {
  E error;
};

template <class E>
Unexpected<std::decay_t<E>> fail(E&& e) {
  return {std::forward<E>(e)};
}

template <class T, class E = Error>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}  // NOLINT implicit
  template <class E2>
  Result(Unexpected<E2> u) : v_(std::in_place_index<1>, std::move(u.error)) {}  // NOLINT
  Result(E error) : v_(std::in_place_index<1>, std::move(error)) {}             // NOLINT

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & {
    assert(ok());
    return std::get<0>(v_);
  }
  const T& value() const& {
    assert(ok());
    return std::get<0>(v_);
  }
  T&& value() && {
    assert(ok());
    return std::get<0>(std::move(v_));
  }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

  const E& error() const {
    assert(!ok());
    return std::get<1>(v_);
  }
  E& error() {
    assert(!ok());
    return std::get<1>(v_);
  }

 private:
  std::variant<T, E> v_;
};

template <class E>
class [[nodiscard]] Result<void, E> {
 public:
  Result() = default;
  template <class E2>
  Result(Unexpected<E2> u) : err_(std::move(u.error)), ok_(false) {}  // NOLINT
  Result(E error) : err_(std::move(error)), ok_(false) {}             // NOLINT

  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const E& error() const {
    assert(!ok_);
    return err_;
  }

 private:
  E err_{};
  bool ok_ = true;
};

using Status = Result<void>;

}  // namespace broker
