// pyactor-worker: the program a pyactor node starts for each worker. It
// replaces itself (execv: same pid, same descriptors, channel included) with
// a real Python executable running pyactor's C++ worker loop from the
// `_pyactor_worker` extension module, so user code runs on that
// interpreter's own optimized build, or in the user's virtualenv:
//
//   pyactor-worker [--python PATH] ARGS...
//   -> PATH -E -P -u -B -c "<load _pyactor_worker, run main(ARGS)>" ARGS...
//
// No Python and no CAF inside this program.
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace {

/// `text` as a Python single-quoted string literal.
std::string py_literal(const std::string& text) {
  std::string out = "'";
  for (char c : text) {
    if (c == '\\' || c == '\'')
      out.push_back('\\');
    out.push_back(c);
  }
  return out + "'";
}

/// The folder of the `_pyactor_worker` module: in an install tree it lies at
/// PYACTOR_WORKER_TO_MODULE_DIR from this program (so a moved tree works);
/// in the build tree it is PYACTOR_MODULE_DIR.
std::string module_dir() {
  char buf[4096];
  auto n = ::readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  if (n > 0) {
    std::string self{buf, static_cast<size_t>(n)};
    auto installed = self.substr(0, self.rfind('/') + 1) + PYACTOR_WORKER_TO_MODULE_DIR;
    struct stat st;
    if (::stat(installed.c_str(), &st) == 0 && S_ISDIR(st.st_mode))
      return installed;
  }
  return PYACTOR_MODULE_DIR;
}

} // namespace

int main(int argc, char** argv) {
  std::string python = PYACTOR_DEFAULT_PYTHON;
  std::vector<std::string> rest;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--python") == 0) {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "pyactor-worker: --python expects the path of a Python executable\n");
        return 2;
      }
      python = argv[++i];
    } else {
      rest.emplace_back(argv[i]);
    }
  }
  // -E: no PYTHON* variables (a pyenv shell's PYTHONHOME must not leak in);
  // -P: no script or current directory on sys.path; -u: output reaches the
  // node's log as it is written; -B: no __pycache__ in the user's folders.
  const std::string boot = "import sys; sys.path.insert(0, " + py_literal(module_dir())
                           + "); import _pyactor_worker; "
                             "sys.exit(_pyactor_worker.main(sys.argv[1:]))";
  std::vector<std::string> args{python, "-E", "-P", "-u", "-B", "-c", boot};
  args.insert(args.end(), rest.begin(), rest.end());
  std::vector<char*> cargs;
  for (auto& a : args)
    cargs.push_back(a.data());
  cargs.push_back(nullptr);
  prctl(PR_SET_PDEATHSIG, SIGKILL); // kept across execv: never outlive the node
  ::execv(python.c_str(), cargs.data());
  int err = errno;
  std::fprintf(stderr, "pyactor-worker: cannot run the Python executable '%s': %s\n",
               python.c_str(), std::strerror(err));
  return 127;
}
