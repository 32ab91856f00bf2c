// _pyactor_worker: the extension module that turns a Python executable into a
// pyactor worker. `python3 -c "import _pyactor_worker, sys;
// sys.exit(_pyactor_worker.main(sys.argv[1:]))" --channel-fd 3 ...` is what
// pyactor-worker execs (see launcher.cpp).
#include <Python.h>

#include <string>
#include <vector>

#include <unistd.h>

#include "frame_channel.hpp"
#include "worker_loop.hpp"

namespace {

PyObject* worker_main(PyObject*, PyObject* arg) {
  PyObject* seq = PySequence_Fast(arg, "main() expects a list of str arguments");
  if (seq == nullptr)
    return nullptr;
  std::vector<std::string> args;
  Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
  for (Py_ssize_t i = 0; i < n; ++i) {
    PyObject* item = PySequence_Fast_GET_ITEM(seq, i);
    Py_ssize_t size = 0;
    const char* text = PyUnicode_Check(item) ? PyUnicode_AsUTF8AndSize(item, &size) : nullptr;
    if (text == nullptr) {
      Py_DECREF(seq);
      if (!PyErr_Occurred())
        PyErr_Format(PyExc_TypeError, "main(): argument %zd is not a str", i);
      return nullptr;
    }
    args.emplace_back(text, static_cast<size_t>(size));
  }
  Py_DECREF(seq);
  int code = pyactor::worker::run_worker(args);
  if (pyactor::worker::frame_channel::in_forked_child())
    _exit(0); // a forked child that returned into the loop ends here, as multiprocessing's do
  return PyLong_FromLong(code);
}

PyMethodDef methods[] = {
  {"main", worker_main, METH_O,
   "main(args: list[str]) -> int\n\nServes as a pyactor worker on the channel the args name "
   "until the node closes it; returns the exit code."},
  {nullptr, nullptr, 0, nullptr},
};

PyModuleDef module_def = {
  PyModuleDef_HEAD_INIT, "_pyactor_worker",
  "pyactor's C++ worker loop: framing, msgpack <-> Python, dispatcher, object table, "
  "interrupts.",
  -1, methods, nullptr, nullptr, nullptr, nullptr,
};

} // namespace

PyMODINIT_FUNC PyInit__pyactor_worker() {
  return PyModule_Create(&module_def);
}
