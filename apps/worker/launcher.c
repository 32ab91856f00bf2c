/* pyactor-worker: a pyactor worker for those who start one by name (a
 * worker-executable wrapper script, a test, by hand). It replaces itself
 * (execv: same pid, same descriptors, channel included) with a real Python
 * executable running pyactor's C++ worker loop from the `_pyactor_worker`
 * extension module, so user code runs on that interpreter's own optimized
 * build, or in the user's virtualenv:
 *
 *   pyactor-worker [--python PATH] ARGS...
 *   -> PATH -E -P -u -B -c BOOT MODULE_DIR ARGS...   (worker/python_boot.h)
 *
 *   pyactor-worker --print-command [--python PATH] ARGS...
 *   -> that command on stdout, each argument ended by a NUL byte.
 *
 * A pyactor node runs the same command itself and skips this program.
 * Plain C, no Python, no C++ runtime: nothing to load on the way.
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "worker/python_boot.h"

/* The folder of the `_pyactor_worker` module: in an install tree it lies at
 * PYACTOR_WORKER_TO_MODULE_DIR from this program (so a moved tree works); in
 * the build tree it is PYACTOR_MODULE_DIR. */
static const char* module_dir(void) {
  static char installed[PATH_MAX + sizeof(PYACTOR_WORKER_TO_MODULE_DIR) + 1];
  char self[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
  if (n > 0) {
    self[n] = '\0';
    char* slash = strrchr(self, '/');
    if (slash != NULL) {
      slash[1] = '\0';
      struct stat st;
      snprintf(installed, sizeof(installed), "%s%s", self, PYACTOR_WORKER_TO_MODULE_DIR);
      if (stat(installed, &st) == 0 && S_ISDIR(st.st_mode))
        return installed;
    }
  }
  return PYACTOR_MODULE_DIR;
}

int main(int argc, char** argv) {
  const char* python = PYACTOR_DEFAULT_PYTHON;
  int print_only = argc > 1 && strcmp(argv[1], "--print-command") == 0;
  /* At most argc - 1 worker arguments, plus the boot command and a NULL. */
  char** args = calloc((size_t)argc + PYACTOR_PYTHON_BOOT_ARGC + 2, sizeof(char*));
  if (args == NULL) {
    fprintf(stderr, "pyactor-worker: out of memory\n");
    return 127;
  }
  static const char* flags[] = {PYACTOR_PYTHON_FLAGS};
  int n = 1; /* args[0] is the python, known after the loop */
  for (size_t f = 0; f < sizeof(flags) / sizeof(flags[0]); ++f)
    args[n++] = (char*)flags[f];
  args[n++] = "-c";
  args[n++] = PYACTOR_PYTHON_BOOT;
  args[n++] = (char*)module_dir();
  for (int i = 1 + print_only; i < argc; ++i) {
    if (strcmp(argv[i], "--python") == 0) {
      if (i + 1 >= argc) {
        fprintf(stderr, "pyactor-worker: --python expects the path of a Python executable\n");
        return 2;
      }
      python = argv[++i];
    } else {
      args[n++] = argv[i];
    }
  }
  args[0] = (char*)python;
  args[n] = NULL;
  if (print_only) {
    for (int i = 0; i < n; ++i)
      fwrite(args[i], 1, strlen(args[i]) + 1, stdout);
    return fflush(stdout) == 0 ? 0 : 1;
  }
  prctl(PR_SET_PDEATHSIG, SIGKILL); /* kept across execv: never outlive the node */
  execv(python, args);
  int err = errno;
  fprintf(stderr, "pyactor-worker: cannot run the Python executable '%s': %s\n", python,
          strerror(err));
  return 127;
}
