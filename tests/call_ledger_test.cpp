// The worker side's call state machine without processes or actors: a fake
// callee records what the ledger asks for, and the test plays the process
// (replies, the alarm, death). Every path must give each call exactly one
// reply or one hand-back.
#include <boost/test/unit_test.hpp>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "actors/call_ledger.hpp"
#include "pyactor/error.hpp"
#include "worker/protocol.hpp"

using namespace pyactor;
using ledger_t = actors::call_ledger;
using actors::call_reply;
using actors::call_request;
using actors::ledger_config;
using actors::reply_to;
using clock_type = ledger_t::clock_type;
using std::chrono::milliseconds;

namespace {

/// A caller waiting for call `id`; counts the replies that reach it by any path.
class caller final : public actors::call_completion {
public:
  caller(uint64_t id, std::map<uint64_t, std::vector<uint8_t>>& got) : id(id), got_(got) {
    // nop
  }

  const uint64_t id;

protected:
  void complete(call_reply&& reply) override {
    got_[id].push_back(reply.code);
  }

private:
  std::map<uint64_t, std::vector<uint8_t>>& got_;
};

/// Records every request of the ledger; the process is played by the test.
class fake_callee final : public actors::ledger_callee {
public:
  std::vector<uint64_t> written;     // tickets written, in order
  std::vector<uint64_t> skipped;     // tickets the process was told to skip
  std::vector<uint64_t> interrupts;  // tickets interrupted
  std::vector<std::string> kills;    // log lines of kills
  std::vector<time_point> alarms;
  std::map<uint64_t, int> delivered; // by request id, through `deliver`
  std::vector<uint64_t> handed_back; // request ids, in order
  std::map<uint64_t, std::vector<uint8_t>> got; // what each caller received
  std::map<uint64_t, std::string> messages;      // the error message per request id
  int64_t released_count = 0;
  std::vector<uint64_t> released_ids;

  void write(const char* data, size_t size) override {
    size_t pos = 0;
    while (pos < size) {
      BOOST_REQUIRE_GE(size - pos, worker::request_header_size);
      auto length = worker::get_u32(data + pos);
      auto ticket = worker::get_u64(data + pos + 4);
      if (ticket & worker::skip_flag)
        skipped.push_back(ticket & ~worker::skip_flag);
      else
        written.push_back(ticket);
      pos += 4 + length;
    }
    BOOST_CHECK_EQUAL(pos, size); // whole frames only
  }

  void interrupt(uint64_t ticket) override {
    interrupts.push_back(ticket);
  }

  void kill(const std::string& why) override {
    kills.push_back(why);
  }

  void set_alarm(time_point at) override {
    alarms.push_back(at);
  }

  void deliver(reply_to&& to, call_reply&& reply) override {
    BOOST_REQUIRE(to.sink.completion != nullptr);
    auto id = static_cast<caller*>(to.sink.completion.get())->id;
    ++delivered[id];
    if (reply.code != 0)
      messages[id] = actors::decode_error_reply(reply).message;
    to.sink.completion->deliver(std::move(reply));
  }

  void hand_back(call_request&& request, reply_to&& to) override {
    BOOST_REQUIRE(to.sink.completion != nullptr); // the caller still waits
    handed_back.push_back(request.request_id);
    kept_.push_back(std::move(to.sink)); // the scheduler would hold it now
  }

  void released(const call_request& request) override {
    ++released_count;
    released_ids.push_back(request.request_id);
  }

  std::string label() const override {
    return "worker 1 (pid 42)";
  }

  /// A call with request id `id` and `timeout_ms`.
  std::pair<call_request, reply_to> call(uint64_t id, uint32_t timeout_ms = 0) {
    call_request req;
    req.body = {'\x91', '\x01'};
    req.request_id = id;
    req.timeout_ms = timeout_ms;
    reply_to to;
    to.sink.completion = std::make_shared<caller>(id, got);
    return {std::move(req), std::move(to)};
  }

  /// How many times call `id` was answered or handed back.
  int outcomes(uint64_t id) const {
    int n = static_cast<int>(got.count(id) ? got.at(id).size() : 0);
    for (auto h : handed_back)
      n += h == id ? 1 : 0;
    return n;
  }

  uint8_t code_of(uint64_t id) const {
    return got.count(id) && !got.at(id).empty() ? got.at(id).front() : 0xff;
  }

private:
  std::vector<actors::reply_sink> kept_;
};

uint8_t code(errc x) {
  return static_cast<uint8_t>(x);
}

/// A ledger with its fake callee, started and ready at `t0`.
struct fixture {
  fake_callee callee;
  clock_type::time_point t0 = clock_type::now();
  std::unique_ptr<ledger_t> ledger;

  explicit fixture(uint32_t depth = 4, uint64_t max_calls = 0) {
    ledger_config cfg;
    cfg.pipeline_depth = depth;
    cfg.max_calls = max_calls;
    cfg.interrupt_grace = milliseconds(2000);
    cfg.reinterrupt_delay = milliseconds(100);
    cfg.start_timeout = milliseconds(0);
    ledger = std::make_unique<ledger_t>(callee, cfg);
    BOOST_REQUIRE(ledger->ready());
  }

  void accept(uint64_t id, uint32_t timeout_ms = 0) {
    auto c = callee.call(id, timeout_ms);
    ledger->accept(std::move(c.first), std::move(c.second), t0);
  }

  void reply(uint64_t ticket, uint8_t status = 0) {
    ledger->on_reply(ticket, status, std::vector<char>{'\xc0'});
    ledger->pump();
  }

  void alarm_at(milliseconds after) {
    ledger->on_alarm(t0 + after);
  }

  /// Every id in [first, last] got exactly one reply or hand-back.
  void check_exactly_once(uint64_t first, uint64_t last) {
    for (auto id = first; id <= last; ++id)
      BOOST_CHECK_MESSAGE(callee.outcomes(id) == 1,
                          "call " << id << " had " << callee.outcomes(id) << " outcomes");
    BOOST_CHECK_EQUAL(callee.released_count, static_cast<int64_t>(last - first + 1));
  }
};

} // namespace

BOOST_AUTO_TEST_SUITE(call_ledger)

BOOST_AUTO_TEST_CASE(each_reply_answers_its_call_once_and_frees_pipeline_room) {
  fixture f{2};
  for (uint64_t id = 1; id <= 5; ++id)
    f.accept(id);
  BOOST_TEST(f.callee.written == (std::vector<uint64_t>{1, 2}), boost::test_tools::per_element());
  BOOST_CHECK_EQUAL(f.ledger->waiting_count(), 3u);
  for (uint64_t ticket = 1; ticket <= 5; ++ticket)
    f.reply(ticket);
  BOOST_TEST(f.callee.written == (std::vector<uint64_t>{1, 2, 3, 4, 5}), boost::test_tools::per_element());
  for (uint64_t id = 1; id <= 5; ++id)
    BOOST_CHECK_EQUAL(f.callee.code_of(id), 0);
  f.check_exactly_once(1, 5);
  BOOST_CHECK(f.ledger->idle());
  BOOST_CHECK_EQUAL(f.ledger->served(), 5u);
  // A second reply to an answered call is dropped.
  f.reply(3);
  f.check_exactly_once(1, 5);
}

BOOST_AUTO_TEST_CASE(pipeline_depth_admits_that_many_and_nothing_before_ready) {
  fake_callee callee;
  ledger_config cfg;
  cfg.pipeline_depth = 1;
  cfg.start_timeout = milliseconds(0);
  ledger_t ledger{callee, cfg};
  auto early = callee.call(7);
  ledger.accept(std::move(early.first), std::move(early.second), clock_type::now());
  BOOST_CHECK(callee.written.empty()); // not ready: nothing written ...
  BOOST_TEST(callee.handed_back == (std::vector<uint64_t>{7}), boost::test_tools::per_element()); // ... it runs elsewhere
  BOOST_REQUIRE(ledger.ready());
  BOOST_CHECK(!ledger.ready()); // one ready frame counts
  for (uint64_t id = 1; id <= 3; ++id) {
    auto c = callee.call(id);
    ledger.accept(std::move(c.first), std::move(c.second), clock_type::now());
  }
  BOOST_TEST(callee.written == (std::vector<uint64_t>{1}), boost::test_tools::per_element());
  ledger.on_reply(1, 0, {});
  ledger.pump();
  BOOST_TEST(callee.written == (std::vector<uint64_t>{1, 2}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(death_fails_only_the_first_written_call_and_hands_back_the_rest) {
  fixture f{64};
  for (uint64_t id = 1; id <= 70; ++id)
    f.accept(id);
  BOOST_CHECK_EQUAL(f.callee.written.size(), 64u);
  f.reply(1); // call 1 answered; 2 runs when the process dies
  BOOST_CHECK(f.ledger->process_died("worker 1 (pid 42) was killed by signal 9"));
  BOOST_CHECK_EQUAL(f.callee.code_of(1), 0);
  BOOST_CHECK_EQUAL(f.callee.code_of(2), code(errc::worker_crashed));
  BOOST_CHECK_NE(f.callee.messages[2].find("while the call was running"), std::string::npos);
  BOOST_CHECK_EQUAL(f.callee.handed_back.size(), 68u); // 3..70: written or waiting
  f.check_exactly_once(1, 70);
  // A call that comes after the death runs elsewhere.
  f.accept(71);
  BOOST_CHECK_EQUAL(f.callee.handed_back.back(), 71u);
  BOOST_CHECK(f.ledger->idle());
}

BOOST_AUTO_TEST_CASE(death_while_idle_blames_no_call) {
  fixture f;
  f.accept(1);
  f.reply(1);
  BOOST_CHECK(!f.ledger->process_died("exited with code 0"));
  f.check_exactly_once(1, 1);
}

BOOST_AUTO_TEST_CASE(timeout_of_a_waiting_call_answers_it_without_touching_the_process) {
  fixture f{1};
  f.accept(1, 1000);
  f.accept(2, 50);
  BOOST_TEST(f.callee.written == (std::vector<uint64_t>{1}), boost::test_tools::per_element());
  BOOST_REQUIRE(!f.callee.alarms.empty());
  BOOST_CHECK(f.callee.alarms.back() == f.t0 + milliseconds(50)); // the earliest deadline
  f.alarm_at(milliseconds(50));
  BOOST_CHECK_EQUAL(f.callee.code_of(2), code(errc::timeout));
  BOOST_CHECK_NE(f.callee.messages[2].find("while it waited for worker 1"), std::string::npos);
  BOOST_CHECK(f.callee.interrupts.empty());
  BOOST_CHECK(f.callee.skipped.empty());
  f.reply(1);
  f.check_exactly_once(1, 2);
}

BOOST_AUTO_TEST_CASE(timeout_of_a_running_call_interrupts_twice_then_kills) {
  fixture f{2};
  f.accept(1, 100);
  f.alarm_at(milliseconds(100));
  BOOST_CHECK_EQUAL(f.callee.code_of(1), code(errc::timeout));
  BOOST_CHECK_NE(f.callee.messages[1].find("the running call was interrupted"), std::string::npos);
  BOOST_TEST(f.callee.interrupts == (std::vector<uint64_t>{1}), boost::test_tools::per_element());
  BOOST_CHECK(f.callee.alarms.back() == f.t0 + milliseconds(200)); // the re-interrupt
  // The abandoned call still holds a pipeline slot: one more fits, not two.
  f.accept(2);
  f.accept(3);
  BOOST_TEST(f.callee.written == (std::vector<uint64_t>{1, 2}), boost::test_tools::per_element());
  f.alarm_at(milliseconds(200));
  BOOST_TEST(f.callee.interrupts == (std::vector<uint64_t>{1, 1}), boost::test_tools::per_element());
  BOOST_CHECK(f.callee.kills.empty());
  f.alarm_at(milliseconds(2100));
  BOOST_REQUIRE_EQUAL(f.callee.kills.size(), 1u);
  BOOST_CHECK_NE(f.callee.kills[0].find("still busy with interrupted call 1"), std::string::npos);
  // The kill lands: the abandoned call was running, so call 2 never started.
  BOOST_CHECK(f.ledger->process_died("was killed by signal 9"));
  BOOST_TEST(f.callee.handed_back == (std::vector<uint64_t>{2, 3}), boost::test_tools::per_element());
  f.check_exactly_once(1, 3);
}

BOOST_AUTO_TEST_CASE(timeout_of_a_written_call_not_started_skips_it) {
  fixture f{2};
  f.accept(1);
  f.accept(2, 50);
  f.alarm_at(milliseconds(50));
  BOOST_CHECK_EQUAL(f.callee.code_of(2), code(errc::timeout));
  BOOST_TEST(f.callee.skipped == (std::vector<uint64_t>{2}), boost::test_tools::per_element());
  BOOST_CHECK(f.callee.interrupts.empty());
  // The process answers the skipped call (bad_request): dropped, not delivered again.
  f.reply(1);
  f.reply(2, static_cast<uint8_t>(worker::status::bad_request));
  f.check_exactly_once(1, 2);
  BOOST_CHECK(f.ledger->idle());
}

BOOST_AUTO_TEST_CASE(cancel_of_a_waiting_call_and_of_a_running_call) {
  fixture f{1};
  f.accept(10);
  f.accept(11);
  BOOST_CHECK(!f.ledger->cancel(99, f.t0)); // not here
  BOOST_CHECK(f.ledger->cancel(11, f.t0));  // waiting
  BOOST_CHECK_EQUAL(f.callee.code_of(11), code(errc::cancelled));
  BOOST_CHECK(f.callee.interrupts.empty());
  BOOST_CHECK(f.ledger->cancel(10, f.t0)); // running
  BOOST_CHECK_EQUAL(f.callee.code_of(10), code(errc::cancelled));
  BOOST_TEST(f.callee.interrupts == (std::vector<uint64_t>{1}), boost::test_tools::per_element());
  BOOST_CHECK(!f.ledger->cancel(10, f.t0)); // answered already
  // Its late reply (KeyboardInterrupt) is dropped, and no kill follows.
  f.reply(1, static_cast<uint8_t>(worker::status::python_exception));
  f.alarm_at(milliseconds(5000));
  BOOST_CHECK(f.callee.kills.empty());
  BOOST_CHECK_EQUAL(f.callee.delivered[10], 1);
  BOOST_CHECK_EQUAL(f.callee.outcomes(10), 1);
  BOOST_CHECK_EQUAL(f.callee.outcomes(11), 1);
  BOOST_CHECK(f.ledger->idle());
}

// Found by the Erlang gateway's tests: with pipelining, a call cancelled
// while another ran could start before its skip frame was read, and then ran
// on unwatched (a 60 s sleep held the worker while it reported nothing).
BOOST_AUTO_TEST_CASE(a_call_cancelled_before_it_started_is_watched_once_it_is_first) {
  fixture f{4};
  f.accept(1);
  f.accept(2); // 1 runs, 2 is written behind it
  BOOST_CHECK(f.ledger->cancel(2, f.t0));
  BOOST_CHECK_EQUAL(f.callee.code_of(2), code(errc::cancelled));
  BOOST_TEST(f.callee.skipped == (std::vector<uint64_t>{2}), boost::test_tools::per_element());
  BOOST_CHECK(f.callee.interrupts.empty()); // 1 is not disturbed
  f.ledger->on_reply(1, 0, std::vector<char>{'\xc0'}, f.t0);
  f.ledger->pump();
  // 2 may have started before its skip arrived: interrupted by its own ticket.
  BOOST_TEST(f.callee.interrupts == (std::vector<uint64_t>{2}), boost::test_tools::per_element());
  // It did start and ignores interrupts: interrupted again, then killed.
  f.alarm_at(milliseconds(100));
  BOOST_CHECK_EQUAL(f.callee.interrupts.size(), 2u);
  f.alarm_at(milliseconds(2000));
  BOOST_CHECK_EQUAL(f.callee.kills.size(), 1u);
  f.check_exactly_once(1, 2);
}

BOOST_AUTO_TEST_CASE(a_skipped_call_that_was_skipped_brings_no_kill) {
  fixture f{4};
  f.accept(1);
  f.accept(2);
  f.accept(3);
  BOOST_CHECK(f.ledger->cancel(2, f.t0));
  // However long 1 runs, the skipped call behind it costs no interrupt or kill.
  f.alarm_at(milliseconds(60000));
  BOOST_CHECK(f.callee.interrupts.empty());
  BOOST_CHECK(f.callee.kills.empty());
  f.ledger->on_reply(1, 0, std::vector<char>{'\xc0'}, f.t0 + milliseconds(60000));
  // The process skipped 2 (its refusal comes), then runs 3: no kill for 2.
  f.ledger->on_reply(2, static_cast<uint8_t>(worker::status::bad_request),
                     std::vector<char>{'\xc0'}, f.t0 + milliseconds(60001));
  f.alarm_at(milliseconds(70000));
  BOOST_CHECK(f.callee.kills.empty());
  BOOST_CHECK_EQUAL(f.callee.outcomes(3), 0); // 3 still runs, unanswered
  f.reply(3);
  f.check_exactly_once(1, 3);
  BOOST_CHECK(f.ledger->idle());
}

BOOST_AUTO_TEST_CASE(reply_after_timeout_is_dropped) {
  fixture f{4};
  f.accept(1, 100);
  f.accept(2, 100);
  f.alarm_at(milliseconds(100)); // 1 running (interrupted), 2 skipped
  f.reply(1);                    // finished just too late
  f.reply(2, static_cast<uint8_t>(worker::status::bad_request));
  BOOST_CHECK_EQUAL(f.callee.code_of(1), code(errc::timeout));
  BOOST_CHECK_EQUAL(f.callee.code_of(2), code(errc::timeout));
  f.check_exactly_once(1, 2);
  BOOST_CHECK(f.ledger->idle());
  BOOST_CHECK_EQUAL(f.ledger->served(), 0u);
}

BOOST_AUTO_TEST_CASE(drain_hands_back_waiting_calls_and_finishes_written_ones) {
  fixture f{1};
  for (uint64_t id = 1; id <= 3; ++id)
    f.accept(id);
  f.ledger->drain();
  BOOST_CHECK(!f.ledger->serving());
  BOOST_TEST(f.callee.handed_back == (std::vector<uint64_t>{2, 3}), boost::test_tools::per_element());
  BOOST_CHECK(!f.ledger->idle());
  f.accept(4); // after the drain: runs elsewhere
  BOOST_CHECK_EQUAL(f.callee.handed_back.back(), 4u);
  f.reply(1);
  BOOST_CHECK(f.ledger->idle());
  BOOST_CHECK_EQUAL(f.callee.code_of(1), 0);
  f.check_exactly_once(1, 4);
}

BOOST_AUTO_TEST_CASE(start_timeout_kills_a_process_never_ready) {
  fake_callee callee;
  ledger_config cfg;
  cfg.start_timeout = milliseconds(500);
  cfg.start_hook = "boot.hang";
  ledger_t ledger{callee, cfg};
  auto t0 = clock_type::now();
  ledger.started(t0);
  BOOST_REQUIRE_EQUAL(callee.alarms.size(), 1u);
  BOOST_CHECK(callee.alarms[0] == t0 + milliseconds(500));
  ledger.on_alarm(t0 + milliseconds(499)); // early wake-up: nothing yet
  BOOST_CHECK(callee.kills.empty());
  ledger.on_alarm(t0 + milliseconds(500));
  BOOST_REQUIRE_EQUAL(callee.kills.size(), 1u);
  BOOST_CHECK_NE(ledger.start_failure().find("start-timeout (500 ms)"), std::string::npos);
  BOOST_CHECK_NE(ledger.start_failure().find("'boot.hang'"), std::string::npos);
  BOOST_CHECK(!ledger.process_died("was killed by signal 9"));
}

BOOST_AUTO_TEST_CASE(start_timeout_does_nothing_once_ready) {
  fake_callee callee;
  ledger_config cfg;
  cfg.start_timeout = milliseconds(500);
  ledger_t ledger{callee, cfg};
  auto t0 = clock_type::now();
  ledger.started(t0);
  BOOST_REQUIRE(ledger.ready());
  ledger.on_alarm(t0 + milliseconds(600));
  BOOST_CHECK(callee.kills.empty());
  BOOST_CHECK(ledger.start_failure().empty());
}

BOOST_AUTO_TEST_CASE(the_io_thread_completes_a_call_once_and_the_books_follow) {
  fixture f{4};
  f.accept(1);
  f.accept(2);
  f.accept(3);
  // The I/O thread answers 1 and 2 straight from their frames ...
  std::vector<char> payload{'\xc0'};
  BOOST_CHECK(f.ledger->io_side()->complete(1, 0, payload));
  BOOST_CHECK(payload.empty());
  payload = {'\xc0'};
  BOOST_CHECK(f.ledger->io_side()->complete(2, 0, payload));
  BOOST_CHECK(!f.ledger->io_side()->complete(2, 0, payload)); // never twice
  // ... the actor sees 1's frame, then the process dies before 2's frame
  // reached the actor: 2 must not be failed nor run again; 3 goes back.
  f.ledger->on_reply(1, 0, {});
  BOOST_CHECK(f.ledger->process_died("was killed by signal 9"));
  BOOST_CHECK_EQUAL(f.callee.delivered.count(1), 0u); // not through the actor
  BOOST_CHECK_EQUAL(f.callee.delivered.count(2), 0u);
  BOOST_CHECK_EQUAL(f.callee.code_of(1), 0);
  BOOST_CHECK_EQUAL(f.callee.code_of(2), 0);
  BOOST_TEST(f.callee.handed_back == (std::vector<uint64_t>{3}), boost::test_tools::per_element());
  f.check_exactly_once(1, 3);
}

BOOST_AUTO_TEST_CASE(abandon_all_answers_every_call_left) {
  fixture f{2};
  for (uint64_t id = 1; id <= 4; ++id)
    f.accept(id);
  f.ledger->abandon_all("worker 1 stopped before the call finished");
  for (uint64_t id = 1; id <= 4; ++id)
    BOOST_CHECK_EQUAL(f.callee.code_of(id), code(errc::worker_crashed));
  f.check_exactly_once(1, 4);
  f.accept(5);
  BOOST_CHECK_EQUAL(f.callee.handed_back.back(), 5u);
}

BOOST_AUTO_TEST_CASE(max_calls_caps_what_one_process_is_given) {
  fixture f{4, 2};
  for (uint64_t id = 1; id <= 3; ++id)
    f.accept(id);
  BOOST_TEST(f.callee.written == (std::vector<uint64_t>{1, 2}), boost::test_tools::per_element());
  f.reply(1);
  BOOST_CHECK(!f.ledger->recycle_due());
  f.reply(2);
  BOOST_CHECK(f.ledger->recycle_due());
  f.ledger->drain(); // what the actor does when recycling is due
  BOOST_TEST(f.callee.handed_back == (std::vector<uint64_t>{3}), boost::test_tools::per_element());
  f.check_exactly_once(1, 3);
}

BOOST_AUTO_TEST_SUITE_END()
