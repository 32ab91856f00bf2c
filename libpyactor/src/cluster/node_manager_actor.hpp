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
};

/// `call` runs a request on the node's pool (its scheduler picks the worker,
/// or the one pinned by `pin_slot`) and answers its `call_reply`; `status`
/// answers every worker slot; `cancel` cancels a call by the request id its
/// sender gave it. The manager is reached by the head and, directly, by
/// connected clients: it renumbers request ids (ids of different senders
/// collide), monitors each sender and cancels a departed sender's calls.
/// A `keepalive` is answered with one (traffic for the sender's connection).
/// `(call_atom, vector<batched_call>)` runs a batch of calls; their replies
/// go back to the sender as `(call_atom, vector<batched_reply>)`, batched
/// the same way (see batched_call).
/// `grow` adds workers (answered once they are ready), `shrink` drains the
/// named slots (answered once they are gone). `drain` removes every worker,
/// answers "", then stops the node process (SIGTERM to itself, which
/// `run_node` waits for).
/// `pool_event` is local only (the pool's replies). When the manager stops,
/// calls it still holds get `node_down`.
using node_manager_actor = caf::typed_actor<
  caf::replies_to<actors::call_atom, actors::call_request>::with<actors::call_reply>,
  caf::reacts_to<actors::call_atom, std::vector<batched_call>>,
  caf::reacts_to<flush_tick>,
  caf::replies_to<actors::status_atom>::with<std::vector<actors::worker_status>>,
  caf::reacts_to<actors::cancel_atom, uint64_t>,
  caf::replies_to<actors::grow_atom, uint32_t>::with<std::vector<uint64_t>>,
  caf::replies_to<actors::shrink_atom, std::vector<uint64_t>>::with<std::vector<uint64_t>>,
  caf::replies_to<drain_atom>::with<std::string>,
  caf::reacts_to<keepalive_atom>,
  caf::reacts_to<stop_tick>,
  caf::reacts_to<pool_event>>;

struct node_manager_state {
  struct pending_call {
    caf::typed_response_promise<actors::call_reply> promise;
    /// For a batched call: where its reply goes and the sender's id for it.
    caf::actor reply_to;
    uint64_t reply_id = 0;
    /// Who sent it and the id it gave the call, for `cancel`.
    caf::actor_addr sender;
    uint64_t sender_id = 0;
  };

  pool_handles pool;
  uint64_t next_id = 1;
  std::map<uint64_t, pending_call> calls;
  /// Senders of calls, monitored (see `node_manager_actor`).
  std::set<caf::actor_addr> senders;
  /// Replies to batched calls not sent yet, by sender.
  std::map<caf::actor, std::vector<batched_reply>> outbox;
  bool flush_pending = false;
  std::map<uint64_t, caf::typed_response_promise<std::vector<actors::worker_status>>> statuses;
  /// Other questions to the pool (grow, shrink, drain), by event id.
  std::map<uint64_t, std::function<void(pool_event&)>> waiters;

  static const char* name;

  ~node_manager_state();
};

node_manager_actor::behavior_type
node_manager_behavior(node_manager_actor::stateful_pointer<node_manager_state> self,
                      pool_handles pool);

} // namespace pyactor::cluster
