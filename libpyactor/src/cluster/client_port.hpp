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

/// The calls sent straight to nodes, by the link's call id, each with its
/// completion and the books the link keeps for it (its node, the manager
/// that may answer, its cancel id, its deadline and the node's count of this
/// runtime's calls). Whoever takes an entry delivers its one reply: the
/// client port when the node answers, the head link when the node is lost
/// or the call expires. No message per call reaches the link. Thread-safe.
class reply_book {
public:
  struct entry {
    caf::actor_addr from;
    std::shared_ptr<actors::call_completion> completion;
    uint32_t node = 0;
    /// The runtime's request id, for `cancel` (0: none).
    uint64_t request_id = 0;
    /// Steady clock, ms: past it the link answers `timeout` itself.
    int64_t deadline_ms = 0;
    /// Decremented when the entry is taken (null: not counted).
    std::shared_ptr<std::atomic<int64_t>> own;
  };

  /// Books call `id`; false (and nothing booked) when its manager `x.from`
  /// was declared lost (`lose`): the caller answers `node_down` itself.
  bool add(uint64_t id, entry x);
  /// Takes the completion of `id` if `from` may answer it (`from` null:
  /// anyone); nullptr when it is gone or not `from`'s.
  std::shared_ptr<actors::call_completion> take(uint64_t id, const caf::actor_addr* from);
  /// Whether call `id` is still booked.
  bool has(uint64_t id);
  /// Declares the manager `from` lost: takes every call booked for it (or
  /// for node `index`), and refuses new ones until `revive(from)`.
  std::vector<std::shared_ptr<actors::call_completion>> lose(uint32_t index,
                                                             const caf::actor_addr& from);
  /// Accepts calls for `from` again (the link reached it again).
  void revive(const caf::actor_addr& from);
  /// Takes every call past its deadline at `now_ms`, with its node.
  std::vector<std::pair<uint32_t, std::shared_ptr<actors::call_completion>>>
  take_expired(int64_t now_ms);
  /// The node and manager of the booked call with request id `request_id`.
  bool find_request(uint64_t request_id, uint32_t& node, caf::actor_addr& from);

private:
  /// Erases `i` (and its request id), decrementing its node's count.
  std::shared_ptr<actors::call_completion> erase_locked(std::unordered_map<uint64_t, entry>::iterator i);

  std::mutex mtx_;
  std::unordered_map<uint64_t, entry> entries_;
  std::unordered_map<uint64_t, uint64_t> by_request_;
  std::vector<caf::actor_addr> lost_;
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

/// Spawns a client port over `shared`; `set_link` names the head link.
/// - `(call_atom, call_request, reply_sink)` for any worker (no pin, no
///   object reference) when the node with the fewest calls per ready
///   worker is reached directly: booked in the reply book and queued on the
///   calling thread for it (the link hears nothing of it); any other call
///   goes to the link. The network thread sends what is queued, one message
///   per node.
/// - `(cancel_atom, request_id, node)` (local, from the link): sent to the
///   node after the calls queued for it.
/// - `(call_atom, vector<batched_reply>)` from a node port: each completion
///   the book gives for that sender gets its reply on the delivering thread
///   (a blocking caller wakes at once; a callback runs there, as the
///   callback contract allows).
/// Every other message goes to the link as it came. An exit message stops it.
caf::actor spawn_client_port(caf::actor_system& sys, std::shared_ptr<client_port_shared> shared);
void set_client_port_link(const caf::actor& port, caf::actor link);

} // namespace pyactor::cluster

