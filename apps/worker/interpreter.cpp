#include "interpreter.hpp"

#include <stdexcept>

namespace pyactor::worker {

namespace {

bool running = false;

void check_status(PyStatus status, PyConfig& config, const char* step) {
  if (PyStatus_Exception(status)) {
    PyConfig_Clear(&config);
    throw std::runtime_error(std::string{"cannot start Python ("} + step + "): "
                             + (status.err_msg != nullptr ? status.err_msg : "unknown error"));
  }
}

} // namespace

interpreter::interpreter(const std::vector<std::string>& python_path) {
  if (running)
    throw std::runtime_error("the interpreter is already running");
  PyConfig config;
  PyConfig_InitPythonConfig(&config);
  config.use_environment = 0;     // PYTHONHOME/PYTHONPATH of a pyenv shell must not leak in
  config.buffered_stdio = 0;      // user prints reach the node's log line by line
  config.install_signal_handlers = 1; // SIGINT -> KeyboardInterrupt stops a running call
  config.parse_argv = 0;
  config.write_bytecode = 0;
  check_status(PyConfig_SetBytesString(&config, &config.program_name, PYACTOR_PYTHON_EXECUTABLE),
               config, "program name");
  check_status(Py_InitializeFromConfig(&config), config, "initialize");
  PyConfig_Clear(&config);
  running = true;
  // Our directories go ahead of the standard sys.path, in the given order.
  // A failure here ends the interpreter too: the destructor of a
  // half-constructed object does not run.
  try {
    PyObject* sys_path = PySys_GetObject("path"); // borrowed
    for (size_t i = 0; i < python_path.size(); ++i) {
      py_ref dir{PyUnicode_DecodeFSDefault(python_path[i].c_str())};
      if (!dir || sys_path == nullptr
          || PyList_Insert(sys_path, static_cast<Py_ssize_t>(i), dir.get()) < 0)
        throw std::runtime_error("cannot extend sys.path: " + fetch_error_text());
    }
  } catch (...) {
    Py_FinalizeEx();
    running = false;
    throw;
  }
}

interpreter::~interpreter() {
  Py_FinalizeEx();
  running = false;
}

py_ref interpreter::import_attr(const char* module, const char* attr) {
  py_ref mod{PyImport_ImportModule(module)};
  if (!mod)
    throw std::runtime_error(std::string{"cannot import "} + module + ": " + fetch_error_text());
  py_ref found{PyObject_GetAttrString(mod.get(), attr)};
  if (!found)
    throw std::runtime_error(std::string{"cannot find "} + module + "." + attr + ": "
                             + fetch_error_text());
  return found;
}

std::string interpreter::fetch_error_text() {
  PyObject *type = nullptr, *value = nullptr, *traceback = nullptr;
  PyErr_Fetch(&type, &value, &traceback);
  PyErr_NormalizeException(&type, &value, &traceback);
  py_ref t{type}, v{value}, tb{traceback};
  std::string text = t ? reinterpret_cast<PyTypeObject*>(t.get())->tp_name : "unknown error";
  if (v) {
    py_ref str{PyObject_Str(v.get())};
    const char* s = str ? PyUnicode_AsUTF8(str.get()) : nullptr;
    if (s != nullptr)
      text.append(": ").append(s);
  }
  PyErr_Clear();
  return text;
}

} // namespace pyactor::worker
