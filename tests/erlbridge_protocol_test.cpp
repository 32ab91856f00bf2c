// The gateway's protocol state machine with a fake transport and a fake
// Python service: every `$gen_call` gets exactly one reply, tags are copied
// byte for byte, bad terms get error replies, a dropped connection cancels.
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <random>
#include <thread>
#include <string>
#include <vector>

#include "pyactor/codec/etf.hpp"
#include "pyactor/erlbridge/protocol.hpp"

#include "erlbridge_fakes.hpp"

using namespace pyactor;
using namespace pyactor::erlbridge;

namespace {

using bytes_t = std::vector<uint8_t>;

struct sent_message {
  uint64_t conn;
  erl_pid to;
  bytes_t etf;
};

struct monitor_event {
  bool on; // monitor (true) or demonitor
  uint64_t conn;
  erl_pid who;
  uint64_t ref_id;
};

/// Records sends, monitors and posts; the test delivers posts by hand.
struct fake_transport : transport_callee {
  std::vector<sent_message> sent;
  std::vector<monitor_event> monitors;
  std::vector<std::pair<uint64_t, result<value>>> posted;
  void send(uint64_t conn, const erl_pid& to, outgoing_message m) override {
    auto etf = test::message_bytes(m);
    BOOST_CHECK_EQUAL(etf.size(), m.size());
    sent.push_back({conn, to, etf});
  }
  void monitor(uint64_t conn, const erl_pid& who, uint64_t ref_id) override {
    monitors.push_back({true, conn, who, ref_id});
  }
  void demonitor(uint64_t conn, const erl_pid& who, uint64_t ref_id) override {
    monitors.push_back({false, conn, who, ref_id});
  }
  void post(uint64_t key, result<value> outcome) override {
    posted.emplace_back(key, std::move(outcome));
  }
};

/// Keeps submitted calls; the test completes them.
struct fake_service : python_service {
  std::vector<std::pair<bridge_request, completion>> calls;
  std::vector<uint64_t> cancelled;
  uint64_t submit(bridge_request req, completion done) override {
    calls.emplace_back(std::move(req), std::move(done));
    return calls.size(); // handle = position + 1
  }
  void cancel(uint64_t handle) override { cancelled.push_back(handle); }
};

void append(bytes_t& out, std::initializer_list<int> xs) {
  for (auto x : xs)
    out.push_back(static_cast<uint8_t>(x));
}

void append_atom(bytes_t& out, const std::string& name) {
  out.push_back(119); // SMALL_ATOM_UTF8_EXT
  out.push_back(static_cast<uint8_t>(name.size()));
  out.insert(out.end(), name.begin(), name.end());
}

/// NEW_PID_EXT of <node.num.serial> with creation 0x11223344.
bytes_t pid_bytes(const std::string& node, uint32_t num) {
  bytes_t out{88};
  append_atom(out, node);
  append(out, {0, 0, 0, static_cast<int>(num), 0, 0, 0, 0, 0x11, 0x22, 0x33, 0x44});
  return out;
}

/// OTP 24+'s call tag [alias | Mref]: LIST_EXT of one atom, a ref as tail.
bytes_t alias_tag(const std::string& node) {
  bytes_t out{108, 0, 0, 0, 1};
  append_atom(out, "alias");
  append(out, {90, 0, 3});
  append_atom(out, node);
  append(out, {0, 0, 0, 7, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3});
  return out;
}

bytes_t term_bytes(const value& v) {
  auto e = codec::encode_etf(v);
  BOOST_REQUIRE(e.ok());
  return bytes_t(e.value().begin() + 1, e.value().end());
}

/// {'$gen_call', {Pid, Tag}, Req} as bytes.
bytes_t gen_call(const bytes_t& pid, const bytes_t& tag, const bytes_t& req) {
  bytes_t out{131, 104, 3};
  append_atom(out, "$gen_call");
  append(out, {104, 2});
  out.insert(out.end(), pid.begin(), pid.end());
  out.insert(out.end(), tag.begin(), tag.end());
  out.insert(out.end(), req.begin(), req.end());
  return out;
}

struct fixture {
  fake_transport out;
  fake_service py;
  gateway_state state{out, py, "pyactor@host"};
  bytes_t pid = pid_bytes("caller@host", 42);
  bytes_t tag = alias_tag("caller@host");

  void deliver(uint64_t conn, const std::string& name, const bytes_t& msg) {
    state.on_message(conn, name, msg.data(), msg.size());
  }

  /// Splits a reply {Tag, Body}: checks the tag bytes, returns Body.
  value reply_body(const sent_message& m) {
    BOOST_REQUIRE(m.etf.size() > 3 + tag.size());
    BOOST_CHECK_EQUAL(m.etf[0], 131);
    BOOST_CHECK_EQUAL(m.etf[1], 104);
    BOOST_CHECK_EQUAL(m.etf[2], 2);
    BOOST_CHECK(bytes_t(m.etf.begin() + 3, m.etf.begin() + 3 + static_cast<long>(tag.size()))
                == tag);
    bytes_t body{131};
    body.insert(body.end(), m.etf.begin() + 3 + static_cast<long>(tag.size()), m.etf.end());
    auto v = codec::decode_etf(body);
    BOOST_REQUIRE_MESSAGE(v.ok(), (v.ok() ? std::string{} : v.error().message));
    return v.value();
  }

  value func_request(const std::string& fn, list args) {
    return tuple{{atom{"func"}, atom{"math"}, atom{fn}, std::move(args), list{}, dict{}}};
  }
};

/// As the real transport: `post` completes the call on the posting thread;
/// sends and monitors may come from any thread.
struct threaded_transport : transport_callee {
  std::mutex mtx;
  std::vector<sent_message> sent;
  gateway_state* state = nullptr;
  void send(uint64_t conn, const erl_pid& to, outgoing_message m) override {
    auto etf = test::message_bytes(m);
    std::lock_guard<std::mutex> guard{mtx};
    sent.push_back({conn, to, etf});
  }
  void monitor(uint64_t, const erl_pid&, uint64_t) override {}
  void demonitor(uint64_t, const erl_pid&, uint64_t) override {}
  void post(uint64_t key, result<value> outcome) override {
    state->on_completion(key, std::move(outcome));
  }
};

/// Completes every call on one of `n` threads with its first argument.
struct threaded_service : python_service {
  std::mutex mtx;
  std::condition_variable cv;
  std::deque<std::pair<value, completion>> queue;
  std::vector<uint64_t> cancelled;
  uint64_t next = 1;
  bool done = false;
  std::vector<std::thread> threads;
  explicit threaded_service(int n) {
    for (int i = 0; i < n; ++i)
      threads.emplace_back([this] {
        for (;;) {
          std::unique_lock<std::mutex> lock{mtx};
          cv.wait(lock, [this] { return done || !queue.empty(); });
          if (queue.empty())
            return;
          auto job = std::move(queue.front());
          queue.pop_front();
          lock.unlock();
          job.second(std::move(job.first));
        }
      });
  }
  void finish() {
    {
      std::lock_guard<std::mutex> guard{mtx};
      done = true;
    }
    cv.notify_all();
    for (auto& t : threads)
      t.join();
  }
  uint64_t submit(bridge_request req, completion done_fn) override {
    std::lock_guard<std::mutex> guard{mtx};
    queue.emplace_back(req.args.at(0), std::move(done_fn));
    cv.notify_one();
    return next++;
  }
  void cancel(uint64_t handle) override {
    std::lock_guard<std::mutex> guard{mtx};
    cancelled.push_back(handle);
  }
};

} // namespace

BOOST_AUTO_TEST_SUITE(erlbridge_protocol)

// Replies leave from the threads that complete calls while the loop thread
// keeps delivering calls and drops a connection: every call of the
// connection that stays gets exactly one reply, with its own result, and
// the dropped connection's calls at most one.
BOOST_AUTO_TEST_CASE(completions_on_many_threads_reply_once_each) {
  threaded_transport out;
  threaded_service py{4};
  gateway_state state{out, py, "pyactor@host"};
  out.state = &state;
  const auto tag = alias_tag("caller@host");
  const int n = 4000;
  for (int i = 0; i < n; ++i) {
    uint64_t conn = i % 4 == 3 ? 2 : 1;
    auto p = pid_bytes("caller@host", static_cast<uint32_t>(i % 50));
    value req = tuple{{atom{"func"}, atom{"operator"}, atom{"pos"}, list{i}, list{}, dict{}}};
    auto msg = gen_call(p, tag, term_bytes(req));
    state.on_message(conn, "py", msg.data(), msg.size());
    if (i == n / 2)
      state.on_disconnect(2);
    if (i % 64 == 0)
      state.sweep_idle(gateway_state::clock::now());
  }
  py.finish();
  std::vector<int> replies(n, 0);
  for (auto& m : out.sent) {
    bytes_t body{131};
    body.insert(body.end(), m.etf.begin() + 3 + static_cast<long>(tag.size()), m.etf.end());
    auto v = codec::decode_etf(body);
    BOOST_REQUIRE(v.ok());
    auto& t = v.value().as<tuple>();
    BOOST_REQUIRE_EQUAL(t.items.size(), 2u);
    BOOST_REQUIRE(t.items[0] == value{atom{"ok"}});
    auto i = static_cast<int>(t.items[1].as<int64_t>());
    BOOST_REQUIRE(i >= 0 && i < n);
    BOOST_CHECK_EQUAL(m.conn, i % 4 == 3 ? 2u : 1u);
    BOOST_CHECK_EQUAL(m.to.num, static_cast<uint32_t>(i % 50));
    ++replies[static_cast<size_t>(i)];
  }
  int once = 0;
  for (int i = 0; i < n; ++i) {
    if (i % 4 == 3 && i <= n / 2) {
      BOOST_CHECK_LE(replies[static_cast<size_t>(i)], 1); // cancelled or answered
    } else {
      BOOST_CHECK_EQUAL(replies[static_cast<size_t>(i)], 1);
      once += replies[static_cast<size_t>(i)];
    }
  }
  BOOST_CHECK_EQUAL(once, n - n / 8);
  BOOST_CHECK_EQUAL(state.stats().in_flight, 0u);
  BOOST_CHECK_EQUAL(state.stats().replies, out.sent.size());
}

BOOST_FIXTURE_TEST_CASE(call_reply_copies_tag_and_addresses_the_caller, fixture) {
  deliver(1, "py", gen_call(pid, tag, term_bytes(func_request("sqrt", list{4}))));
  BOOST_REQUIRE_EQUAL(py.calls.size(), 1u);
  auto& req = py.calls[0].first;
  BOOST_CHECK(req.kind == request_kind::func);
  BOOST_CHECK_EQUAL(req.module, "math");
  BOOST_CHECK_EQUAL(req.name, "sqrt");
  BOOST_CHECK(req.args == list{4});
  BOOST_CHECK(out.sent.empty());
  py.calls[0].second(value{2.0});
  BOOST_REQUIRE_EQUAL(out.posted.size(), 1u);
  state.on_completion(out.posted[0].first, std::move(out.posted[0].second));
  BOOST_REQUIRE_EQUAL(out.sent.size(), 1u);
  auto& m = out.sent[0];
  BOOST_CHECK_EQUAL(m.conn, 1u);
  BOOST_CHECK_EQUAL(m.to.node, "caller@host");
  BOOST_CHECK_EQUAL(m.to.num, 42u);
  BOOST_CHECK_EQUAL(m.to.creation, 0x11223344u);
  const value expected = tuple{{atom{"ok"}, 2.0}};
  BOOST_CHECK(reply_body(m) == expected);
  BOOST_CHECK_EQUAL(state.stats().in_flight, 0u);
}

BOOST_FIXTURE_TEST_CASE(python_errors_become_error_tuples, fixture) {
  deliver(1, "py", gen_call(pid, tag, term_bytes(func_request("sqrt", list{-1}))));
  BOOST_REQUIRE_EQUAL(py.calls.size(), 1u);
  error e{errc::python_exception, "math domain error", "ValueError", "Traceback ..."};
  py.calls[0].second(e);
  state.on_completion(out.posted[0].first, std::move(out.posted[0].second));
  BOOST_REQUIRE_EQUAL(out.sent.size(), 1u);
  auto body = reply_body(out.sent[0]);
  const value expected = tuple{{atom{"error"}, tuple{{atom{"python"}, "ValueError",
                                                      "math domain error", "Traceback ..."}}}};
  BOOST_CHECK(body == expected);
}

BOOST_FIXTURE_TEST_CASE(net_kernel_is_auth_answers_yes, fixture) {
  auto req = term_bytes(tuple{{atom{"is_auth"}, atom{"caller@host"}}});
  deliver(3, "net_kernel", gen_call(pid, tag, req));
  BOOST_REQUIRE_EQUAL(out.sent.size(), 1u);
  BOOST_CHECK(reply_body(out.sent[0]) == value{atom{"yes"}});
  BOOST_CHECK(py.calls.empty());
}

BOOST_FIXTURE_TEST_CASE(unknown_requests_and_bad_shapes_get_errors, fixture) {
  deliver(1, "py", gen_call(pid, tag, term_bytes(tuple{{atom{"frobnicate"}, 1}})));
  deliver(1, "py", gen_call(pid, tag, term_bytes(tuple{{atom{"func"}, 1, 2, 3, 4, 5}})));
  deliver(1, "other", gen_call(pid, tag, term_bytes(atom{"ping"})));
  BOOST_REQUIRE_EQUAL(out.sent.size(), 3u);
  const value unknown = tuple{{atom{"error"},
                               tuple{{atom{"unknown_call"}, tuple{{atom{"frobnicate"}, 1}}}}}};
  BOOST_CHECK(reply_body(out.sent[0]) == unknown);
  auto bad = reply_body(out.sent[1]);
  auto& t = bad.as<tuple>().items;
  BOOST_CHECK(t[0] == value{atom{"error"}});
  BOOST_CHECK(t[1].as<tuple>().items[1] == value{atom{"bad_request"}});
  BOOST_CHECK(reply_body(out.sent[2]).as<tuple>().items[1].as<tuple>().items[0]
              == value{atom{"no_such_name"}});
  BOOST_CHECK(py.calls.empty());
}

BOOST_FIXTURE_TEST_CASE(undecodable_requests_get_bad_term_replies, fixture) {
  auto req = term_bytes(func_request("sqrt", list{"some text"}));
  // truncated, a length past the end, an unknown tag, trailing bytes
  std::vector<bytes_t> bad = {bytes_t(req.begin(), req.end() - 3),
                              bytes_t{109, 0xff, 0xff, 0xff, 0xff, 1, 2},
                              bytes_t{255, 1, 2, 3},
                              [&] { auto x = req; x.push_back(97); return x; }()};
  for (auto& b : bad)
    deliver(1, "py", gen_call(pid, tag, b));
  BOOST_REQUIRE_EQUAL(out.sent.size(), bad.size());
  for (auto& m : out.sent) {
    auto body = reply_body(m);
    BOOST_CHECK(body.as<tuple>().items[0] == value{atom{"error"}});
    BOOST_CHECK(body.as<tuple>().items[1].as<tuple>().items[0] == value{atom{"bad_term"}});
  }
  BOOST_CHECK_EQUAL(state.stats().bad_terms, bad.size());
}

BOOST_FIXTURE_TEST_CASE(an_oversized_call_cut_to_its_head_gets_an_error_reply, fixture) {
  auto m = gen_call(pid, tag, term_bytes(func_request("sqrt", list{std::string(1000, 'x')})));
  m.resize(m.size() / 2); // what the transport kept of it
  state.on_message(1, "py", m.data(), m.size(), size_t{70} << 20);
  BOOST_CHECK(py.calls.empty());
  BOOST_REQUIRE_EQUAL(out.sent.size(), 1u);
  auto body = reply_body(out.sent[0]);
  BOOST_CHECK(body.as<tuple>().items[0] == value{atom{"error"}});
  auto& reason = body.as<tuple>().items[1].as<tuple>().items;
  BOOST_CHECK(reason[0] == value{atom{"bad_term"}});
  BOOST_CHECK(reason[1].as<std::string>().find("73400320 bytes") != std::string::npos);
}

BOOST_FIXTURE_TEST_CASE(messages_that_are_not_calls_are_dropped, fixture) {
  deliver(1, "py", bytes_t{131, 100, 0, 3, 'f', 'o', 'o'});
  deliver(1, "py", bytes_t{});
  deliver(1, "py", bytes_t{131});
  auto no_pid = gen_call(term_bytes(atom{"x"}), tag, term_bytes(atom{"ping"}));
  deliver(1, "py", no_pid);
  BOOST_CHECK(out.sent.empty());
  BOOST_CHECK_EQUAL(state.stats().bad_terms, 4u);
}

BOOST_FIXTURE_TEST_CASE(disconnect_cancels_and_drops_late_completions, fixture) {
  for (int i = 0; i < 3; ++i)
    deliver(7, "py", gen_call(pid, tag, term_bytes(func_request("sqrt", list{i}))));
  deliver(8, "py", gen_call(pid, tag, term_bytes(func_request("sqrt", list{9}))));
  BOOST_REQUIRE_EQUAL(py.calls.size(), 4u);
  state.on_disconnect(7);
  std::sort(py.cancelled.begin(), py.cancelled.end());
  BOOST_CHECK((py.cancelled == std::vector<uint64_t>{1, 2, 3}));
  BOOST_CHECK_EQUAL(state.stats().cancelled, 3u);
  for (auto& c : py.calls)
    c.second(make_error(errc::cancelled, "cancelled"));
  for (auto& p : out.posted)
    state.on_completion(p.first, std::move(p.second));
  BOOST_REQUIRE_EQUAL(out.sent.size(), 1u); // only connection 8's caller
  BOOST_CHECK_EQUAL(out.sent[0].conn, 8u);
  BOOST_CHECK_EQUAL(state.stats().in_flight, 0u);
}

BOOST_FIXTURE_TEST_CASE(mutated_messages_never_crash_and_get_at_most_one_reply, fixture) {
  auto good = gen_call(pid, tag, term_bytes(func_request("sqrt", list{1, "two", 3.0})));
  std::mt19937 rng{12345};
  for (int round = 0; round < 3000; ++round) {
    auto m = good;
    auto flips = 1 + rng() % 4;
    for (unsigned f = 0; f < flips; ++f)
      m[rng() % m.size()] = static_cast<uint8_t>(rng());
    if (rng() % 4 == 0)
      m.resize(rng() % m.size());
    auto before = out.sent.size();
    auto calls_before = py.calls.size();
    deliver(1, "py", m);
    auto replies = out.sent.size() - before;
    auto started = py.calls.size() - calls_before;
    BOOST_CHECK_LE(replies + started, 1u);
  }
  for (auto& c : py.calls)
    c.second(value{});
  for (auto& p : out.posted)
    state.on_completion(p.first, std::move(p.second));
  BOOST_CHECK_EQUAL(state.stats().in_flight, 0u);
}

BOOST_FIXTURE_TEST_CASE(a_dead_caller_has_its_calls_cancelled_and_others_keep_theirs, fixture) {
  auto other = pid_bytes("caller@host", 43);
  deliver(1, "py", gen_call(pid, tag, term_bytes(func_request("sqrt", list{1}))));
  deliver(1, "py", gen_call(pid, tag, term_bytes(func_request("sqrt", list{2}))));
  deliver(1, "py", gen_call(other, tag, term_bytes(func_request("sqrt", list{3}))));
  BOOST_REQUIRE_EQUAL(py.calls.size(), 3u);
  // one monitor per caller process, not per call
  BOOST_REQUIRE_EQUAL(out.monitors.size(), 2u);
  BOOST_CHECK(out.monitors[0].on && out.monitors[1].on);
  BOOST_CHECK_EQUAL(out.monitors[0].who.num, 42u);
  BOOST_CHECK_EQUAL(out.monitors[1].who.num, 43u);
  BOOST_CHECK(out.monitors[0].who.raw == pid);
  BOOST_CHECK_NE(out.monitors[0].ref_id, out.monitors[1].ref_id);
  BOOST_CHECK_EQUAL(state.stats().monitors, 2u);

  state.on_monitor_down(2, out.monitors[0].ref_id); // another connection: not that caller
  BOOST_CHECK(py.cancelled.empty());
  state.on_monitor_down(1, out.monitors[0].ref_id);
  std::sort(py.cancelled.begin(), py.cancelled.end());
  BOOST_CHECK((py.cancelled == std::vector<uint64_t>{1, 2}));
  BOOST_CHECK_EQUAL(state.stats().callers_down, 1u);
  BOOST_CHECK_EQUAL(state.stats().in_flight, 1u);
  for (auto& c : py.calls)
    c.second(value{1.0});
  for (auto& p : out.posted)
    state.on_completion(p.first, std::move(p.second));
  BOOST_REQUIRE_EQUAL(out.sent.size(), 1u); // only the live caller is answered
  BOOST_CHECK_EQUAL(out.sent[0].to.num, 43u);
  state.on_monitor_down(1, out.monitors[0].ref_id); // a second DOWN changes nothing
  BOOST_CHECK_EQUAL(py.cancelled.size(), 2u);
  // the dead caller's monitor fired: nothing to demonitor
  for (auto& m : out.monitors)
    BOOST_CHECK(m.on);
}

BOOST_FIXTURE_TEST_CASE(an_idle_callers_monitor_lingers_then_goes, fixture) {
  for (int i = 0; i < 3; ++i) {
    deliver(1, "py", gen_call(pid, tag, term_bytes(func_request("sqrt", list{i}))));
    py.calls.back().second(value{1.0});
    state.on_completion(out.posted.back().first, std::move(out.posted.back().second));
  }
  BOOST_CHECK_EQUAL(out.sent.size(), 3u);
  BOOST_REQUIRE_EQUAL(out.monitors.size(), 1u); // reused while it lingers
  auto now = gateway_state::clock::now();
  auto next = state.sweep_idle(now);
  BOOST_CHECK(next > now);
  BOOST_CHECK_EQUAL(out.monitors.size(), 1u);
  state.sweep_idle(now + gateway_state::linger + std::chrono::seconds(1));
  BOOST_REQUIRE_EQUAL(out.monitors.size(), 2u);
  BOOST_CHECK(!out.monitors[1].on);
  BOOST_CHECK_EQUAL(out.monitors[1].ref_id, out.monitors[0].ref_id);
  BOOST_CHECK_EQUAL(state.stats().monitors, 0u);
  BOOST_CHECK(state.sweep_idle(now) == gateway_state::clock::time_point::max());
  // a DOWN after the demonitor is ignored; a new call monitors again
  state.on_monitor_down(1, out.monitors[0].ref_id);
  deliver(1, "py", gen_call(pid, tag, term_bytes(func_request("sqrt", list{9}))));
  BOOST_REQUIRE_EQUAL(out.monitors.size(), 3u);
  BOOST_CHECK(out.monitors[2].on);
  // a disconnect forgets the connection's monitors without demonitoring
  state.on_disconnect(1);
  BOOST_CHECK_EQUAL(state.stats().monitors, 0u);
  BOOST_CHECK_EQUAL(out.monitors.size(), 3u);
}

BOOST_FIXTURE_TEST_CASE(idle_monitors_are_bounded, fixture) {
  const size_t n = gateway_state::max_idle_monitors + 10;
  for (size_t i = 0; i < n; ++i) {
    auto p = pid_bytes("caller@host", static_cast<uint32_t>(i));
    p[p.size() - 9] = static_cast<uint8_t>(i); // distinct process numbers
    p[p.size() - 10] = static_cast<uint8_t>(i >> 8);
    deliver(1, "py", gen_call(p, tag, term_bytes(func_request("sqrt", list{1}))));
    py.calls.back().second(value{1.0});
    state.on_completion(out.posted.back().first, std::move(out.posted.back().second));
  }
  BOOST_CHECK_LE(state.stats().monitors, gateway_state::max_idle_monitors);
  size_t demonitors = 0;
  for (auto& m : out.monitors)
    demonitors += m.on ? 0 : 1;
  BOOST_CHECK_EQUAL(demonitors + state.stats().monitors, n);
}

BOOST_AUTO_TEST_CASE(ok_reply_matches_the_encoder_and_moves_large_binaries) {
  // OTP 24's [alias | Mref] tag, as a gen_server:call sends it.
  bytes_t tag = {108, 0, 0, 0, 1, 90, 0, 3, 119, 1, 'n', 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 2,
                 0, 0, 0, 3, 90, 0, 3, 119, 1, 'n', 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0,
                 0, 3};
  std::mt19937 rng{7};
  auto blob = [&](size_t n) {
    bytes_t b(n);
    for (auto& x : b)
      x = static_cast<uint8_t>(rng());
    return b;
  };
  std::vector<value> results = {value{bytes{{}}}, value{bytes{blob(65535)}},
                                value{bytes{blob(65536)}}, value{bytes{blob(1 << 20)}},
                                value{std::string(100000, 'x')}, value{int64_t{42}},
                                value{list{value{bytes{blob(70000)}}}}};
  for (auto& r : results) {
    auto expected_body = codec::encode_etf(tuple{{atom{"ok"}, r}});
    BOOST_REQUIRE(expected_body);
    bytes_t expected = {131, 104, 2};
    expected.insert(expected.end(), tag.begin(), tag.end());
    expected.insert(expected.end(), expected_body.value().begin() + 1,
                    expected_body.value().end());
    auto b = r.get_if<bytes>();
    const uint8_t* data = b != nullptr ? b->data.data() : nullptr;
    auto large = b != nullptr && b->data.size() >= 65536;
    auto m = encode_ok_reply(tag, r);
    auto got = test::message_bytes(m);
    BOOST_CHECK_EQUAL(got.size(), m.size());
    BOOST_CHECK(got == expected);
    if (large) { // the result's own buffer, not a copy
      auto moved = encode_ok_reply(tag, std::move(r));
      BOOST_CHECK(moved.body.data() == data);
      BOOST_CHECK_EQUAL(moved.body_from, 0u);
    }
  }
}

BOOST_AUTO_TEST_SUITE_END()
