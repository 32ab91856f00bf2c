// The call port: a node's door for calls, run on the thread that delivers
// them (no mailbox, no actor hop on the way in or out).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <unordered_map>
#include <vector>

#include <caf/actor.hpp>
#include <caf/actor_addr.hpp>
#include <caf/fwd.hpp>

#include "actors/messages.hpp"

namespace pyactor::cluster {

/// The calls a port has in its pool and who sent them, shared by the port
/// (any delivering thread), the completions (the pool's I/O threads) and
/// the node manager (which monitors the senders). Thread-safe.
class port_calls {
public:
  struct entry {
    caf::actor_addr sender;
    uint64_t sender_id = 0;
  };

  /// Books a call from `sender` (its own id `sender_id`); answers the pool
  /// id for it and whether `sender` is new (the manager must monitor it).
  std::pair<uint64_t, bool> add(const caf::actor_addr& sender, uint64_t sender_id);
  /// Forgets the call `id`; false when it was gone already.
  bool remove(uint64_t id);
  /// The pool id of `sender`'s call `sender_id`, 0 when not in flight.
  uint64_t find(const caf::actor_addr& sender, uint64_t sender_id) const;
  /// Forgets `sender` and answers the pool ids of its calls in flight.
  std::vector<uint64_t> drop_sender(const caf::actor_addr& sender);

private:
  mutable std::mutex mtx_;
  uint64_t next_id_ = 1;
  std::unordered_map<uint64_t, entry> calls_;
  std::set<caf::actor_addr> senders_;
};

/// What a port needs: where calls go, and who handles everything else.
struct call_port_config {
  /// Hands a call to the pool (a worker's lane, else the pool's scheduler);
  /// the sink gets exactly one reply, on any thread. Must not block.
  std::function<void(actors::call_request&&, actors::reply_sink&&)> submit;
  /// Cancels the pool's call by its pool id.
  std::function<void(uint64_t)> cancel;
  /// The node manager: every message but calls and cancels goes to it as
  /// it came (sender and request id kept), and `(track_atom, sender)`
  /// when a new sender's first call arrives.
  caf::actor manager;
  std::shared_ptr<port_calls> calls;
  /// Runs a function on the network layer's thread (the middleman's
  /// multiplexer): replies to batched calls settled meanwhile go out
  /// together, one message per sender. Empty: each reply goes at once.
  std::function<void(std::function<void()>)> post;
};

/// Spawns a port. It takes, on the thread that delivers them (the
/// middleman's for a remote sender):
/// - `(call_atom, call_request)` requests: answered `call_reply` straight
///   from the thread that settles the call;
/// - `(call_atom, vector<batched_call>)`: the replies go back to the
///   sender as `(call_atom, vector<batched_reply>)` with the port as sender,
///   those settled while the network thread was busy in one message;
/// - `(cancel_atom, id)`: cancels the sender's call `id` in the pool.
/// Every other message is passed on to the manager unchanged, so the port
/// stands for the whole node manager (node_manager_actor). An exit message
/// stops it (and only it). Each call gets exactly one reply: a call the
/// pool drops is answered by its completion's destructor.
caf::actor spawn_call_port(caf::actor_system& sys, call_port_config config);

} // namespace pyactor::cluster
