// call_handle's result slot as a class (libpyactor/src/client/call_slot.hpp):
// one result, set once on any thread, taken once; a completion dropped
// unanswered leaves `not_running`, never a waiter blocked for good.
#include <boost/test/unit_test.hpp>

#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include "client/call_slot.hpp"

using namespace pyactor;

BOOST_AUTO_TEST_SUITE(call_slot)

BOOST_AUTO_TEST_CASE(a_result_set_before_the_wait_is_taken_and_later_sets_are_ignored) {
  auto slot = std::make_shared<call_handle::slot>();
  BOOST_CHECK(!slot->ready());
  BOOST_CHECK(!slot->wait_for(std::chrono::milliseconds(0)));
  slot->set(value{int64_t{41}});
  slot->set(value{int64_t{42}}); // a second answer changes nothing
  BOOST_CHECK(slot->ready());
  BOOST_CHECK(slot->wait_for(std::chrono::milliseconds(0)));
  auto r = slot->take();
  BOOST_REQUIRE(r);
  BOOST_CHECK_EQUAL(r.value().as<int64_t>(), 41);
}

BOOST_AUTO_TEST_CASE(a_waiting_thread_gets_the_result_set_on_another_thread) {
  // Many rounds: the set races with the waiter going to sleep.
  for (int round = 0; round < 2000; ++round) {
    auto slot = std::make_shared<call_handle::slot>();
    std::atomic<int64_t> got{-1};
    std::thread waiter{[&] {
      auto r = slot->take();
      got.store(r ? r.value().as<int64_t>() : -2);
    }};
    std::thread setter{[&] { slot->set(value{int64_t{round}}); }};
    setter.join();
    waiter.join();
    BOOST_REQUIRE_EQUAL(got.load(), round);
  }
}

BOOST_AUTO_TEST_CASE(a_timed_wait_sees_a_result_set_while_it_waits) {
  auto slot = std::make_shared<call_handle::slot>();
  std::thread setter{[&] { slot->set(value{int64_t{7}}); }};
  // The bound only keeps a broken slot from hanging the test.
  BOOST_CHECK(slot->wait_for(std::chrono::minutes(1)));
  setter.join();
  BOOST_CHECK_EQUAL(slot->take().value().as<int64_t>(), 7);
}

BOOST_AUTO_TEST_CASE(a_completion_dropped_unanswered_leaves_not_running) {
  auto slot = std::make_shared<call_handle::slot>();
  std::thread waiter_thread;
  result<value> seen = value{};
  waiter_thread = std::thread{[&] { seen = slot->take(); }};
  {
    auto writer = std::make_shared<client::slot_writer>(slot);
    std::function<void(result<value>)> completion = [writer](result<value> r) {
      writer->set(std::move(r));
    };
    writer.reset(); // the completion is the writer's last owner, and is dropped uncalled
  }
  waiter_thread.join();
  BOOST_REQUIRE(!seen);
  BOOST_CHECK_EQUAL(seen.error().code, errc::not_running);
}

BOOST_AUTO_TEST_CASE(an_answered_completion_keeps_its_answer_when_dropped) {
  auto slot = std::make_shared<call_handle::slot>();
  {
    auto writer = std::make_shared<client::slot_writer>(slot);
    std::function<void(result<value>)> completion = [writer](result<value> r) {
      writer->set(std::move(r));
    };
    writer.reset();
    completion(value{std::string{"done"}});
  }
  auto r = slot->take();
  BOOST_REQUIRE(r);
  BOOST_CHECK_EQUAL(r.value().as<std::string>(), "done");
}

BOOST_AUTO_TEST_SUITE_END()
