// Batches of calls from the Erlang client's batcher process, and their
// batched replies (see protocol.hpp for the message forms).
#include "pyactor/erlbridge/protocol.hpp"

#include <algorithm>

#include "pyactor/codec/etf.hpp"

#include "header_reader.hpp"

namespace pyactor::erlbridge {

namespace {

using namespace detail;

/// Most entries one batch message may carry; those past it get an error
/// reply each (the client's batcher sends at most 512).
constexpr uint32_t max_batch_entries = 65536;

/// Smallest entry: SMALL_TUPLE 2, SMALL_INTEGER, an empty BINARY_EXT.
constexpr size_t min_entry_bytes = 2 + 2 + 5;

constexpr uint8_t binary_ext_tag = 109;
constexpr uint8_t string_ext_tag = 107;

/// Reads a list header at `at`: its length, and the offset of its first
/// element. A `[]` is a list of 0. False if neither.
bool read_list(const header_reader& r, size_t at, uint32_t& count, size_t& first) {
  if (at < r.n && r.d[at] == nil_ext) {
    count = 0;
    first = at + 1;
    return true;
  }
  if (at + 5 > r.n || r.d[at] != list_ext)
    return false;
  count = r.be(at + 1, 4);
  first = at + 5;
  return true;
}

/// Reads an entry id (SMALL_INTEGER_EXT, or INTEGER_EXT 0..2^31-1) at `at`;
/// returns the offset after it, 0 if none.
size_t read_id(const header_reader& r, size_t at, uint32_t& id) {
  if (at + 2 <= r.n && r.d[at] == small_integer_ext) {
    id = r.d[at + 1];
    return at + 2;
  }
  if (at + 5 <= r.n && r.d[at] == integer_ext && (r.d[at + 1] & 0x80) == 0) {
    id = r.be(at + 1, 4);
    return at + 5;
  }
  return 0;
}

void append_id(std::vector<uint8_t>& out, uint32_t id) {
  if (id < 256) {
    out.insert(out.end(), {small_integer_ext, static_cast<uint8_t>(id)});
    return;
  }
  out.insert(out.end(), {integer_ext, static_cast<uint8_t>(id >> 24),
                         static_cast<uint8_t>(id >> 16), static_cast<uint8_t>(id >> 8),
                         static_cast<uint8_t>(id)});
}

/// `{Tag, Term}` without the version byte, as the start of a message.
std::vector<uint8_t> tagged_head(const char* tag) {
  std::vector<uint8_t> head{codec_version, small_tuple_ext, 2, small_atom_utf8_ext};
  auto len = std::char_traits<char>::length(tag);
  head.push_back(static_cast<uint8_t>(len));
  head.insert(head.end(), tag, tag + len);
  return head;
}

value bad_term_reply(const std::string& why) {
  return error_reply(tuple{{atom{"bad_term"}, why}});
}

/// Parsed entries booked and submitted together (a bound on how long the
/// first entry of a large batch waits for the others to be decoded).
constexpr size_t booking_chunk = 64;

/// Appends `body` (a reply term) to `out` without the version byte; a body
/// that cannot be encoded becomes the error reply saying so.
void encode_reply(const value& body, std::vector<uint8_t>& out) {
  std::string problem;
  if (codec::append_etf(body, out, problem))
    return;
  codec::append_etf(error_reply(error_term(make_error(
                      errc::bad_request, "cannot encode the reply: " + problem))),
                    out, problem);
}

/// The reply term of a call's outcome, `{ok, Result}` or `{error, Reason}`,
/// appended to `out` (the result is encoded in place, not copied into a
/// tuple first).
void encode_outcome(const result<value>& outcome, std::vector<uint8_t>& out) {
  if (!outcome) {
    encode_reply(error_reply(error_term(outcome.error())), out);
    return;
  }
  auto before = out.size();
  out.insert(out.end(), {small_tuple_ext, 2, small_atom_utf8_ext, 2, 'o', 'k'});
  std::string problem;
  if (codec::append_etf(outcome.value(), out, problem))
    return;
  out.resize(before);
  encode_reply(error_reply(error_term(
                 make_error(errc::bad_request, "cannot encode the reply: " + problem))),
               out);
}

/// A reply's encoding, reused by the thread (one buffer per thread that
/// completes calls; a large reply's memory is given back after it).
std::vector<uint8_t>& reply_scratch() {
  thread_local std::vector<uint8_t> buf;
  if (buf.capacity() > (size_t{1} << 20))
    std::vector<uint8_t>{}.swap(buf);
  buf.clear();
  return buf;
}

} // namespace

void gateway_state::on_batch(uint64_t conn, const uint8_t* data, size_t size, size_t at) {
  header_reader r{data, size};
  auto pid_end = r.skip_pid(at);
  erl_pid parsed_pid;
  if (pid_end == 0 || !parse_pid(data + at, pid_end - at, parsed_pid)) {
    count_bad_term(); // nobody to answer
    return;
  }
  std::string ck = std::to_string(conn) + ":";
  ck.append(parsed_pid.raw.begin(), parsed_pid.raw.end());
  auto batcher = std::make_shared<const erl_pid>(std::move(parsed_pid));
  // This thread's only (on_batch runs on the loop): its buffer is kept.
  auto& calls = batch_calls_;
  calls.clear();
  uint64_t served = 0; // entries read: counted as requests once, at the end
  // Starts the parsed calls, and counts the entries read.
  auto settle = [&] {
    if (!calls.empty())
      start_batch(conn, batcher, ck, calls);
    calls.clear();
    std::lock_guard<std::mutex> guard{mtx_};
    stats_.requests += served;
    served = 0;
  };
  auto fail = [&](uint32_t index, const std::string& why) {
    settle(); // the entries before the break are served
    count_bad_term();
    auto msg = codec::encode_etf(tuple{{atom{"$pyactor_bad_batch"},
                                        static_cast<int64_t>(index), why}});
    if (!msg)
      return;
    outgoing_message m;
    m.body = std::move(msg).value();
    out_.send(conn, *batcher, std::move(m));
  };
  uint32_t count = 0;
  size_t pos = 0;
  if (!read_list(r, pid_end, count, pos)) {
    fail(0, "a batch must be {'$pyactor_batch', Pid, [{Id, Binary}, ...]}");
    return;
  }
  // The count is only believed as far as the bytes could hold it.
  if (count > (size - pos) / min_entry_bytes) {
    fail(0, "the batch claims " + std::to_string(count) + " entries in "
              + std::to_string(size - pos) + " bytes");
    return;
  }
  calls.reserve(booking_chunk);
  for (uint32_t i = 0; i < count; ++i) {
    uint32_t id = 0;
    size_t id_end = 0;
    if (pos + 2 > size || data[pos] != small_tuple_ext || data[pos + 1] != 2
        || (id_end = read_id(r, pos + 2, id)) == 0 || id_end + 5 > size
        || data[id_end] != binary_ext_tag) {
      fail(i, "batch entry " + std::to_string(i) + " at offset " + std::to_string(pos)
                + " is not {Id, Binary} with Id in 0..2147483647");
      return;
    }
    size_t len = r.be(id_end + 1, 4);
    auto bin = id_end + 5;
    if (len > size - bin) {
      fail(i, "batch entry " + std::to_string(i) + ": its binary of " + std::to_string(len)
                + " bytes runs past the end of the message");
      return;
    }
    pos = bin + len;
    ++served;
    if (i >= max_batch_entries) {
      queue_batched_reply(conn, batcher, ck, id,
                          error_reply(error_term(make_error(
                            errc::bad_request, "a batch holds at most "
                                                 + std::to_string(max_batch_entries)
                                                 + " calls; entry " + std::to_string(i)
                                                 + " was not run"))));
      continue;
    }
    auto decoded = codec::decode_etf(data + bin, len);
    if (!decoded) {
      count_bad_term();
      queue_batched_reply(conn, batcher, ck, id, bad_term_reply(decoded.error().message));
      continue;
    }
    auto parsed = parse_request(std::move(decoded).value());
    if (!parsed) {
      if (is_unknown_call(parsed.error())) {
        auto again = codec::decode_etf(data + bin, len);
        queue_batched_reply(conn, batcher, ck, id,
                            error_reply(tuple{{atom{"unknown_call"},
                                               again ? std::move(again).value() : value{}}}));
      } else {
        queue_batched_reply(conn, batcher, ck, id, error_reply(error_term(parsed.error())));
      }
      continue;
    }
    if (parsed.value().kind == request_kind::ping) {
      queue_batched_reply(conn, batcher, ck, id, tuple{{atom{"ok"}, atom{"pong"}}});
      continue;
    }
    calls.push_back(batch_call{id, 0, std::move(parsed).value()});
    if (calls.size() >= booking_chunk)
      settle();
  }
  settle();
  if (pos >= size || data[pos] != nil_ext || pos + 1 != size)
    fail(count, "the batch list does not end with [] at offset " + std::to_string(pos));
}

void gateway_state::start_batch(uint64_t conn, const std::shared_ptr<const erl_pid>& batcher,
                                const std::string& caller_key, std::vector<batch_call>& calls) {
  {
    std::lock_guard<std::mutex> guard{mtx_};
    auto& c = caller_locked(conn, caller_key, batcher);
    for (auto& bc : calls) {
      bc.key = (next_key_++ << 1) | 1; // odd: a batch entry
      auto [b, fresh] = c.batch_keys.try_emplace(bc.id, bc.key);
      if (!fresh) {
        c.keys.insert(b->second); // the id's earlier call still runs: `keys` holds it now
        b->second = bc.key;
      }
      auto& p = pending_[bc.key];
      p.conn = conn;
      p.owner = &c;
      p.batched = true;
      p.batch_id = bc.id;
      ++stats_.in_flight;
    }
    in_flight_now_.store(stats_.in_flight, std::memory_order_relaxed);
  }
  // Submitted in order, outside the lock (a `done` may run before submit
  // returns, on any thread); the handles are recorded under one lock after
  // (a cancel or a caller's death is handled on this thread, after this).
  auto* out = &out_;
  auto& handles = batch_handles_; // key, handle
  handles.clear();
  for (auto& bc : calls) {
    auto key = bc.key;
    auto h = py_.submit(std::move(bc.req), [out, key](result<value> r) {
      out->post(key, std::move(r));
    });
    if (h != 0)
      handles.emplace_back(key, h);
  }
  std::lock_guard<std::mutex> guard{mtx_};
  for (auto& [key, h] : handles)
    if (auto i = pending_.find(key); i != pending_.end())
      i->second.handle = h;
}

void gateway_state::on_cancel(uint64_t conn, const uint8_t* data, size_t size, size_t at) {
  header_reader r{data, size};
  auto pid_end = r.skip_pid(at);
  erl_pid batcher;
  uint32_t count = 0;
  size_t pos = 0;
  // Erlang writes a list of ids that are all below 256 as a STRING_EXT
  // (`[1, 2]` is "\1\2"): one byte per id.
  bool bytes = pid_end != 0 && pid_end + 3 <= size && data[pid_end] == string_ext_tag;
  if (bytes) {
    count = r.be(pid_end + 1, 2);
    pos = pid_end + 3;
  }
  if (pid_end == 0 || !parse_pid(data + at, pid_end - at, batcher)
      || (!bytes && !read_list(r, pid_end, count, pos))
      || count > (size - pos) / (bytes ? 1 : 2)) {
    count_bad_term(); // a malformed cancel: nobody to answer
    return;
  }
  std::string ck = std::to_string(conn) + ":";
  ck.append(batcher.raw.begin(), batcher.raw.end());
  std::vector<uint64_t> handles;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    auto c = callers_.find(ck);
    for (uint32_t i = 0; i < count && c != callers_.end(); ++i) {
      uint32_t id = 0;
      if (bytes) {
        id = data[pos++];
      }
      else {
        auto next = read_id(r, pos, id);
        if (next == 0)
          break;
        pos = next;
      }
      auto b = c->second.batch_keys.find(id);
      if (b == c->second.batch_keys.end())
        continue; // answered already (the reply is on its way) or unknown
      auto p = pending_.find(b->second);
      if (p == pending_.end()) { // never: a pending call's key stays until it is
        c->second.batch_keys.erase(b);
        continue;
      }
      if (p->second.handle != 0)
        handles.push_back(p->second.handle);
      --stats_.in_flight;
      ++stats_.cancelled;
      auto idle = release_caller(p->first, p->second); // may sweep the caller away
      pending_.erase(p);
      if (idle)
        break; // nothing of its is left to cancel
    }
    in_flight_now_.store(stats_.in_flight, std::memory_order_relaxed);
  }
  for (auto h : handles)
    py_.cancel(h);
}

void gateway_state::complete_batched(uint64_t key, result<value> outcome) {
  // Encoded before the lock is taken (never under it); wasted only if the
  // caller went away meanwhile.
  auto& body = reply_scratch();
  encode_outcome(outcome, body);
  bool now = std::this_thread::get_id() != loop_thread_.load(std::memory_order_relaxed);
  reply_batch b;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    auto i = pending_.find(key);
    if (i == pending_.end())
      return; // its caller went away
    auto& p = i->second;
    auto& c = *p.owner;
    append_reply_locked(p.conn, c.pid, *c.key, p.batch_id, body);
    // Off the loop (a reply completed on a worker's thread while few calls
    // are in flight): it leaves now, with whatever else is gathered.
    if (now)
      b = take_batch_locked(*c.key);
    --stats_.in_flight;
    in_flight_now_.store(stats_.in_flight, std::memory_order_relaxed);
    ++stats_.replies;
    release_caller(key, p); // may sweep the caller away
    pending_.erase(i);
  }
  if (now)
    send_batch(std::move(b));
}

void gateway_state::queue_batched_reply(uint64_t conn, const std::shared_ptr<const erl_pid>& to,
                                        const std::string& caller_key, uint32_t id,
                                        const value& body) {
  auto& encoded = reply_scratch();
  encode_reply(body, encoded);
  bool now = std::this_thread::get_id() != loop_thread_.load(std::memory_order_relaxed);
  reply_batch b;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    ++stats_.replies;
    append_reply_locked(conn, to, caller_key, id, encoded);
    if (now)
      b = take_batch_locked(caller_key);
  }
  if (now)
    send_batch(std::move(b));
}

void gateway_state::append_reply_locked(uint64_t conn, const std::shared_ptr<const erl_pid>& to,
                                        const std::string& caller_key, uint32_t id,
                                        const std::vector<uint8_t>& body) {
  auto [b, fresh] = reply_batches_.try_emplace(caller_key);
  if (fresh) {
    b->second.conn = conn;
    b->second.to = to;
  }
  auto& e = b->second.entries;
  e.insert(e.end(), {small_tuple_ext, 2});
  append_id(e, id);
  e.insert(e.end(), body.begin(), body.end());
  ++b->second.count;
  replies_waiting_.store(true, std::memory_order_relaxed);
}

gateway_state::reply_batch gateway_state::take_batch_locked(const std::string& caller_key) {
  reply_batch b;
  auto i = reply_batches_.find(caller_key);
  if (i == reply_batches_.end())
    return b;
  b = std::move(i->second);
  reply_batches_.erase(i);
  return b;
}

void gateway_state::flush_replies() {
  loop_thread_.store(std::this_thread::get_id(), std::memory_order_relaxed);
  // Set under mtx_ with each queued reply; only this thread clears it.
  // Replies queued on other threads leave by themselves.
  if (!replies_waiting_.load(std::memory_order_relaxed))
    return;
  std::unordered_map<std::string, reply_batch> all;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    replies_waiting_.store(false, std::memory_order_relaxed);
    all.swap(reply_batches_);
  }
  for (auto& [key, b] : all)
    send_batch(std::move(b));
}

void gateway_state::send_batch(reply_batch b) {
  if (b.count == 0)
    return;
  outgoing_message m;
  m.head = tagged_head("$pyactor_replies");
  m.head.insert(m.head.end(), {list_ext, static_cast<uint8_t>(b.count >> 24),
                               static_cast<uint8_t>(b.count >> 16),
                               static_cast<uint8_t>(b.count >> 8),
                               static_cast<uint8_t>(b.count)});
  m.body = std::move(b.entries);
  m.body.push_back(nil_ext);
  out_.send(b.conn, *b.to, std::move(m));
}

} // namespace pyactor::erlbridge
