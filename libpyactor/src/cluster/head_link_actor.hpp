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

namespace pyactor::cluster {

struct head_link_config {
  head_actor head;
  /// "ADDR:PORT" of the head, for messages.
  std::string where;
  /// A call's deadline when it sets none (the head and nodes get it too).
  std::chrono::milliseconds default_timeout{std::chrono::minutes(5)};
  std::chrono::milliseconds keepalive{250};
};

struct head_link_state {
  head_link_config config;
  uint64_t next_id = 1;
  /// Calls sent to the head and not yet answered, for `node_down` when the
  /// head is lost.
  std::map<uint64_t, actors::reply_sink> calls;
  /// Other questions to the head not yet answered: each fails with the
  /// given error when the head is lost.
  std::map<uint64_t, std::function<void(caf::error)>> questions;
  /// Why the head is gone; empty while it is connected.
  std::string lost;

  static const char* name;
};

/// Stands where a local runtime has its scheduler and its supervisor, so
/// every call form of `runtime` works unchanged against a cluster:
///
/// - scheduler side: `(call_atom, call_request, reply_sink)` and
///   `(call_atom, call_request)` go to the head as they are (msgpack bytes,
///   never decoded here); `(cancel_atom, id)` follows them there.
/// - supervisor side: `ready` answers "" (the nodes' pools are running),
///   `status` every worker of every node that is up, with cluster worker
///   ids (`cluster_worker_id`); `history` an empty list (restarts stay in
///   each node's log); `grow` and `shrink` go to the head.
/// - cluster: `(status_atom, nodes_atom)` answers the node reports;
///   `(grow_atom, n, node)` and `(drain_atom, node)` go to the head.
///
/// It monitors the head: when the connection is lost every call in flight
/// gets `node_down` at once, and so does every later call.
caf::behavior head_link_behavior(caf::stateful_actor<head_link_state>* self,
                                 head_link_config config);

} // namespace pyactor::cluster
