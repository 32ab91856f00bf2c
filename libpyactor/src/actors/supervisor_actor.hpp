// The node supervisor: starts the worker actors and restarts them OTP-style.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>
#include <caf/typed_response_promise.hpp>

#include "actors/scheduler_actor.hpp"
#include "actors/type_ids.hpp"
#include "actors/worker_actor.hpp"

namespace pyactor::actors {

/// `(ready_atom)` answers once every slot is ready or given up: "" when all
/// are ready, else why the failed ones failed. `(status_atom)` answers a
/// snapshot of every slot, `(history_atom)` the recent restarts. `(grow_atom,
/// n)` adds n workers and answers their ids; `(shrink_atom, n)` or
/// `(shrink_atom, ids)` drains those workers (they finish their calls, hand
/// waiting ones to the others) and answers their ids once they are gone.
///
/// Restart policy (one_for_one): a worker that dies is restarted at once,
/// unless its slot already restarted `max_restarts` times within
/// `restart_window`; then the slot is given up, logged with the reason, and
/// the pool serves on with the rest. A worker recycled after `max_calls`
/// calls is replaced without counting as a restart. The supervisor monitors
/// its workers and stops them when it stops.
using supervisor_actor = caf::typed_actor<
  caf::reacts_to<ready_atom, uint64_t, uint64_t>,
  caf::replies_to<ready_atom>::with<std::string>,
  caf::replies_to<status_atom>::with<std::vector<worker_status>>,
  caf::replies_to<history_atom>::with<std::vector<restart_record>>,
  caf::replies_to<grow_atom, uint32_t>::with<std::vector<uint64_t>>,
  caf::replies_to<shrink_atom, uint32_t>::with<std::vector<uint64_t>>,
  caf::replies_to<shrink_atom, std::vector<uint64_t>>::with<std::vector<uint64_t>>>;

/// What the supervisor needs: how many workers and how to start one.
struct supervisor_options {
  uint32_t workers = 1;
  /// Template for every worker; slot, uid and the handles are filled in.
  worker_options worker;
  uint32_t max_restarts = 5;
  std::chrono::milliseconds restart_window{10000};
  scheduler_actor scheduler;
  /// The uid of the first worker incarnation; later ones count up from it
  /// (a cluster node starts its own range, so a uid names its node).
  uint64_t first_uid = 1;
};

struct supervisor_state {
  struct slot {
    uint64_t id = 0;
    worker_actor actor;
    std::shared_ptr<worker_stats> stats; // of the current incarnation
    uint64_t served_before = 0;          // by earlier incarnations
    uint32_t restarts = 0;
    std::deque<std::chrono::steady_clock::time_point> recent_restarts;
    std::string last_exit;
    bool given_up = false;
    bool removing = false;
  };

  /// A `shrink` waiting for its workers to finish.
  struct removal {
    std::vector<uint64_t> ids;
    caf::typed_response_promise<std::vector<uint64_t>> promise;
  };

  supervisor_options options;
  std::vector<slot> slots;
  uint64_t next_uid = 1;
  uint64_t next_slot = 1;
  std::vector<caf::typed_response_promise<std::string>> ready_waiters;
  std::vector<removal> removals;
  std::deque<restart_record> history;

  static const char* name;

  /// True when every slot is ready or given up.
  bool settled() const;
  /// Answers the ready waiters if the pool has settled.
  void answer_waiters();
  /// Answers the removals whose workers are all gone.
  void answer_removals();
  void record(uint64_t slot, const std::string& reason, bool given_up);
  std::vector<worker_status> status() const;

  ~supervisor_state();
};

supervisor_actor::behavior_type
supervisor_behavior(supervisor_actor::stateful_pointer<supervisor_state> self,
                    supervisor_options options);

} // namespace pyactor::actors
