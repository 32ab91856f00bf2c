// The worker actor: owns one `pyactor-worker` process for its whole life.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <unordered_map>
#include <string>
#include <vector>

#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <caf/typed_response_promise.hpp>

#include "pyactor/actors/messages.hpp"
#include "pyactor/actors/type_ids.hpp"
#include "pyactor/actors/worker_info.hpp"
#include "pyactor/actors/worker_process.hpp"

namespace pyactor::actors {

/// Who hears `(ready_atom, slot, uid)` when a worker process is serving.
using ready_listener = caf::typed_actor<caf::reacts_to<ready_atom, uint64_t, uint64_t>>;


/// Calls come in as `call` (request/response, or with a reply_sink) and can
/// be cancelled by request id. `reply` (the frames of one read), `exited`,
/// `timeout` and `kill` come from the actor's own I/O thread and timers; `drain` asks it to finish its
/// calls and stop.
///
/// Contract: at most `pipeline_depth` calls are written to the process; the
/// rest wait in the actor. Every call gets exactly one reply: its result,
/// `timeout`, `cancelled`, or `worker_crashed` when the process dies while
/// running the call. Calls that were still waiting, or written but queued
/// behind the running one (the process runs calls in order), go back to the
/// scheduler (another worker runs them). A running call past its deadline or
/// cancelled is interrupted (SIGINT: KeyboardInterrupt) and the process is
/// killed if still busy with it after the grace period. After a crash, a
/// drain, or `max_calls` calls, the actor leaves the scheduler, hands its
/// waiting calls back, and quits with the reason as a `sec::runtime_error`
/// context string (a drain or recycle quits with `exit_reason::normal`).
/// Never blocks its scheduler thread.
using worker_actor = caf::typed_actor<
  caf::replies_to<call_atom, call_request>::with<call_reply>,
  caf::reacts_to<call_atom, call_request, reply_sink>,
  caf::reacts_to<cancel_atom, uint64_t>,
  caf::reacts_to<drain_atom>,
  caf::reacts_to<reply_atom, std::vector<reply_frame>>,
  caf::reacts_to<exited_atom, std::string>,
  caf::reacts_to<timeout_atom, uint64_t>,
  caf::reacts_to<kill_atom, uint64_t>>;

/// A worker the scheduler may route to; a worker actor announces itself
/// with `(worker_atom, worker_entry)` when it starts.
struct worker_entry {
  uint64_t slot = 0;
  uint64_t uid = 0;
  worker_actor actor;
  std::shared_ptr<worker_stats> stats;
};

} // namespace pyactor::actors

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(pyactor::actors::worker_entry)

namespace pyactor::actors {

/// The scheduler as a worker sees it. A worker joins with `(worker_atom,
/// entry)` and leaves with `(leave_atom, slot, uid)`; the reply to leave means
/// nothing more is on its way. Calls handed back come as `(call_atom,
/// call_request)` (delegated) or with their sink.
using worker_registry = caf::typed_actor<
  caf::replies_to<call_atom, call_request>::with<call_reply>,
  caf::reacts_to<call_atom, call_request, reply_sink>,
  caf::replies_to<leave_atom, uint64_t, uint64_t>::with<bool>,
  caf::reacts_to<worker_atom, worker_entry>>;

/// What a worker actor needs to start and run.
struct worker_options {
  worker_spawn_options spawn;
  std::shared_ptr<worker_stats> stats;
  /// Deadline of calls that set none; zero means no deadline.
  std::chrono::milliseconds default_timeout{0};
  /// Time between SIGINT and SIGKILL for a timed-out or cancelled running call.
  std::chrono::milliseconds interrupt_grace{2000};
  /// Calls written to the process at once (pipelining); at least 1.
  uint32_t pipeline_depth = 4;
  /// Recycle the process after this many calls; 0 means never.
  uint64_t max_calls = 0;
  /// Told `(ready_atom, slot, uid)` once the process is serving.
  ready_listener supervisor;
  /// Routes calls to this worker; gets calls back when it leaves.
  worker_registry scheduler;
};

/// The sinks of calls written to the process, shared with its I/O thread:
/// the I/O thread completes a call straight from the reply frame (one
/// thread hop less), the actor keeps the books. Whoever takes a sink out
/// delivers to it. Thread-safe.
class sink_table {
public:
  void put(uint64_t ticket, reply_sink sink) {
    std::lock_guard<std::mutex> guard{mtx_};
    sinks_.emplace(ticket, std::move(sink));
  }

  /// Removes and returns the sink of `ticket`; an empty sink if none.
  reply_sink take(uint64_t ticket) {
    std::lock_guard<std::mutex> guard{mtx_};
    auto i = sinks_.find(ticket);
    if (i == sinks_.end())
      return {};
    auto sink = std::move(i->second);
    sinks_.erase(i);
    return sink;
  }

private:
  std::mutex mtx_;
  std::unordered_map<uint64_t, reply_sink> sinks_;
};

struct worker_actor_state {
  /// Who waits for a call's reply: a response promise or a sink.
  struct reply_to {
    caf::typed_response_promise<call_reply> promise;
    reply_sink sink;
    void deliver(call_reply&& reply);
  };

  using clock_type = std::chrono::steady_clock;

  /// A call this actor accepted and has not answered.
  struct call {
    call_request request;
    reply_to reply;
    clock_type::time_point deadline = clock_type::time_point::max();
    uint64_t ticket = 0;
    bool sink_in_table = false; // the sink moved to `sinks` when written
  };

  enum class phase { serving, draining, leaving };

  worker_options options;
  std::unique_ptr<worker_process> process;
  phase mode = phase::serving;
  /// Why the actor is leaving (empty for a drain or recycle).
  std::string exit_reason;
  bool scheduler_released = false; // the scheduler acknowledged `leave`
  /// Calls waiting to be written, by ticket.
  std::map<uint64_t, call> waiting;
  /// Calls written to the process, by ticket; the first one is running.
  std::map<uint64_t, call> written;
  /// Timed-out or cancelled calls the process still has to get through.
  std::map<uint64_t, bool> abandoned;
  /// Deadlines of the calls above, earliest first. One timer serves them
  /// all: it is set for the earliest deadline only (not one timer per call).
  std::set<std::pair<clock_type::time_point, uint64_t>> deadlines;
  clock_type::time_point timer_at = clock_type::time_point::max();
  uint64_t next_ticket = 1;
  uint64_t calls_sent = 0; // a recycled process gets no more than max_calls
  std::vector<char> frame; // reused for every request
  std::shared_ptr<sink_table> sinks = std::make_shared<sink_table>();

  static const char* name;

  std::string label() const;
  /// Answers a written call from its reply frame.
  void on_frame(uint64_t ticket, uint8_t status, std::vector<char>&& payload);
  /// Answers a call and takes it off the load count and the deadlines.
  void answer(call& c, call_reply&& r);
  void forget_deadline(const call& c);

  ~worker_actor_state();
};

/// Spawnable behavior: `sys.spawn(worker_behavior, options)`.
worker_actor::behavior_type
worker_behavior(worker_actor::stateful_pointer<worker_actor_state> self, worker_options options);

/// Maps a worker's reply status byte (protocol.hpp) to the reply code.
uint8_t reply_code_of(uint8_t worker_status);

} // namespace pyactor::actors
