// The C++ API's direct route picks the worker on the caller's thread: the
// one this thread used last while it is idle (calls made one at a time stay
// on one warm process), else the least loaded; with real worker processes.
#include <boost/test/unit_test.hpp>

#include <set>
#include <vector>

#include "test_fixtures.hpp"

using namespace pyactor;
using pyactor::test::ok;
using pyactor::test::start_pool;
using pyactor::test::test_options;

BOOST_AUTO_TEST_SUITE(direct_route)

BOOST_AUTO_TEST_CASE(calls_one_at_a_time_stay_on_one_worker_and_calls_in_flight_spread) {
  auto rt = start_pool(test_options(2));
  std::set<int64_t> pids;
  for (int i = 0; i < 50; ++i)
    pids.insert(ok(rt->call("os", "getpid")).as<int64_t>());
  BOOST_CHECK_EQUAL(pids.size(), 1u); // the worker used last was idle every time
  // Calls in flight at once leave the busy worker: both workers serve.
  std::set<int64_t> spread;
  std::vector<runtime::future> flying;
  for (int i = 0; i < 3; ++i)
    flying.push_back(rt->eval_async("__import__('time').sleep(0.2) or __import__('os').getpid()"));
  for (auto& f : flying)
    spread.insert(ok(f.get()).as<int64_t>());
  BOOST_CHECK_EQUAL(spread.size(), 2u);
  BOOST_CHECK(spread.count(*pids.begin()) == 1);
}

BOOST_AUTO_TEST_SUITE_END()
