// Parallel forms through the C++ API with real worker processes: broadcast,
// scatter/gather, streaming map, as-completed, batch, progress, cancel, faults.
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <csignal>
#include <fstream>
#include <set>
#include <thread>

#include "test_fixtures.hpp"

using namespace pyactor;

namespace {

struct pool_fixture {
  std::unique_ptr<runtime> rt;
  test::log_capture log;
  pool_fixture() {
    auto o = test::test_options(2, &log);
    o.max_restarts = 100;
    auto started = runtime::start(o);
    BOOST_REQUIRE_MESSAGE(started, (started ? "" : started.error().to_string()));
    rt = std::move(started).value();
  }
};

using test::ok;

/// Resident set size of this process in bytes.
uint64_t own_rss() {
  std::ifstream statm{"/proc/self/statm"};
  uint64_t total = 0, resident = 0;
  statm >> total >> resident;
  return resident * 4096;
}

} // namespace

BOOST_AUTO_TEST_SUITE(parallel)

BOOST_FIXTURE_TEST_CASE(broadcast_reaches_every_worker_and_restarted_ones, pool_fixture) {
  auto replies = rt->broadcast("os", "getpid");
  BOOST_REQUIRE_EQUAL(replies.size(), 2u);
  BOOST_CHECK_EQUAL(replies[0].worker, 1u);
  BOOST_CHECK_EQUAL(replies[1].worker, 2u);
  auto st = rt->status();
  BOOST_CHECK((ok(replies[0].outcome) == value{st[0].pid}));
  BOOST_CHECK((ok(replies[1].outcome) == value{st[1].pid}));
  // Identical setup on every worker, then read it back from each.
  for (auto& r : rt->broadcast("random", "seed", {42}))
    BOOST_CHECK(ok(r.outcome).is_none());
  auto draws = rt->broadcast("random", "random");
  BOOST_CHECK((ok(draws[0].outcome) == ok(draws[1].outcome)));
  ::kill(static_cast<pid_t>(st[1].pid), SIGKILL);
  BOOST_REQUIRE(test::eventually([&] {
    auto w = rt->status().at(1);
    return w.state == "ready" && w.pid != st[1].pid;
  }));
  auto after = rt->broadcast("os", "getpid");
  BOOST_REQUIRE_EQUAL(after.size(), 2u);
  BOOST_CHECK((ok(after[1].outcome) == value{rt->status().at(1).pid}));
  broadcast_options only2;
  only2.workers = {2};
  BOOST_CHECK_EQUAL(rt->broadcast("os", "getpid", {}, {}, only2).size(), 1u);
}

BOOST_FIXTURE_TEST_CASE(scatter_gather_keeps_input_order_and_per_item_errors, pool_fixture) {
  std::vector<list> items;
  for (int i = 0; i < 200; ++i)
    items.push_back(list{value{i % 10 == 7 ? -1 : i}});
  map_options small;
  small.chunk = 7;
  auto results = rt->starmap("math", "sqrt", items, small);
  BOOST_REQUIRE_EQUAL(results.size(), 200u);
  for (int i = 0; i < 200; ++i) {
    if (i % 10 == 7) {
      BOOST_REQUIRE(!results[i]);
      BOOST_CHECK_EQUAL(results[i].error().python_type, "ValueError");
    } else {
      BOOST_CHECK((ok(results[i]) == value{std::sqrt(static_cast<double>(i))}));
    }
  }
  BOOST_CHECK(rt->starmap("math", "sqrt", std::vector<list>{}).empty());
  auto mapped = rt->map("builtins", "len", make_list("a", "bb", "").as<list>());
  BOOST_REQUIRE_EQUAL(mapped.size(), 3u);
  BOOST_CHECK((ok(mapped[1]) == value{2}));
}

BOOST_FIXTURE_TEST_CASE(stop_on_error_cancels_the_rest, pool_fixture) {
  std::vector<list> items;
  for (int i = 0; i < 100; ++i)
    items.push_back(list{value{i == 3 ? -1 : i}});
  map_options opts;
  opts.chunk = 1;
  opts.stop_on_error = true;
  opts.max_chunks_in_flight = 1;
  auto results = rt->starmap("math", "sqrt", items, opts);
  BOOST_CHECK(results[2]);
  BOOST_CHECK_EQUAL(results[3].error().python_type, "ValueError");
  BOOST_REQUIRE(!results[99]);
  BOOST_CHECK_EQUAL(results[99].error().code, errc::cancelled);
}

BOOST_FIXTURE_TEST_CASE(a_million_items_stream_in_bounded_memory, pool_fixture) {
  const size_t n = 1000000;
  size_t produced = 0, received = 0, next_expected = 0;
  bool in_order = true, all_right = true;
  auto baseline = own_rss();
  uint64_t peak = baseline;
  map_options opts; // chunk size chosen adaptively: the input size is not given
  auto summary = rt->starmap(
    "operator", "neg",
    [&](list& args) {
      if (produced == n)
        return false;
      args.push_back(value{static_cast<int64_t>(produced++)});
      return true;
    },
    [&](item_result&& r) {
      in_order = in_order && r.index == next_expected++;
      all_right = all_right && r.outcome && r.outcome.value() == value{-static_cast<int64_t>(r.index)};
      if (++received % 50000 == 0)
        peak = std::max(peak, own_rss());
    },
    opts);
  BOOST_CHECK_EQUAL(summary.items, n);
  BOOST_CHECK_EQUAL(summary.ok, n);
  BOOST_CHECK_EQUAL(received, n);
  BOOST_CHECK(in_order);
  BOOST_CHECK(all_right);
  BOOST_TEST_MESSAGE("rss grew by " << ((peak - baseline) >> 20) << " MiB over 1M items");
  BOOST_CHECK_LT(peak - baseline, uint64_t{100} << 20); // holding all of it would take more
}

BOOST_FIXTURE_TEST_CASE(results_as_completed_with_progress, pool_fixture) {
  std::vector<list> items;
  for (int i = 0; i < 40; ++i) // the first item is the slowest
    items.push_back(list{value{i == 0 ? 0.5 : 0.0}});
  size_t next = 0;
  std::vector<size_t> order;
  std::vector<map_progress> reports;
  map_options opts;
  opts.ordered = false;
  opts.chunk = 1;
  opts.progress_interval = std::chrono::milliseconds(50);
  opts.on_progress = [&](const map_progress& p) { reports.push_back(p); };
  auto summary = rt->starmap(
    "time", "sleep",
    [&](list& args) {
      if (next == items.size())
        return false;
      args = items[next++];
      return true;
    },
    [&](item_result&& r) {
      BOOST_CHECK(r.outcome);
      order.push_back(r.index);
    },
    opts, items.size());
  BOOST_CHECK_EQUAL(summary.ok, 40u);
  BOOST_CHECK_EQUAL(std::set<size_t>(order.begin(), order.end()).size(), 40u);
  BOOST_CHECK_NE(order.front(), 0u); // a fast item overtook the slow first one
  BOOST_REQUIRE(!reports.empty());
  BOOST_CHECK_EQUAL(reports.back().done, 40u);
  BOOST_CHECK_EQUAL(reports.back().total, 40u);
  BOOST_CHECK_GT(reports.back().items_per_second, 0.0);
}

BOOST_FIXTURE_TEST_CASE(cancelling_a_map_drops_queued_chunks_and_stops_running_ones, pool_fixture) {
  std::vector<list> items(50, list{value{10}}); // 50 sleeps of 10 s
  map_options opts;
  opts.chunk = 1;
  std::thread canceller([token = opts.cancel, &rt = *rt]() mutable {
    test::eventually([&] { return rt.status().at(0).in_flight > 0; });
    token.cancel();
  });
  std::vector<int64_t> pids;
  for (auto& w : rt->status())
    pids.push_back(w.pid);
  auto results = rt->starmap("time", "sleep", items, opts);
  canceller.join();
  // The running sleeps were interrupted, not waited for or killed: the same
  // processes serve on and nothing restarted.
  for (size_t i = 0; i < pids.size(); ++i) {
    BOOST_CHECK_EQUAL(rt->status().at(i).pid, pids[i]);
    BOOST_CHECK_EQUAL(rt->status().at(i).restarts, 0u);
  }
  for (auto& r : results) {
    BOOST_REQUIRE(!r);
    BOOST_CHECK_EQUAL(r.error().code, errc::cancelled);
  }
  BOOST_CHECK(ok(rt->call("operator", "add", {1, 2})) == value{3}); // the pool serves on
}

BOOST_FIXTURE_TEST_CASE(a_worker_dying_mid_map_fails_or_retries_its_items, pool_fixture) {
  std::vector<list> items;
  for (int i = 0; i < 20; ++i)
    items.push_back(list{value{0.05}});
  for (bool retry : {false, true}) {
    map_options opts;
    opts.chunk = 2;
    opts.retry_on_crash = retry;
    auto victim = rt->status().at(0).pid;
    std::thread killer([&] {
      test::eventually([&] { return rt->status().at(0).in_flight > 0; });
      ::kill(static_cast<pid_t>(victim), SIGKILL);
    });
    auto results = rt->starmap("time", "sleep", items, opts);
    killer.join();
    size_t crashed = 0;
    for (auto& r : results)
      if (!r) {
        BOOST_CHECK_EQUAL(r.error().code, errc::worker_crashed);
        ++crashed;
      }
    if (retry)
      BOOST_CHECK_EQUAL(crashed, 0u);
    else
      BOOST_CHECK_GT(crashed, 0u);
    BOOST_REQUIRE(test::eventually([&] { return rt->status().at(0).state == "ready"; }));
  }
}

BOOST_FIXTURE_TEST_CASE(a_batch_is_answered_together, pool_fixture) {
  auto results = rt->batch({{"math", "pow", {2, 10}, {}},
                            {"math", "sqrt", {-1}, {}},
                            {"builtins", "int", {"ff"}, dict{{{"base", 16}}}}});
  BOOST_REQUIRE_EQUAL(results.size(), 3u);
  BOOST_CHECK((ok(results[0]) == value{1024.0}));
  BOOST_CHECK_EQUAL(results[1].error().python_type, "ValueError");
  BOOST_CHECK((ok(results[2]) == value{255}));
  // All of it ran in one worker process.
  auto pids = rt->batch({{"os", "getpid", {}, {}}, {"os", "getpid", {}, {}}});
  BOOST_CHECK((ok(pids[0]) == ok(pids[1])));
}

BOOST_AUTO_TEST_CASE(retry_on_crash_isolates_items_that_kill_their_worker) {
  // Default restart limits (5 within 10 s): the deaths below are charged to
  // the calls that caused them, so no slot is given up.
  test::log_capture log;
  auto started = runtime::start(test::test_options(2, &log));
  BOOST_REQUIRE_MESSAGE(started, (started ? "" : started.error().to_string()));
  auto rt = std::move(started).value();
  const std::set<size_t> poison{13, 77, 78, 150};
  std::vector<list> items;
  for (size_t i = 0; i < 200; ++i)
    items.push_back(list{value{poison.count(i) > 0 ? std::string{"__import__('os')._exit(7)"}
                                                   : std::to_string(i) + " * 2"},
                         value{dict{}}}); // eval(expr, globals)
  map_options opts;
  opts.chunk = 10;
  opts.retry_on_crash = true;
  for (int run = 0; run < 2; ++run) { // twice, well within the restart window
    auto results = rt->starmap("builtins", "eval", items, opts);
    BOOST_REQUIRE_EQUAL(results.size(), items.size());
    for (size_t i = 0; i < results.size(); ++i) {
      if (poison.count(i) > 0) {
        BOOST_REQUIRE(!results[i]);
        BOOST_CHECK_EQUAL(results[i].error().code, errc::worker_crashed);
        BOOST_CHECK_MESSAGE(results[i].error().message.find("item " + std::to_string(i) + " ran alone")
                              != std::string::npos,
                            results[i].error().message);
      } else {
        BOOST_CHECK_MESSAGE(results[i] && results[i].value() == value{int64_t(2 * i)},
                            "run " << run << " item " << i << ": "
                                   << (results[i] ? results[i].value().to_string()
                                                  : results[i].error().to_string()));
      }
    }
  }
  auto later = rt->call("operator", "add", {1, 2});
  BOOST_CHECK_MESSAGE(later && later.value() == value{3},
                      (later ? later.value().to_string() : later.error().to_string()));
  for (auto& w : rt->status())
    BOOST_CHECK_NE(w.state, "failed");
}

BOOST_FIXTURE_TEST_CASE(a_sink_that_throws_leaves_no_chunk_writing_into_the_map, pool_fixture) {
  // Chunks still run when the sink throws; their replies must not reach
  // the map's freed state (ASan found a heap-use-after-free here).
  struct sink_failed {};
  size_t produced = 0;
  auto source = [&](list& args) {
    if (produced == 40)
      return false;
    args = list{value{produced++ == 0 ? 0.0 : 0.05}};
    return true;
  };
  map_options opts;
  opts.chunk = 1;
  opts.ordered = false;
  BOOST_CHECK_THROW(rt->starmap("time", "sleep", source, [](item_result&&) { throw sink_failed{}; },
                                opts),
                    sink_failed);
  // The chunks that were in flight are answered (cancelled or done) without
  // anyone waiting for them.
  BOOST_REQUIRE(test::eventually([&] {
    for (auto& w : rt->status())
      if (w.in_flight > 0)
        return false;
    return true;
  }));
  BOOST_CHECK(ok(rt->call("operator", "add", {1, 2})) == value{3});
  // The progress callback may throw too.
  map_options progress;
  progress.on_progress = [](const map_progress&) { throw sink_failed{}; };
  progress.progress_interval = std::chrono::milliseconds(0);
  list many;
  for (int i = 0; i < 20; ++i)
    many.push_back(value{0.01});
  BOOST_CHECK_THROW(rt->map("time", "sleep", many, progress), sink_failed);
  BOOST_CHECK(ok(rt->call("operator", "add", {2, 3})) == value{5});
}

BOOST_AUTO_TEST_SUITE_END()
