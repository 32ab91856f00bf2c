// The reply port: where a connected runtime's nodes send their replies,
// settled on the thread that delivers them (no actor hop to the caller).
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <unordered_map>

#include <caf/actor.hpp>
#include <caf/actor_addr.hpp>
#include <caf/fwd.hpp>

#include "actors/messages.hpp"

namespace pyactor::cluster {

/// The completions of calls sent straight to nodes, by the link's call id,
/// each with the node port that may answer it. Whoever takes an entry
/// delivers its one reply (the reply port, or the head link when the node
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

/// Spawns a reply port for `book`. `(call_atom, vector<batched_reply>)`
/// from a node port is settled on the delivering thread (the middleman's):
/// each completion the book gives for the sender gets its reply (a blocking
/// caller wakes at once; a callback runs there, as the callback contract
/// allows), then `link` hears `(settled_atom, ids)` for its books. Every
/// other message goes to `link` as it came. An exit message stops it.
caf::actor spawn_reply_port(caf::actor_system& sys, std::shared_ptr<reply_book> book,
                            caf::actor link);

} // namespace pyactor::cluster
