#include "object_table.hpp"

#include <string>

#include "request_error.hpp"

namespace pyactor::worker {

object_table::~object_table() {
  for (auto& entry : by_id_)
    Py_DECREF(entry.second);
}

uint64_t object_table::insert(PyObject* obj) {
  if (auto i = by_pointer_.find(obj); i != by_pointer_.end())
    return i->second;
  if (by_id_.size() >= max_objects_)
    throw request_error{status::overloaded,
                        "this worker already holds " + std::to_string(max_objects_)
                          + " live objects (its max-objects limit): release references you "
                            "no longer need"};
  auto id = next_id_++;
  Py_INCREF(obj);
  by_id_.emplace(id, obj);
  by_pointer_.emplace(obj, id);
  return id;
}

PyObject* object_table::find(uint64_t id) const {
  auto i = by_id_.find(id);
  return i == by_id_.end() ? nullptr : i->second;
}

bool object_table::erase(uint64_t id) {
  auto i = by_id_.find(id);
  if (i == by_id_.end())
    return false;
  PyObject* obj = i->second;
  by_pointer_.erase(obj);
  by_id_.erase(i);
  Py_DECREF(obj);
  return true;
}

} // namespace pyactor::worker
