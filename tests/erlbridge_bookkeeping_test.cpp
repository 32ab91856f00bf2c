// The gateway protocol's books of calls in flight (gateway_state): caller
// records shared by a caller's calls, batches booked in chunks under one
// lock, ids a batcher reuses while their first call still runs, replies
// encoded on the completing thread. Every call gets exactly one reply at its
// own caller, or none once cancelled (a cancel, the caller's death, its
// connection closing), whichever thread completes it. A fake transport and
// a fake Python service (the real ones: erlbridge_gateway, erlbridge_batch
// ctest entries).
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cmath>
#include <map>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "pyactor/codec/etf.hpp"
#include "pyactor/erlbridge/protocol.hpp"

#include "erlbridge_fakes.hpp"

using namespace pyactor;
using namespace pyactor::erlbridge;

namespace {

using test::bytes_t;
using test::etf;
using test::holding_service;
using test::pid_value;

/// Records what is sent to whom, and the monitors; thread-safe (replies
/// are sent from the threads that complete calls too).
struct recording_transport : transport_callee {
  struct sent_message {
    uint64_t conn;
    uint32_t to; // the pid's number
    bytes_t etf;
  };
  std::mutex mtx;
  std::vector<sent_message> sent;
  std::map<uint32_t, uint64_t> monitors; // pid number -> ref id
  std::vector<uint64_t> demonitors;
  gateway_state* state = nullptr;

  void send(uint64_t conn, const erl_pid& to, outgoing_message m) override {
    auto etf = test::message_bytes(m);
    std::lock_guard<std::mutex> guard{mtx};
    sent.push_back({conn, to.num, std::move(etf)});
  }
  void monitor(uint64_t, const erl_pid& who, uint64_t ref) override {
    std::lock_guard<std::mutex> guard{mtx};
    monitors[who.num] = ref;
  }
  void demonitor(uint64_t, const erl_pid&, uint64_t ref) override {
    std::lock_guard<std::mutex> guard{mtx};
    demonitors.push_back(ref);
  }
  void post(uint64_t key, result<value> r) override { state->on_completion(key, std::move(r)); }
};

/// operator.add(A, B), as a request.
value add_request(int64_t a, int64_t b) {
  return tuple{{atom{"func"}, atom{"operator"}, atom{"add"}, list{a, b}, list{}, dict{}}};
}

/// A batch from batcher `num` of add(Id, 1) for each id.
bytes_t batch(uint32_t num, const std::vector<int64_t>& ids) {
  list entries;
  for (auto id : ids)
    entries.push_back(tuple{{id, pyactor::bytes{etf(add_request(id, 1))}}});
  return etf(tuple{{atom{"$pyactor_batch"}, pid_value(num), std::move(entries)}});
}

/// `{'$gen_call', {Pid, Tag}, add(Tag, 1)}` from process `num`.
bytes_t gen_call(uint32_t num, int64_t tag) {
  return etf(tuple{{atom{"$gen_call"}, tuple{{pid_value(num), tag}}, add_request(tag, 1)}});
}

struct fixture {
  recording_transport out;
  holding_service py;
  gateway_state state{out, py, "pyactor@host"};

  fixture() {
    out.state = &state;
    state.flush_replies(); // this thread is the loop: batched replies wait for a flush
  }

  void deliver(uint64_t conn, const bytes_t& msg) {
    state.on_message(conn, "py", msg.data(), msg.size());
  }

  /// What each process got: pid number -> (Id or Tag -> replies), plus the
  /// number of `$pyactor_replies` messages.
  std::map<uint32_t, std::map<int64_t, std::vector<value>>> received(size_t& messages) {
    std::map<uint32_t, std::map<int64_t, std::vector<value>>> got;
    messages = 0;
    std::lock_guard<std::mutex> guard{out.mtx};
    for (auto& m : out.sent) {
      auto v = codec::decode_etf(m.etf);
      BOOST_REQUIRE(v.ok());
      auto& t = v.value().as<tuple>().items;
      if (t[0] == value{atom{"$pyactor_replies"}}) {
        ++messages;
        for (auto& e : t[1].as<list>()) {
          auto& pair = e.as<tuple>().items;
          got[m.to][pair[0].as<int64_t>()].push_back(pair[1]);
        }
      } else {
        got[m.to][t[0].as<int64_t>()].push_back(t[1]); // {Tag, Reply}
      }
    }
    return got;
  }
};

} // namespace

BOOST_AUTO_TEST_SUITE(erlbridge_bookkeeping)

BOOST_FIXTURE_TEST_CASE(many_callers_each_get_their_replies_once_from_any_thread, fixture) {
  // Two batchers with batches larger than a booking chunk, and three plain
  // callers, on two connections; completed in a shuffled order, half of
  // them on other threads (those replies leave at once).
  std::vector<int64_t> ids;
  for (int64_t i = 0; i < 200; ++i)
    ids.push_back(i * 7 + 1);
  deliver(1, batch(100, ids));
  deliver(2, batch(200, ids));
  for (int64_t tag = 1; tag <= 20; ++tag)
    deliver(1 + tag % 2, gen_call(static_cast<uint32_t>(tag % 3 + 1), tag));
  BOOST_REQUIRE_EQUAL(py.calls.size(), 420u);
  // submitted in the order the entries came
  for (size_t i = 0; i < 200; ++i)
    BOOST_REQUIRE(py.calls[i].first.args[0] == value{ids[i]});
  BOOST_CHECK_EQUAL(state.stats().in_flight, 420u);
  BOOST_CHECK_EQUAL(state.stats().monitors, 2u + 3u + 3u); // caller 1..3 on both connections
  std::vector<size_t> order(py.calls.size());
  for (size_t i = 0; i < order.size(); ++i)
    order[i] = i;
  std::mt19937 rng(8);
  std::shuffle(order.begin(), order.end(), rng);
  std::vector<size_t> here(order.begin(), order.begin() + 210);
  std::vector<size_t> there(order.begin() + 210, order.end());
  std::thread other([&] {
    for (auto i : there)
      py.calls[i].second(value{py.calls[i].first.args[0].as<int64_t>() + 1});
  });
  for (auto i : here) {
    py.calls[i].second(value{py.calls[i].first.args[0].as<int64_t>() + 1});
    if (i % 17 == 0)
      state.flush_replies();
  }
  other.join();
  state.flush_replies();
  size_t messages = 0;
  auto got = received(messages);
  for (uint32_t b : {100u, 200u}) {
    BOOST_REQUIRE_EQUAL(got[b].size(), ids.size());
    for (auto id : ids) {
      BOOST_REQUIRE_EQUAL(got[b][id].size(), 1u);
      BOOST_CHECK(got[b][id][0] == value(tuple{{atom{"ok"}, id + 1}}));
    }
  }
  size_t plain = 0;
  for (uint32_t p : {1u, 2u, 3u})
    for (auto& [tag, rs] : got[p]) {
      BOOST_CHECK_EQUAL(tag % 3 + 1, p); // at its own caller
      BOOST_REQUIRE_EQUAL(rs.size(), 1u);
      BOOST_CHECK(rs[0] == value(tuple{{atom{"ok"}, tag + 1}}));
      ++plain;
    }
  BOOST_CHECK_EQUAL(plain, 20u);
  BOOST_CHECK_LT(messages, 400u); // replies of one turn share messages
  auto s = state.stats();
  BOOST_CHECK_EQUAL(s.in_flight, 0u);
  BOOST_CHECK_EQUAL(s.replies, 420u);
  // idle callers keep their monitors for `linger`, then lose them
  BOOST_CHECK_EQUAL(s.monitors, 8u);
  state.sweep_idle(gateway_state::clock::now() + gateway_state::linger
                   + std::chrono::seconds{1});
  BOOST_CHECK_EQUAL(state.stats().monitors, 0u);
  BOOST_CHECK_EQUAL(out.demonitors.size(), 8u);
}

BOOST_FIXTURE_TEST_CASE(an_id_reused_while_its_call_runs_is_answered_twice_and_cancellable,
                        fixture) {
  deliver(1, batch(100, {5, 6}));
  deliver(1, batch(100, {5})); // id 5 again while the first still runs
  BOOST_REQUIRE_EQUAL(py.calls.size(), 3u);
  // a cancel of 5 cancels the newer call; the older one runs on
  deliver(1, etf(tuple{{atom{"$pyactor_cancel"}, pid_value(100), list{int64_t{5}}}}));
  BOOST_REQUIRE_EQUAL(py.cancelled.size(), 1u);
  BOOST_CHECK_EQUAL(py.cancelled[0], 3u);
  py.calls[2].second(make_error(errc::cancelled, "cancelled"));
  py.calls[0].second(value{int64_t{50}});
  py.calls[1].second(value{int64_t{60}});
  state.flush_replies();
  size_t messages = 0;
  auto got = received(messages);
  BOOST_REQUIRE_EQUAL(got[100][5].size(), 1u);
  BOOST_CHECK(got[100][5][0] == value(tuple{{atom{"ok"}, int64_t{50}}}));
  BOOST_REQUIRE_EQUAL(got[100][6].size(), 1u);
  BOOST_CHECK_EQUAL(state.stats().in_flight, 0u);
  // reused again, then the batcher dies: both calls of id 7 are cancelled
  deliver(1, batch(100, {7}));
  deliver(1, batch(100, {7}));
  BOOST_CHECK_EQUAL(state.stats().in_flight, 2u);
  state.on_monitor_down(1, out.monitors[100]);
  BOOST_CHECK_EQUAL(py.cancelled.size(), 3u);
  BOOST_CHECK_EQUAL(state.stats().in_flight, 0u);
  BOOST_CHECK_EQUAL(state.stats().callers_down, 1u);
  for (size_t i = 3; i < 5; ++i)
    py.calls[i].second(value{int64_t{0}});
  state.flush_replies();
  got = received(messages);
  BOOST_CHECK_EQUAL(got[100].count(7), 0u);
}

BOOST_FIXTURE_TEST_CASE(a_closed_connection_cancels_its_callers_calls_only, fixture) {
  deliver(1, batch(100, {1, 2, 3}));
  deliver(2, batch(100, {1, 2, 3})); // the same pid over another connection
  deliver(1, gen_call(7, 70));
  deliver(2, gen_call(7, 71));
  BOOST_REQUIRE_EQUAL(py.calls.size(), 8u);
  py.calls[0].second(value{int64_t{10}}); // answered before the close: queued
  state.on_disconnect(1);
  // calls 1, 2 (batch on 1) and 6 (gen_call on 1) are cancelled
  std::sort(py.cancelled.begin(), py.cancelled.end());
  BOOST_CHECK(py.cancelled == (std::vector<uint64_t>{2, 3, 7}));
  BOOST_CHECK_EQUAL(state.stats().in_flight, 4u);
  for (auto& c : py.calls)
    c.second(value{int64_t{1}});
  state.flush_replies();
  std::lock_guard<std::mutex> guard{out.mtx};
  for (auto& m : out.sent)
    BOOST_CHECK_EQUAL(m.conn, 2u); // nothing for the closed connection
  BOOST_CHECK_EQUAL(out.sent.size(), 2u); // one batch of three, one plain reply
  BOOST_CHECK_EQUAL(state.stats().in_flight, 0u);
  BOOST_CHECK_EQUAL(state.stats().monitors, 2u);
}

BOOST_FIXTURE_TEST_CASE(replies_encode_as_the_encoder_does_and_bad_results_become_errors,
                        fixture) {
  deliver(1, batch(100, {1, 2, 3, 4}));
  BOOST_REQUIRE_EQUAL(py.calls.size(), 4u);
  auto big = pyactor::bytes{std::vector<uint8_t>(100000, 0xff)}; // not UTF-8: stays bytes;
  py.calls[0].second(value{big});
  py.calls[1].second(value{list{int64_t{1}, std::string{"x"}, tuple{{atom{"a"}, 2.5}}}});
  py.calls[2].second(value{std::nan("")}); // no Erlang form
  py.calls[3].second(make_error(errc::timeout, "too slow"));
  state.flush_replies();
  size_t messages = 0;
  auto got = received(messages);
  BOOST_CHECK_EQUAL(messages, 1u);
  BOOST_CHECK(got[100][1][0] == value(tuple{{atom{"ok"}, value{big}}}));
  BOOST_CHECK(got[100][2][0]
              == value(tuple{{atom{"ok"},
                              list{int64_t{1}, std::string{"x"}, tuple{{atom{"a"}, 2.5}}}}}));
  auto& bad = got[100][3][0].as<tuple>().items;
  BOOST_CHECK(bad[0] == value{atom{"error"}});
  BOOST_CHECK_NE(codec::format_erlang(bad[1]).find("cannot encode the reply"), std::string::npos);
  auto& late = got[100][4][0].as<tuple>().items;
  BOOST_CHECK(late[0] == value{atom{"error"}});
  BOOST_CHECK(late[1].as<tuple>().items[1] == value{atom{"timeout"}});
}

BOOST_AUTO_TEST_CASE(append_etf_appends_what_encode_etf_writes_and_restores_on_failure) {
  bytes_t out{1, 2, 3};
  std::string problem;
  value v = tuple{{atom{"ok"}, list{int64_t{1}, std::string{"x"}, pyactor::bytes{{0xff}}}}};
  BOOST_REQUIRE(codec::append_etf(v, out, problem));
  auto whole = etf(v);
  BOOST_REQUIRE_EQUAL(out.size(), 3 + whole.size() - 1); // no version byte
  BOOST_CHECK(std::equal(out.begin() + 3, out.end(), whole.begin() + 1, whole.end()));
  auto before = out;
  BOOST_CHECK(!codec::append_etf(list{int64_t{1}, std::nan("")}, out, problem));
  BOOST_CHECK(out == before); // the half-written term is gone
  BOOST_CHECK_NE(problem.find("etf: cannot encode"), std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()
