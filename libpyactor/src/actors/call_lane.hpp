// The call lane: one worker's call ledger under one mutex, driven by the
// worker actor, the process's I/O thread and the callers themselves.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_set>
#include <vector>

#include <caf/weak_intrusive_ptr.hpp>
#include <caf/actor_control_block.hpp>

#include "actors/call_ledger.hpp"
#include "actors/worker_actor.hpp"

namespace pyactor::actors {

/// What a lane needs besides its ledger's limits.
struct call_lane_config {
  ledger_config ledger;
  uint64_t slot = 0;
  uint64_t uid = 0;
  /// Gets the calls handed back and the `held_atom` reports; may be invalid.
  worker_registry scheduler;
  log_actor log;
  std::shared_ptr<worker_stats> stats;
  /// The worker actor, told (`reply_atom` with no frames) when it has work:
  /// a response promise to settle, a recycle due, a drain that may be over.
  caf::weak_actor_ptr actor;
  /// Longest time a taken or released call waits to be reported.
  std::chrono::milliseconds report_delay{2};
};

/// Owns the `call_ledger` of one worker process under one mutex, so that
/// three kinds of threads drive the same books:
///
/// - callers (the C++ API's direct route) take a ticket and a pipeline slot
///   and write their own frame (`try_call`): no CAF message on the way in;
///   while the process still owes a reply, the frame waits instead (write
///   coalescing, no timer): the reader of that reply writes every waiting
///   frame in one write before it delivers the replies, so only a call that
///   finds nothing outstanding pays a `send` of its own;
/// - the process's I/O thread settles replies (`on_frame`), alarms
///   (deadlines, re-interrupts, kills) and writes the calls that waited for a
///   free slot (`on_batch_end`): no actor hop on the way out;
/// - the worker actor takes calls routed to it, cancels, the ready frame,
///   the drain and the death, exactly as the ledger's contract says.
///
/// Nothing outside the ledger runs under the mutex except non-blocking
/// writes and signals to the process and the `held_atom` report (ids only).
/// Replies are delivered, and calls handed back, after the mutex is
/// released, on the thread that settled them; a response promise is settled
/// on the actor's thread only (the actor is told). Thread-safe.
class call_lane {
public:
  using clock_type = call_ledger::clock_type;
  using time_point = clock_type::time_point;

  explicit call_lane(call_lane_config config);
  ~call_lane();

  call_lane(const call_lane&) = delete;
  call_lane& operator=(const call_lane&) = delete;

  // -- callers (any thread) ---------------------------------------------------

  /// Takes the call if the worker serves and no call sent to the actor
  /// before it is still on its way (FIFO): it is written at once when
  /// nothing is outstanding, else by the next reader of a reply (the I/O
  /// thread or a leader), with the other waiting calls, once a slot is free. On false
  /// nothing was taken: `request` and `sink` are untouched. With `lead`, a
  /// caller that will wait for the reply asks for the reader token: if it
  /// gets it (`*lead` true) it MUST call `lead` next.
  bool try_call(call_request& request, reply_sink& sink, bool* lead = nullptr);

  /// As `try_call` with `lead`, for a thread that runs its own poll loop
  /// (the erlbridge gateway) instead of blocking in `lead`: if it gets the
  /// reader token (`*lead` true) it polls `poll_fds` and calls `poll_read`
  /// when one is readable; it then reads every reply of this lane, and runs
  /// every completion it reads (callbacks too) on its own thread, until
  /// `poll_read` or `end_poll_lead` returns the token.
  bool try_call_polled(call_request& request, reply_sink& sink, bool* lead);

  /// The worker's reply pipe and the wake-up eventfd a polling leader
  /// waits on (POLLIN); false if the lane has no process (then `poll_read`
  /// ends the lead).
  bool poll_fds(int& replies, int& wake) const;

  /// The polling leader's turn: reads what the channel holds (never
  /// blocks) and delivers it on this thread. Returns whether this thread
  /// still holds the reader token: it gives it back once nothing is
  /// outstanding, the channel closed or the lane closes. `woken`: the wake
  /// eventfd was readable (it is drained only then: no read that only says
  /// EAGAIN per reply).
  bool poll_read(bool woken = true);

  /// The polling leader gives the token back without reading (the I/O
  /// thread reads what is outstanding). Must come before the runtime stops.
  void end_poll_lead();

  /// Reads the channel on this thread, dispatching every frame it reads
  /// (others' replies too), until `done()` holds (the caller's call was
  /// answered, here or by another thread, which then calls `wake_leader`)
  /// or the lane closes; then hands the reader token back to the I/O thread
  /// if calls are still in the process, else leaves it free.
  void lead(const std::function<bool()>& done);

  /// Wakes the caller in `lead` (its call was answered elsewhere); a no-op
  /// on the leader's own thread, which checks `done` after every read.
  void wake_leader();

  /// A caller is about to send `request_id` to the actor instead: later
  /// lane calls wait behind it until the actor took it.
  void note_queued(uint64_t request_id);

  // -- the worker actor ---------------------------------------------------------

  /// The process was spawned: writes and signals go to `p` from now on.
  void attach(worker_process* p);

  /// Takes a call routed to the actor (see `call_ledger::accept`).
  void accept(call_request&& request, reply_to&& to);

  /// See `call_ledger::cancel`.
  void cancel(uint64_t request_id);

  /// The ready frame came; false if the ledger was not starting.
  bool ready();

  /// See `call_ledger::drain`.
  void drain();

  /// See `call_ledger::process_died`.
  bool process_died(const std::string& what);

  /// Answers every call with `worker_crashed` saying `why` and detaches the
  /// process; the lane takes nothing from then on (the actor stops).
  void close(const std::string& why);

  /// Settles the response promises the other threads left to the actor.
  void run_actor_jobs();

  /// Sends the `held_atom` report of the calls taken and released so far.
  void flush_report();

  bool idle() const;
  bool recycle_due() const;
  bool serving() const;
  uint64_t served() const;
  std::string start_failure() const;

  // -- the I/O thread -------------------------------------------------------------

  /// A reply frame (call id not 0), settled at the end of its batch.
  void on_frame(uint64_t call_id, uint8_t status, std::vector<char>&& payload);

  /// The frames of one read were handed out: settles them under one lock
  /// and writes the calls that now fit (the replies go out at `on_read_end`).
  void on_batch_end();

  /// The reader released the channel: delivers what it settled. A caller
  /// in `lead` completes only blocking callers' calls itself; callbacks of
  /// other calls go to the I/O thread (they run on runtime threads only).
  void on_read_end();

  /// The process's alarm rang.
  void on_alarm();

  /// The process ended: callers stop writing to it (the actor settles its
  /// calls when it hears of the exit).
  void on_exit();

  /// Names the worker: "worker 3 (pid 1234)".
  std::string label() const;

private:
  class callee;

  /// One settled call, carried out after the mutex is released.
  struct effect {
    bool give_back = false;
    /// Completing it only wakes a blocking caller: any thread may do it.
    bool wakes_caller = false;
    reply_to to;
    call_reply reply;
    call_request request;
  };

  /// Delivers and hands back what a locked section settled (no lock held),
  /// then tells the actor if a promise waits for it.
  void carry_out(std::vector<effect>&& effects, bool on_actor, bool poke);
  std::string label_locked() const;
  void arm_report_locked(time_point now);
  void flush_report_locked();
  void set_alarm_locked(time_point at);
  void poke_actor();
  /// Calls are in the process or wait for it.
  bool outstanding_locked() const;
  /// Gives the free reader token to the I/O thread if calls are outstanding.
  void ensure_reader_locked();

  /// Who reads the channel: the I/O thread, nobody (nothing is
  /// outstanding), or a caller in `lead`.
  enum class reader { io, free, leader };

  call_lane_config config_;
  mutable std::mutex mtx_;
  std::unique_ptr<callee> callee_;
  std::unique_ptr<call_ledger> ledger_; // guarded by mtx_
  worker_process* process_ = nullptr;   // guarded by mtx_
  bool closed_ = false;                 // guarded by mtx_
  bool exited_ = false;                 // guarded by mtx_
  /// Calls sent to the actor by callers and not taken yet.
  std::unordered_multiset<uint64_t> queued_;
  /// Settled while the mutex is held; swapped out by whoever holds it.
  std::vector<effect> effects_;
  /// Response promises to settle on the actor's thread.
  std::vector<effect> actor_jobs_;
  /// Settled by the reader, delivered at `on_read_end`.
  std::vector<effect> read_fx_;
  bool read_poke_ = false;
  /// Completions a leader left to the I/O thread (run at its alarm).
  std::vector<effect> io_jobs_;
  /// Request ids of lane calls whose completion only wakes a blocking caller.
  std::unordered_set<uint64_t> blocking_ids_;
  std::vector<uint64_t> accepted_ids_;
  /// The leader's call, taken but not in `accepted_ids_` yet (0: none).
  uint64_t lead_unreported_ = 0;
  std::vector<uint64_t> released_ids_;
  time_point report_at_ = time_point::max();
  time_point ledger_alarm_ = time_point::max();
  /// The reply frames of the current read (the reader's alone).
  std::vector<reply_frame> frames_;
  reader reader_ = reader::io;          // guarded by mtx_
  /// The leader is a polling one (`try_call_polled`): it delivers every
  /// reply it reads itself. Guarded by mtx_.
  bool poll_leader_ = false;
  /// How a caller offers to read its reply: not at all, blocking in
  /// `lead`, or from its own poll loop (`try_call_polled`).
  enum class lead_mode { none, blocking, polled };
  bool take_call(call_request& request, reply_sink& sink, bool* lead, lead_mode mode);
  /// Gives the reader token back (caller holds mtx_).
  void release_lead_locked();
  std::condition_variable leader_left_; // reader_ stopped being `leader`
  int lead_fd_ = -1;                    // an eventfd that wakes the leader
};

} // namespace pyactor::actors
