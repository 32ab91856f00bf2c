/* The command line that turns a Python executable into a pyactor worker,
 * shared by the node (which execs it directly, actors/worker_process.cpp)
 * and the pyactor-worker launcher (apps/worker/launcher.c, for anyone who
 * starts a worker by hand or names it as worker-executable). Plain C: the
 * launcher links no C++ runtime.
 *
 *   PYTHON -E -P -u -B -c PYACTOR_PYTHON_BOOT MODULE_DIR WORKER_ARGS...
 *
 * -E: no PYTHON* variables (a pyenv shell's PYTHONHOME must not leak in);
 * -P: no script or current directory on sys.path; -u: output reaches the
 * node's log as it is written; -B: no __pycache__ in the user's folders.
 * MODULE_DIR (the folder of the _pyactor_worker extension module) travels
 * as an argument, never inside the program text, so no path needs quoting;
 * the program takes it off sys.argv, which then holds '-c' and the worker's
 * own arguments, as before.
 */
#ifndef PYACTOR_WORKER_PYTHON_BOOT_H
#define PYACTOR_WORKER_PYTHON_BOOT_H

/** The flags, in order, between the executable and -c. */
#define PYACTOR_PYTHON_FLAGS "-E", "-P", "-u", "-B"
/** How many arguments the executable, the flags, -c and the program take. */
#define PYACTOR_PYTHON_BOOT_ARGC 7

#define PYACTOR_PYTHON_BOOT                                                                    \
  "import sys; sys.path.insert(0, sys.argv.pop(1)); import _pyactor_worker; "                 \
  "sys.exit(_pyactor_worker.main(sys.argv[1:]))"

#endif
