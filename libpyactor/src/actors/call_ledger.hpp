// The books of the calls one worker process has been given: the call state
// machine of a worker actor, with no actor and no thread inside (the shape of
// CAF's BASP `instance` and its `callee`).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include <caf/typed_response_promise.hpp>

#include "actors/messages.hpp"

namespace pyactor::actors {

/// Who waits for a call's reply: a response promise (request/response) or a
/// sink (the C++ API and the scheduler's own calls).
struct reply_to {
  caf::typed_response_promise<call_reply> promise;
  reply_sink sink;
};

/// Everything the ledger asks of the world. The worker actor implements it
/// with its process and its scheduler; a unit test records the calls. All
/// of it runs on the thread that drives the ledger (the actor's).
class ledger_callee {
public:
  using time_point = std::chrono::steady_clock::time_point;

  virtual ~ledger_callee();

  /// Writes whole frames to the process (never blocks).
  virtual void write(const char* data, size_t size) = 0;

  /// Interrupts call `ticket` in the process (SIGINT: KeyboardInterrupt).
  virtual void interrupt(uint64_t ticket) = 0;

  /// Kills the process (SIGKILL); `why` is the line to log.
  virtual void kill(const std::string& why) = 0;

  /// Calls `call_ledger::on_alarm` at `at` or soon after.
  virtual void set_alarm(time_point at) = 0;

  /// Hands the one reply of a call to whoever waits for it.
  virtual void deliver(reply_to&& to, call_reply&& reply) = 0;

  /// What the ledger calls to answer `request`: `deliver` unless a callee
  /// needs to know which call it answers.
  virtual void deliver_call(const call_request& request, reply_to&& to, call_reply&& reply);

  /// Gives a call that never ran back to the scheduler (another worker runs
  /// it); the callee answers it itself if there is no scheduler.
  virtual void hand_back(call_request&& request, reply_to&& to) = 0;

  /// The call `request` left this worker (answered, or handed back), once
  /// per accepted call: the load accounting hears of it.
  virtual void released(const call_request& request) = 0;

  /// Names the worker in messages: "worker 3 (pid 1234)".
  virtual std::string label() const = 0;
};

/// The sinks of calls written to the process, shared with its I/O thread:
/// the I/O thread completes a call straight from its reply frame (one thread
/// hop less); the ledger keeps the books. Whoever takes a sink out delivers
/// to it, so a call is completed once. Thread-safe.
class ledger_sinks {
public:
  void put(uint64_t ticket, reply_sink sink);

  /// Removes and returns the sink of `ticket`; an empty sink if none.
  reply_sink take(uint64_t ticket);

  /// For the I/O thread: completes `ticket` from its reply frame if it has a
  /// sink here, and then empties `payload` (the ledger only keeps the books).
  bool complete(uint64_t ticket, uint8_t status, std::vector<char>& payload);

private:
  std::mutex mtx_;
  std::unordered_map<uint64_t, reply_sink> sinks_;
};

/// Limits and delays of one worker's calls.
struct ledger_config {
  /// Deadline of calls that set none; zero means no deadline.
  std::chrono::milliseconds default_timeout{0};
  /// Time between SIGINT and SIGKILL for a timed-out or cancelled running call.
  std::chrono::milliseconds interrupt_grace{2000};
  /// Time between the first and the second SIGINT (a signal that lands just
  /// before a blocking call starts is only seen when it returns).
  std::chrono::milliseconds reinterrupt_delay{100};
  /// A process not ready this long after `started` is killed; zero: never.
  std::chrono::milliseconds start_timeout{60000};
  /// Calls written to the process at once (pipelining); at least 1.
  uint32_t pipeline_depth = 4;
  /// Calls written to one process at most (recycling); 0 means no limit.
  uint64_t max_calls = 0;
  /// Write coalescing: a call accepted while the process still owes a reply
  /// (written or abandoned calls) waits instead of being written; the
  /// owner's reader calls `pump` after every batch of replies, so it goes
  /// out with the other calls taken meanwhile in one write. A waiting call
  /// was never written: death, drain, cancel and timeout treat it as one
  /// that waits for a free slot. Off: every accepted call that fits is
  /// written at once.
  bool coalesce_writes = false;
  /// Named in the start-timeout message ("module.function"), may be empty.
  std::string start_hook;
};

/// The state machine of the calls of one worker process: accept, write,
/// interrupt, deliver, hand back, arm the one timer, the process's death and
/// the drain. It holds the exactly-once guarantee on the worker's side:
/// every accepted call gets exactly one `deliver` or one `hand_back`, in
/// every path (reply, timeout, cancel, death, drain, `abandon_all`).
///
/// Rules: nothing is written before `ready`; at most `pipeline_depth` calls
/// (abandoned ones included) are in the process; the process runs frames in
/// ticket order, so when it dies only the first unanswered written call can
/// have started: that one fails with `worker_crashed`, every later one goes
/// back. A running call past its deadline or cancelled is answered at once,
/// interrupted, interrupted again after `reinterrupt_delay`, and the process
/// is killed if it is still busy with it after `interrupt_grace`; a written
/// call that has not started is skipped; once every call ahead of it has
/// replied, it is interrupted and watched like a running one (the process may
/// have started it before the skip arrived; an interrupt names its ticket, so
/// it never hits another call). A reply to a call already answered is dropped.
///
/// Not thread-safe: one thread (the worker actor's) drives it; only the
/// `ledger_sinks` from `io_side` is shared with the I/O thread.
class call_ledger {
public:
  using clock_type = std::chrono::steady_clock;
  using time_point = clock_type::time_point;

  call_ledger(ledger_callee& callee, ledger_config config);

  call_ledger(const call_ledger&) = delete;
  call_ledger& operator=(const call_ledger&) = delete;

  // -- the process's lifecycle ------------------------------------------------

  /// The process was spawned at `now`: arms the start timeout.
  void started(time_point now);

  /// The ready frame came: calls may be written now. False if it was not
  /// starting (a second ready frame, or after a drain or death).
  bool ready();

  /// Stops taking calls: later ones and the waiting ones are handed back;
  /// the written ones still get their replies.
  void drain();

  /// The process ended. Returns true if a call was running (it failed, or it
  /// had been abandoned already): the call bears the blame for the death.
  /// Afterwards the ledger is empty and hands back whatever comes.
  bool process_died(const std::string& what);

  /// Answers every call still here with `worker_crashed` saying `why` (the
  /// owner stops without a death to report).
  void abandon_all(const std::string& why);

  // -- calls ----------------------------------------------------------------

  /// Takes a call at `now`: it waits, and is written when the pipeline has
  /// room (with `coalesce_writes`, at the next `pump` if a reply is owed). A ledger that does not serve (starting, drained, dead) hands it
  /// back at once.
  void accept(call_request&& request, reply_to&& to, time_point now);

  /// Cancels the call named `request_id`; false if it is not here.
  bool cancel(uint64_t request_id, time_point now);

  /// The reply frame of `ticket` (after the I/O thread had its chance to
  /// complete it), read at `now`. Call `pump` after a batch.
  void on_reply(uint64_t ticket, uint8_t status, std::vector<char>&& payload,
                time_point now = clock_type::now());

  /// The alarm came: serves due deadlines, re-interrupts, kills and the start
  /// timeout, writes what now fits, and re-arms.
  void on_alarm(time_point now);

  /// Writes waiting calls while the pipeline has room, in one write.
  void pump();

  // -- observers --------------------------------------------------------------

  /// True while it takes calls (ready, not drained, alive).
  bool serving() const { return mode_ == mode::serving; }

  /// Nothing written or abandoned is left in the process.
  bool idle() const { return written_.empty() && abandoned_.empty(); }

  /// Calls the process answered.
  uint64_t served() const { return served_; }

  /// True once `max_calls` calls were answered: time to recycle.
  bool recycle_due() const { return config_.max_calls > 0 && served_ >= config_.max_calls; }

  /// Why the ledger killed a process that was not ready in time; else empty.
  const std::string& start_failure() const { return start_failure_; }

  size_t waiting_count() const { return waiting_.size(); }
  size_t written_count() const { return written_.size(); }
  size_t abandoned_count() const { return abandoned_.size(); }

  /// The part the I/O thread uses (see ledger_sinks).
  const std::shared_ptr<ledger_sinks>& io_side() const { return sinks_; }

private:
  enum class mode { starting, serving, drained, dead };

  /// A call the ledger accepted and has not answered.
  struct call {
    call_request request;
    reply_to to;
    time_point deadline = time_point::max();
    uint64_t ticket = 0;
    bool sink_in_table = false; // the sink moved to `sinks_` when written
  };

  void answer(call& c, call_reply&& reply);
  void give_back(call&& c);
  void forget_deadline(const call& c);
  void end_early(uint64_t ticket, errc code, const std::string& why, time_point now);
  void on_kill_due(uint64_t ticket);
  /// A call abandoned before it started that is now first in the process
  /// may be running after all: interrupt it and arm its kill.
  void watch_front(time_point now);
  /// Interrupts the abandoned call `ticket` now, again after the re-interrupt
  /// delay, and kills the process if it is still busy after the grace.
  void interrupt_and_watch(uint64_t ticket, time_point now);
  void arm();

  ledger_callee& callee_;
  ledger_config config_;
  mode mode_ = mode::starting;
  std::string start_failure_;
  /// Calls waiting to be written, by ticket.
  std::map<uint64_t, call> waiting_;
  /// Calls written to the process, by ticket; the first one is running
  /// unless an abandoned call is ahead of it.
  std::map<uint64_t, call> written_;
  /// Answered (timed-out or cancelled) calls the process still has to get
  /// through: true if it was running when abandoned.
  std::map<uint64_t, bool> abandoned_;
  /// Deadlines of waiting and written calls, earliest first.
  std::set<std::pair<time_point, uint64_t>> deadlines_;
  /// Re-interrupts and kills due for abandoned calls, and the start timeout
  /// (ticket 0).
  std::set<std::pair<time_point, uint64_t>> kills_;
  /// The alarm last asked of the callee; one alarm serves all of the above.
  time_point alarm_at_ = time_point::max();
  uint64_t next_ticket_ = 1;
  uint64_t calls_written_ = 0;
  uint64_t served_ = 0;
  std::vector<char> frames_; // reused for every write
  std::shared_ptr<ledger_sinks> sinks_ = std::make_shared<ledger_sinks>();
};

} // namespace pyactor::actors
