// The live Python objects a worker hands out as references.
#pragma once

#include <Python.h>

#include <cstddef>
#include <cstdint>
#include <unordered_map>

namespace pyactor::worker {

/// Maps object ids to strong references. The same object handed out twice
/// gets the same id. Not thread-safe; owned by the worker's main loop.
class object_table {
public:
  explicit object_table(size_t max_objects) : max_objects_(max_objects) {}
  object_table(const object_table&) = delete;
  object_table& operator=(const object_table&) = delete;
  ~object_table();

  /// Returns the id of `obj`, adding a strong reference if new. Throws
  /// `request_error` (overloaded) when the table already holds `max_objects`.
  uint64_t insert(PyObject* obj);

  /// Returns a borrowed pointer, or nullptr when `id` is unknown or released.
  PyObject* find(uint64_t id) const;

  /// Drops the reference held for `id`; false when unknown.
  bool erase(uint64_t id);

  size_t size() const { return by_id_.size(); }

private:
  size_t max_objects_;
  uint64_t next_id_ = 1;
  std::unordered_map<uint64_t, PyObject*> by_id_;
  std::unordered_map<PyObject*, uint64_t> by_pointer_;
};

} // namespace pyactor::worker
