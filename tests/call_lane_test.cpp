// The call lane (src/actors/call_lane.hpp) raced against the worker's
// lifecycle with real worker processes: callers on many threads write their
// own calls while workers are SIGKILLed, drained, recycled, or the runtime
// is destroyed on another thread. Every call must get exactly one reply.
#include <boost/test/unit_test.hpp>

#include <atomic>
#include <csignal>
#include <filesystem>
#include <memory>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "test_fixtures.hpp"

using namespace pyactor;

namespace {

using test::ok;
using test::start_pool;

/// Counts the replies of calls by id: a second reply to one call is a defect.
class reply_book {
public:
  explicit reply_book(size_t calls) : replies_(calls) {
    for (auto& r : replies_)
      r.store(0);
  }

  /// The callback of call number `i`.
  completion_callback on_reply(size_t i, std::function<void(const result<value>&)> check) {
    return [this, i, check = std::move(check)](result<value> r) {
      replies_[i].fetch_add(1);
      check(r);
    };
  }

  /// True once every call has a reply.
  bool all_answered() const {
    for (auto& r : replies_)
      if (r.load() == 0)
        return false;
    return true;
  }

  /// Calls answered more than once.
  size_t twice() const {
    size_t n = 0;
    for (auto& r : replies_)
      n += r.load() > 1 ? 1 : 0;
    return n;
  }

private:
  std::vector<std::atomic<int>> replies_;
};

/// Collects results that are neither the value nor one of the `allowed` errors.
struct verdicts {
  std::atomic<int> values{0};
  std::atomic<int> errors{0};
  std::mutex mtx;
  std::vector<std::string> unexpected;

  void note(const result<value>& r, const value& expected, std::set<errc> allowed) {
    if (r && r.value() == expected) {
      ++values;
      return;
    }
    if (!r && allowed.count(r.error().code) > 0) {
      ++errors;
      return;
    }
    std::lock_guard<std::mutex> guard{mtx};
    unexpected.push_back(r ? "value " + r.value().to_string() + " for " + expected.to_string()
                           : r.error().to_string());
  }

  void check_none_unexpected() {
    std::lock_guard<std::mutex> guard{mtx};
    for (auto& u : unexpected)
      BOOST_ERROR("unexpected result: " << u);
  }
};

} // namespace

BOOST_AUTO_TEST_SUITE(call_lane)

BOOST_AUTO_TEST_CASE(sigkill_while_eight_threads_call_through_the_lane) {
  test::log_capture log;
  auto o = test::test_options(2, &log);
  o.max_restarts = 1000; // this test kills on purpose
  auto rt = start_pool(o);
  constexpr int threads = 8;
  constexpr int per_thread = 300;
  verdicts v;
  std::atomic<int> finished{0};
  std::atomic<int> kills{0};
  std::thread killer([&] {
    // Kill a serving worker whenever calls are in flight, ten times.
    while (finished.load() < threads && kills.load() < 10) {
      std::this_thread::sleep_for(std::chrono::milliseconds(30));
      if (test::kill_a_busy_worker(*rt))
        ++kills;
    }
  });
  std::vector<std::thread> callers;
  for (int t = 0; t < threads; ++t)
    callers.emplace_back([&, t] {
      for (int i = 0; i < per_thread; ++i) {
        int x = t * per_thread + i;
        auto r = rt->eval("__import__('time').sleep(0.0002) or x + 1", dict{{{"x", x}}});
        v.note(r, value{x + 1}, {errc::worker_crashed});
      }
      ++finished;
    });
  for (auto& c : callers)
    c.join();
  killer.join();
  BOOST_TEST_MESSAGE("kills " << kills.load() << ", values " << v.values.load() << ", crashed "
                              << v.errors.load());
  v.check_none_unexpected();
  BOOST_CHECK_EQUAL(v.values.load() + v.errors.load(), threads * per_thread);
  BOOST_CHECK_GT(kills.load(), 0);
  // Only a running call fails: at most one per kill (two workers, each death
  // fails the one call it ran).
  BOOST_CHECK_LE(v.errors.load(), kills.load());
  // The pool still serves.
  BOOST_CHECK(ok(rt->eval("1 + 1")) == value{2});
}

BOOST_AUTO_TEST_CASE(async_calls_through_the_lane_get_exactly_one_reply_under_kills) {
  test::log_capture log;
  auto o = test::test_options(2, &log);
  o.max_restarts = 1000;
  o.pipeline_depth = 8; // many calls wait for a free slot in the lane
  constexpr size_t calls = 4000;
  reply_book book{calls};
  verdicts v;
  {
    auto rt = start_pool(o);
    std::atomic<bool> done{false};
    std::atomic<int> kills{0};
    std::thread killer([&] {
      while (!done.load() && kills.load() < 8) {
        std::this_thread::sleep_for(std::chrono::milliseconds(40));
        auto st = rt->status();
        if (!st.empty() && st[0].pid > 0 && ::kill(static_cast<pid_t>(st[0].pid), SIGKILL) == 0)
          ++kills;
      }
    });
    std::vector<std::thread> callers;
    for (size_t t = 0; t < 4; ++t)
      callers.emplace_back([&, t] {
        for (size_t i = t; i < calls; i += 4) {
          auto x = static_cast<int64_t>(i);
          rt->eval_async("__import__('time').sleep(0.0001) or x * 2", dict{{{"x", x}}}, {},
                         book.on_reply(i, [&v, x](const result<value>& r) {
                           v.note(r, value{x * 2}, {errc::worker_crashed});
                         }));
        }
      });
    for (auto& c : callers)
      c.join();
    BOOST_CHECK(test::eventually([&] { return book.all_answered(); }, std::chrono::seconds(120)));
    done = true;
    killer.join();
    BOOST_TEST_MESSAGE("kills " << kills.load() << ", crashed " << v.errors.load());
    BOOST_CHECK_LE(v.errors.load(), kills.load());
  }
  // The runtime is gone: no late second reply came on its way down.
  BOOST_CHECK(book.all_answered());
  BOOST_CHECK_EQUAL(book.twice(), 0u);
  v.check_none_unexpected();
}

BOOST_AUTO_TEST_CASE(drain_while_callers_write) {
  test::log_capture log;
  auto o = test::test_options(3, &log);
  auto rt = start_pool(o);
  constexpr int threads = 6;
  constexpr int per_thread = 200;
  verdicts v;
  std::atomic<int> started{0};
  std::vector<std::thread> callers;
  for (int t = 0; t < threads; ++t)
    callers.emplace_back([&, t] {
      for (int i = 0; i < per_thread; ++i) {
        int x = t * per_thread + i;
        auto r = rt->eval("__import__('time').sleep(0.0002) or x - 1", dict{{{"x", x}}});
        v.note(r, value{x - 1}, {});
        ++started;
      }
    });
  // Drain two of the three workers while the callers write: their waiting
  // calls go back and run elsewhere; nothing fails.
  BOOST_CHECK(test::eventually([&] { return started.load() > 100; }));
  auto removed = rt->remove_workers(2);
  BOOST_CHECK_EQUAL(removed.size(), 2u);
  for (auto& c : callers)
    c.join();
  v.check_none_unexpected();
  BOOST_CHECK_EQUAL(v.values.load(), threads * per_thread);
  BOOST_CHECK_EQUAL(v.errors.load(), 0);
}

BOOST_AUTO_TEST_CASE(recycle_while_callers_write) {
  test::log_capture log;
  auto o = test::test_options(2, &log);
  o.max_calls_per_worker = 40; // recycled every 40 calls while callers write
  auto rt = start_pool(o);
  constexpr int threads = 4;
  constexpr int per_thread = 150;
  verdicts v;
  std::vector<std::thread> callers;
  for (int t = 0; t < threads; ++t)
    callers.emplace_back([&, t] {
      for (int i = 0; i < per_thread; ++i) {
        int x = t * per_thread + i;
        v.note(rt->eval("x * 3", dict{{{"x", x}}}), value{x * 3}, {});
      }
    });
  for (auto& c : callers)
    c.join();
  v.check_none_unexpected();
  BOOST_CHECK_EQUAL(v.values.load(), threads * per_thread);
  BOOST_CHECK_GT(rt->restarts().size(), 0u);
}

BOOST_AUTO_TEST_CASE(runtime_destroyed_on_another_thread_while_lane_callers_wait) {
  test::log_capture log;
  auto rt = start_pool(test::test_options(2, &log));
  constexpr int threads = 6;
  verdicts v;
  std::atomic<int> waiting{0};
  std::vector<std::thread> callers;
  for (int t = 0; t < threads; ++t)
    callers.emplace_back([&, t] {
      ++waiting;
      // Long enough that the runtime goes while the calls run or wait.
      auto r = rt->eval("__import__('time').sleep(30) or x", dict{{{"x", t}}});
      v.note(r, value{t}, {errc::not_running, errc::worker_crashed});
    });
  BOOST_CHECK(test::eventually([&] {
    size_t in_flight = 0;
    for (auto& w : rt->status())
      in_flight += w.in_flight;
    return waiting.load() == threads && in_flight == static_cast<size_t>(threads);
  }));
  std::thread destroyer([&] { rt.reset(); });
  destroyer.join();
  for (auto& c : callers)
    c.join();
  v.check_none_unexpected();
  BOOST_CHECK_EQUAL(v.errors.load(), threads);
  BOOST_CHECK_EQUAL(v.values.load(), 0);
}

BOOST_AUTO_TEST_CASE(a_lane_call_past_its_deadline_is_interrupted_and_the_worker_serves_on) {
  test::log_capture log;
  auto rt = start_pool(test::test_options(1, &log));
  call_options opts;
  opts.timeout = std::chrono::milliseconds(200);
  auto r = rt->eval("__import__('time').sleep(30)", {}, opts);
  BOOST_REQUIRE(!r);
  BOOST_CHECK(r.error().code == errc::timeout);
  // The interrupt reached the running call: the same process answers next.
  auto pid = rt->status().at(0).pid;
  BOOST_CHECK(ok(rt->eval("6 * 7")) == value{42});
  BOOST_CHECK_EQUAL(rt->status().at(0).pid, pid);
}

BOOST_AUTO_TEST_CASE(cancel_reaches_a_call_the_caller_wrote_itself) {
  test::log_capture log;
  auto rt = start_pool(test::test_options(1, &log));
  auto h = rt->eval_async("__import__('time').sleep(30)");
  BOOST_CHECK(test::eventually([&] { return rt->status().at(0).in_flight == 1; }));
  h.cancel();
  auto r = h.get();
  BOOST_REQUIRE(!r);
  BOOST_CHECK(r.error().code == errc::cancelled);
  // The running call was interrupted (not left to sleep 30 s): the worker
  // answers the next call.
  BOOST_CHECK(ok(rt->eval("5 + 5")) == value{10});
}

BOOST_AUTO_TEST_CASE(leaders_and_followers_on_one_worker_each_get_their_own_reply) {
  // One worker: a blocking caller that finds the reader token free reads the
  // channel itself and dispatches every frame it reads (others' replies
  // too); the others sleep until their reply is completed, by the leader or
  // the I/O thread. Async calls mixed in must not be stranded either.
  test::log_capture log;
  auto rt = start_pool(test::test_options(1, &log));
  constexpr int threads = 4;
  constexpr int per_thread = 400;
  verdicts v;
  constexpr size_t async_calls = 400;
  reply_book book{async_calls};
  std::vector<std::thread> callers;
  for (int t = 0; t < threads; ++t)
    callers.emplace_back([&, t] {
      for (int i = 0; i < per_thread; ++i) {
        int x = t * per_thread + i;
        v.note(rt->call("operator", "add", {value{x}, value{1}}), value{x + 1}, {});
        if (t == 0 && i < static_cast<int>(async_calls))
          rt->eval_async("x", dict{{{"x", i}}}, {},
                         book.on_reply(static_cast<size_t>(i), [&v, i](const result<value>& r) {
                           v.note(r, value{i}, {});
                         }));
      }
    });
  for (auto& c : callers)
    c.join();
  BOOST_CHECK(test::eventually([&] { return book.all_answered(); }));
  BOOST_CHECK_EQUAL(book.twice(), 0u);
  v.check_none_unexpected();
  BOOST_CHECK_EQUAL(v.values.load(), threads * per_thread + static_cast<int>(async_calls));
}

BOOST_AUTO_TEST_CASE(a_leader_whose_worker_is_sigkilled_gets_worker_crashed) {
  test::log_capture log;
  auto o = test::test_options(1, &log);
  auto rt = start_pool(o);
  // Warm up, so that the reader token is free and the next caller leads.
  BOOST_CHECK(ok(rt->eval("1")) == value{1});
  auto pid = rt->status().at(0).pid;
  std::thread killer([&] {
    BOOST_CHECK(test::eventually([&] { return rt->status().at(0).in_flight == 1; }));
    ::kill(static_cast<pid_t>(pid), SIGKILL);
  });
  auto r = rt->eval("__import__('time').sleep(30)");
  killer.join();
  BOOST_REQUIRE(!r);
  BOOST_CHECK(r.error().code == errc::worker_crashed);
  // A new process serves the next call.
  BOOST_CHECK(ok(rt->eval("2 + 2")) == value{4});
  BOOST_CHECK_NE(rt->status().at(0).pid, pid);
}

BOOST_AUTO_TEST_CASE(a_call_handed_back_after_a_kill_never_ran_before) {
  // Each call creates its own file with open(..., 'x'): a call run twice
  // (a reply lost with the worker, the call handed back and run again)
  // fails with FileExistsError. Kills land while up to 64 calls are written
  // to each worker.
  test::log_capture log;
  test::temp_dir dir{"pyactor-lane-once"};
  auto o = test::test_options(2, &log);
  o.max_restarts = 1000;
  o.pipeline_depth = 64;
  constexpr size_t calls = 6000;
  reply_book book{calls};
  verdicts v;
  std::atomic<int> kills{0};
  {
    auto rt = start_pool(o);
    std::atomic<bool> done{false};
    std::thread killer([&] {
      size_t victim = 0;
      while (!done.load() && kills.load() < 12) {
        std::this_thread::sleep_for(std::chrono::milliseconds(25));
        auto st = rt->status();
        auto& w = st[victim++ % st.size()];
        if (w.in_flight > 0 && w.pid > 0 && ::kill(static_cast<pid_t>(w.pid), SIGKILL) == 0)
          ++kills;
      }
    });
    std::vector<std::thread> callers;
    for (size_t t = 0; t < 4; ++t)
      callers.emplace_back([&, t] {
        for (size_t i = t; i < calls; i += 4) {
          auto x = static_cast<int64_t>(i);
          rt->eval_async("open(d + '/' + str(x), 'x').close() or x",
                         dict{{{"d", dir.path.string()}, {"x", x}}}, {},
                         book.on_reply(i, [&v, x](const result<value>& r) {
                           v.note(r, value{x}, {errc::worker_crashed});
                         }));
        }
      });
    for (auto& c : callers)
      c.join();
    BOOST_CHECK(test::eventually([&] { return book.all_answered(); }, std::chrono::seconds(120)));
    done = true;
    killer.join();
  }
  BOOST_TEST_MESSAGE("kills " << kills.load() << ", crashed " << v.errors.load());
  BOOST_CHECK_EQUAL(book.twice(), 0u);
  v.check_none_unexpected(); // a FileExistsError shows here
  BOOST_CHECK_LE(v.errors.load(), kills.load());
  size_t files = 0;
  for ([[maybe_unused]] auto& f : std::filesystem::directory_iterator(dir.path))
    ++files;
  // Every value came from a call that made its file; a crashed call may have.
  BOOST_CHECK_GE(files, static_cast<size_t>(v.values.load()));
  BOOST_CHECK_LE(files, calls);
}

BOOST_AUTO_TEST_CASE(a_quick_reply_is_not_held_behind_a_long_call) {
  // Quick calls pipelined right before a call that sleeps: the worker reads
  // them in one go, and their replies must come while the long call runs.
  test::log_capture log;
  auto o = test::test_options(1, &log);
  o.pipeline_depth = 16;
  auto rt = start_pool(o);
  BOOST_CHECK(ok(rt->eval("0")) == value{0});
  for (int round = 0; round < 5; ++round) {
    std::vector<call_handle> quick;
    for (int i = 0; i < 6; ++i)
      quick.push_back(rt->eval_async("x + 1", dict{{{"x", i}}}));
    auto slow = rt->eval_async("__import__('time').sleep(600)");
    for (int i = 0; i < 6; ++i) {
      // A bound against a hang, not a speed check: the slow call sleeps 600 s.
      BOOST_REQUIRE(quick[i].wait_for(std::chrono::seconds(25)));
      BOOST_CHECK(ok(quick[i].get()) == value{i + 1});
    }
    BOOST_CHECK(!slow.wait_for(std::chrono::milliseconds(0)));
    slow.cancel();
    auto r = slow.get();
    BOOST_REQUIRE(!r);
    BOOST_CHECK(r.error().code == errc::cancelled);
  }
}

BOOST_AUTO_TEST_CASE(a_worker_killed_with_64_calls_written_fails_exactly_one) {
  // One worker, pipeline depth 64: quick calls, one long call, quick calls
  // behind it, all written. The quick ones ahead are answered while the long
  // one runs; a SIGKILL then fails the long one alone, and the 40 behind it
  // (never started) run on the restarted process.
  test::log_capture log;
  auto o = test::test_options(1, &log);
  o.pipeline_depth = 64;
  o.max_restarts = 10;
  auto rt = start_pool(o);
  BOOST_CHECK(ok(rt->eval("0")) == value{0});
  auto pid = rt->status().at(0).pid;
  std::vector<call_handle> ahead, behind;
  for (int i = 0; i < 23; ++i)
    ahead.push_back(rt->eval_async("x * 2", dict{{{"x", i}}}));
  auto slow = rt->eval_async("__import__('time').sleep(600)");
  for (int i = 0; i < 40; ++i)
    behind.push_back(rt->eval_async("x * 3", dict{{{"x", i}}}));
  for (int i = 0; i < 23; ++i) {
    BOOST_REQUIRE(ahead[i].wait_for(std::chrono::seconds(25)));
    BOOST_CHECK(ok(ahead[i].get()) == value{i * 2});
  }
  BOOST_CHECK(test::eventually([&] { return rt->status().at(0).in_flight == 41; }));
  BOOST_REQUIRE_EQUAL(::kill(static_cast<pid_t>(pid), SIGKILL), 0);
  auto r = slow.get();
  BOOST_REQUIRE(!r);
  BOOST_CHECK(r.error().code == errc::worker_crashed);
  for (int i = 0; i < 40; ++i)
    BOOST_CHECK(ok(behind[i].get()) == value{i * 3});
  BOOST_CHECK_NE(rt->status().at(0).pid, pid);
}

// Write coalescing: a call taken while the process still owes a reply is not
// written; the next reader writes it. Such a pending call was never written,
// so the process cannot have started it.

BOOST_AUTO_TEST_CASE(a_worker_sigkilled_with_frames_pending_answers_every_call_once) {
  test::log_capture log;
  auto o = test::test_options(1, &log);
  o.pipeline_depth = 64; // room for all: they wait only because a reply is owed
  auto rt = start_pool(o);
  auto pid = rt->status().at(0).pid;
  // The first call is written at once (nothing outstanding) and runs.
  auto sleeper = rt->eval_async("__import__('time').sleep(30)");
  BOOST_REQUIRE(test::eventually([&] { return rt->status().at(0).in_flight == 1; }));
  constexpr size_t calls = 50;
  reply_book book{calls};
  verdicts v;
  for (size_t i = 0; i < calls; ++i) {
    auto x = static_cast<int64_t>(i);
    rt->eval_async("x + 7", dict{{{"x", x}}}, {},
                   book.on_reply(i, [&v, x](const result<value>& r) {
                     v.note(r, value{x + 7}, {}); // none of them may fail
                   }));
  }
  BOOST_REQUIRE(test::eventually(
    [&] { return rt->status().at(0).in_flight == calls + 1 || book.all_answered(); }));
  BOOST_REQUIRE_EQUAL(::kill(static_cast<pid_t>(pid), SIGKILL), 0);
  // The running call bears the blame; the pending ones go back and run on
  // the next process, each answered once.
  auto r = sleeper.get();
  BOOST_REQUIRE(!r);
  BOOST_CHECK(r.error().code == errc::worker_crashed);
  BOOST_CHECK(test::eventually([&] { return book.all_answered(); }));
  BOOST_CHECK_EQUAL(book.twice(), 0u);
  v.check_none_unexpected();
  BOOST_CHECK_EQUAL(v.values.load(), static_cast<int>(calls));
  BOOST_CHECK_EQUAL(v.errors.load(), 0);
  BOOST_CHECK_NE(rt->status().at(0).pid, pid);
}

BOOST_AUTO_TEST_CASE(a_pending_call_cancelled_or_timed_out_counts_as_not_started) {
  test::log_capture log;
  auto rt = start_pool(test::test_options(1, &log));
  auto pid = rt->status().at(0).pid;
  auto sleeper = rt->eval_async("__import__('time').sleep(30)");
  BOOST_REQUIRE(test::eventually([&] { return rt->status().at(0).in_flight == 1; }));
  // Taken while the sleeper's reply is owed: pending, never written.
  auto pending = rt->eval_async("setattr(__import__('builtins'), 'pending_ran', 1)");
  BOOST_REQUIRE(test::eventually([&] { return rt->status().at(0).in_flight == 2; }));
  pending.cancel();
  auto r = pending.get();
  BOOST_REQUIRE(!r);
  BOOST_CHECK(r.error().code == errc::cancelled);
  call_options opts;
  opts.timeout = std::chrono::milliseconds(100);
  auto late = rt->eval("2 + 2", {}, opts);
  BOOST_REQUIRE(!late);
  BOOST_CHECK(late.error().code == errc::timeout);
  BOOST_CHECK_MESSAGE(late.error().message.find("while it waited for") != std::string::npos,
                      late.error().message);
  // Neither touched the running call: it is still running, in this process.
  BOOST_CHECK(!sleeper.wait_for(std::chrono::milliseconds(0)));
  sleeper.cancel();
  auto s = sleeper.get();
  BOOST_REQUIRE(!s);
  BOOST_CHECK(s.error().code == errc::cancelled);
  // It was interrupted, not killed: the same process serves the next call,
  // and the cancelled call never ran there.
  BOOST_CHECK(ok(rt->eval("getattr(__import__('builtins'), 'pending_ran', 0)")) == value{0});
  BOOST_CHECK_EQUAL(rt->status().at(0).pid, pid);
}

BOOST_AUTO_TEST_CASE(coalesced_calls_under_recycle_and_a_leader_each_get_one_reply) {
  // Async calls pile up behind owed replies while blocking callers lead and
  // the worker is recycled every 30 calls: the pending frames go out with
  // the reader's batch or go back to the scheduler, never lost or doubled.
  test::log_capture log;
  auto o = test::test_options(1, &log);
  o.max_calls_per_worker = 30;
  auto rt = start_pool(o);
  constexpr size_t calls = 600;
  reply_book book{calls};
  verdicts v;
  std::thread blocking([&] {
    for (int i = 0; i < 200; ++i)
      v.note(rt->call("operator", "add", {value{i}, value{1}}), value{i + 1}, {});
  });
  for (size_t i = 0; i < calls; ++i) {
    auto x = static_cast<int64_t>(i);
    rt->eval_async("x * 5", dict{{{"x", x}}}, {},
                   book.on_reply(i, [&v, x](const result<value>& r) {
                     v.note(r, value{x * 5}, {});
                   }));
  }
  blocking.join();
  BOOST_CHECK(test::eventually([&] { return book.all_answered(); }, std::chrono::seconds(120)));
  BOOST_CHECK_EQUAL(book.twice(), 0u);
  v.check_none_unexpected();
  BOOST_CHECK_EQUAL(v.values.load(), static_cast<int>(calls) + 200);
  BOOST_CHECK_GT(rt->restarts().size(), 0u);
}

BOOST_AUTO_TEST_SUITE_END()
