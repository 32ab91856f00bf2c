// How the scheduler picks a worker for a call that has no pin and no object.
#pragma once

#include <cstddef>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include <cstdint>
#include "pyactor/error.hpp"

namespace pyactor::actors {

/// Returns the index of the least-loaded of `n` candidates (n > 0); the scan
/// starts at `start`, so ties rotate. `load_of(i)` gives candidate i's load.
/// Shared by the scheduler's policy and the C++ API's direct route.
template <class LoadOf>
size_t pick_least_loaded(size_t n, size_t start, LoadOf&& load_of) {
  size_t best = start % n;
  auto best_load = load_of(best);
  for (size_t k = 1; k < n; ++k) {
    size_t i = (start + k) % n;
    auto load = load_of(i);
    if (load < best_load) {
      best = i;
      best_load = load;
    }
  }
  return best;
}

/// Picks one of the candidate workers (never none) by index; `loads[i]` is
/// candidate i's calls in flight as the scheduler counts them. Policies are
/// pure and testable without actors. Not thread-safe; owned by the scheduler
/// actor.
class scheduling_policy {
public:
  virtual ~scheduling_policy() = default;
  /// `key` names the call ("module.function"); only `affinity` reads it.
  virtual size_t pick(const std::vector<int32_t>& loads, std::string_view key) = 0;
  virtual const char* name() const = 0;
};

/// Each worker in turn.
class round_robin_policy : public scheduling_policy {
public:
  size_t pick(const std::vector<int32_t>& loads, std::string_view key) override;
  const char* name() const override { return "round-robin"; }

private:
  size_t next_ = 0;
};

/// The worker with the fewest calls assigned and not yet answered; ties go
/// round-robin so an idle pool still spreads work.
class least_loaded_policy : public scheduling_policy {
public:
  size_t pick(const std::vector<int32_t>& loads, std::string_view key) override;
  const char* name() const override { return "least-loaded"; }

private:
  size_t next_ = 0;
};

/// A uniformly random worker (seeded, so runs are reproducible).
class random_policy : public scheduling_policy {
public:
  explicit random_policy(uint32_t seed = 42) : rng_(seed) {}
  size_t pick(const std::vector<int32_t>& loads, std::string_view key) override;
  const char* name() const override { return "random"; }

private:
  std::mt19937 rng_;
};

/// The same function goes to the same worker while the pool is unchanged
/// (warm imports and caches); calls without a key go least-loaded.
class affinity_policy : public scheduling_policy {
public:
  size_t pick(const std::vector<int32_t>& loads, std::string_view key) override;
  const char* name() const override { return "affinity"; }

private:
  least_loaded_policy fallback_;
};

/// Names accepted by `make_policy`.
inline const char* policy_names = "round-robin, least-loaded, random, affinity";

/// Returns the policy called `name`, or a bad_request error listing the names.
result<std::shared_ptr<scheduling_policy>> make_policy(const std::string& name);

} // namespace pyactor::actors
