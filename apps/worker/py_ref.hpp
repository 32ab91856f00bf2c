// Owning and borrowed handles for PyObject*. PRECONDITION for everything in
// pyactor-worker: the single main thread holds the GIL.
#pragma once

#include <Python.h>

#include <utility>

namespace pyactor::worker {

/// Owns one strong reference; move-only.
class py_ref {
public:
  py_ref() = default;
  /// Takes over a new reference (may be null after a failed C-API call).
  explicit py_ref(PyObject* owned) noexcept : p_(owned) {}
  /// Adds a reference to a borrowed pointer.
  static py_ref borrow(PyObject* borrowed) noexcept {
    Py_XINCREF(borrowed);
    return py_ref{borrowed};
  }
  py_ref(py_ref&& other) noexcept : p_(std::exchange(other.p_, nullptr)) {}
  py_ref& operator=(py_ref&& other) noexcept {
    if (this != &other) {
      Py_XDECREF(p_);
      p_ = std::exchange(other.p_, nullptr);
    }
    return *this;
  }
  py_ref(const py_ref&) = delete;
  py_ref& operator=(const py_ref&) = delete;
  ~py_ref() { Py_XDECREF(p_); }

  PyObject* get() const noexcept { return p_; }
  /// Gives up ownership: the caller now owns the reference.
  PyObject* release() noexcept { return std::exchange(p_, nullptr); }
  explicit operator bool() const noexcept { return p_ != nullptr; }

private:
  PyObject* p_ = nullptr;
};

} // namespace pyactor::worker
