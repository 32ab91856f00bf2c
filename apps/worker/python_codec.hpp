// msgpack <-> Python objects, straight, without an intermediate value model.
// The only code in pyactor-worker that maps wire bytes to PyObject* and back
// (layouts in pyactor/codec/msgpack.hpp).
#pragma once

#include <Python.h>

#include <cstdint>
#include <vector>

#include <msgpack.hpp>

#include "pyactor/codec/msgpack_writer.hpp"
#include "pyactor/limits.hpp"
#include "worker/protocol.hpp"

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
  /// Deepest nesting of one argument or result, the rule of
  /// pyactor/limits.hpp: every list, tuple, dict and tagged value is one
  /// level; scalars (object references and opaque values included) none.
  /// The request's own arrays (the envelope) do not count.
  static constexpr size_t max_depth = limits::max_value_depth;
  /// Levels of envelope a whole request may add on top of `max_depth`.
  static constexpr size_t envelope_depth = limits::max_envelope_depth;

  /// `frame_limit` (at most protocol.hpp's max_frame_size) bounds one reply.
  python_codec(const python_types& types, object_table& objects, uint64_t worker_uid,
               size_t frame_limit = max_frame_size)
    : types_(types), objects_(objects), worker_uid_(worker_uid), frame_limit_(frame_limit) {}

  /// Starts counting the bytes of a new reply against the frame limit.
  void begin_reply() { used_ = 0; }

  size_t frame_limit() const { return frame_limit_; }

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
  /// `level`: the value counts as a nesting level (tuple, tagged; not opaque).
  void encode_sequence_ext(PyObject* const* items, Py_ssize_t n, int8_t ext, packer& pk,
                           size_t depth, bool level = true);
  void encode_ref(PyObject* obj, packer& pk, size_t depth);
  void pack_utf8(packer& pk, PyObject* str);
  /// Counts `n` bytes of string data of the reply; throws (bad_request,
  /// naming the size and the limit) before they are copied when the reply
  /// would pass the frame limit.
  void account(size_t n, const char* what);
  /// Throws when a container enclosed by `depth` others is past max_depth.
  static void enter_container(size_t depth, const char* what);
  py_ref decode(const msgpack::object& obj, size_t depth);
  py_ref decode_ext(const msgpack::object& obj, size_t depth);

  const python_types& types_;
  object_table& objects_;
  uint64_t worker_uid_;
  size_t frame_limit_;
  size_t used_ = 0;
  std::vector<char> scratch_;
};

/// Unpacks one msgpack value spanning exactly [data, data + size), with every
/// length bounded by the input size and nesting by `max_depth`. Throws
/// `request_error` (bad_request) on malformed input.
msgpack::object_handle unpack_bounded(const char* data, size_t size, size_t max_depth);

} // namespace pyactor::worker
