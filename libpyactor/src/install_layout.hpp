// Where a runtime finds the files it starts: the worker program and the
// `pyactor` Python package the workers load. An installed runtime looks
// relative to its own location, so an install tree may be moved; a runtime in
// the build tree uses the build tree. Internal (not installed).
#pragma once

#include <string>
#include <vector>

#include "pyactor/error.hpp"

namespace pyactor {

/// The files of one pyactor installation (or of the build tree).
struct install_layout {
  /// The worker program (today `pyactor-worker`).
  std::string worker_executable;
  /// The directory that holds the `pyactor` package (put on every worker's
  /// sys.path); extension modules of the package live in its `pyactor/`.
  std::string python_dir;
  /// The folder of the `_pyactor_worker` extension module when
  /// `worker_executable` is this layout's own pyactor-worker launcher (the
  /// node then runs the Python executable directly, as the launcher would);
  /// empty when worker-executable or PYACTOR_WORKER names another program.
  std::string module_dir;
  /// The Python executable pyactor was built with: the workers' default.
  std::string default_python;
  /// How it was found, for messages: "PYACTOR_HOME", "installed", "build tree".
  std::string origin;
};

/// Finds the layout. The Python package comes from, in this order:
/// 1. `$PYACTOR_HOME`, an install prefix (an error if it holds no pyactor);
/// 2. the install tree around this library or the running executable
///    (dladdr, /proc/self/exe), through paths relative to them;
/// 3. the build tree, only when this code runs from the build tree.
/// The worker program is `worker_option` if not empty, else `$PYACTOR_WORKER`
/// if set (either must be executable), else the one of the layout. Errors
/// name every place looked at and the setting that fixes it. Thread-safe.
result<install_layout> find_install_layout(const std::string& worker_option);

/// The directories the search of step 2 starts from: the directory of the
/// object holding this code (the shared library, or the executable it is
/// linked into) and that of /proc/self/exe, without duplicates.
std::vector<std::string> install_anchor_dirs();

/// "pyactor X.Y.Z", "CAF X.Y.Z" and "Python X.Y.Z (executable)", one a line:
/// the versions this library was built with.
std::string build_versions_text();

} // namespace pyactor
