// The worker actor: owns one `pyactor-worker` process for its whole life.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "actors/messages.hpp"
#include "actors/type_ids.hpp"
#include "actors/worker_info.hpp"
#include "actors/worker_process.hpp"

namespace pyactor::actors {

/// Who hears `(ready_atom, slot, uid)` when a worker process is serving.
using ready_listener = caf::typed_actor<caf::reacts_to<ready_atom, uint64_t, uint64_t>>;


/// The interface other actors (and, later, other hosts) send to: calls come
/// in as `call` (request/response, or with a reply_sink), can be cancelled
/// by request id, and `drain` asks the worker to finish its calls and stop.
///
/// Contract: at most `pipeline_depth` calls are written to the process; the
/// rest wait in the actor. Every call gets exactly one reply: its result,
/// `timeout`, `cancelled`, or `worker_crashed` when the process dies while
/// running it. The process runs what it reads strictly in order, so when it
/// dies only the first unanswered written call can have started: that one
/// fails; every later one, written or waiting, goes back to the scheduler
/// (another worker runs it). A running call past its deadline or cancelled
/// is interrupted (SIGINT: KeyboardInterrupt) and the process is killed if
/// still busy with it after the grace period. No call is written before the
/// process is ready, so an interrupt never reaches imports or a start hook;
/// a process not ready within `start_timeout` is killed. After a crash, a
/// drain, or `max_calls` calls, the actor leaves the scheduler, hands its
/// waiting calls back, and quits with the reason as a `sec::runtime_error`
/// context string (`sec::invalid_argument` when no restart can help, e.g. a
/// missing cwd; a drain or recycle quits with `exit_reason::normal`).
/// The books are a `call_ledger` inside a `call_lane` (src/actors/call_lane.hpp),
/// which the actor shares with its I/O thread (replies, alarms, freed slots)
/// and with the C++ API's callers (who write their own calls); the calls
/// taken and released are reported to the scheduler in batches
/// (`held_atom`). Its handlers never wait; its destructor kills the process
/// and waits for that process alone to be reaped and for the I/O thread.
using worker_actor = caf::typed_actor<
  caf::replies_to<call_atom, call_request>::with<call_reply>,
  caf::reacts_to<call_atom, call_request, reply_sink>,
  caf::reacts_to<cancel_atom, uint64_t>,
  caf::reacts_to<drain_atom>>;

/// The worker actor as its own I/O thread and lane see it: the public
/// interface plus the process's events (the ready frame, or no frame: the
/// lane has work for the actor; the exit; `timeout` is no longer sent: the
/// I/O thread serves alarms). Only the actor's I/O thread and lane hold this
/// handle (and the actor itself: `flush` sends its report of held calls to
/// the scheduler once the calls queued in its mailbox were taken).
using worker_actor_impl = worker_actor::extend<
  caf::reacts_to<reply_atom, std::vector<reply_frame>>,
  caf::reacts_to<exited_atom, std::string>,
  caf::reacts_to<timeout_atom, uint64_t>,
  caf::reacts_to<flush_atom>>;

class call_lane;

/// A worker the scheduler may route to; a worker actor announces itself
/// with `(worker_atom, worker_entry)` once its process is ready (has sent
/// its ready frame), never before.
struct worker_entry {
  uint64_t slot = 0;
  uint64_t uid = 0;
  worker_actor actor;
  /// Calls in flight on this worker as the scheduler counts them. Only the
  /// scheduler writes it (it sets it up when the worker joins); the C++ API's
  /// direct route reads it from the published snapshot.
  std::shared_ptr<std::atomic<int32_t>> load;
  /// The worker's call lane (local workers only; null otherwise): the C++
  /// API writes a call straight to the process through it when it can.
  std::shared_ptr<call_lane> lane;
};

} // namespace pyactor::actors

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(pyactor::actors::worker_entry)

namespace pyactor::actors {

/// The scheduler as a worker sees it. A worker joins with `(worker_atom,
/// entry)` when ready and leaves with `(leave_atom, slot, uid)`; the reply to
/// leave means nothing more is on its way. The scheduler also monitors every
/// worker that joined, so a worker that dies without leaving is dropped too.
/// Calls handed back come as `(call_atom, call_request)` (delegated) or with
/// their sink. `(held_atom, uid, accepted, released)` reports, in batches,
/// the request ids of the calls the worker took (also those sent to it
/// straight by the C++ API) and of those that left it (answered or handed
/// back): the scheduler's load counts and cancel routing follow from it.
using worker_registry = caf::typed_actor<
  caf::replies_to<call_atom, call_request>::with<call_reply>,
  caf::reacts_to<call_atom, call_request, reply_sink>,
  caf::replies_to<leave_atom, uint64_t, uint64_t>::with<bool>,
  caf::reacts_to<worker_atom, worker_entry>,
  caf::reacts_to<held_atom, uint64_t, std::vector<uint64_t>, std::vector<uint64_t>>>;

/// What a worker actor needs to start and run: plain data and actor
/// handles (see `inspect`), so a worker spec can travel to another host.
struct worker_options {
  worker_spawn_options spawn;
  /// Deadline of calls that set none; zero means no deadline.
  std::chrono::milliseconds default_timeout{0};
  /// Time between SIGINT and SIGKILL for a timed-out or cancelled running call.
  std::chrono::milliseconds interrupt_grace{2000};
  /// A process not ready this long after its spawn (imports, start hook) is
  /// killed and the start fails saying so.
  std::chrono::milliseconds start_timeout{60000};
  /// Calls written to the process at once (pipelining); at least 1.
  uint32_t pipeline_depth = 4;
  /// Recycle the process after this many calls; 0 means never.
  uint64_t max_calls = 0;
  /// Told `(ready_atom, slot, uid)` once the process is serving.
  ready_listener supervisor;
  /// Routes calls to this worker; gets calls back when it leaves.
  worker_registry scheduler;
};

bool operator==(const worker_options& x, const worker_options& y);

inline bool operator!=(const worker_options& x, const worker_options& y) {
  return !(x == y);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, worker_options& x) {
  return f(caf::meta::type_name("pyactor::worker_options"), x.spawn, x.default_timeout,
           x.interrupt_grace, x.start_timeout, x.pipeline_depth, x.max_calls, x.supervisor,
           x.scheduler);
}

/// The worker actor's state: the process, its phase, and the call lane
/// (src/actors/call_lane.hpp) that keeps the books of its calls.
struct worker_actor_state {
  enum class phase { starting, serving, draining, leaving };

  worker_options options;
  /// The counters of this incarnation, shared with the supervisor on the
  /// same node (not part of the spec: they are local memory).
  std::shared_ptr<worker_stats> stats;
  std::unique_ptr<worker_process> process;
  phase mode = phase::starting;
  /// Why the actor is leaving (empty for a drain or recycle).
  std::string exit_reason;
  bool scheduler_released = false; // the scheduler acknowledged `leave`
  /// The process could not start for a reason no retry fixes (bad cwd).
  bool setup_error = false;
  /// Every call this worker accepted and has not answered or handed back,
  /// shared with the I/O thread and the callers.
  std::shared_ptr<call_lane> lane;
  bool flush_queued = false; // a `flush` is in the mailbox
  bool closing = false;      // the state is being destroyed

  static const char* name;

  std::string label() const;

  worker_actor_state(); // out of line: the lane type is complete only there
  ~worker_actor_state();
};

/// Spawnable behavior: `sys.spawn(worker_behavior, options, stats)`; hand
/// out the result as a `worker_actor`. `stats` (null: the actor makes its
/// own) are the counters the node's supervisor reads for `status`.
worker_actor_impl::behavior_type
worker_behavior(worker_actor_impl::stateful_pointer<worker_actor_state> self,
                worker_options options, std::shared_ptr<worker_stats> stats);

/// Maps a worker's reply status byte (protocol.hpp) to the reply code.
uint8_t reply_code_of(uint8_t worker_status);

} // namespace pyactor::actors
