// The head link: a connected runtime's scheduler and supervisor, both
// answered by the head of a running cluster.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <string>

#include <caf/behavior.hpp>
#include <caf/error.hpp>
#include <caf/stateful_actor.hpp>

#include "cluster/head_actor.hpp"
#include "cluster/client_port.hpp"
#include "cluster/route_table.hpp"

namespace pyactor::cluster {

struct head_link_config {
  head_actor head;
  /// "ADDR:PORT" of the head, for messages.
  std::string where;
  /// A call's deadline when it sets none (the head and nodes get it too).
  std::chrono::milliseconds default_timeout{std::chrono::minutes(5)};
  std::chrono::milliseconds keepalive{250};
  /// How often the link asks the head for its nodes (routes and loads).
  std::chrono::milliseconds refresh{std::chrono::seconds(1)};
  /// Whether nodes are reached with TLS (as the head).
  bool tls = false;
  /// Where the link says that a node is not reachable directly.
  std::function<void(const std::string&)> log;
  /// The client port (client_port.hpp) and what the link shares with it.
  caf::actor port;
  std::shared_ptr<client_port_shared> shared;
};

struct head_link_state {
  /// A call sent through the head (calls sent straight to a node are in
  /// the reply book, client_port.hpp).
  struct pending_call {
    actors::reply_sink sink;
    /// The node its load counts on (its pin), 0 when unknown.
    uint32_t counted = 0;
    /// The runtime's request id, for `cancel` (0: none).
    uint64_t request_id = 0;
  };

  head_link_config config;
  /// Calls sent through the head and not yet answered: `node_down` when
  /// the head is lost.
  std::map<uint64_t, pending_call> calls;
  /// Cancellable calls in flight: the runtime's request id -> link id.
  std::map<uint64_t, uint64_t> by_request;
  route_table routes;
  /// Calls for each node (by index) not sent yet: one batch per flush.
  std::map<uint32_t, std::vector<batched_call>> outbox;
  bool flush_pending = false;
  /// Other questions to the head not yet answered: each fails with the
  /// given error when the head is lost.
  std::map<uint64_t, std::function<void(caf::error)>> questions;
  /// Why the head is gone; empty while it is connected.
  std::string lost;
  /// The wait before the next attempt to reach a lost head.
  std::chrono::milliseconds reconnect_delay{1000};

  static const char* name;

  ~head_link_state();
};

/// Stands where a local runtime has its scheduler and its supervisor, so
/// every call form of `runtime` works unchanged against a cluster:
///
/// - scheduler side: `(call_atom, call_request, reply_sink)` and
///   `(call_atom, call_request)` go as they are (msgpack bytes, never
///   decoded here) straight to the node that runs them: the link keeps a
///   route table from the head's `nodes` (refreshed every `refresh`),
///   connects to each node's manager directly and monitors it; a pinned call
///   or one on an object reference goes to the node its id names, any other
///   to the node with the fewest calls in flight per ready worker (this
///   runtime's own count plus what the node's workers last reported, so
///   other clients' calls count too). A node it cannot reach directly (or
///   not yet) is served through the head. `(cancel_atom, id)` follows a call
///   where it went. A node lost answers its calls `node_down` at once.
///   Calls for any worker usually leave from the caller's thread through
///   the client port (client_port.hpp); nodes answer the port, which
///   completes the calls on the network thread. Every call sent straight to
///   a node is booked in the reply book, where the link finds it when its
///   node is lost, when it expires or for a cancel (no message per call
///   reaches the link). The link publishes the nodes the port may use
///   (`client_port_shared::publish`).
/// - supervisor side: `ready` answers "" (the nodes' pools are running),
///   `status` every worker of every node that is up, with cluster worker
///   ids (`cluster_worker_id`); `history` the recent restarts of every node
///   that is up (asked through the head, cluster worker ids); `grow` and
///   `shrink` go to the head.
/// - cluster: `(status_atom, nodes_atom)` answers the node reports,
///   `(history_atom, nodes_atom)` the restarts by node (`node_restarts`);
///   `(grow_atom, n, node)` and `(drain_atom, node)` go to the head.
///
/// It monitors the head: when the connection is lost every call in flight
/// through it gets `node_down` at once, and so does every later call that
/// cannot go straight to a node, until the link reaches the head again (it
/// tries after 1 s, doubling to 10 s). Calls to nodes reached directly go on.
caf::behavior head_link_behavior(caf::stateful_actor<head_link_state>* self,
                                 head_link_config config);

} // namespace pyactor::cluster
