// The C-node transport: handshakes (ei) on threads of their own
// (handshakes.cpp), then one poll loop over every Erlang connection that reads
// the frames itself, non-blocking, with a buffer each way per connection: a
// peer that stalls mid-frame, or does not read, holds up nobody else. Replies
// leave from the thread that completed the call while few are in flight, in
// batches from the loop otherwise, through each connection's combining writer.
#include "pyactor/erlbridge/gateway.hpp"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <mutex>
#include <random>
#include <thread>
#include <unordered_map>
#include <vector>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <ei.h>

#include "ei_socket.hpp"
#include "handshakes.hpp"
#include "node_setup.hpp"
#include "pyactor/erlbridge/dist_frame.hpp"
#include "pyactor/erlbridge/protocol.hpp"

namespace pyactor::erlbridge {

namespace {

/// Bytes read from one connection before the loop looks at the others.
constexpr size_t read_budget = size_t{4} << 20;
/// Largest frame: the codec's 64 MiB limit plus room for the control message.
constexpr size_t max_frame = (size_t{64} << 20) + 65536;
/// Output a connection may have queued (it does not read) before it is closed.
constexpr size_t max_queued_output = size_t{512} << 20;
/// Small frames are gathered into chunks of about this size; larger reply
/// bodies are queued as they are.
constexpr size_t small_limit = 16384;
/// Send a tick to a peer after this long without output.
constexpr std::chrono::seconds tick_interval{15};

uint32_t get32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}

unsigned to_ms(std::chrono::milliseconds d) {
  return static_cast<unsigned>(d.count() > 0 ? d.count() : 1);
}

} // namespace

struct gateway::impl : transport_callee {
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
    size_t out_bytes = 0;   // bytes queued and being written
    clock::time_point last_write;
  };

  // -- loop thread only (the map also under conns_mtx: see output_of) ---------
  struct connection {
    uint64_t id = 0;
    int fd = -1;
    std::string peer;
    std::shared_ptr<output> o;
    std::vector<uint8_t> in; // bytes read and not yet handled: [0, in_used)
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
  std::shared_ptr<output> output_of(uint64_t id) {
    if (on_loop()) { // the only thread that changes the map
      auto c = find(id);
      return c == nullptr ? nullptr : c->o;
    }
    std::lock_guard<std::mutex> guard{conns_mtx};
    auto i = conns.find(id);
    return i == conns.end() ? nullptr : i->second.o;
  }

  void mark_dirty(connection& c) {
    if (!c.dirty) {
      c.dirty = true;
      dirty.push_back(c.id);
    }
  }

  /// The chunk small frames go into (the last one, if it still takes more).
  /// Caller holds o.mtx.
  static std::vector<uint8_t>& small_chunk(output& o) {
    if (o.out.empty() || !o.out.back().appendable || o.out.back().data.size() > small_limit)
      o.out.push_back(chunk{{}, 0, true});
    return o.out.back().data;
  }

  /// After a frame was queued on `conn` (o.mtx held by `lock`): the loop
  /// writes at the end of its turn (gathering its frames into one write);
  /// any other thread writes now, unless another writer or POLLOUT will.
  void after_queue(uint64_t conn, output& o, std::unique_lock<std::mutex>& lock) {
    if (on_loop()) {
      if (auto c = find(conn))
        mark_dirty(*c);
      return;
    }
    if (!write_out(o, lock)) {
      lock.unlock();
      {
        std::lock_guard<std::mutex> guard{mtx};
        broken.push_back(conn);
      }
      wake(); // the loop closes it
    }
  }

  /// Becomes `o`'s writer (unless there is one, or POLLOUT is awaited) and
  /// writes what is queued without blocking; takes `lock` (on o.mtx) and
  /// returns with it held. False if the connection failed: the caller has
  /// the loop close it. Wakes the loop when the socket is full.
  bool write_out(output& o, std::unique_lock<std::mutex>& lock) {
    if (o.writing || o.want_write.load() || o.closed)
      return true;
    if (o.failed)
      return false;
    if (o.out_bytes > max_queued_output) {
      log("connection from " + o.peer + " does not read its replies ("
          + std::to_string(o.out_bytes >> 20) + " MiB queued): closing it");
      o.failed = true;
      return false;
    }
    o.writing = true;
    std::deque<chunk> batch;
    bool ok = true;
    bool blocked = false;
    // A bounded number of turns: a writer that other senders keep feeding
    // leaves the rest to the loop.
    for (int turn = 0; turn < 8 && !o.out.empty() && ok && !blocked && !o.closed; ++turn) {
      batch.swap(o.out);
      lock.unlock();
      size_t written = 0;
      ok = write_batch(o, batch, written, blocked);
      lock.lock();
      o.out_bytes -= written;
      if (written > 0)
        o.last_write = clock::now();
      if (!batch.empty()) { // not all taken: back in front, in order
        for (auto i = batch.rbegin(); i != batch.rend(); ++i)
          o.out.push_front(std::move(*i));
        batch.clear();
      }
    }
    o.writing = false;
    if (o.closed) { // the loop dropped it meanwhile and left the fd to us
      ei_close_connection(o.fd);
      o.out.clear();
      o.out_bytes = 0;
      return true;
    }
    if (!ok) {
      o.failed = true;
      return false;
    }
    if (blocked || !o.out.empty()) {
      o.want_write = true; // POLLOUT (or the loop's next turn) writes the rest
      wake();
    }
    return true;
  }

  /// Writes `batch` to `o.fd` without blocking (no lock held; only the
  /// writer touches `batch`). Written chunks leave `batch`; `written` counts
  /// the bytes. False on a write error.
  bool write_batch(output& o, std::deque<chunk>& batch, size_t& written, bool& blocked) {
    while (!batch.empty()) {
      iovec iov[64];
      int n = 0;
      for (auto it = batch.begin(); it != batch.end() && n < 64; ++it) {
        if (it->data.size() == it->from)
          continue;
        iov[n].iov_base = it->data.data() + it->from;
        iov[n].iov_len = it->data.size() - it->from;
        ++n;
      }
      if (n == 0) {
        batch.clear();
        break;
      }
      auto w = ::writev(o.fd, iov, n);
      if (w < 0) {
        if (errno == EINTR)
          continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
          blocked = true;
          return true;
        }
        log("cannot write to " + o.peer + ": " + std::strerror(errno)
            + ": closing that connection");
        return false;
      }
      auto left = static_cast<size_t>(w);
      written += left;
      while (!batch.empty()) {
        auto& f = batch.front();
        auto take = std::min(left, f.data.size() - f.from);
        f.from += take;
        left -= take;
        if (f.from == f.data.size())
          batch.pop_front();
        else
          break;
      }
    }
    return true;
  }

  // -- transport_callee -------------------------------------------------------

  void post(uint64_t key, result<value> outcome) override {
    // Few calls in flight (latency counts): the reply leaves from this
    // thread, with no hop to the loop. Many (throughput counts): the loop
    // answers them in batches, a connection's replies in one write (fewer
    // system calls on both ends).
    if (state->in_flight_now() <= direct_limit) {
      state->on_completion(key, std::move(outcome));
      return;
    }
    bool was_empty;
    {
      std::lock_guard<std::mutex> guard{mtx};
      was_empty = completions.empty();
      completions.emplace_back(key, std::move(outcome));
    }
    // The loop takes every queued completion per wake-up: only the first
    // one after it emptied the queue needs to wake it.
    if (was_empty)
      wake();
  }

  void send(uint64_t conn, const erl_pid& to, outgoing_message msg) override {
    auto o = output_of(conn);
    if (o == nullptr)
      return; // the caller's node went away; its calls were cancelled
    std::unique_lock<std::mutex> lock{o->mtx};
    if (o->closed)
      return;
    auto& buf = small_chunk(*o);
    auto before = buf.size();
    append_send_head(buf, to.raw.data(), to.raw.size(), msg.size());
    buf.insert(buf.end(), msg.head.begin(), msg.head.end());
    auto body_size = msg.body.size() - msg.body_from;
    if (body_size <= small_limit) {
      buf.insert(buf.end(), msg.body.begin() + static_cast<long>(msg.body_from), msg.body.end());
      o->out_bytes += buf.size() - before;
    } else {
      o->out_bytes += buf.size() - before + body_size;
      o->out.push_back(chunk{std::move(msg.body), msg.body_from, false}); // no copy
    }
    after_queue(conn, *o, lock);
  }

  void monitor_frame(uint64_t conn, int op, const erl_pid& who, uint64_t ref_id) {
    auto o = output_of(conn);
    // Peers without both monitor flags (C-nodes built on ei) would not
    // report a death, and ei fails on a MONITOR_P naming a pid: such
    // callers are watched through their connection only.
    if (o == nullptr || !o->monitors)
      return;
    std::unique_lock<std::mutex> lock{o->mtx};
    if (o->closed)
      return;
    auto& buf = small_chunk(*o);
    auto before = buf.size();
    append_monitor_frame(buf, op, self_pid, who.raw.data(), who.raw.size(),
                         encode_own_ref(self, ref_id));
    o->out_bytes += buf.size() - before;
    after_queue(conn, *o, lock);
  }

  void monitor(uint64_t conn, const erl_pid& who, uint64_t ref_id) override {
    monitor_frame(conn, dop::monitor_p, who, ref_id);
  }

  void demonitor(uint64_t conn, const erl_pid& who, uint64_t ref_id) override {
    monitor_frame(conn, dop::demonitor_p, who, ref_id);
  }

  void flush_dirty() {
    auto ids = std::move(dirty);
    dirty.clear();
    for (auto id : ids) {
      auto c = find(id);
      if (c == nullptr)
        continue;
      c->dirty = false;
      bool ok;
      {
        std::unique_lock<std::mutex> lock{c->o->mtx};
        ok = write_out(*c->o, lock);
      }
      if (!ok)
        close_connection(id);
    }
  }

  void close_connection(uint64_t id) {
    auto i = conns.find(id);
    if (i == conns.end())
      return;
    log("connection from " + i->second.peer + " closed");
    auto o = std::move(i->second.o);
    {
      std::lock_guard<std::mutex> guard{conns_mtx};
      conns.erase(i);
    }
    {
      // Under its lock: no thread starts a write after this; one writing
      // now closes the fd when it is done.
      std::lock_guard<std::mutex> guard{o->mtx};
      o->closed = true;
      if (!o->writing) {
        o->out.clear();
        o->out_bytes = 0;
        ei_close_connection(o->fd);
      }
    }
    state->on_disconnect(id);
  }

  /// Handles one frame body (after its length). False: the peer broke the
  /// protocol and the connection must close.
  bool handle_frame(connection& c, const uint8_t* d, size_t n) {
    dist_control ctl;
    std::string problem;
    if (!parse_dist_frame(d, n, ctl, problem)) {
      log("connection from " + c.peer + " sent a malformed frame (" + problem
          + "): closing it");
      return false;
    }
    switch (ctl.op) {
      case dop::reg_send:
      case dop::reg_send_tt:
        state->on_message(c.id, ctl.to_name, d + ctl.payload, n - ctl.payload);
        break;
      case dop::monitor_p_exit:
      case dop::payload_monitor_p_exit: {
        uint64_t ref_id = 0;
        if (parse_own_ref(d + ctl.ref.at, ctl.ref.size, self, ref_id))
          state->on_monitor_down(c.id, ref_id);
        break;
      }
      default:
        // links, exits, sends to pids, monitors of `py`: the gateway has no
        // processes that could act on them
        break;
    }
    return true;
  }

  /// Reads what `c` has (up to a budget per wake-up) and handles every whole
  /// frame. False if the connection closed or failed.
  bool read_connection(connection& c) {
    size_t budget = read_budget;
    size_t whole = 0; // the bytes of complete frames at the front of `in`
    for (;;) {
      // Room for the rest of the incomplete frame (as its bytes come), at
      // least 64 KiB. It may follow complete ones: a gen_server:call sends
      // its MONITOR_P right before a large request.
      size_t want = c.in_used + 65536;
      if (c.skip_left == 0) {
        size_t frame_end = 0;
        while (c.in_used - whole >= 4) {
          frame_end = whole + 4 + size_t{get32(c.in.data() + whole)};
          if (frame_end > c.in_used || frame_end - whole > 4 + max_frame)
            break;
          whole = frame_end;
        }
        if (frame_end > c.in_used && frame_end - whole <= 4 + max_frame)
          want = std::max(want, std::min(frame_end,
                                         c.in_used + std::max(c.in_used, size_t{1} << 20)));
      }
      if (c.in.size() < want)
        c.in.resize(want);
      auto r = ::read(c.fd, c.in.data() + c.in_used, c.in.size() - c.in_used);
      if (r < 0) {
        if (errno == EINTR)
          continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
          break;
        log("cannot read from " + c.peer + ": " + std::strerror(errno));
        return false;
      }
      if (r == 0)
        return false; // the peer closed the connection
      c.in_used += static_cast<size_t>(r);
      c.last_read = clock::now();
      if (c.skip_left > 0 && !skip_oversized(c, 0))
        return false;
      if (static_cast<size_t>(r) >= budget)
        break; // let the other connections have a turn
      budget -= static_cast<size_t>(r);
    }
    size_t at = 0;
    bool tick = false;
    while (c.skip_left == 0 && c.in_used - at >= 4) {
      size_t len = get32(c.in.data() + at);
      if (len > max_frame) {
        // Keep its head (the caller and tag) for the error reply; drop the rest.
        size_t head = std::min(len, size_t{65536});
        if (c.in_used - at - 4 < head)
          break;
        c.oversized.assign(c.in.data() + at + 4, c.in.data() + at + 4 + head);
        c.oversized_total = len;
        c.skip_left = len;
        if (!skip_oversized(c, at + 4))
          return false;
        at = 0;
        continue;
      }
      if (c.in_used - at - 4 < len)
        break;
      if (len == 0)
        tick = true;
      else if (!handle_frame(c, c.in.data() + at + 4, len))
        return false;
      at += 4 + len;
    }
    if (at > 0) {
      std::memmove(c.in.data(), c.in.data() + at, c.in_used - at);
      c.in_used -= at;
    }
    if (c.in.size() > (size_t{1} << 20) && c.in_used < 65536) {
      c.in.resize(65536); // a large frame's buffer goes back
      c.in.shrink_to_fit();
    }
    if (tick)
      queue_tick(c);
    return true;
  }

  /// Drops the bytes of an oversized frame that are in `c.in` from `from` on;
  /// once all of it has passed, answers it. False if the connection failed.
  bool skip_oversized(connection& c, size_t from) {
    auto drop = std::min(c.skip_left, c.in_used - from);
    std::memmove(c.in.data(), c.in.data() + from + drop, c.in_used - from - drop);
    c.in_used -= from + drop;
    c.skip_left -= drop;
    if (c.skip_left > 0)
      return true;
    log("connection from " + c.peer + " sent a message of " + std::to_string(c.oversized_total)
        + " bytes (at most " + std::to_string(max_frame) + "): answered with an error");
    dist_control ctl;
    std::string problem;
    auto& h = c.oversized;
    // The head is cut short, so only the control and the call's header count.
    if (parse_dist_frame(h.data(), h.size(), ctl, problem)
        && (ctl.op == dop::reg_send || ctl.op == dop::reg_send_tt))
      state->on_message(c.id, ctl.to_name, h.data() + ctl.payload, h.size() - ctl.payload,
                        c.oversized_total - ctl.payload);
    h.clear();
    h.shrink_to_fit();
    return true;
  }

  void queue_tick(connection& c) {
    std::lock_guard<std::mutex> guard{c.o->mtx};
    if (c.o->out_bytes > 0)
      return; // the queued output is as good as a tick
    auto& buf = small_chunk(*c.o);
    buf.insert(buf.end(), {0, 0, 0, 0});
    c.o->out_bytes += 4;
    mark_dirty(c);
  }

  void adopt_accepted() {
    std::vector<std::pair<int, std::string>> fresh;
    {
      std::lock_guard<std::mutex> guard{mtx};
      fresh.swap(accepted);
    }
    for (auto& [fd, peer] : fresh) {
      auto flags = ::fcntl(fd, F_GETFL);
      ::fcntl(fd, F_SETFL, flags | O_NONBLOCK);
      auto id = next_conn++;
      auto o = std::make_shared<output>();
      o->fd = fd;
      o->peer = peer;
      o->monitors = (peer_dist_flags(fd) & dflags_monitors) == dflags_monitors;
      o->last_write = clock::now();
      std::lock_guard<std::mutex> guard{conns_mtx};
      auto& c = conns[id];
      c.id = id;
      c.fd = fd;
      c.peer = peer;
      c.o = std::move(o);
      c.last_read = clock::now();
      log("connection from " + peer);
    }
  }

  /// After a wake-up: adopts new connections, closes broken ones, answers
  /// queued completions.
  void on_wake() {
    uint64_t counter = 0;
    [[maybe_unused]] auto n = ::read(wake_fd, &counter, sizeof(counter));
    adopt_accepted();
    std::vector<uint64_t> failed;
    {
      std::lock_guard<std::mutex> guard{mtx};
      failed.swap(broken);
      batch.swap(completions);
    }
    for (auto id : failed)
      close_connection(id);
    for (auto& [key, outcome] : batch)
      state->on_completion(key, std::move(outcome));
    batch.clear();
  }

  /// Ticks to quiet peers, and closes peers silent for too long. Returns the
  /// next time this has work.
  clock::time_point keep_alive(clock::time_point now) {
    to_close.clear();
    for (auto& [id, c] : conns) {
      if (now - c.last_read > opts.peer_silence) {
        log("connection from " + c.peer + " silent for "
            + std::to_string(opts.peer_silence.count()) + " ms: closing it");
        to_close.push_back(id);
      } else {
        bool quiet;
        {
          std::lock_guard<std::mutex> guard{c.o->mtx};
          quiet = now - c.o->last_write > tick_interval && c.o->out_bytes == 0;
        }
        if (quiet)
          queue_tick(c);
      }
    }
    for (auto id : to_close)
      close_connection(id);
    return now + tick_interval / 2;
  }

  /// Reads what epmd sent on the registration connection; true if it closed.
  bool epmd_closed() {
    char buf[64];
    auto n = ::recv(epmd_fd, buf, sizeof(buf), MSG_DONTWAIT);
    return n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK);
  }

  bool stdin_closed() {
    char buf[256];
    auto n = ::read(0, buf, sizeof(buf));
    return n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN);
  }

  void run() {
    loop_thread = std::this_thread::get_id();
    std::vector<pollfd> fds;
    std::vector<uint64_t> ids;
    auto next_keep_alive = clock::now() + tick_interval / 2;
    auto next_sweep = clock::time_point::max();
    while (!stopping.load()) {
      fds.clear();
      ids.clear();
      fds.push_back({wake_fd, POLLIN, 0});
      if (opts.stop_fd >= 0)
        fds.push_back({opts.stop_fd, POLLIN, 0});
      if (opts.exit_with_stdin)
        fds.push_back({0, POLLIN, 0});
      if (epmd_fd >= 0)
        fds.push_back({epmd_fd, POLLIN, 0});
      auto first_conn = fds.size();
      for (auto& [id, c] : conns) {
        fds.push_back(
          {c.fd, static_cast<short>(POLLIN | (c.o->want_write.load() ? POLLOUT : 0)), 0});
        ids.push_back(id);
      }
      auto now = clock::now();
      auto next = std::min(next_keep_alive, next_sweep);
      auto wait_ms = next <= now ? 0
                                 : std::chrono::duration_cast<std::chrono::milliseconds>(next - now)
                                       .count() + 1;
      auto rc = ::poll(fds.data(), fds.size(), static_cast<int>(wait_ms));
      if (rc < 0) {
        if (errno == EINTR)
          continue;
        log(std::string{"poll failed: "} + std::strerror(errno));
        break;
      }
      for (size_t i = 0; i < first_conn; ++i) {
        if (fds[i].revents == 0)
          continue;
        if (fds[i].fd == wake_fd) {
          on_wake();
        } else if (fds[i].fd == opts.stop_fd) {
          log("stop requested");
          stopping = true;
        } else if (fds[i].fd == 0) {
          if (stdin_closed()) {
            log("stdin closed (the Erlang port owner went away): stopping");
            stopping = true;
          }
        } else if (fds[i].fd == epmd_fd && epmd_closed()) {
          log("epmd closed the registration of " + node_name + ": registering again");
          ::close(epmd_fd);
          epmd_fd = ei_publish_tmo(&ec, port, to_ms(opts.io_timeout));
          if (epmd_fd < 0)
            log("cannot register " + node_name + " with epmd again; serving open connections");
        }
      }
      for (size_t i = first_conn; i < fds.size() && !stopping.load(); ++i) {
        if (fds[i].revents == 0)
          continue;
        auto c = find(ids[i - first_conn]);
        if (c == nullptr)
          continue; // closed meanwhile
        if ((fds[i].revents & POLLOUT) != 0) {
          std::lock_guard<std::mutex> guard{c->o->mtx};
          c->o->want_write = false;
          mark_dirty(*c);
        }
        if ((fds[i].revents & (POLLIN | POLLHUP | POLLERR)) != 0 && !read_connection(*c))
          close_connection(c->id);
      }
      now = clock::now();
      if (now >= next_keep_alive)
        next_keep_alive = keep_alive(now);
      next_sweep = state->sweep_idle(now); // demonitors go out with the flush
      flush_dirty();
    }
    shutdown_all();
  }

  void shutdown_all() {
    stopping = true;
    if (auto report = state->stage_report(); !report.empty())
      log(report);
    if (acceptor)
      acceptor->stop();
    std::vector<uint64_t> open;
    for (auto& [id, c] : conns)
      open.push_back(id);
    for (auto id : open)
      close_connection(id);
    for (auto& [fd, peer] : accepted)
      ei_close_connection(fd);
    accepted.clear();
  }
};

gateway::gateway(std::unique_ptr<impl> p) : impl_(std::move(p)) {
  // nop
}

gateway::~gateway() {
  impl_->stopping = true;
  if (impl_->acceptor)
    impl_->acceptor->stop();
}

result<std::unique_ptr<gateway>> gateway::start(gateway_options opts, python_service& py) {
  auto p = std::make_unique<impl>(std::move(opts));
  auto& o = p->opts;
  auto cookie = read_cookie(o);
  if (!cookie)
    return cookie.error();
  if (ei_init() != 0)
    return make_error(errc::not_running, "erl_interface failed to initialise (ei_init)");
  in_addr addr{};
  if (::inet_pton(AF_INET, o.listen_address.c_str(), &addr) != 1)
    return make_error(errc::bad_request, "listen address '" + o.listen_address
                                           + "' is not an IPv4 address");
  auto host = o.host.empty() ? default_host(o) : o.host;
  if (o.alive.empty() || o.alive.find('@') != std::string::npos)
    return make_error(errc::bad_request, "node name '" + o.alive + "' must be a plain name");
  p->node_name = o.alive + "@" + host;
  std::random_device rd;
  // A fresh creation per start: pids of an earlier incarnation never reach this one.
  auto creation = (static_cast<unsigned>(rd()) & 0x7fffffffu) | 4u;
  p->self = dist_identity{p->node_name, creation};
  p->self_pid = encode_own_pid(p->self, 1);
  auto cbs = gateway_socket_callbacks();
  if (ei_connect_xinit_ussi(&p->ec, host.c_str(), o.alive.c_str(), p->node_name.c_str(), &addr,
                            cookie.value().c_str(), creation, cbs, sizeof(*cbs), nullptr)
      < 0)
    return make_error(errc::bad_request, "cannot set up node " + p->node_name
                                           + " (ei_connect_xinit, erl_errno "
                                           + std::to_string(erl_errno) + ")");
  int port = 0;
  p->listen_fd = ei_xlisten(&p->ec, &addr, &port, 128);
  if (p->listen_fd < 0)
    return make_error(errc::bad_request, "cannot listen on " + o.listen_address + ": "
                                           + std::strerror(errno));
  p->port = port;
  // The acceptor accepts by itself (each handshake then on its own thread).
  ::fcntl(p->listen_fd, F_SETFL, ::fcntl(p->listen_fd, F_GETFL) | O_NONBLOCK);
  auto published = publish_with_epmd(p->ec, port, o, p->node_name);
  if (!published)
    return published.error();
  p->epmd_fd = published.value();
  p->wake_fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (p->wake_fd < 0)
    return make_error(errc::not_running, std::string{"eventfd: "} + std::strerror(errno));
  p->state = std::make_unique<gateway_state>(*p, py, p->node_name);
  if (auto e = std::getenv("PYACTOR_BRIDGE_DIRECT_REPLIES"); e != nullptr && *e != 0)
    p->direct_limit = std::strtoull(e, nullptr, 10);
  // PYACTOR_BRIDGE_STAGES=1: per-stage times of calls, reported on stop.
  if (auto e = std::getenv("PYACTOR_BRIDGE_STAGES"); e != nullptr && std::string{e} == "1")
    p->state->trace_stages(true);
  auto raw = p.get();
  p->acceptor = std::make_unique<handshakes>(
    p->ec, p->listen_fd, o.handshake_timeout,
    [raw](int fd, std::string node) {
      {
        std::lock_guard<std::mutex> guard{raw->mtx};
        raw->accepted.emplace_back(fd, std::move(node));
      }
      raw->wake();
    },
    [raw](const std::string& line) { raw->log(line); });
  p->acceptor->start();
  return std::unique_ptr<gateway>(new gateway(std::move(p)));
}

void gateway::run() {
  impl_->run();
}

void gateway::stop() {
  impl_->stopping = true;
  uint64_t one = 1;
  [[maybe_unused]] auto n = ::write(impl_->wake_fd, &one, sizeof(one));
}

const std::string& gateway::node_name() const {
  return impl_->node_name;
}

int gateway::port() const {
  return impl_->port;
}

} // namespace pyactor::erlbridge
