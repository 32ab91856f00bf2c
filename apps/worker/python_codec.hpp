// msgpack <-> Python objects, straight, without an intermediate value model.
// The only code in pyactor-worker that maps wire bytes to PyObject* and back
// (layouts in pyactor/codec/msgpack.hpp).
#pragma once

#include <Python.h>

#include <cstdint>
#include <vector>

#include <msgpack.hpp>

#include "pyactor/codec/msgpack_writer.hpp"

#include "object_table.hpp"
#include "py_ref.hpp"

namespace pyactor::worker {

using codec::packer;
using codec::vector_sink;

/// The Python-side helpers the codec calls (from the `pyactor` package).
struct python_types {
  py_ref atom_type;      // pyactor.Atom
  py_ref tagged_type;    // pyactor.Tagged
  py_ref opaque_type;    // pyactor.Opaque
  py_ref encode_fn;      // pyactor.encoders.encode(obj) -> (tag, payload) | None
  py_ref decode_fn;      // pyactor.encoders.decode(tag, payload) -> obj
};

/// Converts between msgpack and Python objects for one worker. Objects without
/// a by-value encoding go into `objects` and travel as references. Errors
/// throw `request_error`. Not thread-safe; owned by the worker's main loop.
class python_codec {
public:
  static constexpr size_t max_depth = 100;

  python_codec(const python_types& types, object_table& objects, uint64_t worker_uid)
    : types_(types), objects_(objects), worker_uid_(worker_uid) {}

  /// Encodes `obj`; `by_ref` forces an object reference at the top level.
  void encode(PyObject* obj, packer& pk, bool by_ref = false);

  /// Decodes one value (already bounds-checked by msgpack::unpack).
  py_ref decode(const msgpack::object& obj) { return decode(obj, 0); }

  /// Decodes an array into a new tuple (positional arguments).
  py_ref decode_args(const msgpack::object& obj);

  /// Decodes a map with str keys into a new dict (keyword arguments); nil
  /// or an empty map gives a null ref (no kwargs).
  py_ref decode_kwargs(const msgpack::object& obj);

private:
  void encode(PyObject* obj, packer& pk, size_t depth);
  void encode_int(PyObject* obj, packer& pk);
  void encode_sequence_ext(PyObject* const* items, Py_ssize_t n, int8_t ext, packer& pk,
                           size_t depth);
  void encode_ref(PyObject* obj, packer& pk);
  py_ref decode(const msgpack::object& obj, size_t depth);
  py_ref decode_ext(const msgpack::object& obj, size_t depth);

  const python_types& types_;
  object_table& objects_;
  uint64_t worker_uid_;
  std::vector<char> scratch_;
};

/// Unpacks one msgpack value spanning exactly [data, data + size), with every
/// length bounded by the input size and nesting by `max_depth`. Throws
/// `request_error` (bad_request) on malformed input.
msgpack::object_handle unpack_bounded(const char* data, size_t size, size_t max_depth);

} // namespace pyactor::worker
