// How the scheduler picks a worker for a call that has no pin and no object.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "pyactor/error.hpp"
#include "pyactor/actors/worker_info.hpp"

namespace pyactor::actors {

/// Picks one of `candidates` (never empty) by index. Policies are pure and
/// testable without actors. Not thread-safe; owned by the scheduler actor.
class scheduling_policy {
public:
  virtual ~scheduling_policy() = default;
  virtual size_t pick(const std::vector<const worker_stats*>& candidates) = 0;
  virtual const char* name() const = 0;
};

/// Each worker in turn.
class round_robin_policy : public scheduling_policy {
public:
  size_t pick(const std::vector<const worker_stats*>& candidates) override;
  const char* name() const override { return "round-robin"; }

private:
  size_t next_ = 0;
};

/// The worker with the fewest calls in flight (as counted by the worker
/// actors); ties go round-robin so an idle pool still spreads work.
class least_loaded_policy : public scheduling_policy {
public:
  size_t pick(const std::vector<const worker_stats*>& candidates) override;
  const char* name() const override { return "least-loaded"; }

private:
  size_t next_ = 0;
};

/// Names accepted by `make_policy`.
inline const char* policy_names = "round-robin, least-loaded";

/// Returns the policy called `name`, or a bad_request error listing the names.
result<std::shared_ptr<scheduling_policy>> make_policy(const std::string& name);

} // namespace pyactor::actors
