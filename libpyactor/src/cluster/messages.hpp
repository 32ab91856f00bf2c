// The messages between a client, the head and the nodes. Call bodies and
// results stay the msgpack bytes of `call_request` and `call_reply`: the head
// never re-encodes them.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/atom.hpp>
#include <caf/fwd.hpp>
#include <caf/meta/type_name.hpp>

#include "actors/messages.hpp"
#include "actors/worker_info.hpp"
#include "pyactor/cluster.hpp"

namespace pyactor::cluster {

using join_atom = caf::atom_constant<caf::atom("join")>;
using bcast_atom = caf::atom_constant<caf::atom("broadcast")>;
/// Traffic that keeps a quiet connection from timing out. BASP heartbeats
/// did not keep TLS connections alive (they were dropped after
/// connection-timeout without other traffic), so head, nodes and clients send
/// this every heartbeat interval to each peer they depend on.
using keepalive_atom = caf::atom_constant<caf::atom("keepalive")>;
/// `remove_node`: the node drains its workers, then stops.
using drain_atom = caf::atom_constant<caf::atom("drain")>;
/// A node's call port tells its manager of a new sender to monitor (local).
using track_atom = caf::atom_constant<caf::atom("track")>;
/// A connected runtime asks the head for its nodes.
using nodes_atom = caf::atom_constant<caf::atom("nodes")>;

/// Worker ids of a connected runtime name the node and its slot: the node's
/// index at the head (1, 2, ...; never reused while the head runs) in the
/// high 32 bits, the node's own slot id in the low 32.
constexpr uint64_t cluster_worker_id(uint32_t node_index, uint64_t slot) {
  return (static_cast<uint64_t>(node_index) << 32) | (slot & 0xffffffffu);
}
constexpr uint32_t node_index_of(uint64_t worker_id) {
  return static_cast<uint32_t>(worker_id >> 32);
}
constexpr uint64_t slot_of(uint64_t worker_id) {
  return worker_id & 0xffffffffu;
}

/// Worker uids (and so object references) name their node: each node's pool
/// counts its uids from `tag << uid_tag_shift`, with a random 24-bit tag the
/// head checks is unique among its nodes.
constexpr unsigned uid_tag_shift = 40;
constexpr uint64_t uid_tag_of(uint64_t uid) {
  return uid >> uid_tag_shift;
}
/// A fresh random nonzero tag (from std::random_device).
uint64_t make_uid_tag();

/// What a node tells the head when it joins.
struct join_info {
  std::string name;
  int64_t pid = 0;
  std::vector<actors::worker_status> workers;
  /// The node's uid tag (see `uid_tag_of`).
  uint64_t uid_tag = 0;
  /// Where clients reach the node manager directly: the port it is
  /// published on (0: not published) and the address, empty for the one
  /// the head sees the node's connection come from.
  std::string listen_host;
  uint16_t listen_port = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, join_info& x) {
  return f(caf::meta::type_name("pyactor::join_info"), x.name, x.pid, x.workers, x.uid_tag,
           x.listen_host, x.listen_port);
}

/// One node as the head reports it to `status`.
struct node_report {
  std::string name;
  std::string address;
  std::string state; // "up" or "down"
  int64_t since_ms = 0;
  int64_t pid = 0;
  std::string note;
  std::vector<actors::worker_status> workers;
  /// The node's index (see `cluster_worker_id`).
  uint32_t index = 0;
  /// Its uid tag (see `uid_tag_of`).
  uint64_t uid_tag = 0;
  /// "ADDR:PORT" where clients reach its node manager directly; empty when
  /// they cannot (the head's own workers, a node that does not listen).
  std::string direct;
  /// `to_string` of the manager's CAF node id: a client checks that the
  /// actor it reaches at `direct` is this node's.
  std::string node_id;
  /// Being removed (`drain`): no new calls.
  bool draining = false;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, node_report& x) {
  return f(caf::meta::type_name("pyactor::node_report"), x.name, x.address, x.state, x.since_ms,
           x.pid, x.note, x.workers, x.index, x.uid_tag, x.direct, x.node_id,
           x.draining);
}

/// The public row of a node report: its workers with the ids the node
/// knows them by (their slots); a connected runtime renumbers them
/// cluster-wide (`cluster_worker_id`).
node_info to_node_info(const node_report& report);

/// One worker's reply to a broadcast.
struct worker_result {
  std::string node;
  uint64_t slot = 0;
  actors::call_reply reply;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, worker_result& x) {
  return f(caf::meta::type_name("pyactor::worker_result"), x.node, x.slot, x.reply);
}

/// The recent restarts of one node's workers (slots as the node knows
/// them), as the head answers `history`.
struct node_restarts {
  std::string node;
  /// The node's index (see `cluster_worker_id`).
  uint32_t index = 0;
  std::vector<actors::restart_record> records;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, node_restarts& x) {
  return f(caf::meta::type_name("pyactor::node_restarts"), x.node, x.index, x.records);
}

/// Calls sent straight to a node travel in batches: every call a client has
/// for a node when its mailbox runs dry goes in one message, and the node
/// answers likewise. `id` is the sender's name for the call.
struct batched_call {
  uint64_t id = 0;
  actors::call_request request;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, batched_call& x) {
  return f(caf::meta::type_name("pyactor::batched_call"), x.id, x.request);
}

struct batched_reply {
  uint64_t id = 0;
  actors::call_reply reply;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, batched_reply& x) {
  return f(caf::meta::type_name("pyactor::batched_reply"), x.id, x.reply);
}

/// Sends what an actor has batched (local only: each actor sends itself
/// one when its first item waits, so it comes after what is queued).
struct flush_tick {};

/// A reply from the local pool to its node manager (local only: it cannot
/// be sent over the network, so no peer can forge one).
struct pool_event {
  enum kind_type { call, status, ids, drained, history };
  uint64_t id = 0;
  actors::call_reply reply;
  std::vector<actors::worker_status> workers;
  std::vector<actors::restart_record> restarts;
  std::vector<uint64_t> worker_ids; // grow and shrink
  kind_type kind = call;
};

/// Timers of the head or a node (local only, like pool_event).
struct refresh_tick {};
struct keepalive_tick {};
/// A connected runtime tries to reach its lost head again (local only).
struct reconnect_tick {};
/// A drained node stops itself (local only).
struct stop_tick {};

/// Registers the cluster's message types (and pyactor's) with `cfg`; every
/// process of a cluster does this, so the names match on the wire.
void add_cluster_types(caf::actor_system_config& cfg);

} // namespace pyactor::cluster

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(pyactor::cluster::pool_event)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(pyactor::cluster::refresh_tick)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(pyactor::cluster::keepalive_tick)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(pyactor::cluster::reconnect_tick)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(pyactor::cluster::stop_tick)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(pyactor::cluster::flush_tick)
