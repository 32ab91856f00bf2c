// The one embedded CPython of a worker process (RAII).
#pragma once

#include <string>
#include <vector>

#include "py_ref.hpp"

namespace pyactor::worker {

/// Starts Debian's CPython in this process, isolated from PYTHON* environment
/// variables, with `python_path` ahead of the standard sys.path. Usage:
///   interpreter py{paths};            // the calling thread holds the GIL
///   auto f = py.import_attr("pyactor.encoders", "encode");
/// There can be only one: a second instance throws. Move-less, copy-less.
class interpreter {
public:
  explicit interpreter(const std::vector<std::string>& python_path);
  interpreter(const interpreter&) = delete;
  interpreter& operator=(const interpreter&) = delete;
  ~interpreter();

  /// Returns `module.attr`; throws std::runtime_error with the Python error.
  py_ref import_attr(const char* module, const char* attr);

  /// Returns and clears the pending Python error as "Type: message".
  static std::string fetch_error_text();
};

} // namespace pyactor::worker
