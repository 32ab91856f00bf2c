// The asynchronous API with a callback, with real worker processes: every
// call gets exactly one result, on a runtime thread, also under kill -9,
// cancel, throwing or re-submitting callbacks, and shutdown.
#include <boost/test/unit_test.hpp>

#include <atomic>
#include <csignal>
#include <dirent.h>
#include <map>
#include <memory>
#include <set>
#include <thread>

#include "test_fixtures.hpp"

using namespace pyactor;

namespace {

/// Counts the results of calls by id, and how often each callback ran.
class tally {
public:
  /// A callback that records its result under `key`.
  completion_callback make(size_t key) {
    return [this, key](result<value> r) {
      std::lock_guard<std::mutex> guard{mtx_};
      auto& e = entries_[key];
      ++e.runs;
      e.outcome = std::move(r);
      e.thread = std::this_thread::get_id();
      ++done_;
      cv_.notify_all();
    };
  }

  /// Waits until `n` results are in (a bound for a hung test).
  bool wait(size_t n, std::chrono::seconds bound = std::chrono::seconds(60)) {
    std::unique_lock<std::mutex> guard{mtx_};
    return cv_.wait_for(guard, bound, [&] { return done_ >= n; });
  }

  struct entry {
    int runs = 0;
    result<value> outcome = make_error(errc::bad_request, "no result");
    std::thread::id thread;
  };

  entry get(size_t key) {
    std::lock_guard<std::mutex> guard{mtx_};
    return entries_[key];
  }

  size_t done() {
    std::lock_guard<std::mutex> guard{mtx_};
    return done_;
  }

private:
  std::mutex mtx_;
  std::condition_variable cv_;
  std::map<size_t, entry> entries_;
  size_t done_ = 0;
};

std::unique_ptr<runtime> start(uint32_t workers, test::log_capture* log = nullptr) {
  auto started = runtime::start(test::test_options(workers, log));
  BOOST_REQUIRE_MESSAGE(started, (started ? "" : started.error().to_string()));
  return std::move(started).value();
}

[[maybe_unused]] size_t thread_count() {
  size_t n = 0;
  if (auto dir = ::opendir("/proc/self/task")) {
    while (auto e = ::readdir(dir))
      if (e->d_name[0] != '.')
        ++n;
    ::closedir(dir);
  }
  return n;
}

} // namespace

BOOST_AUTO_TEST_SUITE(async_api)

BOOST_AUTO_TEST_CASE(thousands_of_concurrent_callbacks_each_run_once_off_the_caller_thread) {
  auto rt = start(2);
  tally t;
  constexpr size_t n = 5000;
  std::vector<uint64_t> ids;
  for (size_t i = 0; i < n; ++i)
    ids.push_back(rt->call_async("operator", "mul", {static_cast<int64_t>(i), 3}, {}, {},
                                 t.make(i)));
  BOOST_REQUIRE(t.wait(n));
  std::set<uint64_t> distinct(ids.begin(), ids.end());
  BOOST_CHECK_EQUAL(distinct.size(), n);
  BOOST_CHECK(distinct.count(0) == 0);
  for (size_t i = 0; i < n; ++i) {
    auto e = t.get(i);
    BOOST_CHECK_EQUAL(e.runs, 1);
    BOOST_REQUIRE_MESSAGE(e.outcome, (e.outcome ? "" : e.outcome.error().to_string()));
    BOOST_CHECK((e.outcome.value() == value{static_cast<int64_t>(i * 3)}));
    BOOST_CHECK(e.thread != std::this_thread::get_id());
  }
}

BOOST_AUTO_TEST_CASE(every_call_kind_has_a_callback_form) {
  auto rt = start(2);
  tally t;
  call_options by_ref;
  by_ref.by_ref = true;
  rt->call_async("math", "pow", {2, 10}, {}, {}, t.make(0));
  rt->constant_async("math", "pi", "int", {}, t.make(1));
  rt->create_async("builtins", "list", {make_list(1, 2)}, {}, by_ref, t.make(2));
  rt->eval_async("x * 2", dict{{{"x", 21}}}, {}, t.make(3));
  rt->exec_async("y = 1", {}, t.make(4));
  rt->builtin_async("len", {make_list(1, 2, 3)}, {}, {}, t.make(5));
  rt->op_async("add", {1, 2}, {}, t.make(6));
  rt->versions_async({}, t.make(7));
  rt->builtin_async("no_such_builtin", {}, {}, {}, t.make(8)); // refused before sending
  BOOST_REQUIRE(t.wait(9));
  BOOST_CHECK((t.get(0).outcome.value() == value{1024.0}));
  BOOST_CHECK((t.get(1).outcome.value() == value{3}));
  auto items = t.get(2).outcome.value();
  BOOST_REQUIRE(items.is<object_ref>());
  BOOST_CHECK((t.get(3).outcome.value() == value{42}));
  BOOST_CHECK(t.get(4).outcome);
  BOOST_CHECK((t.get(5).outcome.value() == value{3}));
  BOOST_CHECK((t.get(6).outcome.value() == value{3}));
  BOOST_CHECK(t.get(7).outcome.value().is<dict>());
  auto refused = t.get(8);
  BOOST_REQUIRE(!refused.outcome);
  BOOST_CHECK_EQUAL(refused.outcome.error().code, errc::bad_request);
  BOOST_CHECK(refused.outcome.error().message.find("no_such_builtin") != std::string::npos);
  BOOST_CHECK(refused.thread != std::this_thread::get_id()); // not inside the call
  rt->method_async(items, "append", {3}, {}, {}, t.make(9));
  BOOST_REQUIRE(t.wait(10));
  rt->attr_async(items, "__len__", {}, t.make(10));
  rt->release_async(items, t.make(11));
  BOOST_REQUIRE(t.wait(12));
  BOOST_CHECK(t.get(9).outcome);
  BOOST_CHECK(t.get(10).outcome);
  BOOST_CHECK((t.get(11).outcome.value() == value{1}));

  std::promise<std::vector<result<value>>> batch;
  rt->batch_async({{"operator", "add", {1, 2}, {}}, {"math", "no_such", {}, {}}}, {},
                  [&](std::vector<result<value>> r) { batch.set_value(std::move(r)); });
  auto b = batch.get_future().get();
  BOOST_REQUIRE_EQUAL(b.size(), 2u);
  BOOST_CHECK((b[0].value() == value{3}));
  BOOST_CHECK_EQUAL(b[1].error().python_type, "AttributeError");

  std::promise<std::vector<worker_reply>> bcast;
  rt->broadcast_async("os", "getpid", {}, {}, {},
                      [&](std::vector<worker_reply> r) { bcast.set_value(std::move(r)); });
  auto pids = bcast.get_future().get();
  BOOST_REQUIRE_EQUAL(pids.size(), 2u);
  BOOST_CHECK(pids[0].outcome && pids[1].outcome);
  BOOST_CHECK((pids[0].outcome.value() != pids[1].outcome.value()));
}

BOOST_AUTO_TEST_CASE(exactly_one_result_per_call_while_workers_are_killed) {
  auto o = test::test_options(2);
  o.max_restarts = 1000; // the test kills far more often than a pool should give up for
  auto rt = runtime::start(o).value();
  tally t;
  constexpr size_t n = 1500;
  std::atomic<bool> stop{false};
  std::thread killer([&] { // also a second thread using status() while calls complete
    for (size_t round = 0; !stop.load(); ++round) {
      auto workers = rt->status();
      auto& w = workers.at(round % workers.size());
      if (w.pid > 0 && w.state == "ready")
        ::kill(static_cast<pid_t>(w.pid), SIGKILL);
      std::this_thread::sleep_for(std::chrono::milliseconds(50)); // load, not synchronisation
    }
  });
  for (size_t i = 0; i < n; ++i)
    rt->call_async("time", "sleep", {0.001}, {}, {}, t.make(i));
  bool all = t.wait(n, std::chrono::seconds(240));
  stop = true;
  killer.join();
  BOOST_REQUIRE(all);
  rt.reset(); // every thread that could deliver a duplicate is gone now
  size_t crashed = 0;
  for (size_t i = 0; i < n; ++i) {
    auto e = t.get(i);
    BOOST_CHECK_EQUAL(e.runs, 1);
    if (!e.outcome) {
      auto code = e.outcome.error().code;
      BOOST_CHECK_MESSAGE(code == errc::worker_crashed || code == errc::no_workers,
                          e.outcome.error().to_string());
      ++crashed;
    }
  }
  BOOST_TEST_MESSAGE(crashed << " of " << n << " calls saw their worker killed");
  BOOST_CHECK_EQUAL(t.done(), n);
}

BOOST_AUTO_TEST_CASE(cancel_answers_cancelled_once_and_unknown_ids_are_ignored) {
  auto rt = start(1);
  tally t;
  auto running = rt->call_async("time", "sleep", {30}, {}, {}, t.make(0));
  auto waiting = rt->call_async("time", "sleep", {30}, {}, {}, t.make(1));
  rt->cancel(waiting);
  rt->cancel(running);
  BOOST_REQUIRE(t.wait(2));
  for (size_t k : {0, 1}) {
    auto e = t.get(k);
    BOOST_REQUIRE(!e.outcome);
    BOOST_CHECK_EQUAL(e.outcome.error().code, errc::cancelled);
    BOOST_CHECK(e.thread != std::this_thread::get_id());
  }
  rt->cancel(running);     // finished: nothing happens
  rt->cancel(0);           // never an id
  rt->cancel(987654321);   // unknown
  // The worker was interrupted, not lost: it serves the next call.
  auto after = rt->call("operator", "add", {2, 2});
  BOOST_REQUIRE_MESSAGE(after, (after ? "" : after.error().to_string()));
  BOOST_CHECK((after.value() == value{4}));
  BOOST_CHECK_EQUAL(t.get(0).runs, 1);
  BOOST_CHECK_EQUAL(t.get(1).runs, 1);
}

BOOST_AUTO_TEST_CASE(a_throwing_callback_is_logged_and_changes_nothing_else) {
  test::log_capture log;
  auto rt = start(1, &log);
  std::atomic<int> runs{0};
  for (int i = 0; i < 20; ++i)
    rt->call_async("operator", "add", {i, 1}, {}, {}, [&runs](result<value>) {
      ++runs;
      throw std::runtime_error("callback boom");
    });
  BOOST_REQUIRE(log.wait_for("callback boom", std::chrono::seconds(30)));
  BOOST_REQUIRE(test::eventually([&] { return runs.load() == 20; }));
  auto r = rt->call("operator", "add", {1, 1});
  BOOST_REQUIRE(r);
  BOOST_CHECK((r.value() == value{2}));
  BOOST_CHECK_EQUAL(runs.load(), 20);
}

BOOST_AUTO_TEST_CASE(a_callback_may_submit_and_cancel_calls) {
  std::promise<int64_t> end;
  std::function<void(result<value>)> step;
  test::log_capture log;
  auto rt = start(2, &log); // declared last: gone before what its callbacks use
  step = [&](result<value> r) {
    if (!r) {
      end.set_value(-1);
      return;
    }
    auto n = r.value().as<int64_t>();
    
    if (n == 20) {
      end.set_value(n);
      return;
    }
    // a new call and a cancel of a call that will not finish, from a callback
    auto slow = rt->call_async("time", "sleep", {30}, {}, {}, nullptr);
    rt->cancel(slow);
    rt->call_async("operator", "add", {n, 1}, {}, {}, step);
  };
  rt->call_async("operator", "add", {0, 1}, {}, {}, step);
  auto f = end.get_future();
  bool ready = f.wait_for(std::chrono::seconds(120)) == std::future_status::ready;
  for (auto& line : log.lines())
    BOOST_TEST_MESSAGE(line);
  BOOST_REQUIRE(ready);
  BOOST_CHECK_EQUAL(f.get(), 20);
}

BOOST_AUTO_TEST_CASE(a_negative_timeout_is_a_bad_request_naming_it) {
  auto rt = start(1);
  call_options o;
  o.timeout = std::chrono::milliseconds(-5000);
  auto r = rt->call("operator", "add", {1, 1}, {}, o);
  BOOST_REQUIRE(!r);
  BOOST_CHECK_EQUAL(r.error().code, errc::bad_request);
  BOOST_CHECK(r.error().message.find("-5000") != std::string::npos);
  BOOST_CHECK(r.error().message.find("timeout") != std::string::npos);
  call_options huge; // clamped to 2^32-1 ms, not wrapped around
  huge.timeout = std::chrono::hours(24 * 365);
  BOOST_CHECK((rt->call("operator", "add", {1, 1}, {}, huge).value() == value{2}));
}

BOOST_AUTO_TEST_SUITE_END()
