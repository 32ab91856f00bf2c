// The scheduler: the one entry point for calls; picks a worker per call.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include <caf/typed_actor.hpp>
#include <caf/replies_to.hpp>

#include "pyactor/actors/messages.hpp"
#include "pyactor/actors/scheduling_policy.hpp"
#include "pyactor/actors/type_ids.hpp"
#include "pyactor/actors/worker_actor.hpp"

namespace pyactor::actors {

/// A worker the scheduler may route to. A null `actor` removes the slot.
struct worker_entry {
  uint64_t slot = 0;
  uint64_t uid = 0;
  worker_actor actor;
  std::shared_ptr<const worker_stats> stats;
};

} // namespace pyactor::actors

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(pyactor::actors::worker_entry)

namespace pyactor::actors {

/// Routing, in order: a call on an object reference goes to the worker
/// incarnation that holds it (`stale_ref` if it is gone); a pinned call goes
/// to that slot (`bad_request` if no such live worker); anything else is
/// picked by the policy (`no_workers` if the pool is empty). The scheduler
/// forwards and never answers for the worker: the worker's reply goes
/// straight back to the caller. The supervisor keeps the worker list current
/// with `(worker_atom, worker_entry)`.
using scheduler_actor = caf::typed_actor<
  caf::replies_to<call_atom, call_request>::with<call_reply>,
  caf::reacts_to<call_atom, call_request, reply_sink>,
  caf::reacts_to<worker_atom, worker_entry>>;

struct scheduler_state {
  std::shared_ptr<scheduling_policy> policy;
  std::vector<worker_entry> workers; // sorted by slot
  std::vector<const worker_stats*> candidates; // reused by pick

  static const char* name;

  /// Returns the worker for `request`, or the error reply to send instead.
  const worker_entry* route(const call_request& request, call_reply& refusal);
  void update(worker_entry entry);
};

scheduler_actor::behavior_type
scheduler_behavior(scheduler_actor::stateful_pointer<scheduler_state> self,
                   std::shared_ptr<scheduling_policy> policy);

} // namespace pyactor::actors
