// The client port: a connected runtime's door to its nodes. Calls it can
// route leave from the calling thread, and replies are settled on the
// network thread that reads them (no actor hop either way).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

#include <caf/actor.hpp>
#include <caf/actor_addr.hpp>
#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/fwd.hpp>

#include "actors/messages.hpp"

namespace pyactor::cluster {

/// The completions of calls sent straight to nodes, by the link's call id,
/// each with the node port that may answer it. Whoever takes an entry
/// delivers its one reply (the client port, or the head link when the node
/// is lost or the call expires). Thread-safe.
class reply_book {
public:
  void add(uint64_t id, caf::actor_addr from, std::shared_ptr<actors::call_completion> c);
  /// Takes the completion of `id` if `from` may answer it (`from` null:
  /// anyone); nullptr when it is gone or not `from`'s.
  std::shared_ptr<actors::call_completion> take(uint64_t id, const caf::actor_addr* from);

private:
  struct entry {
    caf::actor_addr from;
    std::shared_ptr<actors::call_completion> completion;
  };
  std::mutex mtx_;
  std::unordered_map<uint64_t, entry> entries_;
};

/// A node that is up with a ready worker (the head link publishes them, see
/// `client_port_shared`).
struct fast_route {
  uint32_t index = 0;
  /// Its manager when reached directly; null: only through the head.
  caf::actor manager;
  uint32_t ready = 0;
  int64_t reported = 0;
  int64_t own_at_ask = 0;
  /// This runtime's calls in flight there (shared with the route table).
  std::shared_ptr<std::atomic<int64_t>> own;

  int64_t load() const { return std::max<int64_t>(0, own->load()) + std::max<int64_t>(0, reported - own_at_ask); }
};

/// What the head link and its client port share.
struct client_port_shared {
  std::shared_ptr<reply_book> book = std::make_shared<reply_book>();
  /// Call (and question) ids of the link, issued by either side.
  std::atomic<uint64_t> next_id{1};
  std::atomic<size_t> rotation{0};
  std::chrono::milliseconds default_timeout{std::chrono::minutes(5)};
  /// Added to a call's timeout for its deadline at the link.
  std::chrono::milliseconds slack{std::chrono::seconds(30)};

  /// Replaces the routes the port may pick from (any thread).
  void publish(std::vector<fast_route> routes);
  /// The route with the fewest calls in flight per ready worker (ties
  /// rotate), as route_table::pick; nullptr when there is none.
  std::shared_ptr<const fast_route> pick();

private:
  std::mutex mtx_;
  std::shared_ptr<const std::vector<fast_route>> routes_ =
    std::make_shared<const std::vector<fast_route>>();
};

/// Tells the link of a call the port sent straight to a node (local only):
/// the link keeps its books (node lost, deadline, cancel) as for its own.
struct direct_call_note {
  uint64_t id = 0;
  uint32_t node = 0;
  caf::actor_addr manager;
  uint64_t request_id = 0;
  int64_t deadline_ms = 0;
};

/// Spawns a client port over `shared`; `set_link` names the head link.
/// - `(call_atom, call_request, reply_sink)` for any worker (no pin, no
///   object reference) when the node with the fewest calls per ready
///   worker is reached directly: queued on the calling thread for it, the link
///   told with a `direct_call_note` first; any other call goes to the link.
///   The network thread sends what is queued, one message per node.
/// - `(cancel_atom, request_id, node)` (local, from the link): sent to the
///   node after the calls queued for it.
/// - `(call_atom, vector<batched_reply>)` from a node port: each completion
///   the book gives for that sender gets its reply on the delivering thread
///   (a blocking caller wakes at once; a callback runs there, as the
///   callback contract allows), then the link hears `(settled_atom, ids)`.
/// Every other message goes to the link as it came. An exit message stops it.
caf::actor spawn_client_port(caf::actor_system& sys, std::shared_ptr<client_port_shared> shared);
void set_client_port_link(const caf::actor& port, caf::actor link);

} // namespace pyactor::cluster

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(pyactor::cluster::direct_call_note)
