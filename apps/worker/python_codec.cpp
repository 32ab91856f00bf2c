#include "python_codec.hpp"

#include <string>

#include "pyactor/codec/msgpack.hpp"
#include "request_error.hpp"

namespace pyactor::worker {

namespace {

constexpr int8_t ext_code(codec::ext_type x) {
  return static_cast<int8_t>(x);
}

// Referencing the input buffer instead of copying: the buffer outlives every
// object decoded from it (one request).
bool reference_input(msgpack::type::object_type, size_t, void*) {
  return true;
}

void pack_ext(packer& pk, codec::ext_type type, const std::vector<char>& body) {
  pk.pack_ext(static_cast<uint32_t>(body.size()), ext_code(type));
  pk.pack_ext_body(body.data(), static_cast<uint32_t>(body.size()));
}

std::string_view as_text(const msgpack::object& o) {
  return {o.via.str.ptr, o.via.str.size};
}

} // namespace

msgpack::object_handle unpack_bounded(const char* data, size_t size, size_t max_depth) {
  if (size > max_frame_size)
    throw request_error::bad("msgpack: input of " + std::to_string(size) + " bytes exceeds the frame limit");
  auto n = static_cast<uint32_t>(size);
  msgpack::unpack_limit limits(n, n / 2, n, n, n, max_depth);
  size_t offset = 0;
  try {
    auto handle = msgpack::unpack(data, size, offset, reference_input, nullptr, limits);
    if (offset != size)
      throw request_error::bad("msgpack: " + std::to_string(size - offset) + " trailing bytes after the value");
    return handle;
  } catch (const msgpack::insufficient_bytes&) {
    throw request_error::bad("msgpack: truncated input of " + std::to_string(size) + " bytes");
  } catch (const msgpack::depth_size_overflow&) {
    throw request_error::bad("msgpack: nesting deeper than the limit of "
                             + std::to_string(python_codec::max_depth) + " levels");
  } catch (const msgpack::size_overflow&) {
    throw request_error::bad("msgpack: a length claims more than the " + std::to_string(size)
              + " bytes of input hold");
  } catch (const msgpack::parse_error& e) {
    throw request_error::bad(std::string{"msgpack: malformed input: "} + e.what());
  } catch (const std::bad_alloc&) {
    throw request_error::bad("msgpack: input too large to decode");
  }
}

void python_codec::account(size_t n, const char* what) {
  used_ += n;
  if (used_ <= frame_limit_)
    return;
  if (used_ == n)
    throw request_error::bad("the result holds " + std::string{what} + " of " + std::to_string(n)
                             + " bytes, over the frame limit of " + std::to_string(frame_limit_)
                             + " bytes");
  throw request_error::bad("the reply would be more than " + std::to_string(used_)
                           + " bytes (" + what + " of " + std::to_string(n) + " bytes after "
                           + std::to_string(used_ - n) + " bytes of other data), over the frame "
                           "limit of " + std::to_string(frame_limit_) + " bytes");
}

void python_codec::pack_utf8(packer& pk, PyObject* str) {
  Py_ssize_t n = 0;
  const char* s = check_utf8(PyUnicode_AsUTF8AndSize(str, &n));
  account(static_cast<size_t>(n), "a str");
  pk.pack_text(s, static_cast<size_t>(n));
}

void python_codec::enter_container(size_t depth, const char* what) {
  // `depth` containers enclose this one: it is level depth + 1.
  if (depth >= max_depth)
    throw request_error::bad(std::string{what} + " nests deeper than " + std::to_string(max_depth)
                             + " levels (the limit of pyactor values; a container that contains "
                               "itself?)");
}

// -- encoding -------------------------------------------------------------------

void python_codec::encode(PyObject* obj, packer& pk, bool by_ref) {
  if (by_ref && obj != Py_None)
    encode_ref(obj, pk, 0);
  else
    encode(obj, pk, size_t{0});
}

void python_codec::encode(PyObject* obj, packer& pk, size_t depth) {
  PyTypeObject* type = Py_TYPE(obj);
  if (obj == Py_None) {
    pk.pack_nil();
  } else if (type == &PyBool_Type) {
    obj == Py_True ? pk.pack_true() : pk.pack_false();
  } else if (type == &PyLong_Type) {
    encode_int(obj, pk);
  } else if (type == &PyFloat_Type) {
    pk.pack_float64(PyFloat_AS_DOUBLE(obj));
  } else if (type == &PyUnicode_Type) {
    pack_utf8(pk, obj);
  } else if (type == &PyBytes_Type) {
    account(static_cast<size_t>(PyBytes_GET_SIZE(obj)), "a bytes");
    auto n = static_cast<uint32_t>(PyBytes_GET_SIZE(obj));
    pk.pack_bin(n);
    pk.pack_bin_body(PyBytes_AS_STRING(obj), n);
  } else if (type == &PyByteArray_Type) {
    account(static_cast<size_t>(PyByteArray_GET_SIZE(obj)), "a bytearray");
    auto n = static_cast<uint32_t>(PyByteArray_GET_SIZE(obj));
    pk.pack_bin(n);
    pk.pack_bin_body(PyByteArray_AS_STRING(obj), n);
  } else if (type == &PyList_Type) {
    enter_container(depth, "result");
    Py_ssize_t n = PyList_GET_SIZE(obj);
    pk.pack_array(static_cast<uint32_t>(n));
    for (Py_ssize_t i = 0; i < n; ++i) {
      if (i >= PyList_GET_SIZE(obj))
        throw request_error::bad("a list changed size while its result was being encoded");
      auto item = py_ref::borrow(PyList_GET_ITEM(obj, i));
      encode(item.get(), pk, depth + 1);
    }
  } else if (type == &PyTuple_Type) {
    encode_sequence_ext(&PyTuple_GET_ITEM(obj, 0), PyTuple_GET_SIZE(obj), ext_code(codec::ext_type::tuple),
                        pk, depth);
  } else if (type == &PyDict_Type) {
    enter_container(depth, "result");
    Py_ssize_t n = PyDict_GET_SIZE(obj);
    pk.pack_map(static_cast<uint32_t>(n));
    Py_ssize_t pos = 0, count = 0;
    PyObject *key = nullptr, *val = nullptr;
    while (PyDict_Next(obj, &pos, &key, &val)) {
      if (++count > n)
        throw request_error::bad("a dict changed size while its result was being encoded");
      auto k = py_ref::borrow(key);
      auto v = py_ref::borrow(val);
      encode(k.get(), pk, depth + 1);
      encode(v.get(), pk, depth + 1);
    }
    if (count != n)
      throw request_error::bad("a dict changed size while its result was being encoded");
  } else if (reinterpret_cast<PyObject*>(type) == types_.atom_type.get()) {
    Py_ssize_t n = 0;
    const char* s = check_utf8(PyUnicode_AsUTF8AndSize(obj, &n));
    pk.pack_ext(static_cast<uint32_t>(n), ext_code(codec::ext_type::atom));
    pk.pack_ext_body(s, static_cast<uint32_t>(n));
  } else if (reinterpret_cast<PyObject*>(type) == types_.tagged_type.get()) {
    py_ref tag{check(PyObject_GetAttrString(obj, "tag"))};
    py_ref payload{check(PyObject_GetAttrString(obj, "payload"))};
    PyObject* items[] = {tag.get(), payload.get()};
    encode_sequence_ext(items, 2, ext_code(codec::ext_type::tagged), pk, depth);
  } else if (reinterpret_cast<PyObject*>(type) == types_.opaque_type.get()) {
    py_ref kind{check(PyObject_GetAttrString(obj, "kind"))};
    py_ref data{check(PyObject_GetAttrString(obj, "data"))};
    PyObject* items[] = {kind.get(), data.get()};
    encode_sequence_ext(items, 2, ext_code(codec::ext_type::opaque), pk, depth, false);
  } else {
    py_ref found{check(PyObject_CallOneArg(types_.encode_fn.get(), obj))};
    if (found.get() != Py_None) {
      if (!PyTuple_Check(found.get()) || PyTuple_GET_SIZE(found.get()) != 2)
        throw request_error::bad("pyactor.encoders.encode must return (tag, payload) or None");
      encode_sequence_ext(&PyTuple_GET_ITEM(found.get(), 0), 2,
                          ext_code(codec::ext_type::tagged), pk, depth);
    } else if (PyLong_Check(obj)) { // subclasses of the plain types travel as them
      encode_int(obj, pk);
    } else if (PyFloat_Check(obj)) {
      pk.pack_float64(PyFloat_AsDouble(obj));
    } else if (PyUnicode_Check(obj)) {
      pack_utf8(pk, obj);
    } else if (PyTuple_Check(obj)) {
      encode_sequence_ext(&PyTuple_GET_ITEM(obj, 0), PyTuple_GET_SIZE(obj),
                          ext_code(codec::ext_type::tuple), pk, depth);
    } else if (PyList_Check(obj) || PyDict_Check(obj) || PyBytes_Check(obj)) {
      // Same layout as the exact types; re-dispatch on a plain copy.
      py_ref plain{check(PyList_Check(obj)    ? PySequence_List(obj)
                         : PyDict_Check(obj) ? PyDict_Copy(obj)
                                             : PyBytes_FromObject(obj))};
      encode(plain.get(), pk, depth);
    } else {
      encode_ref(obj, pk, depth);
    }
  }
}

void python_codec::encode_int(PyObject* obj, packer& pk) {
  int overflow = 0;
  long long x = PyLong_AsLongLongAndOverflow(obj, &overflow);
  if (overflow == 0) {
    if (x == -1 && PyErr_Occurred())
      throw request_error::python();
    pk.pack_int64(x);
    return;
  }
  if (overflow > 0) {
    unsigned long long u = PyLong_AsUnsignedLongLong(obj);
    if (!PyErr_Occurred()) {
      pk.pack_uint64(u);
      return;
    }
    PyErr_Clear();
  }
  size_t bits = _PyLong_NumBits(obj);
  if (bits == static_cast<size_t>(-1))
    throw request_error::python();
  size_t n = bits / 8 + 1;
  std::vector<unsigned char> buf(n);
  if (_PyLong_AsByteArray(reinterpret_cast<PyLongObject*>(obj), buf.data(), n, 0, 1) < 0)
    throw request_error::python();
  pk.pack_ext(static_cast<uint32_t>(n), ext_code(codec::ext_type::bigint));
  pk.pack_ext_body(reinterpret_cast<const char*>(buf.data()), static_cast<uint32_t>(n));
}

void python_codec::encode_sequence_ext(PyObject* const* items, Py_ssize_t n, int8_t ext,
                                       packer& pk, size_t depth, bool level) {
  if (level)
    enter_container(depth, "result");
  std::vector<char> body;
  vector_sink sink{&body};
  packer inner{sink};
  inner.pack_array(static_cast<uint32_t>(n));
  for (Py_ssize_t i = 0; i < n; ++i)
    encode(items[i], inner, depth + 1);
  if (body.size() > frame_limit_) // its strings were counted already; this guards the 32-bit length
    throw request_error::bad("the result holds a value of " + std::to_string(body.size())
                             + " bytes, over the frame limit of " + std::to_string(frame_limit_)
                             + " bytes");
  pack_ext(pk, static_cast<codec::ext_type>(ext), body);
}

void python_codec::encode_ref(PyObject* obj, packer& pk, size_t) {
  // A reference is a scalar (pyactor/limits.hpp): no level.
  uint64_t id = objects_.insert(obj);
  const char* type_name = Py_TYPE(obj)->tp_name;
  std::vector<char> body;
  vector_sink sink{&body};
  packer inner{sink};
  inner.pack_array(3);
  inner.pack_uint64(worker_uid_);
  inner.pack_uint64(id);
  inner.pack_text(type_name, std::char_traits<char>::length(type_name));
  pack_ext(pk, codec::ext_type::objref, body);
}

// -- decoding -------------------------------------------------------------------

py_ref python_codec::decode(const msgpack::object& obj, size_t depth) {
  using msgpack::type::object_type;
  switch (obj.type) {
    case object_type::NIL:
      return py_ref::borrow(Py_None);
    case object_type::BOOLEAN:
      return py_ref::borrow(obj.via.boolean ? Py_True : Py_False);
    case object_type::POSITIVE_INTEGER:
      return py_ref{check(PyLong_FromUnsignedLongLong(obj.via.u64))};
    case object_type::NEGATIVE_INTEGER:
      return py_ref{check(PyLong_FromLongLong(obj.via.i64))};
    case object_type::FLOAT32:
    case object_type::FLOAT64:
      return py_ref{check(PyFloat_FromDouble(obj.via.f64))};
    case object_type::STR:
      return py_ref{check(PyUnicode_DecodeUTF8(obj.via.str.ptr, obj.via.str.size, "strict"))};
    case object_type::BIN:
      return py_ref{check(PyBytes_FromStringAndSize(obj.via.bin.ptr, obj.via.bin.size))};
    case object_type::ARRAY: {
      enter_container(depth, "argument");
      py_ref list{check(PyList_New(obj.via.array.size))};
      for (uint32_t i = 0; i < obj.via.array.size; ++i)
        PyList_SET_ITEM(list.get(), i, decode(obj.via.array.ptr[i], depth + 1).release());
      return list;
    }
    case object_type::MAP: {
      enter_container(depth, "argument");
      py_ref dict{check(PyDict_New())};
      for (uint32_t i = 0; i < obj.via.map.size; ++i) {
        auto key = decode(obj.via.map.ptr[i].key, depth + 1);
        auto val = decode(obj.via.map.ptr[i].val, depth + 1);
        if (PyDict_SetItem(dict.get(), key.get(), val.get()) < 0)
          throw request_error::python();
      }
      return dict;
    }
    case object_type::EXT:
      return decode_ext(obj, depth);
  }
  throw request_error::bad("msgpack: unknown object type");
}

py_ref python_codec::decode_ext(const msgpack::object& obj, size_t depth) {
  using msgpack::type::object_type;
  const char* data = obj.via.ext.data();
  uint32_t size = obj.via.ext.size;
  auto type = static_cast<codec::ext_type>(obj.via.ext.type());
  // `level`: the value is a nesting level (tuple, tagged), whose body's array
  // is that level (msgpack-c counts containers: the body may hold max_depth -
  // depth of them); object references and opaque values are scalars with a
  // flat body.
  auto body_array = [&](const char* what, uint32_t arity, bool level) -> msgpack::object_handle {
    if (level)
      enter_container(depth, "argument");
    auto body = unpack_bounded(data, size, level ? max_depth - depth : 1);
    const auto& o = body.get();
    if (o.type != object_type::ARRAY || (arity != 0 && o.via.array.size != arity))
      throw request_error::bad(std::string{"msgpack: malformed "} + what + " extension body");
    return body;
  };
  switch (type) {
    case codec::ext_type::tuple: {
      auto body = body_array("tuple", 0, true);
      const auto& arr = body.get().via.array;
      py_ref tuple{check(PyTuple_New(arr.size))};
      for (uint32_t i = 0; i < arr.size; ++i)
        PyTuple_SET_ITEM(tuple.get(), i, decode(arr.ptr[i], depth + 1).release());
      return tuple;
    }
    case codec::ext_type::atom: {
      py_ref name{check(PyUnicode_DecodeUTF8(data, size, "strict"))};
      return py_ref{check(PyObject_CallOneArg(types_.atom_type.get(), name.get()))};
    }
    case codec::ext_type::bigint:
      return py_ref{check(
        _PyLong_FromByteArray(reinterpret_cast<const unsigned char*>(data), size, 0, 1))};
    case codec::ext_type::tagged: {
      auto body = body_array("tagged", 2, true);
      const auto& arr = body.get().via.array;
      if (arr.ptr[0].type != object_type::STR)
        throw request_error::bad("msgpack: a tagged value's tag must be a string");
      auto tag = decode(arr.ptr[0], depth + 1);
      auto payload = decode(arr.ptr[1], depth + 1);
      return py_ref{
        check(PyObject_CallFunctionObjArgs(types_.decode_fn.get(), tag.get(), payload.get(), nullptr))};
    }
    case codec::ext_type::objref: {
      auto body = body_array("object reference", 3, false);
      const auto& arr = body.get().via.array;
      if (arr.ptr[0].type != object_type::POSITIVE_INTEGER
          || arr.ptr[1].type != object_type::POSITIVE_INTEGER || arr.ptr[2].type != object_type::STR)
        throw request_error::bad("msgpack: an object reference must be [worker_uid, object_id, type_name]");
      uint64_t uid = arr.ptr[0].via.u64;
      uint64_t id = arr.ptr[1].via.u64;
      std::string type_name{as_text(arr.ptr[2])};
      if (uid != worker_uid_)
        throw request_error{status::cross_worker_ref,
                            "the " + type_name + " object #" + std::to_string(id)
                              + " lives in worker uid " + std::to_string(uid)
                              + ", but this call runs in worker uid " + std::to_string(worker_uid_)};
      PyObject* found = objects_.find(id);
      if (found == nullptr)
        throw request_error{status::stale_ref, "the " + type_name + " object #" + std::to_string(id)
                                                 + " was released from worker uid "
                                                 + std::to_string(uid)};
      return py_ref::borrow(found);
    }
    case codec::ext_type::opaque: {
      auto body = body_array("opaque", 2, false);
      const auto& arr = body.get().via.array;
      if (arr.ptr[0].type != object_type::STR || arr.ptr[1].type != object_type::BIN)
        throw request_error::bad("msgpack: an opaque value must be [kind: str, data: bin]");
      auto kind = decode(arr.ptr[0], depth + 1);
      auto bytes = decode(arr.ptr[1], depth + 1);
      return py_ref{check(
        PyObject_CallFunctionObjArgs(types_.opaque_type.get(), kind.get(), bytes.get(), nullptr))};
    }
  }
  throw request_error::bad("msgpack: unknown extension type " + std::to_string(obj.via.ext.type()));
}

py_ref python_codec::decode_args(const msgpack::object& obj) {
  if (obj.type != msgpack::type::ARRAY)
    throw request_error::bad("positional arguments must be an array");
  const auto& arr = obj.via.array;
  py_ref tuple{check(PyTuple_New(arr.size))};
  for (uint32_t i = 0; i < arr.size; ++i) // the array is the envelope: each argument has the full depth
    PyTuple_SET_ITEM(tuple.get(), i, decode(arr.ptr[i], 0).release());
  return tuple;
}

py_ref python_codec::decode_kwargs(const msgpack::object& obj) {
  if (obj.type == msgpack::type::NIL)
    return {};
  if (obj.type != msgpack::type::MAP)
    throw request_error::bad("keyword arguments must be a map");
  if (obj.via.map.size == 0)
    return {};
  py_ref dict{check(PyDict_New())};
  for (uint32_t i = 0; i < obj.via.map.size; ++i) {
    const auto& kv = obj.via.map.ptr[i];
    if (kv.key.type != msgpack::type::STR)
      throw request_error::bad("keyword argument names must be strings");
    auto key = decode(kv.key, 0);
    auto val = decode(kv.val, 0); // the map is the envelope: each value has the full depth
    if (PyDict_SetItem(dict.get(), key.get(), val.get()) < 0)
      throw request_error::python();
  }
  return dict;
}

} // namespace pyactor::worker
