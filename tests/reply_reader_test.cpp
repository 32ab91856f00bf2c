// pyactor::reply_reader (a thread's own poll loop reads its calls' replies,
// as the erlbridge gateway's loop does) with real worker processes: replies
// arrive on the polling thread, exactly once, also when a worker is killed
// while the loop reads it, when the reader hands its workers back with
// calls outstanding, and when other threads call the same workers.
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include <poll.h>

#include "pyactor/reply_reader.hpp"
#include "test_fixtures.hpp"

using namespace pyactor;

namespace {

using test::ok;
using test::start_pool;

/// One turn of a poll loop over `r`'s descriptors (at most 100 ms).
void poll_once(reply_reader& r) {
  std::vector<int> fds;
  r.fds(fds);
  std::vector<pollfd> p;
  for (auto fd : fds)
    p.push_back({fd, POLLIN, 0});
  if (p.empty()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1)); // nothing to read yet
    return;
  }
  if (::poll(p.data(), p.size(), 100) <= 0)
    return;
  for (auto& x : p)
    if (x.revents != 0)
      r.on_ready(x.fd);
}

/// Runs the poll loop until `pred` holds; false after the hang guard (120 s).
template <class Pred>
bool pump_until(reply_reader& r, Pred pred) {
  auto guard = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (!pred()) {
    if (std::chrono::steady_clock::now() > guard)
      return false;
    poll_once(r);
  }
  return true;
}

/// A call on each worker, so that each has answered once: a fresh worker's
/// replies go to its I/O thread until nothing is outstanding there.
void warm_up(runtime& rt, uint64_t workers) {
  for (uint64_t w = 1; w <= workers; ++w) {
    call_options pin;
    pin.worker = w;
    BOOST_REQUIRE(ok(rt.op("add", {1, 1}, pin)) == value{2});
  }
}

} // namespace

BOOST_AUTO_TEST_SUITE(reply_reader)

// A call the loop reads, which the reader lets go of while it runs, can
// still be cancelled (the call's KeyboardInterrupt handler leaves a file;
// nothing else is sent to the worker meanwhile).
BOOST_AUTO_TEST_CASE(a_call_released_before_its_report_is_reported_by_the_io_thread) {
  test::log_capture log;
  test::temp_dir dir{"pyactor-reader"};
  {
    std::ofstream f{dir.path / "sleeper.py"};
    f << "import time\n"
         "def sleep(marker):\n"
         "    try:\n"
         "        open(marker + '.started', 'w').close()\n"
         "        time.sleep(3600)\n"
         "    except KeyboardInterrupt:\n"
         "        open(marker, 'w').close()\n"
         "        raise\n";
  }
  auto o = test::test_options(1, &log);
  o.python_path = {dir.path.string()};
  auto rt = start_pool(o);
  warm_up(*rt, 1);
  call_options forever;
  forever.timeout = std::chrono::hours(1);
  auto marker = (dir.path / "interrupted").string();
  std::atomic<int> got{0};
  std::mutex mtx;
  std::optional<result<value>> outcome;
  uint64_t id = 0;
  {
    pyactor::reply_reader reader;
    reader.offer(true);
    id = rt->call_async("sleeper", "sleep", {marker}, {}, forever, [&](result<value> r) {
      std::lock_guard<std::mutex> guard{mtx};
      outcome = std::move(r);
      ++got;
    });
    BOOST_REQUIRE_EQUAL(reader.reading(), 1u);
    reader.release(); // the I/O thread reads it from now on
  }
  // Cancelled once it runs inside the `try` (an earlier interrupt leaves no file).
  BOOST_REQUIRE(test::eventually([&] { return std::filesystem::exists(marker + ".started"); },
                                 std::chrono::seconds(120)));
  rt->cancel(id);
  BOOST_CHECK(test::eventually([&] { return std::filesystem::exists(marker); },
                               std::chrono::seconds(120)));
  BOOST_REQUIRE(test::eventually([&] { return got.load() > 0; }));
  BOOST_CHECK_EQUAL(got.load(), 1);
  {
    std::lock_guard<std::mutex> guard{mtx};
    BOOST_REQUIRE(outcome.has_value() && !*outcome);
    BOOST_CHECK_MESSAGE(outcome->error().code == errc::cancelled, outcome->error().message);
  }
  BOOST_CHECK(ok(rt->op("add", {2, 3})) == value{5});
}

BOOST_AUTO_TEST_CASE(replies_are_read_and_delivered_on_the_polling_thread) {
  test::log_capture log;
  auto rt = start_pool(test::test_options(2, &log));
  warm_up(*rt, 2);
  pyactor::reply_reader reader;
  reader.offer(true);
  constexpr int calls = 300;
  std::vector<int> replies(calls, 0);
  int wrong = 0;
  int elsewhere = 0;
  size_t most_read = 0;
  auto me = std::this_thread::get_id();
  int answered = 0;
  // Up to four in flight, as the gateway has when few callers call.
  int next = 0;
  while (answered < calls) {
    while (next < calls && next - answered < 4) {
      int i = next++;
      rt->call_async("operator", "add", {i, 1}, {}, {}, [&, i, me](result<value> r) {
        ++replies[static_cast<size_t>(i)];
        if (!r || r.value() != value{i + 1})
          ++wrong;
        if (std::this_thread::get_id() != me)
          ++elsewhere;
        ++answered;
      });
      most_read = std::max(most_read, reader.reading());
    }
    BOOST_REQUIRE(pump_until(reader, [&] {
      return answered == calls || (next < calls && next - answered < 4);
    }));
  }
  BOOST_CHECK_EQUAL(wrong, 0);
  BOOST_CHECK_EQUAL(elsewhere, 0); // every reply came through this thread's loop
  for (auto n : replies)
    BOOST_CHECK_EQUAL(n, 1);
  BOOST_CHECK_GE(most_read, 1u);
  // With nothing outstanding the workers go back to their I/O threads.
  BOOST_CHECK(pump_until(reader, [&] { return reader.reading() == 0; }));
  reader.offer(false);
  BOOST_CHECK(ok(rt->eval("2 + 2")) == value{4}); // a blocking caller after it
  reader.release();
}

BOOST_AUTO_TEST_CASE(a_worker_killed_while_the_loop_reads_it) {
  test::log_capture log;
  auto o = test::test_options(2, &log);
  o.max_restarts = 100;
  auto rt = start_pool(o);
  warm_up(*rt, 2);
  pyactor::reply_reader reader;
  reader.offer(true);
  call_options pin;
  pin.worker = 1;
  int64_t pid = -1;
  for (auto& w : rt->status())
    if (w.id == 1)
      pid = w.pid;
  BOOST_REQUIRE_GT(pid, 0);
  std::atomic<int> got{0};
  std::optional<result<value>> outcome;
  rt->eval_async("__import__('time').sleep(60)", {}, pin, [&](result<value> r) {
    outcome = std::move(r);
    ++got;
  });
  BOOST_REQUIRE_EQUAL(reader.reading(), 1u);
  BOOST_REQUIRE_EQUAL(::kill(static_cast<pid_t>(pid), SIGKILL), 0);
  BOOST_REQUIRE(pump_until(reader, [&] { return got.load() > 0; }));
  BOOST_REQUIRE(outcome.has_value());
  BOOST_REQUIRE(!*outcome);
  BOOST_CHECK(outcome->error().code == errc::worker_crashed);
  BOOST_CHECK(pump_until(reader, [&] { return reader.reading() == 0; }));
  // No second reply, and the restarted worker serves the reader again.
  std::atomic<int> after{0};
  BOOST_REQUIRE(test::eventually([&] {
    for (auto& w : rt->status())
      if (w.id == 1 && w.state == "ready" && w.pid != pid)
        return true;
    return false;
  }));
  rt->call_async("operator", "mul", {6, 7}, {}, pin, [&](result<value> r) {
    if (r && r.value() == value{42})
      ++after;
    else
      after = -100;
  });
  BOOST_REQUIRE(pump_until(reader, [&] { return after.load() != 0; }));
  BOOST_CHECK_EQUAL(after.load(), 1);
  BOOST_CHECK_EQUAL(got.load(), 1);
  reader.release();
}

BOOST_AUTO_TEST_CASE(release_hands_outstanding_calls_to_the_io_thread) {
  test::log_capture log;
  auto rt = start_pool(test::test_options(1, &log));
  warm_up(*rt, 1);
  std::mutex mtx;
  std::condition_variable cv;
  std::optional<result<value>> outcome;
  std::thread::id on;
  {
    pyactor::reply_reader reader;
    reader.offer(true);
    rt->eval_async("__import__('time').sleep(0.3) or 5", {}, {}, [&](result<value> r) {
      std::lock_guard<std::mutex> guard{mtx};
      outcome = std::move(r);
      on = std::this_thread::get_id();
      cv.notify_all();
    });
    BOOST_REQUIRE_EQUAL(reader.reading(), 1u);
    // The reader goes away without reading (its destructor releases).
  }
  std::unique_lock<std::mutex> guard{mtx};
  BOOST_REQUIRE(cv.wait_for(guard, std::chrono::seconds(120), [&] { return outcome.has_value(); }));
  BOOST_CHECK(ok(*outcome) == value{5});
  BOOST_CHECK(on != std::this_thread::get_id());
}

BOOST_AUTO_TEST_CASE(other_threads_share_the_workers_under_kills) {
  test::log_capture log;
  auto o = test::test_options(2, &log);
  o.max_restarts = 1000;
  constexpr int loop_calls = 2000;
  constexpr int threads = 3;
  constexpr int per_thread = 300;
  std::vector<std::atomic<int>> replies(loop_calls);
  for (auto& r : replies)
    r.store(0);
  std::atomic<int> bad{0};
  std::atomic<int> crashed{0};
  std::atomic<int> blocking_done{0};
  {
    auto rt = start_pool(o);
    pyactor::reply_reader reader;
    reader.offer(true);
    std::atomic<bool> stop{false};
    std::atomic<int> kills{0};
    std::thread killer([&] {
      while (!stop.load() && kills.load() < 6) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
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
          if (!r && r.error().code == errc::worker_crashed)
            ++crashed;
          else if (!r || r.value() != value{x + 1})
            ++bad;
        }
        ++blocking_done;
      });
    int answered = 0;
    for (int i = 0; i < loop_calls; ++i) {
      rt->eval_async("__import__('time').sleep(0.0001) or x * 3", dict{{{"x", i}}}, {},
                     [&, i](result<value> r) {
                       replies[static_cast<size_t>(i)].fetch_add(1);
                       if (!r && r.error().code == errc::worker_crashed)
                         ++crashed;
                       else if (!r || r.value() != value{i * 3})
                         ++bad;
                       ++answered;
                     });
      if (i % 8 == 7)
        BOOST_REQUIRE(pump_until(reader, [&] { return answered + 2 >= i; }));
    }
    BOOST_REQUIRE(pump_until(reader, [&] {
      return answered == loop_calls && blocking_done.load() == threads;
    }));
    stop = true;
    killer.join();
    for (auto& c : callers)
      c.join();
    BOOST_TEST_MESSAGE("kills " << kills.load() << ", crashed " << crashed.load());
    reader.release(); // before the runtime stops
  }
  BOOST_CHECK_EQUAL(bad.load(), 0);
  for (auto& r : replies)
    BOOST_CHECK_EQUAL(r.load(), 1);
}

BOOST_AUTO_TEST_SUITE_END()
