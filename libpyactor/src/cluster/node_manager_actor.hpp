// The node manager: a node's pool as the head sees it, over the network.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <vector>

#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>
#include <caf/typed_response_promise.hpp>

#include "cluster/call_port.hpp"
#include "cluster/messages.hpp"
#include "actors/scheduler_actor.hpp"
#include "actors/supervisor_actor.hpp"

namespace pyactor::cluster {

/// The local pool a node manager serves: a runtime's scheduler and
/// supervisor, which live in the runtime's own actor system. The node
/// manager lives in the cluster's (networked) actor system; messages between
/// the two go with `anon_send` and come back through completions or the
/// bridge, so no actor of one system is ever run on the other's threads
/// (spawning into the pool's system from a cluster actor's thread made the
/// pool's shutdown hang: never do it).
struct pool_handles {
  caf::actor_system* system = nullptr;
  actors::scheduler_actor scheduler;
  actors::supervisor_actor supervisor;
  /// Lives in the pool's system: `(status_atom, id, reply_to)` asks the
  /// supervisor and answers `reply_to` with a status `pool_event`. Stop it
  /// (`stop_bridge`) before the runtime is destroyed.
  caf::actor bridge;
  /// Hands a call to the pool as the runtime's own callers do (a worker's
  /// lane when it takes it, else the pool's scheduler), from any thread.
  std::function<void(actors::call_request&&, actors::reply_sink&&)> submit;
};

/// A node as the head and clients see it (the handle they hold is its call
/// port, see call_port.hpp, which passes everything but calls on to the
/// node manager). `call` runs a request on the node's pool (a worker's lane
/// or its scheduler picks the worker, or the one pinned by `pin_slot`) and
/// answers its `call_reply`; `status` answers every worker slot, `history`
/// the pool's recent restarts and give-ups (oldest first); `cancel`
/// cancels a call by the request id its sender gave it. The port renumbers
/// request ids (ids of different senders collide); the manager monitors
/// each sender and cancels a departed sender's calls.
/// A `keepalive` is answered with one (traffic for the sender's connection).
/// `(call_atom, vector<batched_call>)` runs a batch of calls; each reply
/// goes back to the sender as `(call_atom, vector<batched_reply>)`.
/// `grow` adds workers (answered once they are ready), `shrink` drains the
/// named slots (answered once they are gone). `drain` removes every worker,
/// answers "", then stops the node process (SIGTERM to itself, which
/// `run_node` waits for).
using node_manager_actor = caf::typed_actor<
  caf::replies_to<actors::call_atom, actors::call_request>::with<actors::call_reply>,
  caf::reacts_to<actors::call_atom, std::vector<batched_call>>,
  caf::replies_to<actors::status_atom>::with<std::vector<actors::worker_status>>,
  caf::replies_to<actors::history_atom>::with<std::vector<actors::restart_record>>,
  caf::reacts_to<actors::cancel_atom, uint64_t>,
  caf::replies_to<actors::grow_atom, uint32_t>::with<std::vector<uint64_t>>,
  caf::replies_to<actors::shrink_atom, std::vector<uint64_t>>::with<std::vector<uint64_t>>,
  caf::replies_to<drain_atom>::with<std::string>,
  caf::reacts_to<keepalive_atom>>;

/// The manager behind the port: everything but calls, plus the local
/// `(track_atom, sender)` from the port and `pool_event` from the pool.
using node_manager_core = caf::typed_actor<
  caf::replies_to<actors::status_atom>::with<std::vector<actors::worker_status>>,
  caf::replies_to<actors::history_atom>::with<std::vector<actors::restart_record>>,
  caf::replies_to<actors::grow_atom, uint32_t>::with<std::vector<uint64_t>>,
  caf::replies_to<actors::shrink_atom, std::vector<uint64_t>>::with<std::vector<uint64_t>>,
  caf::replies_to<drain_atom>::with<std::string>,
  caf::reacts_to<keepalive_atom>,
  caf::reacts_to<track_atom, caf::actor>,
  caf::reacts_to<stop_tick>,
  caf::reacts_to<pool_event>>;

struct node_manager_state {
  pool_handles pool;
  /// The port's calls in flight (shared with it and their completions).
  std::shared_ptr<port_calls> calls;
  uint64_t next_id = 1;
  std::map<uint64_t, caf::typed_response_promise<std::vector<actors::worker_status>>> statuses;
  /// Other questions to the pool (grow, shrink, drain), by event id.
  std::map<uint64_t, std::function<void(pool_event&)>> waiters;

  static const char* name;

  ~node_manager_state();
};

node_manager_core::behavior_type
node_manager_behavior(node_manager_core::stateful_pointer<node_manager_state> self,
                      pool_handles pool, std::shared_ptr<port_calls> calls);

/// Spawns a node manager for `pool` and its call port; answers the port
/// (the node's handle for the head and clients). Stop both with
/// `stop_node_actors`.
struct node_actors {
  node_manager_core manager;
  caf::actor port;

  node_manager_actor handle() const { return caf::actor_cast<node_manager_actor>(port); }
};

node_actors spawn_node_actors(caf::actor_system& sys, pool_handles pool);

} // namespace pyactor::cluster
