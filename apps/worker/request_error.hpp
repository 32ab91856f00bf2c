// The one C++ exception type inside the worker loop: "this request failed".
#pragma once

#include <Python.h>

#include <stdexcept>
#include <string>
#include <utility>

#include "worker/protocol.hpp"

namespace pyactor::worker {

/// Thrown while serving one request; the loop turns it into an error reply
/// and keeps serving. A Python error is fetched where it is raised (like
/// pybind11's error_already_set): the interpreter's error indicator is never
/// set while C++ unwinds, and the exception object travels in here.
/// Copying needs the GIL (every worker thread that throws holds it).
class request_error {
public:
  request_error(worker::status code, std::string message)
    : code(code), message(std::move(message)) {
    // nop
  }

  request_error(const request_error& other)
    : code(other.code), message(other.message), exc_(other.exc_) {
    Py_XINCREF(exc_);
  }

  request_error& operator=(const request_error&) = delete;

  ~request_error() { Py_XDECREF(exc_); }

  /// Takes the pending Python error (normalized, traceback attached) out of
  /// the interpreter. A missing error becomes a SystemError saying so.
  static request_error python() {
    request_error e{status::python_exception, {}};
    PyObject *type = nullptr, *value = nullptr, *traceback = nullptr;
    PyErr_Fetch(&type, &value, &traceback);
    if (type == nullptr) {
      PyErr_SetString(PyExc_SystemError,
                      "pyactor: a C-API call failed without setting an exception");
      PyErr_Fetch(&type, &value, &traceback);
    }
    PyErr_NormalizeException(&type, &value, &traceback);
    if (value != nullptr && traceback != nullptr)
      PyException_SetTraceback(value, traceback);
    Py_XDECREF(type);
    Py_XDECREF(traceback);
    e.exc_ = value; // owned
    return e;
  }

  /// A malformed request: `message` names the field and what was wrong.
  static request_error bad(std::string message) {
    return {status::bad_request, std::move(message)};
  }

  /// The Python exception of a python_exception error (borrowed), or null.
  PyObject* exception() const noexcept { return exc_; }

  /// True when this carries a Python exception of class `type`.
  bool is(PyObject* type) const {
    return exc_ != nullptr && PyErr_GivenExceptionMatches(exc_, type);
  }

  worker::status code;
  std::string message;

private:
  PyObject* exc_ = nullptr;
};

/// Throws `request_error::python()` when `p` is null (a C-API call failed).
inline PyObject* check(PyObject* p) {
  if (p == nullptr)
    throw request_error::python();
  return p;
}

/// Same as `check` for C-API calls returning text.
inline const char* check_utf8(const char* p) {
  if (p == nullptr)
    throw request_error::python();
  return p;
}

} // namespace pyactor::worker
