// The worker actor: owns one `pyactor-worker` process for its whole life.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <vector>

#include <caf/typed_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <caf/typed_response_promise.hpp>
#include <caf/replies_to.hpp>

#include "pyactor/actors/messages.hpp"
#include "pyactor/actors/type_ids.hpp"
#include "pyactor/actors/worker_info.hpp"
#include "pyactor/actors/worker_process.hpp"

namespace pyactor::actors {

/// Calls go in as `call` (request/response, or with a reply_sink); the
/// `reply`, `exited`, `timeout` and `kill` messages come from the actor's own
/// I/O thread and timers.
///
/// Contract: several calls may be in flight (the process runs them in order).
/// Every call gets exactly one reply: its result, `timeout` at its deadline,
/// or `worker_crashed` when the process dies. A timed-out call that is running
/// is interrupted (SIGINT: KeyboardInterrupt), and the process is killed if it
/// is still busy with it after the grace period. When the process dies the
/// actor quits with the exit reason as a `sec::runtime_error` context string;
/// its supervisor decides about a restart. Never blocks its scheduler thread.
using worker_actor = caf::typed_actor<
  caf::replies_to<call_atom, call_request>::with<call_reply>,
  caf::reacts_to<call_atom, call_request, reply_sink>,
  caf::reacts_to<reply_atom, uint64_t, uint8_t, std::vector<char>>,
  caf::reacts_to<exited_atom, std::string>,
  caf::reacts_to<timeout_atom, uint64_t>,
  caf::reacts_to<kill_atom, uint64_t>>;

/// Who hears `(ready_atom, slot, uid)` when a worker process is serving.
using ready_listener = caf::typed_actor<caf::reacts_to<ready_atom, uint64_t, uint64_t>>;

/// What a worker actor needs to start and run.
struct worker_options {
  worker_spawn_options spawn;
  std::shared_ptr<worker_stats> stats;
  /// Deadline of calls that set none; zero means no deadline.
  std::chrono::milliseconds default_timeout{0};
  /// Time between SIGINT and SIGKILL for a timed-out running call.
  std::chrono::milliseconds interrupt_grace{2000};
  /// Told `(ready_atom, slot, uid)` once the process is serving.
  ready_listener supervisor;
};

struct worker_actor_state {
  /// A call written to the process and not answered yet.
  struct pending {
    caf::typed_response_promise<call_reply> promise;
    reply_sink sink;
    void deliver(call_reply&& reply);
  };

  worker_options options;
  std::unique_ptr<worker_process> process;
  /// Ordered by call id: the first entry is the call the process runs now.
  std::map<uint64_t, pending> in_flight;
  /// Timed-out calls the process still has to get through; their replies are dropped.
  std::map<uint64_t, bool> abandoned;
  uint64_t next_call_id = 1;
  std::vector<char> frame; // reused for every request

  static const char* name;

  /// Answers the call a reply frame belongs to.
  void on_frame(uint64_t call_id, uint8_t status, std::vector<char>&& payload);
  /// Fails every call in flight with `code` and `message`.
  void fail_all(errc code, const std::string& message);
  void update_stats();

  ~worker_actor_state();
};

/// Spawnable behavior: `sys.spawn(worker_behavior, options)`.
worker_actor::behavior_type worker_behavior(worker_actor::stateful_pointer<worker_actor_state> self,
                                            worker_options options);

/// Maps a worker's reply status byte (protocol.hpp) to the reply code.
uint8_t reply_code_of(uint8_t worker_status);

} // namespace pyactor::actors
