// The one C++ exception type inside pyactor-worker: "this request failed".
#pragma once

#include <Python.h>

#include <stdexcept>
#include <string>

#include "pyactor/worker/protocol.hpp"

namespace pyactor::worker {

/// Thrown while serving one request; the main loop turns it into an error
/// reply and keeps serving. `python_set` means a Python exception is pending
/// (status python_exception, details fetched from the interpreter).
struct request_error {
  worker::status code;
  std::string message;

  static request_error python() { return {status::python_exception, {}}; }

  /// A malformed request: `message` names the field and what was wrong.
  static request_error bad(std::string message) {
    return {status::bad_request, std::move(message)};
  }
};

/// Throws `request_error::python()` when `p` is null (a C-API call failed).
inline PyObject* check(PyObject* p) {
  if (p == nullptr)
    throw request_error::python();
  return p;
}

} // namespace pyactor::worker

namespace pyactor::worker {

/// Same as `check` for C-API calls returning text.
inline const char* check_utf8(const char* p) {
  if (p == nullptr)
    throw request_error::python();
  return p;
}

} // namespace pyactor::worker
