// The one size limit and the one depth limit of values (pyactor/limits.hpp),
// with real worker processes: checked by the sender before anything is sent,
// refused as `bad_request` naming the limit, and the worker keeps serving.
#include <boost/test/unit_test.hpp>

#include "pyactor/limits.hpp"
#include "test_fixtures.hpp"

using namespace pyactor;

namespace {

struct limits_fixture {
  std::unique_ptr<runtime> rt;
  limits_fixture() {
    auto started = runtime::start(test::test_options(1));
    BOOST_REQUIRE_MESSAGE(started, (started ? "" : started.error().to_string()));
    rt = std::move(started).value();
  }
};

using test::ok;

bool has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

/// [[...[1]...]] nested `depth` deep.
value nested(size_t depth) {
  value v{1};
  for (size_t i = 0; i < depth; ++i)
    v = list{std::move(v)};
  return v;
}

} // namespace

BOOST_AUTO_TEST_SUITE(limits)

BOOST_FIXTURE_TEST_CASE(an_argument_over_the_depth_limit_is_refused_before_it_is_sent,
                        limits_fixture) {
  auto before = rt->status().at(0);
  auto r = rt->call("builtins", "len", {nested(pyactor::limits::max_value_depth + 1)});
  BOOST_REQUIRE(!r);
  BOOST_CHECK_EQUAL(r.error().code, errc::bad_request);
  BOOST_CHECK_MESSAGE(has(r.error().message, "nested 101 deep"), r.error().message);
  BOOST_CHECK_MESSAGE(has(r.error().message, "limit of 100"), r.error().message);
  BOOST_CHECK(has(r.error().message, "max_value_depth"));
  // As keyword value and as a map item (which fails alone).
  auto kw = rt->call("builtins", "dict", {}, dict{{{"a", nested(150)}}});
  BOOST_REQUIRE(!kw);
  BOOST_CHECK(has(kw.error().message, "nested 150 deep"));
  list items{value{1}, nested(200), value{3}};
  auto results = rt->map("builtins", "repr", items);
  BOOST_REQUIRE_EQUAL(results.size(), 3u);
  BOOST_CHECK((ok(results[0]) == value{"1"}));
  BOOST_REQUIRE(!results[1]);
  BOOST_CHECK_EQUAL(results[1].error().code, errc::bad_request);
  BOOST_CHECK_MESSAGE(has(results[1].error().message, "item 1: a value nested 200 deep"),
                      results[1].error().message);
  BOOST_CHECK((ok(results[2]) == value{"3"}));
  auto batch = rt->batch({{"builtins", "len", {nested(101)}, {}}});
  BOOST_REQUIRE(!batch.at(0));
  BOOST_CHECK(has(batch.at(0).error().message, "call 0 of the batch"));
  // Nothing reached the worker: same process, nothing restarted.
  auto after = rt->status().at(0);
  BOOST_CHECK_EQUAL(after.pid, before.pid);
  BOOST_CHECK_EQUAL(after.restarts, 0u);
}

BOOST_FIXTURE_TEST_CASE(an_argument_over_the_size_limit_is_refused_before_it_is_sent,
                        limits_fixture) {
  auto before = rt->status().at(0);
  {
    bytes big;
    big.data.resize(pyactor::limits::max_body_size + 1);
    list args; // moved all the way: no copy of the GiB
    args.emplace_back(std::move(big));
    auto r = rt->call("builtins", "len", std::move(args));
    BOOST_REQUIRE(!r);
    BOOST_CHECK_EQUAL(r.error().code, errc::bad_request);
    BOOST_CHECK_MESSAGE(has(r.error().message, "over the limit of "
                                                 + std::to_string(pyactor::limits::max_body_size)),
                        r.error().message);
    BOOST_CHECK(has(r.error().message, "max_body_size"));
  }
  BOOST_CHECK((ok(rt->call("builtins", "len", {"abc"})) == value{3}));
  auto after = rt->status().at(0);
  BOOST_CHECK_EQUAL(after.pid, before.pid);
  BOOST_CHECK_EQUAL(after.restarts, 0u);
}

BOOST_AUTO_TEST_SUITE_END()
