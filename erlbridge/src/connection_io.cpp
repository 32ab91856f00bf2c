// The gateway's connection I/O: reading frames and handing them to the
// protocol, and each connection's combining writer (see gateway_impl.hpp).
#include "gateway_impl.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <sys/uio.h>

#include "pyactor/erlbridge/dist_frame.hpp"

namespace pyactor::erlbridge {

namespace {

/// How much a frame's buffer grows by at first: 1 MiB and room for the
/// message's header, so that a 1 MiB binary is read into one allocation.
constexpr size_t first_step = (size_t{1} << 20) + 65536;

uint32_t get32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}

} // namespace

std::shared_ptr<gateway::impl::output> gateway::impl::output_of(uint64_t id) {
  if (on_loop()) { // the only thread that changes the map
    auto c = find(id);
    return c == nullptr ? nullptr : c->o;
  }
  std::lock_guard<std::mutex> guard{conns_mtx};
  auto i = conns.find(id);
  return i == conns.end() ? nullptr : i->second.o;
}

void gateway::impl::mark_dirty(connection& c) {
  if (!c.dirty) {
    c.dirty = true;
    dirty.push_back(c.id);
  }
}

void gateway::impl::after_queue(uint64_t conn, output& o, std::unique_lock<std::mutex>& lock) {
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

bool gateway::impl::write_out(output& o, std::unique_lock<std::mutex>& lock) {
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
  std::vector<uint8_t> recycled;
  bool ok = true;
  bool blocked = false;
  // A bounded number of turns: a writer that other senders keep feeding
  // leaves the rest to the loop.
  for (int turn = 0; turn < 8 && !o.out.empty() && ok && !blocked && !o.closed; ++turn) {
    batch.swap(o.out);
    lock.unlock();
    size_t written = 0;
    ok = write_batch(o, batch, written, blocked, recycled);
    lock.lock();
    if (o.spare.capacity() == 0 && recycled.capacity() != 0)
      o.spare = std::move(recycled);
    recycled = {};
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

bool gateway::impl::write_batch(output& o, std::deque<chunk>& batch, size_t& written,
                                bool& blocked, std::vector<uint8_t>& recycled) {
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
    auto t0 = trace_writes ? clock::now() : clock::time_point{};
    auto w = ::writev(o.fd, iov, n);
    if (trace_writes) {
      auto us = std::chrono::duration<float, std::micro>(clock::now() - t0).count();
      std::lock_guard<std::mutex> guard{trace_mtx};
      if (writev_us.size() < 200000)
        writev_us.push_back(us);
    }
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
      if (f.from != f.data.size())
        break;
      if (f.appendable && recycled.capacity() == 0 && f.data.capacity() <= 4 * small_limit)
        recycled = std::move(f.data);
      batch.pop_front();
    }
  }
  return true;
}

void gateway::impl::post(uint64_t key, result<value> outcome) {
  // Few calls in flight (latency counts): the reply leaves from this
  // thread, with no hop to the loop. Many (throughput counts): the loop
  // answers them in batches, a connection's replies in one write (fewer
  // system calls on both ends).
  // On the loop (it read the reply itself): answered now, written at the
  // end of its turn with the connection's other output.
  if (on_loop() || state->in_flight_now() <= direct_limit) {
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

void gateway::impl::send(uint64_t conn, const erl_pid& to, outgoing_message msg) {
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

void gateway::impl::monitor_frame(uint64_t conn, int op, const erl_pid& who, uint64_t ref_id) {
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

void gateway::impl::monitor(uint64_t conn, const erl_pid& who, uint64_t ref_id) {
  monitor_frame(conn, dop::monitor_p, who, ref_id);
}

void gateway::impl::demonitor(uint64_t conn, const erl_pid& who, uint64_t ref_id) {
  monitor_frame(conn, dop::demonitor_p, who, ref_id);
}

void gateway::impl::flush_dirty() {
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

bool gateway::impl::handle_frame(connection& c, const uint8_t* d, size_t n) {
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
      py->offer_reading(state->in_flight_now() < read_limit);
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

bool gateway::impl::read_connection(connection& c) {
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
      // Never more than double what arrived (or 1 MiB and a header) at
      // once: the length a frame claims is not trusted with memory.
      if (frame_end > c.in_used && frame_end - whole <= 4 + max_frame)
        want = std::max(want, std::min(frame_end,
                                       c.in_used + std::max(c.in_used, first_step)));
    }
    c.in.reserve(want, c.in_used);
    auto room = c.in.capacity() - c.in_used;
    auto r = ::read(c.fd, c.in.data() + c.in_used, room);
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
    // A read that left room took all the socket had: the next poll tells
    // of more (no read that only says EAGAIN, a system call per message).
    if (static_cast<size_t>(r) < room || static_cast<size_t>(r) >= budget)
      break; // (or: let the other connections have a turn)
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
  if (c.in.capacity() > input_keep && c.in_used < input_base)
    c.in.shrink(input_base, c.in_used); // a very large frame's buffer goes back now
  if (tick)
    queue_tick(c);
  return true;
}

bool gateway::impl::skip_oversized(connection& c, size_t from) {
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

void gateway::impl::queue_tick(connection& c) {
  std::lock_guard<std::mutex> guard{c.o->mtx};
  if (c.o->out_bytes > 0)
    return; // the queued output is as good as a tick
  auto& buf = small_chunk(*c.o);
  buf.insert(buf.end(), {0, 0, 0, 0});
  c.o->out_bytes += 4;
  mark_dirty(c);
}

} // namespace pyactor::erlbridge
