#include "actors/scheduling_policy.hpp"

#include <functional>

namespace pyactor::actors {

size_t round_robin_policy::pick(const std::vector<int32_t>& loads,
                                std::string_view) {
  return next_++ % loads.size();
}

size_t least_loaded_policy::pick(const std::vector<int32_t>& loads,
                                 std::string_view) {
  size_t best = pick_least_loaded(loads.size(), next_, [&](size_t i) {
    return loads[i];
  });
  next_ = best + 1;
  return best;
}

size_t random_policy::pick(const std::vector<int32_t>& loads, std::string_view) {
  return std::uniform_int_distribution<size_t>{0, loads.size() - 1}(rng_);
}

size_t affinity_policy::pick(const std::vector<int32_t>& loads,
                             std::string_view key) {
  if (key.empty())
    return fallback_.pick(loads, key);
  return std::hash<std::string_view>{}(key) % loads.size();
}

result<std::shared_ptr<scheduling_policy>> make_policy(const std::string& name) {
  std::shared_ptr<scheduling_policy> policy;
  if (name == "round-robin")
    policy = std::make_shared<round_robin_policy>();
  else if (name == "least-loaded")
    policy = std::make_shared<least_loaded_policy>();
  else if (name == "random")
    policy = std::make_shared<random_policy>();
  else if (name == "affinity")
    policy = std::make_shared<affinity_policy>();
  else
    return make_error(errc::bad_request, "unknown scheduler policy '" + name
                                           + "': expected one of " + policy_names);
  return policy;
}

} // namespace pyactor::actors
