#include "dispatcher.hpp"

#include <exception>
#include <string>
#include <string_view>

#include "request_error.hpp"

namespace pyactor::worker {

namespace {

// Bounds on the caches: names and code strings come from callers.
constexpr size_t max_cached_callables = 4096;
constexpr size_t max_cached_code = 256;

const char* type_label(const msgpack::object& o) {
  using msgpack::type::object_type;
  switch (o.type) {
    case object_type::NIL: return "nil";
    case object_type::BOOLEAN: return "bool";
    case object_type::POSITIVE_INTEGER:
    case object_type::NEGATIVE_INTEGER: return "int";
    case object_type::FLOAT32:
    case object_type::FLOAT64: return "float";
    case object_type::STR: return "str";
    case object_type::BIN: return "bytes";
    case object_type::ARRAY: return "array";
    case object_type::MAP: return "map";
    case object_type::EXT: return "ext";
  }
  return "unknown";
}

/// Returns parameter `i` (1-based after the op) as text, or throws naming it.
std::string_view text_param(const msgpack::object_array& params, uint32_t i, const char* op,
                            const char* what) {
  if (i >= params.size || params.ptr[i].type != msgpack::type::STR)
    throw request_error::bad(std::string{op} + ": parameter " + std::to_string(i) + " (" + what
              + ") must be a string, got "
              + (i >= params.size ? "nothing" : type_label(params.ptr[i])));
  return {params.ptr[i].via.str.ptr, params.ptr[i].via.str.size};
}

const msgpack::object& param(const msgpack::object_array& params, uint32_t i, const char* op,
                             const char* what) {
  if (i >= params.size)
    throw request_error::bad(std::string{op} + ": parameter " + std::to_string(i) + " (" + what + ") is missing");
  return params.ptr[i];
}

bool flag_param(const msgpack::object_array& params, uint32_t i) {
  return i < params.size && params.ptr[i].type == msgpack::type::BOOLEAN
         && params.ptr[i].via.boolean;
}

py_ref to_py(std::string_view text) {
  return py_ref{check(PyUnicode_DecodeUTF8(text.data(), static_cast<Py_ssize_t>(text.size()),
                                           "strict"))};
}

void pack_text(packer& pk, const std::string& text) {
  pk.pack_text(text.data(), text.size());
}

} // namespace

dispatcher::dispatcher(python_codec& codec, object_table& objects, const worker_helpers& helpers,
                       worker_identity identity)
  : codec_(codec), objects_(objects), helpers_(helpers), identity_(identity),
    globals_(check(PyDict_New())) {
  if (PyDict_SetItemString(globals_.get(), "__builtins__", PyEval_GetBuiltins()) < 0
      || PyDict_SetItemString(globals_.get(), "__name__", to_py("__pyactor__").get()) < 0)
    throw request_error::python();
}

status dispatcher::serve(const char* body, size_t size, std::vector<char>& out) {
  size_t mark = out.size();
  out_ = &out;
  vector_sink sink{&out};
  packer pk{sink};
  try {
    codec_.begin_reply();
    auto request = unpack_bounded(body, size, python_codec::max_depth + python_codec::envelope_depth);
    run(request.get(), pk);
    if (PyErr_Occurred()) // a success never leaves an error behind
      PyErr_Clear();
    if (out.size() - 4 > codec_.frame_limit()) // 4: the length field is not part of the frame
      throw request_error::bad("the reply would be " + std::to_string(out.size() - 4)
                               + " bytes, over the frame limit of "
                               + std::to_string(codec_.frame_limit()) + " bytes");
    return status::ok;
  } catch (const request_error& e) {
    out.resize(mark);
    pack_error(pk, e);
    return e.code;
  } catch (const std::bad_alloc&) {
    out.resize(mark);
    PyErr_Clear();
    pack_error(pk, request_error::bad("out of memory while serving the request"));
    return status::bad_request;
  } catch (const std::exception& e) {
    out.resize(mark);
    PyErr_Clear();
    pack_error(pk, request_error::bad(std::string{"malformed request: "} + e.what()));
    return status::bad_request;
  }
}

status dispatcher::refuse(const request_error& e, std::vector<char>& out) {
  vector_sink sink{&out};
  packer pk{sink};
  pack_error(pk, e);
  return e.code;
}

void dispatcher::pack_error(packer& pk, const request_error& e) {
  if (e.code == status::python_exception) {
    pack_python_error(pk, e.exception());
    return;
  }
  pk.pack_array(3);
  pack_text(pk, "");
  pack_text(pk, e.message);
  pack_text(pk, "");
}

template <class Body>
void dispatcher::run_entry(packer& pk, Body&& body) {
  size_t mark = out_->size();
  pk.pack_array(2);
  pk.pack_uint8(static_cast<uint8_t>(status::ok));
  try {
    body();
  } catch (const request_error& e) {
    if (e.is(PyExc_KeyboardInterrupt))
      throw; // interrupted (timeout or cancel): the whole request ends
    out_->resize(mark);
    pk.pack_array(2);
    pk.pack_uint8(static_cast<uint8_t>(e.code));
    pack_error(pk, e);
  }
}

void dispatcher::map(const msgpack::object_array& params, packer& pk) {
  auto module = text_param(params, 1, "map", "module");
  auto name = text_param(params, 2, "map", "name");
  const auto& items = param(params, 3, "map", "items");
  if (items.type != msgpack::type::ARRAY)
    throw request_error::bad("map: parameter 3 (items) must be an array");
  py_ref callable = this->callable(module, name);
  py_ref kwargs = params.size > 4 ? codec_.decode_kwargs(params.ptr[4]) : py_ref{};
  bool star = flag_param(params, 5);
  uint32_t n = items.via.array.size;
  std::string statuses(n, static_cast<char>(status::ok));
  pk.pack_array(2);
  pk.pack_array(n);
  for (uint32_t i = 0; i < n; ++i) {
    size_t mark = out_->size();
    try {
      const auto& item = items.via.array.ptr[i];
      py_ref result;
      if (!star && !kwargs) { // the common case: one argument, vectorcall, no tuple
        auto arg = codec_.decode(item);
        result = py_ref{check(PyObject_CallOneArg(callable.get(), arg.get()))};
      } else {
        py_ref args = star ? codec_.decode_args(item)
                           : py_ref{check(PyTuple_Pack(1, codec_.decode(item).get()))};
        result = py_ref{check(PyObject_Call(callable.get(), args.get(), kwargs.get()))};
      }
      codec_.encode(result.get(), pk);
    } catch (const request_error& e) {
      if (e.is(PyExc_KeyboardInterrupt))
        throw; // interrupted (timeout or cancel): the whole map ends
      out_->resize(mark);
      statuses[i] = static_cast<char>(e.code);
      pack_error(pk, e);
    }
  }
  pk.pack_bin(n);
  pk.pack_bin_body(statuses.data(), n);
}

void dispatcher::batch(const msgpack::object_array& params, packer& pk) {
  const auto& requests = param(params, 1, "batch", "requests");
  if (requests.type != msgpack::type::ARRAY)
    throw request_error::bad("batch: parameter 1 (requests) must be an array of requests");
  pk.pack_array(requests.via.array.size);
  for (uint32_t i = 0; i < requests.via.array.size; ++i)
    run_entry(pk, [&] {
      const auto& r = requests.via.array.ptr[i];
      if (r.type == msgpack::type::ARRAY && r.via.array.size > 0
          && r.via.array.ptr[0].type == msgpack::type::POSITIVE_INTEGER
          && (r.via.array.ptr[0].via.u64 == static_cast<uint64_t>(op::map)
              || r.via.array.ptr[0].via.u64 == static_cast<uint64_t>(op::batch)))
        throw request_error::bad("batch: request " + std::to_string(i) + " is a map or batch; those cannot nest");
      run(r, pk);
    });
}

void dispatcher::run(const msgpack::object& request, packer& pk) {
  if (request.type != msgpack::type::ARRAY || request.via.array.size == 0
      || request.via.array.ptr[0].type != msgpack::type::POSITIVE_INTEGER)
    throw request_error::bad("a request must be an array [op, params...]");
  const auto& params = request.via.array;
  uint64_t code = params.ptr[0].via.u64;
  if (code > static_cast<uint64_t>(op::batch)) // never cast an unknown code into the enum
    throw request_error::bad("unknown operation " + std::to_string(code)
                             + " (this worker knows 0 to "
                             + std::to_string(static_cast<int>(op::batch)) + ")");
  switch (static_cast<op>(code)) {
    case op::ping:
      pack_text(pk, "pong");
      return;
    case op::func:
      call(params, pk, "func");
      return;
    case op::init:
      call(params, pk, "init");
      return;
    case op::constant: {
      auto module = to_py(text_param(params, 1, "const", "module"));
      auto name = to_py(text_param(params, 2, "const", "name"));
      auto how = to_py(params.size > 3 ? text_param(params, 3, "const", "cast") : "");
      py_ref found{check(PyObject_CallFunctionObjArgs(helpers_.resolve.get(), module.get(),
                                                      name.get(), nullptr))};
      py_ref cast{check(PyObject_CallFunctionObjArgs(helpers_.cast.get(), found.get(), how.get(),
                                                     nullptr))};
      codec_.encode(cast.get(), pk);
      return;
    }
    case op::method:
      call_method(params, pk);
      return;
    case op::attr: {
      auto target = codec_.decode(param(params, 1, "attr", "target"));
      auto name = to_py(text_param(params, 2, "attr", "name"));
      py_ref found{check(PyObject_GetAttr(target.get(), name.get()))};
      codec_.encode(found.get(), pk, flag_param(params, 3));
      return;
    }
    case op::eval:
      eval(params, pk, Py_eval_input);
      return;
    case op::exec:
      eval(params, pk, Py_file_input);
      return;
    case op::release: {
      const auto& ids = param(params, 1, "release", "object ids");
      if (ids.type != msgpack::type::ARRAY)
        throw request_error::bad("release: parameter 1 (object ids) must be an array of ints");
      int64_t released = 0;
      for (uint32_t i = 0; i < ids.via.array.size; ++i)
        if (ids.via.array.ptr[i].type == msgpack::type::POSITIVE_INTEGER
            && objects_.erase(ids.via.array.ptr[i].via.u64))
          ++released;
      pk.pack_int64(released);
      return;
    }
    case op::map:
      map(params, pk);
      return;
    case op::batch:
      batch(params, pk);
      return;
    case op::versions: {
      py_ref id{check(PyLong_FromUnsignedLongLong(identity_.id))};
      py_ref uid{check(PyLong_FromUnsignedLongLong(identity_.uid))};
      py_ref info{check(
        PyObject_CallFunctionObjArgs(helpers_.versions.get(), id.get(), uid.get(), nullptr))};
      codec_.encode(info.get(), pk);
      return;
    }
  }
  throw request_error::bad("unknown operation " + std::to_string(code));
}

void dispatcher::call(const msgpack::object_array& params, packer& pk, const char* op_name) {
  auto module = text_param(params, 1, op_name, "module");
  auto name = text_param(params, 2, op_name, "name");
  py_ref callable = this->callable(module, name);
  auto args = codec_.decode_args(param(params, 3, op_name, "args"));
  py_ref kwargs = params.size > 4 ? codec_.decode_kwargs(params.ptr[4]) : py_ref{};
  py_ref result{check(PyObject_Call(callable.get(), args.get(), kwargs.get()))};
  codec_.encode(result.get(), pk, flag_param(params, 5));
}

void dispatcher::call_method(const msgpack::object_array& params, packer& pk) {
  auto target = codec_.decode(param(params, 1, "method", "target"));
  auto name = to_py(text_param(params, 2, "method", "name"));
  py_ref method{check(PyObject_GetAttr(target.get(), name.get()))};
  auto args = codec_.decode_args(param(params, 3, "method", "args"));
  py_ref kwargs = params.size > 4 ? codec_.decode_kwargs(params.ptr[4]) : py_ref{};
  py_ref result{check(PyObject_Call(method.get(), args.get(), kwargs.get()))};
  codec_.encode(result.get(), pk, flag_param(params, 5));
}

void dispatcher::eval(const msgpack::object_array& params, packer& pk, int mode) {
  const char* op_name = mode == Py_eval_input ? "eval" : "exec";
  PyObject* code = compiled(text_param(params, 1, op_name, "code"), mode);
  py_ref locals = params.size > 2 ? codec_.decode_kwargs(params.ptr[2]) : py_ref{};
  PyObject* scope = locals ? locals.get() : globals_.get();
  py_ref result{check(PyEval_EvalCode(code, globals_.get(), scope))};
  codec_.encode(mode == Py_eval_input ? result.get() : Py_None, pk);
}

void dispatcher::pack_python_error(packer& pk, PyObject* exc) {
  py_ref described{exc != nullptr ? PyObject_CallOneArg(helpers_.describe_exception.get(), exc)
                                  : nullptr};
  pk.pack_array(3);
  if (described && PyTuple_Check(described.get()) && PyTuple_GET_SIZE(described.get()) == 3) {
    for (Py_ssize_t i = 0; i < 3; ++i) {
      Py_ssize_t n = 0;
      const char* s = PyUnicode_AsUTF8AndSize(PyTuple_GET_ITEM(described.get(), i), &n);
      pack_text(pk, s != nullptr ? std::string{s, static_cast<size_t>(n)} : std::string{});
    }
  } else {
    pack_text(pk, "Exception");
    pack_text(pk, "an exception was raised that pyactor could not describe");
    pack_text(pk, "");
  }
  PyErr_Clear();
}

py_ref dispatcher::follow(const callable_path& path) {
  PyObject* found = PyDict_GetItemWithError(PyImport_GetModuleDict(), path.module.get());
  if (found == nullptr) {
    if (PyErr_Occurred() != nullptr)
      throw request_error::python(); // the lookup itself failed
    return {}; // not imported (or removed from sys.modules): resolve() imports it
  }
  // A plain module attribute (the common case): one lookup in the module's
  // dict, without getattr's look at the module's type first.
  if (path.parts.size() == 1 && PyModule_CheckExact(found)) {
    PyObject* attr = PyDict_GetItemWithError(PyModule_GetDict(found), path.parts[0].get());
    if (attr != nullptr)
      return py_ref::borrow(attr);
    if (PyErr_Occurred() != nullptr)
      throw request_error::python();
    // not in its dict: maybe the module's __getattr__ or a submodule
  }
  auto obj = py_ref::borrow(found);
  for (const auto& part : path.parts) {
    py_ref next{PyObject_GetAttr(obj.get(), part.get())};
    if (!next) {
      if (!PyErr_ExceptionMatches(PyExc_AttributeError))
        throw request_error::python();
      PyErr_Clear(); // maybe a submodule not imported yet: resolve() knows
      return {};
    }
    obj = std::move(next);
  }
  return obj;
}

py_ref dispatcher::callable(std::string_view module, std::string_view name) {
  std::string key;
  key.reserve(module.size() + name.size() + 1);
  key.append(module).push_back('\0');
  key.append(name);
  auto known = callables_.find(key);
  py_ref found;
  if (known != callables_.end())
    found = follow(known->second);
  if (!found) {
    auto mod = to_py(module);
    auto dotted = to_py(name);
    found = py_ref{check(
      PyObject_CallFunctionObjArgs(helpers_.resolve.get(), mod.get(), dotted.get(), nullptr))};
    if (known == callables_.end()) {
      callable_path path{std::move(mod), {}};
      for (size_t from = 0; !name.empty();) {
        auto dot = name.find('.', from);
        path.parts.push_back(to_py(name.substr(from, dot - from)));
        if (dot == std::string_view::npos)
          break;
        from = dot + 1;
      }
      if (callables_.size() >= max_cached_callables)
        callables_.clear();
      callables_.emplace(std::move(key), std::move(path));
    }
  }
  if (!PyCallable_Check(found.get())) {
    auto dotted = to_py(name);
    PyErr_Format(PyExc_TypeError, "%s.%U is not callable: it is a %s (use const to read it)",
                 std::string{module}.c_str(), dotted.get(), Py_TYPE(found.get())->tp_name);
    throw request_error::python();
  }
  return found;
}

PyObject* dispatcher::compiled(std::string_view code, int mode) {
  std::string key;
  key.reserve(code.size() + 1);
  key.push_back(mode == Py_eval_input ? 'e' : 'x');
  key.append(code);
  if (auto i = code_cache_.find(key); i != code_cache_.end())
    return i->second.get();
  std::string text{code};
  if (text.find('\0') != std::string::npos)
    throw request_error::bad("code must not contain NUL characters");
  py_ref obj{check(Py_CompileString(text.c_str(), mode == Py_eval_input ? "<eval>" : "<exec>", mode))};
  if (code_cache_.size() >= max_cached_code)
    code_cache_.clear();
  return code_cache_.emplace(std::move(key), std::move(obj)).first->second.get();
}

} // namespace pyactor::worker
