#include "pyactor/actors/scheduling_policy.hpp"

#include <limits>

namespace pyactor::actors {

size_t round_robin_policy::pick(const std::vector<const worker_stats*>& candidates) {
  return next_++ % candidates.size();
}

size_t least_loaded_policy::pick(const std::vector<const worker_stats*>& candidates) {
  size_t n = candidates.size();
  size_t best = 0;
  uint32_t best_load = std::numeric_limits<uint32_t>::max();
  for (size_t k = 0; k < n; ++k) {
    size_t i = (next_ + k) % n;
    uint32_t load = candidates[i]->in_flight.load(std::memory_order_relaxed);
    if (load < best_load) {
      best = i;
      best_load = load;
    }
  }
  next_ = best + 1;
  return best;
}

result<std::shared_ptr<scheduling_policy>> make_policy(const std::string& name) {
  if (name == "round-robin")
    return std::shared_ptr<scheduling_policy>{std::make_shared<round_robin_policy>()};
  if (name == "least-loaded")
    return std::shared_ptr<scheduling_policy>{std::make_shared<least_loaded_policy>()};
  return make_error(errc::bad_request, "unknown scheduler policy '" + name
                                         + "': expected one of " + policy_names);
}

} // namespace pyactor::actors
