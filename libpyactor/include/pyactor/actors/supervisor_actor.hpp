// The node supervisor: starts the worker actors and restarts them OTP-style.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include <caf/typed_actor.hpp>
#include <caf/typed_response_promise.hpp>
#include <caf/replies_to.hpp>

#include "pyactor/actors/scheduler_actor.hpp"
#include "pyactor/actors/type_ids.hpp"
#include "pyactor/actors/worker_actor.hpp"

namespace pyactor::actors {

/// `(ready_atom)` answers once every slot is ready or given up: "" when all
/// are ready, else why the failed ones failed. `(status_atom)` answers a
/// snapshot of every slot. `(ready_atom, slot, uid)` comes from workers.
///
/// Restart policy (one_for_one): a worker that dies is restarted at once,
/// unless its slot already restarted `max_restarts` times within
/// `restart_window`; then the slot is given up, logged with the reason, and
/// removed from the scheduler. The supervisor monitors its workers and stops
/// them when it stops.
using supervisor_actor = caf::typed_actor<
  caf::reacts_to<ready_atom, uint64_t, uint64_t>,
  caf::replies_to<ready_atom>::with<std::string>,
  caf::replies_to<status_atom>::with<std::vector<worker_status>>>;

/// What the supervisor needs: how many workers and how to start one.
struct supervisor_options {
  uint32_t workers = 1;
  /// Template for every worker; slot, uid, stats and supervisor are filled in.
  worker_options worker;
  uint32_t max_restarts = 5;
  std::chrono::milliseconds restart_window{10000};
  scheduler_actor scheduler;
};

struct supervisor_state {
  struct slot {
    uint64_t id = 0;
    worker_actor actor;
    std::shared_ptr<worker_stats> stats;
    std::deque<std::chrono::steady_clock::time_point> restarts;
    std::string last_exit;
    bool given_up = false;
  };

  supervisor_options options;
  std::vector<slot> slots;
  uint64_t next_uid = 1;
  std::vector<caf::typed_response_promise<std::string>> ready_waiters;

  static const char* name;

  /// True when every slot is ready or given up.
  bool settled() const;
  /// Answers the ready waiters if the pool has settled.
  void answer_waiters();
  std::vector<worker_status> status() const;

  ~supervisor_state();
};

supervisor_actor::behavior_type
supervisor_behavior(supervisor_actor::stateful_pointer<supervisor_state> self,
                    supervisor_options options);

} // namespace pyactor::actors
