#include "pyactor/erlbridge/protocol.hpp"

#include <algorithm>
#include <cstdio>

#include "pyactor/codec/etf.hpp"

#include "capabilities.hpp"
#include "header_reader.hpp"

namespace pyactor::erlbridge {

namespace detail {

/// The reply's error term for `e`.
value error_term(const error& e) {
  if (e.code == errc::python_exception)
    return tuple{{atom{"python"}, e.python_type, e.message, e.traceback}};
  return tuple{{atom{"pyactor"}, atom{to_string(e.code)}, e.message}};
}

value error_reply(value reason) {
  return tuple{{atom{"error"}, std::move(reason)}};
}

} // namespace detail

namespace {

using namespace detail;

/// `{Tag, Body}` as a message: Tag byte for byte, then the body without its
/// version byte (sent from the encoder's own buffer: a large reply is not
/// copied).
outgoing_message make_reply(const std::vector<uint8_t>& tag, const value& body) {
  auto encoded = codec::encode_etf(body);
  if (!encoded)
    encoded = codec::encode_etf(error_reply(error_term(
      make_error(errc::bad_request, "cannot encode the reply: " + encoded.error().message))));
  outgoing_message m;
  m.head.reserve(3 + tag.size());
  m.head.push_back(codec_version);
  m.head.push_back(small_tuple_ext);
  m.head.push_back(2);
  m.head.insert(m.head.end(), tag.begin(), tag.end());
  if (encoded) { // always: that error reply has an Erlang form
    m.body = std::move(encoded).value();
    m.body_from = 1;
  }
  return m;
}

/// Binaries from this size on leave `{ok, Bin}` replies without being
/// copied into an encoder buffer.
constexpr size_t zero_copy_binary = 65536;

/// `{Tag, {ok, Result}}`: a large binary result (bytes) becomes the message's
/// body as it is (moved, not copied), behind the bytes `encode_etf` would
/// write before it; any other result goes through the encoder.
outgoing_message make_ok_reply(const std::vector<uint8_t>& tag, value result) {
  auto b = std::get_if<bytes>(&result.variant());
  if (b == nullptr || b->data.size() < zero_copy_binary || b->data.size() > 0xffffffffu)
    return make_reply(tag, tuple{{atom{"ok"}, std::move(result)}});
  outgoing_message m;
  auto n = static_cast<uint32_t>(b->data.size());
  m.head.reserve(3 + tag.size() + 11);
  m.head.push_back(codec_version);
  m.head.push_back(small_tuple_ext);
  m.head.push_back(2);
  m.head.insert(m.head.end(), tag.begin(), tag.end());
  // {ok, Bin} as encode_etf writes it: SMALL_TUPLE 2, SMALL_ATOM_UTF8 "ok",
  // BINARY_EXT Len:32.
  m.head.insert(m.head.end(), {small_tuple_ext, 2, small_atom_utf8_ext, 2, 'o', 'k', binary_ext,
                               static_cast<uint8_t>(n >> 24), static_cast<uint8_t>(n >> 16),
                               static_cast<uint8_t>(n >> 8), static_cast<uint8_t>(n)});
  m.body = std::move(b->data);
  m.body_from = 0;
  return m;
}

} // namespace

outgoing_message encode_ok_reply(const std::vector<uint8_t>& tag, value result) {
  return make_ok_reply(tag, std::move(result));
}

transport_callee::~transport_callee() = default;

python_service::~python_service() = default;

bool parse_pid(const uint8_t* d, size_t size, erl_pid& out) {
  header_reader r{d, size};
  auto end = r.skip_pid(0);
  if (end == 0 || end != size)
    return false;
  std::string node;
  auto atom_end = r.skip_atom(1, &node);
  if (node.empty() || node.size() >= 1020)
    return false;
  out.node = std::move(node);
  out.raw.assign(d, d + size);
  out.num = r.be(atom_end, 4);
  out.serial = r.be(atom_end + 4, 4);
  out.creation = d[0] == new_pid_ext ? r.be(atom_end + 8, 4) : d[atom_end + 8];
  return true;
}

gateway_state::gateway_state(transport_callee& out, python_service& py, std::string node_name)
  : out_(out), py_(py), node_name_(std::move(node_name)) {
  // nop
}

void gateway_state::reply(uint64_t conn, const erl_pid& to, const std::vector<uint8_t>& tag,
                          const value& body) {
  auto m = make_reply(tag, body);
  {
    std::lock_guard<std::mutex> guard{mtx_};
    ++stats_.replies;
  }
  out_.send(conn, to, std::move(m));
}

void gateway_state::count_bad_term() {
  std::lock_guard<std::mutex> guard{mtx_};
  ++stats_.bad_terms;
}

protocol_stats gateway_state::stats() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return stats_;
}

void gateway_state::on_message(uint64_t conn, const std::string& to_name, const uint8_t* data,
                               size_t size, size_t total_size) {
  auto t_in = trace_ ? clock::now() : clock::time_point{};
  // {'$gen_call', {From, Tag}, Req}: the header by hand, so that a request
  // that fails to decode still gets its error reply and Tag stays byte exact.
  header_reader h{data, size};
  std::string marker;
  size_t at = size >= 3 && data[0] == codec_version && data[1] == small_tuple_ext && data[2] == 3
                ? h.skip_atom(3, &marker)
                : 0;
  if (at != 0 && to_name == "py" && total_size <= size
      && (marker == "$pyactor_batch" || marker == "$pyactor_cancel")) {
    if (marker == "$pyactor_batch")
      on_batch(conn, data, size, at);
    else
      on_cancel(conn, data, size, at);
    return;
  }
  if (at == 0 || marker != "$gen_call" || size < at + 2 || data[at] != small_tuple_ext
      || data[at + 1] != 2) {
    count_bad_term(); // not a call: nobody to answer
    return;
  }
  auto from_end = h.skip_pid(at + 2);
  auto tag_end = from_end == 0 ? 0 : h.skip_tag(from_end);
  erl_pid pid;
  if (tag_end == 0 || !parse_pid(data + at + 2, from_end - at - 2, pid)) {
    count_bad_term();
    return;
  }
  std::vector<uint8_t> tag(data + from_end, data + tag_end);
  if (total_size > size) {
    count_bad_term();
    reply(conn, pid, tag,
          error_reply(tuple{{atom{"bad_term"},
                             "the request is " + std::to_string(total_size)
                               + " bytes, more than the gateway takes (64 MiB); "
                                 "send large data in parts"}}));
    return;
  }
  auto decoded = codec::decode_etf(data, size);
  if (!decoded) {
    count_bad_term();
    reply(conn, pid, tag, error_reply(tuple{{atom{"bad_term"}, decoded.error().message}}));
    return;
  }
  auto& term = decoded.value().as<tuple>().items[2];
  if (to_name == "net_kernel") {
    // net_adm:ping sends {is_auth, Node}: answering yes keeps the connection.
    auto t = term.get_if<tuple>();
    if (t != nullptr && t->items.size() == 2 && t->items[0] == value{atom{"is_auth"}})
      reply(conn, pid, tag, atom{"yes"});
    else
      reply(conn, pid, tag, error_reply(tuple{{atom{"unknown_call"}, term}}));
    return;
  }
  {
    std::lock_guard<std::mutex> guard{mtx_};
    ++stats_.requests;
  }
  if (to_name != "py") {
    reply(conn, pid, tag, error_reply(tuple{{atom{"no_such_name"}, atom{to_name}}}));
    return;
  }
  // Moved, not copied (a 1 MiB argument is not copied again); an unknown
  // call's reply shows the request as it came, decoded again.
  auto parsed = parse_request(std::move(term));
  if (!parsed) {
    if (is_unknown_call(parsed.error())) {
      auto again = codec::decode_etf(data, size);
      if (again && is_capabilities_query(again.value().as<tuple>().items[2])) {
        reply(conn, pid, tag, capabilities_reply());
        return;
      }
      reply(conn, pid, tag,
            error_reply(tuple{{atom{"unknown_call"},
                               again ? std::move(again.value().as<tuple>().items[2])
                                     : value{}}}));
    }
    else
      reply(conn, pid, tag, error_reply(error_term(parsed.error())));
    return;
  }
  if (parsed.value().kind == request_kind::ping) {
    reply(conn, pid, tag, tuple{{atom{"ok"}, atom{"pong"}}});
    return;
  }
  start_call(conn, std::move(pid), std::move(tag), std::move(parsed).value(), t_in);
}

gateway_state::caller& gateway_state::caller_locked(uint64_t conn, const std::string& caller_key,
                                                   const std::shared_ptr<const erl_pid>& from) {
  // One monitor per caller process (and connection), kept while it has calls.
  auto [c, fresh] = callers_.try_emplace(caller_key);
  if (fresh) {
    c->second.conn = conn;
    c->second.ref_id = next_ref_++;
    c->second.pid = from;
    c->second.key = &c->first;
    caller_by_ref_[c->second.ref_id] = &c->second;
    ++stats_.monitors;
    out_.monitor(conn, *from, c->second.ref_id);
  }
  return c->second;
}

void gateway_state::start_call(uint64_t conn, erl_pid from, std::vector<uint8_t> tag,
                               bridge_request req, clock::time_point t_in) {
  auto t_decoded = trace_ ? clock::now() : clock::time_point{};
  std::string ck = std::to_string(conn) + ":";
  ck.append(from.raw.begin(), from.raw.end());
  auto pid = std::make_shared<const erl_pid>(std::move(from));
  uint64_t key;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    key = next_key_++ << 1; // even: a $gen_call
    auto& c = caller_locked(conn, ck, pid);
    c.keys.insert(key);
    auto& p = pending_[key];
    p.conn = conn;
    p.owner = &c;
    p.tag = std::move(tag);
    p.t_in = t_in;
    p.t_decoded = t_decoded;
    ++stats_.in_flight;
    in_flight_now_.store(stats_.in_flight, std::memory_order_relaxed);
  }
  // Not under the lock: `done` may run on another thread before submit returns.
  auto t_booked = trace_ ? clock::now() : clock::time_point{};
  auto* out = &out_;
  auto handle = py_.submit(std::move(req), [out, key](result<value> r) {
    out->post(key, std::move(r));
  });
  std::lock_guard<std::mutex> guard{mtx_};
  if (auto i = pending_.find(key); i != pending_.end()) {
    i->second.handle = handle;
    if (trace_) {
      i->second.t_booked = t_booked;
      i->second.t_submitted = clock::now();
    }
  }
}

bool gateway_state::release_caller(uint64_t key, const pending& p) {
  auto& c = *p.owner;
  if (p.batched) {
    if (auto b = c.batch_keys.find(p.batch_id); b != c.batch_keys.end() && b->second == key)
      c.batch_keys.erase(b);
    else
      c.keys.erase(key); // its id was reused while it ran (see start_batch)
  } else {
    c.keys.erase(key);
  }
  if (!c.idle())
    return false;
  c.idle_since = clock::now();
  idle_.emplace_back(c.ref_id, c.idle_since);
  if (idle_.size() > max_idle_monitors)
    sweep_idle_locked(c.idle_since);
  return true;
}

void gateway_state::drop_caller(caller& c, bool demonitor) {
  if (demonitor)
    out_.demonitor(c.conn, *c.pid, c.ref_id);
  caller_by_ref_.erase(c.ref_id);
  callers_.erase(callers_.find(*c.key));
  --stats_.monitors;
}

gateway_state::clock::time_point gateway_state::sweep_idle(clock::time_point now) {
  std::lock_guard<std::mutex> guard{mtx_};
  return sweep_idle_locked(now);
}

gateway_state::clock::time_point gateway_state::sweep_idle_locked(clock::time_point now) {
  while (!idle_.empty()) {
    auto [ref, since] = idle_.front();
    auto r = caller_by_ref_.find(ref);
    // Stale entries: the caller is gone, busy again, or idle since later.
    if (r == caller_by_ref_.end() || !r->second->idle() || r->second->idle_since != since) {
      idle_.pop_front();
      continue;
    }
    if (since + linger > now && idle_.size() <= max_idle_monitors)
      return since + linger;
    drop_caller(*r->second, true);
    idle_.pop_front();
  }
  return clock::time_point::max();
}

void gateway_state::on_completion(uint64_t key, result<value> outcome) {
  if ((key & 1) != 0) {
    complete_batched(key, std::move(outcome));
    return;
  }
  auto t_done = clock::now();
  pending p;
  std::shared_ptr<const erl_pid> to;
  bool trace;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    trace = trace_;
    auto i = pending_.find(key);
    if (i == pending_.end())
      return; // its caller went away
    p = std::move(i->second);
    pending_.erase(i);
    to = p.owner->pid;
    --stats_.in_flight;
    in_flight_now_.store(stats_.in_flight, std::memory_order_relaxed);
    ++stats_.replies;
    release_caller(key, p);
  }
  // Encoded and sent on this thread, outside the lock.
  auto m = outcome ? make_ok_reply(p.tag, std::move(outcome).value())
                   : make_reply(p.tag, error_reply(error_term(outcome.error())));
  auto t_encoded = trace ? clock::now() : clock::time_point{};
  out_.send(p.conn, *to, std::move(m));
  if (!trace || p.t_submitted == clock::time_point{} || p.t_in == clock::time_point{})
    return;
  auto t_sent = clock::now();
  auto us = [](clock::time_point a, clock::time_point b) {
    return std::chrono::duration<float, std::micro>(b - a).count();
  };
  std::lock_guard<std::mutex> guard{mtx_};
  if (stages_[0].size() >= 200000)
    return;
  stages_[0].push_back(us(p.t_in, p.t_decoded));
  stages_[1].push_back(us(p.t_decoded, p.t_booked));
  stages_[2].push_back(us(p.t_booked, p.t_submitted));
  stages_[3].push_back(us(p.t_submitted, t_done));
  stages_[4].push_back(us(t_done, t_encoded));
  stages_[5].push_back(us(t_encoded, t_sent));
}

void gateway_state::trace_stages(bool on) {
  std::lock_guard<std::mutex> guard{mtx_};
  trace_ = on;
}

std::string gateway_state::stage_report() const {
  std::lock_guard<std::mutex> guard{mtx_};
  if (stages_[0].empty())
    return {};
  static const char* names[stage_count] = {"decode+parse", "book", "submit",
                                           "python (submitted to completed)", "encode reply",
                                           "write reply"};
  std::string out = "stages of " + std::to_string(stages_[0].size())
                    + " calls, median/p90 in us:";
  for (size_t i = 0; i < stage_count; ++i) {
    auto xs = stages_[i];
    std::sort(xs.begin(), xs.end());
    char buf[96];
    std::snprintf(buf, sizeof(buf), " %s %.1f/%.1f;", names[i], xs[xs.size() / 2],
                  xs[xs.size() * 9 / 10]);
    out += buf;
  }
  return out;
}

void gateway_state::on_disconnect(uint64_t conn) {
  std::vector<uint64_t> handles;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    handles = disconnect_locked(conn);
  }
  for (auto h : handles)
    py_.cancel(h);
}

void gateway_state::cancel_calls_locked(caller& c, std::vector<uint64_t>& handles) {
  auto cancel = [&](uint64_t key) {
    auto i = pending_.find(key);
    if (i == pending_.end())
      return;
    if (i->second.handle != 0)
      handles.push_back(i->second.handle);
    pending_.erase(i);
    --stats_.in_flight;
    ++stats_.cancelled;
  };
  for (auto key : c.keys)
    cancel(key);
  for (auto& [id, key] : c.batch_keys)
    cancel(key);
  c.keys.clear();
  c.batch_keys.clear();
  in_flight_now_.store(stats_.in_flight, std::memory_order_relaxed);
}

std::vector<uint64_t> gateway_state::disconnect_locked(uint64_t conn) {
  // Every pending call is held by its caller's record: the records of
  // `conn` hold all of its calls.
  std::vector<uint64_t> handles;
  for (auto b = reply_batches_.begin(); b != reply_batches_.end();)
    b = b->second.conn == conn ? reply_batches_.erase(b) : std::next(b);
  for (auto c = callers_.begin(); c != callers_.end();) {
    if (c->second.conn == conn) {
      cancel_calls_locked(c->second, handles);
      caller_by_ref_.erase(c->second.ref_id);
      c = callers_.erase(c);
      --stats_.monitors;
    } else {
      ++c;
    }
  }
  return handles;
}

void gateway_state::on_monitor_down(uint64_t conn, uint64_t ref_id) {
  std::vector<uint64_t> handles;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    handles = monitor_down_locked(conn, ref_id);
  }
  for (auto h : handles)
    py_.cancel(h);
}

std::vector<uint64_t> gateway_state::monitor_down_locked(uint64_t conn, uint64_t ref_id) {
  std::vector<uint64_t> handles;
  auto r = caller_by_ref_.find(ref_id);
  if (r == caller_by_ref_.end())
    return handles; // demonitored meanwhile
  auto& c = *r->second;
  if (c.conn != conn)
    return handles;
  if (!c.idle())
    ++stats_.callers_down;
  cancel_calls_locked(c, handles);
  drop_caller(c, false);
  return handles;
}

} // namespace pyactor::erlbridge
