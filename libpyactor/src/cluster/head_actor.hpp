// The head: the cluster's membership and its scheduler across nodes.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <caf/actor_addr.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include "cluster/messages.hpp"
#include "cluster/node_manager_actor.hpp"

namespace pyactor::cluster {

/// Nodes join with `(join_atom, info, manager)` and get "" back, or why they
/// were refused. The head monitors each node manager (a direct connection,
/// so a lost node ends in a down message; heartbeats catch a frozen or cut
/// off one), and drops a lost node from routing until it joins again.
///
/// `call` picks the node whose ready workers carry the fewest calls in
/// flight (counted here, cluster-wide) and forwards the request with a
/// timeout; the reply comes back as it is. When a node is lost, every call
/// forwarded to it is answered `node_down` at once by the head: each call
/// gets exactly one reply. `broadcast` runs the call pinned on every ready
/// worker of every node (or of the named node), one result per worker.
/// `status` reports every node, up or down, with its workers (asked now);
/// `nodes` the same from the head's last refresh, with where clients reach
/// each node directly (connected runtimes route from it, see head_link).
/// `history` answers the recent restarts of every node that is up (asked
/// now; a node that does not answer within its time is left out).
///
/// A call pinned to a worker id (`cluster_worker_id`) goes to that node and
/// slot; a call on an object reference goes to the node whose uid tag the
/// owner uid carries (`stale_ref` when that node is lost or unknown). The
/// head renumbers `request_id` (ids of different clients collide) and
/// `(cancel_atom, id)` from a client cancels that client's call `id` on its
/// node. `grow` adds workers on a node ("" picks the one with the fewest),
/// `shrink` removes workers by id (or the n newest, from the nodes with the
/// most); both answer the worker ids. `drain` removes a node: out of routing
/// at once, its workers finish their calls, then the node process stops;
/// answers "" or why not.
using head_actor = caf::typed_actor<
  caf::replies_to<join_atom, join_info, caf::actor>::with<std::string>,
  caf::replies_to<actors::call_atom, actors::call_request>::with<actors::call_reply>,
  caf::reacts_to<actors::cancel_atom, uint64_t>,
  caf::replies_to<actors::grow_atom, uint32_t, std::string>::with<std::vector<uint64_t>>,
  caf::replies_to<actors::shrink_atom, std::vector<uint64_t>>::with<std::vector<uint64_t>>,
  caf::replies_to<actors::shrink_atom, uint32_t>::with<std::vector<uint64_t>>,
  caf::replies_to<drain_atom, std::string>::with<std::string>,
  caf::replies_to<bcast_atom, actors::call_request, std::string>::with<std::vector<worker_result>>,
  caf::replies_to<actors::status_atom>::with<std::vector<node_report>>,
  caf::replies_to<nodes_atom>::with<std::vector<node_report>>,
  caf::replies_to<actors::history_atom>::with<std::vector<node_restarts>>,
  caf::reacts_to<keepalive_atom>,
  caf::reacts_to<refresh_tick>,
  caf::reacts_to<keepalive_tick>>;

struct head_config {
  /// Deadline of calls that set none (as the nodes' pools default to).
  std::chrono::milliseconds default_timeout{std::chrono::minutes(5)};
  /// Extra time a node gets past a call's deadline before the head answers
  /// `timeout` itself (the node interrupts, then kills the worker).
  std::chrono::milliseconds grace{std::chrono::seconds(5)};
  /// How often the head refreshes each node's worker list.
  std::chrono::milliseconds refresh{std::chrono::seconds(1)};
  /// How often the head sends every node a keepalive.
  std::chrono::milliseconds keepalive{250};
  /// The head's own pool, served as the node "head"; null for none.
  node_manager_actor local;
  /// The uid tag of the local pool.
  uint64_t local_uid_tag = 0;
  std::function<void(const std::string&)> log;
};

struct head_state {
  struct node_entry {
    std::string name;
    /// Position + 1 in `nodes`, for worker ids (see `cluster_worker_id`).
    uint32_t index = 0;
    uint64_t uid_tag = 0;
    /// Being removed (`drain`): out of routing.
    bool draining = false;
    uint64_t incarnation = 0;
    node_manager_actor manager;
    std::string address;
    /// Where clients reach the manager directly, or "".
    std::string direct;
    bool up = false;
    int64_t since_ms = 0;
    int64_t pid = 0;
    std::string note;
    std::vector<actors::worker_status> workers;
    uint32_t ready = 0;
    int64_t in_flight = 0;
    /// The sum of its workers' in-flight counts at the last refresh.
    int64_t reported = 0;
  };

  struct pending_call {
    uint64_t incarnation = 0;
    /// Who sent the call and its id there, for `cancel`; null for the head's own.
    caf::actor_addr client;
    uint64_t client_id = 0;
    std::function<void(actors::call_reply&&)> done;
  };

  head_config config;
  std::vector<node_entry> nodes;
  std::map<uint64_t, pending_call> pending;
  /// Clients with calls forwarded, monitored: when one goes away (its
  /// process exits or its connection drops), its calls still running on the
  /// nodes are cancelled there, like a cancel it would have sent.
  std::set<caf::actor_addr> clients;
  uint64_t next_id = 1;
  uint64_t next_incarnation = 1;
  size_t rotation = 0;

  static const char* name;

  node_entry* find(const std::string& node_name);
  node_entry* find(uint64_t incarnation);
  node_entry* find_index(uint32_t index);
  node_entry* find_tag(uint64_t uid_tag);
  /// The node for the next call: the fewest calls in flight per ready
  /// worker (the head's own count or, when higher, what the node's workers
  /// last reported: clients also call nodes directly); nullptr when no node
  /// has a ready worker.
  node_entry* pick();
  /// "a (up, 2 ready), b (down: ...)" for error messages.
  std::string describe() const;

  ~head_state();
};

head_actor::behavior_type head_behavior(head_actor::stateful_pointer<head_state> self,
                                        head_config config);

} // namespace pyactor::cluster
