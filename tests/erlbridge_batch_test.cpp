// Batches of calls in the gateway's protocol (`{'$pyactor_batch', Pid,
// [{Id, Bin}, ...]}`), with a fake transport and a fake Python service:
// every entry is answered exactly once, malformed entries beside good ones,
// replies of one loop turn leave as one message, cancels, broken batches.
#include <boost/test/unit_test.hpp>

#include <map>
#include <random>
#include <string>
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

struct recording_transport : transport_callee {
  std::vector<bytes_t> sent;
  void send(uint64_t, const erl_pid&, outgoing_message m) override {
    sent.push_back(test::message_bytes(m));
  }
  void monitor(uint64_t, const erl_pid&, uint64_t) override {}
  void demonitor(uint64_t, const erl_pid&, uint64_t) override {}
  gateway_state* state = nullptr;
  void post(uint64_t key, result<value> r) override { state->on_completion(key, std::move(r)); }
};

value add_request(int64_t a, int64_t b) {
  return tuple{{atom{"func"}, atom{"operator"}, atom{"add"}, list{a, b}, list{}, dict{}}};
}

value entry(int64_t id, const bytes_t& bin) {
  return tuple{{id, pyactor::bytes{bin}}};
}

bytes_t batch(list entries) {
  return etf(tuple{{atom{"$pyactor_batch"}, pid_value(), std::move(entries)}});
}

struct fixture {
  recording_transport out;
  holding_service py;
  gateway_state state{out, py, "pyactor@host"};

  fixture() {
    out.state = &state;
    state.flush_replies(); // this thread is the loop: replies wait for a flush
  }

  void deliver(const bytes_t& msg) { state.on_message(1, "py", msg.data(), msg.size()); }

  /// Every `{Id, Reply}` sent so far, in order, with the number of messages.
  std::vector<std::pair<int64_t, value>> replies(size_t& messages) {
    std::vector<std::pair<int64_t, value>> got;
    messages = 0;
    for (auto& m : out.sent) {
      auto v = codec::decode_etf(m);
      BOOST_REQUIRE(v.ok());
      auto& t = v.value().as<tuple>().items;
      if (t[0] != value{atom{"$pyactor_replies"}})
        continue;
      ++messages;
      for (auto& e : t[1].as<list>()) {
        auto& pair = e.as<tuple>().items;
        got.emplace_back(pair[0].as<int64_t>(), pair[1]);
      }
    }
    return got;
  }

  /// Completes every call the service still holds as cancelled, flushes,
  /// and returns what reached the batcher: calls cancelled at the gateway
  /// get no reply.
  std::vector<std::pair<int64_t, value>> replies_after_completing_all_as_cancelled() {
    for (auto& c : py.calls)
      c.second(make_error(errc::cancelled, "cancelled"));
    state.flush_replies();
    size_t messages = 0;
    return replies(messages);
  }
};

} // namespace

BOOST_AUTO_TEST_SUITE(erlbridge_batch)

BOOST_FIXTURE_TEST_CASE(malformed_entries_beside_good_ones_each_answered_once, fixture) {
  deliver(batch(list{entry(1, etf(add_request(1, 2))), entry(2, bytes_t{131, 255, 0}),
                     entry(3, etf(tuple{{atom{"nonsense"}}})), entry(70000, bytes_t{}),
                     entry(5, etf(add_request(3, 4))), entry(6, etf(atom{"ping"}))}));
  BOOST_REQUIRE_EQUAL(py.calls.size(), 2u);
  BOOST_CHECK(out.sent.empty()); // nothing leaves before the loop's flush
  state.flush_replies();
  size_t messages = 0;
  auto first = replies(messages);
  BOOST_CHECK_EQUAL(messages, 1u); // the four errors and the pong: one message
  std::map<int64_t, value> r(first.begin(), first.end());
  BOOST_CHECK_EQUAL(first.size(), 4u);
  BOOST_CHECK(r.count(2) && r.count(3) && r.count(70000) && r.count(6));
  BOOST_CHECK(r[6] == value(tuple{{atom{"ok"}, atom{"pong"}}}));
  BOOST_CHECK(r[3].as<tuple>().items[1].as<tuple>().items[0] == value{atom{"unknown_call"}});
  BOOST_CHECK(r[2].as<tuple>().items[1].as<tuple>().items[0] == value{atom{"bad_term"}});
  // the two calls complete in the same turn: one more message with both
  py.calls[0].second(value{int64_t{3}});
  py.calls[1].second(value{int64_t{7}});
  py.calls[1].second(value{int64_t{7}}); // a second completion is dropped
  state.flush_replies();
  state.flush_replies(); // nothing left: no empty message
  auto all = replies(messages);
  BOOST_CHECK_EQUAL(messages, 2u);
  BOOST_REQUIRE_EQUAL(all.size(), 6u);
  std::map<int64_t, int> seen;
  for (auto& [id, body] : all)
    ++seen[id];
  for (auto& [id, n] : seen)
    BOOST_CHECK_MESSAGE(n == 1, "id " << id << " answered " << n << " times");
  BOOST_CHECK(all[4].second == value(tuple{{atom{"ok"}, int64_t{3}}}));
  BOOST_CHECK(all[5].second == value(tuple{{atom{"ok"}, int64_t{7}}}));
  BOOST_CHECK_EQUAL(state.stats().in_flight, 0u);
}

BOOST_FIXTURE_TEST_CASE(a_cancel_of_ids_below_256_written_as_a_string_is_read, fixture) {
  // Erlang writes [10, 11] as STRING_EXT "\n\v": the cancel must read it so.
  deliver(batch(list{entry(10, etf(add_request(1, 1))), entry(11, etf(add_request(2, 2))),
                     entry(12, etf(add_request(3, 3)))}));
  BOOST_REQUIRE_EQUAL(py.calls.size(), 3u);
  auto msg = etf(tuple{{atom{"$pyactor_cancel"}, pid_value(), list{}}});
  BOOST_REQUIRE_EQUAL(msg.back(), 106); // [] last: replaced by the string
  msg.pop_back();
  msg.insert(msg.end(), {107, 0, 3, 10, 11, 200});
  deliver(msg);
  BOOST_CHECK_EQUAL(py.cancelled.size(), 2u);
  BOOST_CHECK_EQUAL(state.stats().cancelled, 2u);
  // a string that claims more bytes than it has is dropped whole
  auto bad = etf(tuple{{atom{"$pyactor_cancel"}, pid_value(), list{}}});
  bad.pop_back();
  bad.insert(bad.end(), {107, 0, 9, 12});
  deliver(bad);
  BOOST_CHECK_EQUAL(py.cancelled.size(), 2u);
  auto got = replies_after_completing_all_as_cancelled();
  BOOST_REQUIRE_EQUAL(got.size(), 1u);
  BOOST_CHECK_EQUAL(got[0].first, 12);
}

BOOST_FIXTURE_TEST_CASE(cancelled_entries_get_no_reply, fixture) {
  deliver(batch(list{entry(10, etf(add_request(1, 1))), entry(11, etf(add_request(2, 2))),
                     entry(300, etf(add_request(3, 3)))}));
  BOOST_REQUIRE_EQUAL(py.calls.size(), 3u);
  deliver(etf(tuple{{atom{"$pyactor_cancel"}, pid_value(),
                     list{int64_t{10}, int64_t{300}, int64_t{999}}}}));
  BOOST_CHECK_EQUAL(py.cancelled.size(), 2u);
  BOOST_CHECK_EQUAL(state.stats().cancelled, 2u);
  auto got = replies_after_completing_all_as_cancelled();
  BOOST_REQUIRE_EQUAL(got.size(), 1u);
  BOOST_CHECK_EQUAL(got[0].first, 11);
  BOOST_CHECK_EQUAL(state.stats().in_flight, 0u);
}

BOOST_FIXTURE_TEST_CASE(broken_batches_are_refused_after_the_good_part, fixture) {
  deliver(batch(list{entry(1, etf(add_request(1, 1))), atom{"not_an_entry"},
                     entry(2, etf(add_request(2, 2)))}));
  BOOST_CHECK_EQUAL(py.calls.size(), 1u); // entry 1 runs; entry 2 is behind the break
  BOOST_REQUIRE_EQUAL(out.sent.size(), 1u);
  auto refusal = codec::decode_etf(out.sent[0]);
  BOOST_REQUIRE(refusal.ok());
  BOOST_CHECK(refusal.value().as<tuple>().items[0] == value{atom{"$pyactor_bad_batch"}});
  BOOST_CHECK(refusal.value().as<tuple>().items[1] == value{int64_t{1}});
  // a count the bytes cannot hold: refused before anything is allocated
  auto b = batch(list{entry(1, etf(add_request(1, 1)))});
  auto at = b.size() - 1; // find LIST_EXT: it is right after the pid
  for (size_t i = 0; i + 5 < b.size(); ++i)
    if (b[i] == 108 && b[i + 1] == 0 && b[i + 2] == 0 && b[i + 3] == 0 && b[i + 4] == 1) {
      at = i;
      break;
    }
  b[at + 1] = 0x7f;
  deliver(b);
  BOOST_CHECK_EQUAL(py.calls.size(), 1u);
  BOOST_CHECK_EQUAL(out.sent.size(), 2u);
}

BOOST_FIXTURE_TEST_CASE(mutated_batches_never_crash_and_leave_nothing_in_flight, fixture) {
  auto good = batch(list{entry(1, etf(add_request(1, 1))), entry(2, etf(add_request(2, 2))),
                         entry(3, etf(atom{"ping"}))});
  std::mt19937 rng(9);
  for (int round = 0; round < 3000; ++round) {
    auto m = good;
    m[rng() % m.size()] = static_cast<uint8_t>(rng());
    if (round % 3 == 0)
      m.resize(rng() % m.size());
    deliver(m);
  }
  for (auto& c : py.calls)
    c.second(value{int64_t{0}});
  state.flush_replies();
  BOOST_CHECK_EQUAL(state.stats().in_flight, 0u);
}

BOOST_AUTO_TEST_SUITE_END()
