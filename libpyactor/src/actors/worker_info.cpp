#include "actors/worker_info.hpp"

namespace pyactor::actors {

const char* to_string(worker_state x) {
  switch (x) {
    case worker_state::starting: return "starting";
    case worker_state::ready: return "ready";
    case worker_state::failed: return "failed";
    case worker_state::stopping: return "stopping";
  }
  return "unknown";
}

} // namespace pyactor::actors
