// Supervision through the C++ API with real worker processes: crashes under
// load, cancellation, pool control, start hooks, process options, recycling.
#include <boost/test/unit_test.hpp>

#include <atomic>
#include <csignal>
#include <random>
#include <set>
#include <thread>

#include "test_fixtures.hpp"

using namespace pyactor;

namespace {

using test::start_pool;
using test::ok;

bool all_ready(runtime& rt, size_t n) {
  auto st = rt.status();
  if (st.size() != n)
    return false;
  for (auto& w : st)
    if (w.state != "ready")
      return false;
  return true;
}

} // namespace

BOOST_AUTO_TEST_SUITE(supervision)

BOOST_AUTO_TEST_CASE(ten_thousand_calls_while_workers_are_killed_every_100ms) {
  test::log_capture log;
  auto o = test::test_options(2, &log);
  o.max_restarts = 1000; // this test kills on purpose
  auto rt = start_pool(o);
  constexpr int threads = 4;
  constexpr int per_thread = 2500;
  std::atomic<int> results{0}, crashed{0}, other{0};
  std::atomic<bool> done{false};
  std::vector<std::string> unexpected;
  std::mutex unexpected_mtx;
  std::set<int64_t> killed;
  std::thread killer([&] {
    std::mt19937 rng{1};
    int kills = 0;
    while (!done) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      auto st = rt->status();
      auto& victim = st[rng() % st.size()];
      if (victim.pid > 0 && ::kill(static_cast<pid_t>(victim.pid), SIGKILL) == 0) {
        ++kills;
        killed.insert(victim.pid);
      }
    }
    BOOST_TEST_MESSAGE("killer sent " << kills << " SIGKILLs");
  });
  std::vector<std::thread> clients;
  for (int t = 0; t < threads; ++t)
    clients.emplace_back([&, t] {
      std::vector<call_handle> handles;
      for (int i = 0; i < per_thread; ++i) {
        // Half a millisecond of work per call: the run spans many kills, and
        // the kills land on running calls too.
        handles.push_back(rt->eval_async("__import__('time').sleep(0.0005) or x + 1",
                                         dict{{{"x", t * per_thread + i}}}));
        if (handles.size() == 64 || i + 1 == per_thread) {
          for (size_t k = 0; k < handles.size(); ++k) {
            auto r = handles[k].get();
            int expected = t * per_thread + (i + 1 - static_cast<int>(handles.size())) + static_cast<int>(k) + 1;
            if (r && r.value() == value{expected}) {
              ++results;
            } else if (!r && r.error().code == errc::worker_crashed) {
              ++crashed;
            } else {
              ++other;
              std::lock_guard<std::mutex> guard{unexpected_mtx};
              unexpected.push_back(r ? r.value().to_string() : r.error().to_string());
            }
          }
          handles.clear();
        }
      }
    });
  for (auto& c : clients)
    c.join();
  done = true;
  killer.join();
  BOOST_TEST_MESSAGE("results " << results << ", worker_crashed " << crashed);
  BOOST_CHECK_EQUAL(results + crashed + other, threads * per_thread); // one reply each
  BOOST_CHECK_EQUAL(other.load(), 0);
  for (auto& u : unexpected)
    BOOST_TEST_MESSAGE("unexpected: " << u);
  BOOST_CHECK_GT(results.load(), 0);
  // Back at full size, with no process the killer hit still listed.
  BOOST_CHECK(test::eventually([&] {
    if (!all_ready(*rt, 2))
      return false;
    for (auto& w : rt->status())
      if (killed.count(w.pid) > 0)
        return false;
    return true;
  }));
  BOOST_CHECK(ok(rt->call("operator", "add", {1, 1})) == value{2});
  BOOST_CHECK(!rt->restarts().empty());
}

BOOST_AUTO_TEST_CASE(crashes_of_every_kind_fail_the_running_call_once) {
  test::log_capture log;
  auto o = test::test_options(1, &log);
  o.max_restarts = 100;
  auto rt = start_pool(o);
  struct crash {
    const char* code;
    const char* expect;
  };
  for (auto& c : {crash{"import ctypes; ctypes.string_at(0)", "signal 11"},
                  crash{"import os; os._exit(3)", "exited with code 3"},
                  crash{"import os; os.abort()", "signal 6"},
                  crash{"import os, signal; os.kill(os.getpid(), signal.SIGKILL)", "signal 9"},
                  crash{"import os; os.close(3); import time; time.sleep(5)", "closed its channel"}}) {
    auto r = rt->exec(c.code);
    BOOST_REQUIRE_MESSAGE(!r, c.code);
    BOOST_CHECK_EQUAL(r.error().code, errc::worker_crashed);
    BOOST_CHECK_MESSAGE(r.error().message.find(c.expect) != std::string::npos,
                        c.code << " -> " << r.error().message);
    BOOST_CHECK(test::eventually([&] { return all_ready(*rt, 1); }));
    BOOST_CHECK(ok(rt->call("operator", "add", {2, 2})) == value{4});
  }
  auto history = rt->restarts();
  BOOST_CHECK_EQUAL(history.size(), 5u);
  BOOST_CHECK(history.front().reason.find("signal 11") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(calls_waiting_for_a_dead_worker_run_elsewhere) {
  auto o = test::test_options(2);
  o.max_restarts = 10;
  o.pipeline_depth = 1;
  auto rt = start_pool(o);
  call_options on1;
  on1.worker = 1;
  // Worker 1 runs a long call; three more wait behind it in its actor.
  auto running = rt->call_async("time", "sleep", {30}, {}, on1);
  std::vector<call_handle> waiting;
  for (int i = 0; i < 3; ++i)
    waiting.push_back(rt->call_async("os", "getpid", {}, {}, on1));
  BOOST_REQUIRE(test::eventually([&] { return rt->status().at(0).in_flight == 4; }));
  auto pid1 = rt->status().at(0).pid;
  ::kill(static_cast<pid_t>(pid1), SIGKILL);
  auto r = running.get();
  BOOST_REQUIRE(!r);
  BOOST_CHECK_EQUAL(r.error().code, errc::worker_crashed);
  // The waiting ones were never sent: they are pinned to slot 1, so they wait
  // for its new process and run there.
  for (auto& h : waiting) {
    auto pid = ok(h.get());
    BOOST_CHECK_NE(pid.as<int64_t>(), pid1);
  }
}

BOOST_AUTO_TEST_CASE(cancel_drops_a_waiting_call_and_interrupts_a_running_one) {
  auto o = test::test_options(1);
  o.pipeline_depth = 1;
  auto rt = start_pool(o);
  auto pid = rt->status().at(0).pid;
  auto running = rt->call_async("time", "sleep", {30});
  auto waiting = rt->call_async("os", "getpid");
  BOOST_REQUIRE(test::eventually([&] { return rt->status().at(0).in_flight == 2; }));
  waiting.cancel();
  auto w = waiting.get();
  BOOST_REQUIRE(!w);
  BOOST_CHECK_EQUAL(w.error().code, errc::cancelled);
  running.cancel();
  auto r = running.get();
  BOOST_REQUIRE(!r);
  BOOST_CHECK_EQUAL(r.error().code, errc::cancelled);
  BOOST_CHECK(r.error().message.find("interrupted") != std::string::npos);
  // KeyboardInterrupt stopped the sleep: the same process serves on.
  BOOST_CHECK(ok(rt->call("os", "getpid")) == value{pid});
  auto finished = rt->call_async("operator", "add", {1, 2});
  BOOST_CHECK(ok(finished.get()) == value{3});
  finished.cancel(); // no effect after the fact
}

BOOST_AUTO_TEST_CASE(workers_can_be_added_and_removed_at_run_time) {
  auto rt = start_pool(test::test_options(1));
  auto added = rt->add_workers(2);
  BOOST_CHECK_EQUAL(added.size(), 2u);
  BOOST_CHECK(all_ready(*rt, 3));
  // Calls in flight at once spread over the three workers (calls made one
  // at a time stay on the worker used last while it is idle).
  // Retried until the route snapshot the callers pick from lists all three.
  std::set<int64_t> pids;
  BOOST_CHECK(test::eventually([&] {
    pids.clear();
    std::vector<runtime::future> flying;
    for (int i = 0; i < 4; ++i)
      flying.push_back(rt->eval_async("__import__('time').sleep(0.3) or __import__('os').getpid()"));
    for (auto& f : flying)
      pids.insert(ok(f.get()).as<int64_t>());
    return pids.size() == 3u;
  }));
  BOOST_CHECK_EQUAL(pids.size(), 3u);
  // Removing drains: the slow call on the removed worker still finishes.
  call_options on3;
  on3.worker = 3;
  auto slow = rt->call_async("time", "sleep", {0.3}, {}, on3);
  BOOST_REQUIRE(test::eventually([&] { return rt->status().at(2).in_flight == 1; }));
  // Queued behind it when the removal starts: it does not run, and its
  // error says that its worker left the pool.
  auto queued = rt->call_async("os", "getpid", {}, {}, on3);
  auto pid3 = rt->status().at(2).pid;
  auto removed = rt->remove_workers(std::vector<uint64_t>{3});
  BOOST_CHECK((removed == std::vector<uint64_t>{3}));
  BOOST_CHECK(ok(slow.get()).is_none());
  auto behind = queued.get();
  if (behind) // it can run first if it reached the worker before the drain
    BOOST_CHECK_EQUAL(behind.value().as<int64_t>(), pid3);
  else {
    BOOST_CHECK_EQUAL(behind.error().code, errc::no_workers);
    BOOST_CHECK_MESSAGE(behind.error().message.find("worker 3 left the pool") != std::string::npos,
                        behind.error().message);
  }
  BOOST_CHECK_EQUAL(rt->status().size(), 2u);
  BOOST_CHECK(test::eventually([&] { return !test::process_alive(pid3); }));
  BOOST_CHECK_EQUAL(rt->remove_workers(1).size(), 1u);
  BOOST_CHECK_EQUAL(rt->status().size(), 1u);
  auto pinned = rt->call("os", "getpid", {}, {}, on3);
  BOOST_REQUIRE(!pinned);
  BOOST_CHECK_EQUAL(pinned.error().code, errc::no_workers);
  BOOST_CHECK_MESSAGE(pinned.error().message.find("worker 3 left the pool") != std::string::npos,
                      pinned.error().message);
  call_options on9; // never existed: a bad request
  on9.worker = 9;
  auto never = rt->call("os", "getpid", {}, {}, on9);
  BOOST_REQUIRE(!never);
  BOOST_CHECK_EQUAL(never.error().code, errc::bad_request);
  BOOST_CHECK(ok(rt->call("operator", "add", {1, 1})) == value{2});
}

BOOST_AUTO_TEST_CASE(start_hooks_environment_and_working_directory_apply_to_every_worker) {
  auto o = test::test_options(2);
  o.imports = {"json", "fractions"};
  o.start_hook = "random.seed";
  o.env = {{"PYACTOR_TEST_FLAVOUR", "vanilla"}};
  o.cwd = "/tmp";
  auto rt = start_pool(o);
  for (uint64_t w : {1, 2}) {
    call_options on;
    on.worker = w;
    BOOST_CHECK(ok(rt->eval("'fractions' in __import__('sys').modules", {}, on)) == value{true});
    BOOST_CHECK(ok(rt->call("os", "getenv", {"PYACTOR_TEST_FLAVOUR"}, {}, on)) == value{"vanilla"});
    BOOST_CHECK(ok(rt->call("os", "getcwd", {}, {}, on)) == value{"/tmp"});
  }
}

BOOST_AUTO_TEST_CASE(a_failing_start_hook_is_given_up_with_its_reason) {
  test::log_capture log;
  auto o = test::test_options(1, &log);
  o.start_hook = "math.no_such_hook";
  o.max_restarts = 2;
  auto started = runtime::start(o);
  BOOST_REQUIRE(!started);
  BOOST_CHECK_EQUAL(started.error().code, errc::no_workers);
  BOOST_CHECK(started.error().message.find("math.no_such_hook") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(workers_are_recycled_after_max_calls_without_losing_calls) {
  auto o = test::test_options(1);
  o.max_calls_per_worker = 10;
  auto rt = start_pool(o);
  std::set<int64_t> pids;
  std::vector<call_handle> handles;
  for (int i = 0; i < 35; ++i)
    handles.push_back(rt->call_async("os", "getpid"));
  for (auto& h : handles)
    pids.insert(ok(h.get()).as<int64_t>());
  BOOST_CHECK_GE(pids.size(), 4u); // 35 calls, 10 per process
  // Counters follow the replies by a moment: the I/O thread answers first.
  BOOST_CHECK(test::eventually([&] { return rt->status().at(0).served == 35u; }));
  BOOST_CHECK_EQUAL(rt->status().at(0).restarts, 0u); // recycling is not a restart
  BOOST_CHECK(rt->restarts().front().reason.find("recycled") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(calls_wait_while_the_only_worker_restarts) {
  auto rt = start_pool(test::test_options(1));
  auto pid = rt->status().at(0).pid;
  ::kill(static_cast<pid_t>(pid), SIGKILL);
  // Whether this call reaches the dying process or waits for the new one,
  // it gets exactly one answer: a result or worker_crashed.
  auto r = rt->call("operator", "mul", {6, 7});
  BOOST_CHECK(r ? r.value() == value{42} : r.error().code == errc::worker_crashed);
  BOOST_CHECK(test::eventually([&] { return all_ready(*rt, 1); }));
  BOOST_CHECK(ok(rt->call("operator", "mul", {6, 7})) == value{42});
}

BOOST_AUTO_TEST_SUITE_END()
