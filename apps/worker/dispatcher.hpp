// Runs one request against the interpreter: the worker's operations.
#pragma once

#include <Python.h>

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "object_table.hpp"
#include "py_ref.hpp"
#include "python_codec.hpp"
#include "request_error.hpp"
#include "worker/protocol.hpp"

namespace pyactor::worker {

/// Python helpers from `pyactor._worker`.
struct worker_helpers {
  py_ref describe_exception; // (exc) -> (type, message, traceback)
  py_ref resolve;            // (module, dotted_name) -> object
  py_ref cast;               // (value, how) -> value
  py_ref versions;           // (worker_id, worker_uid) -> dict
};

/// Who this worker is: its slot in the pool and its incarnation's unique id.
struct worker_identity {
  uint64_t id = 0;
  uint64_t uid = 0;
};

/// The Python strings of a callable's path, kept so that no call creates
/// them: the module's name and each part of the dotted name.
struct callable_path {
  py_ref module;
  std::vector<py_ref> parts;
};

/// Serves requests (see `op` in protocol.hpp). Compiled code is cached; a
/// callable's path is cached and followed again on every call (see
/// `callable`). Not thread-safe; owned by main.
class dispatcher {
public:
  dispatcher(python_codec& codec, object_table& objects, const worker_helpers& helpers,
             worker_identity identity);

  /// Runs the request in `[body, body + size)` and appends the reply payload
  /// to `out`. Returns the reply status; never throws, never leaves a Python
  /// error set.
  status serve(const char* body, size_t size, std::vector<char>& out);

  /// Appends the error payload of `e` to `out` for a call answered without
  /// running it (skipped); returns its status.
  status refuse(const request_error& e, std::vector<char>& out);

private:
  void run(const msgpack::object& request, packer& pk);
  /// Runs one item of a map or batch as an entry [status, payload]; only a
  /// KeyboardInterrupt escapes (it stops the whole request).
  template <class Body>
  void run_entry(packer& pk, Body&& body);
  void map(const msgpack::object_array& params, packer& pk);
  void batch(const msgpack::object_array& params, packer& pk);
  void pack_error(packer& pk, const request_error& e);
  void call(const msgpack::object_array& params, packer& pk, const char* op_name);
  void call_method(const msgpack::object_array& params, packer& pk);
  void eval(const msgpack::object_array& params, packer& pk, int mode);
  void pack_python_error(packer& pk, PyObject* exc);
  /// `module.name` (name dotted or not) as it is bound now: a rebinding, an
  /// `importlib.reload` or a module replaced in sys.modules is seen by the
  /// next call. A known path costs a sys.modules lookup and one getattr per
  /// part; the first call of a path (or one that the quick path cannot
  /// follow) goes through `_worker.resolve`, which imports. Throws
  /// request_error for a missing name or one that is not callable.
  py_ref callable(std::string_view module, std::string_view name);
  /// A known path followed from sys.modules; null if the module is not in
  /// sys.modules or a part is missing (AttributeError: the caller resolves
  /// it the slow way). Any other error from a getattr propagates.
  py_ref follow(const callable_path& path);
  PyObject* compiled(std::string_view code, int mode);

  std::vector<char>* out_ = nullptr; // the reply being built, for rollbacks
  python_codec& codec_;
  object_table& objects_;
  const worker_helpers& helpers_;
  worker_identity identity_;
  py_ref globals_;
  std::unordered_map<std::string, callable_path> callables_;
  std::unordered_map<std::string, py_ref> code_cache_;
};

} // namespace pyactor::worker
