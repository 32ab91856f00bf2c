#include "install_layout.hpp"

#include <algorithm>
#include <cstdlib>

#include <caf/config.hpp>
#include <dlfcn.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

// Set by libpyactor/CMakeLists.txt on this file only: paths between install
// directories (relative, so the tree may move), the build tree, versions.
#if !defined(PYACTOR_LIB_TO_PKGLIB) || !defined(PYACTOR_BIN_TO_PKGLIB)                     \
  || !defined(PYACTOR_PREFIX_TO_PKGLIB) || !defined(PYACTOR_PKGLIB_TO_PYTHON)              \
  || !defined(PYACTOR_BUILD_BIN_DIR) || !defined(PYACTOR_BUILD_LIB_DIR)                    \
  || !defined(PYACTOR_BUILD_PYTHON_DIR) || !defined(PYACTOR_VERSION)                       \
  || !defined(PYACTOR_PYTHON_VERSION) || !defined(PYACTOR_PYTHON_EXECUTABLE)              \
  || !defined(PYACTOR_BUILD_MODULE_DIR)
#  error "install_layout.cpp needs the definitions of libpyactor/CMakeLists.txt"
#endif

namespace pyactor {

namespace {

constexpr const char* worker_name = "pyactor-worker";

bool executable_file(const std::string& path) {
  struct stat st;
  return !path.empty() && ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode)
         && ::access(path.c_str(), X_OK) == 0;
}

bool regular_file(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

/// The canonical form of an existing path; empty if it does not exist.
std::string canonical(const std::string& path) {
  char buf[PATH_MAX];
  if (path.empty() || ::realpath(path.c_str(), buf) == nullptr)
    return {};
  return buf;
}

std::string parent_dir(const std::string& path) {
  auto slash = path.rfind('/');
  if (slash == std::string::npos)
    return {};
  return slash == 0 ? std::string{"/"} : path.substr(0, slash);
}

std::string join(const std::string& dir, const std::string& rel) {
  if (rel.empty() || rel == ".")
    return dir;
  return dir == "/" ? "/" + rel : dir + "/" + rel;
}

/// The package marker: a directory is a python dir if it holds pyactor/.
std::string package_marker(const std::string& python_dir) {
  return python_dir + "/pyactor/__init__.py";
}

/// A layout rooted at the private library directory `pkglib`, or nothing.
bool installed_at(const std::string& pkglib, install_layout& out, std::vector<std::string>& tried) {
  auto python_dir = join(pkglib, PYACTOR_PKGLIB_TO_PYTHON);
  tried.push_back(package_marker(python_dir));
  if (!regular_file(package_marker(python_dir)))
    return false;
  out.python_dir = canonical(python_dir);
  out.module_dir = out.python_dir; // the module is installed beside the package
  out.worker_executable = canonical(pkglib) + "/" + worker_name;
  return true;
}

std::string list(const std::vector<std::string>& items) {
  std::string text;
  for (auto& x : items)
    text += (text.empty() ? "" : ", ") + x;
  return text;
}

} // namespace

std::vector<std::string> install_anchor_dirs() {
  std::vector<std::string> dirs;
  auto add = [&](const std::string& file) {
    auto dir = parent_dir(canonical(file));
    if (!dir.empty() && std::find(dirs.begin(), dirs.end(), dir) == dirs.end())
      dirs.push_back(dir);
  };
  // The main program's dli_fname may be a relative argv[0]: only take absolute ones.
  Dl_info info;
  if (::dladdr(reinterpret_cast<void*>(&find_install_layout), &info) != 0
      && info.dli_fname != nullptr && info.dli_fname[0] == '/')
    add(info.dli_fname);
  add("/proc/self/exe");
  return dirs;
}

result<install_layout> find_install_layout(const std::string& worker_option) {
  install_layout found;
  found.default_python = PYACTOR_PYTHON_EXECUTABLE;
  std::vector<std::string> tried;
  bool located = false;
  if (auto home = std::getenv("PYACTOR_HOME"); home != nullptr && *home != '\0') {
    if (!installed_at(join(home, PYACTOR_PREFIX_TO_PKGLIB), found, tried))
      return make_error(errc::bad_request, std::string{"PYACTOR_HOME='"} + home
                                             + "' is not a pyactor install prefix (no "
                                             + tried.back() + "): fix or unset it");
    found.origin = "PYACTOR_HOME";
    located = true;
  }
  auto anchors = install_anchor_dirs();
  for (auto i = anchors.begin(); !located && i != anchors.end(); ++i)
    for (auto rel : {PYACTOR_LIB_TO_PKGLIB, PYACTOR_BIN_TO_PKGLIB})
      if (!located && installed_at(join(*i, rel), found, tried)) {
        found.origin = "installed";
        located = true;
      }
  if (!located) {
    // Build paths serve only binaries that run from the build tree, so a moved
    // install never silently uses a build tree that happens to exist.
    auto bin = canonical(PYACTOR_BUILD_BIN_DIR);
    auto lib = canonical(PYACTOR_BUILD_LIB_DIR);
    for (auto& dir : anchors)
      if (!located && !dir.empty() && (dir == bin || dir == lib)) {
        tried.push_back(package_marker(PYACTOR_BUILD_PYTHON_DIR));
        if (regular_file(package_marker(PYACTOR_BUILD_PYTHON_DIR))) {
          found.python_dir = PYACTOR_BUILD_PYTHON_DIR;
          found.module_dir = PYACTOR_BUILD_MODULE_DIR;
          found.worker_executable = std::string{PYACTOR_BUILD_BIN_DIR} + "/" + worker_name;
          found.origin = "build tree";
          located = true;
        }
      }
  }
  if (!located)
    return make_error(errc::bad_request,
                      "cannot find the pyactor Python package (looked for " + list(tried)
                        + "): set PYACTOR_HOME to the pyactor install prefix");
  // Another program than our own launcher is run as it is, never bypassed.
  auto chosen = [&](const std::string& program) {
    if (canonical(program) != canonical(found.worker_executable))
      found.module_dir.clear();
    found.worker_executable = program;
  };
  if (!worker_option.empty()) {
    if (!executable_file(worker_option))
      return make_error(errc::bad_request, "worker-executable '" + worker_option
                                             + "' is not an executable file");
    chosen(worker_option);
  } else if (auto env = std::getenv("PYACTOR_WORKER"); env != nullptr && *env != '\0') {
    if (!executable_file(env))
      return make_error(errc::bad_request,
                        std::string{"PYACTOR_WORKER='"} + env + "' is not an executable file");
    chosen(env);
  } else if (!executable_file(found.worker_executable)) {
    return make_error(errc::bad_request,
                      "cannot find " + std::string{worker_name} + " at "
                        + found.worker_executable + " (" + found.origin
                        + " layout): set worker-executable in [pyactor] or PYACTOR_WORKER");
  }
  return found;
}

std::string build_versions_text() {
  return std::string{"pyactor "} + PYACTOR_VERSION + "\nCAF "
         + std::to_string(CAF_MAJOR_VERSION) + "." + std::to_string(CAF_MINOR_VERSION) + "."
         + std::to_string(CAF_PATCH_VERSION) + "\nPython " + PYACTOR_PYTHON_VERSION + " ("
         + PYACTOR_PYTHON_EXECUTABLE + ")\n";
}

} // namespace pyactor
