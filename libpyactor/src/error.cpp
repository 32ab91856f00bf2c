// Typed errors: names of error codes and the rendering of `error`.
#include "pyactor/error.hpp"

namespace pyactor {

namespace {

struct errc_name {
  errc code;
  const char* name;
};

constexpr errc_name errc_names[] = {
  {errc::python_exception, "python_exception"},
  {errc::timeout, "timeout"},
  {errc::worker_crashed, "worker_crashed"},
  {errc::node_down, "node_down"},
  {errc::stale_ref, "stale_ref"},
  {errc::no_workers, "no_workers"},
  {errc::overloaded, "overloaded"},
  {errc::bad_request, "bad_request"},
  {errc::cancelled, "cancelled"},
  {errc::cross_worker_ref, "cross_worker_ref"},
  {errc::not_running, "not_running"},
};

} // namespace

const char* to_string(errc x) {
  for (const auto& entry : errc_names)
    if (entry.code == x)
      return entry.name;
  return "unknown_error";
}

bool from_string(const std::string& name, errc& out) {
  for (const auto& entry : errc_names) {
    if (name == entry.name) {
      out = entry.code;
      return true;
    }
  }
  return false;
}

std::string error::to_string() const {
  std::string out = pyactor::to_string(code);
  if (code == errc::python_exception && !python_type.empty()) {
    out += ": ";
    out += python_type;
  }
  if (!message.empty()) {
    out += ": ";
    out += message;
  }
  return out;
}

} // namespace pyactor
