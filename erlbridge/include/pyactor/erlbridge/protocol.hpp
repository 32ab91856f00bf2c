// The gateway's protocol state machine: Erlang messages in, Python calls out,
// replies back. No sockets and no ei here (see gateway.hpp for the transport).
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "pyactor/erlbridge/request.hpp"
#include "pyactor/error.hpp"
#include "pyactor/value.hpp"

namespace pyactor::erlbridge {

/// An Erlang pid as the transport needs it to address a reply.
struct erl_pid {
  std::string node;
  uint32_t num = 0;
  uint32_t serial = 0;
  uint32_t creation = 0;
  /// The pid's term bytes as they arrived (no version byte).
  std::vector<uint8_t> raw;
};

/// Reads a pid from its external-format bytes (NEW_PID_EXT or PID_EXT, no
/// version byte); false if the bytes are not exactly one pid.
bool parse_pid(const uint8_t* data, size_t size, erl_pid& out);

/// A message to send: `head`, then `body` from `body_from` on (so that a large
/// encoded reply is sent without being copied behind its header).
struct outgoing_message {
  std::vector<uint8_t> head;
  std::vector<uint8_t> body;
  size_t body_from = 0;
  size_t size() const { return head.size() + body.size() - body_from; }
};

/// `{Tag, {ok, Result}}` as `send` takes it (Tag byte for byte): the bytes
/// `encode_etf` gives, but a large binary result is moved into `body`, not
/// copied. Tested against the encoder; the gateway's replies use it.
outgoing_message encode_ok_reply(const std::vector<uint8_t>& tag, value result);

/// What the protocol needs from its transport. `send`, `monitor` and
/// `demonitor` are called on the loop thread, and on the threads that
/// complete calls (a reply leaves from the thread that has it, with no hop
/// to the loop): the transport keeps them safe and in order per connection,
/// and never blocks in them on a full socket.
class transport_callee {
public:
  virtual ~transport_callee();
  /// Sends `msg` (a whole term, version byte included) to `to` over `conn`.
  virtual void send(uint64_t conn, const erl_pid& to, outgoing_message msg) = 0;
  /// Monitors the process `who` on `conn`'s node under the monitor `ref_id`;
  /// when it dies (or is dead already) the transport calls
  /// `gateway_state::on_monitor_down(conn, ref_id)`.
  virtual void monitor(uint64_t conn, const erl_pid& who, uint64_t ref_id) = 0;
  /// Removes a monitor `monitor` set.
  virtual void demonitor(uint64_t conn, const erl_pid& who, uint64_t ref_id) = 0;
  /// A call completed (on the thread that calls this): the transport calls
  /// `gateway_state::on_completion(key, ...)`, on this thread or later.
  virtual void post(uint64_t key, result<value> outcome) = 0;
};

/// What the protocol needs from the Python side (a `pyactor::runtime`).
class python_service {
public:
  using completion = std::function<void(result<value>)>;
  virtual ~python_service();
  /// Starts `req`; `done` runs exactly once, on any thread, possibly before
  /// `submit` returns. Returns a handle for `cancel` (0 if done already ran).
  virtual uint64_t submit(bridge_request req, completion done) = 0;
  /// Cancels a submitted call; its `done` still runs (with `cancelled`) unless
  /// it already ran. Unknown handles are ignored.
  virtual void cancel(uint64_t handle) = 0;

  // -- reading replies in the transport's poll loop (optional) -----------------
  // The transport's loop thread may read the replies of the calls it submits
  // itself (a reply then wakes that thread, not a worker's I/O thread that
  // would hand it over): `done` of such calls runs on the loop thread. All
  // four are called on the loop thread only.

  /// Offers the loop thread as the reader of the calls it submits next.
  virtual void offer_reading(bool on) { (void)on; }
  /// Appends the descriptors the loop polls for POLLIN.
  virtual void reading_fds(std::vector<int>& out) { (void)out; }
  /// One of `reading_fds` is ready: reads and runs the completions.
  virtual void on_readable(int fd) { (void)fd; }
  /// Hands every reply back to the runtime's own threads (before it stops).
  virtual void stop_reading() {}
};

/// Counters of a gateway_state, for status and tests.
struct protocol_stats {
  uint64_t requests = 0;    ///< `$gen_call`s to `py` received
  uint64_t replies = 0;     ///< replies sent (values and errors)
  uint64_t bad_terms = 0;   ///< messages that failed to decode or parse
  uint64_t cancelled = 0;   ///< calls cancelled because their caller went away
  uint64_t in_flight = 0;   ///< calls started and not yet answered
  uint64_t monitors = 0;    ///< caller processes monitored right now
  uint64_t callers_down = 0; ///< monitored callers that died with calls in flight
};

/// The gateway's protocol: decodes each message sent to `py` or `net_kernel`,
/// starts calls through `python_service`, and answers every `$gen_call`
/// exactly once (a value, an error, or `{error, {unknown_call, Req}}`).
///
/// Batches (from the Erlang client's `pyactor_batcher`, one process per
/// gateway on a caller's node) carry many calls in one message:
/// `{'$pyactor_batch', Batcher, [{Id, ReqBin}, ...]}` with `Id` an integer in
/// 0..2^31-1 and `ReqBin` a request as `term_to_binary` gives it. Each entry
/// is decoded on its own: a malformed one gets its error reply, the others
/// are served. Every entry gets exactly one reply `{Id, Reply}` (`Reply` as a
/// `$gen_call` would get it); replies settled before the next
/// `flush_replies` (one loop turn) go to the batcher as one message
/// `{'$pyactor_replies', [{Id, Reply}, ...]}`. `{'$pyactor_cancel', Batcher,
/// [Id, ...]}` cancels entries whose callers went away (no reply follows).
/// A batch whose structure is broken (not a list of `{Id, Binary}`) has its
/// entries up to the break served and is answered with
/// `{'$pyactor_bad_batch', Index, Reason}` (Index counts from 0).
/// Each caller process with calls in flight is monitored; when it dies its
/// calls are cancelled. A caller's monitor stays `linger` after its last call
/// (a process that calls again soon costs no new monitor), at most
/// `max_idle_monitors` such idle monitors at once.
/// `on_completion` may run on any thread (it encodes and sends the reply
/// there); every other member runs on the transport's loop thread. An
/// internal mutex guards the tables, never held while encoding, decoding, or
/// calling `python_service`.
class gateway_state {
public:
  using clock = std::chrono::steady_clock;
  static constexpr std::chrono::milliseconds linger{2000};
  static constexpr size_t max_idle_monitors = 4096;

  gateway_state(transport_callee& out, python_service& py, std::string node_name);

  /// Handles one message that `conn` sent to the registered name `to_name`.
  /// A `total_size` above `size` says the message was too large and only its
  /// first `size` bytes were kept: a call then gets a `bad_term` error reply.
  void on_message(uint64_t conn, const std::string& to_name, const uint8_t* data, size_t size,
                  size_t total_size = 0);

  /// Sends the reply of the call `key` (if its connection is still there).
  /// Thread-safe.
  void on_completion(uint64_t key, result<value> outcome);

  /// Sends the batched replies gathered since the last call, one message per
  /// batcher. The loop thread calls it at the end of each turn; replies that
  /// complete on other threads leave at once.
  void flush_replies();

  /// Cancels every call of `conn`; their completions are then dropped.
  void on_disconnect(uint64_t conn);

  /// The caller monitored as `ref_id` on `conn` died: cancels its calls.
  void on_monitor_down(uint64_t conn, uint64_t ref_id);

  /// Removes the monitors of callers idle since before `now - linger` (and
  /// the oldest idle ones past `max_idle_monitors`). Returns when it next
  /// has work (clock::time_point::max() if none).
  clock::time_point sweep_idle(clock::time_point now);

  /// A snapshot of the counters. Thread-safe.
  protocol_stats stats() const;

  /// Calls started and not yet answered (a hint, without the lock).
  uint64_t in_flight_now() const { return in_flight_now_.load(std::memory_order_relaxed); }

  /// Records per-stage times of the next calls (at most 200,000): request
  /// decoded and parsed, booked in the gateway's tables, submitted to the
  /// runtime, completed, reply encoded, reply written (or queued).
  /// Thread-safe.
  void trace_stages(bool on);

  /// Medians (and 90th percentiles) of the recorded stages in microseconds,
  /// one line; empty if none were recorded. Thread-safe.
  std::string stage_report() const;

private:
  struct caller;

  struct pending {
    clock::time_point t_in, t_decoded, t_booked, t_submitted; // only when tracing stages
    uint64_t conn = 0;
    caller* owner = nullptr;  // its caller: callers_ keeps it while the call is pending
    std::vector<uint8_t> tag; // the reply tag, byte for byte (no version byte)
    uint64_t handle = 0;
    bool batched = false;     // an entry of a batch: replied to as {Id, Reply}
    uint32_t batch_id = 0;
  };

  /// Replies gathered for one batcher (see flush_replies).
  struct reply_batch {
    uint64_t conn = 0;
    std::shared_ptr<const erl_pid> to;
    std::vector<uint8_t> entries; // encoded {Id, Reply} terms, no version byte
    uint32_t count = 0;
  };

  /// A monitored caller process (one per connection and pid). Its calls in
  /// flight are the keys in `keys` and the values of `batch_keys`.
  struct caller {
    uint64_t conn = 0;
    uint64_t ref_id = 0;
    std::shared_ptr<const erl_pid> pid; // shared with the replies on their way
    const std::string* key = nullptr;   // its key in callers_ (a node's key: stable)
    std::unordered_set<uint64_t> keys;  // calls in flight that batch_keys does not hold
    std::unordered_map<uint32_t, uint64_t> batch_keys; // a batcher's entry ids -> keys
    clock::time_point idle_since{};     // when it last had no call in flight
    bool idle() const { return keys.empty() && batch_keys.empty(); }
  };

  /// A parsed batch entry, booked and submitted with the others of its batch.
  struct batch_call {
    uint32_t id = 0;
    uint64_t key = 0;
    bridge_request req;
  };

  /// Encodes and sends `{Tag, Body}` to `to` (counted as a reply).
  void reply(uint64_t conn, const erl_pid& to, const std::vector<uint8_t>& tag,
             const value& body);
  /// Counts one more bad term.
  void count_bad_term();
  /// The caller record of `from` on `conn`, made (and monitored) if new.
  /// Caller holds mtx_.
  caller& caller_locked(uint64_t conn, const std::string& caller_key,
                        const std::shared_ptr<const erl_pid>& from);
  /// Books and submits a `$gen_call`.
  void start_call(uint64_t conn, erl_pid from, std::vector<uint8_t> tag, bridge_request req,
                  clock::time_point t_in);
  /// Books the parsed entries of one batch from `batcher` under one lock,
  /// then submits them in order.
  void start_batch(uint64_t conn, const std::shared_ptr<const erl_pid>& batcher,
                   const std::string& caller_key, std::vector<batch_call>& calls);
  /// Handles `{'$pyactor_batch', ...}` or `{'$pyactor_cancel', ...}`; `at`
  /// is the offset after the marker atom (protocol_batch.cpp).
  void on_batch(uint64_t conn, const uint8_t* data, size_t size, size_t at);
  void on_cancel(uint64_t conn, const uint8_t* data, size_t size, size_t at);
  /// Queues `{Id, Body}` for the batcher `to` (caller key `caller_key`);
  /// sent at the next flush_replies, or now when not on the loop thread.
  /// Counts as a reply.
  void queue_batched_reply(uint64_t conn, const std::shared_ptr<const erl_pid>& to,
                           const std::string& caller_key, uint32_t id, const value& body);
  /// Appends `{Id, Body}` (`body` encoded, no version byte) to the replies
  /// gathered for `caller_key`. Caller holds mtx_.
  void append_reply_locked(uint64_t conn, const std::shared_ptr<const erl_pid>& to,
                           const std::string& caller_key, uint32_t id,
                           const std::vector<uint8_t>& body);
  /// Takes the replies gathered for `caller_key` out (for sending once the
  /// lock is released); an empty batch if none. Caller holds mtx_.
  reply_batch take_batch_locked(const std::string& caller_key);
  void send_batch(reply_batch b);
  /// The answer to a batch entry whose call completed: a batched one.
  void complete_batched(uint64_t key, result<value> outcome);
  /// Forgets the call `key` (pending `p`) of its caller; true if that
  /// emptied the caller, which turns idle (and may be swept: `p.owner` is
  /// then gone).
  bool release_caller(uint64_t key, const pending& p);
  clock::time_point sweep_idle_locked(clock::time_point now);
  /// The bookkeeping of on_disconnect and on_monitor_down; return the
  /// handles to cancel once the lock is released.
  std::vector<uint64_t> disconnect_locked(uint64_t conn);
  std::vector<uint64_t> monitor_down_locked(uint64_t conn, uint64_t ref_id);
  /// Cancels the pending calls of `c` (appending their handles); the caller
  /// record stays. Caller holds mtx_.
  void cancel_calls_locked(caller& c, std::vector<uint64_t>& handles);
  void drop_caller(caller& c, bool demonitor);

  mutable std::mutex mtx_; // guards everything below except out_, py_, node_name_
  transport_callee& out_;
  python_service& py_;
  std::string node_name_;
  /// Keys of batch entries are odd, of `$gen_call`s even (on_completion
  /// tells them apart before it takes the lock).
  uint64_t next_key_ = 1;
  std::unordered_map<uint64_t, pending> pending_;
  std::unordered_map<std::string, caller> callers_;  // by connection and pid bytes
  std::unordered_map<uint64_t, caller*> caller_by_ref_; // by monitor ref id
  std::deque<std::pair<uint64_t, clock::time_point>> idle_; // ref ids, oldest first
  uint64_t next_ref_ = 1;
  protocol_stats stats_;
  std::atomic<uint64_t> in_flight_now_{0};
  std::unordered_map<std::string, reply_batch> reply_batches_; // by caller key
  std::atomic<std::thread::id> loop_thread_{}; // set by flush_replies
  /// on_batch's buffers (loop thread only), kept between batches.
  std::vector<batch_call> batch_calls_;
  std::vector<std::pair<uint64_t, uint64_t>> batch_handles_;
  std::atomic<bool> replies_waiting_{false};   // reply_batches_ may be non-empty
  bool trace_ = false;
  /// Samples in µs: decode, book, submit, python, encode, write.
  static constexpr size_t stage_count = 6;
  std::vector<float> stages_[stage_count];
};

} // namespace pyactor::erlbridge
