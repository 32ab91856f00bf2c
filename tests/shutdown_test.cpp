// Destroying the runtime, as a host program does it: on another thread than
// the one that started it, while other threads once used it, with calls in
// flight (each gets exactly one `not_running`), and with cross-worker calls
// that have steps in flight. Real worker processes throughout.
#include <boost/test/unit_test.hpp>

#include <atomic>
#include <csignal>
#include <dirent.h>
#include <future>
#include <memory>
#include <thread>

#include "test_fixtures.hpp"

using namespace pyactor;

namespace {

std::unique_ptr<runtime> start(uint32_t workers) {
  auto started = runtime::start(test::test_options(workers));
  BOOST_REQUIRE_MESSAGE(started, (started ? "" : started.error().to_string()));
  return std::move(started).value();
}

/// Bound for a destructor that hangs: the test fails instead of hanging.
constexpr auto hang_bound = std::chrono::seconds(60);

/// Destroys `rt` on a thread of its own; true if that finished within the
/// bound. A destructor that hangs is left behind (detached) so the test
/// fails instead of hanging.
bool destroy_elsewhere(std::unique_ptr<runtime> rt) {
  auto done = std::make_shared<std::promise<void>>();
  auto finished = done->get_future();
  std::thread([rt = std::move(rt), done]() mutable {
    rt.reset();
    done->set_value();
  }).detach();
  return finished.wait_for(hang_bound) == std::future_status::ready;
}

size_t thread_count() {
  size_t n = 0;
  if (auto dir = ::opendir("/proc/self/task")) {
    while (auto e = ::readdir(dir))
      if (e->d_name[0] != '.')
        ++n;
    ::closedir(dir);
  }
  return n;
}

/// Two objects by reference, one in each worker of a two-worker pool.
std::pair<value, value> objects_in_two_workers(runtime& rt) {
  call_options on1, on2;
  on1.worker = 1;
  on2.worker = 2;
  on1.by_ref = on2.by_ref = true;
  auto a = rt.create("builtins", "list", {make_list(1, 2)}, {}, on1);
  auto b = rt.create("builtins", "list", {make_list(3)}, {}, on2);
  BOOST_REQUIRE(a && b);
  BOOST_REQUIRE_NE(a.value().as<object_ref>().worker_uid, b.value().as<object_ref>().worker_uid);
  return {a.value(), b.value()};
}

/// A Python expression that sleeps long, then uses both objects.
const std::string slow_expression = "__import__('time').sleep(60) or len(a) + len(b)";

} // namespace

BOOST_AUTO_TEST_SUITE(shutdown)

BOOST_AUTO_TEST_CASE(the_runtime_can_be_destroyed_on_another_thread_than_its_starter) {
  auto rt = start(2);
  auto r = rt->call("operator", "add", {1, 2}); // the starting thread used it too
  BOOST_REQUIRE(r);
  auto pids = std::vector<int64_t>{};
  for (auto& w : rt->status())
    pids.push_back(w.pid);
  BOOST_REQUIRE(destroy_elsewhere(std::move(rt)));
  for (auto pid : pids)
    BOOST_CHECK(!test::process_alive(pid));
}

BOOST_AUTO_TEST_CASE(destroying_does_not_wait_for_a_live_thread_that_called_status) {
  auto rt = start(1);
  std::mutex mtx;
  std::condition_variable cv;
  bool status_done = false;
  bool release = false;
  std::thread health([&] { // a health-check thread that outlives the runtime
    auto st = rt->status();
    std::unique_lock<std::mutex> guard{mtx};
    status_done = !st.empty();
    cv.notify_all();
    cv.wait(guard, [&] { return release; });
  });
  {
    std::unique_lock<std::mutex> guard{mtx};
    cv.wait(guard, [&] { return status_done; });
  }
  bool destroyed = destroy_elsewhere(std::move(rt));
  {
    std::lock_guard<std::mutex> guard{mtx};
    release = true;
    cv.notify_all();
  }
  health.join();
  BOOST_CHECK(status_done);
  BOOST_CHECK_MESSAGE(destroyed, "the destructor waited for the health-check thread");
}

BOOST_AUTO_TEST_CASE(each_call_in_flight_at_destruction_gets_exactly_one_not_running) {
  auto rt = start(1);
  constexpr int n = 100;
  std::atomic<int> runs[n];
  std::atomic<int> not_running{0};
  for (auto& r : runs)
    r = 0;
  std::vector<call_handle> handles;
  for (int i = 0; i < n; ++i) {
    rt->call_async("time", "sleep", {30}, {}, {}, [&, i](result<value> r) {
      ++runs[i];
      if (!r && r.error().code == errc::not_running)
        ++not_running;
    });
    handles.push_back(rt->call_async("time", "sleep", {30}));
  }
  // A callback that submits again while the runtime goes away gets
  // not_running for that call too, at once.
  std::atomic<int> resubmitted{0};
  std::atomic<int> second_not_running{0};
  auto* raw = rt.get();
  rt->call_async("time", "sleep", {30}, {}, {}, [&, raw](result<value>) {
    ++resubmitted;
    raw->call_async("operator", "add", {1, 1}, {}, {}, [&](result<value> r) {
      if (!r && r.error().code == errc::not_running)
        ++second_not_running;
    });
  });
  BOOST_REQUIRE(destroy_elsewhere(std::move(rt)));
  for (int i = 0; i < n; ++i)
    BOOST_CHECK_EQUAL(runs[i].load(), 1);
  BOOST_CHECK_EQUAL(not_running.load(), n);
  for (auto& h : handles) {
    BOOST_REQUIRE(h.ready());
    auto r = h.get();
    BOOST_REQUIRE(!r);
    BOOST_CHECK_EQUAL(r.error().code, errc::not_running);
  }
  BOOST_CHECK_EQUAL(resubmitted.load(), 1);
  BOOST_CHECK_EQUAL(second_not_running.load(), 1);
}

BOOST_AUTO_TEST_CASE(a_cross_worker_call_has_an_id_and_cancel_ends_it) {
  auto rt = start(2);
  auto [a, b] = objects_in_two_workers(*rt);
  auto h = rt->eval_async(slow_expression, dict{{{"a", a}, {"b", b}}});
  BOOST_CHECK_NE(h.id(), 0u);
  h.cancel();
  // Bounded wait for a hung test: the call itself sleeps 60 s.
  BOOST_REQUIRE(h.wait_for(std::chrono::seconds(30)));
  auto r = h.get();
  BOOST_REQUIRE(!r);
  BOOST_CHECK_EQUAL(r.error().code, errc::cancelled);
  // The same through runtime::cancel and a callback; then destroy at once:
  // the destructor does not wait for the 60 s call.
  std::promise<result<value>> cb;
  auto id = rt->eval_async(slow_expression, dict{{{"a", a}, {"b", b}}}, {},
                           [&](result<value> x) { cb.set_value(std::move(x)); });
  BOOST_CHECK_NE(id, 0u);
  BOOST_CHECK_NE(id, h.id());
  rt->cancel(id);
  auto f = cb.get_future();
  BOOST_REQUIRE(f.wait_for(std::chrono::seconds(30)) == std::future_status::ready);
  BOOST_CHECK_EQUAL(f.get().error().code, errc::cancelled);
  auto pending = rt->eval_async(slow_expression, dict{{{"a", a}, {"b", b}}});
  BOOST_REQUIRE(destroy_elsewhere(std::move(rt)));
  BOOST_REQUIRE(pending.ready());
  BOOST_CHECK_EQUAL(pending.get().error().code, errc::not_running);
}

BOOST_AUTO_TEST_CASE(cross_worker_calls_use_no_thread_each_and_survive_a_killed_worker) {
  auto rt = start(2);
  auto [a, b] = objects_in_two_workers(*rt);
  // Works, and the copy is released afterwards.
  auto sum = rt->eval("len(a) + len(b)", dict{{{"a", a}, {"b", b}}});
  BOOST_REQUIRE_MESSAGE(sum, (sum ? "" : sum.error().to_string()));
  BOOST_CHECK((sum.value() == value{3}));
  auto before = thread_count();
  std::vector<call_handle> calls;
  for (int i = 0; i < 40; ++i)
    calls.push_back(rt->eval_async(slow_expression, dict{{{"a", a}, {"b", b}}}));
  auto during = thread_count();
  BOOST_CHECK_LT(during, before + 40); // a helper thread per call would add 40
  // Kill the worker that holds `b` (its copies are made there): every call
  // still ends with exactly one result.
  for (auto& w : rt->status())
    if (static_cast<uint64_t>(w.uid) == b.as<object_ref>().worker_uid)
      ::kill(static_cast<pid_t>(w.pid), SIGKILL);
  for (auto& c : calls)
    rt->cancel(c.id());
  for (auto& c : calls) {
    BOOST_REQUIRE(c.wait_for(std::chrono::seconds(60)));
    auto r = c.get();
    BOOST_REQUIRE(!r);
    auto code = r.error().code;
    BOOST_CHECK_MESSAGE(code == errc::cancelled || code == errc::cross_worker_ref
                          || code == errc::worker_crashed || code == errc::stale_ref,
                        r.error().to_string());
  }
}

BOOST_AUTO_TEST_SUITE_END()
