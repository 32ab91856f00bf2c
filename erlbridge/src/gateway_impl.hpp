// The gateway's internals, shared by its two halves: gateway.cpp (start,
// the poll loop, accepting, closing and keeping connections alive) and
// connection_io.cpp (reading and dispatching frames, and each connection's
// combining writer that replies leave through).
//
// The C-node transport: handshakes (ei) on threads of their own
// (handshakes.cpp), then one poll loop over every Erlang connection that reads
// the frames itself, non-blocking, with a buffer each way per connection: a
// peer that stalls mid-frame, or does not read, holds up nobody else. While
// few calls are in flight the loop also reads the workers' replies to the
// calls it submitted (it polls their channels: Erlang -> loop -> worker ->
// loop -> Erlang, no other thread on the way) and answers them in the same
// turn. Replies read by other threads leave from there while few are in
// flight, in batches from the loop otherwise, all through each connection's
// combining writer.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include <unistd.h>

#include <ei.h>

#include "handshakes.hpp"
#include "pyactor/erlbridge/dist_frame.hpp"
#include "pyactor/erlbridge/gateway.hpp"
#include "pyactor/erlbridge/protocol.hpp"

namespace pyactor::erlbridge {

/// A connection's input bytes. Grows without zero-filling (a 1 MiB frame is
/// read into memory nobody wrote first) and keeps its size between frames
/// until told to shrink. Not thread-safe.
class input_buffer {
public:
  uint8_t* data() { return data_.get(); }
  size_t capacity() const { return cap_; }

  /// Makes room for `n` bytes, keeping the first `used`.
  void reserve(size_t n, size_t used) {
    if (n > cap_)
      reallocate(n, used);
  }

  /// Gives back the memory beyond `n` bytes, keeping the first `used` (<= n).
  void shrink(size_t n, size_t used) {
    if (cap_ > n)
      reallocate(n, used);
  }

private:
  void reallocate(size_t n, size_t used) {
    std::unique_ptr<uint8_t[]> fresh{new uint8_t[n]};
    if (used > 0)
      std::memcpy(fresh.get(), data_.get(), used);
    data_ = std::move(fresh);
    cap_ = n;
  }

  std::unique_ptr<uint8_t[]> data_;
  size_t cap_ = 0;
};

/// The state of one gateway. The loop thread owns `conns` and everything
/// marked "loop thread only"; other threads (handshakes, completions) reach
/// it through `mtx`, `conns_mtx` and each connection's `output`.
struct gateway::impl : transport_callee {
  // -- limits --------------------------------------------------------------------

  /// Bytes read from one connection before the loop looks at the others.
  static constexpr size_t read_budget = size_t{4} << 20;
  /// Largest frame: the codec's 64 MiB limit plus room for the control message.
  static constexpr size_t max_frame = (size_t{64} << 20) + 65536;
  /// Output a connection may have queued (it does not read) before it is closed.
  static constexpr size_t max_queued_output = size_t{512} << 20;
  /// Small frames are gathered into chunks of about this size; larger reply
  /// bodies are queued as they are.
  static constexpr size_t small_limit = 16384;
  /// A connection's input buffer after its frames were handled: larger ones
  /// shrink to `input_base` at once, smaller ones at the next keep-alive (a
  /// caller sending 1 MiB messages one after the other reuses its buffer).
  static constexpr size_t input_keep = size_t{4} << 20;
  static constexpr size_t input_base = 65536;
  /// Send a tick to a peer after this long without output.
  static constexpr std::chrono::seconds tick_interval{15};

  gateway_options opts;
  ei_cnode ec{};
  std::string node_name;
  dist_identity self;
  std::vector<uint8_t> self_pid; // the watcher of our monitors
  int listen_fd = -1;
  int epmd_fd = -1;
  int wake_fd = -1;
  int port = 0;
  std::atomic<bool> stopping{false};
  std::unique_ptr<handshakes> acceptor;

  // -- shared between threads (guarded by mtx) --------------------------------
  std::mutex mtx;
  std::vector<std::pair<int, std::string>> accepted; // fd, peer node
  std::vector<uint64_t> broken; // connections a write failed on (closed by the loop)
  std::vector<std::pair<uint64_t, result<value>>> completions; // for the loop to answer

  using clock = std::chrono::steady_clock;
  struct chunk {
    std::vector<uint8_t> data;
    size_t from = 0;
    bool appendable = false; // small frames are gathered into one chunk
  };

  /// A connection's output side. The loop and the threads that complete
  /// calls all send through it (a reply leaves from the thread that has it):
  /// a sender appends its frames under the mutex (held only to append or to
  /// take the queue, never across a system call); if nobody is writing, it
  /// becomes the writer and writes what is queued, including what others
  /// append meanwhile, without blocking. Order per connection is the order
  /// of appends. What the socket does not take waits for the loop's POLLOUT.
  struct output {
    std::mutex mtx;
    int fd = -1;
    std::string peer;
    bool monitors = false;  // the peer handles MONITOR_P and sends MONITOR_P_EXIT
    bool closed = false;    // the loop dropped the connection: output is dropped
    bool failed = false;    // a write failed or too much is queued: the loop closes it
    bool writing = false;   // a thread writes outside the lock (it closes fd if `closed`)
    std::atomic<bool> want_write{false}; // the socket was full: the loop waits for POLLOUT
    std::deque<chunk> out;  // queued, not yet taken by a writer
    std::vector<uint8_t> spare; // a written small chunk's buffer, for the next one
    size_t out_bytes = 0;   // bytes queued and being written
    clock::time_point last_write;
  };

  // -- loop thread only (the map also under conns_mtx: see output_of) ---------
  struct connection {
    uint64_t id = 0;
    int fd = -1;
    std::string peer;
    std::shared_ptr<output> o;
    input_buffer in; // bytes read and not yet handled: [0, in_used)
    size_t in_used = 0;
    bool dirty = false; // has output the loop has not tried yet
    // A frame over max_frame: its first bytes (for the error reply), and how
    // many of its bytes are still to be read and dropped.
    std::vector<uint8_t> oversized;
    size_t oversized_total = 0;
    size_t skip_left = 0;
    clock::time_point last_read;
  };
  std::mutex conns_mtx; // the loop changes `conns` under it; other threads look up under it
  std::unordered_map<uint64_t, connection> conns; // by id
  std::thread::id loop_thread;
  std::vector<uint64_t> dirty;
  uint64_t next_conn = 1;
  std::unique_ptr<gateway_state> state;
  std::vector<uint64_t> to_close;
  std::vector<std::pair<uint64_t, result<value>>> batch;
  /// With at most this many calls in flight, a reply is written by the
  /// thread that completed its call; with more, the loop writes replies in
  /// batches. PYACTOR_BRIDGE_DIRECT_REPLIES overrides it (0: always the loop).
  uint64_t direct_limit = 4;
  /// With fewer than this many calls in flight, a call the loop submits
  /// offers the loop as the reader of its reply (python_service::
  /// offer_reading): the worker's reply then wakes the loop, which answers
  /// it in the same turn. PYACTOR_BRIDGE_LOOP_READS overrides it (0: never).
  uint64_t read_limit = 4;
  python_service* py = nullptr;
  /// PYACTOR_BRIDGE_STAGES=1: the writev system calls are timed too.
  bool trace_writes = false;
  std::mutex trace_mtx;
  std::vector<float> writev_us; // guarded by trace_mtx; at most 200,000

  impl(gateway_options o) : opts(std::move(o)) {
    // nop
  }

  ~impl() override {
    for (auto fd : {listen_fd, epmd_fd, wake_fd})
      if (fd >= 0)
        ::close(fd);
  }

  void log(const std::string& line) {
    if (opts.log)
      opts.log(line);
    else
      std::fprintf(stderr, "pyactor bridge: %s\n", line.c_str());
  }

  void wake() {
    uint64_t one = 1;
    // A full eventfd counter still wakes the loop; nothing else can fail here.
    [[maybe_unused]] auto n = ::write(wake_fd, &one, sizeof(one));
  }

  // -- output --------------------------------------------------------------------

  bool on_loop() const {
    return std::this_thread::get_id() == loop_thread;
  }

  connection* find(uint64_t id) {
    auto i = conns.find(id);
    return i == conns.end() ? nullptr : &i->second;
  }

  /// The output side of connection `id`, from any thread; null once closed.
  std::shared_ptr<output> output_of(uint64_t id);

  void mark_dirty(connection& c);

  /// The chunk small frames go into (the last one, if it still takes more).
  /// Caller holds o.mtx.
  static std::vector<uint8_t>& small_chunk(output& o) {
    if (o.out.empty() || !o.out.back().appendable || o.out.back().data.size() > small_limit) {
      // Reuses a written chunk's buffer, else one large enough for its
      // frames: no growth (allocations of 1 KiB and more are costly in
      // glibc: each merges the freed small chunks first).
      chunk c{std::move(o.spare), 0, true};
      o.spare = {};
      c.data.clear();
      c.data.reserve(small_limit + 4096);
      o.out.push_back(std::move(c));
    }
    return o.out.back().data;
  }

  /// After a frame was queued on `conn` (o.mtx held by `lock`): the loop
  /// writes at the end of its turn (gathering its frames into one write);
  /// any other thread writes now, unless another writer or POLLOUT will.
  void after_queue(uint64_t conn, output& o, std::unique_lock<std::mutex>& lock);

  /// Becomes `o`'s writer (unless there is one, or POLLOUT is awaited) and
  /// writes what is queued without blocking; takes `lock` (on o.mtx) and
  /// returns with it held. False if the connection failed: the caller has
  /// the loop close it. Wakes the loop when the socket is full.
  bool write_out(output& o, std::unique_lock<std::mutex>& lock);

  /// Writes `batch` to `o.fd` without blocking (no lock held; only the
  /// writer touches `batch`). Written chunks leave `batch` (the buffer of a
  /// small one into `recycled`, if that is empty); `written` counts the
  /// bytes. False on a write error.
  bool write_batch(output& o, std::deque<chunk>& batch, size_t& written, bool& blocked,
                   std::vector<uint8_t>& recycled);

  // -- transport_callee -------------------------------------------------------

  void post(uint64_t key, result<value> outcome) override;

  void send(uint64_t conn, const erl_pid& to, outgoing_message msg) override;

  void monitor_frame(uint64_t conn, int op, const erl_pid& who, uint64_t ref_id);

  void monitor(uint64_t conn, const erl_pid& who, uint64_t ref_id) override;

  void demonitor(uint64_t conn, const erl_pid& who, uint64_t ref_id) override;

  /// Writes the output the loop queued this turn (loop thread).
  void flush_dirty();

  // -- input (loop thread) ---------------------------------------------------------

  /// Drops connection `id`: its output is discarded, its calls cancelled.
  void close_connection(uint64_t id);

  /// Handles one frame body (after its length). False: the peer broke the
  /// protocol and the connection must close.
  bool handle_frame(connection& c, const uint8_t* d, size_t n);

  /// Reads what `c` has (up to a budget per wake-up) and handles every whole
  /// frame. False if the connection closed or failed.
  bool read_connection(connection& c);

  /// Drops the bytes of an oversized frame that are in `c.in` from `from` on;
  /// once all of it has passed, answers it. False if the connection failed.
  bool skip_oversized(connection& c, size_t from);

  /// Queues a tick (an empty frame) unless output is queued anyway.
  void queue_tick(connection& c);

  // -- the loop ----------------------------------------------------------------------

  /// Takes the connections whose handshakes finished.
  void adopt_accepted();

  /// After a wake-up: adopts new connections, closes broken ones, answers
  /// queued completions.
  void on_wake();

  /// Ticks to quiet peers, and closes peers silent for too long. Returns the
  /// next time this has work.
  clock::time_point keep_alive(clock::time_point now);

  /// Reads what epmd sent on the registration connection; true if it closed.
  bool epmd_closed();

  /// True once the port owner closed stdin (`--exit-with-stdin`).
  bool stdin_closed();

  /// The poll loop, until `stopping`.
  void run();

  /// The median/p90 of the timed writev calls, one line (empty if none).
  std::string writev_report();

  /// Closes every connection and stops the acceptor.
  void shutdown_all();
};

} // namespace pyactor::erlbridge
