// Typed errors: every failure reaches the caller as data it can match on.
#pragma once

#include <cstdint>
#include <ostream>
#include <stdexcept>
#include <string>
#include <utility>
#include <variant>

namespace pyactor {

/// What went wrong with a call (design.md "Errors"). The one public error
/// taxonomy: the status byte of a worker's reply (worker/protocol.hpp) is
/// mapped to it in one place, `actors::reply_code_of`, and every other
/// layer passes `errc` values on unchanged.
enum class errc : uint8_t {
  /// Python raised; `python_type`, `message` and `traceback` say what.
  python_exception = 1,
  /// The call did not finish within its timeout.
  timeout = 2,
  /// The worker process died (or sent garbage) while the call was in flight.
  worker_crashed = 3,
  /// The node holding the worker went away.
  node_down = 4,
  /// An object reference whose worker has restarted or released it.
  stale_ref = 5,
  /// No live worker can take the call.
  no_workers = 6,
  /// The pool refused the call because its queues are full.
  overloaded = 7,
  /// The request itself is malformed: names the field and the wrong value.
  bad_request = 8,
  /// The caller cancelled the call.
  cancelled = 9,
  /// Arguments hold references owned by different workers.
  cross_worker_ref = 10,
  /// The runtime is shutting down or was never started.
  not_running = 11,
};

/// Returns the snake_case name of `x`, e.g. "worker_crashed".
const char* to_string(errc x);

inline std::ostream& operator<<(std::ostream& os, errc x) {
  return os << to_string(x);
}

/// Parses a name produced by `to_string(errc)`; false if unknown.
bool from_string(const std::string& name, errc& out);

/// The error half of every result.
struct error {
  errc code = errc::bad_request;
  /// Human-readable: names the thing that failed and the wrong value.
  std::string message;
  /// For python_exception: the exception's type, e.g. "ModuleNotFoundError".
  std::string python_type;
  /// For python_exception: the formatted traceback.
  std::string traceback;

  /// Returns "code: message" (with the Python type for python_exception).
  std::string to_string() const;
};

inline error make_error(errc code, std::string message) {
  return error{code, std::move(message), {}, {}};
}

/// Thrown by `result<T>::value()` when the result holds an error.
class call_error : public std::runtime_error {
public:
  explicit call_error(pyactor::error e)
    : std::runtime_error(e.to_string()), error_(std::move(e)) {
    // nop
  }
  const pyactor::error& error() const noexcept { return error_; }

private:
  pyactor::error error_;
};

/// Either a `T` or an `error`.
template <class T>
class result {
public:
  result(T x) : v_(std::in_place_index<0>, std::move(x)) {}
  result(pyactor::error e) : v_(std::in_place_index<1>, std::move(e)) {}

  bool ok() const noexcept { return v_.index() == 0; }
  explicit operator bool() const noexcept { return ok(); }

  /// Returns the value; throws `call_error` if this holds an error.
  const T& value() const& {
    check();
    return std::get<0>(v_);
  }
  T& value() & {
    check();
    return std::get<0>(v_);
  }
  T&& value() && {
    check();
    return std::get<0>(std::move(v_));
  }
  const T& operator*() const& { return value(); }
  const T* operator->() const { return &value(); }

  /// Returns the error; undefined if `ok()`.
  const pyactor::error& error() const { return std::get<1>(v_); }

private:
  void check() const {
    if (!ok())
      throw call_error(std::get<1>(v_));
  }
  std::variant<T, pyactor::error> v_;
};

} // namespace pyactor
