// The scheduler: the one entry point for calls; picks a worker per call.
#pragma once

#include <cstdint>
#include <deque>
#include <atomic>
#include <memory>
#include <mutex>
#include <set>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>
#include <caf/typed_response_promise.hpp>

#include "actors/messages.hpp"
#include "actors/scheduling_policy.hpp"
#include "actors/type_ids.hpp"
#include "actors/worker_actor.hpp"

namespace pyactor::actors {

/// The live workers as the scheduler last saw them, published for callers
/// on other threads: the C++ API sends a call straight to a worker actor
/// when the snapshot names one (one hop less), and through the scheduler
/// otherwise. Thread-safe.
///
/// A snapshot holds the workers' lanes, and through them handles that keep
/// actors alive (the log actor): the runtime's shutdown `close`s the table
/// before the actor system ends, and a scheduler still publishing then (a
/// worker's down message queued before its exit message) stores nothing.
class route_table {
public:
  using snapshot = std::vector<worker_entry>;

  std::shared_ptr<const snapshot> load() const { return std::atomic_load(&current_); }

  /// Publishes `s`, unless the table is closed.
  void store(std::shared_ptr<const snapshot> s) {
    std::lock_guard<std::mutex> guard{store_mtx_};
    if (!closed_)
      std::atomic_store(&current_, std::move(s));
  }

  /// Empties the table for good: later `store`s are dropped.
  void close() {
    std::shared_ptr<const snapshot> last; // released after the lock
    std::lock_guard<std::mutex> guard{store_mtx_};
    closed_ = true;
    last = std::atomic_exchange(&current_, std::make_shared<const snapshot>());
  }

private:
  std::shared_ptr<const snapshot> current_ = std::make_shared<const snapshot>();
  std::mutex store_mtx_; // orders `store` against `close`
  bool closed_ = false;  // guarded by store_mtx_
};

/// Routing, in order: a call on an object reference goes to the worker
/// incarnation that holds it (`stale_ref` if it is gone); a pinned call goes
/// to that slot (`bad_request` if there is no such slot); anything else is
/// picked by the policy. When no worker is live but some slot is restarting,
/// calls wait in the scheduler until a worker joins; when no slot is left,
/// they get `no_workers`. The scheduler forwards and never answers for a
/// worker: the worker's reply goes straight back to the caller.
///
/// Only ready workers are routed to and published: a worker joins itself
/// after its ready frame and leaves itself (see worker_registry); the
/// scheduler monitors each one it knows and drops it on its down message
/// too. Calls wait only when no worker is ready. The supervisor
/// says which slots exist with `(worker_atom, slot, true)` and which are gone
/// with `(worker_atom, slot, false)`.
///
/// The scheduler owns the load counts it routes by: a call it hands a
/// worker counts at once; a call the C++ API sent straight to a worker
/// counts when the worker reports it (`held_atom`); a call leaves the count
/// when the worker reports it released. The same books say which worker
/// holds each request id, so `(cancel_atom, request_id)` goes to that one
/// worker only (or answers a parked call; a call in transit is remembered
/// as cancelled and refused or cancelled when it shows up).
using scheduler_actor = caf::typed_actor<
  caf::replies_to<call_atom, call_request>::with<call_reply>,
  caf::reacts_to<call_atom, call_request, reply_sink>,
  caf::replies_to<leave_atom, uint64_t, uint64_t>::with<bool>,
  caf::reacts_to<worker_atom, worker_entry>,
  caf::reacts_to<held_atom, uint64_t, std::vector<uint64_t>, std::vector<uint64_t>>,
  caf::reacts_to<worker_atom, uint64_t, bool>,
  caf::reacts_to<cancel_atom, uint64_t>>;

struct scheduler_state {
  /// A call waiting for a worker to join.
  struct parked_call {
    call_request request;
    caf::typed_response_promise<call_reply> promise;
    reply_sink sink;
  };

  /// Where a call goes: a worker, the parking lot, or an error reply.
  struct route_result {
    worker_entry* worker = nullptr;
    bool park = false;
    call_reply refusal;
  };

  std::shared_ptr<scheduling_policy> policy;
  std::vector<worker_entry> workers;  // live workers, sorted by slot
  std::set<uint64_t> slots;           // slots that exist (live or restarting)
  /// Slots that left the pool (removed, or given up), for the error of a
  /// call pinned to one; the newest `max_gone_slots` are kept.
  std::set<uint64_t> gone_slots;
  static constexpr size_t max_gone_slots = 1024;
  std::deque<parked_call> parked;
  std::deque<uint64_t> cancelled_order; // bounded memory of cancelled ids
  std::unordered_set<uint64_t> cancelled;
  std::vector<int32_t> candidates;     // loads, reused by route
  std::shared_ptr<route_table> routes; // published copy of `workers`, may be null
  /// Which worker (uid) holds each request id the scheduler knows in flight.
  std::unordered_map<uint64_t, uint64_t> holders;

  static const char* name;

  route_result route(const call_request& request);
  void join(worker_entry entry);
  bool leave(uint64_t slot, uint64_t uid);
  void remember_cancelled(uint64_t request_id);
  /// The live worker with `uid`, or nullptr.
  worker_entry* find_uid(uint64_t uid);
  /// Counts `request_id` as held by `w` (and no longer by another worker).
  void hold(worker_entry& w, uint64_t request_id);
  /// Takes `request_id` off the books of `uid` if that worker holds it.
  void release(uint64_t uid, uint64_t request_id);
  /// Forgets every call of the worker `uid` (it left or died).
  void forget_holder(uint64_t uid);
  /// Publishes `workers` to `routes`.
  void publish();
};

scheduler_actor::behavior_type
scheduler_behavior(scheduler_actor::stateful_pointer<scheduler_state> self,
                   std::shared_ptr<scheduling_policy> policy,
                   std::shared_ptr<route_table> routes);

} // namespace pyactor::actors
